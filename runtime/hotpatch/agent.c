/* SPDX-License-Identifier: MIT */
/*
 * The agent: new processes of the applied hotpatch's binaries are patched
 * as they start (exec events of the kernel's proc connector; a periodic
 * /proc scan catches whatever the events missed), the verifying window of
 * the applied hotpatch is watched (exit events of patched processes, the
 * health checks: health.h), and the update room's periodic assessment runs
 * in the same loop (internal.h).
 */
#include <errno.h>
#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "fleet/fleet.h"
#include "hostfacts.h"
#include "hotpatch/health.h"
#include "hotpatch/internal.h"
#include "msg.h"
#include "service.h"
#include "update/policy.h"
#include "update/update.h"

static volatile sig_atomic_t agent_stop, agent_reload;
static void on_term(int s) { (void)s; agent_stop = 1; }
static void on_hup(int s) { (void)s; agent_reload = 1; }

/* SIGHUP: the policy file and the trust store again; a broken file is
 * reported (file, line, fix) and the policy in use stays. */
static void agent_reread(hpm_ctx *ctx, const char *watching) {
  hpm_service_reloading("reading %s again", ctx->conf);
  hpmh_status st;
  if (hpm_ctx_reload(ctx, &st)) {
    msg("agent: reload: %s", st.detail);
    hpm_service_ready("%s; reload failed: %s", watching, st.detail);
    return;
  }
  printf("agent: reloaded %s\n", ctx->conf);
  fflush(stdout);
  update_agent_reconfigure();
  fl_agent_reload(ctx);
  hpm_service_ready("%s", watching);
}

static int proc_connector(void) {
  int s = socket(PF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_CONNECTOR);
  if (s < 0) return -1;
  struct sockaddr_nl a = {.nl_family = AF_NETLINK, .nl_groups = CN_IDX_PROC, .nl_pid = 0};
  if (bind(s, (struct sockaddr *)&a, sizeof a)) { close(s); return -1; }
  struct {
    struct nlmsghdr h;
    struct cn_msg c;
    enum proc_cn_mcast_op op;
  } __attribute__((packed)) m;
  memset(&m, 0, sizeof m);
  m.h.nlmsg_len = sizeof m;
  m.h.nlmsg_type = NLMSG_DONE;
  m.h.nlmsg_pid = (uint32_t)getpid();
  m.c.id.idx = CN_IDX_PROC;
  m.c.id.val = CN_VAL_PROC;
  m.c.len = sizeof m.op;
  m.op = PROC_CN_MCAST_LISTEN;
  if (send(s, &m, sizeof m, 0) != (ssize_t)sizeof m) { close(s); return -1; }
  int big = 1 << 20;
  setsockopt(s, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
  return s;
}

/*
 * The crash-loop breaker: the processes the agent patched lately, and the
 * crashes of those that died of a crash signal within [health]
 * crash_loop_period of being patched.  crash_loop of them within that
 * period revert the hotpatch (health.h): never a restart loop fed by hpm.
 * Kept in memory: an agent restart starts counting again.
 */
#define RECENT_MAX 256
typedef struct {
  struct { pid_t pid; uint64_t when; char exe[256]; } recent[RECENT_MAX];
  unsigned nrecent;      /* ring: recent[nrecent % RECENT_MAX] is the oldest once full */
  uint64_t crashes[64];  /* times of counted crashes, ring */
  unsigned ncrashes;
} breaker;

static void breaker_patched(breaker *b, pid_t pid, const char *exe) {
  unsigned i = b->nrecent++ % RECENT_MAX;
  b->recent[i].pid = pid;
  b->recent[i].when = hpm_now();
  snprintf(b->recent[i].exe, sizeof b->recent[i].exe, "%s", exe);
}

/* pid exited with code: a crash soon after the agent patched it?  Returns
 * true when the breaker trips (*why says why). */
static bool breaker_exit(breaker *b, const hpm_policy *p, pid_t pid, uint32_t code, char *why, size_t n) {
  int sig = (int)(code & 0x7f);
  if (!p->crash_loop || !hp_health_crash_signal(sig)) return false;
  uint64_t now = hpm_now();
  unsigned have = b->nrecent < RECENT_MAX ? b->nrecent : RECENT_MAX;
  const char *exe = NULL;
  for (unsigned i = 0; i < have && !exe; i++)
    if (b->recent[i].pid == pid && now - b->recent[i].when <= p->crash_loop_period_s) {
      exe = b->recent[i].exe;
      b->recent[i].pid = 0; /* counted once */
    }
  if (!exe) return false;
  b->crashes[b->ncrashes++ % 64] = now;
  unsigned in = 0;
  for (unsigned i = 0; i < (b->ncrashes < 64 ? b->ncrashes : 64); i++) in += now - b->crashes[i] <= p->crash_loop_period_s;
  if (in < p->crash_loop) return false;
  const char *abbrev = sigabbrev_np(sig);
  snprintf(why, n, "crash loop: %u processes the agent patched died within %u s of being patched (the last: pid %d "
           "(%.200s), SIG%s)", in, p->crash_loop_period_s, (int)pid, exe, abbrev ? abbrev : "?");
  memset(b, 0, sizeof *b);
  return true;
}

/* Patch pid to h where it runs another sequence (or none). */
static int patch_pid(hp_op *op, const hp_hotpatch *h, pid_t pid, breaker *b) {
  hp_match m[8];
  int nm = hp_proc_match(op->elf, pid, h, m, 8), n = 0;
  if (nm) hp_adopt_proc(op, pid, hp_proc_starttime(pid)); /* a child forked from a patched process */
  for (int i = 0; i < nm; i++) {
    uint64_t start = hp_proc_starttime(pid);
    char sp[HP_PATH_MAX];
    hp_journal_path(op->ctx, sp, sizeof sp, pid, start, m[i].pl->build_id, "state");
    hp_journal s;
    if (hp_journal_read(sp, &s) == 0) {
      int same = s.seq == h->m.sequence;
      hp_journal_free(&s);
      if (same) continue;
    }
    hp_proc_result pr;
    if (hp_transition_proc(op, &m[i], h, &pr) == HP_OK) {
      n++;
      printf("agent: pid %d (%s): patched to seq %u, pause %u us\n", pid, m[i].exe, h->m.sequence, pr.pause_us);
      fflush(stdout);
      breaker_patched(b, pid, m[i].exe);
    }
  }
  return n;
}

int hp_agent(hpm_ctx *ctx, bool once, bool assess) {
  hpmh_status st;
  hp_store_mkdirs(ctx);
  int lock = hp_store_lock(ctx, &st);
  if (lock < 0) { msg("%s", st.detail); return 3; }
  /* the ELF facts of the host's binaries, for the agent's lifetime */
  hp_elf_cache *elf = calloc(1, sizeof *elf);
  if (!elf) { msg("agent: out of memory"); hp_store_unlock(lock); return 3; }
  hp_op op = {ctx, NULL, 0, elf};
  breaker *brk = calloc(1, sizeof *brk);
  if (!brk) { msg("agent: out of memory"); free(elf); hp_store_unlock(lock); return 3; }
  hp_recover_all(&op);
  flock(lock, LOCK_UN);
  agent_stop = agent_reload = 0;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_term;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sa.sa_handler = on_hup;
  sigaction(SIGHUP, &sa, NULL);
  int s = proc_connector();
  if (s < 0)
    hpm_msg_at(HPM_MSG_WARNING, "agent: proc connector unavailable (%s): falling back to periodic scans",
               strerror(errno));
  printf("agent: watching%s\n", s < 0 ? " (scan only)" : "");
  if (!assess) printf("agent: periodic assessment off (--no-assess): hpm-assess.timer runs 'hpm install --auto'\n");
  fflush(stdout);
  char watching[160];
  snprintf(watching, sizeof watching, "watching new processes%s%s", s < 0 ? " (/proc scans only)" : "",
           assess ? "" : "; assessment by hpm-assess.timer");
  /* the loop turns at least every half watchdog interval (it pings then) */
  uint64_t wd_us = hpm_service_watchdog_init();
  int turn_ms = wd_us && wd_us / 2000 < 500 ? (int)(wd_us / 2000) : 500;
  if (turn_ms < 1) turn_ms = 1;
  if (!once) fl_agent_start(ctx); /* [fleet]: this host's turns in the cluster's rollouts, in a thread */
  hpm_service_ready("%s", watching);
  uint32_t loaded_seq = (uint32_t)-1;
  hp_hotpatch h;
  int have = 0;
  time_t last_scan = 0;
  while (!agent_stop) {
    hpm_service_watchdog();
    if (agent_reload) {
      agent_reload = 0;
      agent_reread(ctx, watching);
    }
    if (assess) update_agent_tick(ctx); /* periodic assessment + automatic installs, when due */
    hp_health_tick(ctx);    /* the verifying window: checks, commit, an automatic revert to finish */
    hpm_applied applied;
    hostfacts_applied_read(ctx, &applied);
    if (applied.seq != loaded_seq) {
      if (have) hp_hotpatch_free(&h);
      have = 0;
      loaded_seq = applied.seq;
      char sp[HP_PATH_MAX];
      hp_stored_path(ctx, sp, sizeof sp, applied.seq);
      if (applied.seq) {
        if (hp_load_verified(ctx, sp, &h, &st) == 0) have = 1;
        else msg("%s", st.detail);
      }
      last_scan = 0;
    }
    if (have && time(NULL) - last_scan >= 2) { /* safety net for anything the events missed */
      flock(lock, LOCK_EX);
      pid_t *pids;
      int np = hp_pids(&pids);
      for (int i = 0; i < np; i++) patch_pid(&op, &h, pids[i], brk);
      free(pids);
      flock(lock, LOCK_UN);
      last_scan = time(NULL);
    }
    /* --once: one assessment tick and one scan (none without a hotpatch) */
    if (once) break;
    if (s < 0) { usleep((useconds_t)(turn_ms < 200 ? turn_ms : 200) * 1000); continue; }
    struct pollfd pf = {s, POLLIN, 0};
    if (poll(&pf, 1, turn_ms) <= 0) continue;
    char buf[8192];
    ssize_t n = recv(s, buf, sizeof buf, 0);
    if (n < 0) { if (errno == ENOBUFS) last_scan = 0; continue; }
    for (struct nlmsghdr *nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, (size_t)n); nh = NLMSG_NEXT(nh, n)) {
      struct cn_msg *cn = NLMSG_DATA(nh);
      if (cn->id.idx != CN_IDX_PROC || cn->len < sizeof(struct proc_event)) continue;
      struct proc_event *ev = (struct proc_event *)cn->data;
      if (ev->what == PROC_EVENT_EXIT) {
        pid_t tg = ev->event_data.exit.process_tgid;
        uint32_t code = ev->event_data.exit.exit_code;
        char why[512];
        const hpm_policy *pol = hpm_ctx_policy(ctx, NULL, NULL);
        if (hp_health_exit(ctx, tg, code)) /* a patched process dying of a crash signal fails the window */
          memset(brk, 0, sizeof *brk);
        else if (ev->event_data.exit.process_pid == tg && pol && breaker_exit(brk, pol, tg, code, why, sizeof why))
          hp_health_crash_loop(ctx, why);
        continue;
      }
      if (ev->what != PROC_EVENT_EXEC || !have) continue;
      pid_t pid = ev->event_data.exec.process_tgid;
      flock(lock, LOCK_EX);
      patch_pid(&op, &h, pid, brk);
      flock(lock, LOCK_UN);
    }
  }
  if (!once) hpm_service_status("stopping");
  fl_agent_stop();
  if (have) hp_hotpatch_free(&h);
  if (s >= 0) close(s);
  free(brk);
  free(elf);
  hp_store_unlock(lock);
  return 0;
}
