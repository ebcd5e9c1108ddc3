/* SPDX-License-Identifier: MIT */
/*
 * The agent's side of the fleet (fleet.h, docs/fleet.md "The agent"): when
 * the policy has [fleet] endpoints, `hpm agent` runs fl_step in a thread of
 * its own, every [fleet] step_interval, so that hooks that run for minutes
 * never stall the agent's loop (patching new processes, the health window,
 * watchdog pings, SIGHUP).  A second small thread keeps this host's lease
 * alive while a step is busy in a hook.
 *
 * The fleet thread works on its own copy of the context (its policy is
 * replaced between steps after a reload, never under a step), blocks the
 * agent's signals, and on stop kills a running hook (runhook.h) and writes
 * nothing more: the host's record stays in its phase, and the next agent
 * goes on from there (a phase's hook runs again then: hooks are idempotent).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "fleet/fleet.h"
#include "http.h"

static struct {
  pthread_t step, keeper;
  bool running;
  atomic_bool stop;
  pthread_mutex_t mu;
  pthread_cond_t cv;          /* wakes the threads' waits early: stop */
  bool pending;               /* a reloaded policy waits in `policy` */
  hpm_policy policy;
  hpm_ctx ctx;                /* the fleet thread's own context */
  fl_conn conn;
  char lease_path[POLICY_PATH_MAX + 32];
  /* the keeper's etcd, as at start (a reload changing them starts again) */
  char endpoints[POLICY_SOURCE_MAX + 1];
  uint32_t ttl_s, timeout_ms;
} A = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...) {
  char line[1400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  printf("fleet: %s\n", line);
  fflush(stdout);
}

/* Wait up to ms, or until stop.  Returns true when stopping. */
static bool nap(unsigned ms) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += ms / 1000;
  ts.tv_nsec += (long)(ms % 1000) * 1000000L;
  if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
  pthread_mutex_lock(&A.mu);
  while (!atomic_load(&A.stop) && pthread_cond_timedwait(&A.cv, &A.mu, &ts) != ETIMEDOUT) {}
  pthread_mutex_unlock(&A.mu);
  return atomic_load(&A.stop);
}

/* (Re)connect with the policy of A.ctx, keeping what this process knows of
 * its turn (lease, the work done in a phase, a reboot started). */
static int reopen(hpmh_status *st) {
  fl_conn n;
  if (fl_open(&A.ctx, &n, st)) return -1;
  if (A.conn.ctx) {
    n.lease = A.conn.lease;
    n.rebooted = A.conn.rebooted;
    n.worked_phase = A.conn.worked_phase;
    n.worked_since = A.conn.worked_since;
    n.lease_at = A.conn.lease_at;
    fl_close(&A.conn);
  }
  n.cancel = &A.stop;
  A.conn = n;
  return 0;
}

static void *step_main(void *arg) {
  (void)arg;
  char last[sizeof ((fl_step_report *)0)->note] = "", last_err[sizeof ((hpmh_status *)0)->detail] = "";
  hpmh_status st;
  if (reopen(&st)) {
    say("not started: %s", st.detail);
    return NULL;
  }
  say("%s (domain %s) stepping every %u s through %s", A.conn.host, A.conn.domain, A.conn.p->fleet_step_interval_s,
      A.conn.p->fleet_endpoints);
  while (!atomic_load(&A.stop)) {
    pthread_mutex_lock(&A.mu);
    bool fresh = A.pending;
    if (fresh) {
      A.ctx.policy = A.policy;
      A.ctx.keys_loaded = false; /* the trust store is read again too */
      A.pending = false;
    }
    pthread_mutex_unlock(&A.mu);
    if (fresh && reopen(&st)) say("reload: %s; the connection before stays in use", st.detail);
    fl_step_report rep;
    bool stepped = false;
    if (fl_step(&A.conn, &rep, &st)) {
      if (atomic_load(&A.stop)) break;
      /* etcd unreachable, a record broken: nothing moves; try again */
      if (strcmp(st.detail, last_err)) say("%s", st.detail);
      snprintf(last_err, sizeof last_err, "%s", st.detail);
      last[0] = 0;
    } else {
      last_err[0] = 0;
      if (strcmp(rep.note, last)) say("%s: %s", A.conn.host, rep.note);
      snprintf(last, sizeof last, "%s", rep.note);
      stepped = true;
    }
    /* until what this host waits for changes in etcd (its turn), at most an interval */
    if (stepped) fl_wait(&A.conn, &rep, (long)A.conn.p->fleet_step_interval_s * 1000);
    else nap(A.conn.p->fleet_step_interval_s * 1000u);
  }
  fl_close(&A.conn);
  return NULL;
}

/* The lease's ID is the one the step last wrote to STATE/fleet-lease: one
 * keepalive every third of [fleet] lease_ttl, so a hook that runs longer
 * than the lease does not make this host look dead.  A lease etcd no longer
 * knows is left to the step (it grants a new one). */
static void *keeper_main(void *arg) {
  (void)arg;
  fl_etcd e;
  hpmh_status st;
  if (fl_etcd_init(&e, A.endpoints, (long)A.timeout_ms, &st)) return NULL;
  unsigned every_ms = A.ttl_s * 1000u / 3;
  while (!nap(every_ms)) {
    int64_t id = 0;
    FILE *f = fopen(A.lease_path, "re");
    if (f) {
      if (fscanf(f, "%" SCNd64, &id) != 1) id = 0;
      fclose(f);
    }
    if (id) (void)fl_etcd_lease_keepalive(&e, id, NULL, &st);
  }
  return NULL;
}

static int start(const hpm_ctx *ctx) {
  A.ctx = *ctx;
  memset(&A.conn, 0, sizeof A.conn);
  A.pending = false;
  atomic_store(&A.stop, false);
  hpmh_status st;
  fl_conn probe;
  if (fl_open(&A.ctx, &probe, &st)) {
    say("not started: %s", st.detail);
    return -1;
  }
  snprintf(A.endpoints, sizeof A.endpoints, "%s", A.ctx.policy.fleet_endpoints);
  A.ttl_s = A.ctx.policy.fleet_lease_ttl_s;
  A.timeout_ms = A.ctx.policy.fleet_request_timeout_ms;
  snprintf(A.lease_path, sizeof A.lease_path, "%s/fleet-lease", A.ctx.state_dir);
  hpm_http_global(); /* libcurl's global set-up, once, before any thread uses it */
  /* the threads never take the agent's signals (SIGTERM, SIGHUP): the loop's */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  int rc = pthread_create(&A.step, NULL, step_main, NULL);
  if (!rc && pthread_create(&A.keeper, NULL, keeper_main, NULL)) {
    atomic_store(&A.stop, true);
    pthread_join(A.step, NULL);
    rc = -1;
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc) {
    say("not started: cannot start a thread: %s", strerror(rc > 0 ? rc : EAGAIN));
    return -1;
  }
  A.running = true;
  return 0;
}

int fl_agent_start(const hpm_ctx *ctx) {
  const hpm_policy *p = ctx->policy_loaded && ctx->policy_res != POLICY_ERROR ? &ctx->policy : NULL;
  if (!p || !p->fleet_endpoints[0]) return 0;
  return start(ctx);
}

void fl_agent_stop(void) {
  if (!A.running) return;
  pthread_mutex_lock(&A.mu);
  atomic_store(&A.stop, true);
  pthread_cond_broadcast(&A.cv);
  pthread_mutex_unlock(&A.mu);
  pthread_join(A.step, NULL);
  pthread_join(A.keeper, NULL);
  A.running = false;
  say("stopped");
}

void fl_agent_reload(const hpm_ctx *ctx) {
  bool want = ctx->policy_loaded && ctx->policy_res != POLICY_ERROR && ctx->policy.fleet_endpoints[0];
  if (A.running && (!want || strcmp(ctx->policy.fleet_endpoints, A.endpoints) ||
                    ctx->policy.fleet_lease_ttl_s != A.ttl_s || ctx->policy.fleet_request_timeout_ms != A.timeout_ms)) {
    fl_agent_stop(); /* no fleet any more, or the keeper's etcd changed: start again below */
  }
  if (!A.running) {
    if (want) start(ctx);
    return;
  }
  pthread_mutex_lock(&A.mu);
  A.policy = ctx->policy;
  A.pending = true;
  pthread_mutex_unlock(&A.mu);
}
