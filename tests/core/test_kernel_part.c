/* SPDX-License-Identifier: MIT */
/*
 * The kernel part of a hotpatch (docs/format.md, "The kernel part"): a
 * livepatch payload and the kernel it is for, in the signed manifest.
 * Documents are hand-made (testlib.h) and signed by a trusted key, so only
 * the schema decides; each is checked by verification and by the
 * unverified parse.
 */
#include "manifest_cases.h"
#include "testlib.h"

static const uint8_t bid[20] = {0x6a, 0x2b, 0x4a, 0xc7, 0x75, 0x85, 0xb8, 0xcf, 0x10, 0x2c,
                                0xba, 0x77, 0x13, 0x00, 0xe5, 0x73, 0xc8, 0x48, 0x9b, 0x69};

/* The hotpatch document with a livepatch payload added after its patches. */
static tl_doc *doc_kernel(tn_node **lp) {
  static const uint8_t ko[64] = {0x7f, 'E', 'L', 'F'};
  tl_doc *d = tl_doc_hotpatch();
  tn_node *n = tl_doc_embed(d, "livepatch", "livepatch", ko, sizeof ko);
  tn_set_str(n, "kernel-release", "6.1.0-57-amd64");
  tn_set(n, "kernel-build-id", bid, sizeof bid);
  tn_set_str(n, "vermagic", "6.1.0-57-amd64 SMP preempt mod_unload modversions ");
  tn_set_str(n, "module", "hpm_kp_1");
  if (lp) *lp = n;
  return d;
}

static void test_kernel_part_accepted(void **state) {
  (void)state;
  tl_doc *d = doc_kernel(NULL);
  expect_doc(d, HPM_OK);
  assert_true(tl_m->kernel.present);
  assert_int_equal(tl_m->kernel.payload, 2);
  assert_int_equal(tl_m->payloads[2].type, HPM_PAYLOAD_LIVEPATCH);
  assert_string_equal(tl_m->kernel.release, "6.1.0-57-amd64");
  assert_int_equal(tl_m->kernel.build_id_len, sizeof bid);
  assert_memory_equal(tl_m->kernel.build_id, bid, sizeof bid);
  assert_string_equal(tl_m->kernel.vermagic, "6.1.0-57-amd64 SMP preempt mod_unload modversions ");
  assert_string_equal(tl_m->kernel.module, "hpm_kp_1");
  assert_string_equal(hpm_payload_type_to_string(HPM_PAYLOAD_LIVEPATCH), "livepatch");
  /* a hotpatch without one has no kernel part */
  expect_doc(tl_doc_hotpatch(), HPM_OK);
  assert_false(tl_m->kernel.present);
}

static void test_kernel_part_required_fields(void **state) {
  static const char *const req[] = {"kernel-release", "kernel-build-id", "vermagic", "module"};
  (void)state;
  for (size_t i = 0; i < 4; i++) {
    tn_node *n;
    tl_doc *d = doc_kernel(&n);
    tn_del(n, req[i]);
    expect_doc(d, HPM_E_BAD_FIELD);
    assert_non_null(strstr(tl_diag.field, req[i]));
  }
}

static void test_kernel_part_bad_values(void **state) {
  uint8_t big[65] = {0};
  tn_node *n;
  tl_doc *d;
  (void)state;
  d = doc_kernel(&n);
  tn_set(n, "kernel-build-id", big, 65); /* longer than any build-id */
  expect_doc(d, HPM_E_BAD_FIELD);
  d = doc_kernel(&n);
  tn_set(n, "kernel-build-id", big, 0);
  expect_doc(d, HPM_E_BAD_FIELD);
  d = doc_kernel(&n);
  tn_set_str(n, "kernel-release", "6.1 amd64"); /* a space */
  expect_doc(d, HPM_E_BAD_FIELD);
  d = doc_kernel(&n);
  tn_set_str(n, "module", "Hpm-kp"); /* not a module name */
  expect_doc(d, HPM_E_BAD_FIELD);
  d = doc_kernel(&n);
  tn_set_str(n, "module", "1hpm");
  expect_doc(d, HPM_E_BAD_FIELD);
  d = doc_kernel(&n);
  tn_set_str(n, "module", tl_rep('a', HPM_KMODULE_MAX + 1));
  expect_doc(d, HPM_E_BAD_FIELD);
  d = doc_kernel(&n);
  tn_set_str(n, "module", tl_rep('a', HPM_KMODULE_MAX));
  expect_doc(d, HPM_OK);
  d = doc_kernel(&n);
  tn_set_str(n, "vermagic", "6.1\tSMP"); /* a control character */
  expect_doc(d, HPM_E_BAD_FIELD);
  d = doc_kernel(&n);
  tn_set_str(n, "vermagic", tl_rep('v', HPM_VERMAGIC_MAX + 1));
  expect_doc(d, HPM_E_BAD_FIELD);
}

static void test_kernel_part_placement(void **state) {
  tn_node *n;
  tl_doc *d;
  (void)state;
  /* kernel properties on a user-space patch payload */
  d = tl_doc_hotpatch();
  tn_set_str(tl_pl(d, "fix-openssl"), "module", "hpm_kp_1");
  expect_doc(d, HPM_E_BAD_FIELD);
  /* two livepatch payloads */
  d = doc_kernel(&n);
  {
    tn_node *m = tl_doc_embed(d, "livepatch2", "livepatch", "x", 1);
    tn_set_str(m, "kernel-release", "6.1.0-57-amd64");
    tn_set(m, "kernel-build-id", bid, sizeof bid);
    tn_set_str(m, "vermagic", "6.1.0-57-amd64 SMP");
    tn_set_str(m, "module", "hpm_kp_2");
  }
  expect_doc(d, HPM_E_DUPLICATE);
  /* a livepatch payload in a baseline */
  d = tl_doc_baseline();
  n = tl_doc_embed(d, "livepatch", "livepatch", "x", 1);
  tn_set_str(n, "kernel-release", "6.1.0-57-amd64");
  tn_set(n, "kernel-build-id", bid, sizeof bid);
  tn_set_str(n, "vermagic", "6.1.0-57-amd64 SMP");
  tn_set_str(n, "module", "hpm_kp_2");
  expect_doc(d, HPM_E_BAD_FIELD);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TL_TEST(test_kernel_part_accepted),
      TL_TEST(test_kernel_part_required_fields),
      TL_TEST(test_kernel_part_bad_values),
      TL_TEST(test_kernel_part_placement),
  };
  return TL_RUN(tests);
}
