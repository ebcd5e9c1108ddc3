/* SPDX-License-Identifier: MIT */
/* hpm-patchgen: the target binary, its symbols (or its debug file's), and
 * how each replaced function is redirected (docs/hotpatch-payload.md). */
#include <elfutils/libdwelf.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hpm/core.h"
#include "pg.h"
#include "x86.h"

/* ---- target binary ---- */

void target_open(target_t *t, const char *path) {
  memset(t, 0, sizeof *t);
  t->path = path;
  t->buf = pg_read_file(path, &t->len);
  if (hpp_elf_info_parse(t->buf, t->len, &t->info))
    pg_die("%s: not an x86-64 ELF with a GNU build-id note (link with --build-id)", path);
  t->elf = elf_memory((char *)t->buf, t->len);
  if (!t->elf) pg_die("%s: %s", path, elf_errmsg(-1));
  t->sym = t->elf;
}

/* Does e have a .symtab with at least one symbol past the null entry? */
int target_has_symtab(Elf *e) {
  Elf_Scn *scn = NULL;
  while ((scn = elf_nextscn(e, scn))) {
    GElf_Shdr sh;
    if (gelf_getshdr(scn, &sh) && sh.sh_type == SHT_SYMTAB && sh.sh_entsize && sh.sh_size / sh.sh_entsize > 1)
      return 1;
  }
  return 0;
}

/*
 * Symbols of a stripped binary come from its separate debug file (what
 * `objcopy --only-keep-debug` writes and Debian's -dbgsym packages ship),
 * matched by build-id: the explicit file, or else (only when the binary
 * has no .symtab of its own) DIR/.build-id/xx/rest.debug.  Code bytes are
 * always read from the binary itself.
 */
void target_debug(target_t *t, const char *file, const char *dir) {
  char id[2 * HPP_BUILD_ID_MAX + 1];
  hpm_fmt_hex(t->info.build_id, t->info.build_id_len, id, sizeof id);
  if (!file) {
    if (target_has_symtab(t->elf)) return;
    snprintf(t->dbg, sizeof t->dbg, "%s/.build-id/%.2s/%s.debug", dir, id, id + 2);
    if (access(t->dbg, R_OK)) return; /* not there: a missing symbol says where it was looked for */
  } else {
    snprintf(t->dbg, sizeof t->dbg, "%s", file);
  }
  size_t len;
  uint8_t *buf = pg_read_file(t->dbg, &len);
  Elf *e = elf_memory((char *)buf, len);
  GElf_Ehdr eh;
  if (!e || !gelf_getehdr(e, &eh) || eh.e_machine != EM_X86_64)
    pg_die("%s: not an x86-64 ELF debug file", t->dbg);
  const void *dbg_id;
  ssize_t n = dwelf_elf_gnu_build_id(e, &dbg_id);
  if (n <= 0) pg_die("%s: has no GNU build-id note, so it cannot be matched to %s", t->dbg, t->path);
  if ((size_t)n != t->info.build_id_len || memcmp(dbg_id, t->info.build_id, (size_t)n)) {
    char other[2 * HPP_BUILD_ID_MAX + 1];
    hpm_fmt_hex(dbg_id, (size_t)n < HPP_BUILD_ID_MAX ? (size_t)n : HPP_BUILD_ID_MAX, other, sizeof other);
    pg_die("%s: build-id %s, but %s has %s: the debug file belongs to another build", t->dbg, other, t->path, id);
  }
  if (!target_has_symtab(e)) pg_die("%s: has no symbol table (.symtab)", t->dbg);
  t->sym = e;
  t->dbg_used = 1;
}

/* Find a defined symbol by name in .symtab (incl. static; the debug file's
 * for a stripped binary) then .dynsym.
 * want_func: 1 functions only, 0 anything.  Ambiguous local names fail. */
int target_sym(target_t *t, const char *name, int want_func, GElf_Sym *out) {
  for (int pass = 0; pass < 2; pass++) {
    Elf *e = pass == 0 ? t->sym : t->elf;
    Elf_Scn *scn = NULL;
    int found = 0;
    while ((scn = elf_nextscn(e, scn))) {
      GElf_Shdr sh;
      if (!gelf_getshdr(scn, &sh)) continue;
      if (sh.sh_type != (pass == 0 ? SHT_SYMTAB : SHT_DYNSYM)) continue;
      Elf_Data *d = elf_getdata(scn, NULL);
      if (!d || !sh.sh_entsize) continue;
      size_t n = sh.sh_size / sh.sh_entsize;
      for (size_t i = 0; i < n; i++) {
        GElf_Sym s;
        if (!gelf_getsym(d, (int)i, &s) || s.st_shndx == SHN_UNDEF || s.st_shndx == SHN_ABS) continue;
        int ty = GELF_ST_TYPE(s.st_info);
        if (want_func && ty != STT_FUNC) continue;
        if (!want_func && ty != STT_FUNC && ty != STT_OBJECT && ty != STT_TLS && ty != STT_NOTYPE) continue;
        if (ty == STT_TLS) pg_die("%s: symbol '%s' is thread-local: not supported", t->path, name);
        const char *nm = elf_strptr(e, sh.sh_link, s.st_name);
        if (!nm || strcmp(nm, name)) continue;
        if (found && out->st_value != s.st_value)
          pg_die("%s: symbol '%s' is ambiguous (several static definitions)", t->path, name);
        *out = s;
        found = 1;
      }
    }
    if (found && pass == 1 && !target_has_symtab(t->sym) && !t->dynsym_warned) {
      t->dynsym_warned = 1;
      pg_warn("warning: %s has no symbol table and no debug file was found%s%s: '%s' and every other symbol "
              "come from .dynsym (exported symbols only), and no direct call site can be found "
              "(install its debug symbols or pass --debug-file)",
              t->path, t->dbg[0] ? " at " : "", t->dbg, name);
    }
    if (found) return 0;
  }
  return -1;
}

const char *target_func_at(target_t *t, uint64_t addr, GElf_Sym *out) {
  Elf_Scn *scn = NULL;
  while ((scn = elf_nextscn(t->sym, scn))) {
    GElf_Shdr sh;
    if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_SYMTAB || !sh.sh_entsize) continue;
    Elf_Data *d = elf_getdata(scn, NULL);
    size_t n = sh.sh_size / sh.sh_entsize;
    for (size_t i = 1; d && i < n; i++) {
      GElf_Sym s;
      if (!gelf_getsym(d, (int)i, &s) || GELF_ST_TYPE(s.st_info) != STT_FUNC || s.st_value != addr ||
          s.st_shndx == SHN_UNDEF)
        continue;
      if (out) *out = s;
      return elf_strptr(t->sym, sh.sh_link, s.st_name);
    }
  }
  return NULL;
}

/* Copy the file bytes backing vaddr..vaddr+n; -1 if not all in one PT_LOAD. */
int target_read(target_t *t, uint64_t vaddr, uint8_t *out, size_t n) {
  size_t phnum;
  if (elf_getphdrnum(t->elf, &phnum)) return -1;
  for (size_t i = 0; i < phnum; i++) {
    GElf_Phdr ph;
    if (!gelf_getphdr(t->elf, (int)i, &ph) || ph.p_type != PT_LOAD) continue;
    if (vaddr < ph.p_vaddr || vaddr + n > ph.p_vaddr + ph.p_filesz) continue;
    uint64_t off = ph.p_offset + (vaddr - ph.p_vaddr);
    if (off + n > t->len) return -1;
    memcpy(out, t->buf + off, n);
    return 0;
  }
  return -1;
}

struct branch_ctx { uint64_t lo, hi; int bad; };
static void branch_cb(void *c, uint64_t target) {
  struct branch_ctx *b = c;
  if (target > b->lo && target < b->hi) b->bad = 1;
}


void target_plan(target_t *t, const char *old, const GElf_Sym *sp, hpp_func *f, int quiesce) {
  GElf_Sym s = *sp;
  memset(f, 0, sizeof *f);
  if (strlen(old) > HPP_NAME_MAX) pg_die("symbol '%s' longer than %u characters", old, HPP_NAME_MAX);
  memcpy(f->name, old, strlen(old) + 1);
  f->entry = s.st_value;
  f->size = (uint32_t)s.st_size;
  f->flags = quiesce ? HPP_F_QUIESCE : 0;
  uint8_t pre[14], at[40];
  memset(at, 0, sizeof at);
  size_t avail = s.st_size ? (s.st_size < sizeof at ? s.st_size : sizeof at) : sizeof at;
  if (target_read(t, s.st_value, at, avail)) pg_die("%s: '%s' is not in a loaded segment", t->path, old);
  int endbr = avail >= 4 && !memcmp(at, "\xf3\x0f\x1e\xfa", 4);
  size_t e = endbr ? 4 : 0;
  int pad = s.st_value >= 14 && !target_read(t, s.st_value - 14, pre, 14) &&
            avail >= e + 2 && (at[e] == 0x66 || at[e] == 0x90) && at[e + 1] == 0x90;
  for (int i = 0; pad && i < 14; i++) pad = pre[i] == 0x90;
  if (pad) {
    f->mode = HPP_MODE_PAD;
    f->region = s.st_value - 14;
    f->flip_off = (uint8_t)(14 + e);
    f->region_len = (uint8_t)(f->flip_off + 2);
    memcpy(f->orig, pre, 14);
    memcpy(f->orig + 14, at, e + 2);
    /* Direct entry jump (payload version 2): the region goes on over whole
     * body instructions (>= 3 bytes) so that, once committed, the entry holds
     * one 5-byte jump to the new code instead of entry -> pad -> new code.
     * Not when the body starts with control flow, an 8-bit relative
     * operand, or a branch of the function lands inside those bytes (the
     * function then keeps the two-jump form). */
    size_t covered;
    x86_fix fix[X86_MAX_FIX];
    int nfix;
    const char *why = NULL;
    size_t body = e + 2;
    if (pg_no_direct || !s.st_size ||
        x86_prologue(at + body, avail - body, HPP_DIRECT_MIN, &covered, fix, &nfix, &why) ||
        f->region_len + covered > HPP_REGION_MAX)
      return;
    if (x86_has_call(at + body, covered)) return; /* a return address would point inside */
    uint8_t *code = malloc(s.st_size);
    if (!code || target_read(t, s.st_value, code, s.st_size)) pg_die("%s: cannot read '%s'", t->path, old);
    struct branch_ctx b = {s.st_value + e, s.st_value + body + covered, 0};
    x86_branch_targets(code, s.st_size, s.st_value, branch_cb, &b);
    free(code);
    if (b.bad) return;
    memcpy(f->orig + f->region_len, at + body, covered);
    f->region_len = (uint8_t)(f->region_len + covered);
    return;
  }
  f->mode = HPP_MODE_PROLOGUE;
  f->region = s.st_value + e;
  size_t covered;
  x86_fix fix[X86_MAX_FIX];
  int nfix;
  const char *why;
  if (x86_prologue(at + e, avail - e, 5, &covered, fix, &nfix, &why))
    pg_die("%s: cannot redirect '%s': %s", t->path, old, why);
  if (covered > HPP_REGION_MAX) pg_die("%s: '%s': prologue instructions too long", t->path, old);
  if (x86_has_call(at + e, covered))
    pg_die("%s: '%s' calls within its first %zu bytes and goes on after the call there (a return address would "
        "point into the rewritten bytes): "
        "compile it with -fpatchable-function-entry=16,14", t->path, old, covered);
  /* a branch into the middle of the rewritten bytes would land in our jump */
  if (s.st_size) {
    uint8_t *code = malloc(s.st_size);
    if (!code || target_read(t, s.st_value, code, s.st_size)) pg_die("%s: cannot read '%s'", t->path, old);
    struct branch_ctx b = {f->region, f->region + covered, 0};
    x86_branch_targets(code, s.st_size, s.st_value, branch_cb, &b);
    free(code);
    if (b.bad) pg_die("%s: '%s' branches into its first %zu bytes: compile it with -fpatchable-function-entry=16,14", t->path, old, covered);
  }
  f->region_len = (uint8_t)covered;
  memcpy(f->orig, at + e, covered);
}


/* The section of e named name (NULL: none). */
static Elf_Scn *section_named(Elf *e, const char *name, GElf_Shdr *out) {
  size_t shstr;
  if (elf_getshdrstrndx(e, &shstr)) return NULL;
  Elf_Scn *scn = NULL;
  while ((scn = elf_nextscn(e, scn))) {
    const char *n;
    if (gelf_getshdr(scn, out) && (n = elf_strptr(e, shstr, out->sh_name)) && !strcmp(n, name)) return scn;
  }
  return NULL;
}

/* The GOT slot the dynamic linker fills with the address of name
 * (JUMP_SLOT in .rela.plt, or GLOB_DAT in .rela.dyn); 0 if none. */
static uint64_t got_slot(target_t *t, const char *relsec, unsigned type, const char *name) {
  GElf_Shdr sh;
  Elf_Scn *scn = section_named(t->elf, relsec, &sh);
  if (!scn || sh.sh_type != SHT_RELA || !sh.sh_entsize) return 0;
  Elf_Scn *dyn = elf_getscn(t->elf, sh.sh_link);
  GElf_Shdr dsh;
  Elf_Data *rd = elf_getdata(scn, NULL), *dd = dyn ? elf_getdata(dyn, NULL) : NULL;
  if (!rd || !dd || !gelf_getshdr(dyn, &dsh)) return 0;
  for (size_t i = 0; i < sh.sh_size / sh.sh_entsize; i++) {
    GElf_Rela r;
    GElf_Sym s;
    if (!gelf_getrela(rd, (int)i, &r) || GELF_R_TYPE(r.r_info) != type) continue;
    if (!gelf_getsym(dd, (int)GELF_R_SYM(r.r_info), &s)) continue;
    const char *n = elf_strptr(t->elf, dsh.sh_link, s.st_name);
    if (n && !strcmp(n, name)) return r.r_offset;
  }
  return 0;
}

/* The stub of section sec (entries of entsize bytes) that jumps through slot. */
static int plt_stub(target_t *t, const char *sec, uint64_t slot, uint64_t *addr) {
  GElf_Shdr sh;
  Elf_Scn *scn = section_named(t->elf, sec, &sh);
  Elf_Data *d = scn ? elf_getdata(scn, NULL) : NULL;
  if (!d || !d->d_buf || sh.sh_type != SHT_PROGBITS) return -1;
  const uint8_t *b = d->d_buf;
  uint64_t ent = sh.sh_entsize ? sh.sh_entsize : 16;
  for (size_t p = 0; p + 6 <= d->d_size; p++) {
    if (b[p] != 0xff || b[p + 1] != 0x25) continue; /* jmp *disp32(%rip) */
    int32_t disp;
    memcpy(&disp, b + p + 2, 4);
    if (sh.sh_addr + p + 6 + (uint64_t)(int64_t)disp != slot) continue;
    *addr = sh.sh_addr + p / ent * ent;
    return 0;
  }
  return -1;
}

int target_plt(target_t *t, const char *name, uint64_t *addr) {
  uint64_t slot = got_slot(t, ".rela.plt", R_X86_64_JUMP_SLOT, name);
  if (slot && (!plt_stub(t, ".plt.sec", slot, addr) || !plt_stub(t, ".plt", slot, addr))) return 0;
  slot = got_slot(t, ".rela.dyn", R_X86_64_GLOB_DAT, name);
  if (slot && !plt_stub(t, ".plt.got", slot, addr)) return 0;
  return -1;
}
