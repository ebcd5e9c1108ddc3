/* SPDX-License-Identifier: MIT */
/*
 * hpm-patchgen: the register-use check.  GCC's -fipa-ra (on at -O2) lets a
 * caller keep a value in a call-clobbered register across a call when the
 * callee, compiled before it in the same unit, leaves that register alone.
 * A replacement that writes such a register breaks that caller.  So: the
 * call-clobbered registers a function and what it calls may write (its
 * clobber set), for the original and the replacement; and for every direct
 * caller that is not replaced, whether a path from the return address reads
 * a register the replacement adds before writing it.  Decoding with Zydis;
 * whatever cannot be followed (an indirect branch, an undecodable byte, a
 * call into another binary) counts as writing and reading everything.
 */
#include <stdlib.h>
#include <string.h>
#include <Zydis/Zydis.h>

#include "pg.h"

#define GPR(n) (1u << (n)) /* rax rcx rdx rsi rdi r8 r9 r10 r11 */
#define VEC(n) (1u << (9 + (n)))
#define ARGS (GPR(0) | GPR(1) | GPR(2) | GPR(3) | GPR(4) | GPR(5) | GPR(6) | 0x1fe00u /* xmm0-7 */)
#define DEPTH 6

static const char *const names[25] = {"rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11",
                                      "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
                                      "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15"};

void pg_regs_names(pg_regs r, char *out, size_t n) {
  size_t k = 0;
  out[0] = 0;
  for (int i = 0; i < 25 && k + 8 < n; i++)
    if (r & (1u << i)) k += (size_t)snprintf(out + k, n - k, "%s%s", k ? ", " : "", names[i]);
}

static int reg_bit(ZydisRegister r) {
  static const ZydisRegister gpr[9] = {ZYDIS_REGISTER_RAX, ZYDIS_REGISTER_RCX, ZYDIS_REGISTER_RDX,
                                       ZYDIS_REGISTER_RSI, ZYDIS_REGISTER_RDI, ZYDIS_REGISTER_R8,
                                       ZYDIS_REGISTER_R9,  ZYDIS_REGISTER_R10, ZYDIS_REGISTER_R11};
  ZydisRegister l = ZydisRegisterGetLargestEnclosing(ZYDIS_MACHINE_MODE_LONG_64, r);
  for (int i = 0; i < 9; i++)
    if (l == gpr[i]) return i;
  if (l >= ZYDIS_REGISTER_ZMM0 && l <= ZYDIS_REGISTER_ZMM15) return 9 + (int)(l - ZYDIS_REGISTER_ZMM0);
  if (l >= ZYDIS_REGISTER_YMM0 && l <= ZYDIS_REGISTER_YMM15) return 9 + (int)(l - ZYDIS_REGISTER_YMM0);
  if (l >= ZYDIS_REGISTER_XMM0 && l <= ZYDIS_REGISTER_XMM15) return 9 + (int)(l - ZYDIS_REGISTER_XMM0);
  return -1;
}

enum { K_PLAIN, K_CALL, K_CALL_IND, K_JMP, K_JMP_IND, K_JCC, K_RET, K_STOP, K_BAD };
typedef struct { size_t len; pg_regs rd, wr, kill; int kind; uint64_t target; } insn_t;

static void decode(const uint8_t *code, size_t len, uint64_t addr, insn_t *o) {
  ZydisDecoder d;
  ZydisDecodedInstruction in;
  ZydisDecodedOperand op[ZYDIS_MAX_OPERAND_COUNT];
  memset(o, 0, sizeof *o);
  if (!ZYAN_SUCCESS(ZydisDecoderInit(&d, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64)) ||
      !ZYAN_SUCCESS(ZydisDecoderDecodeFull(&d, code, len, &in, op))) {
    o->kind = K_BAD;
    return;
  }
  o->len = in.length;
  /* zeroing idioms read nothing */
  int zero = in.operand_count_visible >= 2 && op[0].type == ZYDIS_OPERAND_TYPE_REGISTER &&
             op[in.operand_count_visible - 1].type == ZYDIS_OPERAND_TYPE_REGISTER &&
             op[in.operand_count_visible - 2].type == ZYDIS_OPERAND_TYPE_REGISTER &&
             op[in.operand_count_visible - 1].reg.value == op[in.operand_count_visible - 2].reg.value &&
             (in.mnemonic == ZYDIS_MNEMONIC_XOR || in.mnemonic == ZYDIS_MNEMONIC_SUB ||
              in.mnemonic == ZYDIS_MNEMONIC_PXOR || in.mnemonic == ZYDIS_MNEMONIC_XORPS ||
              in.mnemonic == ZYDIS_MNEMONIC_XORPD || in.mnemonic == ZYDIS_MNEMONIC_VPXOR ||
              in.mnemonic == ZYDIS_MNEMONIC_VXORPS || in.mnemonic == ZYDIS_MNEMONIC_VXORPD);
  for (int i = 0; i < in.operand_count; i++) {
    if (op[i].type == ZYDIS_OPERAND_TYPE_MEMORY) {
      int b = reg_bit(op[i].mem.base), x = reg_bit(op[i].mem.index);
      if (b >= 0) o->rd |= 1u << b;
      if (x >= 0) o->rd |= 1u << x;
      continue;
    }
    if (op[i].type != ZYDIS_OPERAND_TYPE_REGISTER) continue;
    int b = reg_bit(op[i].reg.value);
    if (b < 0) continue;
    if ((op[i].actions & ZYDIS_OPERAND_ACTION_MASK_READ) && !zero) o->rd |= 1u << b;
    if (op[i].actions & ZYDIS_OPERAND_ACTION_MASK_WRITE) {
      o->wr |= 1u << b;
      /* a write of 32 bits or more replaces a whole general register */
      if ((op[i].actions & ZYDIS_OPERAND_ACTION_WRITE) && (b >= 9 || op[i].size >= 32)) o->kill |= 1u << b;
    }
  }
  int rel = in.raw.imm[0].is_relative;
  if (rel) o->target = addr + in.length + (uint64_t)in.raw.imm[0].value.s;
  switch (in.meta.category) {
  case ZYDIS_CATEGORY_CALL: o->kind = rel ? K_CALL : K_CALL_IND; break;
  case ZYDIS_CATEGORY_UNCOND_BR: o->kind = rel ? K_JMP : K_JMP_IND; break;
  case ZYDIS_CATEGORY_COND_BR: o->kind = rel ? K_JCC : K_JMP_IND; break;
  case ZYDIS_CATEGORY_RET: o->kind = K_RET; break;
  default:
    o->kind = (in.mnemonic == ZYDIS_MNEMONIC_UD2 || in.mnemonic == ZYDIS_MNEMONIC_HLT ||
               in.mnemonic == ZYDIS_MNEMONIC_INT3)
                  ? K_STOP
                  : K_PLAIN;
  }
}

/* ---- clobber sets and live-in sets, memoised per function ---- */
typedef struct { uint64_t addr; pg_regs clob, live; int have_clob, have_live, busy; } memo_t;
struct pg_regscan {
  const pg_code_ops *ops;
  void *ctx;
  memo_t *m;
  size_t n, cap;
};

pg_regscan *pg_regscan_new(const pg_code_ops *ops, void *ctx) {
  pg_regscan *s = calloc(1, sizeof *s);
  if (!s) pg_die("out of memory");
  s->ops = ops;
  s->ctx = ctx;
  return s;
}

void pg_regscan_free(pg_regscan *s) {
  if (s) free(s->m);
  free(s);
}

static memo_t *memo(pg_regscan *s, uint64_t addr) {
  for (size_t i = 0; i < s->n; i++)
    if (s->m[i].addr == addr) return &s->m[i];
  if (s->n == s->cap) {
    s->cap = s->cap ? 2 * s->cap : 64;
    s->m = realloc(s->m, s->cap * sizeof *s->m);
    if (!s->m) pg_die("out of memory");
  }
  memset(&s->m[s->n], 0, sizeof s->m[s->n]);
  s->m[s->n].addr = addr;
  return &s->m[s->n++];
}

/* Where a call or jump of the instruction at a (len bytes, decoded target t) goes. */
static uint64_t branch_target(pg_regscan *s, uint64_t a, size_t len, uint64_t t) {
  uint64_t r;
  if (s->ops->reloc_target && !s->ops->reloc_target(s->ctx, a, len, &r)) return r;
  return t;
}

pg_regs pg_clobbers(pg_regscan *s, uint64_t addr, int depth) {
  memo_t *m = memo(s, addr);
  if (m->have_clob) return m->clob;
  if (m->busy) return 0; /* recursion: the rest of the cycle adds its own */
  uint64_t start;
  size_t len;
  const uint8_t *code = depth < DEPTH ? s->ops->func(s->ctx, addr, &start, &len) : NULL;
  if (!code) return PG_REGS_ALL;
  m->busy = 1;
  pg_regs c = 0;
  for (size_t off = 0; off < len && c != PG_REGS_ALL;) {
    insn_t in;
    decode(code + off, len - off, start + off, &in);
    if (in.kind == K_BAD) { c = PG_REGS_ALL; break; }
    c |= in.wr;
    uint64_t t = branch_target(s, start + off, in.len, in.target);
    if (in.kind == K_CALL_IND || in.kind == K_JMP_IND) c = PG_REGS_ALL;
    else if (in.kind == K_CALL || ((in.kind == K_JMP || in.kind == K_JCC) && (t < start || t >= start + len)))
      c |= pg_clobbers(s, t, depth + 1);
    off += in.len;
  }
  m = memo(s, addr);
  m->busy = 0;
  m->clob = c;
  m->have_clob = 1;
  return c;
}

static pg_regs live_in(pg_regscan *s, uint64_t addr, int depth);

/* The registers of want that a path from `from` (in the function at start,
 * len bytes) reads before writing them. */
static pg_regs relies_from(pg_regscan *s, const uint8_t *code, uint64_t start, size_t len, uint64_t from,
                           pg_regs want, int depth) {
  typedef struct { uint64_t at; pg_regs m; } item;
  size_t cap = 64, n = 0, nseen = 0, capseen = 64;
  item *work = malloc(cap * sizeof *work), *seen = malloc(capseen * sizeof *seen);
  if (!work || !seen) pg_die("out of memory");
  pg_regs out = 0;
  work[n++] = (item){from, want};
  while (n) {
    item it = work[--n];
    for (;;) {
      if (!it.m) break;
      if (it.at < start || it.at >= start + len) { out |= it.m & live_in(s, it.at, depth + 1); break; }
      /* explored from here with these registers already? */
      size_t k;
      for (k = 0; k < nseen && seen[k].at != it.at; k++) {}
      if (k < nseen) {
        if (!(it.m & ~seen[k].m)) break;
        seen[k].m |= it.m;
      } else {
        if (nseen == capseen) {
          capseen *= 2;
          seen = realloc(seen, capseen * sizeof *seen);
          if (!seen) pg_die("out of memory");
        }
        seen[nseen++] = (item){it.at, it.m};
      }
      insn_t in;
      decode(code + (it.at - start), len - (size_t)(it.at - start), it.at, &in);
      if (in.kind == K_BAD) { out |= it.m; break; }
      out |= it.m & in.rd;
      it.m &= ~in.kill;
      uint64_t t = branch_target(s, it.at, in.len, in.target);
      if (in.kind == K_CALL) {
        out |= it.m & live_in(s, t, depth + 1);
        it.m &= ~pg_clobbers(s, t, depth + 1);
      } else if (in.kind == K_CALL_IND) {
        out |= it.m & ARGS;
        break; /* everything call-clobbered is gone after it */
      } else if (in.kind == K_RET) {
        break; /* what reaches the return is the caller's: checked there (writer.c) */
      } else if (in.kind == K_JMP_IND || in.kind == K_STOP) {
        if (in.kind == K_JMP_IND) out |= it.m;
        break;
      } else if (in.kind == K_JMP) {
        it.at = t;
        continue;
      } else if (in.kind == K_JCC) {
        if (n == cap) {
          cap *= 2;
          work = realloc(work, cap * sizeof *work);
          if (!work) pg_die("out of memory");
        }
        work[n++] = (item){t, it.m};
      }
      it.at += in.len;
    }
  }
  free(work);
  free(seen);
  return out;
}

/* What a function reads of the call-clobbered registers before writing them. */
static pg_regs live_in(pg_regscan *s, uint64_t addr, int depth) {
  memo_t *m = memo(s, addr);
  if (m->have_live) return m->live;
  if (m->busy) return ARGS;
  uint64_t start;
  size_t len;
  const uint8_t *code = depth < DEPTH ? s->ops->func(s->ctx, addr, &start, &len) : NULL;
  if (!code) return ARGS;
  m->busy = 1;
  pg_regs r = relies_from(s, code, start, len, addr, PG_REGS_ALL, depth);
  m = memo(s, addr);
  m->busy = 0;
  m->live = r;
  m->have_live = 1;
  return r;
}

pg_regs pg_relies(pg_regscan *s, uint64_t func, uint64_t ret_addr, pg_regs want) {
  uint64_t start;
  size_t len;
  const uint8_t *code = s->ops->func(s->ctx, func, &start, &len);
  if (!code) return want;
  return relies_from(s, code, start, len, ret_addr, want, 0);
}
