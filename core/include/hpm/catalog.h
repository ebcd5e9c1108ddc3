/* SPDX-License-Identifier: MIT */
/*
 * The catalog data model: what a signed catalog (container kind 3) lists.
 * Shared by core (which verifies and parses catalogs), hpm-sign (which
 * writes them) and the host runtime (which decides what applies).
 * The wire format is specified in docs/format.md ("Catalogs").
 */
#ifndef HPM_CATALOG_H
#define HPM_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hpm/core.h"

#define HPM_CATALOG_URL_MAX 255u
#define HPM_CATALOG_MAX_ENTRIES 4096u
/* Bounds of an entry's size: the smallest signed container and the largest
 * baseline or hotpatch (header, manifest, payload area, full signature block). */
#define HPM_CATALOG_ENTRY_SIZE_MIN                                               \
  ((uint64_t)HPM_HEADER_SIZE + HPM_MANIFEST_MIN + HPM_SIG_HEADER_SIZE + HPM_SIG_ENTRY_SIZE)
#define HPM_CATALOG_ENTRY_SIZE_MAX                                               \
  ((uint64_t)HPM_HEADER_SIZE + HPM_MANIFEST_MAX + HPM_PAYLOAD_AREA_MAX +         \
   HPM_SIG_HEADER_SIZE + (uint64_t)HPM_MAX_SIGNATURES * HPM_SIG_ENTRY_SIZE)

/* One release listed by a catalog. */
typedef struct {
  char id[HPM_ID_MAX + 1];             /* unique within the catalog */
  hpm_kind kind;                       /* HPM_KIND_BASELINE or HPM_KIND_HOTPATCH */
  hpm_release release;                 /* planned / unplanned (baselines: the container's
                                          release; hotpatches: stated by the publisher) */
  hpm_classification classification;   /* critical / security / other */
  uint64_t release_time;               /* seconds since 1970-01-01 UTC */
  char version[HPM_VERSION_MAX + 1];   /* the container's hpm,version */
  uint32_t svn;                        /* the container's SVN */
  uint8_t digest[HPM_DIGEST_LEN];      /* SHA-256(header || manifest); baseline: digest (what hpmboot reports as
                                          hpm.baseline=); hotpatch: the container's manifest digest */
  uint8_t target_baseline[HPM_DIGEST_LEN]; /* hotpatch only: the baseline it applies to */
  uint32_t sequence;                   /* hotpatch only: cumulative sequence, >= 1 */
  uint64_t size;                       /* bytes of the container file to download */
  uint8_t file_sha256[HPM_DIGEST_LEN]; /* SHA-256 of the whole container file */
  char url[HPM_CATALOG_URL_MAX + 1];   /* relative to the catalog's location, no "..", no scheme */
} hpm_catalog_entry;

/* A verified catalog. */
typedef struct {
  uint64_t serial;     /* only goes up; a host refuses a catalog older than the newest it saw */
  uint64_t issued;     /* seconds since 1970-01-01 UTC (the manifest timestamp) */
  uint64_t expires;    /* refused from this instant on (freeze attacks); > issued */
  char compat[HPM_COMPAT_MAX + 1];
  size_t count;
  hpm_catalog_entry *entries; /* count entries, allocated through the sysdeps seam */

  /* the container */
  uint8_t digest[HPM_DIGEST_LEN]; /* SHA-256 of header || manifest */
  size_t signature_count;
  hpm_signature_info signatures[HPM_MAX_SIGNATURES];
  unsigned trusted_signers;
  size_t info_count;              /* non-critical "info," properties seen */
} hpm_catalog;

/*
 * Verify a catalog container held in memory, in the order of every kind:
 *   header bounds -> signatures over header || manifest (trust, threshold)
 *   -> manifest (fdt_check_full, the strict catalog schema) -> expiry.
 * now (seconds since 1970 UTC) must be before expires, else HPM_E_EXPIRED.
 * Rollback (serial) is the caller's business: it alone knows the highest
 * serial it has seen.  On HPM_OK out->entries is allocated (release it with
 * hpm_catalog_free); on failure out holds no allocation and only the header
 * fields reached (serial, issued, expires for HPM_E_EXPIRED) are set.
 */
HPM_MUST_CHECK hpm_result hpm_catalog_verify(const uint8_t *buf, size_t len,
                                             const hpm_trust *trust, uint64_t now,
                                             hpm_catalog *out, hpm_diag *diag);

/* The same checks without signatures or expiry, for display only (hpm-sign
 * inspect without --trust).  Nothing it returns may be used for a decision. */
HPM_MUST_CHECK hpm_result hpm_catalog_parse_unverified(const uint8_t *buf, size_t len,
                                                       hpm_catalog *out, hpm_diag *diag);

/* Release out->entries and zero out; safe on a zeroed or failed catalog. */
void hpm_catalog_free(hpm_catalog *cat);

/* The entry with this ID, or NULL. */
const hpm_catalog_entry *hpm_catalog_find(const hpm_catalog *cat, const char *id);

/* NULL when url is an acceptable relative URL (1..255 characters of
 * [A-Za-z0-9._~+-] separated by single '/', no scheme, no leading '/',
 * no "." or ".." segment); otherwise the reason. */
const char *hpm_catalog_url_problem(const char *url);

#endif
