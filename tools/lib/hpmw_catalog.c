/* SPDX-License-Identifier: MIT */
#include <libfdt.h>
#include <stdio.h>
#include <stdlib.h>

#include "hpmw_catalog.h"
#include "hpmw_fdt.h"

static int emit(void *fdt, const void *ctx) {
  const hpm_catalog *c = ctx;
  char name[24];
#define T HPMW_FDT_TRY
  T(fdt_property_string(fdt, "compat", c->compat));
  T(fdt_property_u64(fdt, "timestamp", c->issued));
  T(fdt_property_u64(fdt, "serial", c->serial));
  T(fdt_property_u64(fdt, "expires", c->expires));
  T(fdt_begin_node(fdt, "entries"));
  for (size_t i = 0; i < c->count; i++) {
    const hpm_catalog_entry *en = &c->entries[i];
    snprintf(name, sizeof name, "%zu", i);
    T(fdt_begin_node(fdt, name));
    T(fdt_property_string(fdt, "id", en->id));
    T(fdt_property_string(fdt, "kind", hpm_kind_to_string(en->kind)));
    T(fdt_property_string(fdt, "release", hpm_release_to_string(en->release)));
    T(fdt_property_string(fdt, "classification", hpm_classification_to_string(en->classification)));
    T(fdt_property_u64(fdt, "released", en->release_time));
    T(fdt_property_string(fdt, "version", en->version));
    T(fdt_property_u32(fdt, "svn", en->svn));
    T(fdt_property(fdt, "digest", en->digest, HPM_DIGEST_LEN));
    if (en->kind == HPM_KIND_HOTPATCH) {
      T(fdt_property(fdt, "target-baseline", en->target_baseline, HPM_DIGEST_LEN));
      T(fdt_property_u32(fdt, "sequence", en->sequence));
    }
    T(fdt_property_u64(fdt, "size", en->size));
    T(fdt_property(fdt, "sha256", en->file_sha256, HPM_DIGEST_LEN));
    T(fdt_property_string(fdt, "url", en->url));
    T(fdt_end_node(fdt));
  }
#undef T
  return fdt_end_node(fdt);
}

int hpmw_catalog_fdt(const hpm_catalog *c, uint8_t **out, size_t *out_len, hpmh_status *e) {
  if (c->count > HPM_CATALOG_MAX_ENTRIES)
    return HPMW_FAIL(e, "%zu entries; a catalog lists at most %u", c->count, HPM_CATALOG_MAX_ENTRIES);
  return hpmw_fdt_build(HPM_KIND_CATALOG, emit, c, HPM_CATALOG_MANIFEST_MAX, "catalog manifest", out, out_len, e);
}

int hpmw_catalog_build(const hpm_catalog *c, uint8_t **out, size_t *out_len, hpmh_status *e) {
  uint8_t *fdt = NULL;
  size_t fdt_len = 0;
  int rc;
  if (hpmw_catalog_fdt(c, &fdt, &fdt_len, e)) return -1;
  rc = hpmw_assemble(HPM_KIND_CATALOG, fdt, fdt_len, NULL, 0, out, out_len, e);
  free(fdt);
  return rc;
}
