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
/* Named struct/union layouts (size, members with offsets and types) and
 * file-scope variables' types, as comparable strings. */
typedef struct { char *name, *desc; } pg_item;
void pg_dw_types(Dwarf_Die *cu, pg_item **lay, size_t *nlay, pg_item **var, size_t *nvar);
void pg_items_free(pg_item *v, size_t n);

#endif
