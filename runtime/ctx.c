/* SPDX-License-Identifier: MIT */
#include "ctx.h"

#include <stdlib.h>
#include <string.h>

#include "boot/efivar.h"
#include "msg.h"
#include "trust.h"
#include "update/policy.h"

static const char *env_or(const char *name, const char *def) {
  const char *v = getenv(name);
  return v && *v ? v : def;
}

void hpm_ctx_init(hpm_ctx *c) {
  memset(c, 0, sizeof *c);
  c->trust_dir = env_or("HPM_TRUST_DIR", "/etc/hpm/trust");
  c->state_dir = env_or("HPM_STATE_DIR", "/var/lib/hpm");
  c->esp = env_or("HPM_ESP", "/boot/efi");
  c->efivars = env_or("HPM_EFIVARS", "/sys/firmware/efi/efivars");
  c->conf = env_or("HPM_CONF", POLICY_DEFAULT_PATH);
  c->source = env_or("HPM_SOURCE", "");
  c->reboot_cmd = env_or("HPM_REBOOT_CMD", "systemctl reboot");
  c->baseline_override = env_or("HPM_BASELINE", NULL);
  c->baseline_svn_override = env_or("HPM_BASELINE_SVN", NULL);
  c->budget_us = 5000;
  hpm_efivar_set_dir(c->efivars);
}

const hpm_pubkey *hpm_ctx_trust(hpm_ctx *c, size_t *n) {
  if (!c->keys_loaded) {
    c->nkeys = hpmh_trust_load(c->trust_dir, c->keys, HPM_CTX_MAX_KEYS, hpm_msg_status);
    c->keys_loaded = true;
  }
  *n = c->nkeys;
  return c->keys;
}
