/* SPDX-License-Identifier: MIT */
/*
 * Per-process transitions: one transition moves a set of functions from
 * their current redirection to a new one (or back to the original code)
 * while every thread of the process is stopped.  Crash safety: all sites
 * are first pointed at trampolines that test one commit byte; a single
 * one-byte write commits; sites are then pointed at their final targets.
 * If hpm dies at any instant, every site runs either all-old or all-new
 * code.  Built on thread control (ptrace.h) and the redirection bytes
 * (redirect.h).
 */
#ifndef HPM_RUNTIME_HOTPATCH_TRANSITION_H
#define HPM_RUNTIME_HOTPATCH_TRANSITION_H

#include <stdint.h>
#include <sys/types.h>

#include "hotpatch/ptrace.h"
#include "hotpatch/redirect.h"

typedef struct {
  hp_site *sites;
  int nsites;
  /* the new mapping: header+trampolines page(s), then the image */
  uint64_t map_addr, map_len;
  uint8_t *map_bytes;       /* map_len bytes, flag byte 0, fully relocated */
  uint64_t rw_off;          /* offset of the writable part (== map_len: none) */
  int keep_map;             /* 0: unmap the new mapping at the end (revert) */
  int map_retained;         /* out: keep_map 0, and a thread still referred to it: left mapped */
  hp_map *unmap;            /* old mappings to unmap if no thread refers to them */
  int nunmap;
  unsigned budget_us;       /* pause budget for stopping and checking */
  int fault_after;          /* test hook: _exit(9) after this many writes (<0 off) */
} hp_plan;

typedef struct {
  unsigned pause_us;        /* all threads stopped, this attempt */
  unsigned stop_us;         /* of pause_us: stopping every thread */
  unsigned write_us;        /* of pause_us: writing the redirections */
  unsigned prep_us;         /* one thread stopped: mapping and filling new code */
  unsigned release_us;      /* after pause_us: detaching (resuming) the threads stopped in it */
  unsigned scan_us;         /* of release_us: their registers and stacks scanned before unmapping */
  unsigned hold_us;         /* the longest any thread was stopped: from holding the sleepers to the release's end */
  unsigned held;            /* threads held before the pause (sleepers, and phase 1's thread) */
  unsigned hold_wait_us;    /* of prep_us: stopping the sleepers */
  int fifo;                 /* the release ran SCHED_FIFO (hp_boost) */
  unsigned threads;
  int retained;             /* old mappings kept because still referenced */
  char why[256];
} hp_transition_report;

/* Run the transition.  Returns HP_*; on anything but HP_OK the process
 * runs exactly the code it ran before. */
int hp_transition(pid_t pid, hp_plan *plan, hp_transition_report *rep);

/* Recovery: stop the process, write each site's bytes for `next`, unmap
 * the maps no thread refers to and no site's `next` lies in.  Returns HP_*. */
int hp_force(pid_t pid, hp_site *sites, int n, hp_map *unmap, int nunmap, hp_transition_report *rep);

/* Choose a free address for len bytes within +-1.5 GiB of [lo,hi). 0 if none. */
uint64_t hp_pick_addr(pid_t pid, uint64_t lo, uint64_t hi, uint64_t len);

#endif
