/* SPDX-License-Identifier: MIT */
/*
 * Rollouts through etcd (docs/fleet.md): the operator's calls (start,
 * pause, resume, abort a rollout; release or fail a host), the host side
 * (fl_step: one step of this host's phase, every change one etcd
 * transaction with compares on mod_revision), and `hpm fleet`.
 */
#ifndef FL_FLEET_H
#define FL_FLEET_H

#include <stdatomic.h>
#include <stdbool.h>

#include "ctx.h"
#include "fleet/etcd.h"
#include "fleet/model.h"

typedef struct {
  hpm_ctx *ctx;
  const hpm_policy *p;
  fl_etcd etcd;
  char host[FL_NAME_MAX + 1];
  char domain[FL_NAME_MAX + 1];
  int64_t lease;        /* this host's liveness lease (0: none yet) */
  bool rebooted;        /* this process ran the reboot hook: the next step is after the reboot */
  int worked_phase;     /* the phase whose work (hook) this process has done ... */
  uint64_t worked_since; /* ... in the phase entered then: a lost race does not run it again */
  const atomic_bool *cancel; /* NULL, or: once true, a running hook is killed and the step writes nothing more */
  uint64_t facts_at;    /* when this process last gathered its facts (facts.c) */
  uint64_t lease_at;    /* when this process last granted or kept alive its lease */
  fl_rollout *rollout_cache; /* the rollout as this host last read it (fl_read_own), NULL: none */
  int64_t rollout_cache_rev; /* its mod_revision: 0 no rollout, -1 not read yet */
  bool waited_out;      /* the last fl_wait watched the host ahead for its whole time: it did not move */
  size_t nholders;      /* the slot holders of the last fl_read_own, whose alive keys and records the next one reads */
  char holders[FL_MAX_SLOTS][FL_NAME_MAX + 1];
} fl_conn;

/* This host's facts for its member record (facts.c): the running baseline
 * and boot slot, the applied hotpatch and its health window, compliance
 * with the catalog it holds, the newest history rows. */
void fl_facts_gather(hpm_ctx *ctx, uint64_t now, fl_facts *f);

/* Facts are gathered again at most this often by one process. */
#define FL_FACTS_INTERVAL_S 30

/* [fleet] of the policy file: endpoints (required), this host's name and
 * fault domain.  -1 with st naming the file and the key to set. */
int fl_open(hpm_ctx *ctx, fl_conn *c, hpmh_status *st);

/* What fl_open allocated. */
void fl_close(fl_conn *c);

/* Everything under FL_PREFIX at one revision, parsed (model.h), read in
 * pages of at most FL_READ_PAGE keys. */
#define FL_READ_PAGE 500
int fl_read(fl_conn *c, fl_snap *s, hpmh_status *st);
/* What this host's step reads, in one transaction (docs/fleet.md "The
 * host side"): the slots, its own host, member and alive keys, the slot
 * holders' alive keys and records, and the rollout only when it changed
 * since the last read; a light snapshot (fl_snap_summary). */
int fl_read_own(fl_conn *c, fl_snap *s, hpmh_status *st);

/* What the operator starts. */
typedef struct {
  bool hotpatch;
  char target[FL_NAME_MAX + 1];
  uint32_t max_out, min_delay_s, budget; /* budget 0: the default (fl_default_budget) */
  uint32_t deadline_s[FL_NPHASES];
  size_t nrings;
  size_t nhosts;
  char hosts[FL_MAX_HOSTS][FL_NAME_MAX + 1];
  uint32_t host_ring[FL_MAX_HOSTS];
} fl_start_req;

/* Checks the target against the signed catalog this host holds, every host
 * against the registered members, no rollout in progress; then writes one
 * record per host (waiting, of the new rollout's ID) in transactions of at
 * most FL_TXB_MAX - 8 records, then the rollout and empty slots in one
 * transaction, then deletes the records of hosts it does not name; every
 * transaction compares the rollout and the slots as read, so a start that
 * races another fails (its records stay, of an ID no rollout has, and are
 * ignored).  Within a ring, the hosts of a fault domain follow each other
 * (domains in the order the hosts first name them).  *id receives the ID. */
int fl_rollout_start(fl_conn *c, const fl_start_req *q, char id[FL_NAME_MAX + 1], hpmh_status *st);
/* to: FL_PAUSED, FL_RUNNING (resume) or FL_ABORTED. */
int fl_rollout_set(fl_conn *c, fl_rstate to, hpmh_status *st);
/* The operator frees the slot of a host whose phase deadline passed (it
 * becomes failed), or marks a host failed. */
int fl_host_release(fl_conn *c, const char *host, hpmh_status *st);
int fl_host_fail(fl_conn *c, const char *host, hpmh_status *st);

/* One step of this host (see docs/fleet.md "The host side"). */
typedef struct {
  fl_phase phase;      /* this host's phase after the step */
  bool in_rollout;     /* the rollout names this host */
  bool finished;       /* nothing more to do here: the host is done or failed and holds no slot,
                        * or the rollout ended and the host holds no slot */
  bool rebooting;      /* the reboot hook ran: what follows is the next boot's */
  char note[1024];      /* what happened or why it waits */
  /* What to wait for before the next step (fl_wait): a change of the keys
   * [watch, watch_end) after revision watch_after (watch empty: none), at
   * most watch_ms (0: no limit of its own). */
  char watch[FL_ETCD_KEY_MAX / 16];
  char watch_end[FL_ETCD_KEY_MAX / 16];
  int64_t watch_after;
  long watch_ms;
} fl_step_report;

int fl_step(fl_conn *c, fl_step_report *rep, hpmh_status *st);

/* Wait before the next step: until what rep says to watch changes, at
 * most ms, or until c->cancel.  A waiting host watches the host just
 * ahead of it in the rollout's order, the first waiting host the slots and
 * the rollout, so a handoff wakes one host, not every host.  Without a
 * watch (or when etcd cannot be watched), a sleep of ms. */
void fl_wait(fl_conn *c, const fl_step_report *rep, long ms);

int fl_cmd(hpm_ctx *ctx, int argc, char **argv);

/* The agent's fleet thread (agent.c): started when the policy has [fleet]
 * endpoints (0 also when it has none; -1 when it could not start, said on
 * stderr); told of a reloaded policy (started, restarted or stopped as the
 * new [fleet] says); stopped (a running hook is killed, nothing more is
 * written) and joined. */
int fl_agent_start(const hpm_ctx *ctx);
void fl_agent_reload(const hpm_ctx *ctx);
void fl_agent_stop(void);

#define FLEET_USAGE                                                                                    \
  "  fleet rollout start|pause|resume|abort, fleet status [--json], fleet host release|fail HOST,\n"     \
  "        fleet step [--loop MS], fleet serve [--listen ADDRESS:PORT]\n"                               \
  "                                           the cluster's rollouts through etcd (hpm fleet --help)\n"

#endif
