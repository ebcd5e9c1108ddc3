/* SPDX-License-Identifier: MIT */
/*
 * The decision engine: given a verified catalog, what the host is running,
 * the policy and the time, what applies now and what to do about it.  A pure
 * function (apart from reading the time zone database for windows): no
 * files, no clock; `now` is an argument.  `hpm assess` prints its result,
 * `hpm install` and the agent act on it.
 *
 * Rules (docs/operations.md "Maintenance windows" has the operator's view):
 *  - Only entries released at or before `now` count.
 *  - Hotpatch: enrolled hosts only; the one with the highest sequence whose
 *    target_baseline is the running baseline (hotpatches are cumulative);
 *    offered if its sequence is above the applied one.  Never one for
 *    another baseline.
 *  - Baseline: the newest baseline released after the running one (by
 *    release time, then SVN).  Required when it or any baseline between is
 *    unplanned, when the running baseline's hotpatch chain has ended (no
 *    hotpatch for the running baseline was released at or after the first
 *    newer planned baseline), or when the host is unenrolled (unenrolled
 *    hosts take only baselines, every one).  A newer baseline that is not
 *    required is listed, never installed automatically.  A running baseline
 *    the catalog does not list: the newest baseline is required.
 *  - Automatic install: classification in auto_classifications (default
 *    critical,security) and required.  Deadline = release + deadline_days.
 *  - Hotpatches install at once when hotpatch_outside_windows=yes (default),
 *    else only inside an open window; past the deadline they install at once
 *    even outside windows; never inside a blackout.
 *  - Baselines are staged at once (any time, blackouts included: staging is
 *    harmless), and rebooted into only while a window is open (not in a
 *    blackout).  Past the deadline that is unchanged when windows are
 *    configured: the reboot happens at the next window and the item says it is
 *    overdue.  With no window configured, the reboot happens once the
 *    deadline has passed (outside blackouts).  reboot=never: never rebooted
 *    by hpm; always: a reboot is requested after hotpatches too (on demand
 *    at once, otherwise in a window).
 *  - On demand (hpm install): the classification filter (default: the
 *    policy's) and --include/--exclude select items; selected items install
 *    now, windows do not apply; the reboot follows the request's reboot mode
 *    (if-required: now, if one is needed).
 */
#ifndef HPM_RUNTIME_DECIDE_H
#define HPM_RUNTIME_DECIDE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hpm/catalog.h"
#include "update/policy.h"

typedef struct {
  uint8_t baseline[HPM_DIGEST_LEN]; /* running baseline digest */
  uint32_t hotpatch_seq;            /* applied hotpatch sequence for it, 0 = none */
  bool enrolled;
  bool has_unenrolled_at;           /* unenrolled: the baseline it was unenrolled on (enroll.h) */
  uint8_t unenrolled_at[HPM_DIGEST_LEN];
  bool has_staged;                  /* a baseline is staged, waiting for a reboot */
  uint8_t staged[HPM_DIGEST_LEN];
  size_t nbad;                      /* hotpatch sequences of the running baseline this host */
  uint32_t bad[16];                 /*   reverted for their health (hotpatch/health.h) */
} decide_host;

typedef struct {
  bool on_demand;            /* hpm install: act now on what the filters select */
  unsigned classes;          /* POLICY_CLASS_BIT set; 0 = the policy's auto_classifications */
  const char *const *include; size_t ninclude; /* only these IDs (if any); bypasses classes */
  const char *const *exclude; size_t nexclude; /* never these IDs */
  int reboot;                /* policy_reboot, or -1 = the policy's */
} decide_request;

typedef struct {
  const hpm_catalog_entry *entry;   /* points into the catalog */
  bool required;                    /* baselines: see the rules; hotpatches: always */
  uint64_t deadline;                /* release + deadline_days */
  bool overdue;                     /* now >= deadline */
  bool selected;                    /* passes the classification/include/exclude filters */
  bool excluded;                    /* named by exclude */
  bool bad;                         /* hotpatch: marked bad on this host (never installed) */
  bool install_now;                 /* apply (hotpatch) / stage (baseline) now */
  bool already_staged;              /* baseline: it is the staged one */
  bool needs_reboot;
  bool reboot_now;
  bool reboot_at_valid;
  uint64_t reboot_at;               /* when the reboot may happen (next open window / deadline) */
  char reason[320];
} decide_item;

#define DECIDE_MAX_ITEMS 2

typedef struct {
  bool baseline_listed;   /* the running baseline is in the catalog */
  size_t count;           /* 0..2: hotpatch first, then baseline */
  decide_item items[DECIDE_MAX_ITEMS];
} decide_result;

/* Fills *out.  req may be NULL (periodic assessment).  Always succeeds. */
void decide(const hpm_catalog *cat, const decide_host *host, const hpm_policy *pol,
            const decide_request *req, uint64_t now, decide_result *out);

#endif
