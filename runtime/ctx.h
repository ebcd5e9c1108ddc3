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
#include "loader.h"
#include "status.h"
#include "update/policy.h"

#define HPM_CTX_MAX_KEYS 64

typedef struct hpm_ctx {
  const char *trust_dir;   /* --trust-dir, $HPM_TRUST_DIR, /etc/hpm/trust */
  const char *state_dir;   /* --state-dir, $HPM_STATE_DIR, /var/lib/hpm */
  const char *esp;         /* --esp, $HPM_ESP, /boot/efi */
  const char *cache_dir;   /* $HPM_CACHE_DIR, [paths] cache_dir; default /var/cache/hpm, or
                            * STATE/cache when the state directory was moved (hpm_ctx_configure) */
  const char *efivars;     /* $HPM_EFIVARS, /sys/firmware/efi/efivars */
  const char *conf;        /* --config, $HPM_CONF, /etc/hpm/hpm.conf (POLICY_DEFAULT_PATH) */
  bool conf_named;         /* conf was named (--config, $HPM_CONF): it must exist */
  bool conf_from_option;   /* ... by --config */
  /* Which of trust_dir, state_dir, esp an option or variable set (the
   * policy file's [paths] fills the others: hpm_ctx_configure). */
  bool trust_dir_set, state_dir_set, esp_set, cache_dir_set;
  char paths[4][POLICY_PATH_MAX + 1]; /* [paths] values in use */
  char cache_buf[POLICY_PATH_MAX + 16]; /* STATE/cache */
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
  /* What it did in words, for the same row ("" none). */
  char record_detail[512];

  /* The trust store, loaded on first use (hpm_ctx_trust). */
  bool keys_loaded;
  size_t nkeys;
  hpm_pubkey keys[HPM_CTX_MAX_KEYS];

  /* The policy file c->conf, read on first use (hpm_ctx_policy). */
  bool policy_loaded;
  policy_result policy_res;
  char policy_err[600];   /* POLICY_ERROR: file, line, key and fix */
  hpm_policy policy;
} hpm_ctx;

/* Defaults, then the environment. */
void hpm_ctx_init(hpm_ctx *c);

/* Who runs this process, for the history (hist_set_origin): the command
 * line (argv, each word shell-quoted where needed) and the user (with the
 * sudo user, when root runs it through sudo). */
void hpm_ctx_set_origin(int argc, char **argv);

/* After the global options: reads the policy file (and its drop-ins) and
 * takes [paths] for the settings no option or variable gave.  Returns 0, or
 * 2 with st naming the file, line and fix: a broken policy file, or a named
 * one (--config, HPM_CONF) that does not exist.  Every command runs it. */
int hpm_ctx_configure(hpm_ctx *c, hpmh_status *st);

/* The update source a command uses: its --source (opt), else $HPM_SOURCE,
 * else [update] source of the policy file; NULL when none is set. */
const char *hpm_ctx_source(hpm_ctx *c, const char *opt);

/* The release keys of c->trust_dir (loaded once; unusable files are
 * reported and skipped).  *n is 0 when there are none: callers refuse. */
const hpm_pubkey *hpm_ctx_trust(hpm_ctx *c, size_t *n);

/* The policy file (c->conf), read once for the whole command: the policy
 * (defaults where the file is missing; *res says which), or NULL when the
 * file is broken, *err then naming file, line, key and fix.  res and err
 * may be NULL. */
const hpm_policy *hpm_ctx_policy(hpm_ctx *c, policy_result *res, const char **err);

/* Read the policy file again now and forget the trust store (read again on
 * next use): the agent, on SIGHUP (`systemctl reload hpm-agent`) and before
 * each periodic assessment, so that changed keys, [trust] and the rest of
 * the policy apply without a restart.  Returns 0, or -1 with st naming the
 * file, line and fix when the file is broken: a policy read before stays in
 * use (hpm_ctx_policy keeps returning it).  [paths] are taken at start only
 * (hpm_ctx_configure): a moved directory needs a restart. */
int hpm_ctx_reload(hpm_ctx *c, hpmh_status *st);

/* How many distinct trusted keys must sign an object of kind (baseline,
 * hotpatch, catalog) on this host: [trust] <kind>_signers of c->conf, 1
 * unless set (hpm_ctx_policy); when the policy file is broken this returns
 * 0 and fills st (HPMH_E_INVALID, naming file, line and key). */
unsigned hpm_ctx_signers(hpm_ctx *c, hpm_kind kind, hpmh_status *st);

/* The one place a verifying trust is built: the trust store's keys and this
 * host's threshold for kind.  Returns 0, or -1 with st filled:
 * HPMH_E_IO the trust store holds no key, HPMH_E_INVALID the policy file is
 * broken, HPMH_E_REFUSED the store holds fewer keys than the threshold. */
int hpm_ctx_trust_for(hpm_ctx *c, hpm_kind kind, hpm_trust *t, hpmh_status *st);

/* Why an object of kind did not verify with hpm_ctx_trust_for's trust, as
 * the text after "FILE: ".  Too few signers (core's HPM_E_THRESHOLD_NOT_MET;
 * trusted: the verifier's trusted_signers) says how many trusted keys signed, how many this host
 * requires for that kind and where that is configured; anything else is
 * host's sentence (hpmh_explain: the field, what it means, what to do) with
 * this host's trust store.  m: the manifest as far as parsed (NULL for a
 * catalog); ld: the loader of detached payloads, or NULL. */
void hpm_ctx_refusal(const hpm_ctx *c, hpm_kind kind, const hpm_manifest *m, unsigned trusted, hpm_result r,
                     const hpm_diag *d, const hpmh_loader *ld, char *out, size_t cap);

#endif
