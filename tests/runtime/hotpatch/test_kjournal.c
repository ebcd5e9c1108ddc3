/* SPDX-License-Identifier: MIT */
/* runtime/hotpatch/kjournal.c: the kernel journal record. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "hotpatch/kernel.h"

static void test_roundtrip(void **state) {
  hp_kjournal k = {.op = "apply", .module = "hpm_kp_2", .prev = "hpm_kp_1", .seq = 2, .id = "KB-K2",
                   .time = 1796461836}, back;
  char text[512];
  (void)state;
  size_t n = hp_kjournal_format(&k, text, sizeof text);
  assert_true(n > 0);
  assert_int_equal(hp_kjournal_parse(text, n, &back), 0);
  assert_memory_equal(&k, &back, sizeof k);
  /* a state record: no op, no previous module */
  hp_kjournal s = {.module = "hpm_kp_2", .seq = 2, .id = "KB-K2", .time = 1};
  n = hp_kjournal_format(&s, text, sizeof text);
  assert_int_equal(hp_kjournal_parse(text, n, &back), 0);
  assert_string_equal(back.op, "");
  assert_string_equal(back.module, "hpm_kp_2");
  /* too small a buffer formats nothing */
  assert_int_equal(hp_kjournal_format(&k, text, 10), 0);
}

static void test_refused(void **state) {
  static const char *const bad[] = {
      "",                                                                           /* empty */
      "op apply\nmodule m\nprev \nseq 2\nid x\ntime 1\n",                           /* no end */
      "op apply\nprev \nseq 2\nid x\ntime 1\nend\n",                                /* no module */
      "op apply\nmodule \nprev \nseq 2\nid x\ntime 1\nend\n",                       /* empty module */
      "op load\nmodule m\nprev \nseq 2\nid x\ntime 1\nend\n",                       /* unknown op */
      "op apply\nmodule m\nprev \nseq 4294967296\nid x\ntime 1\nend\n",             /* seq overflows */
      "op apply\nmodule m\nmodule n\nprev \nseq 2\nid x\ntime 1\nend\n",            /* twice */
      "op apply\nmodule a b\nprev \nseq 2\nid x\ntime 1\nend\n",                    /* a space */
      "op apply\nmodule m\nprev \nseq 2\nid x\ntime 1\nextra 1\nend\n",             /* unknown key */
      "op apply\nmodule m\nprev \nseq -2\nid x\ntime 1\nend\n",                     /* not a number */
  };
  hp_kjournal k;
  (void)state;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    if (hp_kjournal_parse(bad[i], strlen(bad[i]), &k) == 0) fail_msg("case %zu accepted", i);
    assert_string_equal(k.module, "");
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_roundtrip),
      cmocka_unit_test(test_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
