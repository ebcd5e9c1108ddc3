/* SPDX-License-Identifier: MIT */
/* hpm policy / history / enroll / unenroll (lifecycle_cmd.h). */
#include "update/lifecycle_cmd.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "json.h"
#include "hostfacts.h"
#include "cli.h"
#include "jsonout.h"
#include "msg.h"
#include "update/enroll.h"
#include "update/history.h"
#include "hpm/core.h"
#include "update/policy.h"
#include "update/update.h"
#include "update/windows.h"

#define err hpm_msg

/* Loads the policy; prints the error and returns -1 if it is broken. */
static int load_policy(hpm_ctx *ctx, hpm_policy *p, policy_result *res) {
  const char *e;
  const hpm_policy *got = hpm_ctx_policy(ctx, res, &e);
  if (!got) {
    err("%s", e);
    return -1;
  }
  *p = *got;
  return 0;
}


/* ---- hpm policy ---- */

static const char *policy_usage =
    "usage: hpm policy [--json]\n"
    "Shows the effective update policy (HPM_CONF, default /etc/hpm/hpm.conf; documented defaults\n"
    "when the file is missing), whether a maintenance window is open now and when the next opens.\n"
    "Exit: 0, or 2 if the policy file is invalid (the message names file, line and key).\n";

static void window_text(const policy_window *w, char *out, size_t n) {
  static const char *const dn[7] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  char days[40] = "";
  if (w->dated) {
    snprintf(days, sizeof days, "%04d-%02d-%02d", w->date.year, w->date.month, w->date.day);
  } else {
    for (int i = 1; i <= 7; i++)
      if (w->days & (1u << (i % 7))) {
        strcat(days, days[0] ? "," : "");
        strcat(days, dn[i % 7]);
      }
  }
  unsigned h = w->duration_s / 3600, m = (w->duration_s % 3600) / 60;
  snprintf(out, n, "%s %s %02d:%02d for %uh%02um", w->dated ? "on" : "every", days, w->start_min / 60,
           w->start_min % 60, h, m);
}

static void blackout_end_text(const policy_date *d, int min, char *out, size_t n) {
  if (min == 1440) snprintf(out, n, "%04d-%02d-%02d (end of day)", d->year, d->month, d->day);
  else snprintf(out, n, "%04d-%02d-%02d %02d:%02d", d->year, d->month, d->day, min / 60, min % 60);
}

int cmd_policy(hpm_ctx *ctx, int argc, char **argv) {
  static const struct option opts[] = {{"json", 0, 0, 'j'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
  int json = 0, c;
  while ((c = hpm_cli_next("policy", argc, argv, "", opts)) != -1) {
    if (c == 'j') json = 1;
    else if (c == 'h') { fputs(policy_usage, stdout); return 0; }
    else return HPM_CLI_USAGE;
  }
  if (hpm_cli_operands("policy", argc, argv, 0, 0, "")) return HPM_CLI_USAGE;
  hpm_policy p;
  policy_result res;
  if (load_policy(ctx, &p, &res)) return 2;
  uint64_t now = hpm_now();
  win_status ws;
  win_status_at(&p, now, &ws);
  char classes[64], nowtxt[64], t1[64], t2[64], wt[128];
  policy_format_classes(p.auto_classes, classes, sizeof classes);
  win_format_local(&p, now, nowtxt, sizeof nowtxt);
  const char *tz = p.timezone[0] ? p.timezone : (getenv("TZ") && *getenv("TZ") ? getenv("TZ") : "host (/etc/localtime)");
  if (json) {
    cJSON *o = hpm_json_doc("policy");
    hpmh_json_add_str(o, "file", ctx->conf);
    hpmh_json_add_bool(o, "file_present", res == POLICY_OK);
    hpm_json_add_opt(o, "source", p.source);
    cJSON *ca = cJSON_AddArrayToObject(o, "auto_classifications");
    for (hpm_classification k = HPM_CLASS_CRITICAL; k <= HPM_CLASS_OTHER; k++)
      if (p.auto_classes & POLICY_CLASS_BIT(k)) hpmh_json_add_str(ca, NULL, hpm_classification_to_string(k));
    hpmh_json_add_u64(o, "deadline_days", p.deadline_days);
    hpmh_json_add_bool(o, "hotpatch_outside_windows", p.hotpatch_outside_windows);
    hpmh_json_add_u64(o, "assess_interval_hours", p.assess_interval_hours);
    hpmh_json_add_u64(o, "assess_jitter_minutes", p.assess_jitter_minutes);
    hpmh_json_add_str(o, "reboot", policy_reboot_to_string(p.reboot));
    hpm_json_add_opt(o, "timezone", p.timezone); /* null: the host's */
    hpmh_json_add_str(o, "timezone_in_use", tz);
    hpmh_json_add_u64(o, "retention_days", p.retention_days);
    hpmh_json_add_u64(o, "cache_keep", p.cache_keep);
    cJSON *pa = cJSON_AddObjectToObject(o, "paths"); /* in use, whoever set them */
    hpmh_json_add_str(pa, "esp", ctx->esp);
    hpmh_json_add_str(pa, "state_dir", ctx->state_dir);
    hpmh_json_add_str(pa, "trust_dir", ctx->trust_dir);
    hpmh_json_add_str(pa, "cache_dir", ctx->cache_dir);
    cJSON *tr = cJSON_AddObjectToObject(o, "trust");
    for (hpm_kind k = HPM_KIND_BASELINE; k <= HPM_KIND_CATALOG; k++)
      hpmh_json_add_u64(tr, policy_signers_key(k), p.signers[k]);
    cJSON *he = cJSON_AddObjectToObject(o, "health");
    hpmh_json_add_u64(he, "window_s", p.health_window_s);
    hpmh_json_add_u64(he, "interval_s", p.health_interval_s);
    hpmh_json_add_u64(he, "check_timeout_s", p.health_script_timeout_s);
    hpmh_json_add_str(he, "checks", p.health_dir);
    cJSON_AddBoolToObject(he, "units", p.health_units);
    hpmh_json_add_u64(he, "crash_loop", p.crash_loop);
    hpmh_json_add_u64(he, "crash_loop_period_s", p.crash_loop_period_s);
    cJSON *wa = cJSON_AddArrayToObject(o, "windows");
    for (size_t i = 0; i < p.nwindows; i++) {
      const policy_window *pw = &p.windows[i];
      cJSON *w = hpmh_json_add(wa, NULL, cJSON_CreateObject());
      window_text(pw, wt, sizeof wt);
      hpmh_json_add_str(w, "name", pw->name);
      if (pw->dated) {
        hpmh_json_add_null(w, "days");
        snprintf(t1, sizeof t1, "%04d-%02d-%02d", pw->date.year, pw->date.month, pw->date.day);
        hpmh_json_add_str(w, "date", t1);
      } else {
        static const char *const dn[7] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
        cJSON *da = cJSON_AddArrayToObject(w, "days");
        for (int d = 1; d <= 7; d++)
          if (pw->days & (1u << (d % 7))) hpmh_json_add_str(da, NULL, dn[d % 7]);
        hpmh_json_add_null(w, "date");
      }
      snprintf(t1, sizeof t1, "%02d:%02d", pw->start_min / 60, pw->start_min % 60);
      hpmh_json_add_str(w, "start", t1);
      hpmh_json_add_u64(w, "duration_s", pw->duration_s);
      hpmh_json_add_str(w, "description", wt);
    }
    cJSON *ba = cJSON_AddArrayToObject(o, "blackouts");
    win_tz tzs;
    win_tz_push(&p, &tzs);
    for (size_t i = 0; i < p.nblackouts; i++) {
      const policy_blackout *pb = &p.blackouts[i];
      cJSON *b = hpmh_json_add(ba, NULL, cJSON_CreateObject());
      hpmh_json_add_str(b, "name", pb->name);
      int64_t from = win_local_to_utc(pb->from_date.year, pb->from_date.month, pb->from_date.day, pb->from_min);
      int64_t until = win_local_to_utc(pb->until_date.year, pb->until_date.month, pb->until_date.day, pb->until_min);
      hpm_json_add_time(b, "from", from > 0 ? (uint64_t)from : 0);
      hpm_json_add_time(b, "until", until > 0 ? (uint64_t)until : 0);
      blackout_end_text(&pb->from_date, pb->from_min, t1, sizeof t1);
      blackout_end_text(&pb->until_date, pb->until_min, t2, sizeof t2);
      char desc[160];
      snprintf(desc, sizeof desc, "from %s until %s", t1, t2);
      hpmh_json_add_str(b, "description", desc);
    }
    win_tz_pop(&tzs);
    cJSON *n = cJSON_AddObjectToObject(o, "now");
    hpm_json_add_time(n, "time", now);
    hpmh_json_add_str(n, "local", nowtxt);
    hpmh_json_add_bool(n, "window_open", ws.open);
    hpm_json_add_opt(n, "window", ws.open ? ws.window->name : "");
    hpm_json_add_time(n, "open_until", ws.open ? ws.open_until : 0);
    hpm_json_add_opt(n, "blackout", ws.blackout ? ws.blackout->name : "");
    hpm_json_add_time(n, "blackout_until", ws.blackout ? ws.blackout_until : 0);
    hpm_json_add_time(n, "next_open", ws.next_valid ? ws.next_open : 0);
    if (ws.next_valid) win_format_local(&p, ws.next_open, t1, sizeof t1);
    hpm_json_add_opt(n, "next_open_local", ws.next_valid ? t1 : "");
    hpm_json_add_opt(n, "next_window", ws.next_valid && ws.next_window ? ws.next_window->name : "");
    hpm_json_emit(o);
    return 0;
  }
  printf("policy file: %s%s\n", ctx->conf, res == POLICY_OK ? "" : " (missing: documented defaults)");
  printf("catalog source: %s\n", p.source[0] ? p.source : "(none)");
  printf("auto_classifications: %s\n", classes);
  printf("deadline_days: %u\n", p.deadline_days);
  printf("hotpatch_outside_windows: %s\n", p.hotpatch_outside_windows ? "yes" : "no");
  printf("assessment: every %u h, jitter up to %u min\n", p.assess_interval_hours, p.assess_jitter_minutes);
  printf("health window after each hotpatch: %u s (checks in %s every %u s, each at most %u s)\n",
         p.health_window_s, p.health_dir, p.health_interval_s, p.health_script_timeout_s);
  printf("systemd units of patched processes: %s\n", p.health_units ? "watched (a failed or restarted unit fails the window)"
                                                                    : "not watched ([health] units = no)");
  if (p.crash_loop)
    printf("crash loop: %u crashes of processes the agent patched, within %u s, revert the hotpatch\n", p.crash_loop,
           p.crash_loop_period_s);
  else
    printf("crash loop: off ([health] crash_loop = 0)\n");
  printf("reboot: %s\n", policy_reboot_to_string(p.reboot));
  printf("timezone: %s\n", tz);
  printf("history retention_days: %u\n", p.retention_days);
  printf("paths in use: esp %s, state_dir %s, trust_dir %s\n", ctx->esp, ctx->state_dir, ctx->trust_dir);
  printf("trust (distinct trusted keys that must sign):");
  for (hpm_kind k = HPM_KIND_BASELINE; k <= HPM_KIND_CATALOG; k++)
    printf(" %s %u%s", policy_signers_key(k), p.signers[k], k < HPM_KIND_CATALOG ? "," : "\n");
  if (!p.nwindows) printf("windows: none (required baselines reboot at their deadline)\n");
  for (size_t i = 0; i < p.nwindows; i++) {
    window_text(&p.windows[i], wt, sizeof wt);
    printf("window \"%s\": %s\n", p.windows[i].name, wt);
  }
  for (size_t i = 0; i < p.nblackouts; i++) {
    blackout_end_text(&p.blackouts[i].from_date, p.blackouts[i].from_min, t1, sizeof t1);
    blackout_end_text(&p.blackouts[i].until_date, p.blackouts[i].until_min, t2, sizeof t2);
    printf("blackout \"%s\": %s until %s\n", p.blackouts[i].name, t1, t2);
  }
  printf("now: %s\n", nowtxt);
  if (ws.blackout) {
    win_format_local(&p, ws.blackout_until, t1, sizeof t1);
    printf("in blackout \"%s\" until %s\n", ws.blackout->name, t1);
  }
  if (ws.open) {
    win_format_local(&p, ws.open_until, t1, sizeof t1);
    printf("window \"%s\" is open until %s\n", ws.window->name, t1);
  } else if (ws.next_valid) {
    win_format_local(&p, ws.next_open, t1, sizeof t1);
    printf("no window open; next: \"%s\" at %s\n", ws.next_window ? ws.next_window->name : "?", t1);
  } else {
    printf("no window open; none opens within %d days\n", WIN_HORIZON_DAYS);
  }
  return 0;
}

/* ---- hpm history ---- */

static const char *history_usage =
    "usage: hpm history [--since DATE|DURATION] [--json]\n"
    "       hpm history show ID [--json]\n"
    "Lists what hpm did (assess, install, apply, revert, stage, reboot-request, mark-good,\n"
    "enroll, unenroll, rollback, recover, clean), oldest first, from HPM_STATE_DIR/history.db;\n"
    "times in the policy's time zone.  'show ID' prints one entry in full: also the command\n"
    "line that recorded it and the user who ran it.\n"
    "  --since 2026-11-01 | \"2026-11-01 08:00\" (policy time zone) | 7d | 12h | 30m\n"
    "Entries older than [history] retention_days (default 30) are pruned.\n"
    "Exit: 0, 1 if the history cannot be read (or has no entry ID), 2 on a usage or policy\n"
    "file error.\n";

typedef struct {
  const hpm_policy *p;
  cJSON *arr;
  unsigned n;
  bool full; /* history show: every field */
} hist_out;

static int print_entry(const hist_entry *e, void *ctx) {
  hist_out *o = ctx;
  char t[40], local[64];
  hpmh_utc(e->time, t);
  win_format_local(o->p, e->time, local, sizeof local);
  o->n++;
  if (o->arr) {
    cJSON *j = hpmh_json_add(o->arr, NULL, cJSON_CreateObject());
    hpmh_json_add_u64(j, "id", (uint64_t)e->id);
    hpm_json_add_time(j, "time", e->time);
    hpmh_json_add_str(j, "time_local", local);
    hpmh_json_add_str(j, "event", e->event);
    cJSON *ia = cJSON_AddArrayToObject(j, "ids");
    for (const char *p = e->ids; *p;) { /* stored comma-joined */
      size_t n = strcspn(p, ",");
      char id[256];
      snprintf(id, sizeof id, "%.*s", (int)(n < sizeof id ? n : sizeof id - 1), p);
      if (n) hpmh_json_add_str(ia, NULL, id);
      p += n + (p[n] == ',');
    }
    hpmh_json_add_str(j, "result", e->result);
    hpm_json_add_opt(j, "error", e->error);
    hpm_json_add_opt(j, "detail", e->detail);
    hpm_json_add_opt(j, "command", e->command);
    hpm_json_add_opt(j, "user", e->user);
  } else if (o->full) {
    printf("entry %lld\n   time: %s (%s)\n  event: %s\n result: %s\n detail: %s\n    ids: %s\n  error: %s\ncommand: %s\n"
           "   user: %s\n",
           (long long)e->id, local, t, e->event, e->result, e->detail[0] ? e->detail : "-", e->ids[0] ? e->ids : "-",
           e->error[0] ? e->error : "-",
           e->command[0] ? e->command : "(not recorded)", e->user[0] ? e->user : "(not recorded)");
  } else {
    printf("%5lld  %s  %-14s %-8s %s%s%s%s%s\n", (long long)e->id, local, e->event, e->result, e->ids,
           e->detail[0] ? "  " : "", e->detail, e->error[0] ? "  error: " : "", e->error);
  }
  return 0;
}

int cmd_history(hpm_ctx *ctx, int argc, char **argv) {
  static const struct option opts[] = {
      {"json", 0, 0, 'j'}, {"since", 1, 0, 's'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
  int json = 0, c;
  const char *since_s = NULL;
  while ((c = hpm_cli_next("history", argc, argv, "", opts)) != -1) {
    if (c == 'j') json = 1;
    else if (c == 's') since_s = optarg;
    else if (c == 'h') { fputs(history_usage, stdout); return 0; }
    else return HPM_CLI_USAGE;
  }
  if (hpm_cli_operands("history", argc, argv, 0, 2, "nothing, or show ID")) return HPM_CLI_USAGE;
  int64_t show = -1;
  if (optind < argc) {
    if (strcmp(argv[optind], "show"))
      return hpm_cli_error("history", "unexpected argument '%s': expected nothing, or 'show ID'", argv[optind]);
    char *end = NULL;
    long long v = optind + 2 == argc ? strtoll(argv[optind + 1], &end, 10) : -1;
    if (v < 1 || *end || since_s)
      return hpm_cli_error("history", "show: expected one ID (an entry's number from 'hpm history'), without --since");
    show = v;
  }
  hpm_policy p;
  policy_result res;
  if (load_policy(ctx, &p, &res)) return 2;
  uint64_t now = hpm_now(), since = 0;
  if (since_s) {
    uint32_t dur;
    policy_date d;
    int min = 0;
    char date[11];
    if (!policy_parse_duration(since_s, &dur)) {
      since = now > dur ? now - dur : 0;
    } else if ((strlen(since_s) == 10 && !policy_parse_date(since_s, &d)) ||
               (strlen(since_s) == 16 && (since_s[10] == ' ' || since_s[10] == 'T') &&
                (memcpy(date, since_s, 10), date[10] = 0, !policy_parse_date(date, &d)) &&
                !policy_parse_hhmm(since_s + 11, &min))) {
      win_tz tz;
      win_tz_push(&p, &tz);
      int64_t t = win_local_to_utc(d.year, d.month, d.day, min);
      win_tz_pop(&tz);
      since = t > 0 ? (uint64_t)t : 0;
    } else {
      err("history: --since '%s': expected a date (2026-11-01, \"2026-11-01 08:00\") or a duration (7d, 12h, 30m)",
          since_s);
      return 2;
    }
  }
  char e[1024];
  hist *h = hist_open(ctx->state_dir, p.retention_days, e, sizeof e);
  if (!h) {
    err("history: %s", e);
    return 1;
  }
  hist_out o = {&p, json ? cJSON_CreateArray() : NULL, 0, show > 0};
  int rc = show > 0 ? hist_query_id(h, show, print_entry, &o) : hist_query(h, since, print_entry, &o);
  if (rc) err("history: %s", hist_error(h));
  hist_close(h);
  if (show > 0 && !rc && !o.n) {
    cJSON_Delete(o.arr);
    err("history: no entry %lld (older entries are pruned after [history] retention_days)", (long long)show);
    return 1;
  }
  if (json) {
    if (rc) {
      cJSON_Delete(o.arr);
    } else {
      cJSON *d = hpm_json_doc("history");
      if (show > 0) {
        hpmh_json_add(d, "entry", cJSON_DetachItemFromArray(o.arr, 0));
        cJSON_Delete(o.arr);
      } else {
        hpmh_json_add(d, "entries", o.arr);
      }
      hpm_json_emit(d);
    }
  } else if (!rc && !o.n) {
    printf("no history entries%s\n", since_s ? " in that period" : "");
  }
  return rc ? 1 : 0;
}

/* ---- hpm enroll / unenroll ---- */

static const char *enroll_usage =
    "usage: hpm enroll [--json]\n"
    "       hpm unenroll [--json]\n"
    "Enrolled hosts (the default) take hotpatches and baselines; unenrolled hosts take only\n"
    "baselines.  Re-enrolling is allowed only once the host runs a baseline newer than the one\n"
    "it was unenrolled on.  The running baseline comes from HpmBootBaseline (or HPM_BASELINE).\n"
    "Exit: 0 done (or nothing to do), 1 refused or failed, 2 usage or policy file error.\n";

static int enroll_common(hpm_ctx *ctx, int argc, char **argv, bool enroll) {
  static const struct option opts[] = {{"json", 0, 0, 'j'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
  int json = 0, c;
  const char *cmd = enroll ? "enroll" : "unenroll";
  while ((c = hpm_cli_next(cmd, argc, argv, "", opts)) != -1) {
    if (c == 'j') json = 1;
    else if (c == 'h') { fputs(enroll_usage, stdout); return 0; }
    else return HPM_CLI_USAGE;
  }
  if (hpm_cli_operands(cmd, argc, argv, 0, 0, "")) return HPM_CLI_USAGE;
  hpm_policy p;
  policy_result res;
  if (load_policy(ctx, &p, &res)) return 2;
  const char *dir = ctx->state_dir;
  hpm_running_baseline rb;
  if (hostfacts_running_baseline(ctx, &rb)) {
    err("%s: cannot determine the running baseline (no EFI variable HpmBootBaseline, no hpm.baseline= on the "
        "kernel command line, HPM_BASELINE unset): refusing", cmd);
    return 1;
  }
  char e[600], hexs[2 * HPM_DIGEST_LEN + 1], why[700];
  hpm_fmt_hex(rb.digest, HPM_DIGEST_LEN, hexs, sizeof hexs);
  enroll_state st;
  if (enroll_load(dir, &st, e, sizeof e)) {
    err("%s: %s", cmd, e);
    return 1;
  }
  const char *result, *msg;
  int rcode = 0;
  bool changed = false;
  if (!enroll) {
    if (!st.enrolled) {
      result = "unchanged";
      msg = "this host is already unenrolled: it takes only baselines";
    } else {
      st.enrolled = false;
      memcpy(st.baseline, rb.digest, HPM_DIGEST_LEN);
      st.svn_known = rb.svn_known;
      st.svn = rb.svn;
      st.since = hpm_now();
      changed = true;
      result = "ok";
      snprintf(why, sizeof why,
               "unenrolled: this host now takes only baselines; re-enrolling needs a baseline newer than %s", hexs);
      msg = why;
    }
  } else {
    enroll_verdict v = enroll_check(&st, &rb, NULL, why, sizeof why);
    if (v == ENROLL_ALREADY) {
      result = "unchanged";
      msg = "this host is already enrolled";
    } else if (v == ENROLL_REFUSED) {
      result = "refused";
      msg = why;
      rcode = 1;
    } else {
      st.enrolled = true;
      st.since = hpm_now();
      changed = true;
      result = "ok";
      msg = "enrolled: this host takes hotpatches for its running baseline again";
    }
  }
  if (changed && enroll_save(dir, &st, e, sizeof e)) {
    err("%s: %s", cmd, e);
    update_history_record(dir, &p, cmd, hexs, "failed", e);
    return 1;
  }
  update_history_record(dir, &p, cmd, hexs, result, rcode ? msg : NULL);
  if (json) {
    cJSON *o = hpm_json_doc(cmd);
    hpmh_json_add_str(o, "result", result);
    hpmh_json_add_bool(o, "enrolled", st.enrolled);
    hpmh_json_add_str(o, "running_baseline", hexs);
    hpmh_json_add_str(o, "message", msg);
    hpm_json_emit(o);
  } else if (rcode) {
    err("%s: %s", cmd, msg);
  } else {
    printf("%s\n", msg);
  }
  return rcode;
}

int cmd_enroll(hpm_ctx *ctx, int argc, char **argv) { return enroll_common(ctx, argc, argv, true); }
int cmd_unenroll(hpm_ctx *ctx, int argc, char **argv) { return enroll_common(ctx, argc, argv, false); }
