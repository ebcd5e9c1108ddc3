/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the OS side's variable layer: runtime/boot/efivar.c
 * (efivarfs files: attribute word + value, one write) against a temporary
 * directory (hpm_efivar_set_dir), and runtime/boot/bootvars.c (the strict
 * parsers of what hpmboot.efi publishes).  Links their sanitizer objects.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "boot/bootvars.h"
#include "boot/efivar.h"
#include "fileio.h"
#include "tmpdir.h"

static char tmpdir[64];

static int setup(void **state) {
  (void)state;
  if (tt_mkdtemp(tmpdir, sizeof tmpdir, "efivars")) return -1;
  hpm_efivar_set_dir(tmpdir);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  return tt_rmtree(tmpdir);
}

static void put_raw(const char *name, const void *bytes, size_t n) {
  char p[512];
  hpm_efivar_path(name, p, sizeof p);
  assert_int_equal(hpmh_write_file(p, bytes, n, 0644, 0, NULL), 0);
}

static void efivar_round_trip(void **state) {
  (void)state;
  const uint8_t val[] = "hpm.slot=a";
  assert_int_equal(hpm_efivar_write("HpmMarkGood", HPM_EFIVAR_ATTR_REQUEST, val, 10), 0);
  char p[512];
  hpm_efivar_path("HpmMarkGood", p, sizeof p);
  assert_non_null(strstr(p, "HpmMarkGood-28b3057a-0599-4bcf-861b-d81782718919"));
  FILE *f = fopen(p, "rb");
  uint8_t raw[32];
  size_t n = fread(raw, 1, sizeof raw, f);
  fclose(f);
  assert_int_equal(n, 14);
  assert_memory_equal(raw, "\x07\x00\x00\x00hpm.slot=a", 14);
  uint32_t attr = 0;
  uint8_t buf[16];
  size_t len = 0;
  assert_int_equal(hpm_efivar_read("HpmMarkGood", &attr, buf, sizeof buf, &len), HPM_EFIVAR_OK);
  assert_int_equal(attr, 7);
  assert_int_equal(len, 10);
  /* a shorter replacement leaves nothing of the old value behind */
  assert_int_equal(hpm_efivar_write("HpmMarkGood", HPM_EFIVAR_ATTR_REQUEST, (const uint8_t *)"x", 1), 0);
  assert_int_equal(hpm_efivar_read("HpmMarkGood", &attr, buf, sizeof buf, &len), HPM_EFIVAR_OK);
  assert_int_equal(len, 1);
  assert_int_equal(hpm_efivar_delete("HpmMarkGood"), 0);
  assert_int_equal(hpm_efivar_read("HpmMarkGood", &attr, buf, sizeof buf, &len), HPM_EFIVAR_ABSENT);
  assert_int_equal(hpm_efivar_delete("HpmMarkGood"), 0); /* absent is fine */
}

static void efivar_bounds_and_attributes(void **state) {
  (void)state;
  uint32_t attr;
  uint8_t buf[8];
  size_t len;
  put_raw("HpmBootSvn", "\x06\x00\x00\x00" "123456789", 13); /* 9 bytes > 8 */
  assert_int_equal(hpm_efivar_read("HpmBootSvn", &attr, buf, sizeof buf, &len), HPM_EFIVAR_TOO_BIG);
  put_raw("HpmBootSvn", "\x06\x00", 2);
  assert_int_equal(hpm_efivar_read("HpmBootSvn", &attr, buf, sizeof buf, &len), HPM_EFIVAR_SHORT);
  char text[16];
  put_raw("HpmBootSvn", "\x06\x00\x00\x00" "42", 6);
  assert_int_equal(hpm_efivar_read_text("HpmBootSvn", HPM_EFIVAR_ATTR_VOLATILE, text, sizeof text), HPM_EFIVAR_OK);
  assert_string_equal(text, "42");
  /* planted with other attributes (non-volatile): refused */
  put_raw("HpmBootSvn", "\x07\x00\x00\x00" "42", 6);
  assert_int_equal(hpm_efivar_read_text("HpmBootSvn", HPM_EFIVAR_ATTR_VOLATILE, text, sizeof text), HPM_EFIVAR_IO);
  /* an embedded NUL is not text */
  put_raw("HpmBootSvn", "\x06\x00\x00\x00" "4\0" "2", 7);
  assert_int_equal(hpm_efivar_read_text("HpmBootSvn", HPM_EFIVAR_ATTR_VOLATILE, text, sizeof text), HPM_EFIVAR_IO);
  /* text one byte too long for the buffer (cap includes the NUL) */
  put_raw("HpmBootSvn", "\x06\x00\x00\x00" "0123456789abcdef", 20);
  assert_int_equal(hpm_efivar_read_text("HpmBootSvn", HPM_EFIVAR_ATTR_VOLATILE, text, sizeof text), HPM_EFIVAR_TOO_BIG);
  uint8_t big[HPM_EFIVAR_MAX + 1] = {0};
  assert_int_equal(hpm_efivar_write("HpmMarkGood", 7, big, sizeof big), -1);
}

static void numbers_and_hex(void **state) {
  (void)state;
  uint64_t v = 99;
  assert_int_equal(hpm_bv_parse_u64("0", 5, &v), 0);
  assert_int_equal(v, 0);
  assert_int_equal(hpm_bv_parse_u64("18446744073709551615", UINT64_MAX, &v), 0);
  assert_true(v == UINT64_MAX);
  v = 7;
  assert_int_equal(hpm_bv_parse_u64("18446744073709551616", UINT64_MAX, &v), -1);
  assert_int_equal(hpm_bv_parse_u64("4294967296", UINT32_MAX, &v), -1);
  assert_int_equal(hpm_bv_parse_u64("", 5, &v), -1);
  assert_int_equal(hpm_bv_parse_u64("+1", 5, &v), -1);
  assert_int_equal(hpm_bv_parse_u64(" 1", 5, &v), -1);
  assert_int_equal(hpm_bv_parse_u64("6", 5, &v), -1);
  assert_int_equal(v, 7); /* untouched on failure */
  uint8_t d[32];
  char hx[65];
  memset(hx, 'a', 64);
  hx[64] = 0;
  assert_int_equal(hpm_bv_parse_hex32(hx, d), 0);
  assert_int_equal(d[31], 0xaa);
  hx[3] = 'A';
  assert_int_equal(hpm_bv_parse_hex32(hx, d), -1); /* published lower case only */
  hx[3] = 'a';
  hx[63] = 0;
  assert_int_equal(hpm_bv_parse_hex32(hx, d), -1);
}

#define Z "0000000000000000000000000000000000000000000000000000000000000000"
#define A "abababababababababababababababababababababababababababababababab"

static int slots(const char *text, hpm_bootstate *st, char det[4][64], char *why) {
  char buf[2048];
  snprintf(buf, sizeof buf, "%s", text);
  memset(st, 0, sizeof *st);
  memset(det, 0, 4 * 64);
  return hpm_bv_parse_slots(buf, st, det, why, 200);
}

static void slot_table(void **state) {
  (void)state;
  hpm_bootstate st;
  char det[4][64], why[200];
  assert_int_equal(slots("a priority=2 tries=1 successful=1 svn=5 reason=none baseline=" A "\n"
                         "b priority=1 tries=0 successful=0 svn=3 reason=verify-failed detail=payload-hash-mismatch baseline=" Z "\n"
                         "c priority=0 tries=0 successful=0 svn=0 reason=none future=1 baseline=" Z "\n"
                         "d priority=15 tries=15 successful=0 svn=4294967295 reason=tries-exhausted baseline=" Z "\n",
                         &st, det, why), 0);
  assert_int_equal(st.slots[0].priority, 2);
  assert_true(st.slots[0].successful);
  assert_int_equal(st.slots[0].digest[0], 0xab);
  assert_int_equal(st.slots[1].reason, HPM_BS_REASON_VERIFY_FAILED);
  assert_string_equal(det[1], "payload-hash-mismatch");
  assert_int_equal(st.slots[3].svn, UINT32_MAX);
  assert_int_equal(st.slots[3].reason, HPM_BS_REASON_TRIES_EXHAUSTED);
  /* missing slot d */
  assert_int_equal(slots("a priority=2 tries=1 successful=1 svn=5 reason=none baseline=" A "\n", &st, det, why), -1);
  assert_non_null(strstr(why, "not every slot"));
  /* repeated slot */
  assert_int_equal(slots("a priority=2 tries=1 successful=0 svn=5 reason=none baseline=" Z "\n"
                         "a priority=2 tries=1 successful=0 svn=5 reason=none baseline=" Z "\n", &st, det, why), -1);
  assert_non_null(strstr(why, "repeated"));
  /* out of range, unknown reason, missing field, good without a baseline */
  const char *bad[] = {"priority=16 tries=1 successful=0 svn=5 reason=none baseline=" Z,
                       "priority=1 tries=1 successful=2 svn=5 reason=none baseline=" Z,
                       "priority=1 tries=1 successful=0 svn=5 reason=sideways baseline=" Z,
                       "priority=1 tries=1 successful=0 reason=none baseline=" Z,
                       "priority=1 tries=1 successful=1 svn=5 reason=none baseline=" Z,
                       "priority=1 tries=1 successful=0 svn=5 reason=none baseline=" A "00"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char t[1024];
    snprintf(t, sizeof t, "a %s\nb priority=0 tries=0 successful=0 svn=0 reason=none baseline=" Z
             "\nc priority=0 tries=0 successful=0 svn=0 reason=none baseline=" Z
             "\nd priority=0 tries=0 successful=0 svn=0 reason=none baseline=" Z "\n", bad[i]);
    assert_int_equal(slots(t, &st, det, why), -1);
    assert_non_null(strstr(why, "slot a"));
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(efivar_round_trip, setup, teardown),
      cmocka_unit_test_setup_teardown(efivar_bounds_and_attributes, setup, teardown),
      cmocka_unit_test(numbers_and_hex),
      cmocka_unit_test(slot_table),
  };
  return cmocka_run_group_tests_name("bootvars", tests, NULL, NULL);
}
