/* SPDX-License-Identifier: MIT */
/*
 * Maintenance-window arithmetic over a policy (policy.h), in the policy's
 * time zone (or the host's).  Rules, also in docs/operations.md:
 *  - a window opens at its local start time on each of its days (or on its
 *    date) and lasts `duration` of elapsed time (a 3h window that spans a
 *    DST change is still 3 hours long);
 *  - a start time that does not exist that day (spring forward: 02:30 in
 *    Europe/Berlin on the last Sunday of March) opens the window at the same
 *    offset after the jump (03:30 local, i.e. 01:30 UTC);
 *  - a start time that occurs twice (autumn: 02:30 on the last Sunday of
 *    October) opens it at the first occurrence, once;
 *  - blackouts [from, until) are local wall-clock times converted the same
 *    way and win over windows.
 * Time zones are applied by setting TZ around the computation (tzset); these
 * functions are therefore not thread-safe, which hpm (single-threaded for
 * policy work) accepts.
 */
#ifndef HPM_RUNTIME_WINDOWS_H
#define HPM_RUNTIME_WINDOWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "update/policy.h"

/* How far ahead win_status_at() looks for the next window. */
#define WIN_HORIZON_DAYS 400

typedef struct {
  bool open;                        /* inside a window and not in a blackout */
  const policy_window *window;      /* open: the window; else NULL */
  uint64_t open_until;              /* open: when it closes (window end or blackout start) */
  const policy_blackout *blackout;  /* the blackout covering now, or NULL */
  uint64_t blackout_until;          /* blackout: its end */
  bool next_valid;                  /* a window opens within WIN_HORIZON_DAYS */
  uint64_t next_open;               /* first instant >= now that is open (== now when open) */
  const policy_window *next_window; /* the window that opens then */
} win_status;

/* Where `now` stands.  Returns 0, or -1 if the time zone cannot be set. */
int win_status_at(const hpm_policy *p, uint64_t now, win_status *out);

/* true when `t` is inside a blackout (its record in *which if not NULL). */
bool win_in_blackout(const hpm_policy *p, uint64_t t, const policy_blackout **which);

/* A local wall-clock time (minute may be 1440: the next midnight) in the
 * *current* TZ to seconds since 1970 UTC, with the gap/overlap rules above. */
int64_t win_local_to_utc(int year, int month, int day, int minute);

/* Runs with the policy's time zone in TZ: push before, pop after. */
typedef struct { char old[128]; bool had, changed; } win_tz;
void win_tz_push(const hpm_policy *p, win_tz *s);
void win_tz_pop(win_tz *s);

/* "2026-03-29 03:30 CEST" in the policy's time zone. */
void win_format_local(const hpm_policy *p, uint64_t t, char *out, size_t outlen);

#endif
