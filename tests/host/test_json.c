/* SPDX-License-Identifier: MIT */
/*
 * host/json.c: hpmh_json_str (a C string as a JSON string: escapes, valid
 * UTF-8 kept, anything else U+FFFD, so the output is always valid UTF-8 and
 * valid JSON) and hpmh_utc (RFC 3339 UTC text).  Outputs are read back with
 * cJSON and checked against an independent UTF-8 validator written from
 * the Unicode standard's table of well-formed byte sequences.
 */
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "json.h"

/* hpmh_json_str(s) as a malloc'd string. */
static char *json_of(const char *s) {
  char *out = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&out, &len);
  assert_non_null(f);
  hpmh_json_str(f, s);
  assert_int_equal(fclose(f), 0);
  return out;
}

/* Well-formed UTF-8 per Unicode Table 3-7: the allowed range of each byte
 * of a sequence, by lead byte. */
static bool utf8_valid(const unsigned char *p, size_t n) {
  static const struct {
    unsigned char lo, hi, len, lo2, hi2;
  } rows[] = {
      {0x00, 0x7f, 1, 0, 0},       {0xc2, 0xdf, 2, 0x80, 0xbf}, {0xe0, 0xe0, 3, 0xa0, 0xbf},
      {0xe1, 0xec, 3, 0x80, 0xbf}, {0xed, 0xed, 3, 0x80, 0x9f}, {0xee, 0xef, 3, 0x80, 0xbf},
      {0xf0, 0xf0, 4, 0x90, 0xbf}, {0xf1, 0xf3, 4, 0x80, 0xbf}, {0xf4, 0xf4, 4, 0x80, 0x8f},
  };
  size_t i = 0;
  while (i < n) {
    size_t r = 0;
    while (r < sizeof rows / sizeof rows[0] && !(p[i] >= rows[r].lo && p[i] <= rows[r].hi)) r++;
    if (r == sizeof rows / sizeof rows[0] || i + rows[r].len > n) return false;
    if (rows[r].len > 1 && (p[i + 1] < rows[r].lo2 || p[i + 1] > rows[r].hi2)) return false;
    for (size_t k = 2; k < rows[r].len; k++)
      if (p[i + k] < 0x80 || p[i + k] > 0xbf) return false;
    i += rows[r].len;
  }
  return true;
}

/* The output is exactly want, valid UTF-8, and parses as a JSON string. */
static void expect_json(const char *in, const char *want) {
  char *got = json_of(in);
  cJSON *j = cJSON_Parse(got);
  assert_string_equal(got, want);
  assert_true(utf8_valid((const unsigned char *)got, strlen(got)));
  assert_non_null(j);
  assert_true(cJSON_IsString(j));
  cJSON_Delete(j);
  free(got);
}

static void test_ascii_and_escapes(void **state) {
  (void)state;
  expect_json("", "\"\"");
  expect_json("slot-a.hpm", "\"slot-a.hpm\"");
  expect_json("say \"hi\"", "\"say \\\"hi\\\"\"");
  expect_json("C:\\efi", "\"C:\\\\efi\"");
  expect_json("a\nb\tc\rd", "\"a\\u000ab\\u0009c\\u000dd\"");
  expect_json("\x01\x1f\x7f", "\"\\u0001\\u001f\\u007f\"");
  expect_json("/ and ~ stay", "\"/ and ~ stay\"");
}

static void test_escaped_text_round_trips(void **state) {
  (void)state;
  const char *in = "tab\there \"q\" back\\slash \x1b[0m end";
  char *got = json_of(in);
  cJSON *j = cJSON_Parse(got);
  assert_non_null(j);
  assert_string_equal(cJSON_GetStringValue(j), in);
  cJSON_Delete(j);
  free(got);
}

static void test_valid_utf8_kept_verbatim(void **state) {
  (void)state;
  /* two, three and four byte forms, and the extremes of each */
  expect_json("caf\xc3\xa9", "\"caf\xc3\xa9\"");
  expect_json("\xe2\x82\xac 5", "\"\xe2\x82\xac 5\"");
  expect_json("\xf0\x9f\x98\x80", "\"\xf0\x9f\x98\x80\"");
  expect_json("\xc2\x80\xdf\xbf", "\"\xc2\x80\xdf\xbf\"");
  expect_json("\xe0\xa0\x80\xef\xbf\xbf", "\"\xe0\xa0\x80\xef\xbf\xbf\"");
  expect_json("\xf0\x90\x80\x80\xf4\x8f\xbf\xbf", "\"\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\"");
  expect_json("\xed\x9f\xbf\xee\x80\x80", "\"\xed\x9f\xbf\xee\x80\x80\""); /* around the surrogates */
}

#define FFFD "\\ufffd"

static void test_invalid_bytes_become_replacement(void **state) {
  (void)state;
  expect_json("\x80", "\"" FFFD "\"");                          /* lone continuation */
  expect_json("a\xffz", "\"a" FFFD "z\"");                      /* never in UTF-8 */
  expect_json("\xc0\x80", "\"" FFFD FFFD "\"");                 /* overlong NUL */
  expect_json("\xe0\x80\xaf", "\"" FFFD FFFD FFFD "\"");        /* overlong '/' */
  expect_json("\xed\xa0\x80", "\"" FFFD FFFD FFFD "\"");        /* surrogate U+D800 */
  expect_json("\xf4\x90\x80\x80", "\"" FFFD FFFD FFFD FFFD "\""); /* past U+10FFFF */
  expect_json("\xe2\x82", "\"" FFFD FFFD "\"");                 /* cut short by the end */
  expect_json("\xe2\x82x", "\"" FFFD FFFD "x\"");               /* cut short by ASCII */
  expect_json("\xc3\xa9\xc3", "\"\xc3\xa9" FFFD "\"");          /* good, then truncated */
}

/* Every string of up to 3 bytes drawn from a set that covers each class of
 * byte: the output is always valid UTF-8 and valid JSON. */
static void test_output_always_valid(void **state) {
  (void)state;
  static const unsigned char bytes[] = {0x01, 0x22, 0x41, 0x5c, 0x7f, 0x80, 0x8f, 0x90, 0x9f,
                                        0xa0, 0xbf, 0xc0, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0,
                                        0xf4, 0xf5, 0xff};
  const size_t nb = sizeof bytes;
  for (size_t a = 0; a < nb; a++)
    for (size_t b = 0; b <= nb; b++)
      for (size_t c = 0; c <= nb; c++) {
        char in[4] = {(char)bytes[a], b < nb ? (char)bytes[b] : 0, c < nb ? (char)bytes[c] : 0, 0};
        char *got = json_of(in);
        cJSON *j = cJSON_Parse(got);
        if (!utf8_valid((const unsigned char *)got, strlen(got)) || !j)
          fail_msg("input %02x %02x %02x gave %s", bytes[a], (unsigned char)in[1], (unsigned char)in[2], got);
        cJSON_Delete(j);
        free(got);
      }
}

static void test_utc(void **state) {
  (void)state;
  static const struct {
    uint64_t t;
    const char *want;
  } cases[] = {
      {0, "1970-01-01T00:00:00Z"},
      {1767225600, "2026-01-01T00:00:00Z"},
      {1709164800, "2024-02-29T00:00:00Z"},
      {253402300799ull, "9999-12-31T23:59:59Z"},
      {253402300800ull, ""},
      {UINT64_MAX, ""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char buf[HPMH_UTC_LEN];
    memset(buf, 'x', sizeof buf);
    assert_ptr_equal(hpmh_utc(cases[i].t, buf), buf);
    assert_string_equal(buf, cases[i].want);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ascii_and_escapes),
      cmocka_unit_test(test_escaped_text_round_trips),
      cmocka_unit_test(test_valid_utf8_kept_verbatim),
      cmocka_unit_test(test_invalid_bytes_become_replacement),
      cmocka_unit_test(test_output_always_valid),
      cmocka_unit_test(test_utc),
  };
  return cmocka_run_group_tests_name("host/json", tests, NULL, NULL);
}
