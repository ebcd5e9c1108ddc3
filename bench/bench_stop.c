/* SPDX-License-Identifier: MIT */
/*
 * bench_stop PID [CYCLES]: the bare cost of stopping and resuming every
 * thread of PID with the very calls hpm's transition uses
 * (runtime/hotpatch/ptrace.c), without patching anything.
 *
 * Each cycle goes through hpm's pause up to its window: seize every thread
 * and stop one (phase 1), prepare the thread count, hold the sleeping
 * threads, decide on spinning; then, timed like hpm's pause from there,
 * stop every thread not held yet (PTRACE_INTERRUPT, wait, registers) and
 * release them all at hpm's raised weight (detach, which resumes them).  One
 * line per cycle: "stop_us resume_us threads hold_us", where stop_us
 * covers the same window as the stop part of hpm's pause, resume_us the
 * detach of every thread after it (hpm's reported pause ends before that
 * detach) and hold_us the longest any thread was stopped, from holding the
 * sleepers to the end of the release (hpm's hold_us).  Exit 1 if a cycle
 * fails.
 */
#include <stdio.h>
#include <stdlib.h>

#include "hotpatch/ptrace.h"

int main(int argc, char **argv) {
  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: bench_stop PID [CYCLES]\n");
    return 2;
  }
  pid_t pid = (pid_t)atoi(argv[1]);
  int cycles = argc > 2 ? atoi(argv[2]) : 1;
  if (pid <= 0 || cycles < 1) {
    fprintf(stderr, "bench_stop: PID and CYCLES must be positive numbers\n");
    return 2;
  }
  hp_block_sigchld(1);
  for (int c = 0; c < cycles; c++) {
    hp_proc p;
    int rc = hp_proc_open(&p, pid, -1);
    if (rc) {
      fprintf(stderr, "bench_stop: pid %d: cannot open /proc/%d/mem (%d)\n", (int)pid, (int)pid, rc);
      free(p.t);
      return 1;
    }
    rc = hp_stop_threads(&p, 200000, 1);
    if (!rc) {
      hp_count_prepare(&p);
      hp_spin_decide(&p);
      uint64_t th = hp_now_us();
      hp_hold_sleepers(&p, 5000);
      hp_spin_decide(&p);
      uint64_t t0 = hp_now_us();
      rc = hp_stop_threads(&p, 200000, 0);
      uint64_t t1 = hp_now_us();
      int n = p.n;
      hp_boost(&p, 1);
      hp_release_others(&p, 0);
      uint64_t t2 = hp_now_us();
      if (!rc)
        printf("%llu %llu %d %llu\n", (unsigned long long)(t1 - t0), (unsigned long long)(t2 - t1), n,
               (unsigned long long)(t2 - th));
    }
    hp_proc_close(&p);
    if (rc) {
      fprintf(stderr, "bench_stop: pid %d: stopping its threads failed (%d)\n", (int)pid, rc);
      return 1;
    }
  }
  return 0;
}
