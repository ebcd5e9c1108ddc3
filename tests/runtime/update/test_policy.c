/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of runtime/update/policy.c (the hpm.conf parser) and
 * runtime/update/windows.c (maintenance windows and blackouts, across DST
 * changes in Europe/Berlin and America/New_York).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "hpm/core.h"
#include <sys/stat.h>

#include "update/policy.h"
#include "update/windows.h"

static char conf_path[64];

static const char *write_conf(const char *text) {
  snprintf(conf_path, sizeof conf_path, "/tmp/hpm-test-policy-%d.conf", (int)getpid());
  FILE *f = fopen(conf_path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
  return conf_path;
}

static int teardown(void **state) {
  (void)state;
  if (conf_path[0]) unlink(conf_path);
  return 0;
}

/* UTC instant of a UTC calendar time. */
static uint64_t utc(int y, int mo, int d, int h, int mi) {
  struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi};
  return (uint64_t)timegm(&tm);
}

static void test_defaults_and_missing(void **state) {
  (void)state;
  hpm_policy p;
  char err[512] = "";
  assert_int_equal(policy_load("/nonexistent/hpm.conf", &p, err, sizeof err), POLICY_MISSING);
  assert_int_equal(p.deadline_days, 30);
  assert_int_equal(p.retention_days, 30);
  assert_int_equal(p.assess_interval_hours, 24);
  assert_true(p.hotpatch_outside_windows);
  assert_int_equal(p.reboot, REBOOT_IF_REQUIRED);
  assert_int_equal(p.auto_classes, POLICY_CLASS_BIT(HPM_CLASS_CRITICAL) | POLICY_CLASS_BIT(HPM_CLASS_SECURITY));
  assert_int_equal(p.nwindows, 0);
}

static void test_full_file(void **state) {
  (void)state;
  hpm_policy p;
  char err[512] = "";
  const char *path = write_conf(
      "; hpm policy\n"
      "[update]\n"
      "source = https://updates.example/catalog\n"
      "auto_classifications = critical, security, other\n"
      "deadline_days = 14\n"
      "hotpatch_outside_windows = no\n"
      "assess_interval_hours = 6\n"
      "assess_jitter_minutes = 15\n"
      "reboot = always\n"
      "timezone = Europe/Berlin\n"
      "[history]\n"
      "retention_days = 90\n"
      "[window \"weekend\"]\n"
      "days = Sat,Sun\n"
      "start = 02:00\n"
      "duration = 3h\n"
      "[window \"xmas\"]\n"
      "date = 2026-12-24\n"
      "start = 22:30\n"
      "duration = 1h30m\n"
      "[blackout \"freeze\"]\n"
      "from = 2026-12-20\n"
      "until = \"2027-01-02 06:00\"\n");
  assert_int_equal(policy_load(path, &p, err, sizeof err), POLICY_OK);
  assert_string_equal(p.source, "https://updates.example/catalog");
  assert_int_equal(p.auto_classes, 0xe);
  assert_int_equal(p.deadline_days, 14);
  assert_false(p.hotpatch_outside_windows);
  assert_int_equal(p.assess_interval_hours, 6);
  assert_int_equal(p.assess_jitter_minutes, 15);
  assert_int_equal(p.reboot, REBOOT_ALWAYS);
  assert_string_equal(p.timezone, "Europe/Berlin");
  assert_int_equal(p.retention_days, 90);
  assert_int_equal(p.nwindows, 2);
  assert_string_equal(p.windows[0].name, "weekend");
  assert_false(p.windows[0].dated);
  assert_int_equal(p.windows[0].days, (1 << 6) | 1);
  assert_int_equal(p.windows[0].start_min, 120);
  assert_int_equal(p.windows[0].duration_s, 3 * 3600);
  assert_true(p.windows[1].dated);
  assert_int_equal(p.windows[1].date.day, 24);
  assert_int_equal(p.windows[1].duration_s, 5400);
  assert_int_equal(p.nblackouts, 1);
  assert_int_equal(p.blackouts[0].until_min, 360);
}

/* Each bad file must be refused with the line and the key named. */
static void expect_error(const char *text, const char *must1, const char *must2) {
  hpm_policy p;
  char err[512] = "";
  const char *path = write_conf(text);
  if (policy_load(path, &p, err, sizeof err) != POLICY_ERROR) fail_msg("accepted: %s", text);
  if (!strstr(err, must1) || (must2 && !strstr(err, must2))) fail_msg("error '%s' lacks '%s' / '%s'", err, must1, must2 ? must2 : "");
  assert_non_null(strstr(err, path));
}

/* '#' comments after values, a header without ']', [paths], drop-ins. */
static void test_syntax_and_dropins(void **state) {
  (void)state;
  hpm_policy p;
  char err[512] = "", dir[96], f[160];
  const char *path = write_conf("[update]\nsource = /m/#x  # mirror\ndeadline_days = 9\n[paths]\nesp = /efi\n");
  assert_int_equal(policy_load(path, &p, err, sizeof err), POLICY_OK);
  assert_string_equal(p.source, "/m/#x");
  assert_string_equal(p.esp, "/efi");
  assert_string_equal(p.state_dir, "");
  expect_error("[update\nsource = /m\n", ":1:", "needs its closing ]");
  expect_error("[paths]\nesp = efi\n", ":2:", "absolute directory path");
  expect_error("[paths]\nroot = /\n", ":2:", "the keys are esp, state_dir, trust_dir and cache_dir");
  /* drop-ins: lexical order, later keys win, window names unique */
  path = write_conf("[update]\ndeadline_days = 9\n[window \"w\"]\ndays = Sat\nstart = 01:00\nduration = 1h\n");
  snprintf(dir, sizeof dir, "%s.d", path);
  assert_int_equal(mkdir(dir, 0700), 0);
  snprintf(f, sizeof f, "%s/b.conf", dir);
  FILE *o = fopen(f, "w");
  assert_non_null(o);
  fputs("[update]\ndeadline_days = 3\n", o);
  fclose(o);
  snprintf(f, sizeof f, "%s/a.conf", dir);
  assert_non_null(o = fopen(f, "w"));
  fputs("[update]\ndeadline_days = 5\n[window \"v\"]\ndays = Sun\nstart = 01:00\nduration = 1h\n", o);
  fclose(o);
  assert_int_equal(policy_load(path, &p, err, sizeof err), POLICY_OK);
  assert_int_equal(p.deadline_days, 3);
  assert_int_equal(p.nwindows, 2);
  assert_non_null(o = fopen(f, "w"));
  fputs("[window \"w\"]\ndays = Sun\nstart = 01:00\nduration = 1h\n", o);
  fclose(o);
  assert_int_equal(policy_load(path, &p, err, sizeof err), POLICY_ERROR);
  assert_non_null(strstr(err, "a.conf:"));
  assert_non_null(strstr(err, "appears twice"));
  unlink(f);
  snprintf(f, sizeof f, "%s/b.conf", dir);
  unlink(f);
  rmdir(dir);
  /* a directory is not a policy file */
  assert_int_equal(policy_load("/tmp", &p, err, sizeof err), POLICY_ERROR);
  assert_non_null(strstr(err, "is a directory"));
}

static void test_errors(void **state) {
  (void)state;
  expect_error("[update]\ndeadline_days = 30\nfrobnicate = 1\n", ":3:", "frobnicate: unknown key");
  expect_error("[update]\ndeadline_days = soon\n", ":2:", "deadline_days");
  expect_error("[update]\ndeadline_days = 400\n", ":2:", "0..365");
  expect_error("[updates]\nsource=x\n", "unknown section", "[updates]");
  expect_error("[update]\nreboot = maybe\n", ":2:", "never, if-required or always");
  expect_error("[update]\nauto_classifications = critical,urgent\n", ":2:", "auto_classifications");
  expect_error("[update]\ntimezone = Mars/Olympus\n", ":2:", "timezone");
  expect_error("[update]\ntimezone = ../../etc/passwd\n", ":2:", "timezone");
  expect_error("[history]\nkeep = 3\n", ":2:", "retention_days");
  expect_error("[window \"a\"]\ndays = Mon,Funday\n", ":2:", "days");
  expect_error("[window \"a\"]\nstart = 25:00\n", ":2:", "HH:MM");
  expect_error("[window \"a\"]\nduration = 3 hours\n", ":2:", "duration");
  expect_error("[window \"a\"]\ndays = Mon\ndate = 2026-01-01\n", ":3:", "not both");
  expect_error("[window \"a\"]\ndate = 2026-02-30\n", ":2:", "YYYY-MM-DD");
  expect_error("[window \"a\"]\ndays=Mon\nstart=02:00\nduration=3h\n[window \"a\"]\ndays=Tue\n", "appears twice", NULL);
  expect_error("[window \"a\"]\ndays=Mon\nstart=02:00\n", "needs start", "duration");
  expect_error("[window \"a\"]\ndays=Mon\nstart=02:00\nduration=25h\n", "at most 24h", NULL);
  expect_error("[window]\ndays=Mon\n", "needs a name", NULL);
  expect_error("[blackout \"b\"]\nfrom=2026-12-20\n", "needs from= and until=", NULL);
  expect_error("[blackout \"b\"]\nfrom=2026-12-20\nuntil=2026-12-01\n", "after from=", NULL);
  expect_error("source = x\n", "outside any section", NULL);
  expect_error("[update]\nsource = ftp://x/\n", ":2:", "https://");
  expect_error("[update]\nthis line is not ini\n", ":2:", "INI");
  expect_error("[update]\nreboot = never\ndeadline_days = 3\nreboot = always\n", ":4:", "reboot: set twice");
  expect_error("[health]\nwindow = soon\n", ":2:", "[health] window: 'soon'");
  expect_error("[health]\nwindow = 8d\n", ":2:", "at most 7d");
  expect_error("[health]\ninterval = 0\n", ":2:", "[health] interval");
  expect_error("[health]\ncheck_timeout = 2h\n", ":2:", "1s..1h");
  expect_error("[health]\nchecks = health.d\n", ":2:", "absolute directory path");
  expect_error("[health]\nwatch = yes\n", ":2:", "the keys are window, interval, check_timeout, checks, units, crash_loop");
  expect_error("[health]\nunits = maybe\n", ":2:", "[health] units: 'maybe': expected yes or no");
  expect_error("[health]\nkernel_log = maybe\n", ":2:", "[health] kernel_log: 'maybe': expected yes or no");
  expect_error("[health]\ncrash_loop = many\n", ":2:", "0..1000 (0: never)");
}

static void test_health_section(void **state) {
  (void)state;
  char err[512];
  hpm_policy p;
  assert_int_equal(policy_load(write_conf("[update]\ndeadline_days = 3\n"), &p, err, sizeof err), POLICY_OK);
  assert_int_equal(p.health_window_s, 300);
  assert_int_equal(p.health_interval_s, 30);
  assert_int_equal(p.health_script_timeout_s, 30);
  assert_string_equal(p.health_dir, "/etc/hpm/health.d");
  assert_int_equal(p.crash_loop, 3);
  assert_int_equal(p.crash_loop_period_s, 600);
  assert_true(p.health_units);
  assert_int_equal(policy_load(write_conf("[health]\nunits = no\n"), &p, err, sizeof err), POLICY_OK);
  assert_false(p.health_units);
  const char *path = write_conf("[health]\nwindow = 1m30s\ninterval = 10s\ncheck_timeout = 2m\nchecks = /srv/hc\n");
  assert_int_equal(policy_load(path, &p, err, sizeof err), POLICY_OK);
  assert_int_equal(p.health_window_s, 90);
  assert_int_equal(p.health_interval_s, 10);
  assert_int_equal(p.health_script_timeout_s, 120);
  assert_string_equal(p.health_dir, "/srv/hc");
  assert_int_equal(policy_load(write_conf("[health]\nwindow = 0\n"), &p, err, sizeof err), POLICY_OK);
  assert_int_equal(p.health_window_s, 0); /* committed at once */
}

static void test_value_parsers(void **state) {
  (void)state;
  uint32_t s;
  assert_int_equal(policy_parse_duration("3h", &s), 0);
  assert_int_equal(s, 10800);
  assert_int_equal(policy_parse_duration("1h30m", &s), 0);
  assert_int_equal(s, 5400);
  assert_int_equal(policy_parse_duration("2d", &s), 0);
  assert_int_equal(s, 172800);
  assert_int_not_equal(policy_parse_duration("30m1h", &s), 0);
  assert_int_not_equal(policy_parse_duration("", &s), 0);
  assert_int_not_equal(policy_parse_duration("0m", &s), 0);
  assert_int_not_equal(policy_parse_duration("h", &s), 0);
  assert_int_equal(policy_parse_duration("45s", &s), 0);
  assert_int_equal(s, 45);
  assert_int_equal(policy_parse_duration("1h30m15s", &s), 0);
  assert_int_equal(s, 5415);
  assert_int_not_equal(policy_parse_duration("15s1m", &s), 0);
  policy_date d;
  assert_int_equal(policy_parse_date("2028-02-29", &d), 0);
  assert_int_not_equal(policy_parse_date("2027-02-29", &d), 0);
  assert_int_not_equal(policy_parse_date("2027-1-01", &d), 0);
  char buf[64];
  policy_format_classes(POLICY_CLASS_BIT(HPM_CLASS_SECURITY) | POLICY_CLASS_BIT(HPM_CLASS_OTHER), buf, sizeof buf);
  assert_string_equal(buf, "security,other");
}

static void test_next_assessment(void **state) {
  (void)state;
  hpm_policy p;
  policy_defaults(&p);
  uint64_t lo = UINT64_MAX, hi = 0, last = 1790000000;
  for (uint64_t seed = 0; seed < 200; seed++) {
    uint64_t t = policy_next_assessment(&p, last, seed);
    assert_true(t >= last + 24 * 3600 && t <= last + 24 * 3600 + 3600);
    assert_int_equal(t, policy_next_assessment(&p, last, seed));
    if (t < lo) lo = t;
    if (t > hi) hi = t;
  }
  assert_true(hi - lo > 1800); /* hosts are spread over the jitter */
  p.assess_jitter_minutes = 0;
  p.assess_interval_hours = 6;
  assert_int_equal(policy_next_assessment(&p, last, 42), last + 6 * 3600);
}

static hpm_policy one_window(const char *tz, uint8_t days, int start_min, uint32_t dur) {
  hpm_policy p;
  policy_defaults(&p);
  snprintf(p.timezone, sizeof p.timezone, "%s", tz);
  p.nwindows = 1;
  snprintf(p.windows[0].name, sizeof p.windows[0].name, "w");
  p.windows[0].days = days;
  p.windows[0].start_min = start_min;
  p.windows[0].duration_s = dur;
  return p;
}

/* The window status of p at t (which must be computable). */
static win_status at(const hpm_policy *p, uint64_t t) {
  win_status st;
  assert_int_equal(win_status_at(p, t, &st), 0);
  return st;
}

/* Europe/Berlin: 2026-03-29 02:00 CET -> 03:00 CEST; 2026-10-25 03:00 CEST -> 02:00 CET. */
static void test_berlin_dst(void **state) {
  (void)state;
  win_status st;
  /* A Sunday 02:30 window for 1 h. */
  hpm_policy p = one_window("Europe/Berlin", 1u << 0, 150, 3600);
  /* Ordinary Sunday before: 2026-03-22 02:30 CET = 01:30 UTC. */
  st = at(&p, utc(2026, 3, 22, 0, 0));
  assert_false(st.open);
  assert_true(st.next_valid);
  assert_int_equal(st.next_open, utc(2026, 3, 22, 1, 30));
  /* Spring forward: 02:30 does not exist; the window opens at 03:30 CEST = 01:30 UTC. */
  assert_int_equal(at(&p, utc(2026, 3, 28, 12, 0)).next_open, utc(2026, 3, 29, 1, 30));
  assert_false(at(&p, utc(2026, 3, 29, 1, 29)).open);
  st = at(&p, utc(2026, 3, 29, 1, 30));
  assert_true(st.open);
  assert_int_equal(st.open_until, utc(2026, 3, 29, 2, 30));
  /* The Sunday after: 02:30 CEST = 00:30 UTC. */
  st = at(&p, utc(2026, 3, 29, 3, 0));
  assert_false(st.open);
  assert_int_equal(st.next_open, utc(2026, 4, 5, 0, 30));
  /* Autumn: 02:30 happens twice; the window opens once, at the first (CEST, 00:30 UTC). */
  assert_int_equal(at(&p, utc(2026, 10, 24, 12, 0)).next_open, utc(2026, 10, 25, 0, 30));
  assert_true(at(&p, utc(2026, 10, 25, 1, 29)).open); /* elapsed hour: 00:30..01:30 UTC */
  st = at(&p, utc(2026, 10, 25, 1, 30));
  assert_false(st.open); /* the second 02:30 (CET) does not reopen it */
  assert_int_equal(st.next_open, utc(2026, 11, 1, 1, 30));
  /* A 3 h window from 01:00 across spring forward lasts 3 elapsed hours. */
  p = one_window("Europe/Berlin", 1u << 0, 60, 3 * 3600);
  st = at(&p, utc(2026, 3, 29, 0, 0));
  assert_true(st.open);
  assert_int_equal(st.open_until, utc(2026, 3, 29, 3, 0));
}

/* America/New_York: 2026-03-08 02:00 EST -> 03:00 EDT; 2026-11-01 02:00 EDT -> 01:00 EST. */
static void test_new_york_dst(void **state) {
  (void)state;
  hpm_policy p = one_window("America/New_York", 1u << 0, 150, 3600); /* Sun 02:30 */
  assert_int_equal(at(&p, utc(2026, 3, 7, 12, 0)).next_open, utc(2026, 3, 8, 7, 30)); /* 03:30 EDT */
  p = one_window("America/New_York", 1u << 0, 90, 3600);   /* Sun 01:30: repeated in November */
  /* 01:30 EDT, the first one; 01:30 EST, the second one, is not a window */
  assert_int_equal(at(&p, utc(2026, 10, 31, 12, 0)).next_open, utc(2026, 11, 1, 5, 30));
  assert_false(at(&p, utc(2026, 11, 1, 6, 30)).open);
  /* Ordinary days each side keep their local time. */
  p = one_window("America/New_York", 0x7f, 23 * 60, 3600); /* daily 23:00 */
  assert_int_equal(at(&p, utc(2026, 3, 7, 12, 0)).next_open, utc(2026, 3, 8, 4, 0)); /* Mar 7 23:00 EST */
  assert_int_equal(at(&p, utc(2026, 3, 8, 12, 0)).next_open, utc(2026, 3, 9, 3, 0)); /* Mar 8 23:00 EDT */
}

static void test_local_to_utc(void **state) {
  (void)state;
  hpm_policy p;
  policy_defaults(&p);
  snprintf(p.timezone, sizeof p.timezone, "Europe/Berlin");
  win_tz tz;
  win_tz_push(&p, &tz);
  assert_int_equal(win_local_to_utc(2026, 7, 1, 12 * 60), (int64_t)utc(2026, 7, 1, 10, 0));
  assert_int_equal(win_local_to_utc(2026, 1, 1, 12 * 60), (int64_t)utc(2026, 1, 1, 11, 0));
  assert_int_equal(win_local_to_utc(2026, 3, 29, 150), (int64_t)utc(2026, 3, 29, 1, 30));
  assert_int_equal(win_local_to_utc(2026, 10, 25, 150), (int64_t)utc(2026, 10, 25, 0, 30));
  assert_int_equal(win_local_to_utc(2026, 12, 31, 1440), (int64_t)utc(2026, 12, 31, 23, 0));
  win_tz_pop(&tz);
  assert_null(getenv("TZ") && !strcmp(getenv("TZ"), "Europe/Berlin") ? "leaked" : NULL);
}

static void test_blackout_and_dated(void **state) {
  (void)state;
  hpm_policy p = one_window("Europe/Berlin", 1u << 6, 120, 3 * 3600); /* Sat 02:00-05:00 */
  p.nblackouts = 1;
  snprintf(p.blackouts[0].name, sizeof p.blackouts[0].name, "freeze");
  p.blackouts[0].from_date = (policy_date){2026, 12, 20};
  p.blackouts[0].from_min = 0;
  p.blackouts[0].until_date = (policy_date){2027, 1, 2};
  p.blackouts[0].until_min = 1440; /* through Jan 2 */
  win_status st;
  /* Sat 2026-12-26 03:00 CET is in a window but blacked out; next: Sat 2027-01-09 02:00 CET (Jan 2 is blacked out). */
  st = at(&p, utc(2026, 12, 26, 2, 0));
  assert_false(st.open);
  assert_non_null(st.blackout);
  assert_int_equal(st.blackout_until, utc(2027, 1, 2, 23, 0));
  assert_true(st.next_valid);
  assert_int_equal(st.next_open, utc(2027, 1, 9, 1, 0));
  assert_true(win_in_blackout(&p, utc(2026, 12, 19, 23, 0), NULL));
  assert_false(win_in_blackout(&p, utc(2026, 12, 19, 22, 59), NULL));
  /* A blackout starting inside an open window closes it early. */
  p.blackouts[0].from_date = (policy_date){2026, 12, 19};
  p.blackouts[0].from_min = 4 * 60;
  st = at(&p, utc(2026, 12, 19, 1, 30));
  assert_true(st.open);
  assert_int_equal(st.open_until, utc(2026, 12, 19, 3, 0));
  /* A blackout mid-window: the window reopens when it ends. */
  p.blackouts[0].from_date = (policy_date){2026, 11, 7};
  p.blackouts[0].from_min = 2 * 60;
  p.blackouts[0].until_date = (policy_date){2026, 11, 7};
  p.blackouts[0].until_min = 3 * 60;
  assert_int_equal(at(&p, utc(2026, 11, 6, 12, 0)).next_open, utc(2026, 11, 7, 2, 0));
  /* Dated window only. */
  hpm_policy q = one_window("UTC", 0, 22 * 60 + 30, 5400);
  q.windows[0].dated = true;
  q.windows[0].date = (policy_date){2026, 12, 24};
  assert_int_equal(at(&q, utc(2026, 12, 1, 0, 0)).next_open, utc(2026, 12, 24, 22, 30));
  assert_true(at(&q, utc(2026, 12, 24, 23, 59)).open);
  st = at(&q, utc(2026, 12, 25, 0, 0));
  assert_false(st.open);
  assert_false(st.next_valid);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_defaults_and_missing, teardown),
      cmocka_unit_test_teardown(test_full_file, teardown),
      cmocka_unit_test_teardown(test_errors, teardown),
      cmocka_unit_test_teardown(test_health_section, teardown),
      cmocka_unit_test_teardown(test_syntax_and_dropins, teardown),
      cmocka_unit_test(test_value_parsers),
      cmocka_unit_test(test_next_assessment),
      cmocka_unit_test(test_berlin_dst),
      cmocka_unit_test(test_new_york_dst),
      cmocka_unit_test(test_local_to_utc),
      cmocka_unit_test(test_blackout_and_dated),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
