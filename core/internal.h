/* SPDX-License-Identifier: MIT */
/* Helpers private to core/: bounded loads, checked arithmetic, diagnostics. */
#ifndef HPM_CORE_INTERNAL_H
#define HPM_CORE_INTERNAL_H

#include "hpm/core.h"
#include "hpm/sysdeps.h"
#include "hpm/text.h"

#define HPM_COUNT(a) (sizeof(a) / sizeof((a)[0]))

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

/* names[v], or fallback when v is not one of the count values named: the
 * _to_string() functions are tables of names, each asserted to name every
 * value of its enum. */
const char *hpm_name(const char *const *names, size_t count, long v, const char *fallback);

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

/* ---- FDT helpers shared by the manifest and catalog schemas (manifest.c) -- */

#define HPM_FDT_MAX_PROPS 32

typedef struct {
  const char *name;
  const uint8_t *val;
  int len;
} hpm_fdt_prop;

typedef struct {
  hpm_fdt_prop p[HPM_FDT_MAX_PROPS];
  int n;
} hpm_fdt_props;

/* Bounded structure pass, fdt_check_full, totalsize == size, no reservations. */
hpm_result hpm_fdt_structure(const uint8_t *fdt, size_t size, hpm_diag *diag);
/* Names, duplicates, counts and depth of node's subtree (manifest rules:
 * at most 40 children, nothing below depth 2 outside info,*); the child
 * named skip (at depth 0 only) is left to the caller. */
hpm_result hpm_fdt_check_tree(const void *fdt, int node, const char *where, int depth,
                              const char *skip, hpm_diag *diag);
hpm_result hpm_fdt_fail(hpm_diag *diag, const char *field, int err);
/* node's properties (at most 32, no duplicates). */
hpm_result hpm_fdt_collect(const void *fdt, int node, const char *where, hpm_fdt_props *ps,
                           hpm_diag *diag);
const hpm_fdt_prop *hpm_fdt_find(const hpm_fdt_props *ps, const char *name);
hpm_result hpm_fdt_need(const hpm_fdt_props *ps, const char *name, const char *where,
                        const hpm_fdt_prop **out, hpm_diag *diag);
hpm_result hpm_fdt_u32(const hpm_fdt_prop *p, const char *where, uint32_t *v, hpm_diag *diag);
hpm_result hpm_fdt_u64(const hpm_fdt_prop *p, const char *where, uint64_t *v, hpm_diag *diag);
hpm_result hpm_fdt_digest(const hpm_fdt_prop *p, const char *where,
                          uint8_t out[HPM_DIGEST_LEN], hpm_diag *diag);
/* One string of 1..max characters: [A-Za-z0-9._-] (id) or printable ASCII. */
hpm_result hpm_fdt_id(const hpm_fdt_prop *p, const char *where, size_t max, char *out,
                      hpm_diag *diag);
hpm_result hpm_fdt_printable(const hpm_fdt_prop *p, const char *where, size_t max, char *out,
                             hpm_diag *diag);
hpm_result hpm_fdt_word(const hpm_fdt_prop *p, const char *where, const char *const *words,
                        int nwords, int *idx, hpm_diag *diag);

/* ---- container internals shared with catalog.c (container.c) ---------- */

/* Header bounds, signature-block shape, digest and (with trust) signatures
 * and threshold, exactly as for every kind; on HPM_OK *manifest and *size are
 * the authenticated manifest bytes.  m receives header fields, digest and
 * signature statuses.  trust NULL: the unverified parse (shape only). */
hpm_result hpm_container_authenticate(const uint8_t *buf, size_t len, hpm_kind expected_kind,
                                      const hpm_trust *trust, hpm_manifest *m,
                                      const uint8_t **manifest, size_t *size,
                                      hpm_diag *diag);

/* ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER } in minimal DER
 * (docs/format.md, "Signature block"), nothing before or after it: the one
 * encoding hpm accepts for a signature.  On true, r and s point at the
 * integers' value bytes.  Range (1 <= r, s < n) is hpm_signature_check's. */
bool hpm_sig_der_parse(const uint8_t *der, size_t len, const uint8_t **r, size_t *rn,
                       const uint8_t **s, size_t *sn);

/* SHA-384 (for P-384 signatures). */
hpm_result hpm_sha384(const uint8_t *data, size_t len, uint8_t out[48]);

#endif
