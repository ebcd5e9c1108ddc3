/* SPDX-License-Identifier: MIT */
/*
 * The user-space hotpatch subsystem as a library: the `apply`, `revert`,
 * `list`, `recover` and `agent` commands, `hpm install` and the agent all
 * go through these calls (docs/hotpatch-authoring.md is the operator's
 * view, docs/hotpatch-payload.md the payload contract).
 *
 * Exit codes (returned by the hp_cmd_* and hp_apply): 0 done; 1 refused
 * (verification, baseline, sequence); 2 usage; 3 I/O; 4 some processes
 * failed.
 */
#ifndef HPM_RUNTIME_HOTPATCH_H
#define HPM_RUNTIME_HOTPATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "ctx.h"
#include "hotpatch/kernel.h"
#include "payload.h"
#include "status.h"
#include "hpm/core.h"

/* A hotpatch container verified against the context's trust store, with
 * its patch payloads parsed.  The manifest points into buf; path (what it
 * was read from) names it in messages. */
typedef struct {
  char *path;
  uint8_t *buf;
  size_t len;
  hpm_manifest m;
  hpp_payload p[HPM_MAX_PAYLOADS];
  size_t np;
} hp_hotpatch;

/* Read, verify (the trust store, [trust] hotpatch_signers) and parse path.
 * Returns 0, or an exit code (1 refused, 2 broken policy file, 3 I/O) with
 * st saying why (st->field names the file; h then holds nothing).
 * hp_hotpatch_free after success. */
int hp_load_verified(hpm_ctx *ctx, const char *path, hp_hotpatch *h, hpmh_status *st);
void hp_hotpatch_free(hp_hotpatch *h);

typedef struct {
  bool dry_run;           /* say what would be patched, change nothing */
  bool is_revert;         /* going back to a stored, lower sequence */
  bool force;             /* apply even a hotpatch marked bad on this host (health.h) */
  const pid_t *pids;      /* only these processes (npids 0: every process) */
  int npids;
  unsigned kernel_deadline_ms; /* the kernel part's transition deadline (0: HP_KERNEL_DEADLINE_MS) */
  bool restore;           /* after a reboot: the applied sequence again (hp_restore) */
} hp_opts;

typedef struct {
  uint32_t sequence;
  char id[64];
  int patched, failed;    /* processes */
  int reverted;           /* processes of binaries h does not target, back to original code */
  unsigned pause_us_p50, pause_us_p99, prep_us_p50;
  unsigned hold_us_p50, hold_us_p99; /* the longest any thread was stopped, per process */
  hp_kreport kernel;      /* the kernel part's transition (kernel.done: one was made) */
  hpmh_status st;         /* why, when the call refused or failed */
  struct cJSON *would;    /* dry run: per process, its functions and warnings
                             (the JSON document's "would_patch"; the caller
                             frees it with cJSON_Delete) */
} hp_report;

/* Make every process of the host run the code of hotpatch h (cumulative:
 * processes of binaries h does not target run original code).  Takes the
 * state lock and finishes interrupted transitions first; stores h and
 * records it as the applied sequence.  The result is the caller's to
 * report, from r (r->st when it refused: exit code 1 or 3); only progress
 * is printed where it happens: a line per process (stdout, not with
 * ctx->json; "would patch" lines on a dry run), retries, failures and
 * recoveries (stderr).  Returns the exit code. */
int hp_apply(hpm_ctx *ctx, const hp_hotpatch *h, const hp_opts *o, hp_report *r);

/* What `hpm apply` prints for a report: the summary line, or one JSON line. */
void hp_report_print(FILE *out, const hp_report *r, bool is_revert, bool dry_run, bool json);

/* The hotpatch part of `hpm status`. */
typedef struct {
  uint32_t sequence;
  char id[64];
  int processes;          /* journaled processes */
  int pending;            /* interrupted transitions */
} hp_status;
void hp_status_get(hpm_ctx *ctx, hp_status *s);

/* After a reboot: the applied hotpatch again (restore.c). */
typedef enum { HP_RESTORE_NONE = 0, HP_RESTORE_RESTORED, HP_RESTORE_DROPPED } hp_restore_outcome;
typedef struct {
  hp_restore_outcome outcome;  /* none: nothing applied (or refused: r.st says why) */
  uint32_t sequence;           /* the applied sequence found */
  char id[64];
  char baseline[2 * HPM_DIGEST_LEN + 1]; /* the baseline it targets ("" unknown) */
  char running[2 * HPM_DIGEST_LEN + 1];  /* the running baseline ("" unknown) */
  const char *running_src;               /* where that was read */
  hp_report r;                 /* restored: what hp_apply did; dropped: the kernel's revert, if any */
} hp_restore_report;
/* If the running baseline is the one the applied hotpatch targets, apply
 * its stored copy again (verified again; kernel part first; o's deadline);
 * else revert whatever of hpm's the kernel still runs and record sequence 0
 * (outcome dropped).  Returns the exit code (r.st says why when not 0). */
int hp_restore(hpm_ctx *ctx, const hp_opts *o, hp_restore_report *out);

/* --kernel-deadline SECONDS (1 .. 3600) of command cmd into *ms: 0, or 2 (said). */
int hp_kernel_deadline_arg(const char *cmd, const char *arg, unsigned *ms);

/* Lines for hpm's usage text. */
#define HP_USAGE                                                                                       \
  "  apply [--dry-run] [--force] [--pid PID]... [--kernel-deadline S] [--json] HOTPATCH\n"               \
  "                                               verify and apply a signed hotpatch\n"                 \
  "  commit [--json]                              end the applied hotpatch's verifying window now\n"   \
  "  revert [--to SEQ | --all] [--pid PID]... [--kernel-deadline S] [--json]\n"                          \
  "                                               go back to an earlier hotpatch or none\n"             \
  "  list [--json]                                patched processes: hotpatch, functions, when\n"       \
  "  agent [--once] [--no-assess]                 patch new processes of targeted binaries; periodic\n" \
  "                                               assessment and automatic installs (policy file)\n"    \
  "  recover                                      finish or roll back interrupted transitions\n"          \
  "  restore [--kernel-deadline S] [--json]       after a reboot: the applied hotpatch again (same\n"   \
  "                                               baseline) or none of its chain (another baseline)\n"

/* Commands: argv[0] is the command name; global options are already in ctx.
 * Each prints its own usage for --help. */
int hp_cmd_apply(hpm_ctx *ctx, int argc, char **argv);
int hp_cmd_revert(hpm_ctx *ctx, int argc, char **argv);
int hp_cmd_list(hpm_ctx *ctx, int argc, char **argv);
int hp_cmd_recover(hpm_ctx *ctx, int argc, char **argv);
int hp_cmd_agent(hpm_ctx *ctx, int argc, char **argv);
int hp_cmd_restore(hpm_ctx *ctx, int argc, char **argv);

#endif
