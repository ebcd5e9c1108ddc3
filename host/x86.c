/* SPDX-License-Identifier: MIT */
#include "x86.h"

#include <string.h>
#include <Zydis/Zydis.h>

static int decoder(ZydisDecoder *d) {
  return ZYAN_SUCCESS(ZydisDecoderInit(d, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64)) ? 0 : -1;
}

int x86_prologue(const uint8_t *code, size_t len, size_t need, size_t *covered, x86_fix *fix,
                 int *nfix, const char **why) {
  ZydisDecoder d;
  ZydisDecodedInstruction in;
  size_t off = 0;
  *nfix = 0;
  if (decoder(&d)) { *why = "decoder init failed"; return -1; }
  while (off < need) {
    if (!ZYAN_SUCCESS(ZydisDecoderDecodeInstruction(&d, NULL, code + off, len - off, &in))) {
      *why = "undecodable instruction in the prologue";
      return -1;
    }
    switch (in.meta.category) {
    case ZYDIS_CATEGORY_RET:
    case ZYDIS_CATEGORY_UNCOND_BR:
    case ZYDIS_CATEGORY_INTERRUPT:
    case ZYDIS_CATEGORY_SYSTEM:
      *why = "function too short: control flow leaves before 5 bytes";
      return -1;
    default: break;
    }
    int rel = -1;
    if (in.raw.imm[0].is_relative) {
      if (in.raw.imm[0].size != 32) { *why = "8-bit relative branch in the prologue"; return -1; }
      rel = in.raw.imm[0].offset;
    } else if ((in.attributes & ZYDIS_ATTRIB_HAS_MODRM) && in.raw.modrm.mod == 0 &&
               (in.raw.modrm.rm & 7) == 5 && in.raw.disp.size == 32) {
      rel = in.raw.disp.offset; /* RIP-relative operand */
    }
    if (rel >= 0) {
      if (*nfix >= X86_MAX_FIX) { *why = "too many relative operands"; return -1; }
      fix[(*nfix)++].field = (uint8_t)(off + (size_t)rel);
    }
    off += in.length;
  }
  *covered = off;
  return 0;
}

void x86_branch_targets(const uint8_t *code, size_t len, uint64_t addr,
                        void (*cb)(void *ctx, uint64_t target), void *ctx) {
  ZydisDecoder d;
  ZydisDecodedInstruction in;
  size_t off = 0;
  if (decoder(&d)) return;
  while (off < len) {
    if (!ZYAN_SUCCESS(ZydisDecoderDecodeInstruction(&d, NULL, code + off, len - off, &in))) return;
    if (in.raw.imm[0].is_relative)
      cb(ctx, addr + off + in.length + (uint64_t)in.raw.imm[0].value.s);
    off += in.length;
  }
}

int x86_has_call(const uint8_t *code, size_t len) {
  ZydisDecoder d;
  ZydisDecodedInstruction in;
  size_t off = 0;
  if (decoder(&d)) return 1;
  while (off < len) {
    if (!ZYAN_SUCCESS(ZydisDecoderDecodeInstruction(&d, NULL, code + off, len - off, &in))) return 1;
    off += in.length;
    if (in.meta.category == ZYDIS_CATEGORY_CALL && off < len) return 1;
  }
  return 0;
}

int x86_direct_calls(const uint8_t *code, size_t len, uint64_t addr,
                     void (*cb)(void *ctx, uint64_t at, uint64_t target), void *ctx) {
  ZydisDecoder d;
  ZydisDecodedInstruction in;
  if (decoder(&d)) return -1;
  for (int pass = 0; pass < 2; pass++) {
    size_t off = 0;
    while (off < len) {
      if (!ZYAN_SUCCESS(ZydisDecoderDecodeInstruction(&d, NULL, code + off, len - off, &in))) return -1;
      if (pass && in.length == 5 && (code[off] == 0xe8 || code[off] == 0xe9) &&
          (in.mnemonic == ZYDIS_MNEMONIC_CALL || in.mnemonic == ZYDIS_MNEMONIC_JMP)) {
        int32_t rel;
        memcpy(&rel, code + off + 1, 4);
        cb(ctx, addr + off, addr + off + 5 + (uint64_t)(int64_t)rel);
      }
      off += in.length;
    }
    if (off != len) return -1;
  }
  return 0;
}

int x86_relocate(uint8_t *dst, const uint8_t *src, size_t n, const x86_fix *fix, int nfix,
                 uint64_t old_addr, uint64_t new_addr) {
  memmove(dst, src, n);
  for (int i = 0; i < nfix; i++) {
    int32_t v;
    memcpy(&v, src + fix[i].field, 4);
    int64_t nv = (int64_t)v + (int64_t)(old_addr - new_addr);
    if (nv < INT32_MIN || nv > INT32_MAX) return -1;
    v = (int32_t)nv;
    memcpy(dst + fix[i].field, &v, 4);
  }
  return 0;
}
