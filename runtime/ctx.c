/* SPDX-License-Identifier: MIT */
#include "ctx.h"

#include <ctype.h>
#include <errno.h>
#include <pwd.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boot/efivar.h"
#include "explain.h"
#include "msg.h"
#include "trust.h"
#include "update/history.h"

static const char *env_or(const char *name, const char *def) {
  const char *v = getenv(name);
  return v && *v ? v : def;
}

static bool env_set(const char *name) {
  const char *v = getenv(name);
  return v && *v;
}

void hpm_ctx_init(hpm_ctx *c) {
  memset(c, 0, sizeof *c);
  c->trust_dir_set = env_set("HPM_TRUST_DIR");
  c->state_dir_set = env_set("HPM_STATE_DIR");
  c->esp_set = env_set("HPM_ESP");
  c->cache_dir_set = env_set("HPM_CACHE_DIR");
  c->conf_named = env_set("HPM_CONF");
  c->trust_dir = env_or("HPM_TRUST_DIR", "/etc/hpm/trust");
  c->state_dir = env_or("HPM_STATE_DIR", "/var/lib/hpm");
  c->esp = env_or("HPM_ESP", "/boot/efi");
  c->cache_dir = env_or("HPM_CACHE_DIR", "/var/cache/hpm");
  c->efivars = env_or("HPM_EFIVARS", "/sys/firmware/efi/efivars");
  c->conf = env_or("HPM_CONF", POLICY_DEFAULT_PATH);
  c->source = env_or("HPM_SOURCE", "");
  c->reboot_cmd = env_or("HPM_REBOOT_CMD", "systemctl reboot");
  c->baseline_override = env_or("HPM_BASELINE", NULL);
  c->baseline_svn_override = env_or("HPM_BASELINE_SVN", NULL);
  c->budget_us = 5000;
  hpm_efivar_set_dir(c->efivars);
  hpm_msg_journal(getenv("JOURNAL_STREAM")); /* set by systemd for a service whose stderr is the journal */
}

int hpm_ctx_configure(hpm_ctx *c, hpmh_status *st) {
  struct stat sb;
  char dropins[PATH_MAX];
  snprintf(dropins, sizeof dropins, "%s.d", c->conf);
  if (c->conf_named && stat(c->conf, &sb) && errno == ENOENT && stat(dropins, &sb)) {
    hpmh_fail(st, HPMH_E_INVALID, c->conf,
              "%s: the policy file named by %s does not exist; create it (an empty file means the documented "
              "defaults) or name another one",
              c->conf, c->conf_from_option ? "--config" : "HPM_CONF");
    return 2;
  }
  const char *err;
  const hpm_policy *p = hpm_ctx_policy(c, NULL, &err);
  if (!p) {
    hpmh_fail(st, HPMH_E_INVALID, c->conf, "%s", err);
    return 2;
  }
  struct {
    const char **dst;
    bool set;
    const char *val;
  } take[4] = {{&c->trust_dir, c->trust_dir_set, p->trust_dir},
               {&c->state_dir, c->state_dir_set, p->state_dir},
               {&c->esp, c->esp_set, p->esp},
               {&c->cache_dir, c->cache_dir_set, p->cache_dir}};
  bool state_moved = c->state_dir_set || p->state_dir[0];
  for (int i = 0; i < 4; i++)
    if (!take[i].set && take[i].val[0]) {
      snprintf(c->paths[i], sizeof c->paths[i], "%s", take[i].val);
      *take[i].dst = c->paths[i];
      take[i].set = true;
    }
  /* a moved state directory keeps its downloads unless told otherwise */
  if (!take[3].set && state_moved) {
    snprintf(c->cache_buf, sizeof c->cache_buf, "%s/cache", c->state_dir);
    c->cache_dir = c->cache_buf;
  }
  return 0;
}

void hpm_ctx_set_origin(int argc, char **argv) {
  char cmd[1024] = "", user[128];
  size_t o = 0;
  for (int i = 0; i < argc && o < sizeof cmd - 8; i++) {
    const char *a = argv[i];
    bool plain = *a != 0;
    for (const char *q = a; *q && plain; q++) plain = isalnum((unsigned char)*q) || strchr("-_./=:,+@%", *q);
    if (o) cmd[o++] = ' ';
    if (plain) {
      o += (size_t)snprintf(cmd + o, sizeof cmd - o, "%s", a);
    } else { /* single quotes; a ' inside becomes '\'' */
      cmd[o++] = '\'';
      for (const char *q = a; *q && o < sizeof cmd - 6; q++) {
        if (*q == '\'') o += (size_t)snprintf(cmd + o, sizeof cmd - o, "'\\''");
        else cmd[o++] = (unsigned char)*q < 0x20 || *q == 0x7f ? '?' : *q;
      }
      cmd[o++] = '\'';
      cmd[o] = 0;
    }
    if (o >= sizeof cmd) o = sizeof cmd - 1;
  }
  struct passwd *pw = getpwuid(getuid());
  const char *sudo = getenv("SUDO_USER");
  int n = pw ? snprintf(user, sizeof user, "%s", pw->pw_name) : snprintf(user, sizeof user, "uid %u", (unsigned)getuid());
  if (sudo && *sudo && getuid() == 0 && n > 0 && (size_t)n < sizeof user)
    snprintf(user + n, sizeof user - (size_t)n, " (sudo from %s)", sudo);
  hist_set_origin(cmd, user);
}

const char *hpm_ctx_source(hpm_ctx *c, const char *opt) {
  if (opt) return opt;
  if (*c->source) return c->source;
  const hpm_policy *p = hpm_ctx_policy(c, NULL, NULL);
  return p && p->source[0] ? p->source : NULL;
}

const hpm_pubkey *hpm_ctx_trust(hpm_ctx *c, size_t *n) {
  if (!c->keys_loaded) {
    c->nkeys = hpmh_trust_load(c->trust_dir, c->keys, HPM_CTX_MAX_KEYS, hpm_msg_status);
    c->keys_loaded = true;
  }
  *n = c->nkeys;
  return c->keys;
}

const hpm_policy *hpm_ctx_policy(hpm_ctx *c, policy_result *res, const char **err) {
  if (!c->policy_loaded) {
    c->policy_err[0] = 0;
    c->policy_res = policy_load(c->conf, &c->policy, c->policy_err, sizeof c->policy_err);
    c->policy_loaded = true;
  }
  if (res) *res = c->policy_res;
  if (err) *err = c->policy_err;
  return c->policy_res == POLICY_ERROR ? NULL : &c->policy;
}

int hpm_ctx_reload(hpm_ctx *c, hpmh_status *st) {
  static hpm_policy fresh; /* large (windows, blackouts): not on the stack */
  char err[sizeof c->policy_err];
  c->keys_loaded = false;
  policy_result r = policy_load(c->conf, &fresh, err, sizeof err);
  if (r == POLICY_ERROR && c->policy_loaded && c->policy_res != POLICY_ERROR)
    return hpmh_fail(st, HPMH_E_INVALID, c->conf, "%s; the policy read before stays in use", err);
  c->policy_res = r;
  c->policy_loaded = true;
  snprintf(c->policy_err, sizeof c->policy_err, "%s", r == POLICY_ERROR ? err : "");
  if (r == POLICY_ERROR) return hpmh_fail(st, HPMH_E_INVALID, c->conf, "%s", err);
  c->policy = fresh;
  return 0;
}

unsigned hpm_ctx_signers(hpm_ctx *c, hpm_kind kind, hpmh_status *st) {
  const char *err;
  const hpm_policy *p = hpm_ctx_policy(c, NULL, &err);
  if (!p) {
    hpmh_fail(st, HPMH_E_INVALID, c->conf, "%s", err);
    return 0;
  }
  return kind >= HPM_KIND_BASELINE && kind <= HPM_KIND_CATALOG ? p->signers[kind] : 0;
}

static const char *kind_plural(hpm_kind kind) {
  return kind == HPM_KIND_BASELINE ? "baselines" : kind == HPM_KIND_HOTPATCH ? "hotpatches" : "catalogs";
}

int hpm_ctx_trust_for(hpm_ctx *c, hpm_kind kind, hpm_trust *t, hpmh_status *st) {
  size_t n;
  const hpm_pubkey *keys = hpm_ctx_trust(c, &n);
  if (!n)
    return hpmh_fail(st, HPMH_E_IO, c->trust_dir,
                     "no trusted keys in %s (expected *.pub release keys; set --trust-dir or HPM_TRUST_DIR): refusing",
                     c->trust_dir);
  unsigned need = hpm_ctx_signers(c, kind, st);
  if (!need) return -1;
  if (n < need)
    return hpmh_fail(st, HPMH_E_REFUSED, c->trust_dir,
                     "%s holds %zu trusted key%s, fewer than the %u signatures this host requires for %s "
                     "([trust] %s in %s): refusing; add the other release keys' *.pub or lower %s",
                     c->trust_dir, n, n == 1 ? "" : "s", need, kind_plural(kind), policy_signers_key(kind), c->conf,
                     policy_signers_key(kind));
  t->keys = keys;
  t->count = n;
  t->threshold = need;
  return 0;
}

void hpm_ctx_refusal(const hpm_ctx *c, hpm_kind kind, const hpm_manifest *m, unsigned trusted, hpm_result r,
                     const hpm_diag *d, const hpmh_loader *ld, char *out, size_t cap) {
  if (r == HPM_E_THRESHOLD_NOT_MET && kind >= HPM_KIND_BASELINE && kind <= HPM_KIND_CATALOG) {
    snprintf(out, cap,
             "%u trusted signature%s, this host requires %u for %s ([trust] %s in %s); "
             "have further release keys countersign it (hpm-sign countersign)",
             trusted, trusted == 1 ? "" : "s", c->policy.signers[kind], kind_plural(kind), policy_signers_key(kind), c->conf);
    return;
  }
  char trust[PATH_MAX + 32], add[PATH_MAX + 64];
  snprintf(trust, sizeof trust, "the trust store %s", c->trust_dir);
  snprintf(add, sizeof add, "if it is a release key, put its public key (.pub) in %s", c->trust_dir);
  const hpmh_explain_words w = {trust, add, "(this host's [trust] threshold)"};
  hpmh_explain(m, r, d, ld, &w, out, cap);
}
