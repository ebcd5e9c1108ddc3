/* SPDX-License-Identifier: MIT */
/* The status document of a snapshot (`hpm fleet status --json`, and
 * /status.json of `hpm fleet serve`), and the text buffer the page and the
 * metrics are written into (serve.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet/serve.h"
#include "jsonout.h"

cJSON *fl_status_doc(const fl_snap *s, uint64_t now) {
  char why[600];
  fl_why_waiting(s, now, why, sizeof why);
  const fl_rollout *r = &s->rollout;
  cJSON *doc = hpm_json_doc("fleet");
  hpmh_json_add_u64(doc, "revision", (uint64_t)s->revision);
  if (!s->has_rollout) {
    hpmh_json_add_null(doc, "rollout");
  } else {
    cJSON *ro = cJSON_AddObjectToObject(doc, "rollout");
    hpmh_json_add_str(ro, "id", r->id);
    hpmh_json_add_str(ro, "kind", r->hotpatch ? "hotpatch" : "baseline");
    hpmh_json_add_str(ro, "target", r->target);
    hpmh_json_add_str(ro, "state", fl_rstate_name(r->state));
    hpmh_json_add_str(ro, "reason", r->reason);
    hpmh_json_add_u64(ro, "max_out", r->max_out);
    hpmh_json_add_u64(ro, "min_delay_s", r->min_delay_s);
    hpmh_json_add_u64(ro, "rings", r->nrings);
    cJSON *b = cJSON_AddObjectToObject(ro, "budget");
    hpmh_json_add_u64(b, "limit", r->budget);
    hpmh_json_add_u64(b, "used", fl_budget_used(s));
    hpm_json_add_time(ro, "created", r->created);
    hpm_json_add_time(ro, "changed", r->changed);
  }
  cJSON *sl = cJSON_AddArrayToObject(doc, "slots");
  for (size_t i = 0; i < s->slots.nslots; i++) {
    cJSON *x = cJSON_CreateObject();
    hpmh_json_add_str(x, "host", s->slots.slots[i].host);
    hpmh_json_add_str(x, "domain", s->slots.slots[i].domain);
    hpm_json_add_time(x, "since", s->slots.slots[i].since);
    cJSON_AddItemToArray(sl, x);
  }
  cJSON *hs = cJSON_AddArrayToObject(doc, "hosts");
  for (size_t i = 0; i < s->nhosts; i++) {
    const fl_host *h = &s->hosts[i];
    cJSON *x = cJSON_CreateObject();
    hpmh_json_add_str(x, "host", h->name);
    hpmh_json_add_str(x, "domain", h->domain);
    hpmh_json_add_u64(x, "ring", h->ring);
    hpmh_json_add_str(x, "phase", fl_phase_name(h->phase));
    hpmh_json_add_bool(x, "alive", h->alive);
    hpmh_json_add_bool(x, "holds_slot", h->holds);
    hpmh_json_add_bool(x, "suspect", h->holds && !h->alive);
    hpm_json_add_time(x, "since", h->since);
    hpm_json_add_time(x, "deadline", h->deadline);
    hpmh_json_add_str(x, "reason", h->reason);
    cJSON_AddItemToArray(hs, x);
  }
  cJSON *ms = cJSON_AddArrayToObject(doc, "members");
  for (size_t i = 0; i < s->nmembers; i++) {
    cJSON *x = cJSON_CreateObject();
    hpmh_json_add_str(x, "host", s->members[i].name);
    hpmh_json_add_str(x, "domain", s->members[i].domain);
    hpmh_json_add_bool(x, "alive", s->members[i].alive_create != 0);
    const fl_facts *f = &s->members[i].facts;
    if (!f->have) {
      hpmh_json_add_null(x, "facts");
    } else {
      cJSON *o = cJSON_AddObjectToObject(x, "facts");
      char slot[2] = {f->slot, 0};
      hpm_json_add_time(o, "time", f->time);
      hpmh_json_add_str(o, "baseline", f->baseline);
      hpm_json_add_opt(o, "slot", slot);
      if (!f->hotpatch_seq) {
        hpmh_json_add_null(o, "hotpatch");
      } else {
        cJSON *hp = cJSON_AddObjectToObject(o, "hotpatch");
        hpmh_json_add_u64(hp, "sequence", f->hotpatch_seq);
        hpmh_json_add_str(hp, "id", f->hotpatch_id);
      }
      hpmh_json_add_str(o, "health", f->health);
      hpmh_json_add_str(o, "compliance", f->compliance);
      cJSON *hist = cJSON_AddArrayToObject(o, "history");
      for (size_t k = 0; k < f->nhistory; k++) {
        cJSON *row = cJSON_CreateObject();
        hpmh_json_add_u64(row, "id", (uint64_t)f->history[k].id);
        hpm_json_add_time(row, "time", f->history[k].time);
        hpmh_json_add_str(row, "event", f->history[k].event);
        hpmh_json_add_str(row, "result", f->history[k].result);
        hpmh_json_add_str(row, "ids", f->history[k].ids);
        cJSON_AddItemToArray(hist, row);
      }
    }
    cJSON_AddItemToArray(ms, x);
  }
  hpm_json_add_opt(doc, "waiting", why);
  return doc;
}

/* ---- the text buffer ---------------------------------------------------------- */

static void grow(fl_buf *b, size_t more) {
  if (b->oom || b->len + more + 1 <= b->cap) return;
  size_t cap = b->cap ? b->cap : 4096;
  while (cap < b->len + more + 1) cap *= 2;
  char *p = realloc(b->p, cap);
  if (!p) {
    b->oom = 1;
    return;
  }
  b->p = p;
  b->cap = cap;
}

void fl_buf_add(fl_buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0) {
    b->oom = 1;
    return;
  }
  grow(b, (size_t)n);
  if (b->oom) return;
  va_start(ap, fmt);
  vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

void fl_buf_html(fl_buf *b, const char *s) {
  for (; *s; s++) {
    switch (*s) {
    case '&': fl_buf_add(b, "&amp;"); break;
    case '<': fl_buf_add(b, "&lt;"); break;
    case '>': fl_buf_add(b, "&gt;"); break;
    case '"': fl_buf_add(b, "&quot;"); break;
    case '\'': fl_buf_add(b, "&#39;"); break;
    default: fl_buf_add(b, "%c", *s);
    }
  }
}

void fl_buf_label(fl_buf *b, const char *s) {
  for (; *s; s++) {
    if (*s == '\\') fl_buf_add(b, "\\\\");
    else if (*s == '"') fl_buf_add(b, "\\\"");
    else if (*s == '\n') fl_buf_add(b, "\\n");
    else fl_buf_add(b, "%c", *s);
  }
}

char *fl_buf_take(fl_buf *b) {
  if (!b->oom && !b->p) grow(b, 0);
  if (b->oom) {
    free(b->p);
    memset(b, 0, sizeof *b);
    return NULL;
  }
  b->p[b->len] = 0;
  char *p = b->p;
  memset(b, 0, sizeof *b);
  return p;
}
