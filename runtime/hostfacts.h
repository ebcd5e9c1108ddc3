/* SPDX-License-Identifier: MIT */
/*
 * Facts about this host that several subsystems need, each with one owner:
 * the running baseline (what the boot stage booted) and the hotpatch
 * sequence applied on top of it.
 */
#ifndef HPM_RUNTIME_HOSTFACTS_H
#define HPM_RUNTIME_HOSTFACTS_H

#include <stdbool.h>
#include <stdint.h>

#include "ctx.h"
#include "hpm/format.h"

typedef struct {
  uint8_t digest[HPM_DIGEST_LEN];
  bool svn_known;
  uint32_t svn;
  const char *src;  /* where it was read: for messages */
} hpm_running_baseline;

/* The running baseline: the context's override (tests), else the EFI
 * variables HpmBootBaseline/HpmBootSvn the boot stage published, else
 * hpm.baseline= on /proc/cmdline (no SVN then).  Returns 0, or -1 when no
 * baseline digest can be found (out->src is then "none"). */
int hostfacts_running_baseline(const hpm_ctx *c, hpm_running_baseline *out);

/* The hotpatch applied on this host (STATE_DIR/applied): sequence 0 and
 * ID "" when none. */
typedef struct {
  uint32_t seq;
  char id[64];
} hpm_applied;
void hostfacts_applied_read(const hpm_ctx *c, hpm_applied *a);
/* Durably (atomic replace).  Returns 0, or -1 with errno. */
int hostfacts_applied_write(const hpm_ctx *c, const hpm_applied *a);

#endif
