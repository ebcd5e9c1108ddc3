/* SPDX-License-Identifier: MIT */
/*
 * FleetLock (serve.h, docs/fleet.md "FleetLock"): a client of another OS
 * updater (Zincati's fleet_lock strategy) takes part in a rollout like one
 * of hpm's hosts.  Its id is its host name, its group its fault domain; it
 * registers with its first request; `pre-reboot` takes a slot when the
 * rollout names it and fl_may_take lets it (the host enters `rebooting`),
 * `steady-state` after its reboot frees it (the host is done; the rollout
 * is done when it was the last).  Both are the
 * transactions hpm's hosts make (fl_txb_move).  The client has no lease of
 * its own: its alive key is bound to a lease as long as the rebooting
 * deadline, so a client that never comes back turns suspect then (counted
 * against the budget; the operator may release it) instead of freeing its
 * slot silently.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "fleet/serve.h"
#include "fleet/txn.h"

#define ATTEMPTS 16

static void say(fl_lock_answer *a, unsigned http, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void say(fl_lock_answer *a, unsigned http, const char *kind, const char *fmt, ...) {
  va_list ap;
  a->http = http;
  a->kind = kind;
  va_start(ap, fmt);
  vsnprintf(a->value, sizeof a->value, fmt, ap);
  va_end(ap);
}

static int run(fl_conn *c, fl_txb *t, bool *won, fl_lock_answer *a) {
  hpmh_status st;
  int rc = fl_txb_run(c, t, won, &st);
  fl_txb_free(t);
  if (rc) say(a, 503, "etcd_unavailable", "%s", st.detail);
  return rc;
}

void fl_fleetlock(fl_conn *c, bool lock, const char *id, const char *group, fl_lock_answer *a) {
  int64_t lease = 0;
  memset(a, 0, sizeof *a);
  for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
    fl_snap s;
    hpmh_status st;
    if (fl_read(c, &s, &st)) {
      say(a, st.code == HPMH_E_INVALID ? 500 : 503, st.code == HPMH_E_INVALID ? "malformed_record" : "etcd_unavailable",
          "%s", st.detail);
      break;
    }
    uint64_t now = hpm_now();
    fl_member *m = fl_snap_member(&s, id);
    fl_host *h = s.has_rollout ? fl_snap_host(&s, id) : NULL;
    fl_txb t;
    bool won = false, done = true;
    fl_txb_init(&t);
    if (!m || strcmp(m->domain, group)) {
      /* register (or move to the group it names now), as a host's first step does */
      fl_member me = {0};
      snprintf(me.name, sizeof me.name, "%s", id);
      snprintf(me.domain, sizeof me.domain, "%s", group);
      fl_txb_put(&t, FL_DIR_MEMBERS, id, fl_member_json(&me), 0);
      done = run(c, &t, &won, a) != 0;
    } else if (!h) {
      if (lock)
        say(a, 409, "not_in_rollout", "%s: no rollout names %s (registered in fault domain %s); the operator starts one "
            "with --ring ...,%s (hpm fleet rollout start)", s.has_rollout ? s.rollout.id : "no rollout", id, group, id);
      else say(a, 200, NULL, "%s holds no slot", id);
    } else if (lock && h->holds) {
      say(a, 200, NULL, "%s already holds a slot of rollout %s (%s)", id, s.rollout.id, fl_phase_name(h->phase));
    } else if (lock && h->phase != FL_WAITING) {
      say(a, 409, "turn_over", "%s is %s in rollout %s: its turn is over (%s)", id, fl_phase_name(h->phase), s.rollout.id,
          h->reason);
    } else if (lock) {
      char why[400];
      if (!fl_may_take(&s, h, now, why, sizeof why)) {
        say(a, 409, "failed_lock", "%s", why);
      } else {
        uint32_t ttl = s.rollout.deadline_s[FL_REBOOTING];
        if (!lease && fl_etcd_lease_grant(&c->etcd, ttl ? ttl : 1, &lease, NULL, &st)) {
          say(a, 503, "etcd_unavailable", "%s", st.detail);
        } else {
          fl_host n = *h;
          fl_host_move(&n, FL_REBOOTING, &s.rollout, now, "took a slot through FleetLock (%zu of %u out); rebooting",
                       s.slots.nslots + 1, s.rollout.max_out);
          fl_txb_move(&t, &s, h, &n, true, false, now);
          fl_txb_put(&t, FL_DIR_ALIVE, id, strdup("{}"), lease);
          if (!run(c, &t, &won, a)) {
            if (won) say(a, 200, NULL, "%s holds a slot of rollout %s until it reports steady state (deadline %" PRIu64 " s)",
                         id, s.rollout.id, (uint64_t)ttl);
            else done = false;
          }
        }
      }
    } else if (!h->holds) {
      say(a, 200, NULL, "%s holds no slot (%s)", id, fl_phase_name(h->phase));
    } else {
      fl_host n = *h;
      if (fl_phase_terminal(h->phase)) /* failed by the operator while out: free the slot */
        ;
      else if (h->deadline && now > h->deadline)
        fl_host_move(&n, FL_FAILED, &s.rollout, now, "the deadline of phase %s passed (%u s)", fl_phase_name(h->phase),
                     s.rollout.deadline_s[h->phase]);
      else fl_host_move(&n, FL_DONE, &s.rollout, now, "steady state after the reboot (FleetLock), slot freed");
      fl_txb_move(&t, &s, h, &n, false, true, now);
      fl_txb_del(&t, FL_DIR_ALIVE, id);
      /* the last host of a running rollout ends its turn: the rollout is done
       * (what a host's step does; here in the same, guarded, transaction) */
      bool last = s.rollout.state == FL_RUNNING && s.slots.nslots == 1;
      for (size_t i = 0; i < s.nhosts && last; i++) last = &s.hosts[i] == h || fl_phase_terminal(s.hosts[i].phase);
      if (last) {
        fl_rollout r = s.rollout;
        r.state = FL_FINISHED;
        r.changed = now;
        snprintf(r.reason, sizeof r.reason, "every host is done or failed");
        fl_txb_put(&t, FL_KEY_ROLLOUT, "", fl_rollout_json(&r), 0);
      }
      if (!run(c, &t, &won, a)) {
        if (won) say(a, 200, NULL, "%s freed its slot of rollout %s: %s", id, s.rollout.id, fl_phase_name(n.phase));
        else done = false;
      }
    }
    fl_txb_free(&t);
    fl_snap_free(&s);
    if (done) break;
    /* registered, or lost a race: read again and decide again */
    if (attempt == ATTEMPTS - 1) say(a, 503, "contended", "still contended after %d attempts; try again", ATTEMPTS);
  }
  /* a lease that no key took (lost race, refused) goes at once */
  if (lease && !(lock && a->http == 200 && !a->kind)) fl_etcd_lease_revoke(&c->etcd, lease, NULL);
}
