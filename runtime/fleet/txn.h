/* SPDX-License-Identifier: MIT */
/* Building the fleet's etcd transactions (fleet.c, step.c): compares on
 * mod_revision, puts and deletes whose keys and values the builder owns. */
#ifndef FL_TXN_H
#define FL_TXN_H

#include <stdarg.h>

#include "fleet/fleet.h"

#define FL_TXB_MAX FL_ETCD_MAX_TXN_OPS

typedef struct {
  fl_cmp cmp[FL_TXB_MAX];
  size_t ncmp;
  fl_op ops[FL_TXB_MAX];
  size_t nops;
  char *bufs[4 * FL_TXB_MAX];
  size_t nbufs;
  bool broken; /* out of memory or too many: fl_txb_run refuses */
} fl_txb;

void fl_txb_init(fl_txb *t);
void fl_txb_free(fl_txb *t);
/* key dir+name's target equal to rev (mod_revision 0: the key does not exist). */
void fl_txb_cmp(fl_txb *t, const char *dir, const char *name, fl_cmp_target target, int64_t rev);
/* put dir+name = json (taken over) */
void fl_txb_put(fl_txb *t, const char *dir, const char *name, char *json, int64_t lease);
void fl_txb_del(fl_txb *t, const char *dir, const char *name);
/* The rollout's and the slots' mod_revision as read in s. */
void fl_txb_guard(fl_txb *t, const fl_snap *s);
/* Runs it: 0 with *won whether the compares held, or -1 (etcd unreachable...). */
int fl_txb_run(fl_conn *c, fl_txb *t, bool *won, hpmh_status *st);

/* The slots record after a change: gen + 1, without host `without` (NULL:
 * all stay), with add (NULL: none), last_start replaced when non-zero. */
char *fl_slots_next(const fl_snap *s, const char *without, const fl_slot *add, uint64_t last_start);

/* The transaction of host h (as read in s) becoming n at now, taking (take)
 * or freeing (release) its slot: taking or freeing a slot, or ending (done,
 * failed), changes what others decide, so it is guarded by the rollout and
 * the slots as read (fl_txb_guard) and rewrites the slots; taking also
 * compares every holder's alive key as read.  A move between out phases
 * compares h's record only.  Used by FleetLock (fleetlock.c); it builds
 * what step.c's move() builds. */
void fl_txb_move(fl_txb *t, const fl_snap *s, const fl_host *h, const fl_host *n, bool take, bool release, uint64_t now);

#endif
