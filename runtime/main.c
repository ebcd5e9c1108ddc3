/* SPDX-License-Identifier: MIT */
/*
 * hpm: the host command.  A table of commands over one context: the
 * global options (anywhere on the line) and the environment are read here,
 * once, into an hpm_ctx; each command parses only its own options.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot/boot.h"
#include "ctx.h"
#include "fleet/fleet.h"
#include "hotpatch/health.h"
#include "hotpatch/hotpatch.h"
#include "jsonout.h"
#include "msg.h"
#include "status_cmd.h"
#include "update/catalog_cmd.h"
#include "update/clean.h"
#include "update/lifecycle_cmd.h"
#include "update/update.h"
#include "version.h"

typedef int (*command_fn)(hpm_ctx *ctx, int argc, char **argv);

static const struct command {
  const char *name;
  command_fn fn;
  bool recorded;    /* changes the host: recorded in the history */
  int unchanged_rc; /* its exit status for "nothing to do" (history: unchanged), 0 if none */
} commands[] = {
    {"apply", hp_cmd_apply, true, 0},
    {"revert", hp_cmd_revert, true, 0},
    {"commit", hp_cmd_commit, true, 0},
    {"list", hp_cmd_list, false, 0},
    {"status", hpm_cmd_status, false, 0},
    {"mark-good", hpm_boot_cmd_mark_good, true, HPM_BOOT_EXIT_ALREADY},
    {"stage", hpm_boot_cmd_stage, true, 0},
    {"rollback", hpm_boot_cmd_rollback, true, 0},
    {"setup", hpm_boot_cmd_setup, true, 0},
    {"agent", hp_cmd_agent, false, 0},
    {"recover", hp_cmd_recover, false, 0},
    {"restore", hp_cmd_restore, true, 0},
    {"catalog", cmd_catalog, false, 0},
    {"assess", cmd_assess, false, 0},
    {"install", cmd_install, false, 0},
    {"policy", cmd_policy, false, 0},
    {"history", cmd_history, false, 0},
    {"enroll", cmd_enroll, false, 0},
    {"unenroll", cmd_unenroll, false, 0},
    {"clean", cmd_clean, true, 0},
    {"fleet", fl_cmd, false, 0},
};

static const char usage_text[] =
    "usage: hpm [global options] <command> [options]\n"
    "commands:\n" HP_USAGE
    "  status [--json]                              boot slots (hpmboot.efi) and applied hotpatch\n"
    BOOT_USAGE
    "  catalog [--source URL|DIR] [--download ID]... [--json]\n"
    "                                               fetch, verify and show the update catalog\n"
    UPDATE_USAGE LIFECYCLE_USAGE CLEAN_USAGE FLEET_USAGE
    "global options (before or after the command):\n"
    "  --config FILE     policy file; HPM_CONF, default /etc/hpm/hpm.conf (plus FILE.d/NAME.conf)\n"
    "  --trust-dir DIR   release keys (*.pub); HPM_TRUST_DIR, [paths] trust_dir, default /etc/hpm/trust\n"
    "  --state-dir DIR   journal, history, applied hotpatches; HPM_STATE_DIR, [paths] state_dir,\n"
    "                    default /var/lib/hpm\n"
    "  --esp DIR         the EFI system partition; HPM_ESP, [paths] esp, default /boot/efi\n"
    "  --budget-us N     pause budget per attempt when patching a process (default 5000)\n"
    "  --help, --version\n"
    "'hpm COMMAND --help' describes a command.\n";

/* The global options: name, whether test-only (kept out of the usage). */
static const struct global {
  const char *name;
  bool test_only;
} globals[] = {{"--config", false},    {"--trust-dir", false}, {"--state-dir", false},
               {"--esp", false},       {"--budget-us", false}, {"--baseline", true}};

static int set_global(hpm_ctx *ctx, const char *name, const char *val) {
  if (!strcmp(name, "--config")) ctx->conf = val, ctx->conf_named = ctx->conf_from_option = true;
  else if (!strcmp(name, "--trust-dir")) ctx->trust_dir = val, ctx->trust_dir_set = true;
  else if (!strcmp(name, "--state-dir")) ctx->state_dir = val, ctx->state_dir_set = true;
  else if (!strcmp(name, "--esp")) ctx->esp = val, ctx->esp_set = true;
  else if (!strcmp(name, "--baseline")) ctx->baseline_override = val;
  else {
    char *end;
    unsigned long v = strtoul(val, &end, 10);
    if (!*val || *end || v == 0 || v > 10000000) {
      msg("--budget-us '%s': expected microseconds, 1..10000000", val);
      return 2;
    }
    ctx->budget_us = (unsigned)v;
  }
  return 0;
}

/* Takes the global options out of argv (either "--opt VALUE" or
 * "--opt=VALUE"); *argc shrinks.  Returns 0 or the usage exit code. */
static int take_globals(hpm_ctx *ctx, int *argc, char **argv) {
  int out = 1;
  for (int i = 1; i < *argc; i++) {
    const struct global *g = NULL;
    const char *val = NULL;
    for (size_t k = 0; k < sizeof globals / sizeof globals[0] && !g; k++) {
      size_t n = strlen(globals[k].name);
      if (!strcmp(argv[i], globals[k].name)) g = &globals[k];
      else if (!strncmp(argv[i], globals[k].name, n) && argv[i][n] == '=') g = &globals[k], val = argv[i] + n + 1;
    }
    if (!g) {
      argv[out++] = argv[i];
      continue;
    }
    if (!val) {
      if (i + 1 >= *argc) {
        msg("%s: expects a value", g->name);
        return 2;
      }
      val = argv[++i];
    }
    int r = set_global(ctx, g->name, val);
    if (r) return r;
  }
  argv[out] = NULL;
  *argc = out;
  return 0;
}

int main(int argc, char **argv) {
  static hpm_ctx ctx;
  hpm_ctx_init(&ctx);
  hpm_ctx_set_origin(argc, argv);
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (take_globals(&ctx, &argc, argv)) {
    fputs("Try 'hpm --help'.\n", stderr);
    return 2;
  }
  if (argc < 2) {
    fputs(usage_text, stderr);
    return 2;
  }
  const char *name = argv[1];
  if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
    fputs(usage_text, stdout);
    return 0;
  }
  if (!strcmp(name, "--version") || !strcmp(name, "-V")) {
    printf("hpm %s\n", HPM_PROJECT_VERSION);
    return 0;
  }
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
    const struct command *c = &commands[i];
    if (strcmp(name, c->name)) continue;
    /* every command answers --version; --help and dry runs change nothing
     * and are not recorded */
    bool record = c->recorded, help = false, json = false;
    for (int k = 2; k < argc && strcmp(argv[k], "--"); k++) {
      if (!strcmp(argv[k], "--version")) {
        printf("hpm %s\n", HPM_PROJECT_VERSION);
        return 0;
      }
      if (!strcmp(argv[k], "--help") || !strcmp(argv[k], "-h")) help = true;
      if (help || !strcmp(argv[k], "--dry-run") || !strcmp(argv[k], "-n")) record = false;
      if (!strcmp(argv[k], "--json")) json = true;
    }
    /* the policy file (and its [paths]) is every command's, except for help */
    hpmh_status st;
    int rc;
    if (!help && hpm_ctx_configure(&ctx, &st)) {
      msg("%s", st.detail);
      rc = 2;
    } else if (record) {
      rc = update_record_command(&ctx, c->name, c->fn, c->unchanged_rc, argc - 1, argv + 1);
    } else {
      rc = c->fn(&ctx, argc - 1, argv + 1);
    }
    /* --json: a refusal or failure answers with a JSON error document too */
    if (json && !help && rc && !hpm_json_emitted()) hpm_json_error(c->name, rc);
    return rc;
  }
  msg("unknown command '%s'", name);
  fputs(usage_text, stderr);
  return 2;
}
