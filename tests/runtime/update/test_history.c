/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of runtime/update/history.c (SQLite history: record, query, retention,
 * corrupt and truncated databases kept aside, kill -9 during writes) and
 * runtime/update/enroll.c (state file, re-enrollment rule).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "fileio.h"
#include "tmpdir.h"
#include "update/enroll.h"
#include "update/history.h"

static char dir[128];

static int setup(void **state) {
  (void)state;
  unsetenv("HPM_NOW");
  return tt_mkdtemp(dir, sizeof dir, "history");
}

static int teardown(void **state) {
  (void)state;
  unsetenv("HPM_NOW");
  return tt_rmtree(dir);
}

static void set_now(uint64_t t) {
  char b[32];
  snprintf(b, sizeof b, "%llu", (unsigned long long)t);
  setenv("HPM_NOW", b, 1);
}

typedef struct {
  unsigned n;
  char events[16][32];
  uint64_t times[16];
} seen;

static int collect(const hist_entry *e, void *ctx) {
  seen *s = ctx;
  if (s->n < 16) {
    snprintf(s->events[s->n], sizeof s->events[0], "%s", e->event);
    s->times[s->n] = e->time;
  }
  s->n++;
  return 0;
}

static unsigned count_corrupt_copies(void) {
  DIR *d = opendir(dir);
  assert_non_null(d);
  unsigned n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (!strncmp(e->d_name, "history.db.corrupt-", 19) && !strstr(e->d_name, "-wal")) n++;
  closedir(d);
  return n;
}

static void test_record_query_prune(void **state) {
  (void)state;
  char err[1024];
  const uint64_t day = 86400, t0 = 1790000000;
  set_now(t0);
  hist *h = hist_open(dir, 30, err, sizeof err);
  assert_non_null(h);
  assert_int_equal(hist_record(h, "assess", "", "ok", NULL), 0);
  set_now(t0 + 10 * day);
  assert_int_equal(hist_record(h, "apply", "HP-1", "failed", "target gone"), 0);
  assert_int_not_equal(hist_record(h, "frobnicate", "", "ok", NULL), 0);
  seen s = {0};
  assert_int_equal(hist_query(h, 0, collect, &s), 0);
  assert_int_equal(s.n, 2);
  assert_string_equal(s.events[0], "assess");
  assert_string_equal(s.events[1], "apply");
  memset(&s, 0, sizeof s);
  assert_int_equal(hist_query(h, t0 + 1, collect, &s), 0);
  assert_int_equal(s.n, 1);
  /* 31 days after the first entry: recording prunes it. */
  set_now(t0 + 31 * day);
  assert_int_equal(hist_record(h, "mark-good", "B1", "ok", NULL), 0);
  memset(&s, 0, sizeof s);
  assert_int_equal(hist_query(h, 0, collect, &s), 0);
  assert_int_equal(s.n, 2);
  assert_string_equal(s.events[0], "apply");
  hist_close(h);
  /* Opening prunes too (retention 5 days: only the last entry stays). */
  h = hist_open(dir, 5, err, sizeof err);
  assert_non_null(h);
  memset(&s, 0, sizeof s);
  assert_int_equal(hist_query(h, 0, collect, &s), 0);
  assert_int_equal(s.n, 1);
  assert_string_equal(s.events[0], "mark-good");
  assert_string_equal(hist_moved_aside(h), "");
  hist_close(h);
  assert_int_equal(count_corrupt_copies(), 0);
}

static void write_file(const char *path, const void *data, size_t n) {
  assert_int_equal(hpmh_write_file(path, data, n, 0644, 0, NULL), 0);
}

static void test_garbage_moved_aside(void **state) {
  (void)state;
  char path[300], err[1024];
  snprintf(path, sizeof path, "%s/history.db", dir);
  char junk[8192];
  for (size_t i = 0; i < sizeof junk; i++) junk[i] = (char)(i * 7 + 3);
  write_file(path, junk, sizeof junk);
  hist *h = hist_open(dir, 30, err, sizeof err);
  assert_non_null(h);
  assert_non_null(strstr(hist_moved_aside(h), "history.db.corrupt-"));
  /* The corrupt copy is kept byte for byte. */
  FILE *f = fopen(hist_moved_aside(h), "r");
  assert_non_null(f);
  char back[8192];
  assert_int_equal(fread(back, 1, sizeof back, f), sizeof back);
  fclose(f);
  assert_memory_equal(back, junk, sizeof junk);
  seen s = {0};
  assert_int_equal(hist_query(h, 0, collect, &s), 0);
  assert_int_equal(s.n, 0);
  assert_int_equal(hist_record(h, "assess", "", "ok", NULL), 0);
  hist_close(h);
  assert_int_equal(count_corrupt_copies(), 1);
}

static void test_truncated_moved_aside(void **state) {
  (void)state;
  char path[300], err[1024];
  snprintf(path, sizeof path, "%s/history.db", dir);
  hist *h = hist_open(dir, 30, err, sizeof err);
  assert_non_null(h);
  char big[2000];
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = 0;
  set_now((uint64_t)time(NULL));
  for (int i = 0; i < 300; i++) assert_int_equal(hist_record(h, "apply", "HP", "failed", big), 0);
  hist_close(h); /* checkpoints the WAL into the database file */
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_true(st.st_size > 200000);
  assert_int_equal(truncate(path, st.st_size / 2), 0);
  h = hist_open(dir, 30, err, sizeof err);
  assert_non_null(h);
  assert_non_null(strstr(hist_moved_aside(h), "history.db.corrupt-"));
  seen s = {0};
  assert_int_equal(hist_query(h, 0, collect, &s), 0);
  assert_int_equal(s.n, 0);
  hist_close(h);
  assert_int_equal(count_corrupt_copies(), 1);
}

/* A child records in a loop and is killed with SIGKILL at a random moment;
 * the database must open clean (never moved aside) with every committed row. */
static void test_kill_during_writes(void **state) {
  (void)state;
  char err[1024];
  srand(12345);
  for (int round = 0; round < 8; round++) {
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
      char e[1024];
      hist *h = hist_open(dir, 30, e, sizeof e);
      if (!h) _exit(3);
      for (;;) hist_record(h, "apply", "HP-kill", "ok", "loop");
    }
    usleep(20000 + (useconds_t)(rand() % 80000));
    kill(pid, SIGKILL);
    int ws;
    waitpid(pid, &ws, 0);
    assert_true(WIFSIGNALED(ws));
    hist *h = hist_open(dir, 30, err, sizeof err);
    if (!h) fail_msg("round %d: %s", round, err);
    assert_string_equal(hist_moved_aside(h), "");
    seen s = {0};
    assert_int_equal(hist_query(h, 0, collect, &s), 0);
    assert_true(s.n > 0);
    hist_close(h);
  }
  assert_int_equal(count_corrupt_copies(), 0);
}

/* ---- enrollment ---- */

static void test_enroll_state_file(void **state) {
  (void)state;
  char err[600];
  enroll_state s;
  assert_int_equal(enroll_load(dir, &s, err, sizeof err), 0);
  assert_true(s.enrolled); /* no file: enrolled */
  s.enrolled = false;
  memset(s.baseline, 0xab, sizeof s.baseline);
  s.svn_known = true;
  s.svn = 7;
  s.since = 1234;
  assert_int_equal(enroll_save(dir, &s, err, sizeof err), 0);
  enroll_state t;
  assert_int_equal(enroll_load(dir, &t, err, sizeof err), 0);
  assert_false(t.enrolled);
  assert_memory_equal(t.baseline, s.baseline, sizeof s.baseline);
  assert_true(t.svn_known);
  assert_int_equal(t.svn, 7);
  assert_int_equal(t.since, 1234);
  char path[300];
  snprintf(path, sizeof path, "%s/enrollment", dir);
  write_file(path, "hpm-enrollment 1\nenrolled=maybe\n", 32);
  assert_int_not_equal(enroll_load(dir, &t, err, sizeof err), 0);
  assert_non_null(strstr(err, path));
  assert_non_null(strstr(err, "fix"));
  write_file(path, "hpm-enrollment 1\nenrolled=no\n", 29); /* no baseline */
  assert_int_not_equal(enroll_load(dir, &t, err, sizeof err), 0);
}

static void test_enroll_rule(void **state) {
  (void)state;
  enroll_state s = {.enrolled = false, .svn_known = true, .svn = 5};
  memset(s.baseline, 0x11, sizeof s.baseline);
  hpm_running_baseline rb = {.svn_known = true, .svn = 5};
  char why[700];
  memset(rb.digest, 0x11, sizeof rb.digest);
  assert_int_equal(enroll_check(&s, &rb, NULL, why, sizeof why), ENROLL_REFUSED);
  assert_non_null(strstr(why, "1111111111111111"));
  assert_non_null(strstr(why, "newer"));
  memset(rb.digest, 0x22, sizeof rb.digest);
  rb.svn = 4; /* older SVN: not newer */
  assert_int_equal(enroll_check(&s, &rb, NULL, why, sizeof why), ENROLL_REFUSED);
  rb.svn = 5;
  assert_int_equal(enroll_check(&s, &rb, NULL, why, sizeof why), ENROLL_ALLOWED);
  /* With a catalog: release order decides, and the refusal names the next baseline. */
  hpm_catalog_entry e[3];
  memset(e, 0, sizeof e);
  for (int i = 0; i < 3; i++) {
    e[i].kind = HPM_KIND_BASELINE;
    e[i].release_time = 1000u + 100u * (unsigned)i;
    e[i].svn = 5;
    snprintf(e[i].id, sizeof e[i].id, "BL-%d", i);
    snprintf(e[i].version, sizeof e[i].version, "2026.%d", i);
  }
  memset(e[0].digest, 0x22, HPM_DIGEST_LEN); /* older than the unenroll baseline */
  memset(e[1].digest, 0x11, HPM_DIGEST_LEN);
  memset(e[2].digest, 0x33, HPM_DIGEST_LEN);
  hpm_catalog cat = {.count = 3, .entries = e};
  assert_int_equal(enroll_check(&s, &rb, &cat, why, sizeof why), ENROLL_REFUSED);
  assert_non_null(strstr(why, "BL-2 (2026.2)"));
  memset(rb.digest, 0x33, sizeof rb.digest);
  assert_int_equal(enroll_check(&s, &rb, &cat, why, sizeof why), ENROLL_ALLOWED);
  s.enrolled = true;
  assert_int_equal(enroll_check(&s, &rb, &cat, why, sizeof why), ENROLL_ALREADY);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_record_query_prune, setup, teardown),
      cmocka_unit_test_setup_teardown(test_garbage_moved_aside, setup, teardown),
      cmocka_unit_test_setup_teardown(test_truncated_moved_aside, setup, teardown),
      cmocka_unit_test_setup_teardown(test_kill_during_writes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_enroll_state_file, setup, teardown),
      cmocka_unit_test_setup_teardown(test_enroll_rule, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
