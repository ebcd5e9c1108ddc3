/* SPDX-License-Identifier: MIT */
/*
 * Does a process run the library code a hotpatch replaces?  A payload for
 * a shared library rewrites that library's copy of each function; a
 * process whose calls bind elsewhere keeps the old behaviour although the
 * library is "patched": another object exports the same symbol and
 * interposes it, or the program carries a copy of its own (a vendored
 * library).  The answer comes from the process as it is: every mapped
 * object's dynamic relocations against the symbol, and the address each
 * GOT slot holds now (read through /proc/PID/mem, no code runs in the
 * target).  The ELF files are read with libelf.
 */
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hotpatch/internal.h"

typedef struct {
  char path[256];
  unsigned long first_lo, first_hi; /* the mapping at file offset 0 (map_files) */
  uint64_t lo, hi;                  /* the whole span */
  uint64_t bias;
  int fd;
  Elf *e;
} obj_t;

typedef struct {
  pid_t pid;
  obj_t *v;
  int n;
  int mem;          /* /proc/PID/mem */
} proc_t;

static void proc_close(proc_t *p) {
  for (int i = 0; i < p->n; i++) {
    if (p->v[i].e) elf_end(p->v[i].e);
    if (p->v[i].fd >= 0) close(p->v[i].fd);
  }
  free(p->v);
  if (p->mem >= 0) close(p->mem);
}

/* The load bias of an object whose offset-0 mapping starts at lo. */
static uint64_t bias_of(Elf *e, unsigned long lo) {
  GElf_Ehdr eh;
  if (!gelf_getehdr(e, &eh) || eh.e_type != ET_DYN) return 0;
  size_t n;
  if (elf_getphdrnum(e, &n)) return 0;
  for (size_t i = 0; i < n; i++) {
    GElf_Phdr ph;
    if (gelf_getphdr(e, (int)i, &ph) && ph.p_type == PT_LOAD && ph.p_offset == 0) return lo - (ph.p_vaddr & ~0xfffull);
  }
  return 0;
}

/* Every file-backed ELF object pid maps, in the order of its maps. */
static int proc_open(proc_t *p, pid_t pid) {
  memset(p, 0, sizeof *p);
  p->pid = pid;
  char path[64], line[1024];
  snprintf(path, sizeof path, "/proc/%d/mem", (int)pid);
  p->mem = open(path, O_RDONLY | O_CLOEXEC);
  snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
  FILE *f = fopen(path, "re");
  if (!f || p->mem < 0) { if (f) fclose(f); return -1; }
  while (fgets(line, sizeof line, f)) {
    unsigned long lo, hi, off;
    int at = 0;
    if (sscanf(line, "%lx-%lx %*s %lx %*s %*u%n", &lo, &hi, &off, &at) < 3 || !at) continue;
    char *name = line + at;
    while (*name == ' ' || *name == '\t') name++;
    name[strcspn(name, "\n")] = 0;
    if (name[0] != '/') continue;
    int k;
    for (k = 0; k < p->n && strcmp(p->v[k].path, name); k++) {}
    if (k < p->n) {
      if (lo < p->v[k].lo) p->v[k].lo = lo;
      if (hi > p->v[k].hi) p->v[k].hi = hi;
      continue;
    }
    if (off != 0) continue;
    obj_t *g = realloc(p->v, (size_t)(p->n + 1) * sizeof *g);
    if (!g) break;
    p->v = g;
    obj_t *o = &p->v[p->n];
    memset(o, 0, sizeof *o);
    snprintf(o->path, sizeof o->path, "%s", name);
    o->first_lo = lo;
    o->first_hi = hi;
    o->lo = lo;
    o->hi = hi;
    char mf[128];
    snprintf(mf, sizeof mf, "/proc/%d/map_files/%lx-%lx", (int)pid, lo, hi);
    o->fd = open(mf, O_RDONLY | O_CLOEXEC);
    o->e = o->fd >= 0 ? elf_begin(o->fd, ELF_C_READ_MMAP, NULL) : NULL;
    if (!o->e || elf_kind(o->e) != ELF_K_ELF) {
      if (o->e) elf_end(o->e);
      if (o->fd >= 0) close(o->fd);
      continue;
    }
    o->bias = bias_of(o->e, lo);
    p->n++;
  }
  fclose(f);
  return 0;
}

static obj_t *obj_at(proc_t *p, uint64_t addr) {
  for (int i = 0; i < p->n; i++)
    if (addr >= p->v[i].lo && addr < p->v[i].hi) return &p->v[i];
  return NULL;
}

/* The first section of type t, and its header. */
static Elf_Scn *section(Elf *e, Elf64_Word t, GElf_Shdr *sh) {
  Elf_Scn *s = NULL;
  while ((s = elf_nextscn(e, s)))
    if (gelf_getshdr(s, sh) && sh->sh_type == t && sh->sh_entsize) return s;
  return NULL;
}

/* A function symbol named name in o's table of type t: 1 defined (exported
 * when t is .dynsym), 0 not there; *idx its index. */
static int sym_named(obj_t *o, Elf64_Word t, const char *name, size_t *idx, int *defined) {
  GElf_Shdr sh;
  Elf_Scn *s = section(o->e, t, &sh);
  Elf_Data *d = s ? elf_getdata(s, NULL) : NULL;
  if (!d) return 0;
  size_t n = sh.sh_size / sh.sh_entsize;
  for (size_t i = 1; i < n; i++) {
    GElf_Sym sym;
    if (!gelf_getsym(d, (int)i, &sym)) continue;
    const char *nm = elf_strptr(o->e, sh.sh_link, sym.st_name);
    if (!nm || strcmp(nm, name)) continue;
    int ty = GELF_ST_TYPE(sym.st_info);
    if (sym.st_shndx != SHN_UNDEF && ty != STT_FUNC && ty != STT_GNU_IFUNC) continue;
    *idx = i;
    *defined = sym.st_shndx != SHN_UNDEF &&
               (t == SHT_SYMTAB || (GELF_ST_BIND(sym.st_info) != STB_LOCAL &&
                                    GELF_ST_VISIBILITY(sym.st_other) != STV_HIDDEN));
    return 1;
  }
  return 0;
}

/* Where o's references to name (its GOT slots, by dynamic relocation) point
 * now: calls back with the object holding the address (NULL: a lazy slot
 * not bound yet, or an address in no object). */
static void refs_of(proc_t *p, obj_t *o, const char *name, void (*cb)(void *, obj_t *, obj_t *), void *ctx) {
  size_t symidx;
  int defined;
  if (!sym_named(o, SHT_DYNSYM, name, &symidx, &defined)) return;
  GElf_Shdr dsh;
  Elf_Scn *dyn = section(o->e, SHT_DYNSYM, &dsh);
  size_t dynndx = dyn ? elf_ndxscn(dyn) : 0;
  Elf_Scn *s = NULL;
  while ((s = elf_nextscn(o->e, s))) {
    GElf_Shdr sh;
    if (!gelf_getshdr(s, &sh) || sh.sh_type != SHT_RELA || sh.sh_link != dynndx || !sh.sh_entsize) continue;
    Elf_Data *d = elf_getdata(s, NULL);
    size_t n = d ? sh.sh_size / sh.sh_entsize : 0;
    for (size_t i = 0; i < n; i++) {
      GElf_Rela r;
      if (!gelf_getrela(d, (int)i, &r) || GELF_R_SYM(r.r_info) != symidx) continue;
      unsigned type = GELF_R_TYPE(r.r_info);
      if (type != R_X86_64_JUMP_SLOT && type != R_X86_64_GLOB_DAT && type != R_X86_64_64) continue;
      uint64_t v = 0;
      if (pread(p->mem, &v, sizeof v, (off_t)(o->bias + r.r_offset)) != (ssize_t)sizeof v) continue;
      obj_t *to = obj_at(p, v);
      if (type == R_X86_64_JUMP_SLOT && to == o) to = NULL; /* lazy: still its own PLT */
      cb(ctx, o, to);
    }
  }
}

typedef struct {
  obj_t *lib;
  char elsewhere[512]; /* "A -> B, ..." */
  int nlib, nother;
} tally;

static void count_ref(void *ctx, obj_t *from, obj_t *to) {
  tally *t = ctx;
  if (!to) return;
  if (to == t->lib) { t->nlib++; return; }
  t->nother++;
  size_t at = strlen(t->elsewhere);
  if (at + strlen(from->path) + strlen(to->path) + 16 < sizeof t->elsewhere)
    snprintf(t->elsewhere + at, sizeof t->elsewhere - at, "%s%s binds to %s", at ? "; " : "", from->path, to->path);
}

int hp_binding_check(const hp_match *m, hp_warn_fn warn, void *ctx) {
  char exe[256], link[64];
  snprintf(link, sizeof link, "/proc/%d/exe", (int)m->pid);
  ssize_t k = readlink(link, exe, sizeof exe - 1);
  if (k <= 0) return 0;
  exe[k] = 0;
  if (!strcmp(exe, m->exe)) return 0; /* the program itself: its own calls are what is patched */
  if (elf_version(EV_CURRENT) == EV_NONE) return 0;
  proc_t p;
  if (proc_open(&p, m->pid)) { proc_close(&p); return 0; }
  obj_t *lib = NULL, *prog = NULL;
  for (int i = 0; i < p.n; i++) {
    if (!strcmp(p.v[i].path, m->exe)) lib = &p.v[i];
    if (!strcmp(p.v[i].path, exe)) prog = &p.v[i];
  }
  int nwarn = 0;
  for (uint32_t i = 0; lib && i < m->pl->func_count; i++) {
    hpp_func f;
    hpp_func_get(m->pl, i, &f);
    if (f.mode == HPP_MODE_CALL) continue;
    size_t idx;
    int exported = 0;
    if (!sym_named(lib, SHT_DYNSYM, f.name, &idx, &exported) || !exported) continue; /* internal: only lib calls it */
    char text[1024];
    int own = 0;
    if (prog && sym_named(prog, SHT_DYNSYM, f.name, &idx, &own) && own) {
      snprintf(text, sizeof text, "%s exports its own '%s', which interposes the one of %s: calls bind to the program's "
               "copy, which this hotpatch does not change", exe, f.name, m->exe);
      warn(ctx, f.name, text);
      nwarn++;
      continue;
    }
    if (prog && sym_named(prog, SHT_SYMTAB, f.name, &idx, &own) && own) {
      snprintf(text, sizeof text, "%s carries its own copy of '%s' (a function of that name in its symbol table): "
               "its calls run that copy, not the one of %s this hotpatch changes", exe, f.name, m->exe);
      warn(ctx, f.name, text);
      nwarn++;
      continue;
    }
    tally t = {lib, "", 0, 0};
    for (int o = 0; o < p.n; o++) refs_of(&p, &p.v[o], f.name, count_ref, &t);
    if (t.nother) {
      snprintf(text, sizeof text, "'%s' of %s is interposed: %s (%d reference(s) elsewhere, %d to %s): those calls do "
               "not reach the patched code", f.name, m->exe, t.elsewhere, t.nother, t.nlib, m->exe);
      warn(ctx, f.name, text);
      nwarn++;
    }
  }
  proc_close(&p);
  return nwarn;
}
