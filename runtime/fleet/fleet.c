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

int fl_read(fl_conn *c, fl_snap *s, hpmh_status *st) {
  fl_op op = {.kind = FL_OP_RANGE, .key = FL_PREFIX, .key_len = strlen(FL_PREFIX), .prefix = true};
  fl_etcd_result r;
  memset(s, 0, sizeof *s);
  int rc = fl_etcd_range(&c->etcd, &op, &r, st);
  if (!rc && r.more)
    rc = hpmh_fail(st, HPMH_E_INVALID, "", "etcd: more than %d keys under %s", FL_ETCD_MAX_KVS, FL_PREFIX);
  if (!rc) rc = fl_snap_from(&r, s, st);
  fl_etcd_result_free(&r);
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

void fl_txb_del(fl_txb *t, const char *dir, const char *name) {
  if (t->nops >= FL_TXB_MAX) { t->broken = true; return; }
  const char *k = keyf(t, dir, name);
  t->ops[t->nops++] = (fl_op){.kind = FL_OP_DELETE, .key = k, .key_len = strlen(k)};
}

int fl_txb_run(fl_conn *c, fl_txb *t, bool *won, hpmh_status *st) {
  *won = false;
  if (t->broken) return hpmh_fail(st, HPMH_E_NOMEM, "", "etcd transaction: out of memory or over %d compares/ops", FL_TXB_MAX);
  fl_txn txn = {.cmp = t->cmp, .ncmp = t->ncmp, .success = t->ops, .nsuccess = t->nops};
  fl_etcd_result r;
  int rc = fl_etcd_txn(&c->etcd, &txn, &r, st);
  if (!rc) *won = r.succeeded;
  fl_etcd_result_free(&r);
  return rc;
}

/* The compares every change of the rollout's state makes: the rollout and
 * the slots as read (which every host transition rewrites). */
void fl_txb_guard(fl_txb *t, const fl_snap *s) {
  fl_txb_cmp(t, FL_KEY_ROLLOUT, "", FL_CMP_MOD, s->rollout_rev);
  fl_txb_cmp(t, FL_KEY_SLOTS, "", FL_CMP_MOD, s->slots_rev);
}

/* slots with gen + 1, without host (NULL: everyone stays), plus add (may be NULL). */
char *fl_slots_next(const fl_snap *s, const char *without, const fl_slot *add, uint64_t last_start) {
  fl_slots n = s->slots;
  n.gen++;
  n.nslots = 0;
  for (size_t i = 0; i < s->slots.nslots; i++)
    if (!without || strcmp(s->slots.slots[i].host, without)) n.slots[n.nslots++] = s->slots.slots[i];
  if (add && n.nslots < FL_MAX_SLOTS) n.slots[n.nslots++] = *add;
  if (last_start) n.last_start = last_start;
  return fl_slots_json(&n);
}

void fl_txb_move(fl_txb *t, const fl_snap *s, const fl_host *h, const fl_host *n, bool take, bool release, uint64_t now) {
  bool shared = take || release || fl_phase_terminal(n->phase);
  if (shared) fl_txb_guard(t, s);
  fl_txb_cmp(t, FL_DIR_HOSTS, h->name, FL_CMP_MOD, h->mod_revision);
  fl_slot me = {0};
  if (take) {
    for (size_t i = 0; i < s->nhosts; i++)
      if (s->hosts[i].holds) fl_txb_cmp(t, FL_DIR_ALIVE, s->hosts[i].name, FL_CMP_CREATE, s->hosts[i].alive_create);
    snprintf(me.host, sizeof me.host, "%s", h->name);
    snprintf(me.domain, sizeof me.domain, "%s", h->domain);
    me.since = now;
  }
  fl_txb_put(t, FL_DIR_HOSTS, h->name, fl_host_json(n), 0);
  if (shared)
    fl_txb_put(t, FL_KEY_SLOTS, "", fl_slots_next(s, release ? h->name : NULL, take ? &me : NULL, take ? now : 0), 0);
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

int fl_rollout_start(fl_conn *c, const fl_start_req *q, char id[FL_NAME_MAX + 1], hpmh_status *st) {
  if (q->nhosts + 2 > FL_ETCD_MAX_TXN_OPS)
    return hpmh_fail(st, HPMH_E_INVALID, "ring", "%zu hosts: one rollout takes at most %d (one transaction)", q->nhosts,
                     FL_ETCD_MAX_TXN_OPS - 2);
  if (check_target(c, q, st)) return -1;
  fl_snap s;
  if (fl_read(c, &s, st)) return -1;
  int rc = -1;
  uint64_t now = hpm_now();
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
  fl_rollout r = {0};
  snprintf(r.id, sizeof r.id, "r%" PRIu64 "-%" PRId64, now, s.revision);
  r.hotpatch = q->hotpatch;
  snprintf(r.target, sizeof r.target, "%s", q->target);
  r.max_out = q->max_out ? q->max_out : 1;
  r.min_delay_s = q->min_delay_s;
  memcpy(r.deadline_s, q->deadline_s, sizeof r.deadline_s);
  r.state = FL_RUNNING;
  snprintf(r.reason, sizeof r.reason, "started by the operator");
  r.created = r.changed = now;
  r.nrings = q->nrings;
  r.nhosts = q->nhosts;
  memcpy(r.hosts, q->hosts, sizeof r.hosts);
  memcpy(r.host_ring, q->host_ring, sizeof r.host_ring);
  r.budget = q->budget ? q->budget : fl_default_budget(&r);
  fl_txb t;
  fl_txb_init(&t);
  fl_txb_guard(&t, &s);
  /* the previous rollout's hosts that this one does not name */
  for (size_t i = 0; i < s.nhosts; i++) {
    bool named = false;
    for (size_t k = 0; k < q->nhosts && !named; k++) named = !strcmp(q->hosts[k], s.hosts[i].name);
    if (!named) fl_txb_del(&t, FL_DIR_HOSTS, s.hosts[i].name);
  }
  for (size_t i = 0; i < q->nhosts; i++) {
    fl_member *m = fl_snap_member(&s, q->hosts[i]);
    if (!m) {
      hpmh_fail(st, HPMH_E_REFUSED, "ring",
                "unknown host %s: no %s%s in etcd (a host registers when its agent first steps with [fleet] endpoints set)",
                q->hosts[i], FL_DIR_MEMBERS, q->hosts[i]);
      fl_txb_free(&t);
      goto out;
    }
    fl_host h = {0};
    for (int k = 0; k < FL_NPHASES; k++) h.took[k] = -1;
    h.phase = FL_DONE; /* no phase to account for before the first */
    snprintf(h.name, sizeof h.name, "%s", m->name);
    snprintf(h.domain, sizeof h.domain, "%s", m->domain);
    h.ring = q->host_ring[i];
    fl_host_move(&h, FL_WAITING, &r, now, "rollout %s started", r.id);
    h.transitions = 0;
    fl_txb_put(&t, FL_DIR_HOSTS, h.name, fl_host_json(&h), 0);
  }
  fl_slots empty = {.gen = s.slots.gen + 1};
  fl_txb_put(&t, FL_KEY_SLOTS, "", fl_slots_json(&empty), 0);
  fl_txb_put(&t, FL_KEY_ROLLOUT, "", fl_rollout_json(&r), 0);
  bool won;
  rc = fl_txb_run(c, &t, &won, st);
  fl_txb_free(&t);
  if (!rc && !won) rc = hpmh_fail(st, HPMH_E_REFUSED, "", "the rollout changed while it was being started; try again");
  if (!rc) snprintf(id, FL_NAME_MAX + 1, "%s", r.id);
out:
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
  fl_txb_put(&t, FL_KEY_SLOTS, "", fl_slots_next(&s, release ? name : NULL, NULL, 0), 0);
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
