/* SPDX-License-Identifier: MIT */
/* The dynamic symbols of a shared object: see dso.h.  Every read of the
 * file goes through get() (bounds-checked); every walk has a bound. */
#include "hotpatch/dso.h"

#include <stdio.h>
#include <string.h>

#define PT_LOAD_ 1
#define PT_DYNAMIC_ 2
#define DT_NULL_ 0
#define DT_PLTRELSZ_ 2
#define DT_HASH_ 4
#define DT_STRTAB_ 5
#define DT_SYMTAB_ 6
#define DT_RELA_ 7
#define DT_RELASZ_ 8
#define DT_STRSZ_ 10
#define DT_SYMENT_ 11
#define DT_PLTREL_ 20
#define DT_JMPREL_ 23
#define DT_GNU_HASH_ 0x6ffffef5
#define DT_VERSYM_ 0x6ffffff0
#define DT_VERDEF_ 0x6ffffffc
#define DT_VERDEFNUM_ 0x6ffffffd
#define R_GLOB_DAT 6
#define R_JUMP_SLOT 7
#define R_IRELATIVE 37
#define WALK_MAX (1u << 20) /* hash chain, relocation and verdef walks */

static int get(const hp_dso *d, uint64_t off, uint64_t n, const uint8_t **p) {
  if (off > d->len || d->len - off < n) return -1;
  *p = d->buf + off;
  return 0;
}
static uint16_t ld16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t ld32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t ld64(const uint8_t *p) { return ld32(p) | (uint64_t)ld32(p + 4) << 32; }
static int rd32(const hp_dso *d, uint64_t off, uint32_t *v) {
  const uint8_t *p;
  if (get(d, off, 4, &p)) return -1;
  *v = ld32(p);
  return 0;
}

#define WHY(...) (snprintf(why, whylen, __VA_ARGS__), -1)

/* The file offset of vaddr within a PT_LOAD's file bytes; 0 if none. */
static uint64_t v2off(const uint8_t *ph, uint16_t phnum, uint64_t v) {
  for (uint16_t i = 0; i < phnum; i++) {
    const uint8_t *p = ph + (size_t)i * 56;
    if (ld32(p) != PT_LOAD_) continue;
    uint64_t off = ld64(p + 8), va = ld64(p + 16), fsz = ld64(p + 32);
    if (v >= va && v - va < fsz && off + (v - va) >= off) return off + (v - va);
  }
  return 0;
}

int hp_dso_parse(const uint8_t *buf, size_t len, hp_dso *d, char *why, size_t whylen) {
  memset(d, 0, sizeof *d);
  d->buf = buf;
  d->len = len;
  const uint8_t *eh, *ph, *dyn;
  if (get(d, 0, 64, &eh) || memcmp(eh, "\x7f" "ELF", 4)) return WHY("not an ELF file");
  if (eh[4] != 2 || eh[5] != 1 || ld16(eh + 18) != 62) return WHY("not ELF64 little-endian x86-64");
  if (ld16(eh + 16) != 2 && ld16(eh + 16) != 3) return WHY("not an executable or shared object");
  uint16_t phnum = ld16(eh + 56);
  if (ld16(eh + 54) != 56 || !phnum) return WHY("bad program header table");
  if (get(d, ld64(eh + 32), (uint64_t)phnum * 56, &ph)) return WHY("program headers outside the file");
  uint64_t dynoff = 0, dynsz = 0;
  for (uint16_t i = 0; i < phnum; i++)
    if (ld32(ph + (size_t)i * 56) == PT_DYNAMIC_) {
      dynoff = ld64(ph + (size_t)i * 56 + 8);
      dynsz = ld64(ph + (size_t)i * 56 + 32);
    }
  if (!dynsz) return WHY("no dynamic section (a static binary)");
  if (dynsz > WALK_MAX || get(d, dynoff, dynsz, &dyn)) return WHY("dynamic section outside the file");
  uint64_t symtab = 0, strtab = 0, gnu = 0, sysv = 0, versym = 0, verdef = 0, rela = 0, jmprel = 0;
  uint64_t pltrel = 7;
  for (uint64_t k = 0; k + 16 <= dynsz; k += 16) {
    uint64_t tag = ld64(dyn + k), val = ld64(dyn + k + 8);
    if (tag == DT_NULL_) break;
    switch (tag) {
    case DT_SYMTAB_: symtab = val; break;
    case DT_STRTAB_: strtab = val; break;
    case DT_STRSZ_: d->strsz = val; break;
    case DT_SYMENT_: if (val != 24) return WHY("DT_SYMENT %llu, not 24", (unsigned long long)val); break;
    case DT_GNU_HASH_: gnu = val; break;
    case DT_HASH_: sysv = val; break;
    case DT_VERSYM_: versym = val; break;
    case DT_VERDEF_: verdef = val; break;
    case DT_VERDEFNUM_: d->verdefnum = val > WALK_MAX ? WALK_MAX : (uint32_t)val; break;
    case DT_RELA_: rela = val; break;
    case DT_RELASZ_: d->relasz = val; break;
    case DT_JMPREL_: jmprel = val; break;
    case DT_PLTRELSZ_: d->pltrelsz = val; break;
    case DT_PLTREL_: pltrel = val; break;
    default: break;
    }
  }
  if (!symtab || !strtab) return WHY("no DT_SYMTAB or DT_STRTAB");
  if (!(d->symtab = v2off(ph, phnum, symtab)) || !(d->strtab = v2off(ph, phnum, strtab)))
    return WHY("symbol or string table outside the file's loaded bytes");
  if (d->strtab > len || d->strsz > len - d->strtab) d->strsz = len - (d->strtab > len ? len : d->strtab);
  if (gnu) d->gnu_hash = v2off(ph, phnum, gnu);
  if (sysv) d->sysv_hash = v2off(ph, phnum, sysv);
  if (!d->gnu_hash && !d->sysv_hash) return WHY("no symbol hash table (DT_GNU_HASH or DT_HASH)");
  if (versym) d->versym = v2off(ph, phnum, versym);
  if (verdef) d->verdef = v2off(ph, phnum, verdef);
  if (rela) d->rela = v2off(ph, phnum, rela);
  if (!d->rela) d->relasz = 0;
  if (jmprel && pltrel == 7 /* DT_RELA */) d->jmprel = v2off(ph, phnum, jmprel);
  if (!d->jmprel) d->pltrelsz = 0;
  return 0;
}

/* A NUL-terminated string at offset o of the string table, or NULL. */
static const char *str(const hp_dso *d, uint64_t o) {
  if (o >= d->strsz) return NULL;
  const char *s = (const char *)d->buf + d->strtab + o;
  return memchr(s, 0, d->strsz - o) ? s : NULL;
}

/* The name of version index ndx (from .gnu.version_d), or NULL. */
static const char *verdef_name(const hp_dso *d, uint16_t ndx) {
  uint64_t off = d->verdef;
  for (uint32_t i = 0; off && i < d->verdefnum; i++) {
    const uint8_t *vd, *aux;
    if (get(d, off, 20, &vd) || ld16(vd) != 1) return NULL;
    if (ld16(vd + 4) == ndx) {
      if (get(d, off + ld32(vd + 12), 8, &aux)) return NULL;
      return str(d, ld32(aux));
    }
    uint32_t next = ld32(vd + 16);
    if (next < 20) return NULL; /* 0 ends the list; a Verdef takes 20 bytes */
    off += next;
  }
  return NULL;
}

/* Does symbol idx match name and the version asked for?  1 yes (out set). */
static int check(const hp_dso *d, uint32_t idx, const char *name, const char *version, hp_dso_sym *out) {
  const uint8_t *s;
  if (get(d, d->symtab + (uint64_t)idx * 24, 24, &s)) return 0;
  const char *n = str(d, ld32(s));
  if (!n || strcmp(n, name)) return 0;
  uint8_t bind = s[4] >> 4, type = s[4] & 15;
  uint16_t shndx = ld16(s + 6);
  if (!shndx || (bind != 1 && bind != 2 && bind != 10)) return 0; /* undefined, or not GLOBAL/WEAK/UNIQUE */
  if (type > 2 && type != 6 && type != 10) return 0;              /* NOTYPE OBJECT FUNC TLS IFUNC */
  if (d->versym) {
    const uint8_t *v;
    if (get(d, d->versym + (uint64_t)idx * 2, 2, &v)) return 0;
    uint16_t vs = ld16(v), ndx = vs & 0x7fff;
    if (version && *version) {
      const char *vn = ndx > 1 ? verdef_name(d, ndx) : NULL;
      if (!vn || strcmp(vn, version)) return 0;
    } else if (ndx > 1 && (vs & 0x8000)) {
      return 0; /* a hidden (non-default) version: only name@VERSION binds it */
    }
  }
  /* without version information the symbol binds any request, as in ld.so */
  out->value = ld64(s + 8);
  out->size = ld64(s + 16);
  out->kind = type == 10 ? HP_DSO_IFUNC : type == 6 ? HP_DSO_TLS : type == 1 ? HP_DSO_OBJECT : HP_DSO_FUNC;
  out->weak = bind == 2;
  return 1;
}

int hp_dso_lookup(const hp_dso *d, const char *name, const char *version, hp_dso_sym *out) {
  if (d->gnu_hash) {
    uint32_t h = 5381, nb, symoff, bloom;
    for (const unsigned char *c = (const unsigned char *)name; *c; c++) h = h * 33 + *c;
    const uint8_t *hd;
    if (get(d, d->gnu_hash, 16, &hd)) return -1;
    nb = ld32(hd);
    symoff = ld32(hd + 4);
    bloom = ld32(hd + 8);
    if (!nb || bloom > WALK_MAX) return -1;
    uint64_t buckets = d->gnu_hash + 16 + (uint64_t)bloom * 8, chain = buckets + (uint64_t)nb * 4;
    uint32_t idx;
    if (rd32(d, buckets + (uint64_t)(h % nb) * 4, &idx) || idx < symoff) return -1;
    for (uint32_t n = 0; n < WALK_MAX; n++, idx++) {
      uint32_t cv;
      if (rd32(d, chain + (uint64_t)(idx - symoff) * 4, &cv)) return -1;
      if ((cv | 1) == (h | 1) && check(d, idx, name, version, out)) return 0;
      if (cv & 1) break;
    }
    return -1;
  }
  uint32_t h = 0, nb, nc, idx;
  for (const unsigned char *c = (const unsigned char *)name; *c; c++) {
    h = (h << 4) + *c;
    uint32_t g = h & 0xf0000000u;
    if (g) h ^= g >> 24;
    h &= ~g;
  }
  if (rd32(d, d->sysv_hash, &nb) || rd32(d, d->sysv_hash + 4, &nc) || !nb) return -1;
  if (rd32(d, d->sysv_hash + 8 + (uint64_t)(h % nb) * 4, &idx)) return -1;
  /* a chain visits each symbol once: longer than the chain entries in the
   * file (and nchain) it loops */
  uint64_t chain = d->sysv_hash + 8 + (uint64_t)nb * 4, lim = chain < d->len ? (d->len - chain) / 4 : 0;
  if (lim > nc) lim = nc;
  for (uint32_t n = 0; idx && idx < nc && n < lim; n++) {
    if (check(d, idx, name, version, out)) return 0;
    if (rd32(d, d->sysv_hash + 8 + (uint64_t)nb * 4 + (uint64_t)idx * 4, &idx)) return -1;
  }
  return -1;
}

/* Walk both relocation tables: cb returns 1 to stop (found). */
static int walk_rela(const hp_dso *d, int (*cb)(const hp_dso *, const uint8_t *, void *), void *ctx) {
  uint64_t tabs[2][2] = {{d->rela, d->relasz}, {d->jmprel, d->pltrelsz}};
  for (int t = 0; t < 2; t++) {
    if (!tabs[t][0]) continue;
    for (uint64_t k = 0; k < tabs[t][1] / 24 && k < WALK_MAX; k++) {
      const uint8_t *r;
      if (get(d, tabs[t][0] + k * 24, 24, &r)) break;
      if (cb(d, r, ctx)) return 0;
    }
  }
  return -1;
}

typedef struct { uint64_t want, slot; const char *name; } rq;

static int irel_cb(const hp_dso *d, const uint8_t *r, void *c) {
  rq *q = c;
  (void)d;
  if ((ld64(r + 8) & 0xffffffff) != R_IRELATIVE || ld64(r + 16) != q->want) return 0;
  q->slot = ld64(r);
  return 1;
}

int hp_dso_irelative_slot(const hp_dso *d, uint64_t resolver, uint64_t *slot) {
  rq q = {resolver, 0, NULL};
  if (walk_rela(d, irel_cb, &q)) return -1;
  *slot = q.slot;
  return 0;
}

static int import_cb(const hp_dso *d, const uint8_t *r, void *c) {
  rq *q = c;
  uint64_t info = ld64(r + 8);
  uint32_t type = (uint32_t)info, si = (uint32_t)(info >> 32);
  const uint8_t *s;
  if ((type != R_GLOB_DAT && type != R_JUMP_SLOT) || !si || get(d, d->symtab + (uint64_t)si * 24, 24, &s)) return 0;
  const char *n = str(d, ld32(s));
  if (!n || strcmp(n, q->name)) return 0;
  q->slot = ld64(r);
  return 1;
}

int hp_dso_import_slot(const hp_dso *d, const char *name, uint64_t *slot) {
  rq q = {0, 0, name};
  if (walk_rela(d, import_cb, &q)) return -1;
  *slot = q.slot;
  return 0;
}
