/* SPDX-License-Identifier: MIT */
/*
 * hpm-patchgen diff mode: what it reads from DWARF.  The binary's (or its
 * debug file's) DWARF gives each compilation unit's producer (compiler and
 * flags) and where changed functions were inlined; the DWARF of the two
 * objects built from a translation unit (relocated by libdwfl, as objects'
 * DWARF needs) gives their producer, struct layouts and variable types.
 */
#include <elfutils/libdw.h>
#include <dwarf.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pgdiff.h"

struct pg_dw {
  Dwfl *dwfl;
  Dwarf *dw;
  uint64_t bias;
};

pg_dw *pg_dw_open_elf(Elf *e) {
  Dwarf *dw = dwarf_begin_elf(e, DWARF_C_READ, NULL);
  if (!dw) return NULL;
  pg_dw *d = calloc(1, sizeof *d);
  if (!d) pg_die("out of memory");
  d->dw = dw;
  return d;
}

static const Dwfl_Callbacks offline_cb = {
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .section_address = dwfl_offline_section_address,
};

pg_dw *pg_dw_open_obj(const char *path) {
  pg_dw *d = calloc(1, sizeof *d);
  if (!d) pg_die("out of memory");
  d->dwfl = dwfl_begin(&offline_cb);
  if (!d->dwfl) pg_die("%s: %s", path, dwfl_errmsg(-1));
  Dwfl_Module *m = dwfl_report_offline(d->dwfl, path, path, -1);
  if (!m || dwfl_report_end(d->dwfl, NULL, NULL)) pg_die("%s: %s", path, dwfl_errmsg(-1));
  Dwarf_Addr bias;
  d->dw = dwfl_module_getdwarf(m, &bias);
  if (!d->dw) pg_die("%s: no DWARF (the compile command must have -g): %s", path, dwfl_errmsg(-1));
  d->bias = bias;
  return d;
}

void pg_dw_close(pg_dw *d) {
  if (!d) return;
  if (d->dwfl) dwfl_end(d->dwfl);
  else dwarf_end(d->dw);
  free(d);
}

static const char *attr_str(Dwarf_Die *die, int at) {
  Dwarf_Attribute a;
  return dwarf_attr_integrate(die, at, &a) ? dwarf_formstring(&a) : NULL;
}

/* comp_dir/name of a CU (name alone if absolute). */
static void cu_path(Dwarf_Die *cu, char *out, size_t n) {
  const char *name = dwarf_diename(cu), *dir = attr_str(cu, DW_AT_comp_dir);
  if (!name) { out[0] = 0; return; }
  if (name[0] == '/' || !dir) snprintf(out, n, "%s", name);
  else snprintf(out, n, "%s/%s", dir, name);
}

int pg_dw_cu_count(pg_dw *d) {
  int n = 0;
  Dwarf_Off off = 0, next;
  size_t hsize;
  while (dwarf_nextcu(d->dw, off, &next, &hsize, NULL, NULL, NULL) == 0) { n++; off = next; }
  return n;
}

int pg_dw_cu(pg_dw *d, const char *path, Dwarf_Die *out) {
  Dwarf_Off off = 0, next;
  size_t hsize;
  int found = 0;
  while (dwarf_nextcu(d->dw, off, &next, &hsize, NULL, NULL, NULL) == 0) {
    Dwarf_Die cu;
    if (dwarf_offdie(d->dw, off + hsize, &cu)) {
      char p[PATH_MAX * 2];
      cu_path(&cu, p, sizeof p);
      if (!path || !strcmp(p, path)) {
        if (found) return 2;
        *out = cu;
        found = 1;
      }
    }
    off = next;
  }
  return found ? 0 : 1;
}

void pg_dw_cu_name(Dwarf_Die *cu, char *out, size_t n) { cu_path(cu, out, n); }

const char *pg_dw_producer(Dwarf_Die *cu) { return attr_str(cu, DW_AT_producer); }

int pg_dw_cu_contains(Dwarf_Die *cu, uint64_t addr) {
  Dwarf_Addr base, lo, hi;
  ptrdiff_t o = 0;
  while ((o = dwarf_ranges(cu, o, &base, &lo, &hi)) > 0)
    if (addr >= lo && addr < hi) return 1;
  return 0;
}

/* ---- inlined copies ---- */
static uint64_t entry_of(Dwarf_Die *die) {
  Dwarf_Addr a;
  if (dwarf_entrypc(die, &a) == 0) return a;
  if (dwarf_lowpc(die, &a) == 0) return a;
  Dwarf_Addr base, lo, hi;
  if (dwarf_ranges(die, 0, &base, &lo, &hi) > 0) return lo;
  return 0;
}

static void walk_inlines(Dwarf_Die *die, uint64_t container, pg_inline_cb cb, void *ctx, int depth) {
  Dwarf_Die child;
  if (depth > 64 || dwarf_child(die, &child) != 0) return;
  do {
    int tag = dwarf_tag(&child);
    uint64_t c = container;
    if (tag == DW_TAG_subprogram) {
      uint64_t e = entry_of(&child);
      if (!e) continue; /* abstract instance or declaration: no code of its own */
      c = e;
    } else if (tag == DW_TAG_inlined_subroutine && container) {
      Dwarf_Attribute a;
      Dwarf_Die origin;
      if (dwarf_attr(&child, DW_AT_abstract_origin, &a) && dwarf_formref_die(&a, &origin)) {
        const char *n = dwarf_diename(&origin);
        if (!n) n = attr_str(&origin, DW_AT_name);
        if (n) cb(ctx, n, container);
      }
    }
    walk_inlines(&child, c, cb, ctx, depth + 1);
  } while (dwarf_siblingof(&child, &child) == 0);
}

void pg_dw_inlines(Dwarf_Die *cu, pg_inline_cb cb, void *ctx) { walk_inlines(cu, 0, cb, ctx, 0); }

void pg_dw_all_inlines(pg_dw *d, pg_inline_cb cb, void *ctx) {
  Dwarf_Off off = 0, next;
  size_t hsize;
  while (dwarf_nextcu(d->dw, off, &next, &hsize, NULL, NULL, NULL) == 0) {
    Dwarf_Die cu;
    if (dwarf_offdie(d->dw, off + hsize, &cu)) walk_inlines(&cu, 0, cb, ctx, 0);
    off = next;
  }
}

/* ---- layouts and variable types ---- */
/* Descriptions are cut at the buffer's end: a longer type compares by its first 255 bytes. */
#pragma GCC diagnostic ignored "-Wformat-truncation"
static void type_desc(Dwarf_Die *die, char *out, size_t n, int depth) {
  Dwarf_Attribute a;
  Dwarf_Die t;
  if (depth > 8 || !dwarf_attr_integrate(die, DW_AT_type, &a) || !dwarf_formref_die(&a, &t)) {
    snprintf(out, n, "void");
    return;
  }
  const char *name = dwarf_diename(&t);
  Dwarf_Word sz = 0;
  Dwarf_Attribute bs;
  if (dwarf_attr_integrate(&t, DW_AT_byte_size, &bs)) dwarf_formudata(&bs, &sz);
  char inner[512];
  int tag = dwarf_tag(&t);
  if (name) {
    snprintf(out, n, "%d:%s/%llu", tag, name, (unsigned long long)sz);
    return;
  }
  type_desc(&t, inner, sizeof inner, depth + 1);
  if (tag == DW_TAG_array_type) {
    Dwarf_Die sub;
    Dwarf_Word ub = 0;
    if (dwarf_child(&t, &sub) == 0) {
      Dwarf_Attribute u;
      if (dwarf_attr(&sub, DW_AT_upper_bound, &u)) dwarf_formudata(&u, &ub);
      else if (dwarf_attr(&sub, DW_AT_count, &u)) { dwarf_formudata(&u, &ub); ub--; }
    }
    snprintf(out, n, "%s[%llu]", inner, (unsigned long long)ub + 1);
  } else {
    snprintf(out, n, "%d(%s)/%llu", tag, inner, (unsigned long long)sz);
  }
}

static void add_item(pg_item **v, size_t *n, const char *name, const char *desc) {
  pg_item *nv = realloc(*v, (*n + 1) * sizeof **v);
  if (!nv) pg_die("out of memory");
  *v = nv;
  nv[*n].name = strdup(name);
  nv[*n].desc = strdup(desc);
  if (!nv[*n].name || !nv[*n].desc) pg_die("out of memory");
  (*n)++;
}

static void walk_types(Dwarf_Die *die, pg_item **lay, size_t *nlay, pg_item **var, size_t *nvar, int depth) {
  Dwarf_Die c;
  if (depth > 32 || dwarf_child(die, &c) != 0) return;
  do {
    int tag = dwarf_tag(&c);
    const char *name = dwarf_diename(&c);
    if ((tag == DW_TAG_structure_type || tag == DW_TAG_union_type) && name && !dwarf_hasattr(&c, DW_AT_declaration)) {
      char desc[4096];
      size_t len = 0;
      Dwarf_Word sz = 0;
      Dwarf_Attribute bs;
      if (dwarf_attr(&c, DW_AT_byte_size, &bs)) dwarf_formudata(&bs, &sz);
      len += (size_t)snprintf(desc, sizeof desc, "size %llu;", (unsigned long long)sz);
      Dwarf_Die m;
      if (dwarf_child(&c, &m) == 0) do {
          if (dwarf_tag(&m) != DW_TAG_member || len >= sizeof desc - 1) continue;
          Dwarf_Word off = 0;
          Dwarf_Attribute mo;
          if (dwarf_attr(&m, DW_AT_data_member_location, &mo)) dwarf_formudata(&mo, &off);
          char td[256];
          type_desc(&m, td, sizeof td, 0);
          const char *mn = dwarf_diename(&m);
          len += (size_t)snprintf(desc + len, sizeof desc - len, " %s@%llu:%s;", mn ? mn : "?",
                                  (unsigned long long)off, td);
        } while (dwarf_siblingof(&m, &m) == 0);
      add_item(lay, nlay, name, desc);
    } else if (tag == DW_TAG_variable && name && depth == 0) {
      char td[256];
      type_desc(&c, td, sizeof td, 0);
      add_item(var, nvar, name, td);
    }
    if (tag == DW_TAG_subprogram || tag == DW_TAG_lexical_block)
      walk_types(&c, lay, nlay, var, nvar, depth + 1);
  } while (dwarf_siblingof(&c, &c) == 0);
}

void pg_dw_types(Dwarf_Die *cu, pg_item **lay, size_t *nlay, pg_item **var, size_t *nvar) {
  *lay = *var = NULL;
  *nlay = *nvar = 0;
  walk_types(cu, lay, nlay, var, nvar, 0);
}

void pg_items_free(pg_item *v, size_t n) {
  for (size_t i = 0; i < n; i++) { free(v[i].name); free(v[i].desc); }
  free(v);
}
