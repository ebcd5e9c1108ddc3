/* SPDX-License-Identifier: MIT */
/* The rollout model: records, their strict parsing, the pure decisions (model.h). */
#include "fleet/model.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const phase_names[FL_NPHASES] = {"waiting", "draining", "installing", "rebooting",
                                                    "verifying", "done", "failed"};
static const char *const state_names[FL_NSTATES] = {"running", "paused", "aborted", "stopped", "done"};

const char *fl_phase_name(fl_phase p) { return (unsigned)p < FL_NPHASES ? phase_names[p] : "?"; }
const char *fl_rstate_name(fl_rstate s) { return (unsigned)s < FL_NSTATES ? state_names[s] : "?"; }

int fl_phase_from(const char *s) {
  for (int i = 0; i < FL_NPHASES; i++)
    if (!strcmp(s, phase_names[i])) return i;
  return -1;
}

int fl_rstate_from(const char *s) {
  for (int i = 0; i < FL_NSTATES; i++)
    if (!strcmp(s, state_names[i])) return i;
  return -1;
}

bool fl_phase_out(fl_phase p) { return p >= FL_DRAINING && p <= FL_VERIFYING; }
bool fl_phase_terminal(fl_phase p) { return p == FL_DONE || p == FL_FAILED; }

bool fl_name_ok(const char *s) {
  size_t n = strlen(s);
  if (!n || n > FL_NAME_MAX) return false;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
          c == '-'))
      return false;
  }
  return true;
}

/* ---- strict fields --------------------------------------------------------- */

#define BAD(...) hpmh_fail(st, HPMH_E_INVALID, key, __VA_ARGS__)
#define FIX "; fix the record or delete it (etcdctl del)"

/* A record under .../NAME names itself NAME: 0, or -1 with st set. */
static int name_is_key(const char *key, const char *name, hpmh_status *st) {
  const char *base = strrchr(key, '/');
  if (base && strcmp(base + 1, name)) {
    BAD("etcd key %s: field \"name\": '%s' is not the host the key names" FIX, key, name);
    return -1;
  }
  return 0;
}

static cJSON *parse_obj(const char *key, const uint8_t *v, size_t len, hpmh_status *st) {
  const char *end = NULL;
  cJSON *o = cJSON_ParseWithLengthOpts((const char *)v, len, &end, 0);
  if (!o || !cJSON_IsObject(o) || (size_t)(end - (const char *)v) != len) {
    cJSON_Delete(o);
    BAD("etcd key %s: not one JSON object" FIX, key);
    return NULL;
  }
  return o;
}

static int get_str(const char *key, const cJSON *o, const char *field, char *out, size_t cap, bool name,
                   hpmh_status *st) {
  const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, field);
  if (!f) return BAD("etcd key %s: field \"%s\" is missing" FIX, key, field);
  if (!cJSON_IsString(f) || strlen(f->valuestring) >= cap)
    return BAD("etcd key %s: field \"%s\": expected a string of at most %zu characters" FIX, key, field, cap - 1);
  if (name && !fl_name_ok(f->valuestring))
    return BAD("etcd key %s: field \"%s\": '%.80s' is not a name (letters, digits, '.', '_', '-')" FIX, key, field,
               f->valuestring);
  snprintf(out, cap, "%s", f->valuestring);
  return 0;
}

static int get_u64(const char *key, const cJSON *o, const char *field, uint64_t min, uint64_t max, uint64_t *out,
                   hpmh_status *st) {
  const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, field);
  if (!f) return BAD("etcd key %s: field \"%s\" is missing" FIX, key, field);
  double d = cJSON_IsNumber(f) ? f->valuedouble : -1;
  if (!cJSON_IsNumber(f) || d != floor(d) || d < (double)min || d > (double)max)
    return BAD("etcd key %s: field \"%s\": expected a whole number %" PRIu64 "..%" PRIu64 FIX, key, field, min,
               max);
  *out = (uint64_t)d;
  return 0;
}

static int get_u32(const char *key, const cJSON *o, const char *field, uint32_t min, uint32_t max, uint32_t *out,
                   hpmh_status *st) {
  uint64_t v;
  if (get_u64(key, o, field, min, max, &v, st)) return -1;
  *out = (uint32_t)v;
  return 0;
}

#define TIME_MAX 253402300799ull /* 9999-12-31T23:59:59Z */

/* ---- records ------------------------------------------------------------- */

int fl_rollout_domain(fl_rollout *r, const char *name) {
  size_t x = 0;
  while (x < r->ndomains && strcmp(r->domains[x], name)) x++;
  if (x == r->ndomains) {
    if (r->ndomains == FL_MAX_DOMAINS) return -1;
    snprintf(r->domains[r->ndomains++], sizeof r->domains[0], "%s", name);
  }
  return (int)x;
}

int fl_rollout_parse(const char *key, const uint8_t *v, size_t len, fl_rollout *r, hpmh_status *st) {
  memset(r, 0, sizeof *r);
  cJSON *o = parse_obj(key, v, len, st);
  if (!o) return -1;
  char kind[16], state[16];
  int rc = -1;
  if (get_str(key, o, "id", r->id, sizeof r->id, true, st) || get_str(key, o, "kind", kind, sizeof kind, false, st) ||
      get_str(key, o, "target", r->target, sizeof r->target, false, st) ||
      get_u32(key, o, "max_out", 1, FL_MAX_SLOTS, &r->max_out, st) ||
      get_u32(key, o, "min_delay_s", 0, 7 * 86400, &r->min_delay_s, st) ||
      get_u32(key, o, "budget", 1, FL_MAX_HOSTS, &r->budget, st) ||
      get_str(key, o, "state", state, sizeof state, false, st) ||
      get_str(key, o, "reason", r->reason, sizeof r->reason, false, st) ||
      get_u64(key, o, "created", 0, TIME_MAX, &r->created, st) || get_u64(key, o, "changed", 0, TIME_MAX, &r->changed, st))
    goto out;
  if (!strcmp(kind, "hotpatch")) r->hotpatch = true;
  else if (strcmp(kind, "baseline")) {
    BAD("etcd key %s: field \"kind\": '%s' is not baseline or hotpatch" FIX, key, kind);
    goto out;
  }
  int s = fl_rstate_from(state);
  if (s < 0) {
    BAD("etcd key %s: field \"state\": '%s' is not one of running, paused, aborted, stopped, done" FIX, key, state);
    goto out;
  }
  r->state = (fl_rstate)s;
  const cJSON *dl = cJSON_GetObjectItemCaseSensitive(o, "deadlines");
  if (!cJSON_IsObject(dl)) {
    BAD("etcd key %s: field \"deadlines\": expected an object of seconds per phase" FIX, key);
    goto out;
  }
  for (int p = FL_DRAINING; p <= FL_VERIFYING; p++) {
    char f[40];
    snprintf(f, sizeof f, "deadlines.%s", phase_names[p]);
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(dl, phase_names[p]);
    double d = cJSON_IsNumber(x) ? x->valuedouble : 0;
    if (!cJSON_IsNumber(x) || d != floor(d) || d < 1 || d > 30 * 86400) {
      BAD("etcd key %s: field \"%s\": expected whole seconds, 1..2592000" FIX, key, f);
      goto out;
    }
    r->deadline_s[p] = (uint32_t)d;
  }
  const cJSON *rings = cJSON_GetObjectItemCaseSensitive(o, "rings");
  int nr = cJSON_IsArray(rings) ? cJSON_GetArraySize(rings) : -1;
  if (nr < 1 || nr > FL_MAX_RINGS) {
    BAD("etcd key %s: field \"rings\": expected 1..%d arrays of host names" FIX, key, FL_MAX_RINGS);
    goto out;
  }
  r->nrings = (size_t)nr;
  for (int i = 0; i < nr; i++) {
    const cJSON *ring = cJSON_GetArrayItem(rings, i), *h;
    if (!cJSON_IsArray(ring) || !cJSON_GetArraySize(ring)) {
      BAD("etcd key %s: field \"rings[%d]\": expected a non-empty array of host names" FIX, key, i);
      goto out;
    }
    cJSON_ArrayForEach(h, ring) {
      if (!cJSON_IsString(h) || !fl_name_ok(h->valuestring)) {
        BAD("etcd key %s: field \"rings[%d]\": an entry is not a host name" FIX, key, i);
        goto out;
      }
      for (size_t k = 0; k < r->nhosts; k++)
        if (!strcmp(r->hosts[k], h->valuestring)) {
          BAD("etcd key %s: field \"rings[%d]\": host %s is named twice" FIX, key, i, h->valuestring);
          goto out;
        }
      if (r->nhosts >= FL_MAX_HOSTS) {
        BAD("etcd key %s: field \"rings\": more than %d hosts" FIX, key, FL_MAX_HOSTS);
        goto out;
      }
      snprintf(r->hosts[r->nhosts], sizeof r->hosts[0], "%s", h->valuestring);
      r->host_ring[r->nhosts++] = (uint32_t)i;
    }
  }
  /* "domains": the fault domain of each host, an array per ring as "rings" */
  const cJSON *doms = cJSON_GetObjectItemCaseSensitive(o, "domains");
  if (!cJSON_IsArray(doms) || cJSON_GetArraySize(doms) != nr) {
    BAD("etcd key %s: field \"domains\": expected %d arrays of fault domains, one per ring" FIX, key, nr);
    goto out;
  }
  size_t k = 0;
  for (int i = 0; i < nr; i++) {
    const cJSON *ring = cJSON_GetArrayItem(doms, i), *d;
    if (!cJSON_IsArray(ring) || cJSON_GetArraySize(ring) != cJSON_GetArraySize(cJSON_GetArrayItem(rings, i))) {
      BAD("etcd key %s: field \"domains[%d]\": expected one fault domain per host of rings[%d]" FIX, key, i, i);
      goto out;
    }
    cJSON_ArrayForEach(d, ring) {
      if (!cJSON_IsString(d) || !fl_name_ok(d->valuestring)) {
        BAD("etcd key %s: field \"domains[%d]\": an entry is not a fault domain name" FIX, key, i);
        goto out;
      }
      int x = fl_rollout_domain(r, d->valuestring);
      if (x < 0) {
        BAD("etcd key %s: field \"domains\": more than %d fault domains" FIX, key, FL_MAX_DOMAINS);
        goto out;
      }
      r->host_domain[k++] = (uint16_t)x;
    }
  }
  rc = 0;
out:
  cJSON_Delete(o);
  return rc;
}

int fl_host_parse(const char *key, const uint8_t *v, size_t len, fl_host *h, hpmh_status *st) {
  memset(h, 0, sizeof *h);
  cJSON *o = parse_obj(key, v, len, st);
  if (!o) return -1;
  char phase[16];
  int rc = -1;
  if (get_str(key, o, "name", h->name, sizeof h->name, true, st) ||
      get_str(key, o, "rollout", h->rollout, sizeof h->rollout, true, st) ||
      get_str(key, o, "domain", h->domain, sizeof h->domain, true, st) ||
      get_u32(key, o, "ring", 0, FL_MAX_RINGS - 1, &h->ring, st) ||
      get_str(key, o, "phase", phase, sizeof phase, false, st) ||
      get_u64(key, o, "since", 0, TIME_MAX, &h->since, st) || get_u64(key, o, "deadline", 0, TIME_MAX, &h->deadline, st) ||
      get_str(key, o, "reason", h->reason, sizeof h->reason, false, st) ||
      get_u32(key, o, "transitions", 0, UINT32_MAX, &h->transitions, st))
    goto out;
  for (int i = 0; i < FL_NPHASES; i++) h->took[i] = -1;
  const cJSON *took = cJSON_GetObjectItemCaseSensitive(o, "took"); /* optional: records of an older hpm lack it */
  if (took && !cJSON_IsObject(took)) {
    BAD("etcd key %s: field \"took\": expected an object of phase: seconds" FIX, key);
    goto out;
  }
  for (const cJSON *t = took ? took->child : NULL; t; t = t->next) {
    int tp = fl_phase_from(t->string);
    uint64_t sec;
    if (tp < 0 || fl_phase_terminal((fl_phase)tp)) {
      BAD("etcd key %s: field \"took\": '%.40s' is not one of waiting, draining, installing, rebooting, verifying"
          FIX, key, t->string);
      goto out;
    }
    if (get_u64(key, took, t->string, 0, TIME_MAX, &sec, st)) goto out;
    h->took[tp] = (int64_t)sec;
  }
  const cJSON *freed = cJSON_GetObjectItemCaseSensitive(o, "freed"); /* optional: written when true */
  if (freed && !cJSON_IsBool(freed)) {
    BAD("etcd key %s: field \"freed\": expected true or false" FIX, key);
    goto out;
  }
  h->freed = cJSON_IsTrue(freed);
  int p = fl_phase_from(phase);
  if (p < 0) {
    BAD("etcd key %s: field \"phase\": '%s' is not one of waiting, draining, installing, rebooting, verifying, "
        "done, failed" FIX, key, phase);
    goto out;
  }
  h->phase = (fl_phase)p;
  if (name_is_key(key, h->name, st)) goto out;
  rc = 0;
out:
  cJSON_Delete(o);
  return rc;
}

int fl_slots_parse(const char *key, const uint8_t *v, size_t len, fl_slots *s, hpmh_status *st) {
  memset(s, 0, sizeof *s);
  cJSON *o = parse_obj(key, v, len, st);
  if (!o) return -1;
  int rc = -1;
  if (get_u64(key, o, "gen", 0, UINT64_MAX >> 12, &s->gen, st) ||
      get_u64(key, o, "last_start", 0, TIME_MAX, &s->last_start, st))
    goto out;
  const cJSON *hs = cJSON_GetObjectItemCaseSensitive(o, "holders"), *x;
  if (!cJSON_IsArray(hs) || cJSON_GetArraySize(hs) > FL_MAX_SLOTS) {
    BAD("etcd key %s: field \"holders\": expected an array of at most %d slot holders" FIX, key, FL_MAX_SLOTS);
    goto out;
  }
  cJSON_ArrayForEach(x, hs) {
    fl_slot *sl = &s->slots[s->nslots];
    if (!cJSON_IsObject(x) || get_str(key, x, "host", sl->host, sizeof sl->host, true, st) ||
        get_str(key, x, "domain", sl->domain, sizeof sl->domain, true, st) ||
        get_u64(key, x, "since", 0, TIME_MAX, &sl->since, st)) {
      if (!cJSON_IsObject(x)) BAD("etcd key %s: field \"holders\": an entry is not an object" FIX, key);
      goto out;
    }
    for (size_t k = 0; k < s->nslots; k++)
      if (!strcmp(s->slots[k].host, sl->host)) {
        BAD("etcd key %s: field \"holders\": host %s holds two slots" FIX, key, sl->host);
        goto out;
      }
    s->nslots++;
  }
  if (get_str(key, o, "phases", s->phases, sizeof s->phases, false, st)) goto out;
  if (strspn(s->phases, "wodf") != strlen(s->phases)) {
    BAD("etcd key %s: field \"phases\": expected one of the letters w, o, d, f per host" FIX, key);
    goto out;
  }
  rc = 0;
out:
  cJSON_Delete(o);
  return rc;
}

static int facts_parse(const char *key, const cJSON *f, fl_facts *x, hpmh_status *st) {
  char slot[2] = "";
  uint64_t seq;
  if (get_u64(key, f, "time", 0, TIME_MAX, &x->time, st) ||
      get_str(key, f, "baseline", x->baseline, sizeof x->baseline, false, st) ||
      get_str(key, f, "slot", slot, sizeof slot, false, st) ||
      get_u64(key, f, "hotpatch_sequence", 0, UINT32_MAX, &seq, st) ||
      get_str(key, f, "hotpatch_id", x->hotpatch_id, sizeof x->hotpatch_id, false, st) ||
      get_str(key, f, "health", x->health, sizeof x->health, false, st) ||
      get_str(key, f, "compliance", x->compliance, sizeof x->compliance, false, st))
    return -1;
  if (slot[0] && (slot[0] < 'a' || slot[0] > 'z'))
    return BAD("etcd key %s: field \"slot\": expected a slot letter or \"\"" FIX, key);
  x->slot = slot[0];
  x->hotpatch_seq = (uint32_t)seq;
  const cJSON *h = cJSON_GetObjectItemCaseSensitive(f, "history");
  if (!cJSON_IsArray(h) || cJSON_GetArraySize(h) > FL_FACTS_HISTORY)
    return BAD("etcd key %s: field \"history\": expected an array of at most %d rows" FIX, key, FL_FACTS_HISTORY);
  for (const cJSON *r = h->child; r; r = r->next) {
    fl_fact_row *w = &x->history[x->nhistory];
    uint64_t id;
    if (!cJSON_IsObject(r)) return BAD("etcd key %s: field \"history\": a row is not an object" FIX, key);
    if (get_u64(key, r, "id", 1, 1ull << 53, &id, st) || /* exact as a JSON number */ get_u64(key, r, "time", 0, TIME_MAX, &w->time, st) ||
        get_str(key, r, "event", w->event, sizeof w->event, false, st) ||
        get_str(key, r, "result", w->result, sizeof w->result, false, st) ||
        get_str(key, r, "ids", w->ids, sizeof w->ids, false, st))
      return -1;
    w->id = (int64_t)id;
    x->nhistory++;
  }
  x->have = true;
  return 0;
}

bool fl_facts_same(const fl_facts *a, const fl_facts *b) {
  if (a->have != b->have || strcmp(a->baseline, b->baseline) || a->slot != b->slot ||
      a->hotpatch_seq != b->hotpatch_seq || strcmp(a->hotpatch_id, b->hotpatch_id) || strcmp(a->health, b->health) ||
      strcmp(a->compliance, b->compliance) || a->nhistory != b->nhistory)
    return false;
  for (size_t i = 0; i < a->nhistory; i++)
    if (a->history[i].id != b->history[i].id || strcmp(a->history[i].result, b->history[i].result)) return false;
  return true;
}

int fl_member_parse(const char *key, const uint8_t *v, size_t len, fl_member *m, hpmh_status *st) {
  memset(m, 0, sizeof *m);
  cJSON *o = parse_obj(key, v, len, st);
  if (!o) return -1;
  int rc = -1;
  if (get_str(key, o, "name", m->name, sizeof m->name, true, st) ||
      get_str(key, o, "domain", m->domain, sizeof m->domain, true, st))
    goto out;
  if (name_is_key(key, m->name, st)) goto out;
  const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, "facts"); /* optional: a host that published none */
  if (f && (!cJSON_IsObject(f) || facts_parse(key, f, &m->facts, st))) {
    if (!cJSON_IsObject(f)) BAD("etcd key %s: field \"facts\": expected an object" FIX, key);
    goto out;
  }
  rc = 0;
out:
  cJSON_Delete(o);
  return rc;
}

static char *print(cJSON *o) {
  char *t = o ? cJSON_PrintUnformatted(o) : NULL;
  cJSON_Delete(o);
  return t;
}

char *fl_rollout_json(const fl_rollout *r) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "id", r->id);
  cJSON_AddStringToObject(o, "kind", r->hotpatch ? "hotpatch" : "baseline");
  cJSON_AddStringToObject(o, "target", r->target);
  cJSON *rings = cJSON_AddArrayToObject(o, "rings");
  for (size_t i = 0; i < r->nrings; i++) {
    cJSON *ring = cJSON_CreateArray();
    for (size_t k = 0; k < r->nhosts; k++)
      if (r->host_ring[k] == i) cJSON_AddItemToArray(ring, cJSON_CreateString(r->hosts[k]));
    cJSON_AddItemToArray(rings, ring);
  }
  cJSON *doms = cJSON_AddArrayToObject(o, "domains");
  for (size_t i = 0; i < r->nrings; i++) {
    cJSON *ring = cJSON_CreateArray();
    for (size_t k = 0; k < r->nhosts; k++)
      if (r->host_ring[k] == i) cJSON_AddItemToArray(ring, cJSON_CreateString(r->domains[r->host_domain[k]]));
    cJSON_AddItemToArray(doms, ring);
  }
  cJSON_AddNumberToObject(o, "max_out", r->max_out);
  cJSON_AddNumberToObject(o, "min_delay_s", r->min_delay_s);
  cJSON_AddNumberToObject(o, "budget", r->budget);
  cJSON *dl = cJSON_AddObjectToObject(o, "deadlines");
  for (int p = FL_DRAINING; p <= FL_VERIFYING; p++) cJSON_AddNumberToObject(dl, phase_names[p], r->deadline_s[p]);
  cJSON_AddStringToObject(o, "state", fl_rstate_name(r->state));
  cJSON_AddStringToObject(o, "reason", r->reason);
  cJSON_AddNumberToObject(o, "created", (double)r->created);
  cJSON_AddNumberToObject(o, "changed", (double)r->changed);
  return print(o);
}

char *fl_host_json(const fl_host *h) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "name", h->name);
  cJSON_AddStringToObject(o, "rollout", h->rollout);
  cJSON_AddStringToObject(o, "domain", h->domain);
  cJSON_AddNumberToObject(o, "ring", h->ring);
  cJSON_AddStringToObject(o, "phase", fl_phase_name(h->phase));
  cJSON_AddNumberToObject(o, "since", (double)h->since);
  cJSON_AddNumberToObject(o, "deadline", (double)h->deadline);
  cJSON_AddStringToObject(o, "reason", h->reason);
  cJSON_AddNumberToObject(o, "transitions", h->transitions);
  if (h->freed) cJSON_AddTrueToObject(o, "freed");
  cJSON *took = cJSON_AddObjectToObject(o, "took");
  for (int i = 0; i < FL_NPHASES; i++)
    if (h->took[i] >= 0 && !fl_phase_terminal((fl_phase)i))
      cJSON_AddNumberToObject(took, fl_phase_name((fl_phase)i), (double)h->took[i]);
  return print(o);
}

char *fl_slots_json(const fl_slots *s) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "gen", (double)s->gen);
  cJSON_AddNumberToObject(o, "last_start", (double)s->last_start);
  cJSON *hs = cJSON_AddArrayToObject(o, "holders");
  for (size_t i = 0; i < s->nslots; i++) {
    cJSON *x = cJSON_CreateObject();
    cJSON_AddStringToObject(x, "host", s->slots[i].host);
    cJSON_AddStringToObject(x, "domain", s->slots[i].domain);
    cJSON_AddNumberToObject(x, "since", (double)s->slots[i].since);
    cJSON_AddItemToArray(hs, x);
  }
  cJSON_AddStringToObject(o, "phases", s->phases);
  return print(o);
}

char *fl_released_json(const char *host, uint64_t now) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "host", host);
  cJSON_AddNumberToObject(o, "time", (double)now);
  return print(o);
}

char *fl_member_json(const fl_member *m) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "name", m->name);
  cJSON_AddStringToObject(o, "domain", m->domain);
  const fl_facts *x = &m->facts;
  if (x->have) {
    cJSON *f = cJSON_AddObjectToObject(o, "facts");
    char slot[2] = {x->slot, 0};
    cJSON_AddNumberToObject(f, "time", (double)x->time);
    cJSON_AddStringToObject(f, "baseline", x->baseline);
    cJSON_AddStringToObject(f, "slot", slot);
    cJSON_AddNumberToObject(f, "hotpatch_sequence", x->hotpatch_seq);
    cJSON_AddStringToObject(f, "hotpatch_id", x->hotpatch_id);
    cJSON_AddStringToObject(f, "health", x->health);
    cJSON_AddStringToObject(f, "compliance", x->compliance);
    cJSON *h = cJSON_AddArrayToObject(f, "history");
    for (size_t i = 0; i < x->nhistory; i++) {
      cJSON *r = cJSON_CreateObject();
      cJSON_AddNumberToObject(r, "id", (double)x->history[i].id);
      cJSON_AddNumberToObject(r, "time", (double)x->history[i].time);
      cJSON_AddStringToObject(r, "event", x->history[i].event);
      cJSON_AddStringToObject(r, "result", x->history[i].result);
      cJSON_AddStringToObject(r, "ids", x->history[i].ids);
      cJSON_AddItemToArray(h, r);
    }
  }
  return print(o);
}

/* ---- the snapshot ---------------------------------------------------------- */

void fl_snap_free(fl_snap *s) {
  free(s->hosts);
  free(s->members);
  s->hosts = NULL;
  s->members = NULL;
  s->nhosts = s->nmembers = 0;
}

fl_host *fl_snap_host(const fl_snap *s, const char *name) {
  for (size_t i = 0; i < s->nhosts; i++)
    if (!strcmp(s->hosts[i].name, name)) return &s->hosts[i];
  return NULL;
}

fl_member *fl_snap_member(const fl_snap *s, const char *name) {
  for (size_t i = 0; i < s->nmembers; i++)
    if (!strcmp(s->members[i].name, name)) return &s->members[i];
  return NULL;
}

static bool under(const fl_kv *kv, const char *dir, char *name, size_t cap) {
  size_t n = strlen(dir);
  if (kv->key_len <= n || memcmp(kv->key, dir, n)) return false;
  snprintf(name, cap, "%.*s", (int)(kv->key_len - n), (const char *)kv->key + n);
  return true;
}

static int host_order(const void *a, const void *b) {
  const fl_host *x = a, *y = b;
  if (x->ring != y->ring) return x->ring < y->ring ? -1 : 1;
  return strcmp(x->name, y->name);
}

static int snap_fail(fl_snap *s, hpmh_status *st, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int snap_fail(fl_snap *s, hpmh_status *st, const char *field, const char *fmt, ...) {
  char m[600];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(m, sizeof m, fmt, ap);
  va_end(ap);
  fl_snap_free(s);
  return hpmh_fail(st, HPMH_E_INVALID, field, "%s" FIX, m);
}

char fl_phase_class(fl_phase p) {
  return p == FL_WAITING ? 'w' : p == FL_DONE ? 'd' : p == FL_FAILED ? 'f' : 'o';
}

int fl_rollout_index(const fl_rollout *r, const char *name) {
  for (size_t i = 0; i < r->nhosts; i++)
    if (!strcmp(r->hosts[i], name)) return (int)i;
  return -1;
}

/* The slots' phases fit the rollout, and every holder is one of its hosts. */
static int slots_fit(fl_snap *s, hpmh_status *st) {
  size_t n = strlen(s->slots.phases);
  if (n != s->rollout.nhosts)
    return snap_fail(s, st, FL_KEY_SLOTS, "etcd key %s: field \"phases\": %zu letters for the %zu hosts of rollout %s",
                     FL_KEY_SLOTS, n, s->rollout.nhosts, s->rollout.id);
  for (size_t i = 0; i < s->slots.nslots; i++)
    if (fl_rollout_index(&s->rollout, s->slots.slots[i].host) < 0)
      return snap_fail(s, st, FL_KEY_SLOTS, "etcd key %s: field \"holders\": %s is no host of the rollout",
                       FL_KEY_SLOTS, s->slots.slots[i].host);
  return 0;
}

int fl_snap_summary(fl_snap *s, const fl_host *own, hpmh_status *st) {
  const fl_rollout *r = &s->rollout;
  s->light = true;
  free(s->hosts);
  s->nhosts = 0;
  s->hosts = calloc(r->nhosts + 1, sizeof *s->hosts);
  if (!s->hosts) return hpmh_fail(st, HPMH_E_NOMEM, "", "out of memory");
  if (slots_fit(s, st)) return -1;
  static const fl_phase by_letter[] = {['w'] = FL_WAITING, ['o'] = FL_DRAINING, ['d'] = FL_DONE, ['f'] = FL_FAILED};
  for (size_t i = 0; i < r->nhosts; i++) {
    fl_host *h = &s->hosts[i];
    snprintf(h->name, sizeof h->name, "%s", r->hosts[i]);
    snprintf(h->rollout, sizeof h->rollout, "%s", r->id);
    snprintf(h->domain, sizeof h->domain, "%s", r->domains[r->host_domain[i]]);
    h->ring = r->host_ring[i];
    h->phase = by_letter[(unsigned char)s->slots.phases[i]];
    h->alive = true; /* not read: only a holder's lease counts (suspects) */
    for (int k = 0; k < FL_NPHASES; k++) h->took[k] = -1;
  }
  s->nhosts = r->nhosts;
  for (size_t i = 0; i < s->slots.nslots; i++) {
    fl_host *h = &s->hosts[fl_rollout_index(r, s->slots.slots[i].host)];
    h->holds = true;
    h->alive_create = s->slots.slots[i].alive_create;
    h->alive = h->alive_create != 0;
  }
  if (!own) return 0;
  int k = fl_rollout_index(r, own->name);
  if (k < 0) return 0;
  fl_host *h = &s->hosts[k];
  if (fl_phase_class(own->phase) != s->slots.phases[k] || strcmp(own->domain, h->domain) || own->ring != h->ring)
    return snap_fail(s, st, "", "etcd key %s%s: phase %s, domain %s, ring %u; but %s says '%c' (field \"phases\") "
                     "and rollout %s puts it in domain %s, ring %u", FL_DIR_HOSTS, own->name,
                     fl_phase_name(own->phase), own->domain, own->ring, FL_KEY_SLOTS, s->slots.phases[k], r->id,
                     h->domain, h->ring);
  bool holds = h->holds;
  *h = *own;
  h->holds = holds;
  return 0;
}

int fl_snap_from(const fl_etcd_result *r, fl_snap *s, hpmh_status *st) {
  memset(s, 0, sizeof *s);
  s->revision = r->revision;
  s->hosts = calloc(r->nkvs + 1, sizeof *s->hosts);
  s->members = calloc(r->nkvs + 1, sizeof *s->members);
  if (!s->hosts || !s->members) {
    fl_snap_free(s);
    return hpmh_fail(st, HPMH_E_NOMEM, "", "out of memory");
  }
  for (size_t i = 0; i < r->nkvs; i++) {
    const fl_kv *kv = &r->kvs[i];
    char key[FL_ETCD_KEY_MAX + 1], name[FL_ETCD_KEY_MAX + 1];
    snprintf(key, sizeof key, "%.*s", (int)kv->key_len, (const char *)kv->key);
    int rc = 0;
    if (!strcmp(key, FL_KEY_ROLLOUT)) {
      rc = fl_rollout_parse(key, kv->value, kv->value_len, &s->rollout, st);
      s->has_rollout = true;
      s->rollout_rev = kv->mod_revision;
    } else if (!strcmp(key, FL_KEY_SLOTS)) {
      rc = fl_slots_parse(key, kv->value, kv->value_len, &s->slots, st);
      s->slots_rev = kv->mod_revision;
    } else if (under(kv, FL_DIR_HOSTS, name, sizeof name)) {
      if (!(rc = fl_host_parse(key, kv->value, kv->value_len, &s->hosts[s->nhosts], st)))
        s->hosts[s->nhosts++].mod_revision = kv->mod_revision;
    } else if (under(kv, FL_DIR_MEMBERS, name, sizeof name)) {
      if (!(rc = fl_member_parse(key, kv->value, kv->value_len, &s->members[s->nmembers], st))) s->nmembers++;
    }
    if (rc) {
      fl_snap_free(s);
      return -1;
    }
  }
  /* records of another rollout (one being started, or a start that did
   * not finish) are not this rollout's: the next start rewrites or deletes them */
  size_t kept = 0;
  for (size_t k = 0; k < s->nhosts; k++)
    if (s->has_rollout && !strcmp(s->hosts[k].rollout, s->rollout.id)) {
      fl_host x = s->hosts[kept];
      s->hosts[kept++] = s->hosts[k];
      s->hosts[k] = x;
    }
  s->nstale = s->nhosts - kept;
  s->nhosts = kept;
  for (size_t i = 0; i < r->nkvs; i++) {
    char name[FL_ETCD_KEY_MAX + 1];
    if (!under(&r->kvs[i], FL_DIR_ALIVE, name, sizeof name)) continue;
    fl_member *m = fl_snap_member(s, name);
    if (m) {
      m->alive_create = r->kvs[i].create_revision;
      m->alive_lease = r->kvs[i].lease;
    }
    for (size_t k = 0; k < s->slots.nslots; k++)
      if (!strcmp(s->slots.slots[k].host, name)) s->slots.slots[k].alive_create = r->kvs[i].create_revision;
    fl_host *h = fl_snap_host(s, name);
    if (h) {
      h->alive = true;
      h->alive_create = r->kvs[i].create_revision;
    }
  }
  if (!s->has_rollout) {
    if (s->slots.nslots)
      return snap_fail(s, st, FL_KEY_SLOTS, "etcd key %s: field \"holders\": %s holds a slot, but there is no %s",
                       FL_KEY_SLOTS, s->slots.slots[0].host, FL_KEY_ROLLOUT);
    return 0;
  }
  /* the records agree with each other */
  const fl_rollout *ro = &s->rollout;
  if (slots_fit(s, st)) return -1;
  fl_slots_drop_freed(&s->slots, ro, s->hosts, s->nhosts);
  for (size_t k = 0; k < s->nhosts; k++)
    if (fl_rollout_index(ro, s->hosts[k].name) < 0)
      return snap_fail(s, st, "", "etcd key %s%s: rollout %s does not name this host in its rings", FL_DIR_HOSTS,
                       s->hosts[k].name, ro->id);
  for (size_t k = 0; k < ro->nhosts; k++) {
    fl_host *h = fl_snap_host(s, ro->hosts[k]);
    if (!h && ro->state != FL_RUNNING && ro->state != FL_PAUSED) continue; /* a new rollout's start rewrote it */
    if (!h)
      return snap_fail(s, st, FL_KEY_ROLLOUT, "etcd key %s: field \"rings\": host %s has no record %s%s",
                       FL_KEY_ROLLOUT, ro->hosts[k], FL_DIR_HOSTS, ro->hosts[k]);
    if (h->ring != ro->host_ring[k] || strcmp(h->domain, ro->domains[ro->host_domain[k]]))
      return snap_fail(s, st, "", "etcd key %s%s: ring %u, fault domain %s; but the rollout puts it in ring %u, "
                       "fault domain %s", FL_DIR_HOSTS, h->name, h->ring, h->domain, ro->host_ring[k],
                       ro->domains[ro->host_domain[k]]);
    if (fl_phase_class(h->phase) != s->slots.phases[k])
      return snap_fail(s, st, "", "etcd key %s%s: phase %s, but %s says '%c' for it (field \"phases\")",
                       FL_DIR_HOSTS, h->name, fl_phase_name(h->phase), FL_KEY_SLOTS, s->slots.phases[k]);
  }
  for (size_t i = 0; i < s->slots.nslots; i++) {
    fl_host *x = fl_snap_host(s, s->slots.slots[i].host);
    if (x) x->holds = true;
  }
  qsort(s->hosts, s->nhosts, sizeof *s->hosts, host_order);
  return 0;
}

void fl_slots_drop_freed(fl_slots *sl, const fl_rollout *r, const fl_host *recs, size_t n) {
  size_t kept = 0;
  for (size_t i = 0; i < sl->nslots; i++) {
    const fl_host *x = NULL;
    for (size_t k = 0; k < n && !x; k++)
      if (!strcmp(recs[k].name, sl->slots[i].host) && !strcmp(recs[k].rollout, r->id)) x = &recs[k];
    if (x && x->freed && fl_phase_terminal(x->phase)) {
      int at = fl_rollout_index(r, x->name);
      if (at >= 0 && (size_t)at < strlen(sl->phases)) sl->phases[at] = fl_phase_class(x->phase);
      continue;
    }
    sl->slots[kept++] = sl->slots[i];
  }
  sl->nslots = kept;
}

void fl_slots_after(const fl_snap *s, const fl_host *n, bool take, bool release, uint64_t now, fl_slots *out) {
  *out = s->slots;
  out->gen++;
  out->nslots = 0;
  for (size_t i = 0; i < s->slots.nslots; i++)
    if (!release || strcmp(s->slots.slots[i].host, n->name)) out->slots[out->nslots++] = s->slots.slots[i];
  if (take && out->nslots < FL_MAX_SLOTS) {
    fl_slot *me = &out->slots[out->nslots++];
    memset(me, 0, sizeof *me);
    snprintf(me->host, sizeof me->host, "%s", n->name);
    snprintf(me->domain, sizeof me->domain, "%s", n->domain);
    me->since = now;
    me->alive_create = n->alive_create;
    out->last_start = now;
  }
  int k = fl_rollout_index(&s->rollout, n->name);
  if (k >= 0 && (size_t)k < strlen(out->phases)) out->phases[k] = fl_phase_class(n->phase);
}

/* ---- decisions ------------------------------------------------------------- */

uint32_t fl_budget_used(const fl_snap *s) {
  uint32_t n = 0;
  for (size_t i = 0; i < s->nhosts; i++)
    if (s->hosts[i].phase == FL_FAILED || (s->hosts[i].holds && !s->hosts[i].alive)) n++;
  return n;
}

bool fl_budget_exceeded(const fl_snap *s) {
  return s->has_rollout && fl_budget_used(s) > s->rollout.budget;
}

uint32_t fl_default_budget(const fl_rollout *r) {
  size_t largest = 0;
  for (size_t i = 0; i < r->nrings; i++) {
    size_t n = 0;
    for (size_t k = 0; k < r->nhosts; k++) n += r->host_ring[k] == i;
    if (n > largest) largest = n;
  }
  return largest / 3 ? (uint32_t)(largest / 3) : 1;
}

uint32_t fl_domain_cap(uint32_t n) {
  uint32_t c = n * FL_DOMAIN_PERCENT / 100;
  return c ? c : 1;
}

int fl_may_take(const fl_snap *s, const fl_host *h, uint64_t now, char *why, size_t n) {
  if (!s->has_rollout) return snprintf(why, n, "no rollout"), 0;
  const fl_rollout *r = &s->rollout;
  if (r->state != FL_RUNNING)
    return snprintf(why, n, "the rollout is %s (%s)", fl_rstate_name(r->state), r->reason), 0;
  if (h->phase != FL_WAITING) return snprintf(why, n, "%s is %s, not waiting", h->name, fl_phase_name(h->phase)), 0;
  if (fl_budget_exceeded(s))
    return snprintf(why, n, "the failure budget is exceeded (%u of %u)", fl_budget_used(s), r->budget), 0;
  for (size_t i = 0; i < s->nhosts; i++) {
    const fl_host *o = &s->hosts[i];
    if (o->ring < h->ring && !fl_phase_terminal(o->phase))
      return snprintf(why, n, "ring %u waits for ring %u (%s is %s)", h->ring, o->ring, o->name,
                      s->light && fl_phase_out(o->phase) ? "out" : fl_phase_name(o->phase)), 0;
  }
  if (s->slots.nslots >= r->max_out) {
    char who[200] = "";
    for (size_t i = 0; i < s->slots.nslots; i++)
      snprintf(who + strlen(who), sizeof who - strlen(who), "%s%s", i ? ", " : "", s->slots.slots[i].host);
    return snprintf(why, n, "%zu of %u slots taken (%s)", s->slots.nslots, r->max_out, who), 0;
  }
  uint32_t in_domain = 0, domain_out = 0;
  for (size_t i = 0; i < s->nhosts; i++) in_domain += !strcmp(s->hosts[i].domain, h->domain);
  for (size_t i = 0; i < s->slots.nslots; i++) {
    const fl_slot *sl = &s->slots.slots[i];
    if (strcmp(sl->domain, h->domain))
      return snprintf(why, n, "fault domain %s is out (%s holds a slot); %s is in %s", sl->domain, sl->host, h->name,
                      h->domain), 0;
    domain_out++;
  }
  uint32_t cap = fl_domain_cap(in_domain);
  if (domain_out >= cap)
    return snprintf(why, n, "%u of %u hosts of fault domain %s are out (at most %u%%: %u)", domain_out, in_domain,
                    h->domain, FL_DOMAIN_PERCENT, cap), 0;
  if (s->slots.last_start && now < s->slots.last_start + r->min_delay_s)
    return snprintf(why, n, "the minimum delay between hosts (%u s) has %" PRIu64 " s left", r->min_delay_s,
                    s->slots.last_start + r->min_delay_s - now), 0;
  why[0] = '\0';
  return 1;
}

void fl_why_waiting(const fl_snap *s, uint64_t now, char *why, size_t n) {
  why[0] = '\0';
  for (size_t i = 0; i < s->nhosts; i++)
    if (s->hosts[i].phase == FL_WAITING) {
      char w[400];
      if (fl_may_take(s, &s->hosts[i], now, w, sizeof w)) snprintf(why, n, "%s may take a slot", s->hosts[i].name);
      else snprintf(why, n, "%s waits: %s", s->hosts[i].name, w);
      return;
    }
}

void fl_host_move(fl_host *h, fl_phase to, const fl_rollout *r, uint64_t now, const char *fmt, ...) {
  va_list ap;
  if (!fl_phase_terminal(h->phase))
    h->took[h->phase] = (h->took[h->phase] > 0 ? h->took[h->phase] : 0) + (int64_t)(now > h->since ? now - h->since : 0);
  h->phase = to;
  h->since = now;
  h->deadline = fl_phase_out(to) ? now + r->deadline_s[to] : 0;
  h->transitions++;
  va_start(ap, fmt);
  vsnprintf(h->reason, sizeof h->reason, fmt, ap);
  va_end(ap);
}
