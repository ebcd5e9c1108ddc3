/* SPDX-License-Identifier: MIT */
/*
 * hpm-patchgen: relocatable objects -> payload (docs/hotpatch-payload.md).
 * The image holds the objects' kept sections (code and read-only data, GOT
 * slots, then page-aligned writable data); every other reference resolves
 * to the target binary.  Shared by the hand-written and the diff mode.
 */
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "pg.h"
#include "x86.h"

void pg_obj_open(pg_obj *o, const char *path) {
  memset(o, 0, sizeof *o);
  o->path = path;
  o->buf = pg_read_file(path, &o->len);
  o->e = elf_memory((char *)o->buf, o->len);
  GElf_Ehdr eh;
  if (!o->e || !gelf_getehdr(o->e, &eh) || eh.e_type != ET_REL || eh.e_machine != EM_X86_64)
    pg_die("%s: not an x86-64 relocatable object", path);
  if (elf_getshdrnum(o->e, &o->shnum) || elf_getshdrstrndx(o->e, &o->shstr)) pg_die("%s: bad section table", path);
  for (size_t i = 1; i < o->shnum; i++) {
    GElf_Shdr sh;
    Elf_Scn *scn = elf_getscn(o->e, i);
    if (gelf_getshdr(scn, &sh) && sh.sh_type == SHT_SYMTAB && sh.sh_entsize) {
      o->symd = elf_getdata(scn, NULL);
      o->nsyms = sh.sh_size / sh.sh_entsize;
      o->strndx = sh.sh_link;
    }
  }
  if (!o->symd) pg_die("%s: no symbol table", path);
  o->img_off = calloc(o->shnum, sizeof *o->img_off);
  o->kept = calloc(o->shnum, 1);
  if (!o->img_off || !o->kept) pg_die("out of memory");
}

const char *pg_obj_symname(pg_obj *o, const GElf_Sym *s) {
  const char *n = elf_strptr(o->e, o->strndx, s->st_name);
  return n ? n : "";
}

const char *pg_obj_secname(pg_obj *o, size_t idx) {
  GElf_Shdr sh;
  const char *n = gelf_getshdr(elf_getscn(o->e, idx), &sh) ? elf_strptr(o->e, o->shstr, sh.sh_name) : NULL;
  return n ? n : "";
}

static int64_t align_up(int64_t v, int64_t a) { return a > 1 ? (v + a - 1) / a * a : v; }

/* ---- call sites (payload version 2) ----
 * Direct `call rel32` / `jmp rel32` instructions anywhere in the binary's
 * functions whose target is the entry of a redirected function: hpm points
 * them at the replacement too, so such calls take no extra jump at all.
 * Only functions that decode as whole instructions ending exactly at their
 * st_size are searched (compiler output; anything else keeps calling the
 * entry, which is redirected anyway). */
typedef struct {
  const pg_redirect *funcs;
  size_t nfuncs;
  hpp_func *out;
  size_t n, cap;
  int *of;          /* function index of each call site */
} callscan;

static void call_cb(void *c, uint64_t at, uint64_t target) {
  callscan *cs = c;
  for (size_t i = 0; i < cs->nfuncs; i++) {
    const hpp_func *f = &cs->funcs[i].f;
    if (f->entry != target) continue;
    for (size_t k = 0; k < cs->n; k++)
      if (cs->out[k].region == at) return; /* aliases of one function */
    for (size_t k = 0; k < cs->nfuncs; k++) /* never inside a rewritten region */
      if (at < cs->funcs[k].f.region + cs->funcs[k].f.region_len && cs->funcs[k].f.region < at + 5) return;
    if (cs->n == cs->cap) return;
    hpp_func *o = &cs->out[cs->n];
    memset(o, 0, sizeof *o);
    memcpy(o->name, f->name, sizeof o->name);
    o->entry = f->entry;
    o->region = at;
    o->mode = HPP_MODE_CALL;
    o->region_len = 5;
    cs->of[cs->n++] = (int)i;
    return;
  }
}

static void find_call_sites(target_t *t, callscan *cs) {
  Elf_Scn *scn = NULL;
  while ((scn = elf_nextscn(t->sym, scn))) {
    GElf_Shdr sh;
    if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_SYMTAB || !sh.sh_entsize) continue;
    Elf_Data *d = elf_getdata(scn, NULL);
    if (!d) continue;
    size_t n = sh.sh_size / sh.sh_entsize;
    for (size_t i = 0; i < n; i++) {
      GElf_Sym s;
      if (!gelf_getsym(d, (int)i, &s) || GELF_ST_TYPE(s.st_info) != STT_FUNC || s.st_shndx == SHN_UNDEF ||
          !s.st_size || s.st_size > (1u << 24))
        continue;
      uint8_t *code = malloc(s.st_size);
      if (code && !target_read(t, s.st_value, code, s.st_size)) {
        size_t before = cs->n;
        if (x86_direct_calls(code, s.st_size, s.st_value, call_cb, cs)) cs->n = before;
        for (size_t k = before; k < cs->n; k++) memcpy(cs->out[k].orig, code + (cs->out[k].region - s.st_value), 5);
      }
      free(code);
    }
  }
}

typedef struct { int base; int64_t value; uint64_t got; } gotent;

/* ---- imports (payload version 3) ----
 * A symbol patch code uses that neither the image nor the target binary
 * defines (and that the binary does not call through its own PLT): hpm
 * resolves it in each process at apply time.  Every import has one GOT slot
 * in the image (an ABS64 relocation of base import), and a call to it goes
 * through an 8-byte stub `jmp *slot(%rip)` in the image. */
typedef struct {
  hpp_import v[HPP_MAX_IMPORTS];
  uint64_t slot[HPP_MAX_IMPORTS], stub[HPP_MAX_IMPORTS];
  size_t n;
  uint64_t shim[4];
} imports_t;

/* _FORTIFY_SOURCE's checked copies that glibc makes IFUNCs no GOT slot of a
 * process holds (so hpm could not resolve them without running code): a
 * call to one goes to a shim in the image instead, which checks the
 * destination size and jumps to the plain function (an IFUNC the process
 * has resolved) or to __chk_fail, as glibc's own versions do. */
static const struct { const char *chk, *plain; } chk_shims[4] = {
    {"__memcpy_chk", "memcpy"}, {"__memmove_chk", "memmove"}, {"__mempcpy_chk", "mempcpy"}, {"__memset_chk", "memset"}};
#define CHK_SHIM_SIZE 24

/* The import named sn ("name", "name@VERSION" or "name@@VERSION" as .symver
 * writes them): its index, added if new. */
static size_t import_index(imports_t *im, const char *path, const char *sn);

/* The GOT slot of import ii, allocated at *next (with its relocation) if new. */
static uint64_t import_slot(imports_t *im, size_t ii, uint64_t *next, hpp_reloc *rel, size_t *nrel) {
  if (!im->slot[ii]) {
    im->slot[ii] = *next;
    *next += 8;
    rel[(*nrel)++] = (hpp_reloc){(uint32_t)im->slot[ii], HPP_R_ABS64, HPP_B_IMPORT, (uint16_t)ii, 0};
  }
  return im->slot[ii];
}

/* A `jmp *slot(%rip)` at img + at. */
static void put_jmp_slot(uint8_t *img, uint64_t at, uint64_t slot) {
  int32_t d = (int32_t)((int64_t)slot - (int64_t)(at + 6));
  img[at] = 0xff;
  img[at + 1] = 0x25;
  memcpy(img + at + 2, &d, 4);
}

/* The shim for the checked copy k (chk_shims), made once. */
static uint64_t chk_shim(imports_t *im, size_t k, const char *path, uint8_t *img, uint64_t *next, hpp_reloc *rel,
                         size_t *nrel) {
  if (im->shim[k]) return im->shim[k];
  uint64_t plain = import_slot(im, import_index(im, path, chk_shims[k].plain), next, rel, nrel);
  uint64_t fail = import_slot(im, import_index(im, path, "__chk_fail"), next, rel, nrel);
  uint64_t at = im->shim[k] = *next;
  *next += CHK_SHIM_SIZE;
  /* (dest, src|c, len, destlen): cmp %rdx,%rcx; jb fail; jmp *plain; fail: jmp *__chk_fail */
  static const uint8_t head[5] = {0x48, 0x39, 0xd1, 0x72, 0x06};
  memcpy(img + at, head, sizeof head);
  put_jmp_slot(img, at + 5, plain);
  put_jmp_slot(img, at + 11, fail);
  memset(img + at + 17, 0xcc, CHK_SHIM_SIZE - 17);
  return at;
}

static size_t import_index(imports_t *im, const char *path, const char *sn) {
  hpp_import x;
  memset(&x, 0, sizeof x);
  const char *at = strchr(sn, '@');
  size_t nl = at ? (size_t)(at - sn) : strlen(sn);
  const char *ver = at ? at + 1 + (at[1] == '@') : "";
  if (!nl || nl > HPP_IMPORT_NAME_MAX || strlen(ver) > HPP_IMPORT_VER_MAX || strchr(ver, '@') || (at && !*ver))
    pg_die("%s: cannot import '%s': the name must be 1..%u characters and the version (after '@') 1..%u", path, sn,
           HPP_IMPORT_NAME_MAX, HPP_IMPORT_VER_MAX);
  memcpy(x.name, sn, nl);
  memcpy(x.version, ver, strlen(ver));
  for (size_t i = 0; i < im->n; i++)
    if (!strcmp(im->v[i].name, x.name) && !strcmp(im->v[i].version, x.version)) return i;
  if (im->n == HPP_MAX_IMPORTS) pg_die("%s: more than %u imported symbols", path, HPP_MAX_IMPORTS);
  im->v[im->n] = x;
  return im->n++;
}

void pg_import_note(target_t *t, const char *name, uint64_t plt) {
  static uint64_t said[512];
  static size_t nsaid;
  (void)t;
  for (size_t i = 0; i < nsaid; i++)
    if (said[i] == plt) return; /* once per import */
  if (nsaid < sizeof said / sizeof *said) said[nsaid++] = plt;
  fprintf(stderr, "%s: %s: called through the binary's PLT entry at 0x%llx\n", pg_prog, name, (unsigned long long)plt);
}

static int keep_section(pg_obj *o, size_t i, GElf_Shdr *sh) {
  if (!gelf_getshdr(elf_getscn(o->e, i), sh)) return 0;
  if (!(sh->sh_flags & SHF_ALLOC) || (sh->sh_type != SHT_PROGBITS && sh->sh_type != SHT_NOBITS &&
                                      sh->sh_type != SHT_INIT_ARRAY && sh->sh_type != SHT_FINI_ARRAY))
    return 0;
  if (o->hooks.keep) return o->hooks.keep[i];
  return strcmp(pg_obj_secname(o, i), ".eh_frame") != 0;
}


/* ---- the register-use check (regs.c) over the binary and the image ----
 * Image offsets are addresses with bit 62 set, so both share one space. */
#define IMG (1ull << 62)
typedef struct { uint64_t start; size_t len; } span_t;
typedef struct {
  target_t *t;
  const uint8_t *img;
  span_t *fns;          /* the image's functions */
  size_t nfns;
  const hpp_reloc *rel;
  size_t nrel;
  uint8_t **bufs;       /* the binary's code read so far */
  size_t nbufs;
} regctx;

static const uint8_t *rc_func(void *c, uint64_t addr, uint64_t *start, size_t *len) {
  regctx *r = c;
  if (addr & IMG) {
    uint64_t o = addr & ~IMG;
    for (size_t i = 0; i < r->nfns; i++)
      if (o >= r->fns[i].start && o < r->fns[i].start + r->fns[i].len) {
        *start = IMG | r->fns[i].start;
        *len = r->fns[i].len;
        return r->img + r->fns[i].start;
      }
    return NULL;
  }
  GElf_Sym s;
  if (!target_func_at(r->t, addr, &s) || !s.st_size || s.st_size > (1u << 24)) return NULL;
  uint8_t *b = malloc(s.st_size), **nb = realloc(r->bufs, (r->nbufs + 1) * sizeof *nb);
  if (!b || !nb) pg_die("out of memory");
  r->bufs = nb;
  r->bufs[r->nbufs++] = b;
  if (target_read(r->t, s.st_value, b, s.st_size)) return NULL;
  *start = s.st_value;
  *len = s.st_size;
  return b;
}

static int rc_reloc(void *c, uint64_t addr, size_t len, uint64_t *target) {
  regctx *r = c;
  if (!(addr & IMG)) return -1;
  uint64_t o = addr & ~IMG;
  for (size_t i = 0; i < r->nrel; i++)
    if (r->rel[i].base == HPP_B_TARGET && r->rel[i].type == HPP_R_PC32 && r->rel[i].offset + 4 == o + len &&
        r->rel[i].offset > o) {
      *target = (uint64_t)(r->rel[i].value + 4);
      return 0;
    }
  return -1;
}

/* The binary's direct calls and jumps: who calls what, from where. */
typedef struct { uint64_t caller, site, target; const char *name; int call; } edge_t;
typedef struct { edge_t *v; size_t n, cap; uint64_t caller; const char *name; const uint8_t *code; } graph_t;
static void edge_cb(void *c, uint64_t at, uint64_t target) {
  graph_t *g = c;
  if (g->n == g->cap) {
    g->cap = g->cap ? 2 * g->cap : 256;
    g->v = realloc(g->v, g->cap * sizeof *g->v);
    if (!g->v) pg_die("out of memory");
  }
  g->v[g->n++] = (edge_t){g->caller, at, target, g->name, g->code[at - g->caller] == 0xe8};
}

static void call_graph(target_t *t, graph_t *g) {
  Elf_Scn *scn = NULL;
  while ((scn = elf_nextscn(t->sym, scn))) {
    GElf_Shdr sh;
    if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_SYMTAB || !sh.sh_entsize) continue;
    Elf_Data *d = elf_getdata(scn, NULL);
    for (size_t k = 1; d && k < sh.sh_size / sh.sh_entsize; k++) {
      GElf_Sym s;
      if (!gelf_getsym(d, (int)k, &s) || GELF_ST_TYPE(s.st_info) != STT_FUNC || s.st_shndx == SHN_UNDEF ||
          !s.st_size || s.st_size > (1u << 24))
        continue;
      uint8_t *code = malloc(s.st_size);
      size_t before = g->n;
      g->caller = s.st_value;
      g->name = elf_strptr(t->sym, sh.sh_link, s.st_name);
      g->code = code;
      if (code && !target_read(t, s.st_value, code, s.st_size) &&
          x86_direct_calls(code, s.st_size, s.st_value, edge_cb, g))
        g->n = before;
      free(code);
    }
  }
}

/* Every replaced function: the call-clobbered registers the replacement
 * may write beyond what the original may.  Those also widen what every
 * function calling it (directly or through others) may write; a direct
 * caller that is not replaced and reads such a register after its call
 * relies on it (-fipa-ra).  Refuses, naming them. */
static void check_registers(target_t *t, pg_obj *objs, size_t nobj, const uint8_t *img, const hpp_reloc *rel,
                            size_t nrel, const pg_redirect *red, size_t nred) {
  regctx rc = {t, img, NULL, 0, rel, nrel, NULL, 0};
  for (size_t k = 0; k < nobj; k++)
    for (size_t i = 1; i < objs[k].nsyms; i++) {
      GElf_Sym s;
      if (!gelf_getsym(objs[k].symd, (int)i, &s) || GELF_ST_TYPE(s.st_info) != STT_FUNC || s.st_shndx >= objs[k].shnum ||
          !objs[k].kept[s.st_shndx])
        continue;
      span_t *nf = realloc(rc.fns, (rc.nfns + 1) * sizeof *nf);
      if (!nf) pg_die("out of memory");
      rc.fns = nf;
      rc.fns[rc.nfns++] = (span_t){objs[k].img_off[s.st_shndx] + s.st_value, s.st_size};
    }
  static const pg_code_ops ops = {rc_func, rc_reloc};
  pg_regscan *scan = pg_regscan_new(&ops, &rc);
  graph_t g = {NULL, 0, 0, 0, NULL, NULL};
  int bad = 0, graphed = 0;
  typedef struct { uint64_t fn; pg_regs grow; const char *via; } wk_t;
  enum { WORK_MAX = 4096 };
  wk_t *work = malloc(WORK_MAX * sizeof *work);
  if (!work) pg_die("out of memory");
  for (size_t i = 0; i < nred; i++) {
    pg_regs orig = pg_clobbers(scan, red[i].f.entry, 0), neu = pg_clobbers(scan, IMG | red[i].f.image_off, 0);
    if (!(neu & ~orig)) continue;
    if (!graphed++) call_graph(t, &g);
    size_t nw = 0, done = 0;
    work[nw++] = (wk_t){red[i].f.entry, neu & ~orig, NULL};
    while (done < nw) {
      wk_t w = work[done++];
      for (size_t e = 0; e < g.n; e++) {
        if (g.v[e].target != w.fn) continue;
        int replaced = 0;
        for (size_t j = 0; j < nred; j++) replaced |= red[j].f.entry == g.v[e].caller;
        if (replaced) continue;
        pg_regs r = g.v[e].call ? pg_relies(scan, g.v[e].caller, g.v[e].site + 5, w.grow) : 0;
        if (r) {
          char regs[200], added[200];
          pg_regs_names(r, regs, sizeof regs);
          pg_regs_names(w.grow, added, sizeof added);
          char msg[1024];
          snprintf(msg, sizeof msg,
                   "'%s': the replacement may write %s, which the original leaves alone, and '%s' keeps a value in "
                   "%s across its call at 0x%llx%s%s (GCC's -fipa-ra): replace '%s' too, or build with -fno-ipa-ra "
                   "(or mark '%s' noipa)",
                   red[i].f.name, added, g.v[e].name ? g.v[e].name : "?", regs, (unsigned long long)g.v[e].site,
                   w.via ? " to " : "", w.via ? w.via : "", g.v[e].name ? g.v[e].name : "?", red[i].f.name);
          fprintf(stderr, "%s: refused [ipa-ra]: %s\n", pg_prog, msg);
          pg_report_refusal("ipa-ra", msg);
          bad++;
        }
        /* what the caller may write grows too: its own callers are next */
        pg_regs up = w.grow & ~pg_clobbers(scan, g.v[e].caller, 0);
        int seen = 0;
        for (size_t q = 0; q < nw; q++) seen |= work[q].fn == g.v[e].caller && !(up & ~work[q].grow);
        if (up && !seen && nw < WORK_MAX) work[nw++] = (wk_t){g.v[e].caller, up, g.v[e].name};
      }
    }
  }
  free(work);
  free(g.v);
  pg_regscan_free(scan);
  for (size_t i = 0; i < rc.nbufs; i++) free(rc.bufs[i]);
  free(rc.bufs);
  free(rc.fns);
  if (bad) pg_die("%d refusal(s): no payload written", bad);
}

void pg_write_payload(target_t *t, pg_obj *objs, size_t nobj, pg_redirect *red, size_t nred, const char *out) {
  /* layout: code and read-only data of every object, GOT slots, then (page-aligned) writable data */
  int64_t off = 0, got_start = 0;
  for (int phase = 0; phase < 2; phase++) {
    if (phase == 1) off = align_up(off, HPP_PAGE);
    for (size_t k = 0; k < nobj; k++) {
      pg_obj *o = &objs[k];
      for (size_t i = 1; i < o->shnum; i++) {
        GElf_Shdr sh;
        if (!keep_section(o, i, &sh)) continue;
        const char *nm = pg_obj_secname(o, i);
        if (sh.sh_type == SHT_INIT_ARRAY || sh.sh_type == SHT_FINI_ARRAY)
          pg_die("%s: constructors/destructors are not supported in replacement code", o->path);
        if (sh.sh_flags & SHF_TLS) pg_die("%s: thread-local variables are not supported (section %s)", o->path, nm);
        if (((sh.sh_flags & SHF_WRITE) != 0) != phase) continue;
        if (sh.sh_addralign > HPP_PAGE) pg_die("%s: section %s alignment too large", o->path, nm);
        off = align_up(off, (int64_t)sh.sh_addralign);
        o->img_off[i] = (uint64_t)off;
        o->kept[i] = 1;
        off += (int64_t)sh.sh_size;
      }
    }
    if (phase == 0) {
      off = align_up(off, 8);
      got_start = off; /* GOT slots: upper bound one per relocation */
      for (size_t k = 0; k < nobj; k++)
        for (size_t i = 1; i < objs[k].shnum; i++) {
          GElf_Shdr sh;
          if (!gelf_getshdr(elf_getscn(objs[k].e, i), &sh) || sh.sh_type != SHT_RELA) continue;
          /* a GOT slot, or an import's slot and call stub, or a checked copy's
           * shim and its two imports */
          off += (int64_t)(sh.sh_size / (sh.sh_entsize ? sh.sh_entsize : 24)) * (CHK_SHIM_SIZE + 16);
        }
    }
  }
  int have_data = 0;
  int64_t first_w = INT64_MAX;
  for (size_t k = 0; k < nobj; k++)
    for (size_t i = 1; i < objs[k].shnum; i++) {
      GElf_Shdr sh;
      if (objs[k].kept[i] && gelf_getshdr(elf_getscn(objs[k].e, i), &sh) && (sh.sh_flags & SHF_WRITE)) {
        have_data = 1;
        if ((int64_t)objs[k].img_off[i] < first_w) first_w = (int64_t)objs[k].img_off[i];
      }
    }
  int64_t image_size = off;
  if (image_size > HPP_IMAGE_MAX || image_size <= 0) pg_die("%s: replacement image is empty or too large", objs[0].path);
  uint8_t *img = calloc(1, (size_t)image_size);
  if (!img) pg_die("out of memory");
  for (size_t k = 0; k < nobj; k++)
    for (size_t i = 1; i < objs[k].shnum; i++) {
      GElf_Shdr sh;
      Elf_Scn *scn = elf_getscn(objs[k].e, i);
      if (!objs[k].kept[i] || !gelf_getshdr(scn, &sh) || sh.sh_type == SHT_NOBITS) continue;
      Elf_Data *d = elf_getdata(scn, NULL);
      if (d && d->d_buf && d->d_size) memcpy(img + objs[k].img_off[i], d->d_buf, d->d_size);
    }

  hpp_reloc *rel = NULL;
  size_t nrel = 0, caprel = 0;
  gotent *got = NULL;
  size_t ngot = 0;
  imports_t *imp = calloc(1, sizeof *imp);
  if (!imp) pg_die("out of memory");
  uint64_t got_next = (uint64_t)got_start;
  for (size_t k = 0; k < nobj; k++) {
    pg_obj *o = &objs[k];
    for (size_t i = 1; i < o->shnum; i++) {
      GElf_Shdr sh;
      Elf_Scn *scn = elf_getscn(o->e, i);
      if (!gelf_getshdr(scn, &sh)) continue;
      if (sh.sh_type == SHT_REL && sh.sh_info < o->shnum && o->kept[sh.sh_info])
        pg_die("%s: REL relocations are not supported", o->path);
      if (sh.sh_type != SHT_RELA) continue;
      if (sh.sh_info >= o->shnum || !o->kept[sh.sh_info]) continue; /* e.g. .rela.eh_frame */
      Elf_Data *d = elf_getdata(scn, NULL);
      size_t n = sh.sh_size / sh.sh_entsize;
      for (size_t r = 0; r < n; r++) {
        GElf_Rela ra;
        if (!gelf_getrela(d, (int)r, &ra)) pg_die("%s: bad relocation", o->path);
        size_t si = GELF_R_SYM(ra.r_info);
        unsigned type = GELF_R_TYPE(ra.r_info);
        GElf_Sym s;
        if (si >= o->nsyms || !gelf_getsym(o->symd, (int)si, &s)) pg_die("%s: bad symbol index", o->path);
        const char *sn = pg_obj_symname(o, &s);
        int base;
        int64_t S;
        size_t ii = 0; /* base import: the import's index */
        if (s.st_shndx != SHN_UNDEF && s.st_shndx < o->shnum && o->kept[s.st_shndx]) {
          base = HPP_B_IMAGE;
          S = (int64_t)(o->img_off[s.st_shndx] + s.st_value);
        } else if (o->hooks.resolve) {
          uint64_t a;
          int hr = o->hooks.resolve(o->hooks.ctx, o, si, &s, sn, &a);
          if (hr < 0) exit(1);
          base = hr ? HPP_B_IMPORT : HPP_B_TARGET;
          S = hr ? 0 : (int64_t)a;
        } else if (s.st_shndx == SHN_UNDEF) {
          GElf_Sym ts;
          uint64_t plt;
          base = HPP_B_TARGET;
          if (*sn && !target_sym(t, sn, 0, &ts)) {
            S = (int64_t)ts.st_value;
          } else if (*sn && (GELF_ST_TYPE(s.st_info) == STT_FUNC || GELF_ST_TYPE(s.st_info) == STT_NOTYPE) &&
                     type != R_X86_64_64 && !target_plt(t, sn, &plt)) {
            S = (int64_t)plt;
            pg_import_note(t, sn, plt);
          } else if (*sn) {
            base = HPP_B_IMPORT; /* from a shared library, at apply time */
            S = 0;
          } else {
            pg_die("%s: a relocation against an unnamed undefined symbol", o->path);
          }
        } else {
          pg_die("%s: relocation against '%s' in an unsupported section", o->path, *sn ? sn : "?");
        }
        uint64_t P = o->img_off[sh.sh_info] + ra.r_offset;
        if (P + (type == R_X86_64_64 ? 8 : 4) > (uint64_t)image_size) pg_die("%s: relocation outside its section", o->path);
        if (nrel + 2 > caprel) {
          caprel = caprel ? caprel * 2 : 64;
          rel = realloc(rel, caprel * sizeof *rel);
          if (!rel) pg_die("out of memory");
        }
        if (base == HPP_B_IMPORT && type == R_X86_64_PLT32) {
          size_t c = 0;
          while (c < 4 && strcmp(sn, chk_shims[c].chk)) c++;
          if (c < 4) {
            int32_t v32 = (int32_t)((int64_t)chk_shim(imp, c, o->path, img, &got_next, rel, &nrel) + ra.r_addend -
                                    (int64_t)P);
            memcpy(img + P, &v32, 4);
            continue;
          }
        }
        if (base == HPP_B_IMPORT) {
          ii = import_index(imp, o->path, sn);
          import_slot(imp, ii, &got_next, rel, &nrel);
          if (type == R_X86_64_64) {
            rel[nrel++] = (hpp_reloc){(uint32_t)P, HPP_R_ABS64, HPP_B_IMPORT, (uint16_t)ii, ra.r_addend};
            continue;
          }
          if (type == R_X86_64_PLT32) { /* a call: through the stub */
            if (!imp->stub[ii]) {
              imp->stub[ii] = got_next;
              got_next += 8;
              put_jmp_slot(img, imp->stub[ii], imp->slot[ii]);
              img[imp->stub[ii] + 6] = img[imp->stub[ii] + 7] = 0xcc; /* int3 */
            }
            int32_t v32 = (int32_t)((int64_t)imp->stub[ii] + ra.r_addend - (int64_t)P);
            memcpy(img + P, &v32, 4);
            continue;
          }
          if (type != R_X86_64_GOTPCREL && type != R_X86_64_GOTPCRELX && type != R_X86_64_REX_GOTPCRELX)
            pg_die("%s: '%s' is neither defined in the replacement nor a symbol of %s, and a shared-library "
                   "symbol is reached only by a call, through the GOT or by an absolute address (relocation type "
                   "%u: a variable of a library? compile with -fPIC, or keep its address in the binary)",
                   o->path, sn, t->path, type);
          int32_t v32 = (int32_t)((int64_t)imp->slot[ii] + ra.r_addend - (int64_t)P);
          memcpy(img + P, &v32, 4);
          continue;
        }
        switch (type) {
        case R_X86_64_64:
          rel[nrel++] = (hpp_reloc){(uint32_t)P, HPP_R_ABS64, (uint8_t)base, 0, S + ra.r_addend};
          break;
        case R_X86_64_PC32:
        case R_X86_64_PLT32:
          if (base == HPP_B_IMAGE) {
            int32_t v32 = (int32_t)(S + ra.r_addend - (int64_t)P);
            memcpy(img + P, &v32, 4);
          } else {
            rel[nrel++] = (hpp_reloc){(uint32_t)P, HPP_R_PC32, (uint8_t)base, 0, S + ra.r_addend};
          }
          break;
        case R_X86_64_GOTPCREL:
        case R_X86_64_GOTPCRELX:
        case R_X86_64_REX_GOTPCRELX: {
          uint64_t slot = 0;
          for (size_t g = 0; g < ngot; g++)
            if (got[g].base == base && got[g].value == S) slot = got[g].got;
          if (!slot) {
            got = realloc(got, (ngot + 1) * sizeof *got);
            if (!got) pg_die("out of memory");
            slot = got_next;
            got_next += 8;
            got[ngot++] = (gotent){base, S, slot};
            rel[nrel++] = (hpp_reloc){(uint32_t)slot, HPP_R_ABS64, (uint8_t)base, 0, S};
          }
          int32_t v32 = (int32_t)((int64_t)slot + ra.r_addend - (int64_t)P);
          memcpy(img + P, &v32, 4);
          break;
        }
        default:
          pg_die("%s: relocation type %u against '%s' is not supported (compile with -fPIE)", o->path, type,
                 *sn ? sn : "?");
        }
      }
    }
  }

  /* each replacement's place in the image */
  for (size_t i = 0; i < nred; i++) {
    pg_obj *o = &objs[red[i].obj];
    int found = 0;
    for (size_t k = 1; k < o->nsyms && !found; k++) {
      GElf_Sym s;
      if (!gelf_getsym(o->symd, (int)k, &s) || GELF_ST_TYPE(s.st_info) != STT_FUNC) continue;
      if (red[i].new_name ? strcmp(pg_obj_symname(o, &s), red[i].new_name) : k != red[i].new_sym) continue;
      if (s.st_shndx >= o->shnum || !o->kept[s.st_shndx]) continue;
      red[i].f.image_off = (uint32_t)(o->img_off[s.st_shndx] + s.st_value);
      found = 1;
    }
    if (!found) pg_die("%s: no function '%s' in the replacement", o->path, red[i].new_name ? red[i].new_name : red[i].f.name);
  }

  check_registers(t, objs, nobj, img, rel, nrel, red, nred);

  callscan cs = {red, nred, NULL, 0, 0, NULL};
  if (!pg_no_direct) {
    cs.cap = HPP_MAX_FUNCS > nred ? HPP_MAX_FUNCS - nred : 0;
    cs.out = calloc(cs.cap + 1, sizeof *cs.out);
    cs.of = calloc(cs.cap + 1, sizeof *cs.of);
    if (!cs.out || !cs.of) pg_die("out of memory");
    find_call_sites(t, &cs);
  }
  size_t nfn = nred + cs.n;
  if (nfn > HPP_MAX_FUNCS) pg_die("more than %u functions and call sites", HPP_MAX_FUNCS);
  hpp_func *funcs = calloc(nfn, sizeof *funcs);
  if (!funcs) pg_die("out of memory");
  for (size_t i = 0; i < nred; i++) funcs[i] = red[i].f;
  for (size_t k = 0; k < cs.n; k++) { /* call sites follow the functions, with their function's replacement */
    cs.out[k].image_off = funcs[cs.of[k]].image_off;
    funcs[nred + k] = cs.out[k];
  }

  hpp_payload p;
  memset(&p, 0, sizeof p);
  memcpy(p.build_id, t->info.build_id, t->info.build_id_len);
  p.build_id_len = t->info.build_id_len;
  p.func_count = (uint32_t)nfn;
  p.reloc_count = (uint32_t)nrel;
  p.import_count = (uint32_t)imp->n;
  p.image_size = (uint32_t)image_size;
  p.data_off = have_data ? (uint32_t)first_w : (uint32_t)image_size;
  /* the lowest version that describes it: 2 for direct entry jumps and call sites */
  p.version = cs.n ? 2 : 1;
  for (size_t i = 0; i < nfn; i++)
    if (funcs[i].mode == HPP_MODE_PAD && funcs[i].region_len > funcs[i].flip_off + 2) p.version = 2;
  if (imp->n) p.version = 3; /* imports */
  size_t total = HPP_HEADER_SIZE + nfn * HPP_FUNC_SIZE + nrel * HPP_RELOC_SIZE + imp->n * HPP_IMPORT_SIZE +
                 (size_t)image_size;
  uint8_t *pb = calloc(1, total);
  if (!pb) pg_die("out of memory");
  hpp_put_header(pb, &p);
  for (size_t i = 0; i < nfn; i++) hpp_put_func(pb + HPP_HEADER_SIZE + i * HPP_FUNC_SIZE, &funcs[i]);
  uint8_t *rp = pb + HPP_HEADER_SIZE + nfn * HPP_FUNC_SIZE;
  for (size_t i = 0; i < nrel; i++) hpp_put_reloc(rp + i * HPP_RELOC_SIZE, &rel[i]);
  uint8_t *ip = rp + nrel * HPP_RELOC_SIZE;
  for (size_t i = 0; i < imp->n; i++) hpp_put_import(ip + i * HPP_IMPORT_SIZE, &imp->v[i]);
  memcpy(ip + imp->n * HPP_IMPORT_SIZE, img, (size_t)image_size);

  hpp_payload chk;
  char why[160];
  if (hpp_parse(pb, total, &chk, why, sizeof why) != HPP_OK) pg_die("internal: produced payload does not parse: %s", why);
  hpmh_status e;
  if (hpmh_write_file(out, pb, total, 0644, 0, &e)) pg_die("cannot write %s", e.detail);
  for (size_t i = 0; i < nred; i++) {
    unsigned ncalls = 0;
    for (size_t k = 0; k < cs.n; k++) ncalls += cs.of[k] == (int)i;
    pg_report_func(&funcs[i], &red[i], ncalls);
  }
  for (size_t k = 0; k < 4; k++)
    if (imp->shim[k])
      fprintf(stderr, "%s: %s: a shim in the image (checks the size, then %s; __chk_fail on overflow)\n", pg_prog,
              chk_shims[k].chk, chk_shims[k].plain);
  for (size_t i = 0; i < imp->n; i++)
    fprintf(stderr, "%s: import %s%s%s (from the process's shared libraries, resolved by hpm apply)\n", pg_prog,
            imp->v[i].name, imp->v[i].version[0] ? "@" : "", imp->v[i].version);
  free(imp);
  pg_report_written(out);
  free(pb);
  free(img);
  free(rel);
  free(got);
  free(funcs);
  free(cs.out);
  free(cs.of);
}
