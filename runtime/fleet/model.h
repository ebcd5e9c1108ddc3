/* SPDX-License-Identifier: MIT */
/*
 * The rollout model in etcd (docs/fleet.md "The data model"): the records
 * under FL_PREFIX, their strict parsing (etcd's values are untrusted: a
 * malformed record is an error naming the key and the field, never a
 * guess; fuzzed by tests/fuzz/fuzz_fleet.c), and the pure decisions every
 * host takes from one snapshot: may this host take a slot now, and if not,
 * why; how much of the failure budget is used.  No I/O here.
 */
#ifndef FL_MODEL_H
#define FL_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fleet/etcd.h"
#include "status.h"

#define FL_PREFIX "/hpm/fleet/"
#define FL_KEY_ROLLOUT FL_PREFIX "rollout"
#define FL_KEY_SLOTS FL_PREFIX "slots"
#define FL_KEY_RELEASED FL_PREFIX "released" /* written by every slot a host lets go: what the first waiting host watches */
#define FL_DIR_HOSTS FL_PREFIX "hosts/"
#define FL_DIR_MEMBERS FL_PREFIX "members/"
#define FL_DIR_ALIVE FL_PREFIX "alive/"

#define FL_NAME_MAX 63      /* a host or fault-domain name: [A-Za-z0-9._-] */
#define FL_REASON_MAX 255
#define FL_MAX_HOSTS 2048   /* hosts in one rollout */
#define FL_MAX_RINGS 16
#define FL_MAX_DOMAINS 256  /* fault domains in one rollout */
#define FL_DOMAIN_PERCENT 20 /* at most this share of a fault domain out at once (at least 1 host) */

typedef enum {
  FL_WAITING, FL_DRAINING, FL_INSTALLING, FL_REBOOTING, FL_VERIFYING, FL_DONE, FL_FAILED, FL_NPHASES
} fl_phase;

typedef enum { FL_RUNNING, FL_PAUSED, FL_ABORTED, FL_STOPPED, FL_FINISHED, FL_NSTATES } fl_rstate;

const char *fl_phase_name(fl_phase p);
int fl_phase_from(const char *s); /* -1 if none */
const char *fl_rstate_name(fl_rstate s);
int fl_rstate_from(const char *s);
/* A phase a host holds a slot in (draining .. verifying). */
bool fl_phase_out(fl_phase p);
bool fl_phase_terminal(fl_phase p);
/* A valid host or domain name. */
bool fl_name_ok(const char *s);

/* /hpm/fleet/rollout */
typedef struct {
  char id[FL_NAME_MAX + 1];
  bool hotpatch;                  /* what: a hotpatch sequence, else a baseline version */
  char target[FL_NAME_MAX + 1];   /* the baseline version, or the sequence in decimal */
  uint32_t max_out;               /* K */
  uint32_t min_delay_s;           /* between two hosts taking a slot */
  uint32_t budget;                /* failed + suspect hosts tolerated; exceeded (more) stops */
  uint32_t deadline_s[FL_NPHASES]; /* per out phase: seconds a host may stay in it */
  fl_rstate state;
  char reason[FL_REASON_MAX + 1]; /* of the last state change */
  uint64_t created, changed;
  size_t nrings;
  size_t nhosts;                  /* the hosts of the rings, ring by ring (the rollout's order) */
  char hosts[FL_MAX_HOSTS][FL_NAME_MAX + 1];
  uint32_t host_ring[FL_MAX_HOSTS];
  uint16_t host_domain[FL_MAX_HOSTS]; /* index into domains */
  size_t ndomains;
  char domains[FL_MAX_DOMAINS][FL_NAME_MAX + 1];
} fl_rollout;

/* /hpm/fleet/hosts/NAME: a host of the rollout. */
typedef struct {
  char name[FL_NAME_MAX + 1];
  char rollout[FL_NAME_MAX + 1];  /* the ID of the rollout the record belongs to */
  char domain[FL_NAME_MAX + 1];
  uint32_t ring;
  fl_phase phase;
  uint64_t since, deadline;       /* entered the phase; must leave it by (0: none) */
  char reason[FL_REASON_MAX + 1]; /* why it entered the phase */
  uint32_t transitions;
  int64_t took[FL_NPHASES];       /* seconds spent in each phase it left (-1: not left yet) */
  bool freed;                     /* done or failed, it let its slot go: the next writer of the slots drops it */
  /* from the snapshot, not the record */
  int64_t mod_revision;
  bool alive;                     /* /hpm/fleet/alive/NAME exists (its lease lives) */
  int64_t alive_create;           /* that key's create_revision (0: absent) */
  bool holds;                     /* listed in /hpm/fleet/slots */
} fl_host;

/* /hpm/fleet/slots: who is out, and when a host last took a slot. */
typedef struct {
  char host[FL_NAME_MAX + 1];
  char domain[FL_NAME_MAX + 1];
  uint64_t since;
  int64_t alive_create;  /* from the snapshot: the holder's alive key's create_revision (0: gone) */
} fl_slot;

#define FL_MAX_SLOTS 64

typedef struct {
  uint64_t gen;        /* incremented by every transaction that writes it */
  uint64_t last_start; /* when a host last took a slot */
  size_t nslots;
  fl_slot slots[FL_MAX_SLOTS];
  /* One letter per host of the rollout, in the rollout's order: w waiting,
   * o out (draining .. verifying), d done, f failed.  Every transaction
   * that takes or frees a slot or ends a host rewrites it, so one read of
   * this record tells each host the rules' inputs (ring order, the budget)
   * without reading every host's record. */
  char phases[FL_MAX_HOSTS + 1];
} fl_slots;

/* What a host publishes about itself with its member record (fleet/facts.c):
 * shown on the status page, never used to decide anything. */
#define FL_FACTS_HISTORY 3
typedef struct {
  int64_t id;
  uint64_t time;
  char event[24], result[16], ids[96];
} fl_fact_row;

typedef struct {
  bool have;              /* the record carries facts */
  uint64_t time;          /* when the host gathered them */
  char baseline[72];      /* the running baseline's version, or "unknown" */
  char slot;              /* its boot slot letter, 0 when unknown */
  uint32_t hotpatch_seq;  /* applied sequence, 0: none */
  char hotpatch_id[64];
  char health[16];        /* the verifying window: none, verifying, committed, reverting, reverted */
  char compliance[256];   /* update_compliance() */
  size_t nhistory;        /* the newest history rows, newest first */
  fl_fact_row history[FL_FACTS_HISTORY];
} fl_facts;

/* /hpm/fleet/members/NAME: a host that registered (its fault domain), and
 * what it last published about itself. */
typedef struct {
  char name[FL_NAME_MAX + 1];
  char domain[FL_NAME_MAX + 1];
  fl_facts facts;
  int64_t alive_create;
  int64_t alive_lease;  /* from the snapshot: the lease its alive key is on */
} fl_member;

/* The same facts, the gathering time aside. */
bool fl_facts_same(const fl_facts *a, const fl_facts *b);

/* Everything under FL_PREFIX at one revision, or (light) what one host
 * reads for its step: the rollout, the slots, its own records and the
 * holders' alive keys, with the other hosts summarised from the slots'
 * phases (fl_snap_summary). */
typedef struct {
  int64_t revision;
  bool light;           /* hosts other than the reader's own are from the summary; members holds only its own */
  bool patched;         /* the reader's own writes since the read are in it (step.c): decide again without reading */
  bool has_rollout;
  fl_rollout rollout;
  int64_t rollout_rev;  /* mod_revision (0: absent) */
  fl_slots slots;
  int64_t slots_rev;
  fl_host *hosts;       /* in ring order, then by name (light: in the rollout's order) */
  size_t nhosts;
  size_t nstale;        /* full: records of another rollout's ID, at hosts[nhosts ..] */
  fl_member *members;
  size_t nmembers;
} fl_snap;

void fl_snap_free(fl_snap *s);

/* The letter of a phase in fl_slots.phases. */
char fl_phase_class(fl_phase p);
/* The index of host name in r's order, or -1. */
int fl_rollout_index(const fl_rollout *r, const char *name);
/* A light snapshot's hosts: one per host of s->rollout, in its order, from
 * s->slots (phase by letter: waiting, draining for any out phase, done,
 * failed; holders with their alive keys), and own (may be NULL) in its
 * place as read.  -1 with st when the slots' phases do not fit the
 * rollout or own's record disagrees with them. */
int fl_snap_summary(fl_snap *s, const fl_host *own, hpmh_status *st);
/* h enters phase to at now, with its deadline from r and the reason; the
 * time spent in the phase it leaves is added to h->took. */
void fl_host_move(fl_host *h, fl_phase to, const fl_rollout *r, uint64_t now, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Parse one record's value (key names it in errors). -1 with st naming the
 * key, the field and what was expected. */
int fl_rollout_parse(const char *key, const uint8_t *v, size_t len, fl_rollout *r, hpmh_status *st);
int fl_host_parse(const char *key, const uint8_t *v, size_t len, fl_host *h, hpmh_status *st);
int fl_slots_parse(const char *key, const uint8_t *v, size_t len, fl_slots *s, hpmh_status *st);
int fl_member_parse(const char *key, const uint8_t *v, size_t len, fl_member *m, hpmh_status *st);

/* The JSON text of a record, malloc'd (NULL when out of memory). */
char *fl_rollout_json(const fl_rollout *r);
char *fl_host_json(const fl_host *h);
char *fl_slots_json(const fl_slots *s);
char *fl_member_json(const fl_member *m);
/* FL_KEY_RELEASED's value: who let a slot go, when. */
char *fl_released_json(const char *host, uint64_t now);
/* The index of fault domain name in r->domains, added when new; -1 when
 * r has FL_MAX_DOMAINS already. */
int fl_rollout_domain(fl_rollout *r, const char *name);

/* A snapshot from a range of FL_PREFIX: every record parsed and checked
 * against the others (hosts named by the rollout's rings, slot holders
 * being hosts of the rollout).  -1 with st naming the key and field. */
int fl_snap_from(const fl_etcd_result *r, fl_snap *s, hpmh_status *st);

fl_host *fl_snap_host(const fl_snap *s, const char *name);
fl_member *fl_snap_member(const fl_snap *s, const char *name);

/* The slots as they stand: holders whose record (one of recs[0..n), as
 * read) is done or failed and freed its slot are dropped, and their letter
 * in phases becomes theirs.  A host lets its slot go by writing its own
 * record alone (no write of the shared slots record, so hosts that finish
 * at once do not race each other); the next transaction that writes the
 * slots persists what this computes. */
void fl_slots_drop_freed(fl_slots *sl, const fl_rollout *r, const fl_host *recs, size_t n);

/* The slots record after host n (its new record) moved: gen + 1, without
 * n when release, with n (since now, last_start now) when take, n's
 * letter in phases. */
void fl_slots_after(const fl_snap *s, const fl_host *n, bool take, bool release, uint64_t now, fl_slots *out);

/* Failed hosts plus suspects (holding a slot, lease gone). */
uint32_t fl_budget_used(const fl_snap *s);
bool fl_budget_exceeded(const fl_snap *s);
/* The default failure budget of rings: a third of the largest ring, at least 1. */
uint32_t fl_default_budget(const fl_rollout *r);
/* How many hosts of a domain of n hosts may be out at once. */
uint32_t fl_domain_cap(uint32_t n);

/* May host h (waiting) take a slot at time now?  1 yes; 0 no, why says
 * which rule holds it back (the first one, in this order: rollout state,
 * budget, ring order, K, fault domain, 20 % of the domain, minimum delay). */
int fl_may_take(const fl_snap *s, const fl_host *h, uint64_t now, char *why, size_t n);

/* Why the rollout waits, for status: the reason of the first waiting host
 * of the lowest ring with one, or "" when nobody waits. */
void fl_why_waiting(const fl_snap *s, uint64_t now, char *why, size_t n);

#endif
