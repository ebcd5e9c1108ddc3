/* SPDX-License-Identifier: MIT */
/* host/status.c: hpmh_fail fills code, field and detail and returns -1. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "status.h"

static void test_fills_every_field(void **state) {
  (void)state;
  hpmh_status st;
  memset(&st, 0x55, sizeof st);
  assert_int_equal(hpmh_fail(&st, HPMH_E_REFUSED, "--svn", "--svn %d: below the floor %s", 3, "(5)"), -1);
  assert_int_equal(st.code, HPMH_E_REFUSED);
  assert_string_equal(st.field, "--svn");
  assert_string_equal(st.detail, "--svn 3: below the floor (5)");
}

static void test_no_field_and_no_status(void **state) {
  (void)state;
  hpmh_status st;
  memset(&st, 0x55, sizeof st);
  assert_int_equal(hpmh_fail(&st, HPMH_E_NOMEM, NULL, "out of memory"), -1);
  assert_int_equal(st.code, HPMH_E_NOMEM);
  assert_string_equal(st.field, "");
  assert_string_equal(st.detail, "out of memory");
  /* A caller that does not want the details still gets -1. */
  assert_int_equal(hpmh_fail(NULL, HPMH_E_IO, "x", "ignored %s", "too"), -1);
}

/* Over-long text is cut, never overflows, and stays a C string. */
static void test_long_text_truncated(void **state) {
  (void)state;
  hpmh_status st;
  char field[300], detail[1000];
  memset(field, 'f', sizeof field - 1);
  field[sizeof field - 1] = '\0';
  memset(detail, 'd', sizeof detail - 1);
  detail[sizeof detail - 1] = '\0';
  assert_int_equal(hpmh_fail(&st, HPMH_E_INVALID, field, "%s", detail), -1);
  assert_int_equal(strlen(st.field), sizeof st.field - 1);
  assert_int_equal(strlen(st.detail), sizeof st.detail - 1);
  assert_memory_equal(st.detail, detail, sizeof st.detail - 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_fills_every_field), cmocka_unit_test(test_no_field_and_no_status),
                                     cmocka_unit_test(test_long_text_truncated)};
  return cmocka_run_group_tests_name("host/status", tests, NULL, NULL);
}
