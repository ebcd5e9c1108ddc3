/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of runtime/update/decide.c, the decision engine, and the year
 * simulation: a catalog of one year of releases (quarterly planned baselines,
 * monthly hotpatches per baseline, two unplanned baselines) built in memory,
 * a clock stepped hour by hour through the year, and a host that does what
 * the decisions say (apply the hotpatch, stage the baseline, reboot when
 * told).  The expectations are computed independently of the engine: window
 * times from localtime_r in Europe/Berlin, deadlines from the release dates.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "update/decide.h"
#include "hpm/catalog.h"
#include "update/policy.h"

static uint64_t utc(int y, int mo, int d, int h, int mi) {
  struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi};
  return (uint64_t)timegm(&tm);
}

#define MAXE 32
static hpm_catalog_entry ents[MAXE];
static hpm_catalog cat;

static void cat_reset(void) {
  memset(ents, 0, sizeof ents);
  memset(&cat, 0, sizeof cat);
  cat.entries = ents;
}

static void digest_of(const char *id, uint8_t d[HPM_DIGEST_LEN]) {
  memset(d, 0, HPM_DIGEST_LEN);
  for (size_t i = 0; id[i] && i < HPM_DIGEST_LEN; i++) d[i] = (uint8_t)id[i];
  d[HPM_DIGEST_LEN - 1] = 0xd1;
}

static hpm_catalog_entry *add(const char *id, hpm_kind kind, hpm_release rel, hpm_classification cls, uint64_t when) {
  assert_true(cat.count < MAXE);
  hpm_catalog_entry *e = &ents[cat.count++];
  snprintf(e->id, sizeof e->id, "%s", id);
  e->kind = kind;
  e->release = rel;
  e->classification = cls;
  e->release_time = when;
  snprintf(e->version, sizeof e->version, "%s", id);
  e->svn = (uint32_t)cat.count;
  digest_of(id, e->digest);
  return e;
}

static void baseline(const char *id, hpm_release rel, hpm_classification cls, uint64_t when) {
  add(id, HPM_KIND_BASELINE, rel, cls, when);
}

static void hotpatch(const char *id, const char *target, uint32_t seq, hpm_classification cls, uint64_t when) {
  hpm_catalog_entry *e = add(id, HPM_KIND_HOTPATCH, HPM_RELEASE_PLANNED, cls, when);
  digest_of(target, e->target_baseline);
  e->sequence = seq;
}

static const hpm_catalog_entry *by_digest(const uint8_t d[HPM_DIGEST_LEN]) {
  for (size_t i = 0; i < cat.count; i++)
    if (!memcmp(ents[i].digest, d, HPM_DIGEST_LEN)) return &ents[i];
  return NULL;
}

static const hpm_catalog_entry *by_id(const char *id) {
  for (size_t i = 0; i < cat.count; i++)
    if (!strcmp(ents[i].id, id)) return &ents[i];
  fail_msg("no entry %s", id);
  return NULL;
}

static const decide_item *find_kind(const decide_result *r, hpm_kind k) {
  for (size_t i = 0; i < r->count; i++)
    if (r->items[i].entry->kind == k) return &r->items[i];
  return NULL;
}

/* ---- the year ------------------------------------------------------------ */

#define REL(m, d) utc(2026, m, d, 18, 0)

static void year_catalog(void) {
  cat_reset();
  baseline("B0", HPM_RELEASE_PLANNED, HPM_CLASS_SECURITY, REL(1, 6));
  hotpatch("B0-1", "B0", 1, HPM_CLASS_SECURITY, REL(2, 10));
  hotpatch("B0-2", "B0", 2, HPM_CLASS_OTHER, REL(3, 10)); /* listed only */
  baseline("B1", HPM_RELEASE_PLANNED, HPM_CLASS_SECURITY, REL(4, 7));
  hotpatch("B1-1", "B1", 1, HPM_CLASS_SECURITY, REL(5, 12));
  baseline("U1", HPM_RELEASE_UNPLANNED, HPM_CLASS_CRITICAL, REL(5, 26)); /* zero-day */
  hotpatch("B1-2", "B1", 2, HPM_CLASS_SECURITY, REL(6, 9));               /* bait: B1 is gone by then */
  hotpatch("U1-1", "U1", 1, HPM_CLASS_SECURITY, REL(6, 9));
  baseline("B2", HPM_RELEASE_PLANNED, HPM_CLASS_SECURITY, REL(7, 7));
  hotpatch("B2-1", "B2", 1, HPM_CLASS_CRITICAL, REL(8, 11));
  hotpatch("B2-2", "B2", 2, HPM_CLASS_SECURITY, REL(9, 8));
  baseline("B3", HPM_RELEASE_PLANNED, HPM_CLASS_SECURITY, REL(10, 6));
  hotpatch("B3-1", "B3", 1, HPM_CLASS_SECURITY, REL(11, 10));
  baseline("U2", HPM_RELEASE_UNPLANNED, HPM_CLASS_CRITICAL, REL(11, 24));
  hotpatch("U2-1", "U2", 1, HPM_CLASS_SECURITY, REL(12, 8));
  hotpatch("U2-2", "U2", 2, HPM_CLASS_SECURITY, REL(12, 22)); /* during the year-end blackout */
}

static hpm_policy year_policy(void) {
  hpm_policy p;
  policy_defaults(&p);
  snprintf(p.timezone, sizeof p.timezone, "Europe/Berlin");
  p.nwindows = 1;
  snprintf(p.windows[0].name, sizeof p.windows[0].name, "saturday");
  p.windows[0].days = 1u << 6;
  p.windows[0].start_min = 120;
  p.windows[0].duration_s = 3 * 3600;
  p.nblackouts = 1;
  snprintf(p.blackouts[0].name, sizeof p.blackouts[0].name, "year-end");
  p.blackouts[0].from_date = (policy_date){2026, 12, 20};
  p.blackouts[0].until_date = (policy_date){2027, 1, 2};
  p.blackouts[0].until_min = 1440;
  return p;
}

/* Independent of windows.c: Saturday 02:00-05:00 Berlin wall clock, not
 * between 2026-12-20 00:00 and 2027-01-03 00:00 Berlin. */
static bool berlin_tm(uint64_t t, struct tm *tm) {
  const char *old = getenv("TZ");
  char saved[64];
  snprintf(saved, sizeof saved, "%s", old ? old : "");
  setenv("TZ", "Europe/Berlin", 1);
  tzset();
  time_t tt = (time_t)t;
  bool ok = localtime_r(&tt, tm) != NULL;
  if (old) setenv("TZ", saved, 1);
  else unsetenv("TZ");
  tzset();
  return ok;
}

static bool in_blackout_indep(uint64_t t) {
  return t >= utc(2026, 12, 19, 23, 0) && t < utc(2027, 1, 2, 23, 0);
}

static bool in_window_indep(uint64_t t) {
  struct tm tm;
  assert_true(berlin_tm(t, &tm));
  return tm.tm_wday == 6 && tm.tm_hour >= 2 && tm.tm_hour < 5 && !in_blackout_indep(t);
}

/* First whole hour >= t that is in a window. */
static uint64_t first_window_after(uint64_t t) {
  t = (t + 3599) / 3600 * 3600;
  while (!in_window_indep(t)) t += 3600;
  return t;
}

typedef struct {
  char what[HPM_ID_MAX + 1];
  uint64_t when;
} event;

typedef struct {
  uint8_t running[HPM_DIGEST_LEN];
  uint32_t seq;
  bool staged;
  uint8_t staged_d[HPM_DIGEST_LEN];
  event applied[32], reboots[16];
  size_t napplied, nreboots;
} sim_host;

static void simulate(sim_host *h, bool enrolled, const hpm_policy *pol, uint64_t from, uint64_t to) {
  for (uint64_t now = from; now < to; now += 3600) {
    decide_host facts = {.hotpatch_seq = h->seq, .enrolled = enrolled, .has_staged = h->staged};
    memcpy(facts.baseline, h->running, HPM_DIGEST_LEN);
    memcpy(facts.staged, h->staged_d, HPM_DIGEST_LEN);
    decide_result r;
    decide(&cat, &facts, pol, NULL, now, &r);
    assert_true(r.baseline_listed);
    assert_true(r.count <= 2);
    for (size_t i = 0; i < r.count; i++) {
      const decide_item *it = &r.items[i];
      const hpm_catalog_entry *e = it->entry;
      assert_true(e->release_time <= now);
      if (e->kind == HPM_KIND_HOTPATCH) {
        if (!enrolled) fail_msg("unenrolled host offered hotpatch %s", e->id);
        if (memcmp(e->target_baseline, h->running, HPM_DIGEST_LEN))
          fail_msg("hotpatch %s offered for the wrong baseline (running %s)", e->id, by_digest(h->running)->id);
        assert_true(e->sequence > h->seq);
        assert_false(it->needs_reboot);
        if (it->install_now) {
          assert_false(in_blackout_indep(now));
          h->seq = e->sequence;
          assert_true(h->napplied < 32);
          snprintf(h->applied[h->napplied].what, sizeof h->applied[0].what, "%s", e->id);
          h->applied[h->napplied++].when = now;
        }
      } else {
        assert_true(it->needs_reboot);
        if (it->install_now) {
          h->staged = true;
          memcpy(h->staged_d, e->digest, HPM_DIGEST_LEN);
        }
        if (it->reboot_now) {
          if (!in_window_indep(now)) fail_msg("reboot into %s outside a window at %llu", e->id, (unsigned long long)now);
          assert_true(h->staged);
          assert_memory_equal(h->staged_d, e->digest, HPM_DIGEST_LEN);
          memcpy(h->running, e->digest, HPM_DIGEST_LEN);
          h->seq = 0;
          h->staged = false;
          assert_true(h->nreboots < 16);
          snprintf(h->reboots[h->nreboots].what, sizeof h->reboots[0].what, "%s", e->id);
          h->reboots[h->nreboots++].when = now;
        } else if (it->install_now || it->already_staged) {
          assert_true(it->reboot_at_valid);
          assert_true(it->reboot_at > now);
        }
      }
    }
  }
}

static void expect_event(const event *ev, size_t n, size_t i, const char *what, uint64_t when) {
  if (i >= n) fail_msg("expected event %zu (%s) but only %zu happened", i, what, n);
  if (strcmp(ev[i].what, what) || ev[i].when != when)
    fail_msg("event %zu: expected %s at %llu, got %s at %llu", i, what, (unsigned long long)when, ev[i].what,
             (unsigned long long)ev[i].when);
}

/* The year's catalog; a host running B0 whose year (2026-01-07 to
 * 2027-01-08) under the year's policy is simulated. */
static void simulate_year(sim_host *h, bool enrolled) {
  year_catalog();
  hpm_policy pol = year_policy();
  memset(h, 0, sizeof *h);
  memcpy(h->running, by_id("B0")->digest, HPM_DIGEST_LEN);
  simulate(h, enrolled, &pol, utc(2026, 1, 7, 0, 0), utc(2027, 1, 8, 0, 0));
}

static void test_year_enrolled(void **state) {
  (void)state;
  sim_host h;
  simulate_year(&h, true);

  /* Baselines: each one, in a window right after its release. */
  const char *order[] = {"B1", "U1", "B2", "B3", "U2"};
  assert_int_equal(h.nreboots, 5);
  for (size_t i = 0; i < 5; i++) {
    const hpm_catalog_entry *b = by_id(order[i]);
    expect_event(h.reboots, h.nreboots, i, order[i], first_window_after(b->release_time));
    assert_true(h.reboots[i].when <= b->release_time + 30u * 86400u); /* deadline */
  }
  /* Hotpatches: auto (security/critical) ones at release; B0-2 (other) never;
   * B1-2 (for B1, released after U1 replaced it) never; U2-2 after the blackout. */
  const char *hp[] = {"B0-1", "B1-1", "U1-1", "B2-1", "B2-2", "B3-1", "U2-1", "U2-2"};
  assert_int_equal(h.napplied, 8);
  for (size_t i = 0; i < 7; i++) expect_event(h.applied, h.napplied, i, hp[i], by_id(hp[i])->release_time);
  expect_event(h.applied, h.napplied, 7, "U2-2", utc(2027, 1, 2, 23, 0));
  assert_memory_equal(h.running, by_id("U2")->digest, HPM_DIGEST_LEN);
  assert_int_equal(h.seq, 2);
}

static void test_year_unenrolled(void **state) {
  (void)state;
  sim_host h;
  simulate_year(&h, false);
  assert_int_equal(h.napplied, 0);
  const char *order[] = {"B1", "U1", "B2", "B3", "U2"};
  assert_int_equal(h.nreboots, 5);
  for (size_t i = 0; i < 5; i++)
    expect_event(h.reboots, h.nreboots, i, order[i], first_window_after(by_id(order[i])->release_time));
}

/* No windows: a required baseline is rebooted into when its deadline passes. */
static void test_year_no_windows_deadline(void **state) {
  (void)state;
  year_catalog();
  hpm_policy pol;
  policy_defaults(&pol);
  pol.deadline_days = 10;
  /* Not the windows check of simulate(): call decide directly. */
  uint64_t rebooted = 0;
  for (uint64_t now = utc(2026, 4, 1, 0, 0); now < utc(2026, 6, 1, 0, 0) && !rebooted; now += 3600) {
    decide_host f = {.enrolled = true, .hotpatch_seq = 1};
    memcpy(f.baseline, by_id("B0")->digest, HPM_DIGEST_LEN);
    decide_result r;
    decide(&cat, &f, &pol, NULL, now, &r);
    const decide_item *b = find_kind(&r, HPM_KIND_BASELINE);
    if (b && b->reboot_now) rebooted = now;
    else if (b) assert_int_equal(b->reboot_at, b->deadline);
  }
  assert_int_equal(rebooted, REL(4, 7) + 10u * 86400u);
}

/* ---- single decisions --------------------------------------------------- */

static void small_catalog(void) {
  cat_reset();
  baseline("B0", HPM_RELEASE_PLANNED, HPM_CLASS_SECURITY, REL(1, 6));
  hotpatch("B0-1", "B0", 1, HPM_CLASS_SECURITY, REL(2, 10));
  hotpatch("B0-2", "B0", 2, HPM_CLASS_OTHER, REL(3, 10));
  baseline("B1", HPM_RELEASE_PLANNED, HPM_CLASS_SECURITY, REL(4, 7));
}

static decide_host host_on(const char *id, uint32_t seq, bool enrolled) {
  decide_host f;
  memset(&f, 0, sizeof f);
  memcpy(f.baseline, by_id(id)->digest, HPM_DIGEST_LEN);
  f.hotpatch_seq = seq;
  f.enrolled = enrolled;
  return f;
}

static void test_cumulative_and_other(void **state) {
  (void)state;
  small_catalog();
  hpm_policy pol;
  policy_defaults(&pol);
  decide_host f = host_on("B0", 0, true);
  decide_result r;
  /* Mid-March: B0-2 (other) is the newest: offered but only listed. */
  decide(&cat, &f, &pol, NULL, REL(3, 15), &r);
  assert_int_equal(r.count, 1);
  assert_string_equal(r.items[0].entry->id, "B0-2");
  assert_false(r.items[0].install_now);
  assert_non_null(strstr(r.items[0].reason, "listed only"));
  assert_non_null(strstr(r.items[0].reason, "--include B0-2"));
  /* Future entries do not count: on Feb 11 B0-1 is the newest. */
  decide(&cat, &f, &pol, NULL, REL(2, 11), &r);
  assert_int_equal(r.count, 1);
  assert_string_equal(r.items[0].entry->id, "B0-1");
  assert_true(r.items[0].install_now);
  assert_int_equal(r.items[0].deadline, REL(2, 10) + 30u * 86400u);
  /* Already at 2: nothing. */
  f.hotpatch_seq = 2;
  decide(&cat, &f, &pol, NULL, REL(3, 15), &r);
  assert_int_equal(r.count, 0);
  /* B0-1 reverted for its health here: shown, never installed, not even on demand */
  f.hotpatch_seq = 0;
  f.bad[f.nbad++] = 1;
  decide(&cat, &f, &pol, NULL, REL(2, 11), &r);
  assert_int_equal(r.count, 1);
  assert_true(r.items[0].bad);
  assert_false(r.items[0].install_now);
  assert_non_null(strstr(r.items[0].reason, "marked bad on this host"));
  const char *inc[] = {"B0-1"};
  decide_request req = {.on_demand = true, .include = inc, .ninclude = 1, .reboot = -1};
  decide(&cat, &f, &pol, &req, REL(2, 11), &r);
  assert_false(r.items[0].install_now);
  /* a newer sequence is not held back by the older one's mark */
  pol.auto_classes |= POLICY_CLASS_BIT(HPM_CLASS_OTHER);
  decide(&cat, &f, &pol, NULL, REL(3, 15), &r);
  assert_string_equal(r.items[0].entry->id, "B0-2");
  assert_false(r.items[0].bad);
  assert_true(r.items[0].install_now);
}

static void test_optional_baseline(void **state) {
  (void)state;
  small_catalog();
  /* A B0 hotpatch after B1: B0's chain goes on, B1 is optional. */
  hotpatch("B0-3", "B0", 3, HPM_CLASS_SECURITY, REL(4, 14));
  hpm_policy pol;
  policy_defaults(&pol);
  decide_host f = host_on("B0", 2, true);
  decide_result r;
  decide(&cat, &f, &pol, NULL, REL(4, 8), &r);
  const decide_item *b = find_kind(&r, HPM_KIND_BASELINE);
  assert_non_null(b);
  assert_true(b->required); /* on Apr 8 B0-3 is not out yet: the chain has ended */
  decide(&cat, &f, &pol, NULL, REL(4, 15), &r);
  b = find_kind(&r, HPM_KIND_BASELINE);
  assert_non_null(b);
  assert_false(b->required);
  assert_false(b->install_now);
  assert_non_null(strstr(b->reason, "optional"));
  const decide_item *hp = find_kind(&r, HPM_KIND_HOTPATCH);
  assert_non_null(hp);
  assert_string_equal(hp->entry->id, "B0-3");
  /* Unenrolled: the same baseline is required, no hotpatch. */
  f.enrolled = false;
  f.has_unenrolled_at = true;
  memcpy(f.unenrolled_at, by_id("B0")->digest, HPM_DIGEST_LEN);
  decide(&cat, &f, &pol, NULL, REL(4, 15), &r);
  assert_int_equal(r.count, 1);
  assert_true(r.items[0].required);
  assert_true(r.items[0].install_now);
  assert_non_null(strstr(r.items[0].reason, "hpm enroll"));
}

static void test_on_demand_filters(void **state) {
  (void)state;
  small_catalog();
  hpm_policy pol;
  policy_defaults(&pol);
  pol.reboot = REBOOT_NEVER;
  decide_host f = host_on("B0", 1, true);
  decide_result r;
  const char *inc[] = {"B0-2"};
  decide_request req = {.on_demand = true, .include = inc, .ninclude = 1, .reboot = -1};
  decide(&cat, &f, &pol, &req, REL(3, 15), &r);
  assert_int_equal(r.count, 1);
  assert_true(r.items[0].install_now);
  req = (decide_request){.on_demand = true, .classes = POLICY_CLASS_BIT(HPM_CLASS_OTHER), .reboot = -1};
  decide(&cat, &f, &pol, &req, REL(3, 15), &r);
  assert_true(r.items[0].install_now);
  const char *exc[] = {"B0-2"};
  req.exclude = exc;
  req.nexclude = 1;
  decide(&cat, &f, &pol, &req, REL(3, 15), &r);
  assert_false(r.items[0].install_now);
  assert_true(r.items[0].excluded);
  /* reboot=always on demand: a hotpatch asks for a reboot too. */
  req = (decide_request){.on_demand = true, .include = inc, .ninclude = 1, .reboot = REBOOT_ALWAYS};
  decide(&cat, &f, &pol, &req, REL(3, 15), &r);
  assert_true(r.items[0].needs_reboot);
  assert_true(r.items[0].reboot_now);
  req.reboot = REBOOT_IF_REQUIRED;
  decide(&cat, &f, &pol, &req, REL(3, 15), &r);
  assert_false(r.items[0].needs_reboot);
  assert_false(r.items[0].reboot_now);
  /* On demand, baseline: staged now; reboot follows the request's mode. */
  req = (decide_request){.on_demand = true, .reboot = REBOOT_IF_REQUIRED};
  decide(&cat, &f, &pol, &req, REL(4, 8), &r);
  const decide_item *b = find_kind(&r, HPM_KIND_BASELINE);
  assert_true(b->install_now);
  assert_true(b->reboot_now);
  req.reboot = -1; /* the policy's: never */
  decide(&cat, &f, &pol, &req, REL(4, 8), &r);
  b = find_kind(&r, HPM_KIND_BASELINE);
  assert_true(b->install_now);
  assert_false(b->reboot_now);
  assert_non_null(strstr(b->reason, "reboot=never"));
}

static void test_unlisted_baseline_and_outside_windows(void **state) {
  (void)state;
  small_catalog();
  hpm_policy pol = year_policy();
  decide_host f;
  memset(&f, 0, sizeof f);
  memset(f.baseline, 0x77, sizeof f.baseline);
  f.enrolled = true;
  decide_result r;
  decide(&cat, &f, &pol, NULL, REL(4, 8), &r);
  assert_false(r.baseline_listed);
  assert_int_equal(r.count, 1);
  assert_string_equal(r.items[0].entry->id, "B1");
  assert_true(r.items[0].required);
  /* hotpatch_outside_windows=no: waits for the Saturday window unless overdue. */
  pol.hotpatch_outside_windows = false;
  f = host_on("B0", 0, true);
  decide(&cat, &f, &pol, NULL, REL(2, 10), &r); /* a Tuesday */
  assert_false(r.items[0].install_now);
  decide(&cat, &f, &pol, NULL, utc(2026, 2, 14, 1, 30), &r); /* Sat 02:30 CET */
  assert_true(r.items[0].install_now);
  pol.deadline_days = 20;
  decide(&cat, &f, &pol, NULL, REL(2, 10) + 20u * 86400u - 3600u, &r); /* a Monday, no window */
  assert_false(r.items[0].overdue);
  assert_false(r.items[0].install_now);
  decide(&cat, &f, &pol, NULL, REL(2, 10) + 20u * 86400u, &r);
  assert_string_equal(r.items[0].entry->id, "B0-1");
  assert_true(r.items[0].overdue);
  assert_true(r.items[0].install_now);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cumulative_and_other),
      cmocka_unit_test(test_optional_baseline),
      cmocka_unit_test(test_on_demand_filters),
      cmocka_unit_test(test_unlisted_baseline_and_outside_windows),
      cmocka_unit_test(test_year_enrolled),
      cmocka_unit_test(test_year_unenrolled),
      cmocka_unit_test(test_year_no_windows_deadline),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
