/* SPDX-License-Identifier: MIT */
/*
 * hpmw_catalog: host-only writer of catalog manifests (docs/format.md,
 * "Catalogs"), shared by hpm-sign catalog and the tests.  It writes what it
 * is given; core's hpm_catalog_verify is the one implementation of the rules.
 */
#ifndef HPMW_CATALOG_H
#define HPMW_CATALOG_H

#include "hpm/catalog.h"
#include "hpmw.h"

/* The catalog manifest FDT for cat (serial, issued, expires, compat,
 * entries).  *fdt is malloc'd. */
int hpmw_catalog_fdt(const hpm_catalog *cat, uint8_t **fdt, size_t *fdt_len, hpmh_status *e);

/* hpmw_catalog_fdt + hpmw_assemble (kind 3, no payloads), unsigned. */
int hpmw_catalog_build(const hpm_catalog *cat, uint8_t **out, size_t *out_len, hpmh_status *e);

#endif
