/* SPDX-License-Identifier: MIT */
/*
 * What the two manifest writers (hpmw.c: baselines and hotpatches,
 * hpmw_catalog.c: catalogs) share: building an FDT of unknown size, and
 * their error helper.  Internal to tools/lib.
 */
#ifndef HPMW_FDT_H
#define HPMW_FDT_H

#include <stddef.h>
#include <stdint.h>

#include "hpm/core.h"
#include "status.h"

/* Run one libfdt call; return its error from the enclosing emitter. */
#define HPMW_FDT_TRY(x)            \
  do {                             \
    int fdt_rc_ = (x);             \
    if (fdt_rc_) return fdt_rc_;   \
  } while (0)

/* A writer's failure: the bytes it was given cannot make a container. */
#define HPMW_FAIL(e, ...) hpmh_fail((e), HPMH_E_INVALID, NULL, __VA_ARGS__)

/* Create the manifest FDT of a container of this kind: the root node with
 * "hpm,format" and "hpm,kind", then what emit(fdt, ctx) adds inside the
 * root (libfdt's sequential-write calls), growing the buffer as needed;
 * refuse more than max bytes.  what names the document in errors
 * ("manifest").  *out is malloc'd. */
int hpmw_fdt_build(hpm_kind kind, int (*emit)(void *fdt, const void *ctx), const void *ctx,
                   size_t max, const char *what, uint8_t **out, size_t *out_len, hpmh_status *e);

#endif
