/* SPDX-License-Identifier: MIT */
/* What `hpm fleet serve` shows, as pure functions of a snapshot
 * (runtime/fleet/status.c, page.c, metrics.c) and the FleetLock request
 * parser (lockreq.c): escaping, the figures, the refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fleet/serve.h"

static const char evil[] = "<script>alert('x')</script>&\"";

/* A running rollout of three hosts: h0 done, h1 installing (holds the slot;
 * its lease gone when suspect), h2 waiting with an evil reason. */
static fl_snap snap(bool suspect) {
  fl_snap s;
  memset(&s, 0, sizeof s);
  s.revision = 42;
  s.has_rollout = true;
  fl_rollout *r = &s.rollout;
  snprintf(r->id, sizeof r->id, "r1");
  snprintf(r->target, sizeof r->target, "2026.1");
  snprintf(r->reason, sizeof r->reason, "%s", evil);
  r->state = FL_RUNNING;
  r->max_out = 1;
  r->budget = 1;
  r->nrings = 2;
  r->nhosts = 3;
  s.hosts = calloc(3, sizeof *s.hosts);
  s.nhosts = 3;
  const fl_phase ph[3] = {FL_DONE, FL_INSTALLING, FL_WAITING};
  for (size_t i = 0; i < 3; i++) {
    fl_host *h = &s.hosts[i];
    snprintf(h->name, sizeof h->name, "h%zu", i);
    snprintf(h->domain, sizeof h->domain, "rack-a");
    snprintf(r->hosts[i], sizeof r->hosts[i], "h%zu", i);
    h->ring = r->host_ring[i] = i ? 1 : 0;
    h->phase = ph[i];
    h->since = 1000;
    h->alive = true;
    for (int k = 0; k < FL_NPHASES; k++) h->took[k] = -1;
    if (i == 0) h->took[FL_WAITING] = 4, h->took[FL_DRAINING] = 20, h->took[FL_VERIFYING] = 700;
    if (i == 1) h->took[FL_WAITING] = 400, h->took[FL_DRAINING] = 3;
    snprintf(h->reason, sizeof h->reason, "%s", i == 2 ? evil : "fine");
  }
  s.hosts[1].holds = true;
  s.hosts[1].alive = !suspect;
  s.hosts[1].deadline = 1100;
  s.slots.nslots = 1;
  snprintf(s.slots.slots[0].host, sizeof s.slots.slots[0].host, "h1");
  snprintf(s.slots.slots[0].domain, sizeof s.slots.slots[0].domain, "rack-a");
  s.slots.slots[0].since = 1000;
  /* two registered hosts: one published facts (an evil compliance text and
   * history row), one nothing yet */
  s.members = calloc(2, sizeof *s.members);
  s.nmembers = 2;
  snprintf(s.members[0].name, sizeof s.members[0].name, "h0");
  snprintf(s.members[1].name, sizeof s.members[1].name, "z9");
  fl_facts *f = &s.members[0].facts;
  *f = (fl_facts){.have = true, .time = 1000, .baseline = "2026.1", .slot = 'b', .hotpatch_seq = 2,
                  .hotpatch_id = "KB-2", .health = "committed", .nhistory = 1};
  snprintf(f->compliance, sizeof f->compliance, "%s", evil);
  f->history[0] = (fl_fact_row){.id = 9, .time = 990, .event = "apply", .result = "ok", .ids = "<b>KB-2</b>"};
  return s;
}

static void test_escaping(void **state) {
  (void)state;
  fl_buf b = {0};
  fl_buf_html(&b, "<a href=\"x\">&'");
  fl_buf_add(&b, "|");
  fl_buf_label(&b, "a\"b\\c\nd");
  char *t = fl_buf_take(&b);
  assert_string_equal(t, "&lt;a href=&quot;x&quot;&gt;&amp;&#39;|a\\\"b\\\\c\\nd");
  free(t);
  fl_buf e = {0};
  t = fl_buf_take(&e);
  assert_string_equal(t, "");
  free(t);
}

static void test_page(void **state) {
  (void)state;
  fl_snap s = snap(true);
  char *p = fl_page_html(&s, NULL, 1010, 5);
  assert_non_null(p);
  assert_null(strstr(p, "<script"));
  assert_non_null(strstr(p, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"));
  assert_non_null(strstr(p, "<meta http-equiv=\"refresh\" content=\"5\">"));
  assert_non_null(strstr(p, "<tr data-host=\"h1\" data-phase=\"installing\""));
  assert_non_null(strstr(p, "SUSPECT"));
  assert_non_null(strstr(p, "<span id=\"revision\">42</span>"));
  /* the registered hosts with what they published */
  assert_non_null(strstr(p, "<td class=\"baseline\">2026.1 (b)</td><td class=\"hotpatch\">KB-2 (sequence 2)</td>"
                            "<td class=\"health\">committed</td>"));
  assert_non_null(strstr(p, "<td class=\"compliance\">&lt;script&gt;"));
  assert_non_null(strstr(p, "#9 1970-01-01T00:16:30Z apply ok"));
  assert_null(strstr(p, "<b>KB-2"));
  assert_non_null(strstr(p, "apply ok &lt;b&gt;KB-2&lt;/b&gt;"));
  assert_non_null(strstr(p, "<td class=\"published\" title=\""));
  assert_non_null(strstr(p, "<tr data-host=\"z9\">"));
  assert_non_null(strstr(p, "nothing published yet"));
  free(p);
  /* etcd unreadable: the reason, escaped; no refresh when 0 */
  p = fl_page_html(NULL, "<b>no leader</b>", 1010, 0);
  assert_non_null(strstr(p, "etcd cannot be read: &lt;b&gt;no leader&lt;/b&gt;"));
  assert_null(strstr(p, "http-equiv"));
  free(p);
  fl_snap_free(&s);
}

static void test_metrics(void **state) {
  (void)state;
  fl_snap s = snap(true);
  char *m = fl_metrics_text(&s, 1010, 3);
  assert_non_null(m);
  const char *want[] = {"hpm_fleet_read_ok 1\n", "hpm_fleet_read_errors_total 3\n", "hpm_fleet_etcd_revision 42\n",
                        "hpm_fleet_hosts{phase=\"done\"} 1\n", "hpm_fleet_hosts{phase=\"installing\"} 1\n",
                        "hpm_fleet_hosts{phase=\"failed\"} 0\n", "hpm_fleet_hosts_suspect 1\n",
                        "hpm_fleet_budget_used 1\n", "hpm_fleet_budget_max 1\n", "hpm_fleet_slots_used 1\n",
                        "hpm_fleet_rollout_state{state=\"running\"} 1\n", "hpm_fleet_rollout_state{state=\"paused\"} 0\n",
                        "hpm_fleet_slot_holder_seconds{host=\"h1\",domain=\"rack-a\"} 10\n",
                        "hpm_fleet_host_phase_seconds{host=\"h1\",domain=\"rack-a\",phase=\"installing\"} 10\n",
                        "hpm_fleet_host_phase_deadline_seconds{host=\"h1\",domain=\"rack-a\",phase=\"installing\"} 90\n",
                        "hpm_fleet_host_phase{host=\"h2\",domain=\"rack-a\",ring=\"1\",phase=\"waiting\"} 1\n",
                        "# TYPE hpm_fleet_read_errors_total counter\n",
                        "# TYPE hpm_fleet_phase_duration_seconds histogram\n",
                        "hpm_fleet_phase_duration_seconds_bucket{phase=\"draining\",le=\"1\"} 0\n",
                        "hpm_fleet_phase_duration_seconds_bucket{phase=\"draining\",le=\"5\"} 1\n",
                        "hpm_fleet_phase_duration_seconds_bucket{phase=\"draining\",le=\"30\"} 2\n",
                        "hpm_fleet_phase_duration_seconds_bucket{phase=\"draining\",le=\"+Inf\"} 2\n",
                        "hpm_fleet_phase_duration_seconds_sum{phase=\"draining\"} 23\n",
                        "hpm_fleet_phase_duration_seconds_count{phase=\"waiting\"} 2\n",
                        "hpm_fleet_phase_duration_seconds_bucket{phase=\"waiting\",le=\"300\"} 1\n",
                        "hpm_fleet_phase_duration_seconds_bucket{phase=\"verifying\",le=\"600\"} 0\n",
                        "hpm_fleet_phase_duration_seconds_bucket{phase=\"verifying\",le=\"1800\"} 1\n",
                        "hpm_fleet_phase_duration_seconds_count{phase=\"installing\"} 0\n"};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
    if (!strstr(m, want[i])) fail_msg("missing %s in\n%s", want[i], m);
  /* every line a comment or NAME[{labels}] VALUE */
  for (char *line = m; *line;) {
    char *nl = strchr(line, '\n');
    assert_non_null(nl);
    if (line[0] != '#') assert_true(line[0] >= 'a' && line[0] <= 'z' && memchr(line, ' ', (size_t)(nl - line)));
    line = nl + 1;
  }
  free(m);
  m = fl_metrics_text(NULL, 1010, 4);
  assert_non_null(strstr(m, "hpm_fleet_read_ok 0\n"));
  assert_null(strstr(m, "hpm_fleet_hosts"));
  free(m);
  fl_snap_free(&s);
}

static void test_status_doc(void **state) {
  (void)state;
  fl_snap s = snap(false);
  cJSON *d = fl_status_doc(&s, 1010);
  assert_string_equal(cJSON_GetObjectItem(d, "command")->valuestring, "fleet");
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(d, "hosts")), 3);
  cJSON *ro = cJSON_GetObjectItem(d, "rollout");
  assert_string_equal(cJSON_GetObjectItem(ro, "reason")->valuestring, evil);
  assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(ro, "budget"), "used")->valuedouble, 0);
  cJSON_Delete(d);
  fl_snap_free(&s);
}

static int parse(const char *body, char *id, char *group, char *err) {
  return fl_lockreq_parse(body, strlen(body), id, group, err, 200);
}

static void test_lockreq(void **state) {
  (void)state;
  char id[FL_NAME_MAX + 1], group[FL_NAME_MAX + 1], err[200];
  assert_int_equal(parse("{\"client_params\": {\"id\": \"c988d2509fdf4cdcbed39037c56406fb\", \"group\": \"default\"}}\n",
                         id, group, err), 0);
  assert_string_equal(id, "c988d2509fdf4cdcbed39037c56406fb");
  assert_string_equal(group, "default");
  assert_int_equal(parse("{\"client_params\":{\"node_uuid\":\"n-1\",\"group\":\"a.b-c\"},\"x\":1}", id, group, err), 0);
  assert_string_equal(id, "n-1");
  static const struct { const char *body, *why; } bad[] = {
      {"", "not one JSON object"},
      {"[]", "not one JSON object"},
      {"{} {}", "after the JSON object"},
      {"{\"client_params\": []}", "client_params"},
      {"{\"client_params\": {\"group\": \"g\"}}", "client_params.id"},
      {"{\"client_params\": {\"id\": \"\", \"group\": \"g\"}}", "client_params.id"},
      {"{\"client_params\": {\"id\": \"../x\", \"group\": \"g\"}}", "client_params.id"},
      {"{\"client_params\": {\"id\": 7, \"group\": \"g\"}}", "client_params.id"},
      {"{\"client_params\": {\"id\": \"x\", \"group\": \"g_h\"}}", "client_params.group"},
      {"{\"client_params\": {\"id\": \"x\"}}", "client_params.group"},
      {"{\"client_params\": {\"id\": \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\", \"group\": \"g\"}}",
       "client_params.id"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    err[0] = 0;
    assert_int_equal(parse(bad[i].body, id, group, err), -1);
    if (!strstr(err, bad[i].why)) fail_msg("%s: '%s' does not say %s", bad[i].body, err, bad[i].why);
  }
  assert_int_equal(fl_lockreq_parse("{\"a\":1}\0", 8, id, group, err, sizeof err), -1);
  assert_non_null(strstr(err, "NUL"));
  static char big[FL_LOCKREQ_MAX + 2];
  memset(big, ' ', sizeof big - 1);
  assert_int_equal(parse(big, id, group, err), -1);
  assert_non_null(strstr(err, "larger than 4096"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_escaping), cmocka_unit_test(test_page),   cmocka_unit_test(test_metrics),
      cmocka_unit_test(test_status_doc), cmocka_unit_test(test_lockreq),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
