/* SPDX-License-Identifier: MIT */
/* The read-only status page of `hpm fleet serve` (serve.h): plain HTML, no
 * script, refreshed by a meta tag.  Every text that comes from etcd (names,
 * domains, reasons, targets) goes through fl_buf_html; the records were
 * parsed strictly before (model.c), so this is the second line. */
#include <inttypes.h>
#include <stdio.h>

#include "fleet/serve.h"
#include "json.h"

static const char style[] =
    "body{font-family:sans-serif;margin:1.5em;color:#222}"
    "table{border-collapse:collapse;margin:.5em 0 1.5em}"
    "th,td{border:1px solid #bbb;padding:.25em .6em;text-align:left;font-size:.9em}"
    "th{background:#eee}.error{color:#fff;background:#b00;padding:.6em}"
    ".waiting{background:#ffd;padding:.4em}"
    ".p-done{background:#dfd}.p-failed{background:#fcc}.p-waiting{background:#fff}"
    ".p-draining,.p-installing,.p-rebooting,.p-verifying{background:#def}"
    ".suspect{color:#b00;font-weight:bold}";

static void td(fl_buf *b, const char *cls, const char *text) {
  fl_buf_add(b, "<td class=\"%s\">", cls);
  fl_buf_html(b, text);
  fl_buf_add(b, "</td>");
}

static const char *utc(uint64_t t, char buf[HPMH_UTC_LEN]) {
  return t ? hpmh_utc(t, buf) : "-";
}

static void ago(fl_buf *b, const char *cls, uint64_t now, uint64_t t) {
  char u[HPMH_UTC_LEN];
  if (!t) {
    td(b, cls, "-");
    return;
  }
  fl_buf_add(b, "<td class=\"%s\" title=\"%s\">%" PRIu64 " s ago</td>", cls, utc(t, u), now > t ? now - t : 0);
}

static void rollout(fl_buf *b, const fl_snap *s, uint64_t now) {
  const fl_rollout *r = &s->rollout;
  char u1[HPMH_UTC_LEN], u2[HPMH_UTC_LEN], why[600];
  fl_buf_add(b, "<h2>Rollout</h2>\n<table id=\"rollout\">\n");
  fl_buf_add(b, "<tr><th>id</th>");
  td(b, "id", r->id);
  fl_buf_add(b, "</tr>\n<tr><th>what</th>");
  td(b, "kind", r->hotpatch ? "hotpatch" : "baseline");
  td(b, "target", r->target);
  fl_buf_add(b, "</tr>\n<tr><th>state</th>");
  td(b, "state", fl_rstate_name(r->state));
  td(b, "reason", r->reason);
  fl_buf_add(b, "</tr>\n<tr><th>hosts out</th><td class=\"slots-used\">%zu</td><td class=\"max-out\">%u</td></tr>\n",
             s->slots.nslots, r->max_out);
  fl_buf_add(b, "<tr><th>failure budget used</th><td class=\"budget-used\">%u</td><td class=\"budget-limit\">%u</td></tr>\n",
             fl_budget_used(s), r->budget);
  fl_buf_add(b, "<tr><th>minimum delay</th><td class=\"min-delay\">%u s</td></tr>\n", r->min_delay_s);
  fl_buf_add(b, "<tr><th>created / changed</th><td class=\"created\">%s</td><td class=\"changed\">%s</td></tr>\n</table>\n",
             utc(r->created, u1), utc(r->changed, u2));
  fl_why_waiting(s, now, why, sizeof why);
  if (why[0]) {
    fl_buf_add(b, "<p class=\"waiting\" id=\"waiting\">Waiting: ");
    fl_buf_html(b, why);
    fl_buf_add(b, "</p>\n");
  }

  fl_buf_add(b, "<h2>Rings</h2>\n<table id=\"rings\">\n<tr><th>ring</th><th>done</th><th>failed</th><th>out</th><th>hosts</th></tr>\n");
  for (size_t ring = 0; ring < r->nrings; ring++) {
    uint32_t n = 0, done = 0, failed = 0, out = 0;
    for (size_t i = 0; i < s->nhosts; i++) {
      const fl_host *h = &s->hosts[i];
      if (h->ring != ring) continue;
      n++;
      done += h->phase == FL_DONE;
      failed += h->phase == FL_FAILED;
      out += fl_phase_out(h->phase);
    }
    fl_buf_add(b, "<tr data-ring=\"%zu\"><td>%zu%s</td><td class=\"done\">%u/%u</td><td class=\"failed\">%u</td>"
                  "<td class=\"out\">%u</td><td class=\"members\">", ring, ring, ring ? "" : " (canary)", done, n, failed, out);
    for (size_t i = 0; i < s->nhosts; i++) {
      const fl_host *h = &s->hosts[i];
      if (h->ring != ring) continue;
      fl_buf_add(b, "<span class=\"p-%s\">", fl_phase_name(h->phase));
      fl_buf_html(b, h->name);
      fl_buf_add(b, "</span> ");
    }
    fl_buf_add(b, "</td></tr>\n");
  }
  fl_buf_add(b, "</table>\n");
}

static void slots(fl_buf *b, const fl_snap *s, uint64_t now) {
  fl_buf_add(b, "<h2>Slots</h2>\n<table id=\"slots\">\n<tr><th>holder</th><th>domain</th><th>lease</th><th>since</th></tr>\n");
  for (size_t i = 0; i < s->slots.nslots; i++) {
    const fl_slot *x = &s->slots.slots[i];
    const fl_host *h = fl_snap_host(s, x->host);
    bool alive = h && h->alive;
    fl_buf_add(b, "<tr data-host=\"");
    fl_buf_html(b, x->host);
    fl_buf_add(b, "\">");
    td(b, "host", x->host);
    td(b, "domain", x->domain);
    td(b, alive ? "lease" : "lease suspect", alive ? "alive" : "SUSPECT (lease gone)");
    ago(b, "since", now, x->since);
    fl_buf_add(b, "</tr>\n");
  }
  if (!s->slots.nslots) fl_buf_add(b, "<tr><td colspan=\"4\">none held</td></tr>\n");
  fl_buf_add(b, "</table>\n");
}

static void hosts(fl_buf *b, const fl_snap *s, uint64_t now) {
  const fl_rollout *r = &s->rollout;
  char u[HPMH_UTC_LEN];
  fl_buf_add(b, "<h2>Hosts</h2>\n<table id=\"hosts\">\n<tr><th>host</th><th>domain</th><th>ring</th><th>phase</th>"
                "<th>lease</th><th>slot</th><th>%s %s</th><th>in phase since</th><th>deadline</th><th>changes</th>"
                "<th>last transition</th></tr>\n", r->hotpatch ? "hotpatch" : "baseline", r->hotpatch ? "sequence" : "version");
  for (size_t i = 0; i < s->nhosts; i++) {
    const fl_host *h = &s->hosts[i];
    const char *ph = fl_phase_name(h->phase);
    bool suspect = h->holds && !h->alive;
    fl_buf_add(b, "<tr data-host=\"");
    fl_buf_html(b, h->name);
    fl_buf_add(b, "\" data-phase=\"%s\" class=\"p-%s\">", ph, ph);
    td(b, "host", h->name);
    td(b, "domain", h->domain);
    fl_buf_add(b, "<td class=\"ring\">%u</td>", h->ring);
    td(b, "phase", ph);
    td(b, suspect ? "lease suspect" : "lease", suspect ? "SUSPECT" : h->alive ? "alive" : "gone");
    td(b, "slot", h->holds ? "holds" : "-");
    /* what this host runs of the rollout's target, as far as etcd knows:
     * a host is done only after its health gate passed on the target */
    fl_buf_add(b, "<td class=\"target\">");
    if (h->phase == FL_DONE) fl_buf_html(b, r->target);
    else fl_buf_add(b, "%s", h->phase == FL_FAILED ? "not applied (failed)" : h->phase == FL_WAITING ? "pending" : "in progress");
    fl_buf_add(b, "</td>");
    ago(b, "since", now, h->since);
    td(b, "deadline", utc(h->deadline, u));
    fl_buf_add(b, "<td class=\"transitions\">%u</td>", h->transitions);
    td(b, "reason", h->reason);
    fl_buf_add(b, "</tr>\n");
  }
  fl_buf_add(b, "</table>\n");
}

/* Every registered host with what it last published about itself (facts.c):
 * what it runs, its health window, compliance with its catalog, its newest
 * history rows. */
static void members(fl_buf *b, const fl_snap *s, uint64_t now) {
  fl_buf_add(b, "<h2>Registered hosts</h2>\n<table id=\"members\">\n<tr><th>host</th><th>domain</th><th>lease</th>"
                "<th>in the rollout</th><th>baseline (slot)</th><th>hotpatch</th><th>health window</th>"
                "<th>compliance</th><th>newest history</th><th>published</th></tr>\n");
  for (size_t i = 0; i < s->nmembers; i++) {
    const fl_member *m = &s->members[i];
    const fl_facts *f = &m->facts;
    const fl_host *h = s->has_rollout ? fl_snap_host(s, m->name) : NULL;
    char t[128], u[HPMH_UTC_LEN];
    fl_buf_add(b, "<tr data-host=\"");
    fl_buf_html(b, m->name);
    fl_buf_add(b, "\">");
    td(b, "host", m->name);
    td(b, "domain", m->domain);
    td(b, "lease", m->alive_create ? "alive" : "gone");
    td(b, "in-rollout", h ? fl_phase_name(h->phase) : "no");
    if (!f->have) {
      fl_buf_add(b, "<td class=\"facts\" colspan=\"6\">nothing published yet</td></tr>\n");
      continue;
    }
    if (f->slot) snprintf(t, sizeof t, "%.72s (%c)", f->baseline, f->slot);
    else snprintf(t, sizeof t, "%.72s", f->baseline);
    td(b, "baseline", t);
    if (f->hotpatch_seq) snprintf(t, sizeof t, "%.64s (sequence %u)", f->hotpatch_id, f->hotpatch_seq);
    else snprintf(t, sizeof t, "none");
    td(b, "hotpatch", t);
    td(b, "health", f->health);
    td(b, "compliance", f->compliance);
    fl_buf_add(b, "<td class=\"history\">");
    for (size_t k = 0; k < f->nhistory; k++) {
      const fl_fact_row *r = &f->history[k];
      fl_buf_add(b, "%s<span class=\"row\">", k ? "<br>" : "");
      snprintf(t, sizeof t, "#%lld %s ", (long long)r->id, utc(r->time, u));
      fl_buf_html(b, t);
      fl_buf_html(b, r->event);
      fl_buf_add(b, " ");
      fl_buf_html(b, r->result);
      if (r->ids[0]) {
        fl_buf_add(b, " ");
        fl_buf_html(b, r->ids);
      }
      fl_buf_add(b, "</span>");
    }
    if (!f->nhistory) fl_buf_add(b, "none");
    fl_buf_add(b, "</td>");
    ago(b, "published", now, f->time);
    fl_buf_add(b, "</tr>\n");
  }
  fl_buf_add(b, "</table>\n");
}

char *fl_page_html(const fl_snap *s, const char *err, uint64_t now, unsigned refresh_s) {
  fl_buf b = {0};
  char u[HPMH_UTC_LEN];
  fl_buf_add(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n");
  if (refresh_s) fl_buf_add(&b, "<meta http-equiv=\"refresh\" content=\"%u\">\n", refresh_s);
  fl_buf_add(&b, "<title>hpm fleet</title>\n<style>%s</style></head>\n<body>\n<h1>hpm fleet</h1>\n", style);
  fl_buf_add(&b, "<p id=\"read\">Read at %s", utc(now, u));
  if (s) fl_buf_add(&b, ", etcd revision <span id=\"revision\">%" PRId64 "</span>", s->revision);
  fl_buf_add(&b, ". Also: <a href=\"status.json\">status.json</a> (= hpm fleet status --json), "
                 "<a href=\"metrics\">metrics</a>.</p>\n");
  if (!s) {
    fl_buf_add(&b, "<p class=\"error\" id=\"error\">etcd cannot be read: ");
    fl_buf_html(&b, err ? err : "unknown error");
    fl_buf_add(&b, "</p>\n");
  } else {
    if (s->has_rollout) {
      rollout(&b, s, now);
      slots(&b, s, now);
      hosts(&b, s, now);
    } else {
      fl_buf_add(&b, "<p id=\"no-rollout\">No rollout.</p>\n");
    }
    members(&b, s, now);
  }
  fl_buf_add(&b, "</body></html>\n");
  return fl_buf_take(&b);
}
