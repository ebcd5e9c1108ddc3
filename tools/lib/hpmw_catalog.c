/* SPDX-License-Identifier: MIT */
#include <libfdt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hpmw_catalog.h"

static int cfail(hpmh_status *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int cfail(hpmh_status *e, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (e) vsnprintf(e->detail, sizeof e->detail, fmt, ap);
  va_end(ap);
  return -1;
}

static int emit(void *fdt, const hpm_catalog *c) {
  int rc = 0;
  char name[24];
#define T(x)           \
  do {                 \
    rc = (x);          \
    if (rc) return rc; \
  } while (0)
  T(fdt_finish_reservemap(fdt));
  T(fdt_begin_node(fdt, ""));
  T(fdt_property_u32(fdt, "hpm,format", HPM_FORMAT_VERSION));
  T(fdt_property_string(fdt, "hpm,kind", "catalog"));
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
  T(fdt_end_node(fdt));
  T(fdt_end_node(fdt));
  T(fdt_finish(fdt));
#undef T
  return 0;
}

int hpmw_catalog_fdt(const hpm_catalog *c, uint8_t **out, size_t *out_len, hpmh_status *e) {
  size_t cap = 4096;
  if (c->count > HPM_CATALOG_MAX_ENTRIES)
    return cfail(e, "%zu entries; a catalog lists at most %u", c->count, HPM_CATALOG_MAX_ENTRIES);
  for (;;) {
    uint8_t *fdt = calloc(1, cap);
    int rc;
    if (!fdt) return cfail(e, "out of memory");
    rc = fdt_create(fdt, (int)cap);
    if (!rc) rc = emit(fdt, c);
    if (rc == -FDT_ERR_NOSPACE && cap < HPM_CATALOG_MANIFEST_MAX * 2u) {
      free(fdt);
      cap *= 2;
      continue;
    }
    if (rc) {
      free(fdt);
      return cfail(e, "building the catalog manifest failed: %s", fdt_strerror(rc));
    }
    *out_len = fdt_totalsize(fdt);
    if (*out_len > HPM_CATALOG_MANIFEST_MAX) {
      free(fdt);
      return cfail(e, "catalog manifest would be %zu bytes; the limit is %u", *out_len,
                   HPM_CATALOG_MANIFEST_MAX);
    }
    *out = fdt;
    return 0;
  }
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
