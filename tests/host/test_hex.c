/* SPDX-License-Identifier: MIT */
/* host/hex.c: hpmh_parse_hex takes exactly 2n hex digits of either case. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "hex.h"

static void test_parses_both_cases(void **state) {
  (void)state;
  uint8_t out[8];
  static const uint8_t want[8] = {0x00, 0xff, 0x7f, 0xa0, 0x12, 0xab, 0xcd, 0xef};
  assert_int_equal(hpmh_parse_hex("00ff7fa012abcdef", out, 8), 0);
  assert_memory_equal(out, want, 8);
  memset(out, 0, sizeof out);
  assert_int_equal(hpmh_parse_hex("00FF7Fa012ABcDeF", out, 8), 0);
  assert_memory_equal(out, want, 8);
  assert_int_equal(hpmh_parse_hex("", out, 0), 0);
}

static void test_every_byte_value(void **state) {
  (void)state;
  for (unsigned v = 0; v < 256; v++) {
    char s[3];
    uint8_t b = 0;
    snprintf(s, sizeof s, "%02x", v);
    assert_int_equal(hpmh_parse_hex(s, &b, 1), 0);
    assert_int_equal(b, v);
  }
}

static void test_refusals(void **state) {
  (void)state;
  uint8_t out[4];
  static const char *bad[] = {
      "0011223",    /* odd: one digit short */
      "001122334",  /* one digit too many */
      "00112233aa", /* a whole byte too many */
      "",           /* nothing */
      "0g112233",   /* not hex */
      "00 11223",   /* a space */
      "0x112233",   /* a prefix is not a digit */
      "-0112233",   /* a sign */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    if (hpmh_parse_hex(bad[i], out, 4) != -1) fail_msg("accepted \"%s\"", bad[i]);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_parses_both_cases), cmocka_unit_test(test_every_byte_value),
                                     cmocka_unit_test(test_refusals)};
  return cmocka_run_group_tests_name("host/hex", tests, NULL, NULL);
}
