/* SPDX-License-Identifier: MIT */
/*
 * A property after a child node (issue 13, finding 3).  libfdt's property
 * iterator stops at a node's first child, so such a property is signed but
 * never seen by the schema, while another FDT reader sees it: a second svn,
 * sequence or sha256, an expires, a duplicate entry id or an unknown critical
 * property.  Each is made here by inserting the FDT_PROP by hand into a
 * manifest or catalog that verifies, signed with a trusted key; baselines,
 * hotpatches and catalogs must all be refused (HPM_E_BAD_MANIFEST), by
 * verification and by the unverified parse.
 */
#include "testlib.h"

#include "hpm/catalog.h"
#include "hpmw_catalog.h"

#define NOW 1760000000ull

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (24 - 8 * i));
}

/* A copy of fdt with an empty child node `child` added to the node at path
 * (libfdt's read-write API: after the node's properties and children). */
static void add_child(uint8_t **fdt, size_t *len, const char *path, const char *child) {
  size_t cap = *len + 256;
  uint8_t *b = tl_calloc(cap);
  assert_int_equal(fdt_open_into(*fdt, b, (int)cap), 0);
  assert_true(fdt_add_subnode(b, fdt_path_offset(b, path), child) >= 0);
  assert_int_equal(fdt_pack(b), 0);
  *fdt = b;
  *len = fdt_totalsize(b);
}

/* A copy of fdt with the property name = val appended to the node at path
 * after all of its children, by hand: no libfdt writer puts it there. */
static void late_prop(uint8_t **fdt, size_t *len, const char *path, const char *name, const void *val,
                      uint32_t vlen) {
  const uint8_t *f = *fdt;
  uint32_t off_struct = be32(f + 8), off_strings = be32(f + 12), size_strings = be32(f + 32),
           size_struct = be32(f + 36), padded = (vlen + 3) & ~3u, ins = 12 + padded,
           nlen = (uint32_t)strlen(name) + 1;
  int node = fdt_path_offset(f, path), off = node, next, depth = 0;
  size_t at;
  uint8_t *b;
  assert_true(node >= 0);
  /* the node's FDT_END_NODE */
  for (;;) {
    uint32_t tag = fdt_next_tag(f, off, &next);
    assert_int_not_equal(tag, FDT_END);
    if (tag == FDT_BEGIN_NODE) depth++;
    if (tag == FDT_END_NODE && --depth == 0) break;
    off = next;
  }
  /* libfdt lays out header, reservations, structure, strings */
  assert_int_equal(off_strings, off_struct + size_struct);
  assert_int_equal(off_strings + size_strings, *len);
  at = off_struct + (size_t)off;
  b = tl_calloc(*len + ins + nlen);
  memcpy(b, f, at);
  put_be32(b + at, FDT_PROP);
  put_be32(b + at + 4, vlen);
  put_be32(b + at + 8, size_strings); /* the name, appended to the strings */
  memcpy(b + at + 12, val, vlen);
  memcpy(b + at + ins, f + at, *len - at);
  memcpy(b + *len + ins, name, nlen);
  put_be32(b + 4, (uint32_t)(*len + ins + nlen));
  put_be32(b + 12, off_strings + ins);
  put_be32(b + 32, size_strings + nlen);
  put_be32(b + 36, size_struct + ins);
  *fdt = b;
  *len += ins + nlen;
}

/* ---- baselines and hotpatches ------------------------------------------------------ */

typedef struct {
  const char *path, *child; /* child: first add this empty node under path */
  const char *name;
  const void *val;
  uint32_t len;
} late;

static hpm_result verify_doc_fdt(const tl_doc *d, const uint8_t *fdt, size_t fdt_len, hpm_result *unverified) {
  uint8_t *c;
  size_t n;
  tl_seal(d->kind, fdt, fdt_len, d->area, d->area_len, &c, &n);
  *unverified = hpm_container_parse_unverified(c, n, tl_m, NULL);
  return tl_verify1(c, n, d->kind, &tl_A, NULL);
}

/* d verifies as it is (and with late->child added); with late's property it
 * is refused as a malformed manifest. */
static void expect_late_refused(const tl_doc *d, const late *l) {
  uint8_t *fdt;
  size_t len;
  hpm_result u;
  tl_doc_fdt(d, &fdt, &len);
  if (l->child) add_child(&fdt, &len, l->path, l->child);
  assert_result(verify_doc_fdt(d, fdt, len, &u), HPM_OK);
  assert_result(u, HPM_OK);
  late_prop(&fdt, &len, l->path, l->name, l->val, l->len);
  assert_int_equal(fdt_check_full(fdt, len), 0); /* libfdt's own check lets it through */
  {
    hpm_result r = verify_doc_fdt(d, fdt, len, &u);
    if (r != HPM_E_BAD_MANIFEST || u != HPM_E_BAD_MANIFEST)
      fail_msg("%s: property %s after a child: verify %s, unverified parse %s", l->path, l->name,
               hpm_result_to_string(r), hpm_result_to_string(u));
  }
  assert_string_equal(tl_diag.field, "manifest");
}

static const uint8_t svn_low[4] = {0, 0, 0, 1}, seq_high[4] = {0, 0, 0, 99};
static const uint8_t other_digest[32] = {0xee, 0xee};

static void test_baseline(void **state) {
  const late cases[] = {
      {"/", NULL, "svn", svn_low, 4},
      {"/", NULL, "critical-field", "x", 2},
      {"/", NULL, "release", "unplanned", 10},
      {"/payloads", NULL, "critical-field", "x", 2},
      {"/payloads/kernel", "info,notes", "sha256", other_digest, 32},
      {"/payloads/kernel", "info,notes", "file", "slot-a.hpm", 11},
  };
  (void)state;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) expect_late_refused(tl_doc_baseline(), &cases[i]);
}

static void test_hotpatch(void **state) {
  const late cases[] = {
      {"/", NULL, "sequence", seq_high, 4},
      {"/", NULL, "id", "KB0000001", 10},
      {"/", NULL, "target-baseline", other_digest, 32},
      {"/", NULL, "expires", "\0\0\0\0\0\0\0\1", 8},
      {"/payloads/fix-openssl", "info,x", "size", "\0\0\0\0\0\0\0\1", 8},
  };
  (void)state;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) expect_late_refused(tl_doc_hotpatch(), &cases[i]);
}

/* ---- catalogs --------------------------------------------------------------------- */

static hpm_result verify_catalog_fdt(const uint8_t *fdt, size_t len, hpm_result *unverified) {
  uint8_t *c;
  size_t n;
  hpm_catalog out;
  hpm_trust t = {&tl_A.pub, 1, 1};
  hpm_result r;
  tl_seal(HPM_KIND_CATALOG, fdt, len, NULL, 0, &c, &n);
  *unverified = hpm_catalog_parse_unverified(c, n, &out, NULL);
  hpm_catalog_free(&out);
  r = hpm_catalog_verify(c, n, &t, NOW, &out, &tl_diag);
  hpm_catalog_free(&out);
  return r;
}

static void test_catalog(void **state) {
  static const hpm_catalog_entry entry = {
      .id = "REL-1", .kind = HPM_KIND_BASELINE, .release = HPM_RELEASE_PLANNED,
      .classification = HPM_CLASS_CRITICAL, .release_time = 1750000000, .version = "2026.1",
      .svn = 4, .digest = {0x11}, .size = 4096, .file_sha256 = {0x22}, .url = "baselines/rel-1.hpm"};
  const hpm_catalog cat = {.serial = 5, .issued = 1750000000, .expires = 1770000000,
                           .compat = "hpm-x86_64", .count = 1, .entries = (hpm_catalog_entry *)&entry};
  static const uint8_t later[8] = {0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff};
  const late cases[] = {
      {"/", NULL, "expires", later, 8},
      {"/", NULL, "serial", later, 8},
      {"/", NULL, "critical-field", "x", 2},
      {"/entries", NULL, "critical-field", "x", 2},
      {"/entries/0", "info,x", "id", "REL-2", 6},
      {"/entries/0", "info,x", "url", "evil/x.hpm", 11},
  };
  (void)state;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const late *l = &cases[i];
    uint8_t *fdt;
    size_t len;
    hpmh_status e;
    hpm_result r, u;
    if (hpmw_catalog_fdt(&cat, &fdt, &len, &e)) fail_msg("catalog: %s", e.detail);
    tl_track(fdt);
    if (l->child) add_child(&fdt, &len, l->path, l->child);
    assert_result(verify_catalog_fdt(fdt, len, &u), HPM_OK);
    assert_result(u, HPM_OK);
    late_prop(&fdt, &len, l->path, l->name, l->val, l->len);
    r = verify_catalog_fdt(fdt, len, &u);
    if (r != HPM_E_BAD_MANIFEST || u != HPM_E_BAD_MANIFEST)
      fail_msg("catalog %s: property %s after a child: verify %s, unverified parse %s", l->path, l->name,
               hpm_result_to_string(r), hpm_result_to_string(u));
  }
}

/* Properties before children stay valid, and a child overwritten with
 * FDT_NOP tags (fdt_nop_node) is no child: NOPs are neither. */
static void test_order_that_stays_valid(void **state) {
  tl_doc *d = tl_doc_baseline();
  uint8_t *fdt;
  size_t len;
  hpm_result u;
  (void)state;
  tn_set_str(d->root, "info,builder", "ci");
  tn_new_kid(d->root, "info,sbom");
  tl_doc_fdt(d, &fdt, &len);
  assert_result(verify_doc_fdt(d, fdt, len, &u), HPM_OK);
  assert_int_equal(fdt_nop_node(fdt, fdt_path_offset(fdt, "/info,sbom")), 0);
  assert_result(verify_doc_fdt(d, fdt, len, &u), HPM_OK);
  assert_result(u, HPM_OK);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TL_TEST(test_baseline),
      TL_TEST(test_hotpatch),
      TL_TEST(test_catalog),
      TL_TEST(test_order_that_stays_valid),
  };
  return TL_RUN(tests);
}
