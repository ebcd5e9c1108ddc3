/* SPDX-License-Identifier: MIT */
/* hpm assess / hpm install / the agent's periodic assessment: see update.h. */
#include "update/update.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
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
#include "clock.h"
#include "update/decide.h"
#include "update/enroll.h"
#include "update/history.h"
#include "fileio.h"
#include "keys.h"
#include "json.h"
#include "msg.h"
#include "hpm/core.h"
#include "update/policy.h"
#include "update/source.h"

#define say hpm_msg

static const char *state_dir(void) {
  const char *s = getenv("HPM_STATE_DIR");
  return s && *s ? s : "/var/lib/hpm";
}

static const char *trust_dir(void) {
  const char *s = getenv("HPM_TRUST_DIR");
  return s && *s ? s : "/etc/hpm/trust";
}

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

/* ---- history ------------------------------------------------------------ */

void update_history_record(const char *dir, const hpm_policy *p, const char *event, const char *ids,
                           const char *result, const char *error) {
  char e[1024];
  hist *h = hist_open(dir, p ? p->retention_days : 30, e, sizeof e);
  if (!h) {
    say("warning: history not recorded: %s", e);
    return;
  }
  if (hist_record(h, event, ids, result, error)) say("warning: history not recorded: %s", hist_error(h));
  hist_close(h);
}

static void record(const hpm_policy *p, const char *event, const char *ids, const char *result, const char *error) {
  update_history_record(state_dir(), p, event, ids, result, error);
}

static uint32_t retention(void) {
  hpm_policy p;
  char e[600];
  return policy_load(policy_path(), &p, e, sizeof e) == POLICY_ERROR ? 30 : p.retention_days;
}

/* Runs fn(argc, argv) in a child whose stderr passes through a pipe (the
 * last line is kept for the history); with quiet, its stdout goes to
 * stderr too (JSON output of the parent stays clean). */
static int run_child(int (*fn)(int, char **), int argc, char **argv, bool quiet, char *last, size_t lastcap) {
  int fds[2];
  last[0] = 0;
  fflush(stdout);
  fflush(stderr);
  if (pipe2(fds, O_CLOEXEC)) return fn(argc, argv);
  pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return fn(argc, argv);
  }
  if (pid == 0) {
    dup2(fds[1], 2);
    if (quiet) dup2(fds[1], 1);
    close(fds[0]);
    close(fds[1]);
    int rc = fn(argc, argv);
    fflush(stdout);
    fflush(stderr);
    _exit(rc & 0xff);
  }
  close(fds[1]);
  char buf[4096], line[512];
  size_t ll = 0;
  ssize_t r;
  while ((r = read(fds[0], buf, sizeof buf)) != 0) {
    if (r < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (write(2, buf, (size_t)r) < 0) { /* stderr gone: keep collecting */ }
    for (ssize_t i = 0; i < r; i++) {
      if (buf[i] == '\n') {
        if (ll) {
          line[ll] = 0;
          snprintf(last, lastcap, "%s", line);
        }
        ll = 0;
      } else if (ll + 1 < sizeof line) {
        line[ll++] = buf[i];
      }
    }
  }
  if (ll) {
    line[ll] = 0;
    snprintf(last, lastcap, "%s", line);
  }
  close(fds[0]);
  int st;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  snprintf(last, lastcap, "killed by signal %d", WIFSIGNALED(st) ? WTERMSIG(st) : 0);
  return 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

void update_history_note(const char *event, const char *ids, const char *result, const char *error_text) {
  hpm_policy p;
  policy_defaults(&p);
  p.retention_days = retention();
  record(&p, event, ids, result, error_text);
}

static const char *result_word(int rc) { return rc == 0 ? "ok" : rc == 1 ? "refused" : "failed"; }

int update_record_command(const char *event, int (*fn)(int, char **), int argc, char **argv) {
  /* IDs: every container named on the command line (hotpatch ID, or the
   * baseline's version), else the arguments themselves. */
  char ids[512] = "";
  size_t used = 0;
  for (int i = 1; i < argc; i++) {
    if (argv[i][0] == '-') continue;
    hpm_manifest m;
    char one[160];
    if (access(argv[i], R_OK) == 0 && peek_manifest(argv[i], &m) == 0)
      snprintf(one, sizeof one, "%s", m.kind == HPM_KIND_HOTPATCH ? m.id : m.version);
    else
      snprintf(one, sizeof one, "%s", argv[i]);
    int k = snprintf(ids + used, sizeof ids - used, "%s%s", used ? "," : "", one);
    if (k < 0 || (size_t)k >= sizeof ids - used) break;
    used += (size_t)k;
  }
  hpm_msg_clear();
  int rc = fn(argc, argv);
  fflush(stdout);
  char res[32];
  snprintf(res, sizeof res, rc <= 1 ? "%s" : "%s (exit %d)", result_word(rc), rc);
  update_history_note(event, ids[0] ? ids : NULL, res, rc ? (hpm_msg_last()[0] ? hpm_msg_last() : res) : NULL);
  return rc;
}

/* ---- host facts ----------------------------------------------------------- */

typedef struct {
  hpm_policy pol;
  hpm_source src;
  hpm_catalog cat;
  bool have_cat;
  hpm_catalog_change change;
  uint64_t prev_serial;
  running_baseline rb;
  decide_host host;
  uint64_t now;
} update_ctx;

static void ctx_free(update_ctx *c) {
  if (c->have_cat) hpm_catalog_free(&c->cat);
  c->have_cat = false;
}

/* The applied hotpatch sequence for the running baseline (0 when the last
 * applied hotpatch was for another baseline, e.g. before a reboot). */
static uint32_t applied_sequence(const uint8_t running[HPM_DIGEST_LEN]) {
  char p[600];
  uint32_t seq = 0;
  snprintf(p, sizeof p, "%s/applied", state_dir());
  FILE *f = fopen(p, "re");
  if (!f) return 0;
  if (fscanf(f, "seq %u", &seq) != 1) seq = 0;
  fclose(f);
  if (!seq) return 0;
  hpm_manifest m;
  snprintf(p, sizeof p, "%s/hotpatches/seq-%u.hpm", state_dir(), seq);
  if (peek_manifest(p, &m) || m.kind != HPM_KIND_HOTPATCH || memcmp(m.target_baseline, running, HPM_DIGEST_LEN))
    return 0;
  return seq;
}

/* A baseline staged for the next boot: the ESP file of the slot that will
 * be tried first when that is not the running one. */
static void staged_baseline(decide_host *h) {
  hpm_boot_info bi;
  char why[256];
  h->has_staged = false;
  if (hpm_boot_info_read(&bi, why, sizeof why) || !bi.reboot_pending || bi.next_slot < 0 || bi.next_slot == bi.active)
    return;
  const char *esp = getenv("HPM_ESP") && *getenv("HPM_ESP") ? getenv("HPM_ESP") : "/boot/efi";
  char p[600];
  hpm_manifest m;
  snprintf(p, sizeof p, "%s/EFI/hpm/slot-%c.hpm", esp, hpm_bs_slot_letter(bi.next_slot));
  if (peek_manifest(p, &m) == 0 && m.kind == HPM_KIND_BASELINE) {
    memcpy(h->staged, m.digest, HPM_DIGEST_LEN);
    h->has_staged = true;
  }
}

/* Policy, source, verified catalog and host facts.  Returns 0 or an exit code. */
static int ctx_load(update_ctx *c, const char *source_opt, const char *cmd) {
  char e[1024];
  memset(c, 0, sizeof *c);
  c->now = hpm_now();
  if (policy_load(policy_path(), &c->pol, e, sizeof e) == POLICY_ERROR) {
    say("%s: %s", cmd, e);
    return 2;
  }
  const char *spec = source_opt ? source_opt : getenv("HPM_SOURCE") && *getenv("HPM_SOURCE") ? getenv("HPM_SOURCE")
                                                                                             : c->pol.source;
  if (!spec || !*spec) {
    say("%s: no update source: set 'source =' in [update] of %s, or pass --source URL|DIR", cmd, policy_path());
    return 2;
  }
  hpm_src_err se;
  hpm_src_result sr = hpm_source_parse(spec, &c->src, &se);
  if (sr == HPM_SRC_OK)
    sr = hpm_source_fetch_catalog(&c->src, trust_dir(), state_dir(), c->now, &c->cat, &c->change, &c->prev_serial, &se);
  if (sr != HPM_SRC_OK) {
    say("%s: %s", cmd, se.msg);
    record(&c->pol, cmd, NULL, result_word((int)sr), se.msg);
    return (int)sr;
  }
  c->have_cat = true;
  if (enroll_running_baseline(&c->rb)) {
    say("%s: cannot tell which baseline is running (no HpmBootBaseline variable, no hpm.baseline= on the kernel "
        "command line; HPM_BASELINE overrides)", cmd);
    record(&c->pol, cmd, NULL, "failed", "running baseline unknown");
    ctx_free(c);
    return 3;
  }
  enroll_state es;
  if (enroll_load(state_dir(), &es, e, sizeof e)) {
    say("%s: %s", cmd, e);
    ctx_free(c);
    return 3;
  }
  memcpy(c->host.baseline, c->rb.digest, HPM_DIGEST_LEN);
  c->host.enrolled = es.enrolled;
  if (!es.enrolled) {
    c->host.has_unenrolled_at = true;
    memcpy(c->host.unenrolled_at, es.baseline, HPM_DIGEST_LEN);
  }
  c->host.hotpatch_seq = c->host.enrolled ? applied_sequence(c->rb.digest) : 0;
  staged_baseline(&c->host);
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
  cJSON_AddStringToObject(o, "id", e->id);
  cJSON_AddStringToObject(o, "kind", kind_word(e->kind));
  cJSON_AddStringToObject(o, "version", e->version);
  cJSON_AddStringToObject(o, "classification", hpm_classification_to_string(e->classification));
  cJSON_AddStringToObject(o, "release", hpm_release_to_string(e->release));
  hpmh_utc(e->release_time, t);
  cJSON_AddStringToObject(o, "released", t);
  if (e->kind == HPM_KIND_HOTPATCH) cJSON_AddNumberToObject(o, "sequence", e->sequence);
  hpm_fmt_hex(e->digest, HPM_DIGEST_LEN, hx, sizeof hx);
  cJSON_AddStringToObject(o, "digest", hx);
  hpmh_utc(it->deadline, t);
  cJSON_AddStringToObject(o, "deadline", t);
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
    cJSON_AddStringToObject(o, "reboot_at", t);
  } else {
    cJSON_AddNullToObject(o, "reboot_at");
  }
  cJSON_AddStringToObject(o, "reason", it->reason);
  return o;
}

static cJSON *ctx_json(const update_ctx *c, const decide_result *r) {
  char t[32], hx[2 * HPM_DIGEST_LEN + 1];
  cJSON *o = cJSON_CreateObject(), *cat = cJSON_AddObjectToObject(o, "catalog"),
        *host = cJSON_AddObjectToObject(o, "host"), *items = cJSON_AddArrayToObject(o, "items");
  cJSON_AddNumberToObject(cat, "serial", (double)c->cat.serial);
  hpmh_utc(c->cat.expires, t);
  cJSON_AddStringToObject(cat, "expires", t);
  cJSON_AddStringToObject(cat, "change",
                          c->change == HPM_CATALOG_NEW ? "new" : c->change == HPM_CATALOG_NEWER ? "newer" : "same");
  cJSON_AddNumberToObject(cat, "entries", (double)c->cat.count);
  hpm_fmt_hex(c->host.baseline, HPM_DIGEST_LEN, hx, sizeof hx);
  cJSON_AddStringToObject(host, "baseline", hx);
  cJSON_AddBoolToObject(host, "baseline_listed", r->baseline_listed);
  cJSON_AddBoolToObject(host, "enrolled", c->host.enrolled);
  cJSON_AddNumberToObject(host, "hotpatch_sequence", c->host.hotpatch_seq);
  if (c->host.has_staged) {
    hpm_fmt_hex(c->host.staged, HPM_DIGEST_LEN, hx, sizeof hx);
    cJSON_AddStringToObject(host, "staged", hx);
  } else {
    cJSON_AddNullToObject(host, "staged");
  }
  hpmh_utc(c->now, t);
  cJSON_AddStringToObject(o, "time", t);
  for (size_t i = 0; i < r->count; i++) cJSON_AddItemToArray(items, item_json(&r->items[i]));
  return o;
}

static void print_text(const update_ctx *c, const decide_result *r) {
  char t[32], hx[2 * HPM_DIGEST_LEN + 1];
  hpm_fmt_hex(c->host.baseline, HPM_DIGEST_LEN, hx, sizeof hx);
  hpmh_utc(c->now, t);
  printf("assessment at %s, catalog serial %llu (%zu entries)\n", t, (unsigned long long)c->cat.serial, c->cat.count);
  printf("running baseline %.16s…%s, %s, hotpatch sequence %u%s\n", hx, r->baseline_listed ? "" : " (not in the catalog)",
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

/* Downloads (verified) and installs one item; returns an exit code. */
static int act(update_ctx *c, const decide_item *it, bool quiet) {
  const hpm_catalog_entry *e = it->entry;
  char path[4200], last[512];
  hpm_src_err se;
  if (e->kind == HPM_KIND_BASELINE && it->already_staged) {
    fprintf(progress_stream(quiet), "%s: already staged; a reboot activates it\n", e->id);
    return 0;
  }
  hpm_src_result sr = hpm_source_fetch_entry(&c->src, e, state_dir(), path, sizeof path, &se);
  if (sr != HPM_SRC_OK) {
    say("install: %s: %s", e->id, se.msg);
    record(&c->pol, e->kind == HPM_KIND_HOTPATCH ? "apply" : "stage", e->id, result_word((int)sr), se.msg);
    return (int)sr;
  }
  char *argv[3] = {e->kind == HPM_KIND_HOTPATCH ? "apply" : "stage", path, NULL};
  int rc = run_child(e->kind == HPM_KIND_HOTPATCH ? hpm_cmd_apply_entry : hpm_boot_cmd_stage, 2, argv, quiet, last,
                     sizeof last);
  char res[32];
  snprintf(res, sizeof res, rc <= 1 ? "%s" : "%s (exit %d)", result_word(rc), rc);
  record(&c->pol, argv[0], e->id, res, rc ? last : NULL);
  return rc;
}

/* Runs $HPM_REBOOT_CMD (default "systemctl reboot"); 0 if it started. */
static int request_reboot(update_ctx *c, const char *ids) {
  const char *cmd = getenv("HPM_REBOOT_CMD") && *getenv("HPM_REBOOT_CMD") ? getenv("HPM_REBOOT_CMD") : "systemctl reboot";
  fflush(stdout);
  int st = system(cmd);
  int ok = st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
  char err[300] = "";
  if (!ok) snprintf(err, sizeof err, "'%s' failed (status %d)", cmd, st);
  record(&c->pol, "reboot-request", ids, ok ? "ok" : "failed", ok ? NULL : err);
  if (!ok) say("install: reboot: %s; reboot the host to activate the staged baseline", err);
  return ok ? 0 : 4;
}

/* Decide and (unless assess_only or dry_run) act.  Returns an exit code. */
static int assess_install(update_ctx *c, const decide_request *req, bool assess_only, bool dry_run, bool json,
                          const char *event) {
  decide_result r;
  decide(&c->cat, &c->host, &c->pol, req, c->now, &r);
  char ids[512];
  ids_of(&r, false, ids, sizeof ids);
  record(&c->pol, "assess", ids[0] ? ids : NULL, "ok", NULL);
  cJSON *o = json ? ctx_json(c, &r) : NULL;
  if (!json) print_text(c, &r);
  int rc = 0;
  bool reboot = false;
  char reboot_ids[256] = "";
  cJSON *acts = json && !assess_only ? cJSON_AddArrayToObject(o, "actions") : NULL;
  if (!assess_only) {
    for (size_t i = 0; i < r.count; i++) {
      const decide_item *it = &r.items[i];
      if (!it->install_now) continue;
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
        cJSON_AddStringToObject(x, "id", it->entry->id);
        cJSON_AddStringToObject(x, "action", it->entry->kind == HPM_KIND_HOTPATCH ? "apply" : "stage");
        cJSON_AddStringToObject(x, "result", dry_run ? "dry-run" : result_word(a));
        cJSON_AddNumberToObject(x, "exit", a);
        cJSON_AddItemToArray(acts, x);
      }
      if (!a && it->needs_reboot && it->reboot_now) {
        reboot = true;
        size_t u = strlen(reboot_ids);
        snprintf(reboot_ids + u, sizeof reboot_ids - u, "%s%s", u ? "," : "", it->entry->id);
      }
    }
    char acted[512];
    ids_of(&r, true, acted, sizeof acted);
    if (reboot && !dry_run) {
      fprintf(progress_stream(json), "reboot: requested now to activate %s\n", reboot_ids);
      int b = request_reboot(c, reboot_ids);
      if (b && !rc) rc = b;
    } else if (reboot) {
      fprintf(progress_stream(json), "would request a reboot\n");
    }
    if (acts) cJSON_AddBoolToObject(o, "reboot_requested", reboot && !dry_run);
    if (!dry_run) record(&c->pol, event, acted[0] ? acted : NULL, result_word(rc), NULL);
  }
  if (o) {
    char *s = cJSON_PrintUnformatted(o);
    if (s) puts(s);
    free(s);
    cJSON_Delete(o);
  }
  return rc;
}

static const char *assess_usage =
    "usage: hpm assess [--source URL|DIR] [--json]\n"
    "Fetches and verifies the update catalog (source: --source, HPM_SOURCE, or 'source =' in [update]\n"
    "of the policy file HPM_CONF), and prints what applies to this host now under the policy: the\n"
    "newest hotpatch for the running baseline, a newer baseline (required or listed), with deadlines,\n"
    "whether each installs automatically and when a reboot may happen.  Installs nothing.\n"
    "Exit: 0; 1 catalog refused; 2 usage or configuration; 3 I/O (source, state).\n";

int cmd_assess(int argc, char **argv) {
  static const struct option opts[] = {{"source", required_argument, NULL, 's'},
                                       {"json", no_argument, NULL, 'j'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  const char *source = NULL;
  bool json = false;
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    switch (c) {
      case 's': source = optarg; break;
      case 'j': json = true; break;
      case 'h': fputs(assess_usage, stdout); return 0;
      default: fprintf(stderr, "Try 'hpm assess --help'.\n"); return 2;
    }
  }
  if (optind < argc) {
    say("assess: unexpected argument '%s'", argv[optind]);
    return 2;
  }
  update_ctx ctx;
  int rc = ctx_load(&ctx, source, "assess");
  if (rc) return rc;
  rc = assess_install(&ctx, NULL, true, false, json, "assess");
  ctx_free(&ctx);
  return rc;
}

static const char *install_usage =
    "usage: hpm install [--classification critical,security,other] [--include ID]... [--exclude ID]...\n"
    "                   [--reboot never|if-required|always] [--source URL|DIR] [--dry-run] [--json]\n"
    "Assesses (as 'hpm assess') and installs what is selected now, on demand (maintenance windows do\n"
    "not apply): releases are downloaded into HPM_STATE_DIR/cache and checked against the catalog,\n"
    "hotpatches are applied with 'hpm apply', baselines staged with 'hpm stage'; then a reboot is\n"
    "requested by running HPM_REBOOT_CMD (default 'systemctl reboot') when the reboot mode says so\n"
    "(default: the policy's 'reboot =').  --classification defaults to the policy's auto classes;\n"
    "--include selects IDs whatever their classification; --exclude never installs an ID.\n"
    "Exit: 0; 1 refused or an action failed; 2 usage/configuration; 3 I/O; 4 reboot not started.\n";

int cmd_install(int argc, char **argv) {
  static const struct option opts[] = {{"classification", required_argument, NULL, 'c'},
                                       {"include", required_argument, NULL, 'i'},
                                       {"exclude", required_argument, NULL, 'x'},
                                       {"reboot", required_argument, NULL, 'r'},
                                       {"source", required_argument, NULL, 's'},
                                       {"dry-run", no_argument, NULL, 'n'},
                                       {"json", no_argument, NULL, 'j'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  const char *source = NULL, *inc[64], *exc[64];
  size_t ninc = 0, nexc = 0;
  bool json = false, dry = false;
  decide_request req = {.on_demand = true, .reboot = -1};
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    switch (c) {
      case 'c':
        if (policy_parse_classes(optarg, &req.classes) || !req.classes) {
          say("install: --classification '%s': expected a list of critical, security, other", optarg);
          return 2;
        }
        break;
      case 'i':
      case 'x':
        if ((c == 'i' ? ninc : nexc) == 64) {
          say("install: at most 64 --%s", c == 'i' ? "include" : "exclude");
          return 2;
        }
        if (c == 'i') inc[ninc++] = optarg;
        else exc[nexc++] = optarg;
        break;
      case 'r':
        if ((req.reboot = policy_reboot_from_string(optarg)) < 0) {
          say("install: --reboot '%s': expected never, if-required or always", optarg);
          return 2;
        }
        break;
      case 's': source = optarg; break;
      case 'n': dry = true; break;
      case 'j': json = true; break;
      case 'h': fputs(install_usage, stdout); return 0;
      default: fprintf(stderr, "Try 'hpm install --help'.\n"); return 2;
    }
  }
  if (optind < argc) {
    say("install: unexpected argument '%s'", argv[optind]);
    return 2;
  }
  req.include = inc;
  req.ninclude = ninc;
  req.exclude = exc;
  req.nexclude = nexc;
  update_ctx ctx;
  int rc = ctx_load(&ctx, source, "install");
  if (rc) return rc;
  for (size_t i = 0; i < ninc; i++)
    if (!hpm_catalog_find(&ctx.cat, inc[i])) {
      say("install: --include %s: no such ID in catalog serial %llu (see 'hpm assess')", inc[i],
          (unsigned long long)ctx.cat.serial);
      ctx_free(&ctx);
      return 2;
    }
  rc = assess_install(&ctx, &req, false, dry, json, "install");
  ctx_free(&ctx);
  return rc;
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

static uint64_t read_last_assessment(void) {
  char p[600];
  unsigned long long v = 0;
  snprintf(p, sizeof p, "%s/assessed", state_dir());
  FILE *f = fopen(p, "re");
  if (f) {
    if (fscanf(f, "%llu", &v) != 1) v = 0;
    fclose(f);
  }
  return v;
}

static void write_last_assessment(uint64_t t) {
  char p[600], text[24];
  hpmh_status e;
  snprintf(p, sizeof p, "%s/assessed", state_dir());
  int n = snprintf(text, sizeof text, "%llu\n", (unsigned long long)t);
  (void)hpmh_write_file(p, (const uint8_t *)text, (size_t)n, 0644, 0, &e);
}

void update_agent_tick(void) {
  static bool started, off;
  static uint64_t next;
  if (off) return;
  uint64_t now = hpm_now();
  hpm_policy p;
  char e[1024];
  if (!started) {
    started = true;
    if (policy_load(policy_path(), &p, e, sizeof e) == POLICY_ERROR) {
      say("agent: periodic assessment off: %s", e);
      off = true;
      return;
    }
    if (!p.source[0] && !(getenv("HPM_SOURCE") && *getenv("HPM_SOURCE"))) {
      printf("agent: no update source configured ('source =' in [update] of %s): periodic assessment off\n",
             policy_path());
      off = true;
      return;
    }
    uint64_t last = read_last_assessment();
    next = last ? policy_next_assessment(&p, last, host_seed()) : now;
    char t[32];
    hpmh_utc(next, t);
    printf("agent: periodic assessment every %u h, next at %s\n", p.assess_interval_hours, t);
  }
  if (now < next) return;
  printf("agent: periodic assessment\n");
  update_ctx ctx;
  int rc = ctx_load(&ctx, NULL, "assess");
  if (rc == 0) {
    rc = assess_install(&ctx, NULL, false, false, false, "install");
    p = ctx.pol;
    ctx_free(&ctx);
  } else if (policy_load(policy_path(), &p, e, sizeof e) == POLICY_ERROR) {
    policy_defaults(&p);
  }
  write_last_assessment(now);
  next = policy_next_assessment(&p, now, host_seed());
  char t[32];
  hpmh_utc(next, t);
  printf("agent: assessment done (exit %d), next at %s\n", rc, t);
  fflush(stdout);
}
