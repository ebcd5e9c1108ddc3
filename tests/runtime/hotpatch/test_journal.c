/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the per-process journal record (runtime/hotpatch/journal.c):
 * a refused record leaves nothing in the caller's struct, and a record
 * written through the file reads back as the same text.  Links journal.o
 * (mk/tests.mk); the fuzzer tests/fuzz/fuzz_journal.c covers the reader at
 * large.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "hotpatch/journal.h"
#include "tmpdir.h"

static int parse_text(const char *text, hp_journal *s) {
  FILE *f = fmemopen((void *)text, strlen(text), "r");
  assert_non_null(f);
  int rc = hp_journal_parse(f, s);
  fclose(f);
  return rc;
}

/* Without its "end" a record is refused whole: no map, pid or site of it
 * may survive in s (recovery must not act on half a record). */
static void refused_record_leaves_nothing(void **state) {
  static const hp_journal zero;
  hp_journal s;
  (void)state;
  assert_int_equal(parse_text("hpm-proc 1\npid 42\nstart 7\nexe /usr/bin/x\nmap 7f0000 1000\n"
                              "site f 401000 40 8 1 6 0 0 90 7f0000\n", &s), -1);
  assert_memory_equal(&s, &zero, sizeof s);
  /* a site line that does not parse ends the record there, before its end */
  assert_int_equal(parse_text("hpm-proc 1\npid 42\nmap 7f0000 1000\nsite f 401000 zz\nend\n", &s), -1);
  assert_memory_equal(&s, &zero, sizeof s);
}

static void written_record_reads_back(void **state) {
  char dir[128], path[160];
  hp_journal s, t;
  size_t len = 0, len2 = 0;
  (void)state;
  assert_int_equal(parse_text("hpm-proc 1\npid 42\nstart 7\nexe /usr/bin/with space\nbuildid ab12\nseq 3\n"
                              "id fix-1\ntime 1700000000\nexposure_ms 5\ntxn 401000 40 1\nmap 7f0000 1000\n"
                              "site f 401000 40 8 2 6 0 0 9090 7f0000\nend\n", &s), 0);
  assert_int_equal(s.pid, 42);
  assert_string_equal(s.exe, "/usr/bin/with space");
  assert_int_equal(s.nmaps, 1);
  assert_int_equal(s.nsites, 1);
  assert_int_equal(s.sites[0].len, 2);
  assert_int_equal(tt_mkdtemp(dir, sizeof dir, "journal"), 0);
  snprintf(path, sizeof path, "%s/x.state", dir);
  assert_int_equal(hp_journal_write(path, &s), 0);
  assert_int_equal(hp_journal_read(path, &t), 0);
  char *a = hp_journal_format(&s, &len), *b = hp_journal_format(&t, &len2);
  assert_non_null(a);
  assert_non_null(b);
  assert_int_equal(len, len2);
  assert_memory_equal(a, b, len);
  free(a);
  free(b);
  hp_journal_free(&s);
  hp_journal_free(&t);
  assert_int_equal(tt_rmtree(dir), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(refused_record_leaves_nothing),
      cmocka_unit_test(written_record_reads_back),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
