/* SPDX-License-Identifier: MIT */
/*
 * The test hooks of the hotpatch room: environment variables the crash,
 * timing and scale tests set, read once, in one place.  None of them is a
 * setting: an operator never sets them.
 */
#ifndef HPM_RUNTIME_HOTPATCH_HOOKS_H
#define HPM_RUNTIME_HOTPATCH_HOOKS_H

#include <stdbool.h>

typedef struct {
  int fault_after;           /* HPM_TEST_FAULT_AFTER: _exit(9) after this many writes to a process (-1 off) */
  unsigned delay_ms;         /* HPM_TEST_DELAY_MS: sleep after journaling a transition's intent */
  bool syscall_delay;        /* HPM_TEST_SYSCALL_DELAY_US is set: announce each transition on stderr */
  unsigned syscall_delay_us; /* HPM_TEST_SYSCALL_DELAY_US: sleep at each step of a remote call */
  const char *exit_at;       /* HPM_TEST_EXIT_AT: "resumed", "unmapped", "journaled" or "health-reverting": _exit(9) there */
  bool timing;               /* HPM_TIMING: one timing line per transition on stderr */
  int workers;               /* HPM_WORKERS: worker processes for patching (0: by CPU count) */
  unsigned retry_limit_ms;   /* HPM_TEST_RETRY_LIMIT_MS: the retry limit instead of HP_RETRY_LIMIT_MS (0: that) */
} hp_test_hooks;

/* The hooks of this process's environment (read on first use). */
const hp_test_hooks *hp_hooks(void);

#endif
