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

/* One release listed by a catalog. */
typedef struct {
  char id[HPM_ID_MAX + 1];             /* unique within the catalog */
  hpm_kind kind;                       /* HPM_KIND_BASELINE or HPM_KIND_HOTPATCH */
  hpm_release release;                 /* planned / unplanned (baselines; hotpatches: planned) */
  hpm_classification classification;   /* critical / security / other */
  uint64_t release_time;               /* seconds since 1970-01-01 UTC */
  char version[HPM_VERSION_MAX + 1];   /* the container's hpm,version */
  uint32_t svn;                        /* the container's SVN */
  uint8_t digest[HPM_DIGEST_LEN];      /* baseline: manifest digest (what hpmboot reports as
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
  uint64_t expires;    /* refuse after this instant (freeze attacks) */
  char compat[HPM_COMPAT_MAX + 1];
  size_t count;
  hpm_catalog_entry *entries; /* count entries, allocated through the sysdeps seam */
} hpm_catalog;

#endif
