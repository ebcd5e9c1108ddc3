/* SPDX-License-Identifier: MIT */
/*
 * The verifying window after a hotpatch is applied (docs/operations.md,
 * "Health window"): the hotpatch is watched for [health] window; a patched
 * process that dies of a crash signal, or a required health check that
 * fails, reverts it through the ordinary crash-safe path and marks it bad
 * on this host; a window that ends healthy commits it.
 *
 * STATE_DIR/health holds the window (one at a time: the last applied
 * sequence), STATE_DIR/bad the hotpatches reverted for their health.  Both
 * are replaced atomically and synced: a reboot or a killed hpm resumes the
 * window, or finishes an automatic revert it had begun.
 */
#ifndef HPM_RUNTIME_HOTPATCH_HEALTH_H
#define HPM_RUNTIME_HOTPATCH_HEALTH_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "ctx.h"
#include "json.h"
#include "hotpatch/hotpatch.h"

typedef enum {
  HP_HEALTH_NONE = 0,  /* no window since the state began */
  HP_HEALTH_VERIFYING, /* being watched until `until` */
  HP_HEALTH_REVERTING, /* failed: the automatic revert has begun (finished by the next tick) */
  HP_HEALTH_COMMITTED, /* the window ended healthy (or `hpm commit`) */
  HP_HEALTH_REVERTED,  /* reverted: automatically (marked bad) or by hand */
} hp_health_state;

#define HP_HEALTH_UNITS 16 /* systemd units watched in one window */

typedef struct {
  hp_health_state state;
  uint32_t seq, prev_seq;   /* the hotpatch watched; the sequence a revert goes back to (0: none) */
  char id[64];
  uint64_t started, until;  /* seconds since the epoch */
  uint64_t started_mono_us; /* CLOCK_MONOTONIC at the start: the kernel log's clock */
  uint64_t next_check;      /* when the health checks run next */
  uint64_t ended;           /* when it was committed or reverted */
  char reason[512];         /* why it was reverted, or how it was committed */
  bool kernel;              /* the hotpatch has a kernel part: the kernel log is watched too */
  uint64_t ktaint;          /* /proc/sys/kernel/tainted when the window began (this boot) */
  size_t nunits;            /* the service units of patched processes ([health] units) */
  struct {
    char name[128];         /* HP_UNIT_NAME_MAX */
    uint32_t restarts;      /* its NRestarts when the hotpatch reached it */
  } units[HP_HEALTH_UNITS];
} hp_health;

/* "verifying", "reverting", ... ("none" for HP_HEALTH_NONE). */
const char *hp_health_state_name(hp_health_state s);

/* The window as recorded (state HP_HEALTH_NONE when there is none). */
void hp_health_read(const hpm_ctx *ctx, hp_health *w);

/* hp_apply's hooks: a hotpatch of sequence h applied over prev (not a
 * revert) starts a window; a revert (by hand) to sequence to ends one
 * that watched a higher sequence, without marking anything bad. */
void hp_health_begin(hpm_ctx *ctx, const hp_hotpatch *h, uint32_t prev);
/* hp_apply's hook after processes were patched: the service units of the
 * processes now at the watched sequence join the window's units, each with
 * its restart count at that moment (the agent's turns add later ones). */
void hp_health_note_units(hpm_ctx *ctx);
/* Put back the record read before a begin (an apply that patched nothing). */
void hp_health_restore(hpm_ctx *ctx, const hp_health *before);
void hp_health_reverted_to(hpm_ctx *ctx, uint32_t to);
/* The applied hotpatch was restored in a new boot (hp_restore): a window
 * still verifying watches this boot's kernel log from now on. */
void hp_health_new_boot(hpm_ctx *ctx);

/* The kernel's report of its own trouble in a kernel log record's text
 * (after the ';'): "WARNING: CPU: ...", "Oops: ...", "BUG: ...", a kernel
 * "general protection fault", "Kernel panic".  True if text is one. */
bool hp_health_kernel_trouble(const char *text);

/* SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP, SIGSYS: what counts against a hotpatch. */
bool hp_health_crash_signal(int sig);

/* The agent saw a thread of process pid exit with status code (the
 * kernel's exit code: signal number in the low 7 bits).  If pid carried
 * the watched hotpatch and a crash signal ended it, the hotpatch fails:
 * reverted and marked bad at once.  Returns true if it did. */
bool hp_health_exit(hpm_ctx *ctx, pid_t pid, uint32_t code);

/* The agent's crash-loop breaker tripped (why says how): the applied
 * hotpatch, in its window or committed, is reverted and marked bad as for
 * a failed window.  Returns true if there was one to revert. */
bool hp_health_crash_loop(hpm_ctx *ctx, const char *why);

/* One look at the window: run the health checks when due, commit when it
 * ended healthy, finish an automatic revert that was begun.  The agent
 * calls it on every turn.  Returns 0, or an exit code when a revert failed. */
int hp_health_tick(hpm_ctx *ctx);

/* A hotpatch this host reverted for its health. */
typedef struct {
  uint8_t baseline[HPM_DIGEST_LEN];
  uint32_t seq;
  char id[64];
  uint64_t time;
  char reason[512];
} hp_bad;

/* Is sequence seq of baseline marked bad?  Fills *b when it is. */
bool hp_bad_find(const hpm_ctx *ctx, const uint8_t baseline[HPM_DIGEST_LEN], uint32_t seq, hp_bad *b);
/* Every mark, oldest first (malloc'd; free it).  Returns how many. */
int hp_bad_list(const hpm_ctx *ctx, hp_bad **out);

/* The window and the bad marks as `status` and `list` show them: keys
 * "health" and "bad" added to obj (docs/json.md), or lines on out. */
void hp_health_json(const hpm_ctx *ctx, cJSON *obj);
void hp_health_print(hpm_ctx *ctx, FILE *out);
/* Only the window's line (what `hpm apply` says after applying). */
void hp_health_print_window(hpm_ctx *ctx, FILE *out);

/* `hpm commit`: end the window now, healthy. */
int hp_cmd_commit(hpm_ctx *ctx, int argc, char **argv);

#endif
