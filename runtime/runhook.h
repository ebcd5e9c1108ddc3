/* SPDX-License-Identifier: MIT */
/*
 * Running an operator's executable with a timeout: the health checks of a
 * hotpatch's window (hotpatch/health.c) and the fleet's hooks
 * (fleet/step.c: drain, undrain, gate, install, reboot, verify).  The
 * program runs in its own process group, stdin from /dev/null, stdout and
 * stderr collected (the tail is kept for the message); past the timeout the
 * whole group is killed.
 */
#ifndef HPM_RUNTIME_RUNHOOK_H
#define HPM_RUNTIME_RUNHOOK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

/* Run path with env ("NAME=VALUE" strings added to the environment, NULL
 * terminated; may be NULL) for at most timeout_ms.  0 when it exited 0;
 * else -1 and why says how it failed ("exit 3: LAST LINE", "killed by
 * signal 9", "did not finish within 2000 ms (killed)", "cannot run it: ..."). */
int hpm_run_hook(const char *path, char *const env[], unsigned timeout_ms, char *why, size_t n);
/* The same, also killed (with its group) as soon as *cancel becomes true
 * (looked at every 100 ms): then -2, why "cancelled (killed): ...". */
int hpm_run_hook_cancel(const char *path, char *const env[], unsigned timeout_ms, const atomic_bool *cancel, char *why,
                        size_t n);

/* Whether name is a file a hooks or checks directory skips: hidden files,
 * editor and package-manager leftovers (what hpm-health-check skips too). */
bool hpm_hook_skipped(const char *name);

#endif
