/* SPDX-License-Identifier: MIT */
/* Helpers private to core/: bounded loads, checked arithmetic, diagnostics. */
#ifndef HPM_CORE_INTERNAL_H
#define HPM_CORE_INTERNAL_H

#include "hpm/core.h"
#include "hpm/sysdeps.h"

static inline uint16_t hpm_le16(const uint8_t *p) {
  return (uint16_t)(p[0] | (uint16_t)p[1] << 8);
}
static inline uint32_t hpm_le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t hpm_le64(const uint8_t *p) {
  return (uint64_t)hpm_le32(p) | (uint64_t)hpm_le32(p + 4) << 32;
}

/* a + b into *out; false (and *out untouched) on overflow. */
static inline bool hpm_add_u64(uint64_t a, uint64_t b, uint64_t *out) {
  uint64_t r;
  if (__builtin_add_overflow(a, b, &r)) return false;
  *out = r;
  return true;
}

bool hpm_all_zero(const uint8_t *p, size_t n);
size_t hpm_strnlen(const char *s, size_t max);
bool hpm_str_eq(const char *a, const char *b);
bool hpm_has_prefix(const char *s, const char *prefix);

/* Record a failure in diag (if non-NULL) and return r.  field and the detail
 * parts are copied and truncated to fit; detail parts that are NULL are
 * skipped. */
hpm_result hpm_fail(hpm_diag *diag, hpm_result r, const char *field, const char *d1,
                    const char *d2, const char *d3);


/* Join a/b into buf ("payloads/kernel"), truncating. */
const char *hpm_path2(char *buf, size_t cap, const char *a, const char *b);
const char *hpm_path3(char *buf, size_t cap, const char *a, const char *b, const char *c);

/* The strict manifest schema (manifest.c).  Called only after the manifest
 * bytes were authenticated (or, for display, by the unverified parse). */
hpm_result hpm_manifest_parse(const uint8_t *fdt, size_t size, hpm_manifest *m,
                              hpm_diag *diag);

/* SHA-384 (for P-384 signatures). */
hpm_result hpm_sha384(const uint8_t *data, size_t len, uint8_t out[48]);

#endif
