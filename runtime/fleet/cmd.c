/* SPDX-License-Identifier: MIT */
/* `hpm fleet`: rollout start|pause|resume|abort, status, host release|fail,
 * step (fleet.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "clock.h"
#include "fleet/fleet.h"
#include "fleet/serve.h"
#include "jsonout.h"
#include "msg.h"

static const char usage[] =
    "usage: hpm fleet rollout start (--baseline-version VERSION | --hotpatch SEQ) --ring HOST,... [--ring HOST,...]...\n"
    "                 [--max-out K] [--min-delay DUR] [--budget N] [--deadline PHASE=DUR]...\n"
    "       hpm fleet rollout pause|resume|abort\n"
    "       hpm fleet status [--json]\n"
    "       hpm fleet host release|fail HOST\n"
    "       hpm fleet step [--loop MS]\n"
    "       hpm fleet serve [--listen ADDRESS:PORT] [--refresh SECONDS] [--fleetlock]\n"
    "The cluster's rollouts through etcd ([fleet] of the policy file; docs/fleet.md).\n"
    "  rollout start    a rollout of a baseline VERSION or a hotpatch SEQ of the signed catalog this\n"
    "                   host holds, ring by ring (the first --ring is the canary); hosts must have\n"
    "                   registered (their agent stepped once)\n"
    "    --max-out K        at most K hosts out at once (default 1)\n"
    "    --min-delay DUR    at least DUR between two hosts taking a slot (e.g. 30s; default 0)\n"
    "    --budget N         failed or suspect hosts tolerated; more stops the rollout\n"
    "                       (default a third of the largest ring, at least 1)\n"
    "    --deadline PHASE=DUR  how long a host may stay in draining, installing, rebooting or\n"
    "                       verifying (default 10m, 30m, 30m, 30m)\n"
    "  rollout pause|resume|abort  no new host starts while paused; abort ends the rollout\n"
    "                   (hosts out finish their turn)\n"
    "  status           every host's phase, the slot holders, the budget used, why it waits\n"
    "    --json         the same as one JSON document\n"
    "  host release HOST  free the slot of a host past its phase deadline (it becomes failed)\n"
    "  host fail HOST   mark a host failed (counts against the budget)\n"
    "  step             one step of this host's side (what the agent does)\n"
    "    --loop MS      step again when etcd says this host's turn may have come, at most MS\n"
    "                   milliseconds later, until this host has nothing left to do or the\n"
    "                   reboot hook ran\n"
    "  serve            a read-only status page (/), the status document (/status.json) and\n"
    "                   Prometheus metrics (/metrics) over HTTP, read from etcd at each request\n"
    "    --listen ADDRESS:PORT  where to listen (default 127.0.0.1:9479; an IPv4 or [IPv6] address)\n"
    "    --refresh SECONDS  the page reloads itself every SECONDS (default 5; 0: never)\n"
    "    --fleetlock    also answer the FleetLock protocol (POST /v1/pre-reboot, /v1/steady-state):\n"
    "                   other updaters take and free the rollout's slots like hpm's hosts\n";

/* The connection, opened after the subcommand's options are parsed. */
static hpm_ctx *the_ctx;
static fl_conn the_conn;

static fl_conn *conn(void) {
  hpmh_status st;
  if (fl_open(the_ctx, &the_conn, &st)) {
    hpm_msg_status(&st);
    return NULL;
  }
  return &the_conn;
}

static int fail_st(const hpmh_status *st) {
  hpm_msg_status(st);
  return st->code == HPMH_E_REFUSED ? 1 : st->code == HPMH_E_INVALID ? 1 : 3;
}

static int add_ring(const char *cmd, fl_start_req *q, const char *list) {
  if (q->nrings >= FL_MAX_RINGS) return hpm_cli_error(cmd, "--ring: at most %d rings", FL_MAX_RINGS);
  char *buf = strdup(list); /* the whole list: a fixed buffer cut long ones short, silently */
  if (!buf) return hpm_cli_error(cmd, "--ring: out of memory");
  char *save = NULL;
  size_t before = q->nhosts;
  int rc = 0;
  for (char *h = strtok_r(buf, ",", &save); h && !rc; h = strtok_r(NULL, ",", &save)) {
    if (!fl_name_ok(h)) rc = hpm_cli_error(cmd, "--ring: '%.80s' is not a host name (letters, digits, '.', '_', '-')", h);
    for (size_t i = 0; i < q->nhosts && !rc; i++)
      if (!strcmp(q->hosts[i], h)) rc = hpm_cli_error(cmd, "--ring: host %s is named twice", h);
    if (!rc && q->nhosts >= FL_MAX_HOSTS) rc = hpm_cli_error(cmd, "--ring: more than %d hosts", FL_MAX_HOSTS);
    if (rc) break;
    snprintf(q->hosts[q->nhosts], sizeof q->hosts[0], "%s", h);
    q->host_ring[q->nhosts++] = (uint32_t)q->nrings;
  }
  free(buf);
  if (rc) return rc;
  if (q->nhosts == before) return hpm_cli_error(cmd, "--ring: give the ring's hosts, comma-separated");
  q->nrings++;
  return 0;
}

static int rollout_start(int argc, char **argv) {
  fl_conn *c;
  const char *cmd = "fleet";
  static fl_start_req q;
  memset(&q, 0, sizeof q);
  q.deadline_s[FL_DRAINING] = 600;
  q.deadline_s[FL_INSTALLING] = q.deadline_s[FL_REBOOTING] = q.deadline_s[FL_VERIFYING] = 1800;
  static const struct option lo[] = {{"baseline-version", required_argument, 0, 'b'}, {"hotpatch", required_argument, 0, 'p'},
                                     {"ring", required_argument, 0, 'r'},     {"max-out", required_argument, 0, 'k'},
                                     {"min-delay", required_argument, 0, 'd'}, {"budget", required_argument, 0, 'u'},
                                     {"deadline", required_argument, 0, 'D'}, {0, 0, 0, 0}};
  int o;
  bool what = false;
  while ((o = hpm_cli_next(cmd, argc, argv, "", lo)) != -1) {
    char *end;
    unsigned long v;
    switch (o) {
    case 'b':
    case 'p':
      if (what) return hpm_cli_error(cmd, "give one of --baseline-version and --hotpatch, once");
      what = true;
      q.hotpatch = o == 'p';
      if (!optarg[0] || strlen(optarg) > FL_NAME_MAX)
        return hpm_cli_error(cmd, "--%s: expected 1..%d characters", o == 'p' ? "hotpatch" : "baseline", FL_NAME_MAX);
      if (o == 'p' && (strtoul(optarg, &end, 10) == 0 || *end))
        return hpm_cli_error(cmd, "--hotpatch '%s': expected a sequence number, 1 or more", optarg);
      snprintf(q.target, sizeof q.target, "%s", optarg);
      break;
    case 'r':
      if (add_ring(cmd, &q, optarg)) return HPM_CLI_USAGE;
      break;
    case 'k':
    case 'u':
      v = strtoul(optarg, &end, 10);
      if (*end || !optarg[0] || v < 1 || v > (o == 'k' ? FL_MAX_SLOTS : FL_MAX_HOSTS))
        return hpm_cli_error(cmd, "--%s '%s': expected 1..%d", o == 'k' ? "max-out" : "budget", optarg,
                             o == 'k' ? FL_MAX_SLOTS : FL_MAX_HOSTS);
      if (o == 'k') q.max_out = (uint32_t)v;
      else q.budget = (uint32_t)v;
      break;
    case 'd':
      if (!strcmp(optarg, "0")) q.min_delay_s = 0;
      else if (policy_parse_duration(optarg, &q.min_delay_s) || q.min_delay_s > 7 * 86400)
        return hpm_cli_error(cmd, "--min-delay '%s': expected a duration such as 30s or 5m (at most 7d), or 0", optarg);
      break;
    case 'D': {
      char ph[32];
      const char *eq = strchr(optarg, '=');
      snprintf(ph, sizeof ph, "%.*s", eq ? (int)(eq - optarg) : 0, optarg);
      int p = fl_phase_from(ph);
      uint32_t s;
      if (!eq || p < 0 || !fl_phase_out((fl_phase)p) || policy_parse_duration(eq + 1, &s) || s > 30 * 86400)
        return hpm_cli_error(cmd, "--deadline '%s': expected PHASE=DURATION, PHASE one of draining, installing, "
                                  "rebooting, verifying (e.g. installing=20m; at most 30d)", optarg);
      q.deadline_s[p] = s;
      break;
    }
    default:
      return HPM_CLI_USAGE;
    }
  }
  if (hpm_cli_operands(cmd, argc, argv, 0, 0, "")) return HPM_CLI_USAGE;
  if (!what) return hpm_cli_error(cmd, "say what to roll out: --baseline-version VERSION or --hotpatch SEQ");
  if (!q.nrings) return hpm_cli_error(cmd, "say which hosts: --ring HOST,... (once per ring, the canary first)");
  if (!(c = conn())) return 2;
  hpmh_status st;
  char id[FL_NAME_MAX + 1];
  if (fl_rollout_start(c, &q, id, &st)) return fail_st(&st);
  printf("rollout %s started: %s %s, %zu hosts in %zu rings\n", id, q.hotpatch ? "hotpatch" : "baseline", q.target,
         q.nhosts, q.nrings);
  return 0;
}

static const char *ago(uint64_t now, uint64_t t, char *buf, size_t n) {
  if (!t) return "-";
  snprintf(buf, n, "%" PRIu64 "s ago", now > t ? now - t : 0);
  return buf;
}

static int status(int argc, char **argv) {
  fl_conn *c;
  const char *cmd = "fleet";
  static const struct option lo[] = {{"json", no_argument, 0, 'j'}, {0, 0, 0, 0}};
  bool json = false;
  int o;
  while ((o = hpm_cli_next(cmd, argc, argv, "", lo)) != -1) {
    if (o == 'j') json = true;
    else return HPM_CLI_USAGE;
  }
  if (hpm_cli_operands(cmd, argc, argv, 0, 0, "")) return HPM_CLI_USAGE;
  if (!(c = conn())) return 2;
  fl_snap s;
  hpmh_status st;
  if (fl_read(c, &s, &st)) return fail_st(&st);
  uint64_t now = hpm_now();
  char why[600];
  fl_why_waiting(&s, now, why, sizeof why);
  const fl_rollout *r = &s.rollout;
  if (json) {
    hpm_json_emit(fl_status_doc(&s, now));
  } else if (!s.has_rollout) {
    printf("no rollout; %zu hosts registered\n", s.nmembers);
  } else {
    char b1[32], b2[32];
    printf("rollout %s: %s %s, %s (%s)\n", r->id, r->hotpatch ? "hotpatch" : "baseline", r->target,
           fl_rstate_name(r->state), r->reason);
    printf("at most %u out, %u s between hosts; failure budget %u used of %u\n", r->max_out, r->min_delay_s,
           fl_budget_used(&s), r->budget);
    printf("slots:");
    for (size_t i = 0; i < s.slots.nslots; i++)
      printf(" %s (%s, since %s)", s.slots.slots[i].host, s.slots.slots[i].domain, ago(now, s.slots.slots[i].since, b1, sizeof b1));
    printf("%s\n", s.slots.nslots ? "" : " none");
    if (why[0]) printf("waiting: %s\n", why);
    printf("%-20s %-12s %4s %-10s %-8s %-10s %s\n", "HOST", "DOMAIN", "RING", "PHASE", "LEASE", "SINCE", "REASON");
    for (size_t i = 0; i < s.nhosts; i++) {
      const fl_host *h = &s.hosts[i];
      printf("%-20s %-12s %4u %-10s %-8s %-10s %s\n", h->name, h->domain, h->ring, fl_phase_name(h->phase),
             h->holds && !h->alive ? "SUSPECT" : h->alive ? "alive" : "gone", ago(now, h->since, b2, sizeof b2), h->reason);
    }
  }
  if (!json && s.nmembers) {
    /* what each registered host published about itself (facts.c) */
    printf("%-20s %-20s %-22s %-10s %s\n", "HOST", "BASELINE", "HOTPATCH", "HEALTH", "COMPLIANCE");
    for (size_t i = 0; i < s.nmembers; i++) {
      const fl_facts *f = &s.members[i].facts;
      char base[96], hp[96];
      if (!f->have) {
        printf("%-20s (nothing published yet)\n", s.members[i].name);
        continue;
      }
      snprintf(base, sizeof base, f->slot ? "%s (%c)" : "%s", f->baseline, f->slot);
      if (f->hotpatch_seq) snprintf(hp, sizeof hp, "%s (%u)", f->hotpatch_id, f->hotpatch_seq);
      else snprintf(hp, sizeof hp, "none");
      printf("%-20s %-20s %-22s %-10s %s\n", s.members[i].name, base, hp, f->health, f->compliance);
    }
  }
  fl_snap_free(&s);
  return 0;
}

static int step(int argc, char **argv) {
  fl_conn *c;
  const char *cmd = "fleet";
  static const struct option lo[] = {{"loop", required_argument, 0, 'l'}, {0, 0, 0, 0}};
  long loop_ms = 0;
  int o;
  while ((o = hpm_cli_next(cmd, argc, argv, "", lo)) != -1) {
    char *end;
    if (o != 'l') return HPM_CLI_USAGE;
    loop_ms = strtol(optarg, &end, 10);
    if (*end || loop_ms < 10 || loop_ms > 3600000) return hpm_cli_error(cmd, "--loop '%s': expected milliseconds, 10..3600000", optarg);
  }
  if (hpm_cli_operands(cmd, argc, argv, 0, 0, "")) return HPM_CLI_USAGE;
  if (!(c = conn())) return 2;
  char last[sizeof ((fl_step_report *)0)->note] = "";
  c->waited_out = !loop_ms; /* one step asked for by hand: no turn to wait for behind the hosts ahead */
  for (;;) {
    fl_step_report rep;
    hpmh_status st;
    if (fl_step(c, &rep, &st)) {
      if (!loop_ms) return fail_st(&st);
      hpm_msg_status(&st); /* etcd unreachable: try again (nothing moves without etcd) */
    } else if (strcmp(rep.note, last)) {
      printf("%s: %s\n", c->host, rep.note);
      snprintf(last, sizeof last, "%s", rep.note);
    }
    if (!loop_ms || rep.finished || rep.rebooting) return 0;
    fl_wait(c, &rep, loop_ms);
  }
}

int fl_cmd(hpm_ctx *ctx, int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      fputs(usage, stdout);
      return 0;
    }
  const char *sub = argc > 1 ? argv[1] : "";
  const char *verb = argc > 2 ? argv[2] : "";
  bool rollout = !strcmp(sub, "rollout"), host = !strcmp(sub, "host");
  if (!rollout && !host && strcmp(sub, "status") && strcmp(sub, "step") && strcmp(sub, "serve"))
    return hpm_cli_error("fleet", "%s%s%s: expected rollout, status, host, step or serve", sub[0] ? "'" : "", sub[0] ? sub : "no subcommand",
                         sub[0] ? "'" : "");
  if (rollout && strcmp(verb, "start") && strcmp(verb, "pause") && strcmp(verb, "resume") && strcmp(verb, "abort"))
    return hpm_cli_error("fleet", "rollout %s: expected start, pause, resume or abort", verb[0] ? verb : "(nothing)");
  if (host && strcmp(verb, "release") && strcmp(verb, "fail"))
    return hpm_cli_error("fleet", "host %s: expected release or fail", verb[0] ? verb : "(nothing)");
  if (host && argc != 4) return hpm_cli_error("fleet", "host %s: expected one HOST", verb);
  if (rollout && strcmp(verb, "start") && argc != 3) return hpm_cli_error("fleet", "rollout %s takes no operand", verb);
  the_ctx = ctx;
  hpmh_status st;
  if (!strcmp(sub, "status")) return status(argc - 1, argv + 1);
  if (!strcmp(sub, "step")) {
    int rc = step(argc - 1, argv + 1);
    fl_close(&the_conn);
    return rc;
  }
  if (!strcmp(sub, "serve")) return fl_serve_cmd(ctx, argc - 1, argv + 1);
  int rc;
  if (!strcmp(verb, "start")) return rollout_start(argc - 2, argv + 2);
  fl_conn *c = conn();
  if (!c) return 2;
  if (host) {
    rc = !strcmp(verb, "release") ? fl_host_release(c, argv[3], &st) : fl_host_fail(c, argv[3], &st);
    if (!rc) printf("%s: %s\n", argv[3], !strcmp(verb, "release") ? "slot released; the host is failed" : "failed");
    return rc ? fail_st(&st) : 0;
  }
  fl_rstate to = !strcmp(verb, "pause") ? FL_PAUSED : !strcmp(verb, "resume") ? FL_RUNNING : FL_ABORTED;
  if (fl_rollout_set(c, to, &st)) return fail_st(&st);
  printf("rollout %s\n", to == FL_PAUSED ? "paused" : to == FL_RUNNING ? "resumed" : "aborted");
  return 0;
}
