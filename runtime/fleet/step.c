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
#include <time.h>
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

static void lease_path(const fl_conn *c, char path[POLICY_PATH_MAX + 32]) {
  snprintf(path, POLICY_PATH_MAX + 32, "%s/%s", c->ctx->state_dir, LEASE_FILE);
}

/* The lease this host last had (STATE/fleet-lease), when this process has none yet. */
static void load_lease(fl_conn *c) {
  if (c->lease) return;
  char path[POLICY_PATH_MAX + 32];
  lease_path(c, path);
  FILE *f = fopen(path, "r");
  if (f) {
    if (fscanf(f, "%" SCNd64, &c->lease) != 1) c->lease = 0;
    fclose(f);
  }
}

/* This host's lease: kept alive, or a new one (its ID in STATE/fleet-lease). */
static int lease(fl_conn *c, bool *fresh, hpmh_status *st) {
  *fresh = false;
  uint64_t now = hpm_now();
  /* kept alive at most every third of its TTL by a step (the agent's keeper thread does it meanwhile) */
  if (c->lease && c->lease_at && now >= c->lease_at && now < c->lease_at + c->p->fleet_lease_ttl_s / 3) return 0;
  load_lease(c);
  if (c->lease && !fl_etcd_lease_keepalive(&c->etcd, c->lease, NULL, st)) {
    c->lease_at = now;
    return 0;
  }
  if (c->lease && c->etcd.last_code != FL_ETCD_CODE_NOT_FOUND) return -1; /* etcd unreachable: not "lease gone" */
  if (fl_etcd_lease_grant(&c->etcd, c->p->fleet_lease_ttl_s, &c->lease, NULL, st)) return -1;
  char text[32];
  int n = snprintf(text, sizeof text, "%" PRId64 "\n", c->lease);
  char path[POLICY_PATH_MAX + 32];
  lease_path(c, path);
  mkdir(c->ctx->state_dir, 0755);
  if (hpmh_write_file(path, (const uint8_t *)text, (size_t)n, 0644, 0, st)) return -1;
  *fresh = true;
  c->lease_at = now;
  return 0;
}

/* The agent is stopping (fl_conn.cancel): a hook it killed did not fail, so
 * nothing is written after it. */
static bool stopping(fl_conn *c, hpmh_status *st) {
  if (!c->cancel || !atomic_load(c->cancel)) return false;
  hpmh_fail(st, HPMH_E_IO, "", "stopping: this host's record stays in its phase; the next agent goes on from there");
  return true;
}

/* This host's member record (me, NULL: as it is) and alive key (on its
 * lease) in one transaction. */
static int register_host(fl_conn *c, fl_snap *s, const fl_member *me, bool alive, hpmh_status *st) {
  fl_txb t;
  bool won;
  fl_txb_init(&t);
  if (me) fl_txb_put(&t, FL_DIR_MEMBERS, c->host, fl_member_json(me), 0);
  if (alive) fl_txb_put(&t, FL_DIR_ALIVE, c->host, strdup("{}"), c->lease);
  int rc = fl_txb_run(c, &t, &won, st);
  int64_t rev = t.revision;
  fl_txb_free(&t);
  if (rc || !s->members) return rc;
  /* s as etcd holds it now (fl_step goes on without reading) */
  fl_member *m = &s->members[0];
  if (me) *m = *me;
  s->nmembers = 1;
  if (alive) {
    m->alive_create = rev;
    m->alive_lease = c->lease;
    fl_host *h = s->has_rollout ? fl_snap_host(s, c->host) : NULL;
    if (h) {
      h->alive = true;
      h->alive_create = rev;
    }
    for (size_t i = 0; i < s->slots.nslots; i++)
      if (!strcmp(s->slots.slots[i].host, c->host)) s->slots.slots[i].alive_create = rev;
  }
  s->patched = true;
  return 0;
}

/* After this host's transaction t won: s as etcd holds it now, without
 * reading it again (h, its entry in s, becomes n; the slots, when t wrote
 * them, t's), and s->patched.  Everything else in s stays as read (its
 * revision too): a later decision that depends on it compares it. */
static void patch(fl_conn *c, fl_snap *s, fl_host *h, const fl_host *n, const fl_txb *t) {
  bool holds = h->holds;
  *h = *n;
  h->mod_revision = t->revision;
  h->holds = holds;
  if (t->released) {
    /* as the next read sees it (fl_slots_drop_freed) */
    h->freed = true;
    h->holds = false;
    fl_slots_drop_freed(&s->slots, &s->rollout, h, 1);
    /* nobody left waiting, as far as this host knows: it may have been the
     * last one out, and then it ends the rollout; it reads again to see */
    s->patched = strchr(s->slots.phases, 'w') != NULL;
    return;
  }
  s->patched = true;
  if (!t->has_slots) return;
  s->slots = t->slots;
  s->slots_rev = t->revision;
  h->holds = false;
  c->nholders = s->slots.nslots;
  for (size_t i = 0; i < s->slots.nslots; i++) {
    snprintf(c->holders[i], sizeof c->holders[i], "%s", s->slots.slots[i].host);
    if (!strcmp(s->slots.slots[i].host, h->name)) h->holds = true;
  }
}

/* Move this host (h as read in s) to phase to, taking (take) or releasing
 * (release) its slot in the same transaction.  0 with *won, or -1. */
static int move(fl_conn *c, fl_snap *s, fl_host *h, fl_phase to, bool take, bool release, bool *won,
                hpmh_status *st, const char *fmt, ...) __attribute__((format(printf, 9, 10)));
static int move(fl_conn *c, fl_snap *s, fl_host *h, fl_phase to, bool take, bool release, bool *won,
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
  if (!rc && *won) patch(c, s, h, &n, &t);
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

/* The waiting host nearest ahead of host name in the rollout's order (its
 * index), or -1. */
static int waiting_ahead(const fl_snap *s, const char *name) {
  int k = fl_rollout_index(&s->rollout, name) - 1;
  while (k >= 0 && s->slots.phases[k] != 'w') k--;
  return k;
}

/* What a host that did not move waits for (fleet.h, fl_wait), from after
 * the revision it read (its own writes since then, a registration, do not
 * hide another host's change in between). */
static void plan_wait(const fl_conn *c, const fl_snap *s, const fl_host *h, uint64_t now, fl_step_report *rep) {
  rep->watch_after = s->revision + 1;
  if (!s->has_rollout || !h) { /* a rollout that names this host, when one starts */
    snprintf(rep->watch, sizeof rep->watch, "%s", FL_KEY_ROLLOUT);
    return;
  }
  int ahead = waiting_ahead(s, c->host);
  if (ahead >= 0) { /* it goes first: this host's turn is not before that host moves */
    snprintf(rep->watch, sizeof rep->watch, "%s%s", FL_DIR_HOSTS, s->rollout.hosts[ahead]);
    return;
  }
  /* the first waiting host: a slot let go, the rollout, the slots (the three keys, in key order) */
  snprintf(rep->watch, sizeof rep->watch, "%s", FL_KEY_RELEASED);
  snprintf(rep->watch_end, sizeof rep->watch_end, "%s\x01", FL_KEY_SLOTS);
  uint64_t ready = s->slots.last_start + s->rollout.min_delay_s;
  if (s->slots.last_start && now < ready) rep->watch_ms = (long)(ready - now) * 1000 + 50;
}

void fl_wait(fl_conn *c, const fl_step_report *rep, long ms) {
  c->waited_out = false;
  if (rep->watch[0]) {
    long w = rep->watch_ms > 0 && rep->watch_ms < ms ? rep->watch_ms : ms;
    hpmh_status st;
    int rc = fl_etcd_watch(&c->etcd, rep->watch, rep->watch_end[0] ? rep->watch_end : NULL, rep->watch_after, w,
                           c->cancel, &st);
    c->waited_out = rc == 0 && !rep->watch_end[0] && !(c->cancel && atomic_load(c->cancel));
    if (rc >= 0) return;
  }
  for (long left = ms; left > 0 && !(c->cancel && atomic_load(c->cancel)); left -= 50) {
    struct timespec ts = {0, (left < 50 ? left : 50) * 1000000L};
    nanosleep(&ts, NULL);
  }
}

#define NOTE(...) snprintf(rep->note, sizeof rep->note, __VA_ARGS__)

int fl_step(fl_conn *c, fl_step_report *rep, hpmh_status *st) {
  memset(rep, 0, sizeof *rep);
  bool fresh = false, unchecked = false;
  load_lease(c);
  /* a new process with a lease on file (after a reboot, a restart): its
   * alive key, read with the rest, tells whether the lease lives */
  if (!c->lease_at && c->lease) unchecked = true;
  else if (lease(c, &fresh, st)) return -1;
  fl_snap s;
  bool have = false; /* s is etcd's state after this step's last write (patched) */
  for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
    if (!have && fl_read_own(c, &s, st)) return -1;
    have = s.patched = false;
    uint64_t now = hpm_now();
    if (unchecked) {
      unchecked = false;
      const fl_member *me = fl_snap_member(&s, c->host);
      uint64_t third = c->p->fleet_lease_ttl_s / 3;
      if (me && me->alive_create && me->alive_lease == c->lease) {
        c->lease_at = now > third ? now - third : 1; /* alive now; the next step keeps it alive */
      } else if (lease(c, &fresh, st)) {
        fl_snap_free(&s);
        return -1;
      }
    }
    int rc = 0;
    bool again = false, won = true, watch = false;
    char why[400];
    int pg, ahead;
    fl_facts facts;
    fl_member *m = fl_snap_member(&s, c->host), none = {0};
    fl_host *h = s.has_rollout ? fl_snap_host(&s, c->host) : NULL;
    bool need_member = !m || strcmp(m->domain, c->domain), need_alive = fresh || !m || !m->alive_create;
    if (need_member) c->facts_at = 0;
    bool new_facts = facts_changed(c, m ? m : &none, now, &facts);
    if (need_member || need_alive || new_facts) {
      /* register: the member record (with what this host runs) and the alive key, at once */
      fl_member me = m ? *m : none;
      snprintf(me.name, sizeof me.name, "%s", c->host);
      snprintf(me.domain, sizeof me.domain, "%s", c->domain);
      if (new_facts) me.facts = facts;
      rc = register_host(c, &s, need_member || new_facts ? &me : NULL, need_alive, st);
      fresh = false;
      again = true;
    } else if (!s.has_rollout) {
      NOTE("no rollout");
      watch = true;
    } else if (!h) {
      rep->finished = s.rollout.state != FL_RUNNING && s.rollout.state != FL_PAUSED;
      NOTE("rollout %s does not name %s", s.rollout.id, c->host);
      watch = true;
    } else if (s.rollout.state == FL_RUNNING && fl_budget_exceeded(&s)) {
      char r[FL_REASON_MAX + 1];
      snprintf(r, sizeof r, "stopped: the failure budget is exceeded (%u failed or suspect, budget %u)",
               fl_budget_used(&s), s.rollout.budget);
      rc = set_state(c, &s, FL_STOPPED, r, st);
      again = true;
    } else if (s.rollout.state == FL_RUNNING && !s.slots.nslots && !strpbrk(s.slots.phases, "wo")) {
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
          watch = !rep->finished;
        } else if ((pg = update_fleet_gate(c->ctx, s.rollout.hotpatch, now, why, sizeof why)) <= 0) {
          NOTE("waiting: %s%s", pg < 0 ? "cannot ask for a slot: " : "", why);
        } else if ((ahead = waiting_ahead(&s, c->host)) >= 0 && !c->waited_out) {
          /* first come, first served: the hosts ahead take their turn first
           * (the rules would let several go at once; they would race for
           * the slots record); one that does not move for a whole wait is
           * passed (its own window or gate may hold it back) */
          NOTE("waiting: %s goes first", s.rollout.hosts[ahead]);
          watch = true;
        } else if (!fl_may_take(&s, h, now, why, sizeof why)) {
          NOTE("waiting: %s", why);
          watch = true;
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
              c->rebooted = false;
              fl_snap_free(&s);
              if (fl_read_own(c, &s, st)) return -1;
              fl_host *h2 = fl_snap_host(&s, c->host);
              h = h2;
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
      if (h) rep->phase = h->phase;
    }
    if (!rc && !again && watch) plan_wait(c, &s, h, now, rep);
    /* a move that won leaves s as etcd now holds it: decide again without reading */
    have = !rc && again && won && s.patched;
    if (!have) fl_snap_free(&s);
    if (rc) return -1;
    if (!again) return 0;
  }
  if (have) fl_snap_free(&s);
  NOTE("still contended after %d attempts; the next step tries again", ATTEMPTS);
  return 0;
}
