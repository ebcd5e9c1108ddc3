/* SPDX-License-Identifier: MIT */
/*
 * One context for every hpm command: where things are and how the command
 * was asked to behave.  main.c fills it once, from the global options and
 * the environment (the only place hpm reads HPM_* settings), and hands it
 * to the command; nothing below main.c calls getenv() or setenv() for them.
 */
#ifndef HPM_RUNTIME_CTX_H
#define HPM_RUNTIME_CTX_H

#include <stdbool.h>
#include <stddef.h>

#include "hpm/core.h"

#define HPM_CTX_MAX_KEYS 64

typedef struct hpm_ctx {
  const char *trust_dir;   /* --trust-dir, $HPM_TRUST_DIR, /etc/hpm/trust */
  const char *state_dir;   /* --state-dir, $HPM_STATE_DIR, /var/lib/hpm */
  const char *esp;         /* --esp, $HPM_ESP, /boot/efi */
  const char *efivars;     /* $HPM_EFIVARS, /sys/firmware/efi/efivars */
  const char *conf;        /* $HPM_CONF, /etc/hpm/hpm.conf (POLICY_DEFAULT_PATH) */
  const char *source;      /* $HPM_SOURCE: the catalog source ("" = policy's) */
  const char *reboot_cmd;  /* $HPM_REBOOT_CMD, "systemctl reboot" */
  /* Test hooks: the running baseline and its SVN instead of what the boot
   * stage published (--baseline, $HPM_BASELINE, $HPM_BASELINE_SVN). */
  const char *baseline_override;
  const char *baseline_svn_override;
  unsigned budget_us;      /* --budget-us: pause budget per attempt */
  bool json;               /* --json */
  /* What a recorded command verified and acted on (hotpatch IDs, baseline
   * versions), for its history row. */
  char record_ids[512];

  /* The trust store, loaded on first use (hpm_ctx_trust). */
  bool keys_loaded;
  size_t nkeys;
  hpm_pubkey keys[HPM_CTX_MAX_KEYS];
} hpm_ctx;

/* Defaults, then the environment. */
void hpm_ctx_init(hpm_ctx *c);

/* The release keys of c->trust_dir (loaded once; unusable files are
 * reported and skipped).  *n is 0 when there are none: callers refuse. */
const hpm_pubkey *hpm_ctx_trust(hpm_ctx *c, size_t *n);

#endif
