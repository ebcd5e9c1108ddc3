/* SPDX-License-Identifier: MIT */
/*
 * hpm-patchgen diff: a payload from the baseline's source tree, its compile
 * database and one or more patches (docs/hotpatch-authoring.md, "From a
 * source diff").  Each changed translation unit is compiled twice with the
 * baseline's own command (checked against the binary's DW_AT_producer),
 * plus -ffunction-sections -fdata-sections; the original copy carries
 * #line directives that give every unchanged line its line number in the
 * patched file, so a change that only moves code compiles to identical
 * bytes.  The objects are compared function by function (bytes, and
 * relocations by what they refer to); changed functions and what they need
 * that the binary lacks go into the image, everything else resolves to the
 * binary (statics within the unit's own symbols).
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "pgdiff.h"
#include "version.h"

#define MODE "hpm-patchgen diff" /* in "Try 'MODE --help'." */
/* The one new writable variable a patch may add: hpm_shadow.h's table,
 * which starts empty in every process (docs/hotpatch-authoring.md). */
#define PG_SHADOW_STATE "hpm_shadow_state_"

/* ---- refusals: every one is collected, then all are printed ---- */
static int nrefused;
__attribute__((format(printf, 2, 3))) static void refuse(const char *cls, const char *fmt, ...) {
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fprintf(stderr, "%s: refused [%s]: %s\n", pg_prog, cls, msg);
  pg_report_refusal(cls, msg);
  nrefused++;
}

/* ---- an object of the comparison ---- */
typedef struct { GElf_Rela *r; size_t n; } relset;
typedef struct {
  pg_obj o;
  relset *rels;    /* per section the relocations applied to it, by offset */
} dobj;

static int rela_cmp(const void *a, const void *b) {
  const GElf_Rela *x = a, *y = b;
  return x->r_offset < y->r_offset ? -1 : x->r_offset > y->r_offset;
}

static void dobj_open(dobj *d, const char *path) {
  pg_obj_open(&d->o, path);
  d->rels = calloc(d->o.shnum, sizeof *d->rels);
  if (!d->rels) pg_die("out of memory");
  for (size_t i = 1; i < d->o.shnum; i++) {
    GElf_Shdr sh;
    Elf_Scn *scn = elf_getscn(d->o.e, i);
    if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_RELA || sh.sh_info >= d->o.shnum || !sh.sh_entsize) continue;
    Elf_Data *data = elf_getdata(scn, NULL);
    size_t n = sh.sh_size / sh.sh_entsize;
    relset *rs = &d->rels[sh.sh_info];
    rs->r = calloc(n ? n : 1, sizeof *rs->r);
    if (!rs->r) pg_die("out of memory");
    for (size_t k = 0; k < n; k++)
      if (gelf_getrela(data, (int)k, &rs->r[rs->n])) rs->n++;
    qsort(rs->r, rs->n, sizeof *rs->r, rela_cmp);
  }
}

static int getsym(dobj *d, size_t i, GElf_Sym *s) { return i < d->o.nsyms && gelf_getsym(d->o.symd, (int)i, s) != NULL; }
/* A symbol with a name of the source: not a section, file or the
 * assembler's local label (.LC0: a string or constant in a mergeable
 * section, which is compared by value, wherever it is in the section). */
static int named_in(dobj *d, const GElf_Sym *s) {
  int t = GELF_ST_TYPE(s->st_info);
  if (t == STT_SECTION || t == STT_FILE || !s->st_name) return 0;
  const char *n = pg_obj_symname(&d->o, s);
  return !(n[0] == '.' && n[1] == 'L' && GELF_ST_BIND(s->st_info) == STB_LOCAL);
}

/* The named symbol of the given name (0: none). */
static size_t dobj_find(dobj *d, const char *name) {
  for (size_t i = 1; i < d->o.nsyms; i++) {
    GElf_Sym s;
    if (getsym(d, i, &s) && named_in(d, &s) && s.st_shndx != SHN_UNDEF && !strcmp(pg_obj_symname(&d->o, &s), name)) return i;
  }
  return 0;
}

/* The named defined symbol covering offset off of section sec (0: none);
 * functions and objects first. */
static size_t covering(dobj *d, size_t sec, uint64_t off) {
  size_t best = 0;
  for (size_t i = 1; i < d->o.nsyms; i++) {
    GElf_Sym s;
    if (!getsym(d, i, &s) || !named_in(d, &s) || s.st_shndx != sec) continue;
    if (off < s.st_value || off >= s.st_value + (s.st_size ? s.st_size : 1)) continue;
    int t = GELF_ST_TYPE(s.st_info);
    if (!best || t == STT_FUNC || t == STT_OBJECT) best = i;
  }
  return best;
}

/* The one named symbol defined in section sec (0: none or several). */
static size_t sole_named(dobj *d, size_t sec) {
  size_t found = 0;
  for (size_t i = 1; i < d->o.nsyms; i++) {
    GElf_Sym s;
    if (!getsym(d, i, &s) || !named_in(d, &s) || s.st_shndx != sec) continue;
    if (found) return 0;
    found = i;
  }
  return found;
}

/* What a relocation refers to: a named symbol and a delta from it, or an
 * anonymous section (string, constant, jump table) at an offset. */
typedef struct { size_t sym; size_t sec; int64_t off; int undef; } ref_t;

static int pc_relative(unsigned type) {
  return type == R_X86_64_PC32 || type == R_X86_64_PLT32 || type == R_X86_64_GOTPCREL ||
         type == R_X86_64_GOTPCRELX || type == R_X86_64_REX_GOTPCRELX;
}

static ref_t ref_of(dobj *d, const GElf_Rela *r) {
  ref_t x = {0, 0, 0, 0};
  GElf_Sym s;
  size_t si = GELF_R_SYM(r->r_info);
  if (!getsym(d, si, &s)) return x;
  if (s.st_shndx == SHN_UNDEF) { x.sym = si; x.undef = 1; x.off = r->r_addend; return x; }
  if (named_in(d, &s)) { x.sym = si; x.sec = s.st_shndx; x.off = r->r_addend; return x; }
  x.sec = s.st_shndx;
  /* a section symbol, or a local label (its place in the section) */
  int64_t add = r->r_addend + (GELF_ST_TYPE(s.st_info) == STT_SECTION ? 0 : (int64_t)s.st_value);
  int64_t at = add + (pc_relative(GELF_R_TYPE(r->r_info)) ? 4 : 0);
  /* the PC-relative bias is 4 except before an immediate operand: a
   * section with one named symbol (-ffunction-sections, -fdata-sections)
   * needs no guess */
  size_t c = sole_named(d, s.st_shndx);
  if (!c && at >= 0) c = covering(d, s.st_shndx, (uint64_t)at);
  if (c) {
    GElf_Sym cs;
    getsym(d, c, &cs);
    x.sym = c;
    x.off = add - (int64_t)cs.st_value;
  } else {
    x.off = add;
  }
  return x;
}

static const char *secname(dobj *d, size_t i) { return pg_obj_secname(&d->o, i); }
static int shdr(dobj *d, size_t i, GElf_Shdr *sh) { return i < d->o.shnum && gelf_getshdr(elf_getscn(d->o.e, i), sh) != NULL; }
static const uint8_t *secbytes(dobj *d, size_t i) {
  Elf_Data *data = elf_getdata(elf_getscn(d->o.e, i), NULL);
  return data ? data->d_buf : NULL;
}

static int range_equal(dobj *A, size_t sa, uint64_t oa, dobj *B, size_t sb, uint64_t ob, uint64_t size, int depth);

static int ref_equal(dobj *A, const GElf_Rela *ra, dobj *B, const GElf_Rela *rb, int depth) {
  if (GELF_R_TYPE(ra->r_info) != GELF_R_TYPE(rb->r_info)) return 0;
  ref_t x = ref_of(A, ra), y = ref_of(B, rb);
  if (!!x.sym != !!y.sym) return 0;
  if (x.sym) {
    GElf_Sym a, b;
    getsym(A, x.sym, &a);
    getsym(B, y.sym, &b);
    return x.off == y.off && !strcmp(pg_obj_symname(&A->o, &a), pg_obj_symname(&B->o, &b));
  }
  GElf_Shdr ha, hb;
  if (!shdr(A, x.sec, &ha) || !shdr(B, y.sec, &hb) || ha.sh_flags != hb.sh_flags || ha.sh_type != hb.sh_type) return 0;
  int64_t k = pc_relative(GELF_R_TYPE(ra->r_info)) ? 4 : 0, pa = x.off + k, pb = y.off + k;
  const uint8_t *ba = secbytes(A, x.sec), *bb = secbytes(B, y.sec);
  if ((ha.sh_flags & SHF_MERGE) && ba && bb) {
    if (pa < 0 || pb < 0 || (uint64_t)pa >= ha.sh_size || (uint64_t)pb >= hb.sh_size) return 0;
    if (ha.sh_flags & SHF_STRINGS) {
      size_t la = strnlen((const char *)ba + pa, ha.sh_size - (uint64_t)pa);
      size_t lb = strnlen((const char *)bb + pb, hb.sh_size - (uint64_t)pb);
      return la == lb && !memcmp(ba + pa, bb + pb, la);
    }
    uint64_t es = ha.sh_entsize ? ha.sh_entsize : 1;
    return ha.sh_entsize == hb.sh_entsize && (uint64_t)pa + es <= ha.sh_size && (uint64_t)pb + es <= hb.sh_size &&
           !memcmp(ba + pa, bb + pb, es);
  }
  /* an anonymous section: equal contents and relocations, same place in it */
  return x.off == y.off && ha.sh_size == hb.sh_size && range_equal(A, x.sec, 0, B, y.sec, 0, ha.sh_size, depth + 1);
}

static int range_equal(dobj *A, size_t sa, uint64_t oa, dobj *B, size_t sb, uint64_t ob, uint64_t size, int depth) {
  if (depth > 8) return 0;
  GElf_Shdr ha, hb;
  if (!shdr(A, sa, &ha) || !shdr(B, sb, &hb) || ha.sh_type != hb.sh_type) return 0;
  if (oa + size > ha.sh_size || ob + size > hb.sh_size) return 0;
  if (ha.sh_type != SHT_NOBITS) {
    const uint8_t *ba = secbytes(A, sa), *bb = secbytes(B, sb);
    if (!ba || !bb || memcmp(ba + oa, bb + ob, size)) return 0;
  }
  relset *x = &A->rels[sa], *y = &B->rels[sb];
  size_t i = 0, j = 0;
  for (;;) {
    while (i < x->n && x->r[i].r_offset < oa) i++;
    while (j < y->n && y->r[j].r_offset < ob) j++;
    int ia = i < x->n && x->r[i].r_offset < oa + size, jb = j < y->n && y->r[j].r_offset < ob + size;
    if (!ia || !jb) return ia == jb;
    if (x->r[i].r_offset - oa != y->r[j].r_offset - ob || !ref_equal(A, &x->r[i], B, &y->r[j], depth)) return 0;
    i++;
    j++;
  }
}

static int sym_equal(dobj *A, size_t ia, dobj *B, size_t ib) {
  GElf_Sym a, b;
  if (!getsym(A, ia, &a) || !getsym(B, ib, &b) || a.st_size != b.st_size) return 0;
  return range_equal(A, a.st_shndx, a.st_value, B, b.st_shndx, b.st_value, a.st_size, 0);
}

/* ---- one translation unit's comparison ---- */
enum { F_SAME = 0, F_CHANGED = 1, F_NEW = 2 };
typedef struct {
  const tu_t *tu;
  dobj A, B;
  unsigned char *state;   /* per symbol of B: F_* (functions) */
  unsigned char *forced;  /* per symbol of B: replaced although its bytes are equal */
  char **why;             /* per symbol of B: why it is replaced (forced ones) */
  char file_sym[256];     /* the unit's STT_FILE name (the binary's symbol grouping) */
  Dwarf_Die bin_cu;
  int have_cu;
} unit_t;

static int is_clone(const char *n) {
  return strstr(n, ".constprop.") || strstr(n, ".isra.") || strstr(n, ".part.") || strstr(n, ".cold") ||
         strstr(n, ".lto_priv.");
}

/* The source function a clone or cold part belongs to: "foo" of "foo.isra.0". */
static void base_name(const char *n, char *out, size_t len) {
  snprintf(out, len, "%s", n);
  char *dot = strchr(out, '.');
  if (dot) *dot = 0;
}

static int sym_type(dobj *d, size_t i) {
  GElf_Sym s;
  return getsym(d, i, &s) ? GELF_ST_TYPE(s.st_info) : -1;
}
static const char *sym_name(dobj *d, size_t i) {
  GElf_Sym s;
  return getsym(d, i, &s) ? pg_obj_symname(&d->o, &s) : "";
}

static int writable(dobj *d, size_t sec) {
  GElf_Shdr sh;
  return shdr(d, sec, &sh) && (sh.sh_flags & SHF_WRITE);
}

static void compare_unit(unit_t *u) {
  dobj *A = &u->A, *B = &u->B;
  const char *file = u->tu->rel;
  u->state = calloc(B->o.nsyms, 1);
  u->forced = calloc(B->o.nsyms, 1);
  u->why = calloc(B->o.nsyms, sizeof *u->why);
  if (!u->state || !u->forced || !u->why) pg_die("out of memory");
  for (size_t i = 1; i < B->o.nsyms; i++) {
    GElf_Sym s;
    if (!getsym(B, i, &s)) continue;
    int t = GELF_ST_TYPE(s.st_info);
    const char *n = pg_obj_symname(&B->o, &s);
    if (t == STT_FILE && !u->file_sym[0]) snprintf(u->file_sym, sizeof u->file_sym, "%s", n);
    if (!named_in(B, &s) || s.st_shndx == SHN_UNDEF) continue;
    size_t ia = dobj_find(A, n);
    int same = ia && sym_type(A, ia) == t && sym_equal(A, ia, B, i);
    if (t == STT_FUNC) {
      u->state[i] = same ? F_SAME : ia ? F_CHANGED : F_NEW;
    } else if (t == STT_GNU_IFUNC) {
      if (!same) refuse("ifunc", "%s: '%s' is an IFUNC%s: its resolver ran at load time, so a hotpatch cannot "
                        "change what it selects; ship a baseline", file, n, ia ? " that the patch changes" : " the patch adds");
    } else if (t == STT_TLS) {
      if (!ia) refuse("new-tls", "%s: the patch adds the thread-local variable '%s': running threads have no storage "
                      "for it; ship a baseline", file, n);
      else if (!same) refuse("changed-data", "%s: the patch changes the thread-local variable '%s' (initial value or "
                             "size); ship a baseline", file, n);
    } else if (t == STT_OBJECT) {
      GElf_Sym a;
      if (!ia) {
        if (writable(B, s.st_shndx) && strcmp(n, PG_SHADOW_STATE))
          refuse("new-data", "%s: the patch adds the writable variable '%s': a hotpatch cannot add state to running "
                 "processes (keep the state in existing variables, attach it to objects with shadow variables "
                 "(hpm_shadow.h), or ship a baseline)", file, n);
      } else if (getsym(A, ia, &a) && a.st_size != s.st_size) {
        refuse("changed-type", "%s: the patch changes the size of '%s' (%llu -> %llu bytes): code that is not "
               "replaced uses the old layout; ship a baseline", file, n, (unsigned long long)a.st_size,
               (unsigned long long)s.st_size);
      } else if (!same) {
        refuse("changed-data", "%s: the patch changes the initial value of '%s': running processes keep the value "
               "they have; ship a baseline", file, n);
      }
    }
  }
  /* a cold part belongs to its function; a changed clone is never
   * redirected (its calling convention is the compiler's, not the
   * source's): every function that calls it is replaced instead */
  for (int again = 1; again;) {
    again = 0;
    for (size_t i = 1; i < B->o.nsyms; i++) {
      if (u->state[i] == F_SAME || sym_type(B, i) != STT_FUNC) continue;
      const char *n = sym_name(B, i);
      if (!is_clone(n)) continue;
      size_t ia = dobj_find(A, n);
      if (strstr(n, ".cold")) {
        char parent[256];
        snprintf(parent, sizeof parent, "%s", n);
        *strstr(parent, ".cold") = 0;
        size_t p = dobj_find(B, parent);
        if (p && u->state[p] == F_SAME) {
          u->state[p] = F_CHANGED;
          u->forced[p] = 1;
          u->why[p] = pg_xprintf("its cold part %s changed", n);
          again = 1;
        }
        continue;
      }
      if (!ia) continue; /* a new clone: reached from replaced callers only */
      /* the original clone's users, by relocation, in the original object */
      for (size_t sec = 1; sec < A->o.shnum; sec++)
        for (size_t r = 0; r < A->rels[sec].n; r++) {
          ref_t x = ref_of(A, &A->rels[sec].r[r]);
          if (x.sym != ia) continue;
          size_t user = covering(A, sec, A->rels[sec].r[r].r_offset);
          const char *un = user ? sym_name(A, user) : secname(A, sec);
          if (!user || sym_type(A, user) != STT_FUNC) {
            GElf_Shdr sh;
            if (shdr(A, sec, &sh) && (sh.sh_flags & SHF_ALLOC) && strcmp(secname(A, sec), ".eh_frame"))
              refuse("clone", "%s: the changed clone '%s' is referred to from data (%s), not only called: it cannot "
                     "be replaced safely; ship a baseline", file, n, un);
            continue;
          }
          size_t ub = dobj_find(B, un);
          if (!ub) {
            refuse("clone", "%s: '%s' calls the changed clone '%s' but is gone from the patched unit", file, un, n);
            continue;
          }
          if (u->state[ub] == F_SAME) {
            u->state[ub] = F_CHANGED;
            u->forced[ub] = 1;
            u->why[ub] = pg_xprintf("calls the changed clone %s", n);
            again = 1;
          }
        }
    }
  }
  /* struct layouts and variable types, from the two objects' DWARF */
  pg_dw *da = pg_dw_open_obj(A->o.path), *db = pg_dw_open_obj(B->o.path);
  Dwarf_Die ca, cb;
  if (pg_dw_cu(da, NULL, &ca) || pg_dw_cu(db, NULL, &cb)) pg_die("%s: expected one compilation unit in its objects", file);
  pg_item *la, *va, *lb, *vb;
  size_t nla, nva, nlb, nvb;
  pg_dw_types(&ca, &la, &nla, &va, &nva);
  pg_dw_types(&cb, &lb, &nlb, &vb, &nvb);
  for (size_t i = 0; i < nlb; i++)
    for (size_t k = 0; k < nla; k++)
      if (!strcmp(lb[i].name, la[k].name) && strcmp(lb[i].desc, la[k].desc)) {
        refuse("struct-layout", "%s: the patch changes the layout of struct/union '%s' (%s -> %s): code that is not "
               "replaced uses the old layout; ship a baseline", file, lb[i].name, la[k].desc, lb[i].desc);
        break;
      }
  for (size_t i = 0; i < nvb; i++)
    for (size_t k = 0; k < nva; k++)
      if (!strcmp(vb[i].name, va[k].name) && strcmp(vb[i].desc, va[k].desc)) {
        refuse("changed-type", "%s: the patch changes the type of '%s': code that is not replaced uses the old "
               "type; ship a baseline", file, vb[i].name);
        break;
      }
  pg_items_free(la, nla);
  pg_items_free(lb, nlb);
  pg_items_free(va, nva);
  pg_items_free(vb, nvb);
  pg_dw_close(da);
  pg_dw_close(db);
}

/* ---- the binary's symbols of one unit ---- */
typedef struct {
  target_t *t;
  unit_t *u;
} resolve_ctx;

/* A local symbol of the unit: among the binary's .symtab locals that follow
 * the STT_FILE symbol of the unit's file name, and (if several) inside the
 * unit's DWARF address ranges.  0 found, -1 none, -2 ambiguous. */
static int unit_local(target_t *t, unit_t *u, const char *name, int func, GElf_Sym *out) {
  Elf_Scn *scn = NULL;
  int found = 0, inranges = 0;
  GElf_Sym first, ranged;
  while ((scn = elf_nextscn(t->sym, scn))) {
    GElf_Shdr sh;
    if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_SYMTAB || !sh.sh_entsize) continue;
    Elf_Data *d = elf_getdata(scn, NULL);
    size_t n = sh.sh_size / sh.sh_entsize;
    int in_file = 0;
    for (size_t i = 1; d && i < n; i++) {
      GElf_Sym s;
      if (!gelf_getsym(d, (int)i, &s)) continue;
      const char *nm = elf_strptr(t->sym, sh.sh_link, s.st_name);
      if (GELF_ST_TYPE(s.st_info) == STT_FILE) { in_file = nm && !strcmp(nm, u->file_sym); continue; }
      if (!in_file || GELF_ST_BIND(s.st_info) != STB_LOCAL || !nm || strcmp(nm, name) || s.st_shndx == SHN_UNDEF)
        continue;
      if (func != (GELF_ST_TYPE(s.st_info) == STT_FUNC)) continue;
      if (!found++) first = s;
      if (u->have_cu && func && pg_dw_cu_contains(&u->bin_cu, s.st_value)) { if (!inranges++) ranged = s; }
    }
  }
  if (found == 1) { *out = first; return 0; }
  if (found > 1 && inranges == 1) { *out = ranged; return 0; }
  return found ? -2 : -1;
}

/* A global symbol of the binary (never a static of another unit). */
static int binary_global(target_t *t, const char *name, GElf_Sym *out) {
  for (int pass = 0; pass < 2; pass++) {
    Elf *e = pass ? t->elf : t->sym;
    Elf_Scn *scn = NULL;
    while ((scn = elf_nextscn(e, scn))) {
      GElf_Shdr sh;
      if (!gelf_getshdr(scn, &sh) || sh.sh_type != (pass ? SHT_DYNSYM : SHT_SYMTAB) || !sh.sh_entsize) continue;
      Elf_Data *d = elf_getdata(scn, NULL);
      size_t n = sh.sh_size / sh.sh_entsize;
      for (size_t i = 1; d && i < n; i++) {
        GElf_Sym s;
        if (!gelf_getsym(d, (int)i, &s) || s.st_shndx == SHN_UNDEF || GELF_ST_BIND(s.st_info) == STB_LOCAL) continue;
        const char *nm = elf_strptr(e, sh.sh_link, s.st_name);
        if (!nm || strcmp(nm, name)) continue;
        if (GELF_ST_TYPE(s.st_info) == STT_GNU_IFUNC) return -2;
        if (GELF_ST_TYPE(s.st_info) == STT_TLS) return -3;
        *out = s;
        return 0;
      }
    }
  }
  return -1;
}

/* The binary's symbol for a named symbol of the patched object. */
static int unit_symbol(target_t *t, unit_t *u, const GElf_Sym *s, const char *name, GElf_Sym *out) {
  if (GELF_ST_BIND(s->st_info) == STB_LOCAL && s->st_shndx != SHN_UNDEF)
    return unit_local(t, u, name, GELF_ST_TYPE(s->st_info) == STT_FUNC, out);
  return binary_global(t, name, out);
}

static int resolve_cb(void *ctx, pg_obj *o, size_t si, const GElf_Sym *s, const char *name, uint64_t *addr) {
  resolve_ctx *rc = ctx;
  dobj *B = &rc->u->B;
  GElf_Sym ns = *s, bs;
  (void)o;
  (void)si;
  if (GELF_ST_TYPE(s->st_info) == STT_SECTION) {
    size_t c = covering(B, s->st_shndx, 0); /* -ffunction-sections/-fdata-sections: one symbol per section */
    if (!c) {
      pg_warn("%s: a reference into section %s, which holds no named symbol and is not in the image",
              rc->u->tu->rel, secname(B, s->st_shndx));
      return -1;
    }
    getsym(B, c, &ns);
    name = pg_obj_symname(&B->o, &ns);
  }
  int r = unit_symbol(rc->t, rc->u, &ns, name, &bs);
  if (r == 0) {
    *addr = bs.st_value;
    return 0;
  }
  if (r == -1 && ns.st_shndx == SHN_UNDEF && GELF_ST_TYPE(ns.st_info) != STT_OBJECT) {
    if (!target_plt(rc->t, name, addr)) {
      pg_import_note(rc->t, name, *addr);
      return 0;
    }
    return 1; /* a shared library's: an import */
  }
  fprintf(stderr, "%s: %s: '%s' %s %s\n", pg_prog, rc->u->tu->rel, name,
          r == -2 ? "is ambiguous or an IFUNC in" : r == -3 ? "is thread-local in" : "is not a symbol of",
          rc->t->path);
  return -1;
}

/* ---- inlined copies in the binary ---- */
typedef struct { char *inlined; uint64_t container; } inl_t;
typedef struct { inl_t *v; size_t n; } inl_list;
static void inline_cb(void *ctx, const char *inlined, uint64_t container) {
  inl_list *l = ctx;
  inl_t *nv = realloc(l->v, (l->n + 1) * sizeof *nv);
  if (!nv) pg_die("out of memory");
  l->v = nv;
  nv[l->n++] = (inl_t){pg_xstrdup(inlined), container};
}

/* ---- the image: what replaced functions need that the binary lacks ---- */
static void keep_closure(unit_t *u, unsigned char *keep) {
  dobj *A = &u->A, *B = &u->B;
  for (size_t i = 1; i < B->o.nsyms; i++) {
    GElf_Sym s;
    if (u->state[i] != F_SAME && getsym(B, i, &s) && sym_type(B, i) == STT_FUNC && u->state[i] == F_CHANGED)
      keep[s.st_shndx] = 1;
  }
  for (int again = 1; again;) {
    again = 0;
    for (size_t sec = 1; sec < B->o.shnum; sec++) {
      if (!keep[sec]) continue;
      for (size_t r = 0; r < B->rels[sec].n; r++) {
        ref_t x = ref_of(B, &B->rels[sec].r[r]);
        if (x.undef || !x.sec || x.sec >= B->o.shnum || keep[x.sec]) continue;
        GElf_Shdr sh;
        if (!shdr(B, x.sec, &sh) || !(sh.sh_flags & SHF_ALLOC)) continue;
        int need = 0;
        if (!x.sym) {
          if (sh.sh_flags & SHF_WRITE) {
            refuse("new-data", "%s: replaced code refers to writable data in %s that has no name: it cannot be "
                   "matched to the binary's; ship a baseline", u->tu->rel, secname(B, x.sec));
            continue;
          }
          need = 1; /* strings, constants, jump tables */
        } else {
          int t = sym_type(B, x.sym);
          const char *n = sym_name(B, x.sym);
          if (t == STT_FUNC) need = u->state[x.sym] != F_SAME;
          else if (t == STT_OBJECT) need = !dobj_find(A, n) && (!(sh.sh_flags & SHF_WRITE) || !strcmp(n, PG_SHADOW_STATE));
        }
        if (need) { keep[x.sec] = 1; again = 1; }
      }
    }
  }
}

/* ---- options ---- */
static void usage(FILE *o) {
  fprintf(o,
          "usage: hpm-patchgen diff --binary BINARY --source DIR --patch FILE [--patch FILE]...\n"
          "                         (--compile-db FILE | --build-cmd CMD) [--debug-file FILE | --debug-dir DIR]\n"
          "                         [--no-direct-entry] [--keep-work DIR] [--json] --out PAYLOAD\n"
          "Build a hotpatch payload from a source diff (docs/hotpatch-authoring.md).\n"
          "  --binary      the exact baseline binary (matched by ELF build-id), built with -g\n"
          "  --source      its source tree, as it was built (the compile database's paths are in it)\n"
          "  --patch       a patch for `patch -p1` in DIR; several apply in order (cumulative)\n"
          "  --compile-db  compile_commands.json of the baseline build: each unit's exact command\n"
          "  --build-cmd   or the baseline's build command (sh -c CMD), run in a copy of DIR under\n"
          "                Debian's bear, which records the compile database; it must compile every\n"
          "                unit (a build from clean: 'make clean && make', 'make -B')\n"
          "  --debug-file, --debug-dir  the binary's separate debug file (see the other mode)\n"
          "  --no-direct-entry  two-jump entries and no call-site rewriting (payload version 1)\n"
          "  --keep-work   build in DIR (created, must not exist) and keep it, for inspection\n"
          "  --out         the payload for `hpm-sign hotpatch --payload`\n"
          "  --json        one JSON document on stdout: each function and how calls reach it,\n"
          "                warnings, refusals (docs/hotpatch-authoring.md)\n"
          "Exit status: 0 payload written, 1 refused or nothing changed, 2 usage.\n");
}


static int is_asm(const char *rel) {
  const char *dot = strrchr(rel, '.');
  return dot && (!strcmp(dot, ".S") || !strcmp(dot, ".s") || !strcmp(dot, ".asm") || !strcmp(dot, ".sx"));
}

int pg_diff_main(int argc, char **argv) {
  const char *bin = NULL, *srcdir = NULL, *db = NULL, *out = NULL, *dbg_file = NULL, *dbg_dir = "/usr/lib/debug",
             *keep = NULL, *build_cmd = NULL;
  const char **patches = NULL;
  size_t npatches = 0;
  static const struct option opts[] = {
      {"binary", 1, 0, 'b'},     {"source", 1, 0, 's'},     {"patch", 1, 0, 'p'},     {"compile-db", 1, 0, 'c'},
      {"out", 1, 0, 'O'},        {"debug-file", 1, 0, 'd'}, {"debug-dir", 1, 0, 'D'}, {"no-direct-entry", 0, 0, 'n'},
      {"keep-work", 1, 0, 'k'},  {"help", 0, 0, 'h'},       {"version", 0, 0, 'V'},   {"json", 0, 0, 'j'},
      {"build-cmd", 1, 0, 'B'},  {0, 0, 0, 0}};
  int c;
  opterr = 0;
  optind = 1;
  while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
    switch (c) {
    case 'b': bin = optarg; break;
    case 's': srcdir = optarg; break;
    case 'p':
      patches = realloc(patches, (npatches + 1) * sizeof *patches);
      if (!patches) pg_die("out of memory");
      patches[npatches++] = optarg;
      break;
    case 'c': db = optarg; break;
    case 'O': out = optarg; break;
    case 'd': dbg_file = optarg; break;
    case 'D': dbg_dir = optarg; break;
    case 'n': pg_no_direct = 1; break;
    case 'k': keep = optarg; break;
    case 'j': pg_json = 1; pg_report_begin("diff"); break;
    case 'B': build_cmd = optarg; break;
    default: return pg_common_option(c, argv, MODE, usage);
    }
  }
  if (optind != argc) return pg_usage_error(MODE, "unexpected argument '%s': every input is given by an option", argv[optind]);
  if (!bin) return pg_usage_error(MODE, "--binary BINARY is required");
  if (!srcdir) return pg_usage_error(MODE, "--source DIR is required");
  if (!npatches) return pg_usage_error(MODE, "--patch FILE is required (one or more)");
  if (!db == !build_cmd) return pg_usage_error(MODE, "give exactly one of --compile-db FILE or --build-cmd CMD");
  if (!out) return pg_usage_error(MODE, "--out PAYLOAD is required");
  elf_version(EV_CURRENT);

  target_t t;
  target_open(&t, bin);
  target_debug(&t, dbg_file, dbg_dir);
  pg_report_target(&t);
  if (t.dbg_used) fprintf(stderr, "%s: symbols of %s from %s\n", pg_prog, bin, t.dbg);
  pg_dw *bdw = pg_dw_open_elf(t.sym);
  if ((!bdw || !pg_dw_cu_count(bdw)) && t.sym != t.elf) bdw = pg_dw_open_elf(t.elf);
  if (!bdw || !pg_dw_cu_count(bdw))
    pg_die("%s: no DWARF%s%s%s: the diff mode needs the compiler and flags of each unit (DW_AT_producer) and "
           "where functions were inlined; build with -g, or give its debug file (--debug-file)",
           bin, t.dbg_used ? ", nor in its debug file " : t.dbg[0] ? ", and no debug file at " : "", t.dbg,
           "");

  char root[PATH_MAX];
  if (!realpath(srcdir, root)) pg_die("%s: %s", srcdir, strerror(errno));
  char work[PATH_MAX];
  if (keep) {
    if (mkdir(keep, 0700)) pg_die("--keep-work %s: %s", keep, strerror(errno));
    if (!realpath(keep, work)) pg_die("%s: %s", keep, strerror(errno));
  } else {
    const char *tmp = getenv("TMPDIR");
    snprintf(work, sizeof work, "%s/hpm-patchgen-diff-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(work)) pg_die("mkdtemp %s: %s", work, strerror(errno));
  }
  char *ta = pg_xprintf("%s/a", work), *tb = pg_xprintf("%s/b", work);
  char *cp1[] = {"cp", "-a", "--", root, ta, NULL}, *cp2[] = {"cp", "-a", "--", root, tb, NULL};
  if (pg_run(cp1, NULL, NULL, NULL) || pg_run(cp2, NULL, NULL, NULL)) pg_die("cannot copy %s into %s", root, work);
  for (size_t i = 0; i < npatches; i++) {
    char pp[PATH_MAX];
    if (!realpath(patches[i], pp)) pg_die("%s: %s", patches[i], strerror(errno));
    char *pa[] = {"patch", "-p1", "--batch", "--silent", "--no-backup-if-mismatch", "-d", tb, NULL};
    int rc = pg_run(pa, NULL, pp, NULL);
    if (rc) pg_die("%s does not apply to %s (after the patches before it; patch -p1 exit %d)", patches[i], root, rc);
  }
  pg_find_changed(ta, tb);
  if (build_cmd) db = pg_record_build(build_cmd, root, work);
  size_t ntu;
  tu_t *tus = pg_read_db(db, root, &ntu);

  int all = 0;
  for (size_t i = 0; i < pg_nchanged; i++) {
    const char *rel = pg_changed[i].rel;
    if (is_asm(rel)) {
      refuse("assembly", "%s: the patch changes an assembly source: its code is not compiled from C and cannot be "
             "compared; ship a baseline", rel);
      continue;
    }
    size_t k;
    for (k = 0; k < ntu && strcmp(tus[k].rel, rel); k++) {}
    if (k < ntu) {
      if (pg_changed[i].removed) refuse("unit", "%s: the patch removes a compiled unit; ship a baseline", rel);
      tus[k].build = 1;
    } else if (pg_changed[i].added && strrchr(rel, '.') && !strcmp(strrchr(rel, '.'), ".c")) {
      refuse("unit", "%s: the patch adds a source file that the compile database does not build; ship a baseline",
             rel);
    } else {
      all = 1; /* a header, or anything a unit may include */
    }
    if (!pg_changed[i].added && !pg_changed[i].removed) {
      char *fa = pg_xprintf("%s/%s", ta, rel), *fb = pg_xprintf("%s/%s", tb, rel);
      pg_renumber(fa, fb, work);
      free(fa);
      free(fb);
    }
  }
  if (all) /* assembly units include no C header whose change could reach them */
    for (size_t k = 0; k < ntu; k++) tus[k].build |= !is_asm(tus[k].rel);
  if (nrefused) pg_die("%d refusal(s): no payload written", nrefused);
  if (!pg_nchanged) pg_die("nothing changed: the patches change no file of %s; no payload written", root);

  unit_t *units = calloc(ntu ? ntu : 1, sizeof *units);
  size_t nunits = 0;
  for (size_t k = 0; k < ntu; k++) {
    if (!tus[k].build) continue;
    unit_t *u = &units[nunits];
    u->tu = &tus[k];
    for (int side = 0; side < 2; side++) {
      char *obj = pg_xprintf("%s/%zu.%c.o", work, k, side ? 'b' : 'a');
      char **cmd = pg_tu_command(&tus[k], root, side ? tb : ta, obj);
      char *cwd = pg_map_prefix(tus[k].dir, root, side ? tb : ta);
      int rc = pg_run(cmd, cwd, "/dev/null", NULL);
      if (rc) pg_die("%s: compiling the %s unit failed (exit %d) in %s", tus[k].rel, side ? "patched" : "original", rc, cwd);
      dobj_open(side ? &u->B : &u->A, obj);
      free(cwd);
    }
    /* the baseline's compiler and flags, from the binary's DWARF */
    pg_dw *od = pg_dw_open_obj(u->A.o.path);
    Dwarf_Die ocu;
    if (pg_dw_cu(od, NULL, &ocu)) pg_die("%s: its object has no single compilation unit", tus[k].rel);
    char opath[PATH_MAX * 2];
    pg_dw_cu_name(&ocu, opath, sizeof opath);
    char *bpath = pg_map_prefix(opath, ta, root);
    int r = pg_dw_cu(bdw, bpath, &u->bin_cu);
    if (r) {
      refuse("producer", "%s: %s has %s compilation unit %s in its DWARF: was it built from this tree, with -g?",
             tus[k].rel, bin, r == 1 ? "no" : "more than one", bpath);
    } else {
      u->have_cu = 1;
      const char *bp = pg_dw_producer(&u->bin_cu), *op = pg_dw_producer(&ocu);
      char *mine = pg_strip_added(op ? op : "?", bp ? bp : "");
      if (!bp || strcmp(mine, bp))
        refuse("producer", "%s: the compile database builds it with \"%s\", but %s was built with \"%s\": use the "
               "baseline's compiler and flags", tus[k].rel, mine, bin, bp ? bp : "(no DW_AT_producer)");
      else if (strstr(bp, "-flto"))
        refuse("producer", "%s: built with -flto: functions may be inlined across units, which this mode does not "
               "track; ship a baseline", tus[k].rel);
      free(mine);
    }
    free(bpath);
    pg_dw_close(od);
    compare_unit(u);
    nunits++;
  }
  if (nrefused) pg_die("%d refusal(s): no payload written", nrefused);

  /* redirections, and the check that every inlined copy is covered */
  pg_redirect *red = calloc(HPP_MAX_FUNCS, sizeof *red);
  pg_obj *objs = calloc(nunits ? nunits : 1, sizeof *objs);
  resolve_ctx *rcs = calloc(nunits ? nunits : 1, sizeof *rcs);
  unsigned char **keeps = calloc(nunits ? nunits : 1, sizeof *keeps);
  if (!red || !objs || !rcs || !keeps) pg_die("out of memory");
  size_t nred = 0, nfunc_changed = 0;
  for (size_t k = 0; k < nunits; k++) {
    unit_t *u = &units[k];
    dobj *B = &u->B;
    inl_list inl = {NULL, 0};
    if (u->have_cu) pg_dw_inlines(&u->bin_cu, inline_cb, &inl);
    for (size_t i = 1; i < B->o.nsyms; i++) {
      if (u->state[i] != F_CHANGED) continue;
      GElf_Sym s;
      getsym(B, i, &s);
      const char *n = pg_obj_symname(&B->o, &s);
      nfunc_changed++;
      /* inlined copies of it in the binary, and the functions holding them */
      char covered[512] = "";
      size_t ncov = 0;
      char base[256];
      base_name(n, base, sizeof base);
      if (!is_clone(n))
        for (size_t q = 0; q < inl.n; q++) {
          if (strcmp(inl.v[q].inlined, base)) continue;
          GElf_Sym cs;
          const char *cn = target_func_at(&t, inl.v[q].container, &cs);
          size_t cb = cn ? dobj_find(B, cn) : 0;
          if (!cn) {
            refuse("inlined", "%s: '%s' is inlined at 0x%llx in %s, in no function of its symbol table: that copy "
                   "cannot be replaced; ship a baseline", u->tu->rel, n, (unsigned long long)inl.v[q].container, bin);
            continue;
          }
          if (!cb || u->state[cb] != F_CHANGED) {
            /* the byte comparison proved it: the change does not reach that copy */
            fprintf(stderr, "%s: %s: the copy of %s inlined into %s compiles the same with the patch: %s is left "
                    "as it is\n", pg_prog, u->tu->rel, n, cn, cn);
            continue;
          }
          ncov++;
          pg_list_add(covered, sizeof covered, cn);
        }
      if (is_clone(n)) {
        pg_report_skip(n, "%s: %s (a compiler clone or part): not redirected; reached through its callers, which are "
                       "replaced", u->tu->rel, n);
        continue;
      }
      GElf_Sym bs;
      int r = unit_symbol(&t, u, &s, n, &bs);
      if (r) {
        if (ncov)
          pg_report_skip(n, "%s: %s has no out-of-line copy in %s; its %zu inlined cop%s covered (in %s)", u->tu->rel,
                         n, bin, ncov, ncov == 1 ? "y is" : "ies are", covered);
        else if (r == -2)
          refuse("ambiguous", "%s: '%s' names several functions of this unit in %s", u->tu->rel, n, bin);
        else
          pg_report_skip(n, "%s: %s is not in %s (never called, or only through clones: see above)", u->tu->rel, n,
                         bin);
        continue;
      }
      if (nred == HPP_MAX_FUNCS) pg_die("more than %u functions to replace", HPP_MAX_FUNCS);
      pg_redirect *rd = &red[nred++];
      target_plan(&t, n, &bs, &rd->f, 0);
      rd->obj = k;
      rd->new_sym = i;
      rd->new_name = NULL;
      rd->f.inlined = ncov > UINT16_MAX ? UINT16_MAX : (uint16_t)ncov;
      snprintf(rd->covered_in, sizeof rd->covered_in, "%s", covered);
      if (u->forced[i]) snprintf(rd->why, sizeof rd->why, "%s", u->why[i]);
      /* what is inlined into it: its replacement carries their new code */
      for (size_t q = 0; q < inl.n; q++)
        if (inl.v[q].container == bs.st_value) pg_list_add(rd->carries, sizeof rd->carries, inl.v[q].inlined);
    }
    for (size_t q = 0; q < inl.n; q++) free(inl.v[q].inlined);
    free(inl.v);
    keeps[k] = calloc(B->o.shnum, 1);
    if (!keeps[k]) pg_die("out of memory");
    keep_closure(u, keeps[k]);
    objs[k] = B->o;
    rcs[k] = (resolve_ctx){&t, u};
    objs[k].hooks = (pg_hooks){keeps[k], &rcs[k], resolve_cb};
  }
  if (nrefused) pg_die("%d refusal(s): no payload written", nrefused);
  if (!nfunc_changed)
    pg_die("nothing changed: the patched code compiles to the same functions as the original (a change of line "
           "numbers, comments or unused declarations only); no payload written");
  if (!nred) pg_die("no function to redirect: every changed function is a clone or inlined nowhere reachable");
  fprintf(stderr, "%s: %zu changed function(s) in %zu unit(s); %zu redirected\n", pg_prog, nfunc_changed, nunits, nred);
  pg_write_payload(&t, objs, nunits, red, nred, out);
  if (!keep) {
    char *rm[] = {"rm", "-rf", "--", work, NULL};
    pg_run(rm, NULL, NULL, NULL);
  }
  return 0;
}
