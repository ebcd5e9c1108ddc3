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
  int64_t revision; /* after fl_txb_run: the store's revision (of its writes, when it won) */
  bool has_slots;   /* fl_txb_move: the slots record it writes */
  bool released;    /* fl_txb_move: the host lets its slot go (its record alone, freed) */
  fl_slots slots;
} fl_txb;

void fl_txb_init(fl_txb *t);
void fl_txb_free(fl_txb *t);
/* key dir+name's target equal to rev (mod_revision 0: the key does not exist). */
void fl_txb_cmp(fl_txb *t, const char *dir, const char *name, fl_cmp_target target, int64_t rev);
/* put dir+name = json (taken over) */
void fl_txb_put(fl_txb *t, const char *dir, const char *name, char *json, int64_t lease);
void fl_txb_del(fl_txb *t, const char *dir, const char *name);
/* range dir+name (one key), in a read-only transaction */
void fl_txb_range(fl_txb *t, const char *dir, const char *name);
/* The rollout's and the slots' mod_revision as read in s. */
void fl_txb_guard(fl_txb *t, const fl_snap *s);
/* Runs it: 0 with *won whether the compares held, or -1 (etcd unreachable...). */
int fl_txb_run(fl_conn *c, fl_txb *t, bool *won, hpmh_status *st);
/* Runs it with a failure branch (may be empty), the answer in *r (freed by
 * the caller, also on failure). */
int fl_txb_exec(fl_conn *c, fl_txb *t, const fl_op *failure, size_t nfailure, fl_etcd_result *r, hpmh_status *st);

/* The transaction of host h (as read in s) becoming n at now, taking (take)
 * or freeing (release) its slot.  Taking a slot, or ending (done, failed)
 * without one, changes what others decide, so it is guarded by the rollout
 * and the slots as read (fl_txb_guard) and rewrites the slots; taking also
 * compares every holder's alive key as read.  A holder ending lets its slot
 * go with its own record alone (n marked freed; fl_slots_drop_freed) and
 * the FL_KEY_RELEASED key for the waiting hosts to see.  A move between out
 * phases compares h's record only.  Used by FleetLock (fleetlock.c); it builds
 * what step.c's move() builds. */
void fl_txb_move(fl_txb *t, const fl_snap *s, const fl_host *h, const fl_host *n, bool take, bool release, uint64_t now);

#endif
