/* SPDX-License-Identifier: MIT */
/*
 * The operator commands of the update policy: `hpm policy`, `hpm history`,
 * `hpm enroll`, `hpm unenroll` (runtime/lifecycle_cmd.c).  Each takes the
 * argv that starts at its command name.  Exit codes: 0 done, 1 refused or
 * failed, 2 usage or configuration error.
 */
#ifndef HPM_RUNTIME_LIFECYCLE_CMD_H
#define HPM_RUNTIME_LIFECYCLE_CMD_H

#include "ctx.h"

int cmd_policy(hpm_ctx *ctx, int argc, char **argv);
int cmd_history(hpm_ctx *ctx, int argc, char **argv);
int cmd_enroll(hpm_ctx *ctx, int argc, char **argv);
int cmd_unenroll(hpm_ctx *ctx, int argc, char **argv);

/* Lines for hpm's usage text. */
#define LIFECYCLE_USAGE                                                                       \
  "  policy [--json]                              effective policy, window state, next window\n" \
  "  history [--since DATE|DURATION] [--json]     what hpm did: assess, install, apply, ...\n" \
  "  enroll [--json]                              take hotpatches again (needs a newer baseline)\n" \
  "  unenroll [--json]                            take only baselines from now on\n"

#endif
