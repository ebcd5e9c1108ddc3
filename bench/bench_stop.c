/* SPDX-License-Identifier: MIT */
/*
 * bench_stop PID [CYCLES]: the bare cost of stopping and resuming every
 * thread of PID with the very calls hpm's transition uses
 * (runtime/hotpatch/ptrace.c), without patching anything.
 *
 * Each cycle goes through hpm's pause up to its window: seize every thread
 * and stop one (phase 1), prepare the thread count and the spin decision;
 * then, timed like hpm's pause from there, stop every thread
 * (PTRACE_INTERRUPT, wait, registers) and release them (detach, which
 * resumes them).  One line per cycle: "stop_us resume_us threads", where
 * stop_us covers the same window as the stop part of hpm's pause and
 * resume_us the detach of every thread after it (hpm's reported pause ends
 * before that detach).  Exit 1 if a cycle fails.
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
      uint64_t t0 = hp_now_us();
      rc = hp_stop_threads(&p, 200000, 0);
      uint64_t t1 = hp_now_us();
      int n = p.n;
      hp_release_others(&p, 0);
      uint64_t t2 = hp_now_us();
      if (!rc) printf("%llu %llu %d\n", (unsigned long long)(t1 - t0), (unsigned long long)(t2 - t1), n);
    }
    hp_proc_close(&p);
    if (rc) {
      fprintf(stderr, "bench_stop: pid %d: stopping its threads failed (%d)\n", (int)pid, rc);
      return 1;
    }
  }
  return 0;
}
