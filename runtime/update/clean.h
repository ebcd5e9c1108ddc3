/* SPDX-License-Identifier: MIT */
/*
 * Disk space: downloads in the cache directory that nothing needs, and
 * files on the ESP no slot uses (runtime/update/clean.c).
 */
#ifndef HPM_RUNTIME_CLEAN_H
#define HPM_RUNTIME_CLEAN_H

#include <stdbool.h>
#include <stdint.h>

#include "ctx.h"
#include "status.h"

/* What a removal (or, in a dry run, a would-be removal) reports. */
typedef void (*clean_fn)(const char *path, uint64_t size, void *arg);

/* Downloads (ctx->cache_dir/<sha256>.hpm) beyond what this host uses: the
 * files whose SHA-256 equals a slot container's on the ESP or the applied
 * hotpatch's stored copy are kept, and of the others the `keep` newest; the
 * rest are removed (dry_run: only reported).  partials: also every
 * unfinished download (*.part).  Returns how many, or -1 with st filled. */
int clean_cache(hpm_ctx *ctx, unsigned keep, bool partials, bool dry_run, clean_fn fn, void *arg,
                hpmh_status *st);

/* hpm clean [--dry-run] [--json]: the cache (keeping [update] cache_keep)
 * and the ESP's orphans. */
int cmd_clean(hpm_ctx *ctx, int argc, char **argv);

#define CLEAN_USAGE \
  "  clean [--dry-run] [--json]                   remove downloads and ESP files nothing uses\n"

#endif
