/* SPDX-License-Identifier: MIT */
/* hpm assess / hpm install / the agent's periodic assessment: see update.h. */
#include "update/update.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "boot/boot.h"
#include "hostfacts.h"
#include "hotpatch/health.h"
#include "hotpatch/hotpatch.h"
#include "jsonout.h"
#include "update/clean.h"
#include "clock.h"
#include "update/decide.h"
#include "update/enroll.h"
#include "update/history.h"
#include "update/windows.h"
#include "fileio.h"
#include "keys.h"
#include "json.h"
#include "cli.h"
#include "msg.h"
#include "hpm/core.h"
#include "update/policy.h"
#include "update/source.h"

#define say hpm_msg

/* Manifest of a container file, unverified: only for facts hpm itself wrote
 * or verified before (the stored hotpatch, a staged slot). */
static int peek_manifest(const char *path, hpm_manifest *m) {
  size_t n;
  uint8_t *b;
  hpmh_status e;
  if (hpmh_read_file(path, 1u << 30, &b, &n, &e)) return -1;
  hpm_result r = hpm_container_parse_unverified(b, n, m, NULL);
  free(b);
  return r == HPM_OK ? 0 : -1;
}

/* ---- host facts ----------------------------------------------------------- */

typedef struct {
  hpm_ctx *hc;
  hpm_policy pol;
  hpm_source src;
  hpm_catalog cat;
  bool have_cat;
  hpm_catalog_change change;
  uint64_t prev_serial;
  hpm_running_baseline rb;
  decide_host host;
  uint64_t now;
} update_ctx;

static void record(const update_ctx *c, const char *event, const char *ids, const char *result, const char *error) {
  update_history_record(c->hc->state_dir, &c->pol, event, ids, result, error);
}


static void ctx_free(update_ctx *c) {
  if (c->have_cat) hpm_catalog_free(&c->cat);
  c->have_cat = false;
}

/* The applied hotpatch sequence for the running baseline (0 when the last
 * applied hotpatch was for another baseline, e.g. before a reboot). */
static uint32_t applied_sequence(const hpm_ctx *hc, const uint8_t running[HPM_DIGEST_LEN]) {
  hpm_applied a;
  hostfacts_applied_read(hc, &a);
  if (!a.seq) return 0;
  char p[4200];
  hpm_manifest m;
  snprintf(p, sizeof p, "%s/hotpatches/seq-%u.hpm", hc->state_dir, a.seq);
  if (peek_manifest(p, &m) || m.kind != HPM_KIND_HOTPATCH || memcmp(m.target_baseline, running, HPM_DIGEST_LEN))
    return 0;
  return a.seq;
}

/* A baseline staged for the next boot: the ESP file of the slot that will
 * be tried first when that is not the running one. */
static void staged_baseline(const hpm_ctx *hc, decide_host *h) {
  hpm_boot_info bi;
  char why[256];
  h->has_staged = false;
  if (hpm_boot_info_read(&bi, why, sizeof why) || !bi.reboot_pending || bi.next_slot < 0 || bi.next_slot == bi.active)
    return;
  char p[4200];
  hpm_manifest m;
  snprintf(p, sizeof p, "%s/EFI/hpm/slot-%c.hpm", hc->esp, hpm_bs_slot_letter(bi.next_slot));
  if (peek_manifest(p, &m) == 0 && m.kind == HPM_KIND_BASELINE) {
    memcpy(h->staged, m.digest, HPM_DIGEST_LEN);
    h->has_staged = true;
  }
}

/* Policy, source, verified catalog and host facts.  Returns 0 or an exit code. */
/* What decide() needs to know of this host: the running baseline, enrolment,
 * the applied sequence, bad marks, the staged baseline.  0, or 1 (running
 * baseline unknown) / 2 (enrolment unreadable) with e saying so. */
static int load_host(hpm_ctx *hc, decide_host *host, hpm_running_baseline *rb, char *e, size_t n) {
  if (hostfacts_running_baseline(hc, rb)) {
    snprintf(e, n, "cannot tell which baseline is running (no HpmBootBaseline variable, no hpm.baseline= on the "
                   "kernel command line; HPM_BASELINE overrides)");
    return 1;
  }
  enroll_state es;
  if (enroll_load(hc->state_dir, &es, e, n)) return 2;
  memcpy(host->baseline, rb->digest, HPM_DIGEST_LEN);
  host->enrolled = es.enrolled;
  if (!es.enrolled) {
    host->has_unenrolled_at = true;
    memcpy(host->unenrolled_at, es.baseline, HPM_DIGEST_LEN);
  }
  /* what runs, enrolled or not (decide() takes no hotpatch on an unenrolled host) */
  host->hotpatch_seq = applied_sequence(hc, rb->digest);
  hp_bad *bad;
  int nbad = hp_bad_list(hc, &bad);
  for (int i = 0; i < nbad && host->nbad < sizeof host->bad / sizeof host->bad[0]; i++)
    if (!memcmp(bad[i].baseline, rb->digest, HPM_DIGEST_LEN)) host->bad[host->nbad++] = bad[i].seq;
  free(bad);
  staged_baseline(hc, host);
  return 0;
}

static int ctx_load(hpm_ctx *hc, update_ctx *c, const char *source_opt, const char *cmd, bool dry_run) {
  char e[1024];
  memset(c, 0, sizeof *c);
  c->hc = hc;
  c->now = hpm_now();
  const char *perr;
  const hpm_policy *pol = hpm_ctx_policy(hc, NULL, &perr);
  if (!pol) {
    say("%s: %s", cmd, perr);
    return 2;
  }
  c->pol = *pol;
  const char *spec = hpm_ctx_source(hc, source_opt);
  if (!spec || !*spec) {
    say("%s: no update source: set 'source =' in [update] of %s, or pass --source URL|DIR", cmd, hc->conf);
    return 2;
  }
  hpm_src_err se;
  hpm_src_result sr = hpm_source_parse(spec, &c->src, &se);
  c->src.read_only = dry_run;
  if (sr == HPM_SRC_OK)
    sr = hpm_source_fetch_catalog(hc, &c->src, c->now, &c->cat, &c->change, &c->prev_serial, &se);
  if (sr != HPM_SRC_OK) {
    say("%s: %s", cmd, se.msg);
    if (!dry_run) record(c, cmd, NULL, update_result_word((int)sr), se.msg);
    return (int)sr;
  }
  c->have_cat = true;
  int rc = load_host(hc, &c->host, &c->rb, e, sizeof e);
  if (rc) {
    say("%s: %s", cmd, e);
    if (!dry_run && rc == 1) record(c, cmd, NULL, "failed", "running baseline unknown");
    ctx_free(c);
    return 3;
  }
  return 0;
}

/* Progress lines: stdout, or stderr when stdout carries JSON. */
static FILE *progress_stream(bool json) { return json ? stderr : stdout; }

static const char *kind_word(hpm_kind k) { return k == HPM_KIND_HOTPATCH ? "hotpatch" : "baseline"; }

static void ids_of(const decide_result *r, bool acted_only, char *out, size_t cap) {
  size_t used = 0;
  out[0] = 0;
  for (size_t i = 0; i < r->count; i++) {
    if (acted_only && !r->items[i].install_now) continue;
    int k = snprintf(out + used, cap - used, "%s%s", used ? "," : "", r->items[i].entry->id);
    if (k < 0 || (size_t)k >= cap - used) break;
    used += (size_t)k;
  }
}

static cJSON *item_json(const decide_item *it) {
  const hpm_catalog_entry *e = it->entry;
  char t[32], hx[2 * HPM_DIGEST_LEN + 1];
  cJSON *o = cJSON_CreateObject();
  hpmh_json_add_str(o, "id", e->id);
  hpmh_json_add_str(o, "kind", kind_word(e->kind));
  hpmh_json_add_str(o, "version", e->version);
  hpmh_json_add_str(o, "classification", hpm_classification_to_string(e->classification));
  hpmh_json_add_str(o, "release", hpm_release_to_string(e->release));
  hpmh_utc(e->release_time, t);
  hpmh_json_add_str(o, "released", t);
  if (e->kind == HPM_KIND_HOTPATCH) hpmh_json_add_u64(o, "sequence", e->sequence);
  else hpmh_json_add_null(o, "sequence");
  hpm_fmt_hex(e->digest, HPM_DIGEST_LEN, hx, sizeof hx);
  hpmh_json_add_str(o, "digest", hx);
  hpmh_utc(it->deadline, t);
  hpmh_json_add_str(o, "deadline", t);
  cJSON_AddBoolToObject(o, "overdue", it->overdue);
  cJSON_AddBoolToObject(o, "required", it->required);
  cJSON_AddBoolToObject(o, "selected", it->selected);
  cJSON_AddBoolToObject(o, "excluded", it->excluded);
  cJSON_AddBoolToObject(o, "install_now", it->install_now);
  cJSON_AddBoolToObject(o, "already_staged", it->already_staged);
  cJSON_AddBoolToObject(o, "needs_reboot", it->needs_reboot);
  cJSON_AddBoolToObject(o, "reboot_now", it->reboot_now);
  if (it->reboot_at_valid) {
    hpmh_utc(it->reboot_at, t);
    hpmh_json_add_str(o, "reboot_at", t);
  } else {
    cJSON_AddNullToObject(o, "reboot_at");
  }
  hpmh_json_add_str(o, "reason", it->reason);
  return o;
}

static cJSON *ctx_json(const update_ctx *c, const decide_result *r, const char *command) {
  char t[32], hx[2 * HPM_DIGEST_LEN + 1];
  cJSON *o = hpm_json_doc(command), *cat = cJSON_AddObjectToObject(o, "catalog"),
        *host = cJSON_AddObjectToObject(o, "host"), *items = cJSON_AddArrayToObject(o, "items");
  hpmh_json_add_u64(cat, "serial", c->cat.serial);
  hpmh_utc(c->cat.expires, t);
  hpmh_json_add_str(cat, "expires", t);
  hpmh_json_add_str(cat, "change",
                          c->change == HPM_CATALOG_NEW ? "new" : c->change == HPM_CATALOG_NEWER ? "newer" : "same");
  hpmh_json_add_u64(cat, "entry_count", c->cat.count);
  hpm_fmt_hex(c->host.baseline, HPM_DIGEST_LEN, hx, sizeof hx);
  hpmh_json_add_str(host, "baseline", hx);
  cJSON_AddBoolToObject(host, "baseline_listed", r->baseline_listed);
  cJSON_AddBoolToObject(host, "enrolled", c->host.enrolled);
  hpmh_json_add_u64(host, "hotpatch_sequence", c->host.hotpatch_seq);
  if (c->host.has_staged) {
    hpm_fmt_hex(c->host.staged, HPM_DIGEST_LEN, hx, sizeof hx);
    hpmh_json_add_str(host, "staged", hx);
  } else {
    cJSON_AddNullToObject(host, "staged");
  }
  hpmh_utc(c->now, t);
  hpmh_json_add_str(o, "time", t);
  for (size_t i = 0; i < r->count; i++) cJSON_AddItemToArray(items, item_json(&r->items[i]));
  return o;
}

static void print_text(const update_ctx *c, const decide_result *r) {
  char t[32], hx[2 * HPM_DIGEST_LEN + 1];
  hpm_fmt_hex(c->host.baseline, HPM_DIGEST_LEN, hx, sizeof hx);
  hpmh_utc(c->now, t);
  printf("assessment at %s, catalog serial %llu (%zu entries)\n", t, (unsigned long long)c->cat.serial, c->cat.count);
  printf("running baseline %s%s, %s, hotpatch sequence %u%s\n", hx, r->baseline_listed ? "" : " (not in the catalog)",
         c->host.enrolled ? "enrolled" : "unenrolled (baselines only)", c->host.hotpatch_seq,
         c->host.has_staged ? ", a baseline is staged" : "");
  if (!r->count) {
    printf("up to date: nothing applies\n");
    return;
  }
  for (size_t i = 0; i < r->count; i++) {
    const decide_item *it = &r->items[i];
    const hpm_catalog_entry *e = it->entry;
    char d[32];
    hpmh_utc(it->deadline, d);
    printf("  %-8s %-24s %-8s %-9s %s deadline %s%s\n", kind_word(e->kind), e->id,
           hpm_classification_to_string(e->classification), hpm_release_to_string(e->release),
           it->install_now ? "install now," : it->selected ? "pending," : "listed,", d, it->overdue ? " (overdue)" : "");
    printf("           %s\n", it->reason);
  }
}

/* Applies a downloaded hotpatch or stages a downloaded baseline in this
 * process, through the same library calls as `hpm apply` and `hpm stage`;
 * prints what those commands print (on `out`).  Returns the exit code. */
static int install_file(update_ctx *c, const hpm_catalog_entry *e, const char *path, FILE *out, hpmh_status *st) {
  hpm_ctx *hc = c->hc;
  if (e->kind == HPM_KIND_BASELINE) {
    hpm_stage_opts so = {.tries = HPM_BS_DEFAULT_TRIES, .slot = -1};
    hpm_stage_report sr;
    int rc = hpm_boot_stage(hc, path, &so, &sr);
    if (rc) *st = sr.st;
    else hpm_boot_stage_print(out, &sr, false);
    return rc;
  }
  hp_hotpatch h;
  int rc = hp_load_verified(hc, path, &h, st);
  if (rc) return rc;
  hp_opts ho = {0};
  hp_report r;
  rc = hp_apply(hc, &h, &ho, &r);
  if (rc && r.st.detail[0]) *st = r.st;
  else if (rc) hpmh_fail(st, HPMH_E_IO, path, "%d process(es) failed", r.failed);
  if (!rc || r.patched || r.failed) hp_report_print(out, &r, false, false, false);
  hp_hotpatch_free(&h);
  return rc;
}

/* Downloads (verified) and installs one item; returns an exit code. */
static int act(update_ctx *c, const decide_item *it, bool quiet) {
  const hpm_catalog_entry *e = it->entry;
  char path[4200];
  hpm_src_err se;
  if (e->kind == HPM_KIND_BASELINE && it->already_staged) {
    fprintf(progress_stream(quiet), "%s: already staged; a reboot activates it\n", e->id);
    return 0;
  }
  const char *event = e->kind == HPM_KIND_HOTPATCH ? "apply" : "stage";
  hpm_src_result sr = hpm_source_fetch_entry(&c->src, e, c->hc->cache_dir, path, sizeof path, &se);
  if (sr != HPM_SRC_OK) {
    say("install: %s: %s", e->id, se.msg);
    record(c, event, e->id, update_result_word((int)sr), se.msg);
    return (int)sr;
  }
  hpmh_status st;
  memset(&st, 0, sizeof st);
  int rc = install_file(c, e, path, progress_stream(quiet), &st);
  if (rc) say("%s", st.detail);
  char res[32];
  snprintf(res, sizeof res, rc <= 1 ? "%s" : "%s (exit %d)", update_result_word(rc), rc);
  record(c, event, e->id, res, rc ? st.detail : NULL);
  return rc;
}

/* Runs $HPM_REBOOT_CMD (default "systemctl reboot"); 0 if it started. */
static int request_reboot(update_ctx *c, const char *ids) {
  const char *cmd = c->hc->reboot_cmd;
  fflush(stdout);
  int st = system(cmd);
  int ok = st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
  char err[300] = "";
  if (!ok) snprintf(err, sizeof err, "'%s' failed (status %d)", cmd, st);
  record(c, "reboot-request", ids, ok ? "ok" : "failed", ok ? NULL : err);
  if (!ok) say("install: reboot: %s; reboot the host to activate the staged baseline", err);
  return ok ? 0 : 4;
}

static void note_pruned(const char *path, uint64_t size, void *arg) {
  fprintf(progress_stream(*(bool *)arg), "cache: removed %s (%llu bytes), no longer needed\n", path,
          (unsigned long long)size);
}

/* After installing: downloads beyond what the host uses and [update]
 * cache_keep go (a failure to is a warning: the install is done). */
static void prune_cache(update_ctx *c, bool json) {
  hpmh_status st;
  if (clean_cache(c->hc, c->pol.cache_keep, false, false, note_pruned, &json, &st) < 0)
    say("warning: cache not cleaned: %s", st.detail);
}

/* Decide and (unless assess_only or dry_run) act.  Returns an exit code. */
static int assess_install(update_ctx *c, const decide_request *req, bool assess_only, bool dry_run, bool json,
                          const char *event) {
  decide_result r;
  decide(&c->cat, &c->host, &c->pol, req, c->now, &r);
  char ids[512];
  ids_of(&r, false, ids, sizeof ids);
  if (!dry_run) record(c, "assess", ids[0] ? ids : NULL, "ok", NULL);
  cJSON *o = json ? ctx_json(c, &r, event) : NULL;
  if (!json) print_text(c, &r);
  int rc = 0;
  bool reboot = false;
  char reboot_ids[256] = "";
  cJSON *acts = json && !assess_only ? cJSON_AddArrayToObject(o, "actions") : NULL;
  /* A host of a fleet ([fleet] endpoints) installs in its rollout turns
   * (fleet/step.c): the automatic installs (hpm install --auto, the agent's
   * periodic assessment) only assess, or hosts would leave the cluster
   * behind the fleet's back.  An operator's hpm install still acts. */
  bool fleet_held = !req && c->pol.fleet_endpoints[0];
  bool said = false;
  if (!assess_only) {
    for (size_t i = 0; i < r.count; i++) {
      const decide_item *it = &r.items[i];
      if (!it->install_now) continue;
      if (fleet_held) {
        if (!said)
          fprintf(progress_stream(json), "not installed: this host takes part in a fleet ([fleet] endpoints of %s); "
                  "its installs come in its turns of a fleet rollout (hpm fleet rollout start)\n", c->hc->conf);
        said = true;
        continue;
      }
      if (req && c->pol.fleet_endpoints[0] && !dry_run && !said) {
        hpm_msg_at(HPM_MSG_WARNING, "install: this host takes part in a fleet ([fleet] endpoints): installing "
                   "outside a rollout bypasses the fleet's turns (at most K hosts out, fault domains, budget)");
        said = true;
      }
      int a = 0;
      if (dry_run) {
        fprintf(progress_stream(json), "would %s %s\n", it->entry->kind == HPM_KIND_HOTPATCH ? "apply" : "stage",
                it->entry->id);
      } else {
        a = act(c, it, json);
        if (a && !rc) rc = a;
      }
      if (acts) {
        cJSON *x = cJSON_CreateObject();
        hpmh_json_add_str(x, "id", it->entry->id);
        hpmh_json_add_str(x, "action", it->entry->kind == HPM_KIND_HOTPATCH ? "apply" : "stage");
        hpmh_json_add_str(x, "result", dry_run ? "dry-run" : update_result_word(a));
        cJSON_AddNumberToObject(x, "exit", a);
        cJSON_AddItemToArray(acts, x);
      }
      if (!a && it->needs_reboot && it->reboot_now) {
        reboot = true;
        size_t u = strlen(reboot_ids);
        snprintf(reboot_ids + u, sizeof reboot_ids - u, "%s%s", u ? "," : "", it->entry->id);
      }
    }
    char acted[512] = "";
    if (!fleet_held) ids_of(&r, true, acted, sizeof acted);
    if (!dry_run) prune_cache(c, json);
    if (reboot && !dry_run) {
      fprintf(progress_stream(json), "reboot: requested now to activate %s\n", reboot_ids);
      int b = request_reboot(c, reboot_ids);
      if (b && !rc) rc = b;
    } else if (reboot) {
      fprintf(progress_stream(json), "would request a reboot\n");
    }
    if (acts) cJSON_AddBoolToObject(o, "reboot_requested", reboot && !dry_run);
    if (!dry_run && fleet_held && said)
      record(c, event, NULL, "unchanged", "held: this host's installs come in its fleet rollout turns");
    else if (!dry_run)
      record(c, event, acted[0] ? acted : NULL, update_result_word(rc), NULL);
  }
  if (o) hpm_json_emit(o);
  return rc;
}

static const char *assess_usage =
    "usage: hpm assess [--source URL|DIR] [--json]\n"
    "Fetches and verifies the update catalog (source: --source, HPM_SOURCE, or 'source =' in [update]\n"
    "of the policy file HPM_CONF), and prints what applies to this host now under the policy: the\n"
    "newest hotpatch for the running baseline, a newer baseline (required or listed), with deadlines,\n"
    "whether each installs automatically and when a reboot may happen.  Installs nothing.\n"
    "Exit: 0; 1 catalog refused; 2 usage or configuration; 3 I/O (source, state).\n";

int cmd_assess(hpm_ctx *hc, int argc, char **argv) {
  static const struct option opts[] = {{"source", required_argument, NULL, 's'},
                                       {"json", no_argument, NULL, 'j'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  const char *source = NULL;
  bool json = false;
  int c;
  while ((c = hpm_cli_next("assess", argc, argv, "", opts)) != -1) {
    switch (c) {
      case 's': source = optarg; break;
      case 'j': json = hc->json = true; break;
      case 'h': fputs(assess_usage, stdout); return 0;
      default: return HPM_CLI_USAGE;
    }
  }
  if (hpm_cli_operands("assess", argc, argv, 0, 0, "")) return HPM_CLI_USAGE;
  update_ctx ctx;
  int rc = ctx_load(hc, &ctx, source, "assess", false);
  if (rc) return rc;
  rc = assess_install(&ctx, NULL, true, false, json, "assess");
  ctx_free(&ctx);
  return rc;
}

static void write_last_assessment(const hpm_ctx *hc, uint64_t t);

static const char *install_usage =
    "usage: hpm install [--classification critical,security,other] [--include ID]... [--exclude ID]...\n"
    "                   [--reboot never|if-required|always] [--source URL|DIR] [--dry-run] [--json]\n"
    "       hpm install --auto [--source URL|DIR] [--dry-run] [--json]\n"
    "Assesses (as 'hpm assess') and installs what is selected now, on demand (maintenance windows do\n"
    "not apply): releases are downloaded into the cache directory and checked against the catalog,\n"
    "hotpatches are applied with 'hpm apply', baselines staged with 'hpm stage'; then a reboot is\n"
    "requested by running HPM_REBOOT_CMD (default 'systemctl reboot') when the reboot mode says so\n"
    "(default: the policy's 'reboot =').  --classification defaults to the policy's auto classes;\n"
    "--include selects IDs whatever their classification; --exclude never installs an ID.\n"
    "--auto installs what the policy installs automatically, as the agent's periodic assessment does\n"
    "(auto classes, deadlines, maintenance windows; reboots only inside a window) and, when nothing\n"
    "failed, records the time in the state directory's 'assessed' (hpm-assess.service runs it).\n"
    "On a host of a fleet ([fleet] endpoints) --auto only assesses: installs come in rollout turns.\n"
    "Exit: 0; 1 refused or an action failed; 2 usage/configuration; 3 I/O; 4 reboot not started.\n";

int cmd_install(hpm_ctx *hc, int argc, char **argv) {
  static const struct option opts[] = {{"classification", required_argument, NULL, 'c'},
                                       {"include", required_argument, NULL, 'i'},
                                       {"exclude", required_argument, NULL, 'x'},
                                       {"reboot", required_argument, NULL, 'r'},
                                       {"source", required_argument, NULL, 's'},
                                       {"dry-run", no_argument, NULL, 'n'},
                                       {"auto", no_argument, NULL, 'a'},
                                       {"json", no_argument, NULL, 'j'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  const char *source = NULL, *inc[64], *exc[64], *chosen = NULL;
  size_t ninc = 0, nexc = 0;
  bool json = false, dry = false, automatic = false;
  decide_request req = {.on_demand = true, .reboot = -1};
  int c;
  while ((c = hpm_cli_next("install", argc, argv, "n", opts)) != -1) {
    if (c == 'c' || c == 'i' || c == 'x' || c == 'r') chosen = c == 'c' ? "--classification" : c == 'i' ? "--include"
                                                             : c == 'x' ? "--exclude" : "--reboot";
    switch (c) {
      case 'c':
        if (policy_parse_classes(optarg, &req.classes) || !req.classes)
          return hpm_cli_error("install", "--classification '%s': expected a list of critical, security, other",
                               optarg);
        break;
      case 'i':
      case 'x':
        if ((c == 'i' ? ninc : nexc) == 64)
          return hpm_cli_error("install", "at most 64 --%s", c == 'i' ? "include" : "exclude");
        if (c == 'i') inc[ninc++] = optarg;
        else exc[nexc++] = optarg;
        break;
      case 'r':
        if ((req.reboot = policy_reboot_from_string(optarg)) < 0)
          return hpm_cli_error("install", "--reboot '%s': expected never, if-required or always", optarg);
        break;
      case 's': source = optarg; break;
      case 'n': dry = true; break;
      case 'a': automatic = true; break;
      case 'j': json = hc->json = true; break;
      case 'h': fputs(install_usage, stdout); return 0;
      default: return HPM_CLI_USAGE;
    }
  }
  if (hpm_cli_operands("install", argc, argv, 0, 0, "")) return HPM_CLI_USAGE;
  if (automatic && chosen)
    return hpm_cli_error("install", "--auto installs what the policy selects: %s does not go with it", chosen);
  req.include = inc;
  req.ninclude = ninc;
  req.exclude = exc;
  req.nexclude = nexc;
  update_ctx ctx;
  int rc = ctx_load(hc, &ctx, source, "install", dry);
  if (rc) return rc;
  for (size_t i = 0; i < ninc; i++)
    if (!hpm_catalog_find(&ctx.cat, inc[i])) {
      say("install: --include %s: no such ID in catalog serial %llu (see 'hpm assess')", inc[i],
          (unsigned long long)ctx.cat.serial);
      ctx_free(&ctx);
      return 2;
    }
  rc = assess_install(&ctx, automatic ? NULL : &req, false, dry, json, "install");
  if (automatic && !dry && rc == 0) write_last_assessment(hc, ctx.now);
  ctx_free(&ctx);
  return rc;
}

int update_install_release(hpm_ctx *hc, hpm_kind kind, const char *target, char *why, size_t n) {
  update_ctx c;
  hpm_msg_clear();
  int rc = ctx_load(hc, &c, NULL, "install", false);
  if (rc) {
    snprintf(why, n, "%s", hpm_msg_last());
    return rc;
  }
  char *end;
  unsigned long seq = strtoul(target, &end, 10);
  const hpm_catalog_entry *e = NULL;
  for (size_t i = 0; i < c.cat.count && !e; i++) {
    const hpm_catalog_entry *x = &c.cat.entries[i];
    if (kind == HPM_KIND_HOTPATCH ? x->kind == kind && !*end && x->sequence == seq &&
                                        !memcmp(x->target_baseline, c.rb.digest, HPM_DIGEST_LEN)
                                  : x->kind == kind && !strcmp(x->version, target))
      e = x;
  }
  if (!e) {
    snprintf(why, n, "%s %s%s is not in catalog serial %llu of the update source (hpm assess shows what it lists)",
             kind == HPM_KIND_HOTPATCH ? "hotpatch sequence" : "baseline version", target,
             kind == HPM_KIND_HOTPATCH ? " for the running baseline" : "", (unsigned long long)c.cat.serial);
    record(&c, "install", NULL, "refused", why);
    ctx_free(&c);
    return 1;
  }
  if (kind == HPM_KIND_HOTPATCH && c.host.hotpatch_seq == e->sequence) { /* a step again after a crash */
    printf("%s: already applied\n", e->id);
    ctx_free(&c);
    return 0;
  }
  decide_item it = {.entry = e};
  it.already_staged = kind == HPM_KIND_BASELINE && c.host.has_staged && !memcmp(c.host.staged, e->digest, HPM_DIGEST_LEN);
  hpm_msg_clear();
  rc = act(&c, &it, false);
  if (rc) snprintf(why, n, "%s %s: %s", kind == HPM_KIND_HOTPATCH ? "apply" : "stage", e->id,
                   hpm_msg_last()[0] ? hpm_msg_last() : "failed");
  record(&c, "install", e->id, update_result_word(rc), rc ? why : NULL);
  ctx_free(&c);
  return rc;
}

void update_compliance(hpm_ctx *hc, uint64_t now, char *out, size_t n) {
  char path[POLICY_PATH_MAX + 32], e[1024];
  snprintf(path, sizeof path, "%s/%s", hc->state_dir, HPM_CATALOG_STATE_FILE);
  const hpm_policy *pol = hpm_ctx_policy(hc, NULL, NULL);
  if (!pol) {
    snprintf(out, n, "unknown: the policy file is broken");
    return;
  }
  if (access(path, F_OK)) {
    snprintf(out, n, "unknown: no catalog fetched yet (hpm catalog)");
    return;
  }
  hpm_source src;
  hpm_src_err se = {0};
  hpm_catalog cat;
  hpm_catalog_change ch;
  uint64_t prev;
  if (hpm_source_parse(hc->state_dir, &src, &se) != HPM_SRC_OK) {
    snprintf(out, n, "unknown: %.300s", se.msg);
    return;
  }
  src.read_only = true;
  if (hpm_source_fetch_catalog(hc, &src, now, &cat, &ch, &prev, &se) != HPM_SRC_OK) {
    snprintf(out, n, "unknown: the catalog this host holds does not verify: %.300s", se.msg);
    return;
  }
  decide_host host = {0};
  hpm_running_baseline rb;
  if (load_host(hc, &host, &rb, e, sizeof e)) {
    snprintf(out, n, "unknown: %.300s", e);
    hpm_catalog_free(&cat);
    return;
  }
  decide_result r;
  decide(&cat, &host, pol, NULL, now, &r);
  size_t k = 0;
  if (!r.count) k = (size_t)snprintf(out, n, "up to date (catalog serial %" PRIu64 ")", cat.serial);
  for (size_t i = 0; i < r.count && k < n; i++) {
    const decide_item *it = &r.items[i];
    const hpm_catalog_entry *x = it->entry;
    char what[80];
    if (x->kind == HPM_KIND_HOTPATCH) snprintf(what, sizeof what, "hotpatch %u", x->sequence);
    else snprintf(what, sizeof what, "baseline %s", x->version);
    k += (size_t)snprintf(out + k, n - k, "%s%s %s (%s)%s%s%s", i ? "; " : "behind: ", x->id, what,
                          hpm_classification_to_string(x->classification),
                          it->already_staged ? ", staged" : "", it->bad ? ", marked bad here" : "",
                          it->overdue ? ", past its deadline" : "");
  }
  hpm_catalog_free(&cat);
}

int update_fleet_gate(hpm_ctx *hc, bool hotpatch, uint64_t now, char *why, size_t n) {
  policy_result pr;
  const char *err = NULL;
  const hpm_policy *p = hpm_ctx_policy(hc, &pr, &err);
  if (!p) {
    snprintf(why, n, "the policy file is broken: %s", err ? err : "unreadable");
    return -1;
  }
  win_status ws;
  if (win_status_at(p, now, &ws)) {
    snprintf(why, n, "the policy's time zone '%s' cannot be used", p->timezone);
    return -1;
  }
  char t[64];
  if (ws.blackout) {
    win_format_local(p, ws.blackout_until, t, sizeof t);
    snprintf(why, n, "blackout \"%s\" of this host's policy until %s", ws.blackout->name, t);
    return 0;
  }
  if (!p->nwindows || ws.open || (hotpatch && p->hotpatch_outside_windows)) return 1;
  if (ws.next_valid) {
    win_format_local(p, ws.next_open, t, sizeof t);
    snprintf(why, n, "outside this host's maintenance windows; window \"%s\" opens at %s",
             ws.next_window ? ws.next_window->name : "?", t);
  } else {
    snprintf(why, n, "outside this host's maintenance windows; none opens within %d days", WIN_HORIZON_DAYS);
  }
  return 0;
}

/* ---- the agent's periodic assessment -------------------------------------- */

static uint64_t host_seed(void) {
  char buf[256] = "";
  FILE *f = fopen("/etc/machine-id", "re");
  if (!f || !fgets(buf, sizeof buf, f)) gethostname(buf, sizeof buf - 1);
  if (f) fclose(f);
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (const char *p = buf; *p; p++) h = (h ^ (uint8_t)*p) * 1099511628211ull;
  return h;
}

static uint64_t read_last_assessment(const hpm_ctx *hc) {
  char p[600];
  unsigned long long v = 0;
  snprintf(p, sizeof p, "%s/assessed", hc->state_dir);
  FILE *f = fopen(p, "re");
  if (f) {
    if (fscanf(f, "%llu", &v) != 1) v = 0;
    fclose(f);
  }
  return v;
}

static void write_last_assessment(const hpm_ctx *hc, uint64_t t) {
  char p[600], text[24];
  hpmh_status e;
  snprintf(p, sizeof p, "%s/assessed", hc->state_dir);
  int n = snprintf(text, sizeof text, "%llu\n", (unsigned long long)t);
  (void)hpmh_write_file(p, (const uint8_t *)text, (size_t)n, 0644, 0, &e);
}

/* A failed periodic assessment (anything but a configuration error) is
 * tried again after UPDATE_RETRY_S, up to UPDATE_RETRY_TRIES runs in a row,
 * as hpm-assess.service does (RestartSec=15min, StartLimitBurst=4); then
 * the next one is at the usual interval. */
#define UPDATE_RETRY_S (15 * 60)
#define UPDATE_RETRY_TRIES 4

/* The agent's schedule; update_agent_reconfigure() starts it again. */
static struct {
  bool started, off;
  uint64_t next;   /* when the next assessment is due */
  unsigned fails;  /* failed runs in a row */
} tick;

void update_agent_reconfigure(void) { memset(&tick, 0, sizeof tick); }

void update_agent_tick(hpm_ctx *hc) {
  if (tick.off) return;
  uint64_t now = hpm_now();
  const hpm_policy *pol;
  const char *e;
  if (!tick.started) {
    tick.started = true;
    pol = hpm_ctx_policy(hc, NULL, &e);
    if (!pol) {
      say("agent: periodic assessment off: %s", e);
      tick.off = true;
      return;
    }
    if (!pol->source[0] && !*hc->source) {
      printf("agent: no update source configured ('source =' in [update] of %s): periodic assessment off\n",
             hc->conf);
      tick.off = true;
      return;
    }
    uint64_t last = read_last_assessment(hc);
    tick.next = last ? policy_next_assessment(pol, last, host_seed()) : now;
    char t[32];
    hpmh_utc(tick.next, t);
    printf("agent: periodic assessment every %u h, next at %s\n", pol->assess_interval_hours, t);
  }
  if (now < tick.next) return;
  hpm_policy p;
  pol = hpm_ctx_policy(hc, NULL, NULL);
  if (pol) p = *pol;
  else policy_defaults(&p);
  /* another run may have assessed meanwhile (`hpm install --auto`, started
   * by hpm-assess.timer or by hand): no second assessment for that turn */
  uint64_t last = read_last_assessment(hc);
  if (last && policy_next_assessment(&p, last, host_seed()) > now) {
    tick.fails = 0;
    tick.next = policy_next_assessment(&p, last, host_seed());
    char t[32], l[32];
    hpmh_utc(last, l);
    hpmh_utc(tick.next, t);
    printf("agent: assessed at %s by another run (hpm install --auto), next at %s\n", l, t);
    return;
  }
  printf("agent: periodic assessment\n");
  hpmh_status st;
  if (hpm_ctx_reload(hc, &st)) say("agent: %s", st.detail);
  update_ctx ctx;
  int rc = ctx_load(hc, &ctx, NULL, "assess", false);
  if (rc == 0) {
    rc = assess_install(&ctx, NULL, false, false, false, "install");
    p = ctx.pol;
    ctx_free(&ctx);
  } else if ((pol = hpm_ctx_policy(hc, NULL, NULL))) {
    p = *pol;
  }
  char t[32];
  if (rc && rc != 2 && ++tick.fails < UPDATE_RETRY_TRIES) {
    uint64_t interval = p.assess_interval_hours * 3600u;
    tick.next = now + (UPDATE_RETRY_S < interval ? UPDATE_RETRY_S : interval);
    hpmh_utc(tick.next, t);
    printf("agent: assessment failed (exit %d), try %u of %u, again at %s\n", rc, tick.fails, UPDATE_RETRY_TRIES, t);
  } else {
    tick.fails = 0;
    write_last_assessment(hc, now);
    tick.next = policy_next_assessment(&p, now, host_seed());
    hpmh_utc(tick.next, t);
    printf("agent: assessment done (exit %d), next at %s\n", rc, t);
  }
  fflush(stdout);
}
