/* SPDX-License-Identifier: MIT */
/* A snapshot as Prometheus text metrics (serve.h; the names are listed in
 * docs/fleet.md "Metrics"). */
#include <inttypes.h>
#include <stdio.h>

#include "fleet/serve.h"

static void head(fl_buf *b, const char *name, const char *type, const char *help) {
  fl_buf_add(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{host="..",domain=".."[,extra]} value */
static void host_sample(fl_buf *b, const char *name, const char *host, const char *domain, const char *k,
                        const char *v, uint64_t value) {
  fl_buf_add(b, "%s{host=\"", name);
  fl_buf_label(b, host);
  fl_buf_add(b, "\",domain=\"");
  fl_buf_label(b, domain);
  if (k) {
    fl_buf_add(b, "\",%s=\"", k);
    fl_buf_label(b, v);
  }
  fl_buf_add(b, "\"} %" PRIu64 "\n", value);
}

char *fl_metrics_text(const fl_snap *s, uint64_t now, uint64_t read_errors) {
  fl_buf b = {0};
  head(&b, "hpm_fleet_read_ok", "gauge", "1 when this scrape read the fleet's records from etcd and they parsed, 0 when not (the page says why)");
  fl_buf_add(&b, "hpm_fleet_read_ok %d\n", s ? 1 : 0);
  head(&b, "hpm_fleet_read_errors_total", "counter", "requests since serve started whose read of etcd failed or found a malformed record");
  fl_buf_add(&b, "hpm_fleet_read_errors_total %" PRIu64 "\n", read_errors);
  if (!s) return fl_buf_take(&b);

  const fl_rollout *r = &s->rollout;
  head(&b, "hpm_fleet_etcd_revision", "gauge", "the etcd revision the figures were read at");
  fl_buf_add(&b, "hpm_fleet_etcd_revision %" PRId64 "\n", s->revision);
  head(&b, "hpm_fleet_members", "gauge", "hosts registered in etcd (/hpm/fleet/members/)");
  fl_buf_add(&b, "hpm_fleet_members %zu\n", s->nmembers);

  head(&b, "hpm_fleet_rollout_info", "gauge", "the current rollout (1), labelled with its id, kind and target");
  if (s->has_rollout) {
    fl_buf_add(&b, "hpm_fleet_rollout_info{id=\"");
    fl_buf_label(&b, r->id);
    fl_buf_add(&b, "\",kind=\"%s\",target=\"", r->hotpatch ? "hotpatch" : "baseline");
    fl_buf_label(&b, r->target);
    fl_buf_add(&b, "\"} 1\n");
  }
  head(&b, "hpm_fleet_rollout_state", "gauge", "1 for the rollout's state, 0 for the others (no rollout: all 0)");
  for (int i = 0; i < FL_NSTATES; i++)
    fl_buf_add(&b, "hpm_fleet_rollout_state{state=\"%s\"} %d\n", fl_rstate_name((fl_rstate)i),
               s->has_rollout && r->state == (fl_rstate)i);
  head(&b, "hpm_fleet_rollout_rings", "gauge", "rings of the rollout");
  fl_buf_add(&b, "hpm_fleet_rollout_rings %zu\n", s->has_rollout ? r->nrings : 0);

  uint32_t per[FL_NPHASES] = {0}, suspects = 0;
  for (size_t i = 0; i < s->nhosts; i++) {
    per[s->hosts[i].phase]++;
    suspects += s->hosts[i].holds && !s->hosts[i].alive;
  }
  head(&b, "hpm_fleet_hosts", "gauge", "hosts of the rollout per phase");
  for (int p = 0; p < FL_NPHASES; p++) fl_buf_add(&b, "hpm_fleet_hosts{phase=\"%s\"} %u\n", fl_phase_name((fl_phase)p), per[p]);
  head(&b, "hpm_fleet_hosts_suspect", "gauge", "hosts holding a slot whose lease is gone");
  fl_buf_add(&b, "hpm_fleet_hosts_suspect %u\n", suspects);

  head(&b, "hpm_fleet_budget_used", "gauge", "failed plus suspect hosts");
  fl_buf_add(&b, "hpm_fleet_budget_used %u\n", s->has_rollout ? fl_budget_used(s) : 0);
  head(&b, "hpm_fleet_budget_max", "gauge", "failed plus suspect hosts tolerated; more stops the rollout");
  fl_buf_add(&b, "hpm_fleet_budget_max %u\n", s->has_rollout ? r->budget : 0);

  head(&b, "hpm_fleet_slots_used", "gauge", "slots held (hosts out)");
  fl_buf_add(&b, "hpm_fleet_slots_used %zu\n", s->slots.nslots);
  head(&b, "hpm_fleet_slots_max", "gauge", "at most this many hosts out at once (K)");
  fl_buf_add(&b, "hpm_fleet_slots_max %u\n", s->has_rollout ? r->max_out : 0);
  head(&b, "hpm_fleet_slot_holder_seconds", "gauge", "per slot holder: seconds since it took its slot");
  for (size_t i = 0; i < s->slots.nslots; i++) {
    const fl_slot *x = &s->slots.slots[i];
    host_sample(&b, "hpm_fleet_slot_holder_seconds", x->host, x->domain, NULL, NULL, now > x->since ? now - x->since : 0);
  }

  head(&b, "hpm_fleet_host_phase", "gauge", "per host of the rollout: 1 for its phase, labelled with it and its ring");
  for (size_t i = 0; i < s->nhosts; i++) {
    const fl_host *h = &s->hosts[i];
    char ring[16];
    snprintf(ring, sizeof ring, "%u", h->ring);
    fl_buf_add(&b, "hpm_fleet_host_phase{host=\"");
    fl_buf_label(&b, h->name);
    fl_buf_add(&b, "\",domain=\"");
    fl_buf_label(&b, h->domain);
    fl_buf_add(&b, "\",ring=\"%s\",phase=\"%s\"} 1\n", ring, fl_phase_name(h->phase));
  }
  head(&b, "hpm_fleet_host_phase_seconds", "gauge", "per host of the rollout: seconds in its current phase");
  for (size_t i = 0; i < s->nhosts; i++) {
    const fl_host *h = &s->hosts[i];
    host_sample(&b, "hpm_fleet_host_phase_seconds", h->name, h->domain, "phase", fl_phase_name(h->phase),
                h->since && now > h->since ? now - h->since : 0);
  }
  head(&b, "hpm_fleet_host_phase_deadline_seconds", "gauge",
       "per host out: seconds left until its phase deadline (negative: past it)");
  for (size_t i = 0; i < s->nhosts; i++) {
    const fl_host *h = &s->hosts[i];
    if (!h->deadline) continue;
    fl_buf_add(&b, "hpm_fleet_host_phase_deadline_seconds{host=\"");
    fl_buf_label(&b, h->name);
    fl_buf_add(&b, "\",domain=\"");
    fl_buf_label(&b, h->domain);
    fl_buf_add(&b, "\",phase=\"%s\"} %" PRId64 "\n", fl_phase_name(h->phase), (int64_t)h->deadline - (int64_t)now);
  }
  head(&b, "hpm_fleet_host_transitions", "gauge", "per host of the rollout: phase changes so far");
  for (size_t i = 0; i < s->nhosts; i++)
    host_sample(&b, "hpm_fleet_host_transitions", s->hosts[i].name, s->hosts[i].domain, NULL, NULL, s->hosts[i].transitions);

  /* How long the hosts of the rollout took in each phase they left. */
  static const uint32_t le[] = {1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200};
  head(&b, "hpm_fleet_phase_duration_seconds", "histogram",
       "seconds the hosts of the rollout spent in each phase they left (a phase entered twice counts once, summed)");
  for (int p = 0; p < FL_NPHASES; p++) {
    if (fl_phase_terminal((fl_phase)p)) continue;
    const char *ph = fl_phase_name((fl_phase)p);
    uint64_t count = 0, sum = 0, in[sizeof le / sizeof le[0]] = {0};
    for (size_t i = 0; i < s->nhosts; i++) {
      int64_t t = s->hosts[i].took[p];
      if (t < 0) continue;
      count++;
      sum += (uint64_t)t;
      for (size_t k = 0; k < sizeof le / sizeof le[0]; k++) in[k] += (uint64_t)t <= le[k];
    }
    for (size_t k = 0; k < sizeof le / sizeof le[0]; k++)
      fl_buf_add(&b, "hpm_fleet_phase_duration_seconds_bucket{phase=\"%s\",le=\"%u\"} %" PRIu64 "\n", ph, le[k], in[k]);
    fl_buf_add(&b, "hpm_fleet_phase_duration_seconds_bucket{phase=\"%s\",le=\"+Inf\"} %" PRIu64 "\n", ph, count);
    fl_buf_add(&b, "hpm_fleet_phase_duration_seconds_sum{phase=\"%s\"} %" PRIu64 "\n", ph, sum);
    fl_buf_add(&b, "hpm_fleet_phase_duration_seconds_count{phase=\"%s\"} %" PRIu64 "\n", ph, count);
  }
  return fl_buf_take(&b);
}
