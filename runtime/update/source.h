/* SPDX-License-Identifier: MIT */
/*
 * Update sources: where a host gets its signed catalog and the releases it
 * lists (docs/operations.md, "Catalog and sources").
 *
 * A source is a local directory or an http:// or https:// URL (libcurl).
 * The catalog is <source>/catalog.hpm; an entry is <source>/<entry url>.
 *
 *   hpm_source_parse()        check and normalise a --source / HPM_SOURCE value
 *   hpm_source_fetch_catalog() download, verify (trust store, expiry), refuse
 *                             rollback, remember it in the state directory
 *   hpm_source_fetch_entry()  download one release into the cache directory,
 *                             resumable, size-capped, SHA-256 checked before
 *                             it is renamed into place
 *
 * Every function returns HPM_SRC_OK or an error class (which maps to hpm's
 * exit codes) and fills err->msg with one sentence naming the URL or file,
 * the field and the fix.
 */
#ifndef HPM_RUNTIME_SOURCE_H
#define HPM_RUNTIME_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctx.h"
#include "hpm/catalog.h"

typedef enum {
  HPM_SRC_OK = 0,
  HPM_SRC_REFUSED = 1, /* verification, expiry, rollback, size or hash: exit code 1 */
  HPM_SRC_USAGE = 2,   /* a malformed source */
  HPM_SRC_IO = 3,      /* network, file system, trust store unreadable */
} hpm_src_result;

typedef struct {
  char msg[1024];
} hpm_src_err;

#define HPM_SOURCE_MAX 1024

typedef struct {
  bool is_url;                  /* http:// or https:// */
  char base[HPM_SOURCE_MAX];    /* without a trailing '/' */
  bool read_only;               /* dry runs: never replace the stored catalog */
} hpm_source;

/* The state a host keeps about catalogs, under state_dir:
 *   catalog.hpm   the newest accepted catalog (its serial is the floor;
 *                 written atomically: temp file, fsync, rename, dir fsync)
 * and downloaded releases in the cache directory (ctx->cache_dir), named
 * <file sha256>.hpm; a download in progress is <file sha256>.hpm.part and
 * is never used */
#define HPM_CATALOG_STATE_FILE "catalog.hpm"

/* The catalog file a source serves. */
#define HPM_CATALOG_FILE "catalog.hpm"

/* Largest catalog container: header, 2 MiB manifest, full signature block. */
#define HPM_CATALOG_FILE_MAX                                                   \
  ((uint64_t)HPM_HEADER_SIZE + HPM_CATALOG_MANIFEST_MAX + HPM_SIG_HEADER_SIZE + \
   (uint64_t)HPM_MAX_SIGNATURES * HPM_SIG_ENTRY_SIZE)

/* Check spec (an absolute or relative directory, or an http(s) URL without
 * query or fragment) and normalise it into src. */
hpm_src_result hpm_source_parse(const char *spec, hpm_source *src, hpm_src_err *err);

/* "<base>/<rel>" into out (rel is a catalog entry url or catalog.hpm). */
void hpm_source_join(const hpm_source *src, const char *rel, char *out, size_t cap);

/* What happened to the stored catalog in a successful fetch. */
typedef enum {
  HPM_CATALOG_NEW = 0,       /* first catalog this host accepted */
  HPM_CATALOG_NEWER = 1,     /* higher serial than the stored one: stored */
  HPM_CATALOG_SAME = 2,      /* the stored catalog, byte for byte */
} hpm_catalog_change;

/*
 * Fetch <source>/catalog.hpm (at most HPM_CATALOG_FILE_MAX bytes), verify it
 * with ctx's trust store and the host's catalog threshold ([trust]
 * catalog_signers, hpm_ctx_trust_for), refuse it when expired at now, when
 * its serial is lower than the stored catalog's, or when the serial is equal
 * but the bytes differ.  An accepted catalog with a higher serial replaces
 * <ctx->state_dir>/catalog.hpm atomically (unless src->read_only).  On HPM_SRC_OK *out is the
 * verified catalog (hpm_catalog_free it) and *previous_serial the stored
 * serial before the fetch (0: none).  A broken policy file is HPM_SRC_USAGE,
 * an empty trust store HPM_SRC_IO.
 */
hpm_src_result hpm_source_fetch_catalog(hpm_ctx *ctx, const hpm_source *src, uint64_t now, hpm_catalog *out,
                                        hpm_catalog_change *change, uint64_t *previous_serial,
                                        hpm_src_err *err);

/*
 * Make entry e available as a verified file: <cache_dir>/<sha256>.hpm.
 * A cached file is re-hashed before it is returned.  Otherwise the release
 * is downloaded into <sha256>.hpm.part, resuming a previous partial download
 * with an HTTP Range request (up to 3 attempts in one call), never reading
 * more than e->size bytes (the transfer is aborted beyond it), and renamed
 * into place only when its size and SHA-256 match the catalog.  A file that
 * fails the check is deleted.  path receives the verified file's path.
 * The caller still verifies the container itself (signature, kind, target).
 */
hpm_src_result hpm_source_fetch_entry(const hpm_source *src, const hpm_catalog_entry *e,
                                      const char *cache_dir, char *path, size_t cap,
                                      hpm_src_err *err);

#endif
