/* SPDX-License-Identifier: MIT */
/*
 * Detached payload file names on a FAT ESP (issue 13, finding 4): the slot
 * containers' names slot-a.hpm ... slot-d.hpm are reserved in any case, and
 * two payloads whose names differ only in case name the same file.
 */
#include "testlib.h"

#include "hpm/bootif.h"

/* A baseline whose initrd is detached as `file`; its verification result,
 * which the unverified parse must share. */
static hpm_result baseline_with_initrd(const char *file) {
  tl_doc *d = tl_doc_baseline();
  hpm_result r, u;
  tl_detach(d, "initrd", file);
  r = tl_doc_verify(d);
  u = tl_doc_unverified(d);
  if (u != r) fail_msg("%s: verify %s, unverified parse %s", file, hpm_result_to_string(r), hpm_result_to_string(u));
  return r;
}

static void test_slot_container_names_reserved(void **state) {
  static const char *const reserved[] = {"slot-a.hpm", "slot-b.hpm", "slot-c.hpm", "slot-d.hpm",
                                         "SLOT-A.HPM", "Slot-b.Hpm", "slot-C.hpm", "sLOT-d.hPM"};
  static const char *const fine[] = {"slot-e.hpm", "slot-a.hpm.old", "slot-ab.hpm", "slot-a.hp",
                                     "xslot-a.hpm", "slot_a.hpm", "slot-a", "initrd.img"};
  (void)state;
  for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++) {
    assert_result(baseline_with_initrd(reserved[i]), HPM_E_BAD_FIELD);
    assert_string_equal(tl_diag.field, "payloads/initrd/file");
    assert_non_null(strstr(tl_diag.detail, "reserved"));
    memset(&tl_doc_files, 0, sizeof tl_doc_files);
  }
  for (size_t i = 0; i < sizeof fine / sizeof fine[0]; i++) {
    assert_result(baseline_with_initrd(fine[i]), HPM_OK);
    memset(&tl_doc_files, 0, sizeof tl_doc_files);
  }
  /* a hotpatch's detached patch too: the rule is the format's */
  {
    tl_doc *d = tl_doc_hotpatch();
    tl_detach(d, "fix-glibc", "SLOT-B.hpm");
    expect_doc(d, HPM_E_BAD_FIELD);
  }
}

/* Names differing only in case are one file on FAT. */
static void test_names_compare_without_case(void **state) {
  tl_doc *d = tl_doc_baseline();
  (void)state;
  tl_detach(d, "kernel", "vmlinuz");
  tl_detach(d, "initrd", "VMLINUZ");
  expect_doc(d, HPM_E_DUPLICATE);
  assert_true(hpm_bootif_same_file("Initrd.IMG", "initrd.img"));
  assert_false(hpm_bootif_same_file("initrd.img", "initrd.im"));
  assert_false(hpm_bootif_same_file("initrd.im", "initrd.img"));
  assert_false(hpm_bootif_same_file("a-b", "a_b"));
  assert_int_equal(hpm_bootif_slot_of_file("SLOT-D.HPM"), 3);
  assert_int_equal(hpm_bootif_slot_of_file("slot-a.hpm"), 0);
  assert_int_equal(hpm_bootif_slot_of_file("slot-e.hpm"), -1);
  assert_int_equal(hpm_bootif_slot_of_file(NULL), -1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TL_TEST(test_slot_container_names_reserved),
      TL_TEST(test_names_compare_without_case),
  };
  return TL_RUN(tests);
}
