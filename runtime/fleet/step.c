/* SPDX-License-Identifier: MIT */
/* The host side of a rollout: one step of this host's phase (fleet.h,
 * docs/fleet.md "The host side"). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "boot/boot.h"
#include "clock.h"
#include "fileio.h"
#include "fleet/fleet.h"
#include "fleet/txn.h"
#include "hostfacts.h"
#include "hotpatch/health.h"
#include "runhook.h"
#include "update/update.h"

#define LEASE_FILE "fleet-lease"
#define ATTEMPTS 16

static bool hook_exists(const fl_conn *c, const char *name) {
  char path[POLICY_PATH_MAX + 32];
  snprintf(path, sizeof path, "%s/%s", c->p->fleet_hooks, name);
  struct stat sb;
  return !stat(path, &sb) && S_ISREG(sb.st_mode) && !access(path, X_OK);
}

/* Run hook NAME of [fleet] hooks: 0 when it passed or does not exist
 * (absent means nothing to do), except for reboot, and install when
 * [fleet] install = hook: those must exist. */
static int hook(fl_conn *c, const fl_snap *s, const char *name, char *why, size_t n) {
  if (c->cancel && atomic_load(c->cancel)) { /* stopping: no hook starts (the step writes nothing more) */
    snprintf(why, n, "hook %s not run: hpm is stopping", name);
    return -1;
  }
  char path[POLICY_PATH_MAX + 32];
  snprintf(path, sizeof path, "%s/%s", c->p->fleet_hooks, name);
  struct stat sb;
  if (stat(path, &sb) || !S_ISREG(sb.st_mode) || access(path, X_OK)) {
    bool needed = (!strcmp(name, "install") && c->p->fleet_install_hook) || !strcmp(name, "reboot");
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

/* [fleet] install = release: is the rollout's release in use and healthy?
 * 1 yes, 0 not yet (why says what it waits for), -1 no (why says why).
 * A baseline: this boot runs it (not a fallback to another slot) and is
 * marked good (the boot's health checks passed: hpm-mark-good.service).
 * A hotpatch: its health window (hotpatch/health.h, run by the agent's
 * loop) committed it; reverted is a failure. */
static int healthy(fl_conn *c, const fl_snap *s, char *why, size_t n) {
  const char *t = s->rollout.target;
  if (s->rollout.hotpatch) {
    uint32_t seq = (uint32_t)strtoul(t, NULL, 10);
    hp_health w;
    hp_health_read(c->ctx, &w);
    if (w.state != HP_HEALTH_NONE && w.seq == seq) {
      switch (w.state) {
        case HP_HEALTH_COMMITTED: return 1;
        case HP_HEALTH_VERIFYING:
          snprintf(why, n, "the health window of hotpatch sequence %u runs for %" PRIu64 " s more", seq,
                   w.until > hpm_now() ? w.until - hpm_now() : 0);
          return 0;
        default:
          snprintf(why, n, "the health window reverted hotpatch sequence %u: %.300s", seq, w.reason);
          return -1;
      }
    }
    hpm_applied a;
    hostfacts_applied_read(c->ctx, &a);
    if (a.seq == seq) return 1; /* applied where no process runs it: no window to wait for */
    snprintf(why, n, "hotpatch sequence %u is not applied (applied: %u)", seq, a.seq);
    return -1;
  }
  hpm_boot_info bi;
  char e[300];
  if (hpm_boot_info_read(&bi, e, sizeof e)) {
    snprintf(why, n, "cannot tell what this boot runs: %s", e);
    return -1;
  }
  if (strcmp(bi.version, t)) {
    snprintf(why, n, "this boot runs baseline %s (slot %c), not %s: it fell back (the staged slot was refused or its "
             "tries ran out; hpm status)", bi.version, hpm_bs_slot_letter((unsigned)bi.active), t);
    return -1;
  }
  if (bi.attempt == 0 || bi.markgood_for_running) return 1;
  snprintf(why, n, "baseline %s booted (slot %c, attempt %u); waiting for the boot's mark-good (its health checks: "
           "hpm-health-check.service)", t, hpm_bs_slot_letter((unsigned)bi.active), bi.attempt);
  return 0;
}

/* The work of an out phase before its move: 0 done, -1 failed (why), 1
 * not yet (why: the next step looks again). */
static int phase_work(fl_conn *c, const fl_snap *s, fl_phase ph, char *why, size_t n) {
  bool release = !c->p->fleet_install_hook;
  if (ph == FL_DRAINING) return hook(c, s, "drain", why, n);
  if (ph == FL_INSTALLING) {
    if (release) {
      char w[700];
      if (update_install_release(c->ctx, s->rollout.hotpatch ? HPM_KIND_HOTPATCH : HPM_KIND_BASELINE,
                                 s->rollout.target, w, sizeof w)) {
        snprintf(why, n, "%.380s", w);
        return -1;
      }
    }
    return hook(c, s, "install", why, n);
  }
  if (ph == FL_VERIFYING) {
    int r = release ? healthy(c, s, why, n) : 1;
    if (r <= 0) return r < 0 ? -1 : 1;
    return hook(c, s, "verify", why, n);
  }
  return 0;
}

/* The reboot: the reboot hook, or with install = release and no hook,
 * the context's reboot command ($HPM_REBOOT_CMD, systemctl reboot). */
static int reboot_now(fl_conn *c, const fl_snap *s, char *why, size_t n) {
  if (c->p->fleet_install_hook || hook_exists(c, "reboot")) return hook(c, s, "reboot", why, n);
  fflush(stdout);
  int rc = system(c->ctx->reboot_cmd);
  if (rc != -1 && WIFEXITED(rc) && !WEXITSTATUS(rc)) return 0;
  snprintf(why, n, "'%s' failed (status %d)", c->ctx->reboot_cmd, rc);
  return -1;
}

/* A hotpatch this host is done with, reverted afterwards for its health
 * (the crash-loop breaker, a window that ended after the host was done):
 * the fleet hears of it (the host becomes failed: the budget counts it). */
static bool reverted_after(fl_conn *c, const fl_snap *s, const fl_host *h, char *why, size_t n) {
  if (!s->rollout.hotpatch || c->p->fleet_install_hook || h->phase != FL_DONE) return false;
  uint32_t seq = (uint32_t)strtoul(s->rollout.target, NULL, 10);
  hp_bad *l;
  int nb = hp_bad_list(c->ctx, &l);
  bool found = false;
  for (int i = nb - 1; i >= 0 && !found; i--)
    if (l[i].seq == seq && l[i].time >= h->since) { /* marked bad: a revert for its health, not by hand */
      found = true;
      snprintf(why, n, "hotpatch sequence %u reverted for its health after this host was done: %.300s", seq,
               l[i].reason);
    }
  free(l);
  return found;
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
  /* taking or freeing a slot, or ending, is guarded by the rollout and the
   * slots as read (fleet.c, fl_txb_move; FleetLock uses the same) */
  fl_txb t;
  fl_txb_init(&t);
  fl_txb_move(&t, s, h, &n, take, release, now);
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

/* What this host runs, for the status page (facts.c): gathered at most
 * every FL_FACTS_INTERVAL_S by one process; true when *f differs from what
 * its member record m says, so the record is written only then. */
static bool facts_changed(fl_conn *c, const fl_member *m, uint64_t now, fl_facts *f) {
  if (c->facts_at && now >= c->facts_at && now < c->facts_at + FL_FACTS_INTERVAL_S) return false;
  c->facts_at = now;
  fl_facts_gather(c->ctx, now, f);
  return !fl_facts_same(f, &m->facts);
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
    int pg;
    fl_facts facts;
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
    } else if (facts_changed(c, m, now, &facts)) {
      fl_member me = *m;
      me.facts = facts;
      rc = put(c, FL_DIR_MEMBERS, c->host, fl_member_json(&me), 0, st);
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
        } else if (reverted_after(c, &s, h, why, sizeof why)) {
          rc = move(c, &s, h, FL_FAILED, false, false, &won, st, "%s", why);
          again = true;
        } else {
          rep->finished = true;
          NOTE("%s is %s: %s", c->host, ph, h->reason);
        }
      } else if (h->phase == FL_WAITING) {
        if (s.rollout.state != FL_RUNNING) {
          rep->finished = s.rollout.state != FL_PAUSED;
          NOTE("waiting: the rollout is %s (%s)", fl_rstate_name(s.rollout.state), s.rollout.reason);
        } else if ((pg = update_fleet_gate(c->ctx, s.rollout.hotpatch, now, why, sizeof why)) <= 0) {
          NOTE("waiting: %s%s", pg < 0 ? "cannot ask for a slot: " : "", why);
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
        char what[400] = "";
        if (h->phase == FL_VERIFYING && !c->p->fleet_install_hook && healthy(c, &s, what, sizeof what) == 1) what[0] = 0;
        hook(c, &s, "undrain", why, sizeof why);
        rc = move(c, &s, h, FL_FAILED, false, true, &won, st, "the deadline of phase %s passed (%u s)%s%s", ph,
                  s.rollout.deadline_s[h->phase], what[0] ? ": " : "", what);
        again = true;
      } else if (h->phase == FL_REBOOTING && c->rebooted) {
        rep->rebooting = true;
        NOTE("rebooting");
      } else {
        /* the work of the phase, then the next phase */
        fl_phase next = h->phase == FL_DRAINING ? FL_INSTALLING
                      : h->phase == FL_INSTALLING ? (s.rollout.hotpatch ? FL_VERIFYING : FL_REBOOTING)
                      : h->phase == FL_REBOOTING ? FL_VERIFYING : FL_DONE;
        bool worked = c->worked_phase == (int)h->phase && c->worked_since == h->since;
        int w = worked ? 0 : phase_work(c, &s, h->phase, why, sizeof why);
        if (w > 0) {
          NOTE("%s: %s", ph, why);
        } else if (w < 0) {
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
            if (reboot_now(c, &s, why, sizeof why)) {
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
        again = w <= 0;
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
