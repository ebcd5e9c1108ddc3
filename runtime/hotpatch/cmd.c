/* SPDX-License-Identifier: MIT */
/*
 * The hotpatch commands (hotpatch.h): their options, and the printing of
 * what the library calls report.  Global options (--trust-dir, --state-dir,
 * --baseline, --budget-us) are main.c's, already in the context.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hex.h"
#include "hostfacts.h"
#include "hotpatch/health.h"
#include "hotpatch/internal.h"
#include "json.h"
#include "jsonout.h"
#include "cli.h"
#include "msg.h"

#define GLOBAL_OPTS "global options: see 'hpm --help'\n"

static const char apply_usage[] =
    "usage: hpm apply [--dry-run|-n] [--force] [--pid PID]... [--kernel-deadline SECONDS] [--json] HOTPATCH\n"
    "Verify HOTPATCH against the trust store (signed by as many of its keys as [trust]\n"
    "hotpatch_signers in the policy file says, default 1) and make every process of the\n"
    "binaries it targets run its code.  Its verifying window begins ([health] of the\n"
    "policy file): the agent reverts it, and marks it bad here, if a patched process\n"
    "dies of a crash signal or a required health check fails before the window ends.\n"
    "  --dry-run, -n  say which processes would be patched; change nothing\n"
    "  --force        apply it although this host marked it bad (recorded in the history)\n"
    "  --pid PID      only this process (repeatable); the kernel part is left as it is\n"
    "  --kernel-deadline SECONDS\n"
    "                 how long the kernel part's livepatch transition may take (default 30);\n"
    "                 then it is reversed and the tasks that held it are named\n"
    "  --json         the result as one JSON object\n" GLOBAL_OPTS;
static const char revert_usage[] =
    "usage: hpm revert [--to SEQ | --all] [--pid PID]... [--kernel-deadline SECONDS] [--json]\n"
    "Go back to the stored hotpatch of an earlier sequence, or to original code.\n"
    "  --to SEQ   the sequence to run (lower than the applied one)\n"
    "  --all      original code in every patched process; no sequence applied\n"
    "  --pid PID  only this process (repeatable); the kernel part is left as it is\n"
    "  --kernel-deadline SECONDS\n"
    "             how long the kernel part's livepatch transition may take (default 30)\n"
    "  --json     the result of --to as one JSON object; no per-process lines\n" GLOBAL_OPTS;
static const char list_usage[] =
    "usage: hpm list [--json]\n"
    "Patched processes: hotpatch, functions, since when.\n" GLOBAL_OPTS;
static const char recover_usage[] =
    "usage: hpm recover\n"
    "Finish or roll back transitions an hpm that died left interrupted.\n" GLOBAL_OPTS;
static const char agent_usage[] =
    "usage: hpm agent [--once] [--no-assess]\n"
    "Patch new processes of the binaries the applied hotpatch targets; run the periodic\n"
    "assessment and automatic installs of the policy file.  SIGHUP (systemctl reload) reads the\n"
    "policy file and trust store again (a broken file: the policy in use stays).  Under systemd\n"
    "(Type=notify) it reports READY=1, a status line and watchdog pings.\n"
    "  --once       one scan of the running processes, then exit\n"
    "  --no-assess  no periodic assessment (hpm-assess.timer assesses instead)\n" GLOBAL_OPTS;

enum { OPT_KDEADLINE = 'k', OPT_PID = 'p', OPT_DRY = 'n', OPT_JSON = 'j', OPT_TO = 't', OPT_ALL = 'a', OPT_ONCE = 'o', OPT_FORCE = 'f', OPT_HELP = 'h',
       OPT_NO_ASSESS = 'A' };

typedef struct {
  pid_t *pids;
  int npids;
} pid_list;

/* --kernel-deadline SECONDS: 1 .. 3600, into *ms. */
int hp_kernel_deadline_arg(const char *cmd, const char *arg, unsigned *ms) {
  uint32_t v;
  if (hpmh_parse_u32(arg, &v) || !v || v > 3600) {
    msg("%s: --kernel-deadline '%s': expected seconds, 1 to 3600", cmd, arg);
    return 2;
  }
  *ms = v * 1000u;
  return 0;
}

static int add_pid(const char *cmd, const char *arg, pid_list *l) {
  uint32_t v;
  if (hpmh_parse_u32(arg, &v) || !v || v > INT32_MAX) { msg("%s: --pid '%s': expected a process id", cmd, arg); return 2; }
  pid_t *g = realloc(l->pids, (size_t)(l->npids + 1) * sizeof *l->pids);
  if (!g) { msg("%s: out of memory", cmd); return 2; }
  l->pids = g;
  l->pids[l->npids++] = (pid_t)v;
  return 0;
}

void hp_report_print(FILE *out, const hp_report *r, bool is_revert, bool dry_run, bool json) {
  if (json) {
    cJSON *d = hpm_json_doc(is_revert ? "revert" : "apply");
    hpmh_json_add_bool(d, "dry_run", dry_run);
    hpmh_json_add_u64(d, "sequence", r->sequence);
    hpm_json_add_opt(d, "id", r->id);
    hpmh_json_add_u64(d, "patched", (uint64_t)r->patched);
    hpmh_json_add_u64(d, "reverted", (uint64_t)r->reverted);
    hpmh_json_add_u64(d, "failed", (uint64_t)r->failed);
    hpmh_json_add_u64(d, "pause_us_p50", r->pause_us_p50);
    hpmh_json_add_u64(d, "pause_us_p99", r->pause_us_p99);
    hpmh_json_add_u64(d, "prep_us_p50", r->prep_us_p50);
    hpmh_json_add_u64(d, "hold_us_p50", r->hold_us_p50);
    hpmh_json_add_u64(d, "hold_us_p99", r->hold_us_p99);
    hpmh_json_add(d, "would_patch", dry_run && r->would ? cJSON_Duplicate(r->would, 1) : cJSON_CreateNull());
    hp_kreport_json(&r->kernel, d);
    hpm_json_emit(d);
    return;
  }
  if (dry_run) {
    fprintf(out, "dry run: %d process(es) would be patched, %d would be reverted to original code\n", r->patched,
            r->reverted);
    return;
  }
  fprintf(out, "%s %s (sequence %u): %d process(es) patched, ", is_revert ? "reverted to" : "applied", r->id,
          r->sequence, r->patched);
  if (r->reverted) fprintf(out, "%d reverted to original code (binaries it does not target), ", r->reverted);
  fprintf(out, "%d failed\n", r->failed);
  hp_kreport_print(&r->kernel, out);
}

/* The result of hp_apply (or why it refused), as apply and revert --to print it. */
static void print_apply(hpm_ctx *ctx, const hp_opts *o, const hp_report *r) {
  if (r->st.code != HPMH_OK) { msg("%s", r->st.detail); return; }
  hp_report_print(stdout, r, o->is_revert, o->dry_run, ctx->json);
  if (!ctx->json && !o->dry_run && !o->is_revert) hp_health_print_window(ctx, stdout);
}

/* Load path and apply it with o; prints the result.  The exit code. */
static int load_and_apply(hpm_ctx *ctx, const char *path, const hp_opts *o) {
  hp_hotpatch h;
  hpmh_status st;
  int rc = hp_load_verified(ctx, path, &h, &st);
  if (rc) { msg("%s", st.detail); return rc; }
  snprintf(ctx->record_ids, sizeof ctx->record_ids, "%s", h.m.id); /* for the history */
  hp_report r;
  rc = hp_apply(ctx, &h, o, &r);
  print_apply(ctx, o, &r);
  cJSON_Delete(r.would);
  hp_hotpatch_free(&h);
  return rc;
}

int hp_cmd_apply(hpm_ctx *ctx, int argc, char **argv) {
  static const struct option lo[] = {{"dry-run", 0, 0, OPT_DRY}, {"pid", 1, 0, OPT_PID}, {"json", 0, 0, OPT_JSON},
                                     {"force", 0, 0, OPT_FORCE}, {"kernel-deadline", 1, 0, OPT_KDEADLINE},
                                     {"help", 0, 0, OPT_HELP}, {0, 0, 0, 0}};
  hp_opts o = {0};
  pid_list pl = {0};
  int c, rc = 0;
  while (!rc && (c = hpm_cli_next("apply", argc, argv, "n", lo)) != -1) {
    switch (c) {
    case OPT_DRY: o.dry_run = true; break;
    case OPT_FORCE: o.force = true; break;
    case OPT_PID: rc = add_pid("apply", optarg, &pl); break;
    case OPT_KDEADLINE: rc = hp_kernel_deadline_arg("apply", optarg, &o.kernel_deadline_ms); break;
    case OPT_JSON: ctx->json = true; break;
    case OPT_HELP: fputs(apply_usage, stdout); free(pl.pids); return 0;
    default: rc = HPM_CLI_USAGE;
    }
  }
  if (!rc) rc = hpm_cli_operands("apply", argc, argv, 1, 1, "one HOTPATCH file");
  if (!rc) {
    o.pids = pl.pids;
    o.npids = pl.npids;
    rc = load_and_apply(ctx, argv[optind], &o);
  }
  free(pl.pids);
  return rc;
}

static int revert(hpm_ctx *ctx, const char *to_arg, bool all, const hp_opts *o) {
  if (all) {
    hp_report r;
    int rc = hp_revert_all(ctx, o, &r);
    if (r.st.code != HPMH_OK) {
      msg("%s", r.st.detail);
    } else if (ctx->json) {
      cJSON *d = hpm_json_doc("revert");
      hpmh_json_add_bool(d, "dry_run", o->dry_run);
      hpmh_json_add_u64(d, "sequence", 0);
      hpmh_json_add_null(d, "id");
      hpmh_json_add_u64(d, "patched", 0);
      hpmh_json_add_u64(d, "reverted", (uint64_t)r.patched);
      hpmh_json_add_u64(d, "failed", (uint64_t)r.failed);
      hpmh_json_add_null(d, "would_patch");
      hp_kreport_json(&r.kernel, d);
      hpm_json_emit(d);
    } else {
      printf("reverted %d process(es), %d failed\n", r.patched, r.failed);
      hp_kreport_print(&r.kernel, stdout);
    }
    return rc;
  }
  uint32_t to;
  if (hpmh_parse_u32(to_arg, &to) || !to) { msg("revert: --to '%s': expected a sequence number >= 1", to_arg); return 2; }
  hpm_applied applied;
  hostfacts_applied_read(ctx, &applied);
  if (to >= applied.seq) { msg("revert: --to %u is not lower than the applied sequence %u", to, applied.seq); return 1; }
  char sp[HP_PATH_MAX];
  hp_stored_path(ctx, sp, sizeof sp, to);
  if (access(sp, R_OK)) { msg("revert: sequence %u was never applied on this host (%s missing)", to, sp); return 1; }
  return load_and_apply(ctx, sp, o);
}

int hp_cmd_revert(hpm_ctx *ctx, int argc, char **argv) {
  static const struct option lo[] = {{"to", 1, 0, OPT_TO}, {"all", 0, 0, OPT_ALL}, {"pid", 1, 0, OPT_PID},
                                     {"json", 0, 0, OPT_JSON}, {"kernel-deadline", 1, 0, OPT_KDEADLINE},
                                     {"help", 0, 0, OPT_HELP}, {0, 0, 0, 0}};
  hp_opts o = {.is_revert = true};
  pid_list pl = {0};
  const char *to = NULL;
  bool all = false;
  int c, rc = 0;
  while (!rc && (c = hpm_cli_next("revert", argc, argv, "", lo)) != -1) {
    switch (c) {
    case OPT_TO: to = optarg; break;
    case OPT_ALL: all = true; break;
    case OPT_PID: rc = add_pid("revert", optarg, &pl); break;
    case OPT_KDEADLINE: rc = hp_kernel_deadline_arg("revert", optarg, &o.kernel_deadline_ms); break;
    case OPT_JSON: ctx->json = true; break;
    case OPT_HELP: fputs(revert_usage, stdout); free(pl.pids); return 0;
    default: rc = HPM_CLI_USAGE;
    }
  }
  if (!rc) rc = hpm_cli_operands("revert", argc, argv, 0, 0, "");
  if (!rc && !!to == all) rc = hpm_cli_error("revert", "give exactly one of --to SEQ or --all");
  if (!rc) {
    o.pids = pl.pids;
    o.npids = pl.npids;
    rc = revert(ctx, to, all, &o);
  }
  free(pl.pids);
  return rc;
}

static void print_list_json(const hpm_ctx *ctx, const hp_journal *l, int n) {
  cJSON *d = hpm_json_doc("list");
  hp_health_json(ctx, d); /* the applied hotpatch's window, the bad marks */
  hp_kernel_status_json(ctx, d);
  cJSON *pa = cJSON_AddArrayToObject(d, "processes");
  for (int i = 0; i < n; i++) {
    const hp_journal *s = &l[i];
    cJSON *x = hpmh_json_add(pa, NULL, cJSON_CreateObject());
    hpmh_json_add_u64(x, "pid", (uint64_t)s->pid);
    hpmh_json_add_str(x, "exe", s->exe); /* any file name: invalid UTF-8 becomes U+FFFD */
    hpmh_json_add_str(x, "build_id", s->build_id);
    hpmh_json_add_u64(x, "sequence", s->seq);
    hpm_json_add_opt(x, "id", s->id);
    hpm_json_add_time(x, "time", s->time);
    hpmh_json_add_u64(x, "exposure_ms", s->exposure_ms);
    cJSON *fa = cJSON_AddArrayToObject(x, "functions");
    for (int k = 0; k < s->nsites; k++) /* call sites (mode 3) repeat their function */
      if (s->sites[k].mode != HPP_MODE_CALL) hpmh_json_add_str(fa, NULL, s->sites[k].name);
  }
  hpm_json_emit(d);
}

static void print_list_text(const hp_journal *l, int n) {
  for (int i = 0; i < n; i++) {
    const hp_journal *s = &l[i];
    char tb[HPMH_UTC_LEN];
    hpmh_utc(s->time, tb);
    printf("pid %d %s seq %u %s since %s (exposure %llu ms):", s->pid, s->exe, s->seq, s->id, tb,
           (unsigned long long)s->exposure_ms);
    for (int k = 0; k < s->nsites; k++)
      if (s->sites[k].mode != HPP_MODE_CALL) printf(" %s", s->sites[k].name);
    printf("\n");
  }
}

int hp_cmd_list(hpm_ctx *ctx, int argc, char **argv) {
  static const struct option lo[] = {{"json", 0, 0, OPT_JSON}, {"help", 0, 0, OPT_HELP}, {0, 0, 0, 0}};
  int c;
  while ((c = hpm_cli_next("list", argc, argv, "", lo)) != -1) {
    switch (c) {
    case OPT_JSON: ctx->json = true; break;
    case OPT_HELP: fputs(list_usage, stdout); return 0;
    default: return HPM_CLI_USAGE;
    }
  }
  int rc = hpm_cli_operands("list", argc, argv, 0, 0, "");
  if (rc) return rc;
  hp_journal *l;
  int n;
  hp_list_get(ctx, &l, &n);
  if (ctx->json) print_list_json(ctx, l, n);
  else {
    print_list_text(l, n);
    hp_kernel_status_print(ctx, stdout);
    hp_health_print(ctx, stdout);
  }
  hp_list_free(l, n);
  return 0;
}

int hp_cmd_recover(hpm_ctx *ctx, int argc, char **argv) {
  static const struct option lo[] = {{"help", 0, 0, OPT_HELP}, {0, 0, 0, 0}};
  int c;
  while ((c = hpm_cli_next("recover", argc, argv, "", lo)) != -1) {
    if (c != OPT_HELP) return HPM_CLI_USAGE;
    fputs(recover_usage, stdout);
    return 0;
  }
  int rc = hpm_cli_operands("recover", argc, argv, 0, 0, "");
  if (rc) return rc;
  hpmh_status st;
  rc = hp_recover(ctx, &st);
  if (rc == 3) msg("%s", st.detail);
  return rc;
}

int hp_cmd_agent(hpm_ctx *ctx, int argc, char **argv) {
  static const struct option lo[] = {
      {"once", 0, 0, OPT_ONCE}, {"no-assess", 0, 0, OPT_NO_ASSESS}, {"help", 0, 0, OPT_HELP}, {0, 0, 0, 0}};
  bool once = false, assess = true;
  int c;
  while ((c = hpm_cli_next("agent", argc, argv, "", lo)) != -1) {
    switch (c) {
    case OPT_ONCE: once = true; break;
    case OPT_NO_ASSESS: assess = false; break;
    case OPT_HELP: fputs(agent_usage, stdout); return 0;
    default: return HPM_CLI_USAGE;
    }
  }
  int rc = hpm_cli_operands("agent", argc, argv, 0, 0, "");
  return rc ? rc : hp_agent(ctx, once, assess);
}
