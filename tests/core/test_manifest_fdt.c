/* SPDX-License-Identifier: MIT */
/*
 * The manifest's FDT container rules (header, versions, lengths, limits)
 * and catalog manifests.  Like test_manifest.c, every manifest is hand-made
 * (testlib.h), assembled and signed by a trusted key: the signature is
 * valid, the FDT is what is wrong.
 */
#include "testlib.h"

static void expect_fdt(const tl_doc *d, const uint8_t *fdt, size_t len, hpm_result want) {
  uint8_t *c;
  size_t n;
  tl_seal(d->kind, fdt, len, d->area, d->area_len, &c, &n);
  assert_result(tl_verify1(c, n, d->kind, &tl_A, NULL), want);
  assert_result(hpm_container_parse_unverified(c, n, tl_m, &tl_diag), want);
}

static void test_fdt_header_rules(void **state) {
  tl_doc *d = tl_doc_baseline();
  uint8_t *fdt, *x;
  size_t len;
  (void)state;
  tl_doc_fdt(d, &fdt, &len);
  expect_fdt(d, fdt, len, HPM_OK);

  /* memory reservations: one, two */
  d->rsv[0][0] = 0x80000000;
  d->rsv[0][1] = 0x1000;
  d->nrsv = 1;
  tl_doc_fdt(d, &x, &len);
  expect_fdt(d, x, len, HPM_E_BAD_MANIFEST);
  d->rsv[1][0] = 0;
  d->rsv[1][1] = 0;
  d->nrsv = 2;
  tl_doc_fdt(d, &x, &len);
  expect_fdt(d, x, len, HPM_E_BAD_MANIFEST);
  d->nrsv = 0;
  tl_doc_fdt(d, &fdt, &len);

  /* one header field changed: each refused */
  {
    const struct {
      void (*set)(void *fdt, uint32_t v);
      uint32_t v;
    } bad[] = {
        {fdt_set_boot_cpuid_phys, 1},
        {fdt_set_version, 16},
        {fdt_set_version, 18},
        {fdt_set_last_comp_version, 17},
        {fdt_set_last_comp_version, 2},
        {fdt_set_magic, 0xd00dfeee},
        {fdt_set_totalsize, (uint32_t)len + 4}, /* larger than the manifest */
        {fdt_set_totalsize, (uint32_t)len - 4}, /* smaller, cutting the strings */
        /* broken blocks: strings offset past the end, struct size short, a
         * property name offset out of the strings block */
        {fdt_set_off_dt_strings, (uint32_t)len},
        {fdt_set_size_dt_struct, fdt_size_dt_struct(fdt) - 4},
        {fdt_set_size_dt_strings, 3},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
      x = tl_dup(fdt, len);
      bad[i].set(x, bad[i].v);
      expect_fdt(d, x, len, HPM_E_BAD_MANIFEST);
    }
  }

  /* totalsize != manifest_size: 8 bytes of slack after the FDT ... */
  x = tl_calloc(len + 8);
  memcpy(x, fdt, len);
  {
    uint8_t *c;
    size_t n;
    tl_seal(d->kind, x, len + 8, d->area, d->area_len, &c, &n);
    assert_true(tl_verify1(c, n, d->kind, &tl_A, NULL) != HPM_OK);
    assert_result(tl_verify1(c, n, d->kind, &tl_A, NULL), HPM_E_TRAILING_DATA);
    assert_string_equal(tl_diag.field, "manifest");
  }
  /* ... the same slack, but the FDT's totalsize claims it (a valid FDT) */
  fdt_set_totalsize(x, (uint32_t)len + 8);
  expect_fdt(d, x, len + 8, HPM_OK);

  /* not an FDT at all: zeros, and a 40-byte header with nothing after it */
  x = tl_calloc(len);
  expect_fdt(d, x, len, HPM_E_BAD_MANIFEST);
  x = tl_dup(fdt, 40);
  expect_fdt(d, x, 40, HPM_E_BAD_MANIFEST);
}

/*
 * An FDT header claiming an old version (2..15).  libfdt's fdt_check_full
 * (1.6.1, and the copy in the EFI build) dereferences the NULL that
 * fdt_get_name returns for a pre-v16 root node without '/': core must
 * refuse the version before handing the blob to fdt_check_full.  Parsed in
 * child processes so a crash is one failed test.
 */
/* Seal the manifest x of d's kind and parse it both ways in child
 * processes; unless both refuse it as a bad manifest, say what happened to
 * case `what` at the end of report. */
static void note_unless_refused(const tl_doc *d, const uint8_t *x, size_t len, const char *what,
                                char *report, size_t cap) {
  uint8_t *c;
  size_t n;
  int v, u;
  tl_seal(d->kind, x, len, d->area, d->area_len, &c, &n);
  v = tl_isolated(c, n, d->kind, true);
  u = tl_isolated(c, n, d->kind, false);
  if (v != HPM_E_BAD_MANIFEST || u != HPM_E_BAD_MANIFEST)
    snprintf(report + strlen(report), cap - strlen(report), "%s: verify %s, unverified %s; ", what,
             tl_isolated_str(v), tl_isolated_str(u));
}

static void test_fdt_old_versions(void **state) {
  static const uint32_t versions[] = {15, 3, 2, 1, 0, 0x11000000u};
  tl_doc *d = tl_doc_baseline();
  uint8_t *fdt;
  size_t len;
  char report[512] = "";
  (void)state;
  tl_doc_fdt(d, &fdt, &len);
  for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++) {
    uint8_t *x = tl_dup(fdt, len);
    fdt_set_version(x, versions[i]);
    if (versions[i] < 16) fdt_set_last_comp_version(x, versions[i] < 2 ? 1 : 2);
    note_unless_refused(d, x, len, tl_str("version %u", versions[i]), report, sizeof report);
  }
  if (report[0]) fail_msg("want %s: %s", hpm_result_to_string(HPM_E_BAD_MANIFEST), report);
}

/*
 * A property length near 2^32.  libfdt's fdt_next_tag adds the length to an
 * int offset: 0xfffffff4 walks the tag stream back onto the same tag, and
 * fdt_check_full loops forever (1.6.1 and the EFI build's copy alike).  Core
 * must bound property lengths before libfdt walks the tags.  In child
 * processes, killed after 2 s.
 */
static void test_fdt_property_length_wraps(void **state) {
  static const uint32_t lens[] = {0xfffffff4u, 0xfffffff0u, 0xfffffff8u, 0xfffffffcu,
                                  0x80000000u, 0x7ffffffcu};
  static const uint8_t marker[4] = {0xa5, 0x5a, 0xc3, 0x3c};
  tl_doc *d = tl_doc_baseline();
  uint8_t *fdt;
  size_t len, at = 0;
  char report[1024] = "";
  (void)state;
  tn_add(d->root, "info,marker", marker, 4);
  tl_doc_fdt(d, &fdt, &len);
  for (size_t i = fdt_off_dt_struct(fdt); i + 4 <= len; i += 4)
    if (memcmp(fdt + i, marker, 4) == 0) at = i;
  assert_true(at > 12);
  assert_int_equal(fdt[at - 8 + 3], 4); /* the property's length field */
  for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
    uint8_t *x = tl_dup(fdt, len);
    fdt32_t l = cpu_to_fdt32(lens[i]);
    memcpy(x + at - 8, &l, 4);
    note_unless_refused(d, x, len, tl_str("length 0x%08x", lens[i]), report, sizeof report);
  }
  if (report[0]) fail_msg("want %s: %s", hpm_result_to_string(HPM_E_BAD_MANIFEST), report);
}

static void test_node_and_property_limits(void **state) {
  tl_doc *d;
  (void)state;
  /* 32 payloads (hotpatch) fine, 33 too many */
  d = tl_doc_hotpatch();
  for (int i = 2; i < 32; i++) {
    char name[32];
    snprintf(name, sizeof name, "p%d", i);
    tl_doc_embed(d, tl_str("%s", name), "patch", tl_patch2, 1 + (size_t)i % 5);
  }
  expect_doc(d, HPM_OK);
  assert_int_equal(tl_m->payload_count, 32);
  tl_doc_embed(d, "p32", "patch", "x", 1);
  expect_doc(d, HPM_E_TOO_LARGE);

  /* 32 properties in the root fine (baseline has 7), 33 too many */
  d = tl_doc_baseline();
  for (int i = 7; i < 32; i++) {
    char name[32];
    snprintf(name, sizeof name, "info,%d", i);
    tn_set_u32(d->root, name, (uint32_t)i);
  }
  expect_doc(d, HPM_OK);
  tn_set_u32(d->root, "info,32", 32);
  expect_doc(d, HPM_E_TOO_LARGE);
  /* the same in a payload (4 properties) */
  d = tl_doc_baseline();
  for (int i = 4; i < 33; i++) {
    char name[32];
    snprintf(name, sizeof name, "info,%d", i);
    tn_set_u32(tl_pl(d, "kernel"), name, (uint32_t)i);
  }
  expect_doc(d, HPM_E_TOO_LARGE);

  /* 40 children of the root fine (payloads + 39 info nodes), 41 too many */
  d = tl_doc_baseline();
  for (int i = 1; i < 40; i++) {
    char name[32];
    snprintf(name, sizeof name, "info,n%d", i);
    tn_new_kid(d->root, name);
  }
  expect_doc(d, HPM_OK);
  tn_new_kid(d->root, "info,n40");
  expect_doc(d, HPM_E_TOO_LARGE);
}

/* A catalog header over a baseline-shaped manifest: refused from the header
 * (catalogs have no payload area), even when signed.  Catalogs proper are
 * tested in test_catalog.c. */
static void test_catalog_manifest(void **state) {
  tl_doc *d = tl_doc_baseline();
  uint8_t *fdt, *c;
  size_t len, n;
  (void)state;
  tn_set_str(d->root, "hpm,kind", "catalog");
  tn_del(d->root, "release");
  tl_doc_fdt(d, &fdt, &len);
  tl_assemble(HPM_KIND_CATALOG, fdt, len, d->area, d->area_len, &c, &n);
  tl_force_sign(&c, &n, &tl_A);
  assert_result(tl_verify1(c, n, HPM_KIND_BASELINE, &tl_A, NULL), HPM_E_BAD_HEADER);
  assert_string_equal(tl_diag.field, "header.payload_area_size");
  assert_result(hpm_container_parse_unverified(c, n, tl_m, &tl_diag), HPM_E_BAD_HEADER);
  /* a catalog manifest under a baseline header */
  d->kind = HPM_KIND_BASELINE;
  expect_doc(d, HPM_E_BAD_FIELD);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TL_TEST(test_fdt_header_rules),
      TL_TEST(test_fdt_old_versions),
      TL_TEST(test_fdt_property_length_wraps),
      TL_TEST(test_node_and_property_limits),
      TL_TEST(test_catalog_manifest),
  };
  return TL_RUN(tests);
}
