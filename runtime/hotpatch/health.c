/* SPDX-License-Identifier: MIT */
/* The verifying window after a hotpatch is applied: see health.h. */
#include "hotpatch/health.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "clock.h"
#include "fileio.h"
#include "hex.h"
#include "hostfacts.h"
#include "hotpatch/hooks.h"
#include "hotpatch/internal.h"
#include "hotpatch/units.h"
#include "json.h"
#include "jsonout.h"
#include "msg.h"
#include "runhook.h"
#include "update/policy.h"
#include "update/update.h"
#include "update/windows.h"

static const char *const state_names[] = {"none", "verifying", "reverting", "committed", "reverted"};

const char *hp_health_state_name(hp_health_state s) {
  return (unsigned)s < sizeof state_names / sizeof state_names[0] ? state_names[s] : "none";
}

static void health_path(const hpm_ctx *ctx, char *o, size_t n) { snprintf(o, n, "%s/health", ctx->state_dir); }
static void bad_path(const hpm_ctx *ctx, char *o, size_t n) { snprintf(o, n, "%s/bad", ctx->state_dir); }

static uint64_t mono_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- the window record: "key value" lines ---- */
void hp_health_read(const hpm_ctx *ctx, hp_health *w) {
  memset(w, 0, sizeof *w);
  char p[HP_PATH_MAX], line[768];
  health_path(ctx, p, sizeof p);
  FILE *f = fopen(p, "re");
  if (!f) return;
  hp_health r;
  memset(&r, 0, sizeof r);
  int ended = 0;
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = 0;
    char *v = strchr(line, ' ');
    if (!v) { ended |= !strcmp(line, "end"); continue; }
    *v++ = 0;
    if (!strcmp(line, "state")) {
      for (size_t i = 0; i < sizeof state_names / sizeof state_names[0]; i++)
        if (!strcmp(v, state_names[i])) r.state = (hp_health_state)i;
    } else if (!strcmp(line, "seq")) r.seq = (uint32_t)strtoul(v, NULL, 10);
    else if (!strcmp(line, "prev")) r.prev_seq = (uint32_t)strtoul(v, NULL, 10);
    else if (!strcmp(line, "id")) snprintf(r.id, sizeof r.id, "%s", v);
    else if (!strcmp(line, "started")) r.started = strtoull(v, NULL, 10);
    else if (!strcmp(line, "until")) r.until = strtoull(v, NULL, 10);
    else if (!strcmp(line, "started_mono_us")) r.started_mono_us = strtoull(v, NULL, 10);
    else if (!strcmp(line, "next_check")) r.next_check = strtoull(v, NULL, 10);
    else if (!strcmp(line, "ended")) r.ended = strtoull(v, NULL, 10);
    else if (!strcmp(line, "reason")) snprintf(r.reason, sizeof r.reason, "%s", v);
    else if (!strcmp(line, "kernel")) r.kernel = !strcmp(v, "1");
    else if (!strcmp(line, "ktaint")) r.ktaint = strtoull(v, NULL, 10);
    else if (!strcmp(line, "unit") && r.nunits < HP_HEALTH_UNITS) {
      char *n = strchr(v, ' ');
      if (!n || (size_t)(n - v) >= sizeof r.units[0].name) continue;
      *n++ = 0;
      snprintf(r.units[r.nunits].name, sizeof r.units[0].name, "%s", v);
      r.units[r.nunits++].restarts = (uint32_t)strtoul(n, NULL, 10);
    }
  }
  fclose(f);
  if (ended) *w = r; /* a record cut short is no record (it is replaced whole, so this is a foreign file) */
}

/* One line of text: what a record line may hold. */
static void one_line(char *s) {
  for (; *s; s++)
    if (*s == '\n' || *s == '\r') *s = ' ';
}

static int health_write(const hpm_ctx *ctx, hp_health *w) {
  one_line(w->reason);
  one_line(w->id);
  char buf[1300 + HP_HEALTH_UNITS * 160], p[HP_PATH_MAX];
  int n = snprintf(buf, sizeof buf,
                   "hpm-health 1\nstate %s\nseq %u\nprev %u\nid %s\nstarted %" PRIu64 "\nuntil %" PRIu64
                   "\nstarted_mono_us %" PRIu64 "\nnext_check %" PRIu64 "\nended %" PRIu64 "\nreason %s\n"
                   "kernel %d\nktaint %" PRIu64 "\n",
                   hp_health_state_name(w->state), w->seq, w->prev_seq, w->id, w->started, w->until,
                   w->started_mono_us, w->next_check, w->ended, w->reason, w->kernel ? 1 : 0, w->ktaint);
  for (size_t i = 0; i < w->nunits && i < HP_HEALTH_UNITS; i++)
    n += snprintf(buf + n, sizeof buf - (size_t)n, "unit %s %u\n", w->units[i].name, w->units[i].restarts);
  n += snprintf(buf + n, sizeof buf - (size_t)n, "end\n");
  health_path(ctx, p, sizeof p);
  hpmh_status st;
  if (hpmh_write_file(p, (const uint8_t *)buf, (size_t)n, 0644, 0, &st)) {
    msg("%s", st.detail);
    return -1;
  }
  return 0;
}

/* ---- the bad marks: one line each, "SEQ BASELINE TIME ID REASON" ---- */
int hp_bad_list(const hpm_ctx *ctx, hp_bad **out) {
  *out = NULL;
  char p[HP_PATH_MAX], line[1024];
  bad_path(ctx, p, sizeof p);
  FILE *f = fopen(p, "re");
  if (!f) return 0;
  int n = 0, cap = 0;
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = 0;
    hp_bad b;
    memset(&b, 0, sizeof b);
    char hex[2 * HPM_DIGEST_LEN + 2], id[64];
    int used = 0;
    unsigned long long t;
    if (sscanf(line, "%" SCNu32 " %65s %llu %63s %n", &b.seq, hex, &t, id, &used) != 4 || !used ||
        hpmh_parse_hex(hex, b.baseline, HPM_DIGEST_LEN))
      continue;
    b.time = t;
    snprintf(b.id, sizeof b.id, "%s", id);
    snprintf(b.reason, sizeof b.reason, "%s", line + used);
    if (n == cap) {
      hp_bad *g = realloc(*out, (size_t)(cap = cap ? 2 * cap : 8) * sizeof *g);
      if (!g) break;
      *out = g;
    }
    (*out)[n++] = b;
  }
  fclose(f);
  return n;
}

bool hp_bad_find(const hpm_ctx *ctx, const uint8_t baseline[HPM_DIGEST_LEN], uint32_t seq, hp_bad *b) {
  hp_bad *l;
  int n = hp_bad_list(ctx, &l);
  bool found = false;
  for (int i = n - 1; i >= 0 && !found; i--)
    if (l[i].seq == seq && !memcmp(l[i].baseline, baseline, HPM_DIGEST_LEN)) {
      found = true;
      if (b) *b = l[i];
    }
  free(l);
  return found;
}

/* Add a mark (the whole file rewritten: atomic, synced). */
static int bad_add(const hpm_ctx *ctx, uint32_t seq, const char *id, const char *reason) {
  hpm_running_baseline rb;
  if (hostfacts_running_baseline(ctx, &rb)) return -1;
  char p[HP_PATH_MAX];
  bad_path(ctx, p, sizeof p);
  uint8_t *old = NULL;
  size_t oldlen = 0;
  hpmh_status st;
  if (hpmh_read_file(p, 1u << 20, &old, &oldlen, &st)) { old = NULL; oldlen = 0; }
  char hex[2 * HPM_DIGEST_LEN + 1], r[512];
  hpm_fmt_hex(rb.digest, HPM_DIGEST_LEN, hex, sizeof hex);
  snprintf(r, sizeof r, "%s", reason);
  one_line(r);
  char add[1024];
  int k = snprintf(add, sizeof add, "%u %s %" PRIu64 " %s %s\n", seq, hex, hpm_now(), id[0] ? id : "-", r);
  uint8_t *all = malloc(oldlen + (size_t)k);
  if (!all) { free(old); return -1; }
  if (oldlen) memcpy(all, old, oldlen);
  memcpy(all + oldlen, add, (size_t)k);
  int rc = hpmh_write_file(p, all, oldlen + (size_t)k, 0644, 0, &st);
  if (rc) msg("%s", st.detail);
  free(all);
  free(old);
  return rc;
}

/* ---- the kernel's own trouble (a window of a hotpatch with a kernel part) ---- */
/* Taint flags that say the kernel hit trouble (Documentation/admin-guide/
 * tainted-kernels.rst): M machine check (4), B bad page (5), D died, an
 * oops (7), W a warning (9), L soft lockup (14).  Loading the livepatch
 * itself sets others (K livepatch, O out of tree, E unsigned): not these. */
#define KTAINT_TROUBLE ((1ull << 4) | (1ull << 5) | (1ull << 7) | (1ull << 9) | (1ull << 14))

static uint64_t read_taint(void) {
  FILE *f = fopen("/proc/sys/kernel/tainted", "re");
  unsigned long long t = 0;
  if (f) {
    if (fscanf(f, "%llu", &t) != 1) t = 0;
    fclose(f);
  }
  return t;
}

/* The letters of the trouble flags in t ("W", "DW", ...). */
static void taint_letters(uint64_t t, char *o, size_t n) {
  static const struct { int bit; char c; } f[] = {{4, 'M'}, {5, 'B'}, {7, 'D'}, {9, 'W'}, {14, 'L'}};
  size_t k = 0;
  for (size_t i = 0; i < sizeof f / sizeof f[0] && k + 1 < n; i++)
    if (t & (1ull << f[i].bit)) o[k++] = f[i].c;
  o[k] = 0;
}

bool hp_health_kernel_trouble(const char *text) {
  static const char *const starts[] = {"WARNING: CPU:", "Oops:", "BUG:", "general protection fault", "Kernel panic",
                                       "kernel BUG at"};
  for (size_t i = 0; i < sizeof starts / sizeof starts[0]; i++)
    if (!strncmp(text, starts[i], strlen(starts[i]))) return true;
  return false;
}

/* The first record of the kernel's trouble logged since since_us (the
 * log's clock), its text into first; true if there is one. */
static bool kmsg_trouble(uint64_t since_us, char *first, size_t n) {
  int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return false;
  char rec[8192];
  bool found = false;
  while (!found) {
    ssize_t k = read(fd, rec, sizeof rec - 1);
    if (k < 0 && errno == EPIPE) continue; /* overwritten meanwhile: the next one */
    if (k <= 0) break;
    rec[k] = 0;
    unsigned long long ts;
    char *semi = strchr(rec, ';');
    /* a record logged just after the start may carry a time some
     * milliseconds earlier (kmsg_fault): allow 100 ms */
    if (!semi || sscanf(rec, "%*u,%*u,%llu", &ts) != 1 || ts + 100000u < since_us) continue;
    char *text = semi + 1;
    text[strcspn(text, "\n")] = 0;
    if (hp_health_kernel_trouble(text)) {
      snprintf(first, n, "%s", text);
      found = true;
    }
  }
  close(fd);
  return found;
}

/* A window with a kernel part: the kernel's trouble since it began (a
 * record in the log, or a trouble taint flag it did not have), into why. */
static bool kernel_failed(const hp_health *w, char *why, size_t n) {
  char rec[300] = "", letters[8];
  uint64_t fresh = read_taint() & ~w->ktaint & KTAINT_TROUBLE;
  bool logged = kmsg_trouble(w->started_mono_us, rec, sizeof rec);
  if (!logged && !fresh) return false;
  taint_letters(fresh, letters, sizeof letters);
  if (logged && fresh)
    snprintf(why, n, "kernel log since the apply: \"%.240s\" (kernel tainted %s since)", rec, letters);
  else if (logged)
    snprintf(why, n, "kernel log since the apply: \"%.240s\"", rec);
  else
    snprintf(why, n, "the kernel became tainted %s since the apply (/proc/sys/kernel/tainted)", letters);
  return true;
}

/* ---- the window's hooks in hp_apply ---- */
void hp_health_begin(hpm_ctx *ctx, const hp_hotpatch *h, uint32_t prev) {
  const hpm_policy *p = hpm_ctx_policy(ctx, NULL, NULL);
  uint32_t win = p ? p->health_window_s : 300;
  hp_health w;
  memset(&w, 0, sizeof w);
  w.seq = h->m.sequence;
  w.prev_seq = prev;
  snprintf(w.id, sizeof w.id, "%s", h->m.id);
  w.started = hpm_now();
  w.started_mono_us = mono_us();
  w.until = w.started + win;
  w.next_check = w.started; /* the checks run at once, then every interval */
  w.kernel = h->m.kernel.present;
  w.ktaint = read_taint();
  w.state = win ? HP_HEALTH_VERIFYING : HP_HEALTH_COMMITTED;
  if (!win) {
    w.ended = w.started;
    snprintf(w.reason, sizeof w.reason, "committed at once ([health] window = 0)");
  }
  health_write(ctx, &w);
  if (!win) update_history_detail(ctx, "commit", w.id, "ok", NULL, "committed at once ([health] window = 0)");
}

void hp_health_restore(hpm_ctx *ctx, const hp_health *before) {
  char p[HP_PATH_MAX];
  hp_health b = *before;
  if (b.state != HP_HEALTH_NONE) { health_write(ctx, &b); return; }
  health_path(ctx, p, sizeof p);
  unlink(p);
}

void hp_health_reverted_to(hpm_ctx *ctx, uint32_t to) {
  hp_health w;
  hp_health_read(ctx, &w);
  if (w.state != HP_HEALTH_VERIFYING || w.seq <= to) return;
  w.state = HP_HEALTH_REVERTED;
  w.ended = hpm_now();
  snprintf(w.reason, sizeof w.reason, "reverted by hand to sequence %u during its window", to);
  health_write(ctx, &w);
}

void hp_health_new_boot(hpm_ctx *ctx) {
  hp_health w;
  hp_health_read(ctx, &w);
  if (w.state != HP_HEALTH_VERIFYING) return;
  w.started_mono_us = mono_us();
  w.ktaint = read_taint();
  health_write(ctx, &w);
}

/* ---- health signals ---- */
bool hp_health_crash_signal(int sig) {
  return sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE || sig == SIGABRT || sig == SIGTRAP ||
         sig == SIGSYS;
}

/*
 * The kernel's own report of a fault in the process whose threads are named
 * comm (and whose thread ids are pid or above), logged since the window
 * began: "comm[tid]: segfault at ADDR ip IP ...", "traps: comm[tid] trap
 * ... ip:IP ...", "comm[tid] general protection fault ip:IP ...".  The last
 * one found gives *ip.  Needs /dev/kmsg (root) and the kernel's
 * debug.exception-trace (on by default on x86-64).
 */
static bool kmsg_fault(const char *comm, pid_t pid, uint64_t since_us, uint64_t *ip) {
  int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return false;
  char rec[8192], key[32];
  snprintf(key, sizeof key, "%.15s[", comm);
  bool found = false;
  for (;;) {
    ssize_t n = read(fd, rec, sizeof rec - 1);
    if (n < 0 && errno == EPIPE) continue; /* records overwritten meanwhile: go on with the next */
    if (n <= 0) break;
    rec[n] = 0;
    unsigned long long ts;
    char *semi = strchr(rec, ';');
    /* the log's clock (the scheduler's) may trail CLOCK_MONOTONIC by some
     * milliseconds: a fault logged just after the window began can carry an
     * earlier time (17 ms measured in a VM); allow 2 s */
    if (!semi || sscanf(rec, "%*u,%*u,%llu", &ts) != 1 || ts + 2000000u < since_us) continue;
    char *m = strstr(semi + 1, key);
    if (!m) continue;
    long tid = strtol(m + strlen(key), NULL, 10);
    if (tid < pid) continue;
    char *at = strstr(m, " ip ");
    if (!at) at = strstr(m, " ip:");
    if (!at) continue;
    *ip = strtoull(at + 4, NULL, 16);
    found = true;
  }
  close(fd);
  return found;
}

/* The journal of pid carrying sequence seq, or moving to it (an intent:
 * the process may die of the new code before its state is recorded).  0 if
 * none. */
static int journal_of(const hpm_ctx *ctx, pid_t pid, uint32_t seq, hp_journal *out) {
  static const char *const suffix[] = {"state", "pending"};
  int found = 0;
  for (size_t k = 0; k < 2 && !found; k++) {
    char pat[HP_PATH_MAX];
    snprintf(pat, sizeof pat, "%s/procs/%d-*.%s", ctx->state_dir, (int)pid, suffix[k]);
    glob_t g;
    if (glob(pat, 0, NULL, &g)) continue;
    for (size_t i = 0; i < g.gl_pathc && !found; i++) {
      if (hp_journal_read(g.gl_pathv[i], out)) continue;
      if (out->pid == pid && out->seq == seq) found = 1;
      else hp_journal_free(out);
    }
    globfree(&g);
  }
  return found;
}

/* ---- the systemd units of patched processes ([health] units) ---- */
static bool units_watched(const hpm_ctx *ctx) {
  const hpm_policy *p = hpm_ctx_policy((hpm_ctx *)ctx, NULL, NULL);
  return (!p || p->health_units) && hp_units_systemd();
}

/* Add the units of live processes journaled at w's sequence that w does
 * not list yet.  True if any was added. */
static bool units_note(const hpm_ctx *ctx, hp_health *w) {
  if (!units_watched(ctx)) return false;
  glob_t g;
  if (hp_journal_glob(ctx, "state", &g)) return false;
  bool added = false;
  for (size_t i = 0; i < g.gl_pathc && w->nunits < HP_HEALTH_UNITS; i++) {
    hp_journal j;
    if (hp_journal_read(g.gl_pathv[i], &j)) continue;
    char unit[HP_UNIT_NAME_MAX], err[300];
    bool have = false;
    if (j.seq == w->seq && !hp_unit_of_pid(j.pid, unit)) {
      for (size_t k = 0; k < w->nunits && !have; k++) have = !strcmp(w->units[k].name, unit);
      hp_unit_state us;
      if (!have && !hp_unit_query(unit, &us, err, sizeof err)) {
        snprintf(w->units[w->nunits].name, sizeof w->units[0].name, "%s", unit);
        w->units[w->nunits++].restarts = us.nrestarts;
        added = true;
      } else if (!have) {
        msg("health: %s (sequence %u): not watching unit %s: %s", w->id, w->seq, unit, err);
      }
    }
    hp_journal_free(&j);
  }
  globfree(&g);
  return added;
}

void hp_health_note_units(hpm_ctx *ctx) {
  hp_health w;
  hp_health_read(ctx, &w);
  hpm_applied a;
  hostfacts_applied_read(ctx, &a);
  if (w.state == HP_HEALTH_VERIFYING && a.seq == w.seq && units_note(ctx, &w)) health_write(ctx, &w);
}

/* Each watched unit as systemd sees it now: failed, restarted since the
 * hotpatch reached it, or about to be restarted fills why (-1).  A unit
 * systemd cannot answer for (stopped and unloaded by an operator, no bus)
 * is a warning, not a failure. */
static int units_check(const hpm_ctx *ctx, const hp_health *w, char *why, size_t n) {
  if (!w->nunits || !units_watched(ctx)) return 0;
  for (size_t i = 0; i < w->nunits; i++) {
    hp_unit_state us;
    char err[300];
    if (hp_unit_query(w->units[i].name, &us, err, sizeof err)) {
      msg("health: %s (sequence %u): cannot ask systemd about %s: %s", w->id, w->seq, w->units[i].name, err);
      continue;
    }
    if (hp_unit_judge(w->units[i].name, w->units[i].restarts, &us, why, n)) return -1;
  }
  return 0;
}

/* ---- failing: revert automatically, mark bad ---- */
static int finish_revert(hpm_ctx *ctx, hp_health *w) {
  hp_opts o = {.is_revert = true};
  hp_report r;
  memset(&r, 0, sizeof r);
  int rc;
  if (w->prev_seq) {
    char sp[HP_PATH_MAX];
    hp_hotpatch h;
    hpmh_status st;
    hp_stored_path(ctx, sp, sizeof sp, w->prev_seq);
    rc = hp_load_verified(ctx, sp, &h, &st);
    if (rc) {
      msg("health: cannot revert %s to sequence %u: %s", w->id, w->prev_seq, st.detail);
    } else {
      rc = hp_apply(ctx, &h, &o, &r);
      hp_hotpatch_free(&h);
    }
  } else {
    rc = hp_revert_all(ctx, &o, &r);
  }
  if (r.st.code != HPMH_OK) msg("%s", r.st.detail);
  char res[700];
  if (rc) {
    snprintf(res, sizeof res, "automatic revert failed (exit %d): run hpm recover, then hpm revert", rc);
    msg("health: %s (sequence %u): %s", w->id, w->seq, res);
    update_history_detail(ctx, "health-revert", w->id, "failed", res, w->reason);
    /* tried again by the agent's ticks, once a [health] interval (not every turn) */
    const hpm_policy *p = hpm_ctx_policy(ctx, NULL, NULL);
    w->next_check = hpm_now() + (p ? p->health_interval_s : 30);
    health_write(ctx, w);
    return rc;
  }
  w->state = HP_HEALTH_REVERTED;
  w->ended = hpm_now();
  health_write(ctx, w);
  snprintf(res, sizeof res, "reverted to sequence %u: %s", w->prev_seq, w->reason);
  update_history_detail(ctx, "health-revert", w->id, "ok", NULL, res);
  printf("health: %s (sequence %u) reverted to sequence %u: %s; marked bad on this host\n", w->id, w->seq,
         w->prev_seq, w->reason);
  fflush(stdout);
  return 0;
}

/* The window judged (w, read before) failed for why: record it durably
 * under the state lock (unless the window changed meanwhile: a commit, a
 * revert by hand), mark the hotpatch bad, then revert (hp_apply takes the
 * lock itself). */
static int fail(hpm_ctx *ctx, hp_health *w, const char *why) {
  hpmh_status st;
  int lock = hp_store_lock(ctx, &st);
  if (lock < 0) { msg("%s", st.detail); return 3; }
  hp_health now;
  hp_health_read(ctx, &now);
  if (now.state != w->state || now.seq != w->seq || now.started != w->started) {
    hp_store_unlock(lock);
    return 0;
  }
  w->state = HP_HEALTH_REVERTING;
  w->next_check = 0; /* a run that finds it so (hpm died) finishes the revert at once */
  snprintf(w->reason, sizeof w->reason, "%s", why);
  int rc = health_write(ctx, w);
  if (!rc) bad_add(ctx, w->seq, w->id, why);
  hp_store_unlock(lock);
  if (rc) return 3;
  msg("health: %s (sequence %u) failed its window: %s; reverting", w->id, w->seq, why);
  const char *ex = hp_hooks()->exit_at; /* test hook: hpm dies with the revert begun */
  if (ex && !strcmp(ex, "health-reverting")) _exit(9);
  return finish_revert(ctx, w);
}

bool hp_health_exit(hpm_ctx *ctx, pid_t pid, uint32_t code) {
  int sig = (int)(code & 0x7f);
  if (!sig || !hp_health_crash_signal(sig)) return false;
  hp_health w;
  hp_health_read(ctx, &w);
  if (w.state != HP_HEALTH_VERIFYING) return false;
  hp_journal j;
  if (!journal_of(ctx, pid, w.seq, &j)) return false;
  const char *base = strrchr(j.exe, '/') ? strrchr(j.exe, '/') + 1 : j.exe;
  char why[512], where[200] = "";
  uint64_t ip = 0;
  if (kmsg_fault(base, pid, w.started_mono_us, &ip)) {
    const hp_map *in = NULL;
    for (int i = 0; i < j.nmaps && !in; i++)
      if (ip >= j.maps[i].addr && ip < j.maps[i].addr + j.maps[i].len) in = &j.maps[i];
    if (in)
      snprintf(where, sizeof where, ", fault at ip 0x%" PRIx64 " in the hotpatch's code (mapping 0x%" PRIx64 ")", ip,
               in->addr);
    else
      snprintf(where, sizeof where, ", fault at ip 0x%" PRIx64 " (outside the hotpatch's code)", ip);
  }
  const char *abbrev = sigabbrev_np(sig);
  char num[16];
  snprintf(num, sizeof num, "%d", sig);
  snprintf(why, sizeof why, "pid %d (%s) died of %s%s%s", (int)pid, j.exe, abbrev ? "SIG" : "signal ",
           abbrev ? abbrev : num, where);
  hp_journal_free(&j);
  fail(ctx, &w, why);
  return true;
}

bool hp_health_crash_loop(hpm_ctx *ctx, const char *why) {
  hp_health w;
  hp_health_read(ctx, &w);
  hpm_applied a;
  hostfacts_applied_read(ctx, &a);
  if (!a.seq || w.seq != a.seq || (w.state != HP_HEALTH_VERIFYING && w.state != HP_HEALTH_COMMITTED)) return false;
  fail(ctx, &w, why);
  return true;
}

/* ---- health checks: every executable in the [health] checks directory ---- */
static int visible(const struct dirent *e) {
  return !hpm_hook_skipped(e->d_name);
}

/* Run one check with the timeout; 0 if it passed, else *why says how it failed. */
static int run_check(const char *path, const hp_health *w, unsigned timeout_s, char *why, size_t n) {
  char seq[48], id[96];
  snprintf(seq, sizeof seq, "HPM_HOTPATCH_SEQUENCE=%u", w->seq);
  snprintf(id, sizeof id, "HPM_HOTPATCH_ID=%s", w->id);
  char *env[] = {"HPM_HEALTH_CONTEXT=hotpatch", seq, id, NULL};
  return hpm_run_hook(path, env, timeout_s * 1000u, why, n);
}

/* Run every check; a required one failing fills why and returns -1; a
 * wanted one (NAME.wanted) failing is a warning on stderr. */
static int run_checks(const hpm_policy *p, const hp_health *w, char *why, size_t n) {
  struct dirent **ents;
  int ne = scandir(p->health_dir, &ents, visible, alphasort);
  if (ne < 0) return 0; /* no checks */
  int rc = 0;
  for (int i = 0; i < ne; i++) {
    char path[HP_PATH_MAX], r[300];
    snprintf(path, sizeof path, "%s/%s", p->health_dir, ents[i]->d_name);
    struct stat sb;
    bool runnable = stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && access(path, X_OK) == 0;
    size_t len = strlen(ents[i]->d_name);
    bool wanted = len > 7 && !strcmp(ents[i]->d_name + len - 7, ".wanted");
    if (runnable && !rc && run_check(path, w, p->health_script_timeout_s, r, sizeof r)) {
      if (wanted) {
        msg("health: %s (sequence %u): wanted check %s failed (%s): a warning only", w->id, w->seq, path, r);
      } else {
        snprintf(why, n, "health check %.200s failed (%.280s)", path, r);
        rc = -1;
      }
    }
    free(ents[i]);
  }
  free(ents);
  return rc;
}

int hp_health_tick(hpm_ctx *ctx) {
  hpmh_status st;
  int lock = hp_store_lock(ctx, &st); /* an apply in progress holds it: its window is then complete */
  if (lock < 0) { msg("%s", st.detail); return 3; }
  hp_health w;
  hp_health_read(ctx, &w);
  if (w.state == HP_HEALTH_REVERTING) { /* hpm died while reverting, or the revert failed: when due */
    hp_store_unlock(lock);
    return hpm_now() >= w.next_check ? finish_revert(ctx, &w) : 0;
  }
  if (w.state != HP_HEALTH_VERIFYING) { hp_store_unlock(lock); return 0; }
  hpm_applied a;
  hostfacts_applied_read(ctx, &a);
  if (a.seq != w.seq) { /* another apply or revert took over without passing by hp_apply's hooks */
    w.state = HP_HEALTH_REVERTED;
    w.ended = hpm_now();
    snprintf(w.reason, sizeof w.reason, "the applied sequence became %u during the window", a.seq);
    health_write(ctx, &w);
    hp_store_unlock(lock);
    return 0;
  }
  if (hpm_now() >= w.next_check && units_note(ctx, &w)) health_write(ctx, &w); /* processes the agent patched */
  hp_store_unlock(lock);
  const hpm_policy *p = hpm_ctx_policy(ctx, NULL, NULL);
  hpm_policy defaults;
  if (!p) { policy_defaults(&defaults); p = &defaults; }
  uint64_t now = hpm_now();
  bool due = now >= w.next_check || now >= w.until;
  if (due) { /* the checks run without the lock: they may take a while */
    char why[512];
    if (w.kernel && p->health_kernel_log && kernel_failed(&w, why, sizeof why)) return fail(ctx, &w, why);
    if (units_check(ctx, &w, why, sizeof why) || run_checks(p, &w, why, sizeof why)) return fail(ctx, &w, why);
  }
  if (!due && now < w.until) return 0;
  lock = hp_store_lock(ctx, &st);
  if (lock < 0) { msg("%s", st.detail); return 3; }
  hp_health cur;
  hp_health_read(ctx, &cur);
  if (cur.state != HP_HEALTH_VERIFYING || cur.seq != w.seq || cur.started != w.started) { /* changed meanwhile */
    hp_store_unlock(lock);
    return 0;
  }
  w.nunits = cur.nunits; /* units an apply added meanwhile */
  memcpy(w.units, cur.units, sizeof w.units);
  int committed = now >= w.until;
  if (committed) {
    w.state = HP_HEALTH_COMMITTED;
    w.ended = now;
    snprintf(w.reason, sizeof w.reason, "healthy through its %" PRIu64 " s window", w.until - w.started);
  } else {
    w.next_check = now + p->health_interval_s;
  }
  health_write(ctx, &w);
  hp_store_unlock(lock);
  if (committed) {
    update_history_detail(ctx, "commit", w.id, "ok", NULL, w.reason);
    printf("health: %s (sequence %u) committed: %s\n", w.id, w.seq, w.reason);
    fflush(stdout);
  }
  return 0;
}

/* ---- what status and list show ---- */
void hp_health_json(const hpm_ctx *ctx, cJSON *obj) {
  hp_health w;
  hp_health_read(ctx, &w);
  cJSON *hw = cJSON_AddObjectToObject(obj, "health");
  hpmh_json_add_str(hw, "state", hp_health_state_name(w.state));
  if (w.state == HP_HEALTH_NONE) {
    static const char *const k[] = {"sequence", "id", "started", "until", "ended", "reason"};
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) hpmh_json_add_null(hw, k[i]);
  } else {
    hpmh_json_add_u64(hw, "sequence", w.seq);
    hpm_json_add_opt(hw, "id", w.id);
    hpm_json_add_time(hw, "started", w.started);
    hpm_json_add_time(hw, "until", w.until);
    hpm_json_add_time(hw, "ended", w.ended);
    hpm_json_add_opt(hw, "reason", w.reason);
  }
  cJSON *ua = cJSON_AddArrayToObject(hw, "units");
  for (size_t i = 0; i < w.nunits; i++) {
    cJSON *u = hpmh_json_add(ua, NULL, cJSON_CreateObject());
    hpmh_json_add_str(u, "name", w.units[i].name);
    hpmh_json_add_u64(u, "restarts_at_start", w.units[i].restarts);
  }
  hp_bad *bad;
  int nbad = hp_bad_list(ctx, &bad);
  cJSON *ba = cJSON_AddArrayToObject(obj, "bad");
  for (int i = 0; i < nbad; i++) {
    cJSON *b = hpmh_json_add(ba, NULL, cJSON_CreateObject());
    char hex[2 * HPM_DIGEST_LEN + 1];
    hpm_fmt_hex(bad[i].baseline, HPM_DIGEST_LEN, hex, sizeof hex);
    hpmh_json_add_u64(b, "sequence", bad[i].seq);
    hpm_json_add_opt(b, "id", strcmp(bad[i].id, "-") ? bad[i].id : "");
    hpmh_json_add_str(b, "baseline", hex);
    hpm_json_add_time(b, "time", bad[i].time);
    hpmh_json_add_str(b, "reason", bad[i].reason);
  }
  free(bad);
}

void hp_health_print_window(hpm_ctx *ctx, FILE *out) {
  hp_health w;
  hp_health_read(ctx, &w);
  if (w.state != HP_HEALTH_NONE) {
    const hpm_policy *p = hpm_ctx_policy(ctx, NULL, NULL);
    char t[64] = "";
    if (p) win_format_local(p, w.state == HP_HEALTH_VERIFYING ? w.until : w.ended, t, sizeof t);
    if (w.state == HP_HEALTH_VERIFYING)
      fprintf(out, "health window: %s (sequence %u) verifying until %s (the agent watches it; 'hpm commit' ends it)\n",
              w.id, w.seq, t);
    if (w.state == HP_HEALTH_VERIFYING && w.nunits) {
      fprintf(out, "health window: systemd units watched:");
      for (size_t i = 0; i < w.nunits; i++) fprintf(out, "%s %s", i ? "," : "", w.units[i].name);
      fprintf(out, "\n");
    }
    else
      fprintf(out, "health window: %s (sequence %u) %s %s: %s\n", w.id, w.seq, hp_health_state_name(w.state), t,
              w.reason);
  }
}

void hp_health_print(hpm_ctx *ctx, FILE *out) {
  hp_health_print_window(ctx, out);
  hp_bad *bad;
  int nbad = hp_bad_list(ctx, &bad);
  for (int i = 0; i < nbad; i++)
    fprintf(out, "marked bad: %s (sequence %u): %s\n", bad[i].id, bad[i].seq, bad[i].reason);
  free(bad);
}

/* ---- hpm commit ---- */
static const char commit_usage[] =
    "usage: hpm commit [--json]\n"
    "  End the verifying window of the applied hotpatch now: it is committed as\n"
    "  healthy (the health checks are not run again).  Exit 1 when no window is\n"
    "  open.\n";

int hp_cmd_commit(hpm_ctx *ctx, int argc, char **argv) {
  static const struct option lo[] = {{"json", 0, 0, 'j'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
  int c;
  while ((c = hpm_cli_next("commit", argc, argv, "", lo)) != -1) {
    if (c == 'j') ctx->json = true;
    else if (c == 'h') { fputs(commit_usage, stdout); return 0; }
    else return HPM_CLI_USAGE;
  }
  if (hpm_cli_operands("commit", argc, argv, 0, 0, "")) return HPM_CLI_USAGE;
  hpmh_status st;
  hp_store_mkdirs(ctx);
  int lock = hp_store_lock(ctx, &st);
  if (lock < 0) { msg("%s", st.detail); return 3; }
  hp_health w;
  hp_health_read(ctx, &w);
  int rc = 0;
  if (w.state != HP_HEALTH_VERIFYING) {
    msg("commit: no hotpatch is in its verifying window (%s%s%s)", hp_health_state_name(w.state),
        w.id[0] ? ": " : "", w.id);
    rc = 1;
  } else {
    w.state = HP_HEALTH_COMMITTED;
    w.ended = hpm_now();
    snprintf(w.reason, sizeof w.reason, "committed by hand (hpm commit) %" PRIu64 " s into its window",
             w.ended - w.started);
    if (health_write(ctx, &w)) rc = 3;
    else snprintf(ctx->record_ids, sizeof ctx->record_ids, "%s", w.id);
  }
  hp_store_unlock(lock);
  if (ctx->json && !rc) {
    cJSON *d = hpm_json_doc("commit");
    hpmh_json_add_u64(d, "sequence", w.seq);
    hpm_json_add_opt(d, "id", w.id);
    hpm_json_add_time(d, "started", w.started);
    hpm_json_add_time(d, "committed", w.ended);
    hpm_json_emit(d);
  } else if (!rc) {
    printf("committed %s (sequence %u)\n", w.id, w.seq);
  }
  return rc;
}
