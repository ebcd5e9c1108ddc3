/* SPDX-License-Identifier: MIT */
/*
 * Assessment and installation (docs/operations.md "Assessment and
 * installation"): the glue between the catalog source (source.h), the
 * decision engine (decide.h), the policy (policy.h), enrollment (enroll.h),
 * the boot side (boot.h) and the hotpatch engine, with every step recorded
 * in the history (history.h).
 *
 *   hpm assess   fetch and verify the catalog, decide, print; changes nothing
 *                on the host (the catalog floor and the history aside)
 *   hpm install  the same, then act: download (verified), `hpm apply` a
 *                hotpatch, `hpm stage` a baseline, request a reboot
 *   hpm agent    runs update_agent_tick() in its loop: the periodic
 *                assessment with automatic installation
 *
 * Installing calls the hotpatch library (hp_apply) and the boot side's
 * hpm_boot_stage in this process, the same calls `hpm apply` and `hpm stage`
 * make, and records each result (with the library's status text) in the
 * history.  A reboot is requested by running $HPM_REBOOT_CMD (default
 * "systemctl reboot").
 *
 * Exit codes: 0 nothing failed; 1 refused or an action failed; 2 usage or
 * configuration; 3 I/O (source, state); 4 reboot requested but not started.
 */
#ifndef HPM_RUNTIME_UPDATE_H
#define HPM_RUNTIME_UPDATE_H
#include <stdint.h>

#include "ctx.h"
#include "update/policy.h"

int cmd_assess(hpm_ctx *ctx, int argc, char **argv);
int cmd_install(hpm_ctx *ctx, int argc, char **argv);

/* The agent's periodic assessment: does nothing until it is due
 * (policy_next_assessment after the last one, remembered in
 * HPM_STATE_DIR/assessed), then assesses and installs what the policy
 * installs automatically.  Never blocks for long when nothing is due. */
void update_agent_tick(hpm_ctx *ctx);
/* The policy changed (the agent's SIGHUP): the next update_agent_tick()
 * sets the schedule up again from it (source, interval, jitter). */
void update_agent_reconfigure(void);

/* Runs fn(ctx, argc, argv) (an hpm command; argv[0] is its name) and
 * records the outcome in the history as `event`, with the IDs the command
 * verified (ctx->record_ids; else the files named on its command line)
 * and, on failure, the command's last diagnostic line (msg.h); the exit
 * status unchanged_rc (if not 0) means "nothing to do" and is recorded as
 * `unchanged`.  Returns the command's exit status. */
int update_record_command(hpm_ctx *ctx, const char *event, int (*fn)(hpm_ctx *, int, char **), int unchanged_rc,
                          int argc, char **argv);

/* One line in the history of state directory dir, kept p->retention_days
 * (30 without a policy); a history failure is a warning, never a failure of
 * the operation. */
void update_history_record(const char *dir, const hpm_policy *p, const char *event, const char *ids,
                           const char *result, const char *error_text);

/* One line in the history from inside a command (recovery). */
void update_history_note(hpm_ctx *ctx, const char *event, const char *ids, const char *result,
                         const char *error_text);
/* A row with what happened in words beside the result word (ok, failed, ...). */
void update_history_detail(hpm_ctx *ctx, const char *event, const char *ids, const char *result, const char *error_text,
                           const char *detail);

/* The install phase of a fleet rollout (fleet/step.c): the release the
 * rollout names (a baseline version, or a hotpatch sequence for the running
 * baseline) taken from the verified catalog of the update source ([update]
 * source, $HPM_SOURCE), downloaded (verified) and installed through the same
 * calls as `hpm install`: a baseline staged (a reboot activates it; one
 * already staged is not staged again), a hotpatch applied (its health
 * window begins).  Recorded in the history like `hpm install`.  Returns 0,
 * or an exit code (as `hpm install`'s) with why saying what failed. */
int update_install_release(hpm_ctx *hc, hpm_kind kind, const char *target, char *why, size_t n);

/* This host against the signed catalog it holds (STATE/catalog.hpm, as
 * hpm assess would judge it, read-only, nothing fetched, nothing printed):
 * "up to date (catalog serial N)", "behind: ID hotpatch 5 (security), past
 * its deadline; ..." or "unknown: why" into out. */
void update_compliance(hpm_ctx *hc, uint64_t now, char *out, size_t n);

/* May this host ask the fleet for a slot now, by its own policy?  The
 * fleet decides whether a host may go now; the host's policy decides when
 * it may ask: never in a blackout; where maintenance windows are
 * configured, only inside one (a hotpatch also outside them with
 * [update] hotpatch_outside_windows = yes); a host without windows may ask
 * at any time (the rollout is the operator's schedule).  1 yes, 0 not now
 * (why says until when), -1 the policy is broken (why says where). */
int update_fleet_gate(hpm_ctx *hc, bool hotpatch, uint64_t now, char *why, size_t n);

/* "ok" (0), "refused" (1) or "failed": an exit code as a history result. */
const char *update_result_word(int rc);

#define UPDATE_USAGE                                                                                  \
  "  assess [--source URL|DIR] [--json]           what applies to this host now (changes nothing)\n"  \
  "  install [--classification C,..] [--include ID]... [--exclude ID]...\n"                           \
  "          [--reboot never|if-required|always] [--source URL|DIR] [--dry-run] [--json]\n"           \
  "                                               install what applies (verified downloads)\n"

#endif
