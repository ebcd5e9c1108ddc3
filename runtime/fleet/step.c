/* SPDX-License-Identifier: MIT */
/* The host side of a rollout: one step of this host's phase (fleet.h,
 * docs/fleet.md "The host side"). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "fileio.h"
#include "fleet/fleet.h"
#include "fleet/txn.h"
#include "runhook.h"

#define LEASE_FILE "fleet-lease"
#define ATTEMPTS 16

/* Run hook NAME of [fleet] hooks: 0 when it passed or does not exist
 * (absent means nothing to do), except for install and reboot, which must
 * exist. */
static int hook(fl_conn *c, const fl_snap *s, const char *name, char *why, size_t n) {
  if (c->cancel && atomic_load(c->cancel)) { /* stopping: no hook starts (the step writes nothing more) */
    snprintf(why, n, "hook %s not run: hpm is stopping", name);
    return -1;
  }
  char path[POLICY_PATH_MAX + 32];
  snprintf(path, sizeof path, "%s/%s", c->p->fleet_hooks, name);
  struct stat sb;
  if (stat(path, &sb) || !S_ISREG(sb.st_mode) || access(path, X_OK)) {
    bool needed = !strcmp(name, "install") || !strcmp(name, "reboot");
    if (needed) snprintf(why, n, "hook %s: no executable there (%s); install one ([fleet] hooks)", path, strerror(errno ? errno : ENOENT));
    return needed ? -1 : 0;
  }
  char e[6][FL_NAME_MAX + 64];
  snprintf(e[0], sizeof e[0], "HPM_FLEET_HOST=%s", c->host);
  snprintf(e[1], sizeof e[1], "HPM_FLEET_DOMAIN=%s", c->domain);
  snprintf(e[2], sizeof e[2], "HPM_FLEET_KIND=%s", s->rollout.hotpatch ? "hotpatch" : "baseline");
  snprintf(e[3], sizeof e[3], "HPM_FLEET_TARGET=%s", s->rollout.target);
  snprintf(e[4], sizeof e[4], "HPM_FLEET_ROLLOUT=%s", s->rollout.id);
  snprintf(e[5], sizeof e[5], "HPM_FLEET_HOOK=%s", name);
  char *env[] = {e[0], e[1], e[2], e[3], e[4], e[5], NULL};
  char r[400];
  if (hpm_run_hook_cancel(path, env, c->p->fleet_hook_timeout_s * 1000u, c->cancel, r, sizeof r)) {
    snprintf(why, n, "hook %s %.300s", name, r);
    return -1;
  }
  return 0;
}

/* This host's lease: kept alive, or a new one (its ID in STATE/fleet-lease). */
static int lease(fl_conn *c, bool *fresh, hpmh_status *st) {
  char path[POLICY_PATH_MAX + 32];
  snprintf(path, sizeof path, "%s/%s", c->ctx->state_dir, LEASE_FILE);
  *fresh = false;
  if (!c->lease) {
    FILE *f = fopen(path, "r");
    if (f) {
      if (fscanf(f, "%" SCNd64, &c->lease) != 1) c->lease = 0;
      fclose(f);
    }
  }
  if (c->lease && !fl_etcd_lease_keepalive(&c->etcd, c->lease, NULL, st)) return 0;
  if (c->lease && c->etcd.last_code != FL_ETCD_CODE_NOT_FOUND) return -1; /* etcd unreachable: not "lease gone" */
  if (fl_etcd_lease_grant(&c->etcd, c->p->fleet_lease_ttl_s, &c->lease, NULL, st)) return -1;
  char text[32];
  int n = snprintf(text, sizeof text, "%" PRId64 "\n", c->lease);
  mkdir(c->ctx->state_dir, 0755);
  if (hpmh_write_file(path, (const uint8_t *)text, (size_t)n, 0644, 0, st)) return -1;
  *fresh = true;
  return 0;
}

/* The agent is stopping (fl_conn.cancel): a hook it killed did not fail, so
 * nothing is written after it. */
static bool stopping(fl_conn *c, hpmh_status *st) {
  if (!c->cancel || !atomic_load(c->cancel)) return false;
  hpmh_fail(st, HPMH_E_IO, "", "stopping: this host's record stays in its phase; the next agent goes on from there");
  return true;
}

static int put(fl_conn *c, const char *dir, const char *name, char *json, int64_t lease_id, hpmh_status *st) {
  fl_txb t;
  fl_txb_init(&t);
  fl_txb_put(&t, dir, name, json, lease_id);
  fl_etcd_result r;
  int rc = t.broken ? hpmh_fail(st, HPMH_E_NOMEM, "", "out of memory") : fl_etcd_put(&c->etcd, &t.ops[0], &r, st);
  if (!t.broken) fl_etcd_result_free(&r);
  fl_txb_free(&t);
  return rc;
}

/* Move this host (h as read in s) to phase to, taking (take) or releasing
 * (release) its slot in the same transaction.  0 with *won, or -1. */
static int move(fl_conn *c, const fl_snap *s, const fl_host *h, fl_phase to, bool take, bool release, bool *won,
                hpmh_status *st, const char *fmt, ...) __attribute__((format(printf, 9, 10)));
static int move(fl_conn *c, const fl_snap *s, const fl_host *h, fl_phase to, bool take, bool release, bool *won,
                hpmh_status *st, const char *fmt, ...) {
  if (stopping(c, st)) return -1;
  uint64_t now = hpm_now();
  fl_host n = *h;
  char reason[FL_REASON_MAX + 1];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(reason, sizeof reason, fmt, ap);
  va_end(ap);
  if (to != h->phase) fl_host_move(&n, to, &s->rollout, now, "%s", reason);
  fl_txb t;
  fl_txb_init(&t);
  /* Taking or freeing a slot, or ending (done, failed), changes what others
   * decide: guarded by the rollout and the slots as read, and rewrites the
   * slots.  A move between out phases changes nothing for others: this
   * host's record as read (the operator's release rewrites it) is enough. */
  bool shared = take || release || fl_phase_terminal(to);
  if (shared) fl_txb_guard(&t, s);
  fl_txb_cmp(&t, FL_DIR_HOSTS, h->name, FL_CMP_MOD, h->mod_revision);
  fl_slot me = {0};
  if (take) {
    /* the liveness of every holder as read: a holder whose lease went
     * meanwhile is a suspect, which may exceed the budget */
    for (size_t i = 0; i < s->nhosts; i++)
      if (s->hosts[i].holds) fl_txb_cmp(&t, FL_DIR_ALIVE, s->hosts[i].name, FL_CMP_CREATE, s->hosts[i].alive_create);
    snprintf(me.host, sizeof me.host, "%s", h->name);
    snprintf(me.domain, sizeof me.domain, "%s", h->domain);
    me.since = now;
  }
  fl_txb_put(&t, FL_DIR_HOSTS, h->name, fl_host_json(&n), 0);
  if (shared)
    fl_txb_put(&t, FL_KEY_SLOTS, "", fl_slots_next(s, release ? h->name : NULL, take ? &me : NULL, take ? now : 0), 0);
  int rc = fl_txb_run(c, &t, won, st);
  fl_txb_free(&t);
  return rc;
}

static int set_state(fl_conn *c, const fl_snap *s, fl_rstate to, const char *reason, hpmh_status *st) {
  if (stopping(c, st)) return -1;
  fl_rollout r = s->rollout;
  r.state = to;
  r.changed = hpm_now();
  snprintf(r.reason, sizeof r.reason, "%s", reason);
  fl_txb t;
  fl_txb_init(&t);
  fl_txb_guard(&t, s);
  for (size_t i = 0; i < s->nhosts; i++)
    if (s->hosts[i].holds) fl_txb_cmp(&t, FL_DIR_ALIVE, s->hosts[i].name, FL_CMP_CREATE, s->hosts[i].alive_create);
  fl_txb_put(&t, FL_KEY_ROLLOUT, "", fl_rollout_json(&r), 0);
  bool won;
  int rc = fl_txb_run(c, &t, &won, st);
  fl_txb_free(&t);
  return rc;
}

#define NOTE(...) snprintf(rep->note, sizeof rep->note, __VA_ARGS__)

int fl_step(fl_conn *c, fl_step_report *rep, hpmh_status *st) {
  memset(rep, 0, sizeof *rep);
  bool fresh;
  if (lease(c, &fresh, st)) return -1;
  for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
    fl_snap s;
    if (fl_read(c, &s, st)) return -1;
    uint64_t now = hpm_now();
    int rc = 0;
    bool again = false, won = true;
    char why[400];
    fl_member *m = fl_snap_member(&s, c->host);
    fl_host *h = s.has_rollout ? fl_snap_host(&s, c->host) : NULL;
    if (!m || strcmp(m->domain, c->domain)) {
      fl_member me = {0};
      snprintf(me.name, sizeof me.name, "%s", c->host);
      snprintf(me.domain, sizeof me.domain, "%s", c->domain);
      rc = put(c, FL_DIR_MEMBERS, c->host, fl_member_json(&me), 0, st);
      again = true;
    } else if (fresh || !m->alive_create) {
      rc = put(c, FL_DIR_ALIVE, c->host, strdup("{}"), c->lease, st);
      fresh = false;
      again = true;
    } else if (!s.has_rollout) {
      NOTE("no rollout");
    } else if (!h) {
      rep->finished = s.rollout.state != FL_RUNNING && s.rollout.state != FL_PAUSED;
      NOTE("rollout %s does not name %s", s.rollout.id, c->host);
    } else if (s.rollout.state == FL_RUNNING && fl_budget_exceeded(&s)) {
      char r[FL_REASON_MAX + 1];
      snprintf(r, sizeof r, "stopped: the failure budget is exceeded (%u failed or suspect, budget %u)",
               fl_budget_used(&s), s.rollout.budget);
      rc = set_state(c, &s, FL_STOPPED, r, st);
      again = true;
    } else if (s.rollout.state == FL_RUNNING && !s.slots.nslots && ({
                 bool all = true;
                 for (size_t i = 0; i < s.nhosts; i++) all = all && fl_phase_terminal(s.hosts[i].phase);
                 all;
               })) {
      rc = set_state(c, &s, FL_FINISHED, "every host is done or failed", st);
      again = true;
    } else {
      rep->in_rollout = true;
      rep->phase = h->phase;
      const char *ph = fl_phase_name(h->phase);
      if (fl_phase_out(h->phase) && !h->holds) {
        rc = hpmh_fail(st, HPMH_E_INVALID, "", "etcd key %s%s: phase %s without a slot in %s; fix the record (hpm fleet host fail %s)",
                       FL_DIR_HOSTS, h->name, ph, FL_KEY_SLOTS, h->name);
      } else if (fl_phase_terminal(h->phase)) {
        if (h->holds) { /* failed by the operator while out: undrain, then free the slot */
          if (hook(c, &s, "undrain", why, sizeof why)) NOTE("%s (the slot is freed anyway: the host is failed)", why);
          rc = move(c, &s, h, h->phase, false, true, &won, st, "%s", h->reason);
          again = true;
        } else {
          rep->finished = true;
          NOTE("%s is %s: %s", c->host, ph, h->reason);
        }
      } else if (h->phase == FL_WAITING) {
        if (s.rollout.state != FL_RUNNING) {
          rep->finished = s.rollout.state != FL_PAUSED;
          NOTE("waiting: the rollout is %s (%s)", fl_rstate_name(s.rollout.state), s.rollout.reason);
        } else if (!fl_may_take(&s, h, now, why, sizeof why)) {
          NOTE("waiting: %s", why);
        } else if (hook(c, &s, "gate", why, sizeof why)) {
          NOTE("waiting: the gate says no: %s", why);
        } else {
          rc = move(c, &s, h, FL_DRAINING, true, false, &won, st, "took a slot (%zu of %u out)", s.slots.nslots + 1,
                    s.rollout.max_out);
          again = true;
        }
      } else if (h->deadline && now > h->deadline) {
        hook(c, &s, "undrain", why, sizeof why);
        rc = move(c, &s, h, FL_FAILED, false, true, &won, st, "the deadline of phase %s passed (%u s)", ph,
                  s.rollout.deadline_s[h->phase]);
        again = true;
      } else if (h->phase == FL_REBOOTING && c->rebooted) {
        rep->rebooting = true;
        NOTE("rebooting");
      } else {
        /* the work of the phase, then the next phase */
        const char *work = h->phase == FL_DRAINING ? "drain" : h->phase == FL_INSTALLING ? "install"
                         : h->phase == FL_REBOOTING ? NULL : "verify";
        fl_phase next = h->phase == FL_DRAINING ? FL_INSTALLING
                      : h->phase == FL_INSTALLING ? (s.rollout.hotpatch ? FL_VERIFYING : FL_REBOOTING)
                      : h->phase == FL_REBOOTING ? FL_VERIFYING : FL_DONE;
        bool worked = c->worked_phase == (int)h->phase && c->worked_since == h->since;
        if (work && !worked && hook(c, &s, work, why, sizeof why)) {
          char ignored[300];
          hook(c, &s, "undrain", ignored, sizeof ignored);
          rc = move(c, &s, h, FL_FAILED, false, true, &won, st, "%s failed: %s", ph, why);
        } else if (next == FL_DONE) {
          c->worked_phase = (int)h->phase;
          c->worked_since = h->since;
          if (!worked && hook(c, &s, "undrain", why, sizeof why))
            rc = move(c, &s, h, FL_FAILED, false, true, &won, st, "verified, but %s", why);
          else rc = move(c, &s, h, FL_DONE, false, true, &won, st, "verified healthy, undrained, slot freed");
        } else if (next == FL_REBOOTING) {
          c->worked_phase = (int)h->phase;
          c->worked_since = h->since;
          /* the slot is ours (the compares say so) before the reboot starts */
          rc = move(c, &s, h, FL_REBOOTING, false, false, &won, st, "installed %s %s; rebooting",
                    s.rollout.hotpatch ? "hotpatch" : "baseline", s.rollout.target);
          if (!rc && won) {
            c->rebooted = true;
            if (hook(c, &s, "reboot", why, sizeof why)) {
              fl_snap_free(&s);
              if (fl_read(c, &s, st)) return -1;
              fl_host *h2 = fl_snap_host(&s, c->host);
              c->rebooted = false;
              if (h2) rc = move(c, &s, h2, FL_FAILED, false, true, &won, st, "rebooting failed: %s", why);
            }
          }
        } else {
          c->worked_phase = (int)h->phase;
          c->worked_since = h->since;
          rc = move(c, &s, h, next, false, false, &won, st, "%s",
                    h->phase == FL_REBOOTING ? "up again after the reboot" : h->phase == FL_DRAINING ? "drained" : "installed");
        }
        again = true;
      }
      rep->phase = h->phase;
    }
    fl_snap_free(&s);
    if (rc) return -1;
    if (!again) return 0;
    (void)won; /* lost a race: read again and decide again */
  }
  NOTE("still contended after %d attempts; the next step tries again", ATTEMPTS);
  return 0;
}
