/* SPDX-License-Identifier: MIT */
/*
 * Many simulated hosts of a fleet in one process, for the fleet benchmark
 * (bench/fleet_bench.py, make bench-fleet).  Each host is hpm's own host
 * side: an hpm context with its own policy file, state directory and hooks,
 * and fl_step() against the real etcd cluster, as `hpm fleet step --loop`
 * runs it.  Per-host work is zero: the install and reboot hooks are
 * /bin/true, and a host's reboot is the next step of a fresh connection
 * (what a new agent after a boot would be), at once.
 *
 *   fleet_sim --root DIR --endpoints URLS --hosts N [--domains D]
 *             [--poll-ms P] [--timeout S]
 *
 * Hosts are h0000.. in fault domains d00.. (host i in domain i mod D),
 * each a thread of its own that steps and, between steps, waits as the
 * agent does (fl_wait: until what it waits for changes in etcd, at most P
 * ms).  stdout: "registered" once every host has stepped (the operator may
 * then start a rollout naming them), then, when every host is finished (or
 * after S seconds), one JSON line of figures: requests (HTTP requests to
 * etcd per host: mean, max, and per host by call), steps per host, the
 * time of one phase move (a moving step's time over the phases it moved
 * through: p50, p99), the slot handoffs (from a host freeing its slot to
 * the next host holding one: p50, p99, count).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ctx.h"
#include "fileio.h"
#include "fleet/fleet.h"
#include "http.h"

typedef struct {
  hpm_ctx ctx;
  fl_conn conn;
  bool open, finished, stepped;
  fl_phase phase;
  uint64_t steps;
  uint64_t requests; /* of connections closed by a simulated reboot */
  uint64_t requests_by[FL_NCALLS];
  char conf[512], state[512];
} sim_host;

typedef struct {
  uint64_t *v;
  size_t n, cap;
} series;

static sim_host *hosts;
static size_t nhosts;
static long poll_ms = 200;
static atomic_size_t nstepped, nfinished;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static series moving, handoff;
static uint64_t *freed; /* times of slots freed, not yet taken again (a queue) */
static size_t nfreed, freed_head;
static atomic_bool failed;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void add(series *s, uint64_t x) {
  if (s->n == s->cap) {
    s->cap = s->cap ? 2 * s->cap : 1024;
    s->v = realloc(s->v, s->cap * sizeof *s->v);
    if (!s->v) abort();
  }
  s->v[s->n++] = x;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* p-quantile in ms of a series sorted once (sort()). */
static void sort(series *s) { qsort(s->v, s->n, sizeof *s->v, cmp_u64); }

static double pct(const series *s, double p) {
  if (!s->n) return 0;
  size_t i = (size_t)(p * (double)(s->n - 1) + 0.5);
  return (double)s->v[i] / 1e6; /* ms */
}

static int setup(const char *root, const char *endpoints, size_t i, size_t ndomains) {
  sim_host *h = &hosts[i];
  char dir[400], hooks[450], path[512], text[2048];
  snprintf(dir, sizeof dir, "%s/h%04zu", root, i);
  snprintf(hooks, sizeof hooks, "%s/hooks", dir);
  if ((mkdir(dir, 0755) && errno != EEXIST) || (mkdir(hooks, 0755) && errno != EEXIST)) return -1;
  const char *names[] = {"install", "reboot"};
  for (int k = 0; k < 2; k++) {
    snprintf(path, sizeof path, "%s/%s", hooks, names[k]);
    if (symlink("/bin/true", path) && errno != EEXIST) return -1;
  }
  snprintf(h->conf, sizeof h->conf, "%s/hpm.conf", dir);
  snprintf(h->state, sizeof h->state, "%s/state", dir);
  snprintf(text, sizeof text,
           "[fleet]\nendpoints = %s\nhost = h%04zu\ndomain = d%02zu\nhooks = %s\ninstall = hook\n"
           "request_timeout = 2s\nhook_timeout = 10s\nlease_ttl = 30s\n",
           endpoints, i, i % ndomains, hooks);
  hpmh_status st;
  if (hpmh_write_file(h->conf, (const uint8_t *)text, strlen(text), 0644, 0, &st)) return -1;
  return 0;
}

/* A fresh connection: the agent of a new boot. */
static int open_host(sim_host *h) {
  if (h->open) {
    h->requests += h->conn.etcd.requests;
    for (int k = 0; k < FL_NCALLS; k++) h->requests_by[k] += h->conn.etcd.requests_by[k];
    fl_close(&h->conn);
  }
  hpm_ctx_init(&h->ctx);
  h->ctx.conf = h->conf;
  h->ctx.state_dir = h->state;
  hpmh_status st;
  if (fl_open(&h->ctx, &h->conn, &st)) {
    fprintf(stderr, "fleet_sim: %s: %s\n", h->conf, st.detail);
    return -1;
  }
  h->open = true;
  return 0;
}

/* One step of h; true when it should step again at once (a reboot). */
static bool step(sim_host *h, fl_step_report *rep) {
  hpmh_status st;
  fl_phase before = h->phase;
  uint64_t t0 = now_ns();
  int rc = fl_step(&h->conn, rep, &st);
  uint64_t t1 = now_ns();
  h->steps++;
  if (!h->stepped) {
    h->stepped = true;
    atomic_fetch_add(&nstepped, 1);
  }
  if (rc) {
    fprintf(stderr, "fleet_sim: %s: %s\n", h->conn.host, st.detail);
    memset(rep, 0, sizeof *rep); /* wait the fallback time, then again */
    return false;
  }
  bool moved = rep->in_rollout && rep->phase != before;
  if (rep->in_rollout) h->phase = rep->phase;
  if (moved) {
    pthread_mutex_lock(&mu);
    int moves = (int)rep->phase - (int)before;
    add(&moving, (t1 - t0) / (uint64_t)(moves > 0 ? moves : 1));
    if (before == FL_WAITING && fl_phase_out(rep->phase) && freed_head < nfreed)
      add(&handoff, t1 - freed[freed_head++]);
    if (!fl_phase_out(rep->phase) && fl_phase_out(before)) freed[nfreed++] = t1;
    pthread_mutex_unlock(&mu);
  }
  if (rep->finished && !h->finished) {
    h->finished = true;
    atomic_fetch_add(&nfinished, 1);
  }
  if (rep->rebooting) { /* the next boot: a new agent, at once */
    if (open_host(h)) atomic_store(&failed, true);
    return true;
  }
  return false;
}

static uint64_t deadline;

/* A host: steps, and between steps waits as the agent does (fl_wait: its
 * turn, watched in etcd), at most poll_ms. */
static void *host_main(void *p) {
  sim_host *h = p;
  while (now_ns() < deadline && !atomic_load(&failed) && !h->finished) {
    fl_step_report rep;
    if (!step(h, &rep) && !h->finished) fl_wait(&h->conn, &rep, poll_ms);
  }
  return NULL;
}

static void usage(void) {
  fputs("usage: fleet_sim --root DIR --endpoints URLS --hosts N [--domains D] [--poll-ms P] [--timeout S]\n",
        stderr);
}

int main(int argc, char **argv) {
  const char *root = NULL, *endpoints = NULL;
  size_t ndomains = 10;
  long timeout_s = 600;
  static const struct option lo[] = {{"root", required_argument, 0, 'r'},    {"endpoints", required_argument, 0, 'e'},
                                     {"hosts", required_argument, 0, 'n'},   {"domains", required_argument, 0, 'd'},
                                     {"poll-ms", required_argument, 0, 'p'},
                                     {"timeout", required_argument, 0, 's'}, {"help", no_argument, 0, 'h'},
                                     {0, 0, 0, 0}};
  int o;
  while ((o = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    switch (o) {
      case 'r': root = optarg; break;
      case 'e': endpoints = optarg; break;
      case 'n': nhosts = strtoul(optarg, NULL, 10); break;
      case 'd': ndomains = strtoul(optarg, NULL, 10); break;
      case 'p': poll_ms = strtol(optarg, NULL, 10); break;
      case 's': timeout_s = strtol(optarg, NULL, 10); break;
      case 'h': usage(); return 0;
      default: usage(); return 2;
    }
  }
  if (!root || !endpoints || !nhosts || nhosts > 10000 || !ndomains || poll_ms < 1 || timeout_s < 1) {
    usage();
    return 2;
  }
  hosts = calloc(nhosts, sizeof *hosts);
  freed = calloc(nhosts + 1, sizeof *freed);
  if (!hosts || !freed) return 1;
  hpm_http_global(); /* once, before the threads */
  for (size_t i = 0; i < nhosts; i++)
    if (setup(root, endpoints, i, ndomains) || open_host(&hosts[i])) {
      fprintf(stderr, "fleet_sim: cannot set up host %zu under %s: %s\n", i, root, strerror(errno));
      return 1;
    }
  deadline = now_ns() + (uint64_t)timeout_s * 1000000000u;
  pthread_t *th = calloc(nhosts, sizeof *th);
  pthread_attr_t attr;
  if (!th || pthread_attr_init(&attr) || pthread_attr_setstacksize(&attr, 2u << 20)) return 1;
  for (size_t i = 0; i < nhosts; i++)
    if (pthread_create(&th[i], &attr, host_main, &hosts[i])) {
      fprintf(stderr, "fleet_sim: cannot start the thread of host %zu: %s\n", i, strerror(errno));
      return 1;
    }
  while (atomic_load(&nstepped) < nhosts && now_ns() < deadline) usleep(20000);
  printf("registered\n");
  fflush(stdout);
  for (size_t i = 0; i < nhosts; i++) pthread_join(th[i], NULL);
  uint64_t req_sum = 0, req_max = 0, steps_sum = 0, by[FL_NCALLS] = {0};
  for (size_t i = 0; i < nhosts; i++) {
    for (int k = 0; k < FL_NCALLS; k++) by[k] += hosts[i].requests_by[k] + hosts[i].conn.etcd.requests_by[k];
    uint64_t r = hosts[i].requests + hosts[i].conn.etcd.requests;
    req_sum += r;
    if (r > req_max) req_max = r;
    steps_sum += hosts[i].steps;
  }
  sort(&moving);
  sort(&handoff);
  size_t done = atomic_load(&nfinished);
  printf("{\"hosts\": %zu, \"finished\": %zu, \"requests_mean\": %.1f, \"requests_max\": %" PRIu64
         ", \"steps_mean\": %.1f, \"moving_steps\": %zu, \"moving_p50_ms\": %.1f, \"moving_p99_ms\": %.1f"
         ", \"handoffs\": %zu, \"handoff_p50_ms\": %.1f, \"handoff_p99_ms\": %.1f, \"requests_by\": {",
         nhosts, done, (double)req_sum / (double)nhosts, req_max, (double)steps_sum / (double)nhosts, moving.n,
         pct(&moving, 0.5), pct(&moving, 0.99), handoff.n, pct(&handoff, 0.5), pct(&handoff, 0.99));
  for (int k = 0; k < FL_NCALLS; k++)
    printf("%s\"%s\": %.2f", k ? ", " : "", fl_call_path((fl_call)k), (double)by[k] / (double)nhosts);
  printf("}}\n");
  return done == nhosts && !atomic_load(&failed) ? 0 : 1;
}
