/* SPDX-License-Identifier: MIT */
/*
 * The manifest's payload nodes: values, sizes, kernel count, the embedded
 * layout, detached file names, the command line.  Like test_manifest.c,
 * every manifest is hand-made (testlib.h), assembled and signed by a
 * trusted key: the signature is valid, the manifest is what is wrong.
 */
#include "manifest_cases.h"
#include "testlib.h"

static void test_bad_payload_values(void **state) {
  static const pv cases[] = { /* type "patch": not in a baseline */
      {"type", S("firmware")}, {"type", S("Kernel")}, {"type", S("patch")}, {"type", "kernel", 6},
      {"type", "", 0},         {"size", "\0\0\0\x30", 4}, {"size", "\0\0\0\0\0\0\0\0\0\0\0\0", 12},
      {"sha256", "0123456789012345678901234567890", 31},   {"sha256", "", 0},
      {"offset", "\0\0\0\0", 4},
  };
  static const pv not_patches[] = {{"type", S("kernel")}, {"type", S("initrd")}, {"type", S("cmdline")}};
  (void)state;
  EXPECT_CASES(tl_doc_baseline, "kernel", cases, false, HPM_E_BAD_FIELD);
  /* kernel, initrd, cmdline are not hotpatch payloads */
  EXPECT_CASES(tl_doc_hotpatch, "fix-glibc", not_patches, false, HPM_E_BAD_FIELD);
}

static void test_payload_size_limits(void **state) {
  tl_doc *d;
  (void)state;
  /* over 1 GiB (detached, so the container stays small) */
  d = tl_doc_baseline();
  tl_detach(d, "initrd", "initrd.img");
  tn_set_u64(tl_pl(d, "initrd"), "size", HPM_PAYLOAD_MAX + 1);
  expect_doc(d, HPM_E_TOO_LARGE);
  tn_set_u64(tl_pl(d, "initrd"), "size", UINT64_MAX);
  expect_doc(d, HPM_E_TOO_LARGE);
  /* exactly 1 GiB parses (the unverified parse never needs the bytes) */
  tn_set_u64(tl_pl(d, "initrd"), "size", HPM_PAYLOAD_MAX);
  assert_result(tl_doc_unverified(d), HPM_OK);
  /* a command line over 4096 bytes; exactly 4096 is fine */
  d = tl_doc_baseline();
  tl_drop(d, "cmdline");
  tl_doc_embed(d, "cmdline", "cmdline", tl_rep('q', 4096), 4096);
  expect_doc(d, HPM_OK);
  d = tl_doc_baseline();
  tl_drop(d, "cmdline");
  tl_doc_embed(d, "cmdline", "cmdline", tl_rep('q', 4097), 4097);
  expect_doc(d, HPM_E_TOO_LARGE);
}

static void test_kernel_count(void **state) {
  tl_doc *d;
  (void)state;
  /* no kernel: drop it, move the others down */
  d = tl_doc_baseline();
  tl_drop(d, "kernel");
  assert_int_equal(tn_get_u64(tl_pl(d, "initrd"), "offset"), 0);
  expect_doc(d, HPM_E_BAD_FIELD);
  /* no payloads at all */
  d = tl_doc_baseline();
  tl_drop(d, "kernel");
  tl_drop(d, "initrd");
  tl_drop(d, "cmdline");
  assert_int_equal(d->area_len, 0);
  expect_doc(d, HPM_E_BAD_FIELD);
  /* two kernels */
  d = tl_doc_baseline();
  tl_doc_embed(d, "kernel2", "kernel", tl_kernel, sizeof tl_kernel);
  expect_doc(d, HPM_E_BAD_FIELD);
  /* the initrd declared as a second kernel */
  d = tl_doc_baseline();
  tn_set_str(tl_pl(d, "initrd"), "type", "kernel");
  expect_doc(d, HPM_E_BAD_FIELD);
  /* two initrds, two command lines */
  d = tl_doc_baseline();
  tl_doc_embed(d, "initrd2", "initrd", tl_initrd, sizeof tl_initrd);
  expect_doc(d, HPM_E_DUPLICATE);
  d = tl_doc_baseline();
  tl_doc_embed(d, "cmdline2", "cmdline", tl_cmdline, strlen(tl_cmdline));
  expect_doc(d, HPM_E_DUPLICATE);
  /* just a kernel is a valid baseline */
  d = tl_doc_baseline();
  tl_drop(d, "initrd");
  tl_drop(d, "cmdline");
  expect_doc(d, HPM_OK);
  assert_int_equal(tl_m->payload_count, 1);
  /* ... and so is a detached kernel with nothing embedded */
  tl_detach(d, "kernel", "vmlinuz");
  expect_doc(d, HPM_OK);
  assert_int_equal(tl_m->payload_area_size, 0);
}

/* Embedded payloads tile the area: back to back, in manifest order. */
static void test_embedded_layout(void **state) {
  tl_doc *d;
  (void)state;
  /* a gap before the second payload */
  d = tl_doc_baseline();
  tn_set_u64(tl_pl(d, "initrd"), "offset", sizeof tl_kernel + 1);
  expect_doc(d, HPM_E_BAD_FIELD);
  /* an overlap */
  d = tl_doc_baseline();
  tn_set_u64(tl_pl(d, "initrd"), "offset", sizeof tl_kernel - 1);
  expect_doc(d, HPM_E_BAD_FIELD);
  /* the second payload over the first (same offset) */
  d = tl_doc_baseline();
  tn_set_u64(tl_pl(d, "initrd"), "offset", 0);
  expect_doc(d, HPM_E_BAD_FIELD);
  /* the first payload not at 0 */
  d = tl_doc_baseline();
  tn_set_u64(tl_pl(d, "kernel"), "offset", 1);
  expect_doc(d, HPM_E_BAD_FIELD);
  /* listed out of order (the offsets are right, the order is not) */
  d = tl_doc_baseline();
  {
    tn_node *p = tl_payloads(d), *t = p->kids[0];
    p->kids[0] = p->kids[1];
    p->kids[1] = t;
  }
  expect_doc(d, HPM_E_BAD_FIELD);
  /* unaccounted bytes at the end of the area */
  d = tl_doc_baseline();
  d->area[d->area_len++] = 0;
  expect_doc(d, HPM_E_BAD_FIELD);
  /* the area shorter than the payloads (the header says so, consistently) */
  d = tl_doc_baseline();
  d->area_len--;
  expect_doc(d, HPM_E_BAD_FIELD);
  /* a size that runs off the end of the area */
  d = tl_doc_baseline();
  tn_set_u64(tl_pl(d, "cmdline"), "size", strlen(tl_cmdline) + 1);
  expect_doc(d, HPM_E_BAD_FIELD);
  /* offsets near 2^64 */
  d = tl_doc_baseline();
  tn_set_u64(tl_pl(d, "cmdline"), "offset", UINT64_MAX);
  expect_doc(d, HPM_E_BAD_FIELD);
  d = tl_doc_baseline();
  tn_set_u64(tl_pl(d, "cmdline"), "offset", UINT64_MAX - 4);
  expect_doc(d, HPM_E_BAD_FIELD);
  /* a detached payload between embedded ones does not take area space */
  d = tl_doc_baseline();
  tl_detach(d, "initrd", "x.img");
  assert_int_equal(tn_get_u64(tl_pl(d, "cmdline"), "offset"), sizeof tl_kernel);
  expect_doc(d, HPM_OK);
  /* ... and must not be counted as if it did */
  tn_set_u64(tl_pl(d, "cmdline"), "offset", sizeof tl_kernel + sizeof tl_initrd);
  expect_doc(d, HPM_E_BAD_FIELD);
}

static void test_offset_and_file(void **state) {
  tl_doc *d;
  (void)state;
  d = tl_doc_baseline();
  tn_set_str(tl_pl(d, "initrd"), "file", "initrd.img");
  tl_files_add(&tl_doc_files, "initrd.img", tl_initrd, sizeof tl_initrd);
  expect_doc(d, HPM_E_BAD_FIELD);
  d = tl_doc_baseline();
  tn_del(tl_pl(d, "initrd"), "offset");
  expect_doc(d, HPM_E_BAD_FIELD);
}

static void test_detached_file_names(void **state) {
  static const char *const bad[] = {".hidden", "..", "../etc/shadow", "a/b", "/boot/vmlinuz",
                                    "a b", "a\\b", "a:b", "vmlinuz~", NULL /* 64 chars */};
  tl_doc *d;
  (void)state;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    const char *f = bad[i] ? bad[i] : tl_rep('f', HPM_FILE_MAX + 1);
    d = tl_doc_baseline();
    tl_detach(d, "initrd", f);
    if (tl_doc_verify(d) != HPM_E_BAD_FIELD || tl_doc_unverified(d) != HPM_E_BAD_FIELD)
      fail_msg("file \"%s\": %s (%s: %s)", f, hpm_result_to_string(tl_doc_verify(d)), tl_diag.field,
               tl_diag.detail);
  }
  /* 63 characters, dots inside: fine */
  d = tl_doc_baseline();
  {
    char *f = tl_rep('f', HPM_FILE_MAX);
    f[3] = '.';
    tl_detach(d, "initrd", f);
    expect_doc(d, HPM_OK);
    assert_string_equal(tl_m->payloads[1].file, f);
  }
  /* two payloads naming the same file */
  d = tl_doc_hotpatch();
  tn_add_kid(tl_payloads(d), tl_payload_node("p3", "patch", "abc", 3, "same.bin", 0));
  tn_add_kid(tl_payloads(d), tl_payload_node("p4", "patch", "abc", 3, "same.bin", 0));
  tl_files_add(&tl_doc_files, "same.bin", "abc", 3);
  expect_doc(d, HPM_E_DUPLICATE);
}

static void test_cmdline_printable(void **state) {
  static const char *const bad[] = {"console=ttyS0\n", "a\tb", "a\x7f", "a\x80", "\x1b[0m",
                                    "caf\xc3\xa9"};
  tl_doc *d;
  (void)state;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    d = tl_doc_baseline();
    tl_drop(d, "cmdline");
    tl_doc_embed(d, "cmdline", "cmdline", bad[i], strlen(bad[i]));
    assert_result(tl_doc_verify(d), HPM_E_BAD_FIELD);
    assert_string_equal(tl_diag.field, "payloads/cmdline");
    /* the bytes are not looked at without verification */
    assert_result(tl_doc_unverified(d), HPM_OK);
  }
  /* a NUL inside, a NUL at the end */
  d = tl_doc_baseline();
  tl_drop(d, "cmdline");
  tl_doc_embed(d, "cmdline", "cmdline", "quiet\0", 6);
  assert_result(tl_doc_verify(d), HPM_E_BAD_FIELD);
  d = tl_doc_baseline();
  tl_drop(d, "cmdline");
  tl_doc_embed(d, "cmdline", "cmdline", "a\0b", 3);
  assert_result(tl_doc_verify(d), HPM_E_BAD_FIELD);
  /* spaces and every printable character are fine */
  d = tl_doc_baseline();
  {
    char all[96];
    size_t n = 0;
    for (int c = 0x20; c <= 0x7e; c++) all[n++] = (char)c;
    tl_drop(d, "cmdline");
    tl_doc_embed(d, "cmdline", "cmdline", all, n);
  }
  expect_doc(d, HPM_OK);
  /* an empty command line is an empty payload (refused) */
  d = tl_doc_baseline();
  tl_drop(d, "cmdline");
  tl_doc_embed(d, "cmdline", "cmdline", "", 0);
  expect_doc(d, HPM_E_BAD_FIELD);
}

/* Payloads are 1 byte to 1 GiB: empty ones are refused, embedded or not. */
static void test_empty_payloads(void **state) {
  tl_doc *d;
  (void)state;
  d = tl_doc_hotpatch();
  tl_doc_embed(d, "empty", "patch", "", 0);
  expect_doc(d, HPM_E_BAD_FIELD);
  d = tl_doc_hotpatch();
  tn_add_kid(tl_payloads(d), tl_payload_node("empty", "patch", "", 0, "empty.bin", 0));
  tl_files_add(&tl_doc_files, "empty.bin", "", 0);
  expect_doc(d, HPM_E_BAD_FIELD);
  d = tl_doc_baseline();
  tl_drop(d, "kernel");
  {
    tn_node *k = tl_payload_node("kernel", "kernel", "", 0, NULL, 0), *p = tl_payloads(d);
    memmove(&p->kids[1], &p->kids[0], (size_t)p->nkids * sizeof p->kids[0]);
    p->kids[0] = k;
    p->nkids++;
  }
  expect_doc(d, HPM_E_BAD_FIELD);
}

/* ---- the FDT container itself ----------------------------------------------------- */

/* Seal raw FDT bytes (possibly patched) as the baseline's manifest. */

int main(void) {
  const struct CMUnitTest tests[] = {
      TL_TEST(test_bad_payload_values),
      TL_TEST(test_payload_size_limits),
      TL_TEST(test_kernel_count),
      TL_TEST(test_embedded_layout),
      TL_TEST(test_offset_and_file),
      TL_TEST(test_detached_file_names),
      TL_TEST(test_cmdline_printable),
      TL_TEST(test_empty_payloads),
  };
  return TL_RUN(tests);
}
