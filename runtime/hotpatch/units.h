/* SPDX-License-Identifier: MIT */
/*
 * The systemd units of patched processes, a health signal of the verifying
 * window (health.c, docs/operations.md "Health window"): which service unit
 * a process belongs to (its cgroup, sd_pid_get_unit) and what systemd says
 * of that unit (ActiveState, SubState, NRestarts), read through systemd's
 * D-Bus API with sd-bus from libsystemd.  As root hpm talks to systemd's
 * private socket (/run/systemd/private), as systemctl does, so no D-Bus
 * daemon is needed; otherwise the system bus.
 */
#ifndef HPM_RUNTIME_HOTPATCH_UNITS_H
#define HPM_RUNTIME_HOTPATCH_UNITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define HP_UNIT_NAME_MAX 128

/* systemd is the init system of this host (/run/systemd/system exists). */
bool hp_units_systemd(void);

/* The service unit process pid runs in (e.g. "nginx.service"): 0, or -1
 * when it is in none (a scope, a user session, no systemd, gone). */
int hp_unit_of_pid(pid_t pid, char unit[HP_UNIT_NAME_MAX]);

typedef struct {
  char active[32]; /* ActiveState: active, reloading, inactive, failed, activating, deactivating */
  char sub[32];    /* SubState: running, auto-restart, exited, dead, ... */
  char result[32]; /* Result: success, exit-code, signal, core-dump, watchdog, ...; systemd resets it to
                    * success when a (re)start runs */
  uint32_t nrestarts; /* NRestarts: restarts systemd made by itself (Restart=) */
} hp_unit_state;

/* Ask systemd about unit.  0, or -1 with err saying why (no bus, no such
 * unit). */
int hp_unit_query(const char *unit, hp_unit_state *s, char *err, size_t cap);

/* What in s (now) against the unit's NRestarts when the hotpatch reached it
 * counts against the hotpatch: failed, restarted by systemd since, or
 * waiting to be restarted.  0 when none; else -1 and why says it. */
int hp_unit_judge(const char *unit, uint32_t restarts_then, const hp_unit_state *s, char *why, size_t cap);

#endif
