/* SPDX-License-Identifier: MIT */
/* Rollouts through etcd: the store, the operator's calls (fleet.h).  The
 * host side is step.c, the command cmd.c. */
#include "fleet/fleet.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "fleet/txn.h"
#include "update/source.h"

int fl_open(hpm_ctx *ctx, fl_conn *c, hpmh_status *st) {
  memset(c, 0, sizeof *c);
  c->ctx = ctx;
  c->worked_phase = -1;
  c->rollout_cache_rev = -1;
  const char *err = NULL;
  c->p = hpm_ctx_policy(ctx, NULL, &err);
  if (!c->p) return hpmh_fail(st, HPMH_E_INVALID, "", "%s", err ? err : "the policy file is broken");
  if (!c->p->fleet_endpoints[0])
    return hpmh_fail(st, HPMH_E_INVALID, "endpoints",
                     "%s: [fleet] endpoints is not set; set it to the etcd members' client URLs "
                     "(endpoints = http://10.0.0.1:2379,http://10.0.0.2:2379,http://10.0.0.3:2379)", ctx->conf);
  if (c->p->fleet_host[0]) snprintf(c->host, sizeof c->host, "%s", c->p->fleet_host);
  else if (gethostname(c->host, sizeof c->host) || !fl_name_ok(c->host))
    return hpmh_fail(st, HPMH_E_INVALID, "host",
                     "%s: this host's name '%.63s' is not a fleet name; set [fleet] host (letters, digits, '.', '_', '-')",
                     ctx->conf, c->host);
  snprintf(c->domain, sizeof c->domain, "%s", c->p->fleet_domain);
  return fl_etcd_init(&c->etcd, c->p->fleet_endpoints, (long)c->p->fleet_request_timeout_ms, st);
}

void fl_close(fl_conn *c) {
  free(c->rollout_cache);
  c->rollout_cache = NULL;
  c->rollout_cache_rev = -1;
}

/* Moves r's key-values to the end of all's (r keeps none). */
static int take_kvs(fl_etcd_result *all, fl_etcd_result *r, hpmh_status *st) {
  if (all->nkvs + r->nkvs > 4 * FL_MAX_HOSTS + 64)
    return hpmh_fail(st, HPMH_E_INVALID, "", "etcd: more than %d keys under %s", 4 * FL_MAX_HOSTS + 64, FL_PREFIX);
  fl_kv *k = realloc(all->kvs, (all->nkvs + r->nkvs + 1) * sizeof *k);
  if (!k) return hpmh_fail(st, HPMH_E_NOMEM, "", "out of memory");
  memcpy(k + all->nkvs, r->kvs, r->nkvs * sizeof *k);
  all->kvs = k;
  all->nkvs += r->nkvs;
  free(r->kvs);
  r->kvs = NULL;
  r->nkvs = 0;
  return 0;
}

int fl_read(fl_conn *c, fl_snap *s, hpmh_status *st) {
  uint8_t end[sizeof FL_PREFIX];
  size_t endn = fl_etcd_prefix_end(FL_PREFIX, strlen(FL_PREFIX), end);
  char from[FL_ETCD_KEY_MAX + 2];
  size_t fromn = strlen(FL_PREFIX);
  memcpy(from, FL_PREFIX, fromn);
  fl_etcd_result all = {0};
  memset(s, 0, sizeof *s);
  int rc = 0;
  for (;;) {
    fl_op op = {.kind = FL_OP_RANGE, .key = from, .key_len = fromn, .range_end = end, .range_end_len = endn,
                .limit = FL_READ_PAGE, .revision = all.revision};
    fl_etcd_result r;
    if ((rc = fl_etcd_range(&c->etcd, &op, &r, st))) {
      fl_etcd_result_free(&r);
      break;
    }
    if (!all.revision) all.revision = r.revision;
    bool more = r.more && r.nkvs;
    if (more) { /* the next page starts after this one's last key */
      const fl_kv *last = &r.kvs[r.nkvs - 1];
      fromn = last->key_len + 1;
      memcpy(from, last->key, last->key_len);
      from[last->key_len] = '\0';
    }
    rc = take_kvs(&all, &r, st);
    fl_etcd_result_free(&r);
    if (rc || !more) break;
  }
  if (!rc) rc = fl_snap_from(&all, s, st);
  fl_etcd_result_free(&all);
  return rc;
}

static const fl_kv *only_kv(const fl_etcd_result *r) { return r && r->nkvs ? &r->kvs[0] : NULL; }

static void key_text(const fl_kv *kv, char *out, size_t cap) {
  snprintf(out, cap, "%.*s", (int)kv->key_len, (const char *)kv->key);
}

/* A holder's alive key and record as read (ops[0], ops[1] of a txn's
 * answer): the key's create_revision into slot, the record (if any)
 * added to recs. */
static int holder_from(const fl_etcd_result *ops, fl_slot *slot, fl_host *recs, size_t *n, hpmh_status *st) {
  const fl_kv *kv = only_kv(&ops[0]);
  slot->alive_create = kv ? kv->create_revision : 0;
  if (!(kv = only_kv(&ops[1]))) return 0;
  char key[FL_ETCD_KEY_MAX + 1];
  key_text(kv, key, sizeof key);
  if (fl_host_parse(key, kv->value, kv->value_len, &recs[*n], st)) return -1;
  recs[(*n)++].mod_revision = kv->mod_revision;
  return 0;
}

/* The alive keys and records of holders this read did not cover, in one
 * more request. */
static int read_holders(fl_conn *c, fl_snap *s, const bool *covered, fl_host *recs, size_t *nrecs, hpmh_status *st) {
  fl_txb t;
  fl_txb_init(&t);
  size_t idx[FL_MAX_SLOTS], n = 0;
  for (size_t i = 0; i < s->slots.nslots; i++)
    if (!covered[i]) {
      fl_txb_range(&t, FL_DIR_ALIVE, s->slots.slots[i].host);
      fl_txb_range(&t, FL_DIR_HOSTS, s->slots.slots[i].host);
      idx[n++] = i;
    }
  if (!n) return 0;
  fl_etcd_result r;
  int rc = fl_txb_exec(c, &t, NULL, 0, &r, st);
  fl_txb_free(&t);
  if (!rc && r.nops != 2 * n) rc = hpmh_fail(st, HPMH_E_INVALID, "", "etcd txn: %zu answers to %zu ranges", r.nops, 2 * n);
  for (size_t k = 0; !rc && k < n; k++) rc = holder_from(&r.ops[2 * k], &s->slots.slots[idx[k]], recs, nrecs, st);
  fl_etcd_result_free(&r);
  return rc;
}

int fl_read_own(fl_conn *c, fl_snap *s, hpmh_status *st) {
  memset(s, 0, sizeof *s);
  s->light = true;
  fl_txb t;
  fl_txb_init(&t);
  /* the rollout: when its mod_revision is not the one cached (-1: none
   * cached, never equal), the failure branch reads it with the rest */
  fl_txb_cmp(&t, FL_KEY_ROLLOUT, "", FL_CMP_MOD, c->rollout_cache_rev);
  fl_txb_range(&t, FL_KEY_SLOTS, "");
  fl_txb_range(&t, FL_DIR_HOSTS, c->host);
  fl_txb_range(&t, FL_DIR_MEMBERS, c->host);
  fl_txb_range(&t, FL_DIR_ALIVE, c->host);
  size_t fixed = t.nops;
  for (size_t i = 0; i < c->nholders; i++) {
    fl_txb_range(&t, FL_DIR_ALIVE, c->holders[i]);
    fl_txb_range(&t, FL_DIR_HOSTS, c->holders[i]);
  }
  fl_op all[FL_TXB_MAX + 1];
  memcpy(all, t.ops, t.nops * sizeof *all);
  size_t nall = t.nops;
  all[nall++] = (fl_op){.kind = FL_OP_RANGE, .key = FL_KEY_ROLLOUT, .key_len = strlen(FL_KEY_ROLLOUT)};
  fl_etcd_result r;
  int rc = fl_txb_exec(c, &t, all, nall, &r, st);
  fl_txb_free(&t);
  if (rc) {
    fl_etcd_result_free(&r);
    return -1;
  }
  bool fresh = !r.succeeded;
  if (r.nops != (fresh ? nall : nall - 1)) {
    fl_etcd_result_free(&r);
    return hpmh_fail(st, HPMH_E_INVALID, "", "etcd txn: %zu answers to %zu ranges", r.nops, fresh ? nall : nall - 1);
  }
  s->revision = r.revision;
  char key[FL_ETCD_KEY_MAX + 1];
  const fl_kv *kv;
  fl_host own;
  bool have_own = false;
  memset(&own, 0, sizeof own);
  s->members = calloc(1, sizeof *s->members);
  if (!s->members) rc = hpmh_fail(st, HPMH_E_NOMEM, "", "out of memory");
  if (!rc && fresh) {
    c->rollout_cache_rev = -1;
    kv = only_kv(&r.ops[nall - 1]);
    if (kv && !c->rollout_cache && !(c->rollout_cache = malloc(sizeof *c->rollout_cache)))
      rc = hpmh_fail(st, HPMH_E_NOMEM, "", "out of memory");
    else if (kv) key_text(kv, key, sizeof key);
    if (!rc && kv && !(rc = fl_rollout_parse(key, kv->value, kv->value_len, c->rollout_cache, st)))
      c->rollout_cache_rev = kv->mod_revision;
    if (!rc && !kv) c->rollout_cache_rev = 0;
  }
  if (!rc && c->rollout_cache_rev > 0) {
    s->has_rollout = true;
    s->rollout = *c->rollout_cache;
    s->rollout_rev = c->rollout_cache_rev;
  }
  if (!rc && (kv = only_kv(&r.ops[0]))) {
    key_text(kv, key, sizeof key);
    if (!(rc = fl_slots_parse(key, kv->value, kv->value_len, &s->slots, st))) s->slots_rev = kv->mod_revision;
  }
  if (!rc && (kv = only_kv(&r.ops[1]))) {
    key_text(kv, key, sizeof key);
    if (!(rc = fl_host_parse(key, kv->value, kv->value_len, &own, st))) {
      own.mod_revision = kv->mod_revision;
      have_own = s->has_rollout && !strcmp(own.rollout, s->rollout.id);
    }
  }
  if (!rc && (kv = only_kv(&r.ops[2]))) {
    key_text(kv, key, sizeof key);
    if (!(rc = fl_member_parse(key, kv->value, kv->value_len, &s->members[0], st))) s->nmembers = 1;
  }
  int64_t alive = (kv = only_kv(&r.ops[3])) ? kv->create_revision : 0;
  if (s->nmembers) {
    s->members[0].alive_create = alive;
    s->members[0].alive_lease = kv ? kv->lease : 0;
  }
  own.alive = alive != 0;
  own.alive_create = alive;
  bool covered[FL_MAX_SLOTS] = {false};
  fl_host recs[FL_MAX_SLOTS + 1]; /* the holders' records, and this host's */
  size_t nrecs = 0;
  if (have_own) recs[nrecs++] = own;
  for (size_t i = 0; !rc && i < s->slots.nslots; i++) {
    const char *hn = s->slots.slots[i].host;
    if (!strcmp(hn, c->host)) {
      covered[i] = true;
      s->slots.slots[i].alive_create = alive;
    }
    for (size_t k = 0; k < c->nholders && !covered[i]; k++)
      if (!strcmp(c->holders[k], hn)) {
        covered[i] = true;
        rc = holder_from(&r.ops[fixed + 2 * k], &s->slots.slots[i], recs, &nrecs, st);
      }
  }
  fl_etcd_result_free(&r);
  if (!rc) rc = read_holders(c, s, covered, recs, &nrecs, st);
  if (!rc && s->has_rollout) fl_slots_drop_freed(&s->slots, &s->rollout, recs, nrecs);
  if (!rc) {
    c->nholders = s->slots.nslots;
    for (size_t i = 0; i < s->slots.nslots; i++) snprintf(c->holders[i], sizeof c->holders[i], "%s", s->slots.slots[i].host);
  }
  if (!rc && s->has_rollout) rc = fl_snap_summary(s, have_own ? &own : NULL, st);
  else if (!rc && s->slots.nslots)
    rc = hpmh_fail(st, HPMH_E_INVALID, FL_KEY_SLOTS, "etcd key %s: field \"holders\": %s holds a slot, but there is no %s; "
                   "fix the record or delete it (etcdctl del)", FL_KEY_SLOTS, s->slots.slots[0].host, FL_KEY_ROLLOUT);
  if (rc) fl_snap_free(s);
  return rc;
}

/* ---- transactions ------------------------------------------------------------ */

void fl_txb_init(fl_txb *t) { memset(t, 0, sizeof *t); }

void fl_txb_free(fl_txb *t) {
  for (size_t i = 0; i < t->nbufs; i++) free(t->bufs[i]);
  memset(t, 0, sizeof *t);
}

static const char *keep(fl_txb *t, char *s) {
  if (!s || t->nbufs >= sizeof t->bufs / sizeof t->bufs[0]) {
    free(s);
    t->broken = true;
    return "";
  }
  return t->bufs[t->nbufs++] = s;
}

static const char *keyf(fl_txb *t, const char *dir, const char *name) {
  size_t n = strlen(dir) + strlen(name) + 1;
  char *k = malloc(n);
  if (k) snprintf(k, n, "%s%s", dir, name);
  return keep(t, k);
}

void fl_txb_cmp(fl_txb *t, const char *dir, const char *name, fl_cmp_target target, int64_t rev) {
  if (t->ncmp >= FL_TXB_MAX) { t->broken = true; return; }
  const char *k = keyf(t, dir, name);
  t->cmp[t->ncmp++] = (fl_cmp){.key = k, .key_len = strlen(k), .target = target, .result = FL_CMP_EQUAL, .number = rev};
}

void fl_txb_put(fl_txb *t, const char *dir, const char *name, char *json, int64_t lease) {
  if (t->nops >= FL_TXB_MAX) { free(json); t->broken = true; return; }
  const char *k = keyf(t, dir, name);
  const char *v = keep(t, json);
  t->ops[t->nops++] = (fl_op){.kind = FL_OP_PUT, .key = k, .key_len = strlen(k), .value = v, .value_len = strlen(v),
                              .lease = lease};
}

void fl_txb_range(fl_txb *t, const char *dir, const char *name) {
  if (t->nops >= FL_TXB_MAX) { t->broken = true; return; }
  const char *k = keyf(t, dir, name);
  t->ops[t->nops++] = (fl_op){.kind = FL_OP_RANGE, .key = k, .key_len = strlen(k)};
}

void fl_txb_del(fl_txb *t, const char *dir, const char *name) {
  if (t->nops >= FL_TXB_MAX) { t->broken = true; return; }
  const char *k = keyf(t, dir, name);
  t->ops[t->nops++] = (fl_op){.kind = FL_OP_DELETE, .key = k, .key_len = strlen(k)};
}

int fl_txb_exec(fl_conn *c, fl_txb *t, const fl_op *failure, size_t nfailure, fl_etcd_result *r, hpmh_status *st) {
  memset(r, 0, sizeof *r);
  if (t->broken) return hpmh_fail(st, HPMH_E_NOMEM, "", "etcd transaction: out of memory or over %d compares/ops", FL_TXB_MAX);
  fl_txn txn = {.cmp = t->cmp, .ncmp = t->ncmp, .success = t->ops, .nsuccess = t->nops, .failure = failure,
                .nfailure = nfailure};
  return fl_etcd_txn(&c->etcd, &txn, r, st);
}

int fl_txb_run(fl_conn *c, fl_txb *t, bool *won, hpmh_status *st) {
  *won = false;
  fl_etcd_result r;
  int rc = fl_txb_exec(c, t, NULL, 0, &r, st);
  if (!rc) {
    *won = r.succeeded;
    t->revision = r.revision;
  }
  fl_etcd_result_free(&r);
  return rc;
}

/* The compares every change of the rollout's state makes: the rollout and
 * the slots as read (which every host transition rewrites). */
void fl_txb_guard(fl_txb *t, const fl_snap *s) {
  fl_txb_cmp(t, FL_KEY_ROLLOUT, "", FL_CMP_MOD, s->rollout_rev);
  fl_txb_cmp(t, FL_KEY_SLOTS, "", FL_CMP_MOD, s->slots_rev);
}

void fl_txb_move(fl_txb *t, const fl_snap *s, const fl_host *h, const fl_host *n, bool take, bool release, uint64_t now) {
  if (release && !take && fl_phase_terminal(n->phase)) {
    fl_host f = *n;
    f.freed = true;
    fl_txb_cmp(t, FL_DIR_HOSTS, h->name, FL_CMP_MOD, h->mod_revision);
    fl_txb_put(t, FL_DIR_HOSTS, h->name, fl_host_json(&f), 0);
    fl_txb_put(t, FL_KEY_RELEASED, "", fl_released_json(h->name, now), 0);
    t->released = true;
    return;
  }
  bool shared = take || release || fl_phase_terminal(n->phase);
  if (shared) fl_txb_guard(t, s);
  fl_txb_cmp(t, FL_DIR_HOSTS, h->name, FL_CMP_MOD, h->mod_revision);
  if (take)
    for (size_t i = 0; i < s->nhosts; i++)
      if (s->hosts[i].holds) fl_txb_cmp(t, FL_DIR_ALIVE, s->hosts[i].name, FL_CMP_CREATE, s->hosts[i].alive_create);
  fl_txb_put(t, FL_DIR_HOSTS, h->name, fl_host_json(n), 0);
  t->has_slots = shared;
  if (shared) {
    fl_slots_after(s, n, take, release, now, &t->slots);
    fl_txb_put(t, FL_KEY_SLOTS, "", fl_slots_json(&t->slots), 0);
  }
}

/* ---- the operator ------------------------------------------------------------- */

static int check_target(fl_conn *c, const fl_start_req *q, hpmh_status *st) {
  hpm_source src;
  hpm_src_err e = {0};
  hpm_catalog cat;
  hpm_catalog_change ch;
  uint64_t prev;
  char path[HPM_SOURCE_MAX + 32];
  snprintf(path, sizeof path, "%s/%s", c->ctx->state_dir, HPM_CATALOG_STATE_FILE);
  if (access(path, F_OK))
    return hpmh_fail(st, HPMH_E_REFUSED, "",
                     "%s: no signed catalog on this host; fetch one first (hpm catalog --source URL), the rollout's "
                     "target is checked against it", path);
  if (hpm_source_parse(c->ctx->state_dir, &src, &e) != HPM_SRC_OK)
    return hpmh_fail(st, HPMH_E_IO, "", "%s", e.msg);
  src.read_only = true;
  if (hpm_source_fetch_catalog(c->ctx, &src, hpm_now(), &cat, &ch, &prev, &e) != HPM_SRC_OK)
    return hpmh_fail(st, HPMH_E_REFUSED, "", "the catalog this host holds does not verify: %s", e.msg);
  bool found = false;
  char *end;
  unsigned long seq = strtoul(q->target, &end, 10);
  for (size_t i = 0; i < cat.count && !found; i++) {
    const hpm_catalog_entry *x = &cat.entries[i];
    if (q->hotpatch) found = x->kind == HPM_KIND_HOTPATCH && !*end && x->sequence == seq;
    else found = x->kind == HPM_KIND_BASELINE && !strcmp(x->version, q->target);
  }
  uint64_t serial = cat.serial;
  hpm_catalog_free(&cat);
  if (!found)
    return hpmh_fail(st, HPMH_E_REFUSED, "",
                     "%s %s is not in the signed catalog this host holds (%s, serial %" PRIu64
                     "); name a release the catalog lists (hpm catalog)",
                     q->hotpatch ? "hotpatch sequence" : "baseline version", q->target, path, serial);
  return 0;
}

#define START_BATCH (FL_TXB_MAX - 8)

/* One transaction of a start: the rollout and the slots as read, then ops. */
static int start_txn(fl_conn *c, fl_txb *t, int64_t *revision, hpmh_status *st) {
  bool won;
  int rc = fl_txb_run(c, t, &won, st);
  *revision = t->revision;
  fl_txb_free(t);
  if (!rc && !won) rc = hpmh_fail(st, HPMH_E_REFUSED, "", "the rollout changed while it was being started; try again");
  return rc;
}

int fl_rollout_start(fl_conn *c, const fl_start_req *q, char id[FL_NAME_MAX + 1], hpmh_status *st) {
  if (!q->nhosts || q->nhosts > FL_MAX_HOSTS)
    return hpmh_fail(st, HPMH_E_INVALID, "ring", "%zu hosts: a rollout takes 1..%d", q->nhosts, FL_MAX_HOSTS);
  if (check_target(c, q, st)) return -1;
  fl_snap s;
  if (fl_read(c, &s, st)) return -1;
  int rc = -1;
  uint64_t now = hpm_now();
  fl_rollout *r = calloc(1, sizeof *r);
  fl_txb t;
  fl_txb_init(&t);
  if (!r) {
    hpmh_fail(st, HPMH_E_NOMEM, "", "out of memory");
    goto out;
  }
  if (s.has_rollout && (s.rollout.state == FL_RUNNING || s.rollout.state == FL_PAUSED)) {
    hpmh_fail(st, HPMH_E_REFUSED, "", "rollout %s is %s; abort it first (hpm fleet rollout abort)", s.rollout.id,
              fl_rstate_name(s.rollout.state));
    goto out;
  }
  if (s.slots.nslots) {
    hpmh_fail(st, HPMH_E_REFUSED, "", "%s still holds a slot of rollout %s; wait for it, or release it (hpm fleet host release %s)",
              s.slots.slots[0].host, s.rollout.id, s.slots.slots[0].host);
    goto out;
  }
  snprintf(r->id, sizeof r->id, "r%" PRIu64 "-%" PRId64, now, s.revision);
  r->hotpatch = q->hotpatch;
  snprintf(r->target, sizeof r->target, "%s", q->target);
  r->max_out = q->max_out ? q->max_out : 1;
  r->min_delay_s = q->min_delay_s;
  memcpy(r->deadline_s, q->deadline_s, sizeof r->deadline_s);
  r->state = FL_RUNNING;
  snprintf(r->reason, sizeof r->reason, "started by the operator");
  r->created = r->changed = now;
  r->nrings = q->nrings;
  /* every host is a member; its fault domain is the one it registered */
  uint16_t *dom = calloc(q->nhosts, sizeof *dom);
  if (!dom) {
    hpmh_fail(st, HPMH_E_NOMEM, "", "out of memory");
    goto out;
  }
  for (size_t i = 0; i < q->nhosts; i++) {
    fl_member *m = fl_snap_member(&s, q->hosts[i]);
    if (!m) {
      hpmh_fail(st, HPMH_E_REFUSED, "ring",
                "unknown host %s: no %s%s in etcd (a host registers when its agent first steps with [fleet] endpoints set)",
                q->hosts[i], FL_DIR_MEMBERS, q->hosts[i]);
      free(dom);
      goto out;
    }
    int x = fl_rollout_domain(r, m->domain);
    if (x < 0) {
      hpmh_fail(st, HPMH_E_REFUSED, "ring", "the hosts are in more than %d fault domains", FL_MAX_DOMAINS);
      free(dom);
      goto out;
    }
    dom[i] = (uint16_t)x;
  }
  /* ring by ring; within a ring, a domain's hosts after each other */
  for (uint32_t ring = 0; ring < q->nrings; ring++)
    for (size_t d = 0; d < r->ndomains; d++)
      for (size_t i = 0; i < q->nhosts; i++)
        if (q->host_ring[i] == ring && dom[i] == d) {
          snprintf(r->hosts[r->nhosts], sizeof r->hosts[0], "%s", q->hosts[i]);
          r->host_ring[r->nhosts] = ring;
          r->host_domain[r->nhosts++] = (uint16_t)d;
        }
  free(dom);
  r->budget = q->budget ? q->budget : fl_default_budget(r);
  /* the hosts' records, in batches */
  int64_t rev = 0;
  for (size_t i = 0; i < r->nhosts; i++) {
    if (!t.nops) fl_txb_guard(&t, &s);
    fl_host h = {0};
    for (int k = 0; k < FL_NPHASES; k++) h.took[k] = -1;
    h.phase = FL_DONE; /* no phase to account for before the first */
    snprintf(h.name, sizeof h.name, "%s", r->hosts[i]);
    snprintf(h.rollout, sizeof h.rollout, "%s", r->id);
    snprintf(h.domain, sizeof h.domain, "%s", r->domains[r->host_domain[i]]);
    h.ring = r->host_ring[i];
    fl_host_move(&h, FL_WAITING, r, now, "rollout %s started", r->id);
    h.transitions = 0;
    fl_txb_put(&t, FL_DIR_HOSTS, h.name, fl_host_json(&h), 0);
    if ((t.nops == START_BATCH || i + 1 == r->nhosts) && start_txn(c, &t, &rev, st)) goto out;
  }
  /* the rollout and its slots, at once */
  fl_slots empty = {.gen = s.slots.gen + 1};
  memset(empty.phases, 'w', r->nhosts);
  fl_txb_guard(&t, &s);
  fl_txb_put(&t, FL_KEY_SLOTS, "", fl_slots_json(&empty), 0);
  fl_txb_put(&t, FL_KEY_ROLLOUT, "", fl_rollout_json(r), 0);
  if (start_txn(c, &t, &rev, st)) goto out;
  snprintf(id, FL_NAME_MAX + 1, "%s", r->id);
  rc = 0;
  /* the records of hosts it does not name, while the rollout is still this
   * one; what a failed batch leaves are records of an older ID, ignored by
   * everyone */
  size_t nold = s.nhosts + s.nstale;
  for (size_t i = 0; i < nold; i++) {
    if (fl_rollout_index(r, s.hosts[i].name) < 0) {
      if (!t.nops) fl_txb_cmp(&t, FL_KEY_ROLLOUT, "", FL_CMP_MOD, rev);
      fl_txb_del(&t, FL_DIR_HOSTS, s.hosts[i].name);
    }
    hpmh_status ignored;
    int64_t r2;
    if (t.nops && (t.nops == START_BATCH || i + 1 == nold) && start_txn(c, &t, &r2, &ignored)) break;
  }
out:
  fl_txb_free(&t);
  free(r);
  fl_snap_free(&s);
  return rc;
}

int fl_rollout_set(fl_conn *c, fl_rstate to, hpmh_status *st) {
  fl_snap s;
  if (fl_read(c, &s, st)) return -1;
  int rc = -1;
  const char *verb = to == FL_PAUSED ? "pause" : to == FL_RUNNING ? "resume" : "abort";
  if (!s.has_rollout) {
    hpmh_fail(st, HPMH_E_REFUSED, "", "no rollout to %s (%s does not exist)", verb, FL_KEY_ROLLOUT);
    goto out;
  }
  fl_rstate from = s.rollout.state;
  bool ok = (to == FL_PAUSED && from == FL_RUNNING) || (to == FL_RUNNING && from == FL_PAUSED) ||
            (to == FL_ABORTED && (from == FL_RUNNING || from == FL_PAUSED));
  if (!ok) {
    hpmh_fail(st, HPMH_E_REFUSED, "", "rollout %s is %s: it cannot be %s", s.rollout.id, fl_rstate_name(from),
              to == FL_PAUSED ? "paused (only a running one)" : to == FL_RUNNING ? "resumed (only a paused one)"
                                                                                  : "aborted (it has ended)");
    goto out;
  }
  fl_rollout r = s.rollout;
  r.state = to;
  r.changed = hpm_now();
  snprintf(r.reason, sizeof r.reason, "%s by the operator", to == FL_PAUSED ? "paused" : to == FL_RUNNING ? "resumed" : "aborted");
  fl_txb t;
  fl_txb_init(&t);
  fl_txb_cmp(&t, FL_KEY_ROLLOUT, "", FL_CMP_MOD, s.rollout_rev);
  fl_txb_put(&t, FL_KEY_ROLLOUT, "", fl_rollout_json(&r), 0);
  bool won;
  rc = fl_txb_run(c, &t, &won, st);
  fl_txb_free(&t);
  if (!rc && !won) rc = hpmh_fail(st, HPMH_E_REFUSED, "", "the rollout changed meanwhile; look again (hpm fleet status)");
out:
  fl_snap_free(&s);
  return rc;
}

static int operator_host(fl_conn *c, const char *name, bool release, hpmh_status *st) {
  fl_snap s;
  if (fl_read(c, &s, st)) return -1;
  int rc = -1;
  uint64_t now = hpm_now();
  fl_host *h = s.has_rollout ? fl_snap_host(&s, name) : NULL;
  if (!h) {
    hpmh_fail(st, HPMH_E_REFUSED, "", "%s is no host of the rollout (%s%s does not exist)", name, FL_DIR_HOSTS, name);
    goto out;
  }
  fl_host n = *h;
  if (release) {
    if (!h->holds) {
      hpmh_fail(st, HPMH_E_REFUSED, "", "%s holds no slot (it is %s)", name, fl_phase_name(h->phase));
      goto out;
    }
    if (h->deadline && now <= h->deadline) {
      hpmh_fail(st, HPMH_E_REFUSED, "",
                "%s is %s%s and its deadline has %" PRIu64 " s left; a slot is released only after the deadline",
                name, fl_phase_name(h->phase), h->alive ? "" : " (suspect: its lease is gone)", h->deadline - now);
      goto out;
    }
    if (!fl_phase_terminal(h->phase))
      fl_host_move(&n, FL_FAILED, &s.rollout, now, "released by the operator in phase %s after its deadline%s",
                   fl_phase_name(h->phase), h->alive ? "" : " (suspect: lease gone)");
  } else {
    if (fl_phase_terminal(h->phase)) {
      hpmh_fail(st, HPMH_E_REFUSED, "", "%s is already %s", name, fl_phase_name(h->phase));
      goto out;
    }
    fl_host_move(&n, FL_FAILED, &s.rollout, now, "failed by the operator in phase %s", fl_phase_name(h->phase));
  }
  fl_txb t;
  fl_txb_init(&t);
  fl_txb_guard(&t, &s);
  fl_txb_cmp(&t, FL_DIR_HOSTS, name, FL_CMP_MOD, h->mod_revision);
  fl_txb_put(&t, FL_DIR_HOSTS, name, fl_host_json(&n), 0);
  /* fail: an alive holder frees its slot itself once it has undrained */
  fl_slots_after(&s, &n, false, release, now, &t.slots);
  fl_txb_put(&t, FL_KEY_SLOTS, "", fl_slots_json(&t.slots), 0);
  bool won;
  rc = fl_txb_run(c, &t, &won, st);
  fl_txb_free(&t);
  if (!rc && !won) rc = hpmh_fail(st, HPMH_E_REFUSED, "", "%s changed meanwhile; look again (hpm fleet status)", name);
out:
  fl_snap_free(&s);
  return rc;
}

int fl_host_release(fl_conn *c, const char *host, hpmh_status *st) { return operator_host(c, host, true, st); }
int fl_host_fail(fl_conn *c, const char *host, hpmh_status *st) { return operator_host(c, host, false, st); }
