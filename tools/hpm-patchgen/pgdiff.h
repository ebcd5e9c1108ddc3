/* SPDX-License-Identifier: MIT */
/* hpm-patchgen diff mode: its DWARF queries (dwarf.c) for diff.c. */
#ifndef HPM_PATCHGEN_PGDIFF_H
#define HPM_PATCHGEN_PGDIFF_H

#include <elfutils/libdw.h>

#include "pg.h"

typedef struct pg_dw pg_dw;
pg_dw *pg_dw_open_elf(Elf *e);             /* NULL: no DWARF */
pg_dw *pg_dw_open_obj(const char *path);   /* relocated; dies without DWARF */
void pg_dw_close(pg_dw *d);
/* The CU whose comp_dir/name is path (NULL: the only one): 0 found, 1 none, 2 several. */
int pg_dw_cu(pg_dw *d, const char *path, Dwarf_Die *out);
int pg_dw_cu_count(pg_dw *d);
void pg_dw_cu_name(Dwarf_Die *cu, char *out, size_t n);
const char *pg_dw_producer(Dwarf_Die *cu);
int pg_dw_cu_contains(Dwarf_Die *cu, uint64_t addr);
/* Every inlined copy in cu: the inlined function's name and the entry
 * address of the out-of-line function that contains it. */
typedef void (*pg_inline_cb)(void *ctx, const char *inlined, uint64_t container);
void pg_dw_inlines(Dwarf_Die *cu, pg_inline_cb cb, void *ctx);
void pg_dw_all_inlines(pg_dw *d, pg_inline_cb cb, void *ctx); /* of every CU */
/* Named struct/union layouts (size, members with offsets and types) and
 * file-scope variables' types, as comparable strings. */
typedef struct { char *name, *desc; } pg_item;
void pg_dw_types(Dwarf_Die *cu, pg_item **lay, size_t *nlay, pg_item **var, size_t *nvar);
void pg_items_free(pg_item *v, size_t n);

/* ---- the trees and the compile database (difftree.c) ---- */
char *pg_xstrdup(const char *s);
__attribute__((format(printf, 1, 2))) char *pg_xprintf(const char *fmt, ...);
/* The files that differ between tree a (the baseline's copy) and tree b
 * (patched), relative to the trees: pg_changed[0..pg_nchanged). */
typedef struct { char *rel; int added, removed; } changed_t;
extern changed_t *pg_changed;
extern size_t pg_nchanged;
void pg_find_changed(const char *a, const char *b);
/* Rewrite orig with #line directives that give each unchanged line its
 * number in patched (work: a folder for the scratch file). */
void pg_renumber(const char *orig, const char *patched, const char *work);
typedef struct {
  char *file;     /* absolute, in the source tree */
  char *rel;      /* relative to the source tree */
  char *dir;      /* absolute */
  char **argv;    /* NULL-terminated */
  int build;      /* 1: compile twice and compare */
} tu_t;
/* The compile database db, every path inside root (dies otherwise). */
tu_t *pg_read_db(const char *db, const char *root, size_t *ntu);
/* s with the path prefix from (a whole component) replaced by to. */
char *pg_map_prefix(const char *s, const char *from, const char *to);
/* The unit's command for tree: paths moved into it, output to obj, no
 * dependency files, plus -ffunction-sections -fdata-sections. */
char **pg_tu_command(const tu_t *u, const char *root, const char *tree, const char *obj);
/* --build-cmd (buildcmd.c): run cmd under bear in a copy of root (in
 * work); the recorded compile database with the copy's paths as root's. */
char *pg_record_build(const char *cmd, const char *root, const char *work);
/* producer without the flags pg_tu_command adds (unless base has them). */
char *pg_strip_added(const char *producer, const char *base);

#endif
