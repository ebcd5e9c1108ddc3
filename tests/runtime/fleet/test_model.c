/* SPDX-License-Identifier: MIT */
/* The rollout model's pure logic (runtime/fleet/model.c): who may take a
 * slot given a snapshot, the failure budget, and the strict record parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fleet/model.h"
#include "fleet/txn.h"

/* A snapshot of n hosts: host i named h<i>, in domain doms[i], ring rings[i]. */
static fl_snap snap(size_t n, const char *const *doms, const uint32_t *rings, uint32_t k) {
  fl_snap s;
  memset(&s, 0, sizeof s);
  s.has_rollout = true;
  s.rollout.state = FL_RUNNING;
  s.rollout.max_out = k;
  s.hosts = calloc(n, sizeof *s.hosts);
  s.nhosts = n;
  for (size_t i = 0; i < n; i++) {
    snprintf(s.hosts[i].name, sizeof s.hosts[i].name, "h%zu", i);
    snprintf(s.hosts[i].domain, sizeof s.hosts[i].domain, "%s", doms[i]);
    s.hosts[i].ring = rings[i];
    s.hosts[i].alive = true;
    s.rollout.nhosts++;
    if (rings[i] + 1 > s.rollout.nrings) s.rollout.nrings = rings[i] + 1;
    s.rollout.host_ring[i] = rings[i];
  }
  s.rollout.budget = fl_default_budget(&s.rollout);
  return s;
}

static void out(fl_snap *s, size_t i, fl_phase p) {
  fl_host *h = &s->hosts[i];
  h->phase = p;
  h->holds = true;
  fl_slot *sl = &s->slots.slots[s->slots.nslots++];
  snprintf(sl->host, sizeof sl->host, "%s", h->name);
  snprintf(sl->domain, sizeof sl->domain, "%s", h->domain);
}

static void test_k_and_domains(void **state) {
  (void)state;
  const char *d[12] = {"a", "a", "a", "a", "a", "a", "a", "a", "a", "a", "b", "b"};
  uint32_t r[12] = {0};
  fl_snap s = snap(12, d, r, 2);
  char why[400];
  assert_int_equal(fl_may_take(&s, &s.hosts[0], 100, why, sizeof why), 1);
  out(&s, 0, FL_INSTALLING);
  /* a second host of a (10 hosts: 20 % is 2) may go; none of b (another domain) */
  assert_int_equal(fl_may_take(&s, &s.hosts[1], 100, why, sizeof why), 1);
  assert_int_equal(fl_may_take(&s, &s.hosts[10], 100, why, sizeof why), 0);
  assert_non_null(strstr(why, "fault domain a is out"));
  out(&s, 1, FL_DRAINING);
  /* K = 2 reached */
  assert_int_equal(fl_may_take(&s, &s.hosts[2], 100, why, sizeof why), 0);
  assert_non_null(strstr(why, "2 of 2 slots taken (h0, h1)"));
  /* K = 3: still only 20 % of a */
  s.rollout.max_out = 3;
  assert_int_equal(fl_may_take(&s, &s.hosts[2], 100, why, sizeof why), 0);
  assert_non_null(strstr(why, "2 of 10 hosts of fault domain a are out"));
  fl_snap_free(&s);
}

static void test_small_domain_and_delay(void **state) {
  (void)state;
  const char *d[3] = {"x", "x", "x"};
  uint32_t r[3] = {0};
  fl_snap s = snap(3, d, r, 5);
  char why[400];
  assert_int_equal(fl_domain_cap(3), 1); /* 20 % of 3 rounds to 0: one host still may go */
  assert_int_equal(fl_domain_cap(10), 2);
  s.rollout.min_delay_s = 30;
  s.slots.last_start = 100;
  assert_int_equal(fl_may_take(&s, &s.hosts[0], 120, why, sizeof why), 0);
  assert_non_null(strstr(why, "has 10 s left"));
  assert_int_equal(fl_may_take(&s, &s.hosts[0], 130, why, sizeof why), 1);
  fl_snap_free(&s);
}

static void test_ring_order_and_state(void **state) {
  (void)state;
  const char *d[4] = {"a", "a", "a", "a"};
  uint32_t r[4] = {0, 1, 1, 2};
  fl_snap s = snap(4, d, r, 4);
  char why[400];
  assert_int_equal(fl_may_take(&s, &s.hosts[1], 1, why, sizeof why), 0);
  assert_string_equal(why, "ring 1 waits for ring 0 (h0 is waiting)");
  s.hosts[0].phase = FL_FAILED;
  assert_int_equal(fl_may_take(&s, &s.hosts[1], 1, why, sizeof why), 1);
  assert_int_equal(fl_may_take(&s, &s.hosts[3], 1, why, sizeof why), 0);
  s.rollout.state = FL_PAUSED;
  snprintf(s.rollout.reason, sizeof s.rollout.reason, "paused by the operator");
  assert_int_equal(fl_may_take(&s, &s.hosts[1], 1, why, sizeof why), 0);
  assert_string_equal(why, "the rollout is paused (paused by the operator)");
  fl_snap_free(&s);
}

static void test_budget_counts_suspects(void **state) {
  (void)state;
  const char *d[6] = {"a", "a", "a", "a", "a", "a"};
  uint32_t r[6] = {0};
  fl_snap s = snap(6, d, r, 2);
  char why[400];
  assert_int_equal(s.rollout.budget, 2); /* a third of the largest ring */
  s.hosts[0].phase = FL_FAILED;
  out(&s, 1, FL_REBOOTING);
  s.hosts[1].alive = false; /* lease gone, slot kept: suspect */
  assert_int_equal(fl_budget_used(&s), 2);
  assert_false(fl_budget_exceeded(&s));
  s.hosts[2].phase = FL_FAILED;
  assert_true(fl_budget_exceeded(&s));
  assert_int_equal(fl_may_take(&s, &s.hosts[3], 1, why, sizeof why), 0);
  assert_non_null(strstr(why, "failure budget is exceeded (3 of 2)"));
  /* the default: a third of the largest ring, at least 1 */
  fl_rollout one = {.nrings = 1, .nhosts = 2};
  assert_int_equal(fl_default_budget(&one), 1);
  fl_snap_free(&s);
}

static void test_parse_refusals(void **state) {
  (void)state;
  hpmh_status st;
  fl_host h;
  const char *good = "{\"name\":\"h1\",\"rollout\":\"r1-5\",\"domain\":\"r1\",\"ring\":0,\"phase\":\"waiting\",\"since\":1,\"deadline\":0,"
                     "\"reason\":\"x\",\"transitions\":0}";
  assert_int_equal(fl_host_parse("/hpm/fleet/hosts/h1", (const uint8_t *)good, strlen(good), &h, &st), 0);
  assert_int_equal(h.phase, FL_WAITING);
  char *back = fl_host_json(&h);
  fl_host h2;
  assert_int_equal(fl_host_parse("/hpm/fleet/hosts/h1", (const uint8_t *)back, strlen(back), &h2, &st), 0);
  assert_string_equal(h2.domain, "r1");
  free(back);
  /* time per phase: none left in a record without "took"; a move adds the
   * time of the phase it leaves; the record keeps it */
  for (int i = 0; i < FL_NPHASES; i++) assert_int_equal(h.took[i], -1);
  fl_rollout ro = {.deadline_s = {[FL_DRAINING] = 60}};
  fl_host_move(&h, FL_DRAINING, &ro, 31, "took a slot");
  fl_host_move(&h, FL_INSTALLING, &ro, 45, "drained");
  assert_int_equal(h.took[FL_WAITING], 30);
  assert_int_equal(h.took[FL_DRAINING], 14);
  assert_int_equal(h.took[FL_INSTALLING], -1);
  back = fl_host_json(&h);
  assert_non_null(strstr(back, "\"took\":{\"waiting\":30,\"draining\":14}"));
  assert_int_equal(fl_host_parse("/hpm/fleet/hosts/h1", (const uint8_t *)back, strlen(back), &h2, &st), 0);
  assert_int_equal(h2.took[FL_WAITING], 30);
  assert_int_equal(h2.took[FL_DRAINING], 14);
  assert_int_equal(h2.took[FL_VERIFYING], -1);
  free(back);
  /* the key names another host */
  assert_int_equal(fl_host_parse("/hpm/fleet/hosts/h2", (const uint8_t *)good, strlen(good), &h, &st), -1);
  assert_non_null(strstr(st.detail, "field \"name\""));
  const char *bad[][2] = {
      {"{\"name\":\"h1\"}", "field \"rollout\" is missing"},
      {"{\"name\":\"h1\",\"rollout\":\"r1\"}", "field \"domain\" is missing"},
      {"{\"name\":\"h1\",\"rollout\":\"r1\",\"domain\":\"r 1\"}", "field \"domain\": 'r 1' is not a name"},
      {"{\"name\":\"h1\",\"rollout\":\"r1\",\"domain\":\"r1\",\"ring\":-1}", "field \"ring\": expected a whole number 0..15"},
      {"{\"name\":\"h1\",\"rollout\":\"r1\",\"domain\":\"r1\",\"ring\":0,\"phase\":\"sleeping\",\"since\":1,\"deadline\":0,\"reason\":\"\","
       "\"transitions\":0}", "'sleeping' is not one of"},
      {"{\"name\":\"h1\",\"rollout\":\"r1\",\"domain\":\"r1\",\"ring\":0,\"phase\":\"done\",\"since\":1,\"deadline\":0,\"reason\":\"\","
       "\"transitions\":0,\"took\":{\"done\":3}}", "'done' is not one of waiting"},
      {"{\"name\":\"h1\",\"rollout\":\"r1\",\"domain\":\"r1\",\"ring\":0,\"phase\":\"done\",\"since\":1,\"deadline\":0,\"reason\":\"\","
       "\"transitions\":0,\"took\":{\"waiting\":-3}}", "field \"waiting\""},
      {"{\"name\":\"h1\",\"rollout\":\"r1\",\"domain\":\"r1\",\"ring\":0,\"phase\":\"done\",\"since\":1,\"deadline\":0,\"reason\":\"\","
       "\"transitions\":0,\"took\":[1]}", "field \"took\": expected an object"},
      {"{\"name\":\"h1\"} x", "not one JSON object"},
      {"[1]", "not one JSON object"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_int_equal(fl_host_parse("/hpm/fleet/hosts/h1", (const uint8_t *)bad[i][0], strlen(bad[i][0]), &h, &st), -1);
    assert_non_null(strstr(st.detail, "etcd key /hpm/fleet/hosts/h1"));
    if (!strstr(st.detail, bad[i][1])) fail_msg("%s: %s", bad[i][0], st.detail);
  }
  /* a member's facts: optional, round trip, strict */
  fl_member mb;
  const char *plain = "{\"name\":\"h1\",\"domain\":\"r1\"}";
  assert_int_equal(fl_member_parse("/hpm/fleet/members/h1", (const uint8_t *)plain, strlen(plain), &mb, &st), 0);
  assert_false(mb.facts.have);
  mb.facts = (fl_facts){.have = true, .time = 77, .baseline = "2026.1", .slot = 'b', .hotpatch_seq = 2,
                        .hotpatch_id = "KB-2", .health = "committed", .compliance = "up to date (catalog serial 3)",
                        .nhistory = 2};
  mb.facts.history[0] = (fl_fact_row){.id = 9, .time = 70, .event = "apply", .result = "ok", .ids = "KB-2"};
  mb.facts.history[1] = (fl_fact_row){.id = 8, .time = 60, .event = "stage", .result = "ok", .ids = ""};
  back = fl_member_json(&mb);
  fl_member mb2;
  assert_int_equal(fl_member_parse("/hpm/fleet/members/h1", (const uint8_t *)back, strlen(back), &mb2, &st), 0);
  assert_true(fl_facts_same(&mb.facts, &mb2.facts));
  assert_int_equal(mb2.facts.time, 77);
  assert_int_equal(mb2.facts.slot, 'b');
  assert_string_equal(mb2.facts.history[1].event, "stage");
  mb2.facts.time = 99; /* the gathering time aside */
  assert_true(fl_facts_same(&mb.facts, &mb2.facts));
  mb2.facts.history[0].id = 10;
  assert_false(fl_facts_same(&mb.facts, &mb2.facts));
  free(back);
  const char *badm[][2] = {
      {"{\"name\":\"h1\",\"domain\":\"r1\",\"facts\":3}", "field \"facts\": expected an object"},
      {"{\"name\":\"h1\",\"domain\":\"r1\",\"facts\":{\"time\":1}}", "field \"baseline\" is missing"},
      {"{\"name\":\"h1\",\"domain\":\"r1\",\"facts\":{\"time\":1,\"baseline\":\"x\",\"slot\":\"B\","
       "\"hotpatch_sequence\":0,\"hotpatch_id\":\"\",\"health\":\"none\",\"compliance\":\"\",\"history\":[]}}",
       "field \"slot\": expected a slot letter"},
      {"{\"name\":\"h1\",\"domain\":\"r1\",\"facts\":{\"time\":1,\"baseline\":\"x\",\"slot\":\"\","
       "\"hotpatch_sequence\":0,\"hotpatch_id\":\"\",\"health\":\"none\",\"compliance\":\"\",\"history\":[{},{},{},{}]}}",
       "at most 3 rows"},
      {"{\"name\":\"h1\",\"domain\":\"r1\",\"facts\":{\"time\":1,\"baseline\":\"x\",\"slot\":\"\","
       "\"hotpatch_sequence\":0,\"hotpatch_id\":\"\",\"health\":\"none\",\"compliance\":\"\",\"history\":[{\"id\":0}]}}",
       "field \"id\""},
      {"{\"name\":\"h1\",\"domain\":\"r1\",\"facts\":{\"time\":1,\"baseline\":\"x\",\"slot\":\"\","
       "\"hotpatch_sequence\":0,\"hotpatch_id\":\"\",\"health\":\"none\",\"compliance\":\"\","
       "\"history\":[{\"id\":9223372036854775808}]}}", "field \"id\": expected a whole number 1..9007199254740992"},
  };
  for (size_t i = 0; i < sizeof badm / sizeof badm[0]; i++) {
    assert_int_equal(fl_member_parse("/hpm/fleet/members/h1", (const uint8_t *)badm[i][0], strlen(badm[i][0]), &mb, &st), -1);
    if (!strstr(st.detail, badm[i][1])) fail_msg("%s: %s", badm[i][0], st.detail);
  }
  fl_slots sl;
  const char *two = "{\"gen\":1,\"last_start\":0,\"holders\":[{\"host\":\"a\",\"domain\":\"d\",\"since\":1},"
                    "{\"host\":\"a\",\"domain\":\"d\",\"since\":1}],\"phases\":\"oo\"}";
  assert_int_equal(fl_slots_parse("/hpm/fleet/slots", (const uint8_t *)two, strlen(two), &sl, &st), -1);
  assert_non_null(strstr(st.detail, "host a holds two slots"));
}

/* A rollout of 4 hosts a0 a1 (domain x, ring 0) b0 b1 (domain y, ring 1),
 * through its JSON (the domains parsed back). */
static void rollout4(fl_rollout *r) {
  fl_rollout w = {.id = "r1", .max_out = 2, .budget = 1, .nrings = 2, .nhosts = 4, .ndomains = 2,
                  .domains = {"x", "y"}, .hosts = {"a0", "a1", "b0", "b1"}, .host_ring = {0, 0, 1, 1},
                  .host_domain = {0, 0, 1, 1}, .deadline_s = {[FL_DRAINING] = 9, [FL_INSTALLING] = 9,
                  [FL_REBOOTING] = 9, [FL_VERIFYING] = 9}};
  char *j = fl_rollout_json(&w);
  hpmh_status st;
  assert_int_equal(fl_rollout_parse("/hpm/fleet/rollout", (const uint8_t *)j, strlen(j), r, &st), 0);
  assert_non_null(strstr(j, "\"domains\":[[\"x\",\"x\"],[\"y\",\"y\"]]"));
  free(j);
}

/* The rollout's domains and a host's freed flag are parsed as strictly as
 * the rest; the domain table is bounded. */
static void test_domains_and_freed_refusals(void **state) {
  (void)state;
  hpmh_status st;
  fl_rollout r;
  const char *head = "{\"id\":\"r1\",\"kind\":\"baseline\",\"target\":\"2026.1\",\"rings\":[[\"a\",\"b\"],[\"c\"]],"
                     "\"max_out\":1,\"min_delay_s\":0,\"budget\":1,\"deadlines\":{\"draining\":9,\"installing\":9,"
                     "\"rebooting\":9,\"verifying\":9},\"state\":\"running\",\"reason\":\"\",\"created\":1,\"changed\":1";
  const char *bad[][2] = {
      {"}", "field \"domains\": expected 2 arrays of fault domains, one per ring"},
      {",\"domains\":[[\"x\",\"x\"]]}", "field \"domains\": expected 2 arrays"},
      {",\"domains\":[[\"x\"],[\"y\"]]}", "field \"domains[0]\": expected one fault domain per host of rings[0]"},
      {",\"domains\":[[\"x\",\"x y\"],[\"y\"]]}", "field \"domains[0]\": an entry is not a fault domain name"},
      {",\"domains\":[[\"x\",3],[\"y\"]]}", "field \"domains[0]\": an entry is not a fault domain name"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char text[1024];
    snprintf(text, sizeof text, "%s%s", head, bad[i][0]);
    assert_int_equal(fl_rollout_parse("/hpm/fleet/rollout", (const uint8_t *)text, strlen(text), &r, &st), -1);
    if (!strstr(st.detail, bad[i][1])) fail_msg("%s: %s", bad[i][0], st.detail);
  }
  char good[1024];
  snprintf(good, sizeof good, "%s%s", head, ",\"domains\":[[\"x\",\"y\"],[\"x\"]]}");
  assert_int_equal(fl_rollout_parse("/hpm/fleet/rollout", (const uint8_t *)good, strlen(good), &r, &st), 0);
  assert_int_equal(r.ndomains, 2);
  assert_int_equal(r.host_domain[2], 0);
  /* the table of fault domains holds FL_MAX_DOMAINS */
  memset(&r, 0, sizeof r);
  for (int i = 0; i < FL_MAX_DOMAINS; i++) {
    char d[16];
    snprintf(d, sizeof d, "d%d", i);
    assert_int_equal(fl_rollout_domain(&r, d), i);
  }
  assert_int_equal(fl_rollout_domain(&r, "d7"), 7);
  assert_int_equal(fl_rollout_domain(&r, "one-more"), -1);
  fl_host h;
  const char *freed = "{\"name\":\"h1\",\"rollout\":\"r1\",\"domain\":\"x\",\"ring\":0,\"phase\":\"done\",\"since\":1,"
                      "\"deadline\":0,\"reason\":\"\",\"transitions\":1,\"freed\":\"yes\"}";
  assert_int_equal(fl_host_parse("/hpm/fleet/hosts/h1", (const uint8_t *)freed, strlen(freed), &h, &st), -1);
  assert_non_null(strstr(st.detail, "field \"freed\": expected true or false"));
}

static void test_summary_from_the_slots(void **state) {
  (void)state;
  hpmh_status st;
  fl_snap s;
  memset(&s, 0, sizeof s);
  s.has_rollout = true;
  rollout4(&s.rollout);
  assert_int_equal(s.rollout.ndomains, 2);
  assert_string_equal(s.rollout.domains[s.rollout.host_domain[3]], "y");
  snprintf(s.slots.phases, sizeof s.slots.phases, "dfwo");
  s.slots.nslots = 1;
  s.slots.slots[0] = (fl_slot){.host = "b1", .domain = "y", .since = 5, .alive_create = 0};
  fl_host own = {.name = "b0", .rollout = "r1", .domain = "y", .ring = 1, .phase = FL_WAITING, .mod_revision = 7,
                 .alive = true, .alive_create = 3};
  assert_int_equal(fl_snap_summary(&s, &own, &st), 0);
  assert_true(s.light);
  assert_int_equal(s.nhosts, 4);
  assert_int_equal(s.hosts[0].phase, FL_DONE);
  assert_int_equal(s.hosts[1].phase, FL_FAILED);
  assert_int_equal(s.hosts[2].mod_revision, 7); /* its own record, as read */
  assert_true(fl_phase_out(s.hosts[3].phase));
  assert_true(s.hosts[3].holds);
  assert_false(s.hosts[3].alive); /* a holder whose alive key is gone: suspect */
  assert_int_equal(fl_budget_used(&s), 2);
  assert_true(fl_budget_exceeded(&s));
  char why[400];
  assert_int_equal(fl_may_take(&s, &s.hosts[2], 100, why, sizeof why), 0);
  assert_non_null(strstr(why, "failure budget is exceeded (2 of 1)"));
  /* a summary that does not fit: the record disagrees, or the letters are too few */
  own.phase = FL_INSTALLING;
  assert_int_equal(fl_snap_summary(&s, &own, &st), -1);
  assert_non_null(strstr(st.detail, "etcd key /hpm/fleet/hosts/b0: phase installing"));
  snprintf(s.slots.phases, sizeof s.slots.phases, "dfw");
  assert_int_equal(fl_snap_summary(&s, NULL, &st), -1);
  assert_non_null(strstr(st.detail, "field \"phases\": 3 letters for the 4 hosts of rollout r1"));
  fl_snap_free(&s);
}

static void test_slots_after_a_move(void **state) {
  (void)state;
  fl_snap s;
  memset(&s, 0, sizeof s);
  s.has_rollout = true;
  rollout4(&s.rollout);
  snprintf(s.slots.phases, sizeof s.slots.phases, "wwww");
  s.slots.gen = 4;
  fl_host n = {.name = "a1", .domain = "x", .phase = FL_DRAINING, .alive_create = 11};
  fl_slots a;
  fl_slots_after(&s, &n, true, false, 50, &a);
  assert_int_equal(a.gen, 5);
  assert_int_equal(a.last_start, 50);
  assert_int_equal(a.nslots, 1);
  assert_string_equal(a.slots[0].host, "a1");
  assert_int_equal(a.slots[0].alive_create, 11);
  assert_string_equal(a.phases, "woww");
  s.slots = a;
  n.phase = FL_DONE;
  fl_slots_after(&s, &n, false, true, 60, &a);
  assert_int_equal(a.nslots, 0);
  assert_int_equal(a.last_start, 50);
  assert_string_equal(a.phases, "wdww");
  /* a holder that ended and freed its slot (its record alone) is dropped by
   * whoever reads it next; one that ended without freeing it keeps it */
  s.slots = a;
  fl_host b0 = {.name = "b0", .domain = "y", .phase = FL_DRAINING};
  fl_slots_after(&s, &b0, true, false, 70, &s.slots);
  fl_host recs[2] = {{.name = "b0", .rollout = "r1", .phase = FL_DONE, .freed = false},
                     {.name = "a0", .rollout = "r1", .phase = FL_FAILED, .freed = true}};
  fl_slots_drop_freed(&s.slots, &s.rollout, recs, 2);
  assert_int_equal(s.slots.nslots, 1);
  assert_string_equal(s.slots.phases, "wdow");
  recs[0].freed = true;
  snprintf(recs[0].rollout, sizeof recs[0].rollout, "r0"); /* a record of another rollout says nothing */
  fl_slots_drop_freed(&s.slots, &s.rollout, recs, 2);
  assert_int_equal(s.slots.nslots, 1);
  snprintf(recs[0].rollout, sizeof recs[0].rollout, "r1");
  fl_slots_drop_freed(&s.slots, &s.rollout, recs, 2);
  assert_int_equal(s.slots.nslots, 0);
  assert_string_equal(s.slots.phases, "wddw");
  a = s.slots;
  /* the JSON round trip keeps the letters; a wrong letter is refused */
  char *j = fl_slots_json(&a);
  fl_slots back;
  hpmh_status st;
  assert_int_equal(fl_slots_parse("/hpm/fleet/slots", (const uint8_t *)j, strlen(j), &back, &st), 0);
  assert_string_equal(back.phases, "wddw");
  free(j);
  const char *bad = "{\"gen\":1,\"last_start\":0,\"holders\":[],\"phases\":\"wx\"}";
  assert_int_equal(fl_slots_parse("/hpm/fleet/slots", (const uint8_t *)bad, strlen(bad), &back, &st), -1);
  assert_non_null(strstr(st.detail, "field \"phases\": expected one of the letters w, o, d, f"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_k_and_domains),       cmocka_unit_test(test_small_domain_and_delay),
      cmocka_unit_test(test_ring_order_and_state), cmocka_unit_test(test_budget_counts_suspects),
      cmocka_unit_test(test_parse_refusals),      cmocka_unit_test(test_summary_from_the_slots),
      cmocka_unit_test(test_slots_after_a_move),  cmocka_unit_test(test_domains_and_freed_refusals),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
