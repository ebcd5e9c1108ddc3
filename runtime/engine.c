/* SPDX-License-Identifier: MIT */
/* Per-process transitions with ptrace: see engine.h. */
#include "engine.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "x86.h"

#define MAX_THREADS 4096
#define STACK_SCAN (64 * 1024)

typedef struct {
  pid_t tid;
  int sig;        /* signal to re-deliver at resume */
  int stopped;
  struct user_regs_struct regs;
} thr;

typedef struct {
  pid_t pid;
  int memfd;
  thr *t;
  int n;
  uint64_t syscall_insn;
  int writes;
  int fault_after;
} proc;

static uint64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int eng_peek(pid_t pid, uint64_t addr, void *buf, size_t len) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/mem", (int)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t r = pread(fd, buf, len, (off_t)addr);
  close(fd);
  return r == (ssize_t)len ? 0 : -1;
}

static int mem_write(proc *p, uint64_t addr, const void *buf, size_t len) {
  if (p->fault_after >= 0 && p->writes++ >= p->fault_after) _exit(9); /* crash-test hook */
  return pwrite(p->memfd, buf, len, (off_t)addr) == (ssize_t)len ? 0 : -1;
}

static int has_tid(proc *p, pid_t tid) {
  for (int i = 0; i < p->n; i++)
    if (p->t[i].tid == tid) return 1;
  return 0;
}

/* Let every seized thread go, re-delivering signals it was stopped with. */
static void release_all(proc *p) {
  for (int i = 0; i < p->n; i++) {
    if (!p->t[i].stopped) { /* an interrupt is pending: detaching needs the stop */
      int st;
      if (waitpid(p->t[i].tid, &st, __WALL) != p->t[i].tid || !WIFSTOPPED(st)) continue;
      if ((st >> 16) == 0) p->t[i].sig = WSTOPSIG(st);
    }
    ptrace(PTRACE_DETACH, p->t[i].tid, 0, (void *)(long)p->t[i].sig);
  }
  p->n = 0;
}

/* Wait until every seized thread is stopped; ENG_BUSY past the deadline. */
static int wait_stopped(proc *p, uint64_t deadline) {
  for (;;) {
    int pending = 0;
    for (int i = 0; i < p->n; i++) {
      if (p->t[i].stopped) continue;
      int st;
      pid_t r = waitpid(p->t[i].tid, &st, __WALL | WNOHANG);
      if (r == 0) { pending++; continue; }
      if (r < 0 || WIFEXITED(st) || WIFSIGNALED(st)) { /* thread gone */
        p->t[i] = p->t[--p->n];
        i--;
        continue;
      }
      if (WIFSTOPPED(st)) {
        p->t[i].stopped = 1;
        if ((st >> 16) == 0) p->t[i].sig = WSTOPSIG(st); /* signal-delivery-stop: keep it */
      }
    }
    if (!pending) return ENG_OK;
    uint64_t now = now_us();
    if (now > deadline) return ENG_BUSY;
    /* sleep until a tracee stops (SIGCHLD, blocked by the caller) or the deadline */
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    uint64_t left = deadline - now;
    struct timespec ts = {(time_t)(left / 1000000u), (long)(left % 1000000u) * 1000};
    sigtimedwait(&chld, NULL, &ts);
  }
}

/* Seize and interrupt every thread, re-scanning until no new one appears. */
static int stop_all(proc *p, unsigned budget_us) {
  uint64_t deadline = now_us() + budget_us;
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/task", (int)p->pid);
  for (;;) {
    DIR *d = opendir(path);
    if (!d) return ENG_GONE;
    int added = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
      pid_t tid = (pid_t)atoi(e->d_name);
      if (tid <= 0 || has_tid(p, tid)) continue;
      if (p->n == MAX_THREADS) { closedir(d); return ENG_FAIL; }
      if (ptrace(PTRACE_SEIZE, tid, 0, (void *)(long)PTRACE_O_TRACESYSGOOD) != 0) {
        if (errno == ESRCH) continue;
        fprintf(stderr, "hpm: PTRACE_SEIZE %d: %s\n", (int)tid, strerror(errno));
        closedir(d);
        return ENG_FAIL;
      }
      p->t[p->n] = (thr){.tid = tid};
      p->n++;
      ptrace(PTRACE_INTERRUPT, tid, 0, 0);
      added++;
    }
    closedir(d);
    int r = wait_stopped(p, deadline);
    if (r != ENG_OK) return r;
    if (!added) break;
  }
  if (p->n == 0) return ENG_GONE;
  for (int i = 0; i < p->n; i++)
    if (ptrace(PTRACE_GETREGS, p->t[i].tid, 0, &p->t[i].regs)) return ENG_GONE;
  return ENG_OK;
}

static int find_syscall_insn(proc *p) {
  char path[64], line[512];
  snprintf(path, sizeof path, "/proc/%d/maps", (int)p->pid);
  FILE *f = fopen(path, "re");
  if (!f) return -1;
  unsigned long lo = 0, hi = 0;
  while (fgets(line, sizeof line, f))
    if (strstr(line, "[vdso]")) { sscanf(line, "%lx-%lx", &lo, &hi); break; }
  fclose(f);
  if (!lo || hi - lo > (1 << 20)) return -1;
  uint8_t *buf = malloc(hi - lo);
  if (!buf) return -1;
  int rc = -1;
  if (pread(p->memfd, buf, hi - lo, (off_t)lo) == (ssize_t)(hi - lo)) {
    uint8_t *s = memmem(buf, hi - lo, "\x0f\x05", 2);
    if (s) { p->syscall_insn = lo + (uint64_t)(s - buf); rc = 0; }
  }
  free(buf);
  return rc;
}

/* Wait for the next syscall stop of t (SIGTRAP|0x80), keeping any signal
 * that arrives first for re-delivery. */
static int syscall_stop(proc *p, thr *t) {
  (void)p;
  for (int tries = 0; tries < 16; tries++) {
    if (ptrace(PTRACE_SYSCALL, t->tid, 0, 0)) return -1;
    int st;
    if (waitpid(t->tid, &st, __WALL) != t->tid || !WIFSTOPPED(st)) return -1;
    if (WSTOPSIG(st) == (SIGTRAP | 0x80)) return 0;
    if ((st >> 16) == 0) t->sig = WSTOPSIG(st);
  }
  return -1;
}

/*
 * Run one system call in the process on a stopped thread: point it at a
 * `syscall` instruction in the vDSO and run it between syscall-entry and
 * syscall-exit stops.  These stops (with PTRACE_O_TRACESYSGOOD) carry no
 * signal, so if hpm dies while the thread sits in one, nothing is delivered.
 * A thread outside any system call is preferred; if the one used was inside
 * an interrupted call, its restart is done here (the thread no longer goes
 * back through the signal path that would restart it).
 */
static int remote_syscall(proc *p, long nr, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4,
                          uint64_t a5, uint64_t a6, long *ret) {
  if (!p->syscall_insn && find_syscall_insn(p)) return -1;
  thr *t = &p->t[0];
  for (int i = 0; i < p->n; i++)
    if ((long)p->t[i].regs.orig_rax < 0) { t = &p->t[i]; break; }
  struct user_regs_struct r = t->regs;
  r.rip = p->syscall_insn;
  r.rax = (uint64_t)nr;
  r.orig_rax = (uint64_t)-1;
  r.rdi = a1; r.rsi = a2; r.rdx = a3; r.r10 = a4; r.r8 = a5; r.r9 = a6;
  if (ptrace(PTRACE_SETREGS, t->tid, 0, &r)) return -1;
  struct user_regs_struct back = t->regs;
  long orig = (long)back.orig_rax, rv = (long)back.rax;
  if (orig >= 0 && (rv == -512 || rv == -513 || rv == -514 || rv == -516)) {
    back.rax = rv == -516 ? (uint64_t)SYS_restart_syscall : (uint64_t)orig;
    back.rip -= 2;
    back.orig_rax = (uint64_t)-1;
  }
  int rc = -1;
  if (syscall_stop(p, t) == 0 && syscall_stop(p, t) == 0) {
    struct user_regs_struct after;
    if (ptrace(PTRACE_GETREGS, t->tid, 0, &after) == 0) { *ret = (long)after.rax; rc = 0; }
  }
  if (ptrace(PTRACE_SETREGS, t->tid, 0, &back)) return -1;
  t->regs = back;
  return rc;
}

void eng_site_bytes(const eng_site *s, uint64_t target, uint8_t out[HPP_REGION_MAX]) {
  memcpy(out, s->orig, HPP_REGION_MAX);
  if (!target) return;
  int32_t rel = (int32_t)(int64_t)(target - (s->region + 5));
  out[0] = 0xe9;
  memcpy(out + 1, &rel, 4);
  if (s->mode == HPP_MODE_PAD) {
    out[s->flip_off] = 0xeb;
    out[s->flip_off + 1] = (uint8_t)(int8_t)(-(int)(s->flip_off + 2));
  } else {
    for (int i = 5; i < s->len; i++) out[i] = 0x90;
  }
}

static int jmp_to(uint8_t *o, uint64_t at, uint64_t to) {
  int64_t d = (int64_t)(to - (at + 5));
  if (d < INT32_MIN || d > INT32_MAX) return -1;
  int32_t d32 = (int32_t)d;
  o[0] = 0xe9;
  memcpy(o + 1, &d32, 4);
  return 5;
}

/* Code that behaves as the site's target (original code when target is 0). */
static int path_to(const eng_site *s, uint64_t target, uint64_t at, uint8_t *o) {
  if (target) return jmp_to(o, at, target);
  if (s->mode == HPP_MODE_PAD) return jmp_to(o, at, s->region + s->flip_off + 2);
  size_t covered;
  x86_fix fix[X86_MAX_FIX];
  int nfix;
  const char *why;
  if (x86_prologue(s->orig, s->len, 5, &covered, fix, &nfix, &why) || covered != s->len) return -1;
  if (x86_relocate(o, s->orig, covered, fix, nfix, s->region, at)) return -1;
  int k = jmp_to(o + covered, at + covered, s->region + covered);
  return k < 0 ? -1 : (int)covered + k;
}

int eng_trampoline(const eng_site *s, uint64_t at, uint64_t flag_addr, uint8_t *o) {
  memset(o, 0xcc, ENG_TRAMP_SLOT);
  /* cmpb $0, flag(%rip); jne L_next; <path to cur>; L_next: <path to next> */
  o[0] = 0x80; o[1] = 0x3d;
  int64_t d = (int64_t)(flag_addr - (at + 7));
  if (d < INT32_MIN || d > INT32_MAX) return -1;
  int32_t d32 = (int32_t)d;
  memcpy(o + 2, &d32, 4);
  o[6] = 0x00;
  uint8_t cur[64];
  int nc = path_to(s, s->cur, at + 13, cur);
  if (nc < 0) return -1;
  o[7] = 0x0f; o[8] = 0x85;
  int32_t skip = nc;
  memcpy(o + 9, &skip, 4);
  memcpy(o + 13, cur, (size_t)nc);
  int nn = path_to(s, s->next, at + 13 + (uint64_t)nc, o + 13 + nc);
  if (nn < 0 || 13 + nc + nn > (int)ENG_TRAMP_SLOT) return -1;
  return 0;
}

/* Is addr strictly inside a site's rewritten bytes, off its safe boundaries? */
static int ip_unsafe(const eng_site *s, uint64_t ip) {
  if (ip <= s->region || ip >= s->region + s->len) return 0;
  if (s->mode == HPP_MODE_PAD && (ip == s->region + 14 || ip == s->region + s->flip_off)) return 0;
  return 1;
}

/* Does any thread's registers or stack words point into [lo,hi)? */
static int referenced(proc *p, uint64_t lo, uint64_t hi) {
  static uint64_t buf[STACK_SCAN / 8];
  for (int i = 0; i < p->n; i++) {
    const uint64_t *r = (const uint64_t *)&p->t[i].regs;
    for (size_t k = 0; k < sizeof p->t[i].regs / 8; k++)
      if (r[k] >= lo && r[k] < hi) return 1;
    uint64_t sp = p->t[i].regs.rsp & ~7ull;
    ssize_t got = pread(p->memfd, buf, sizeof buf, (off_t)sp);
    if (got <= 0) { /* near the top of the stack: read what exists, page by page */
      got = 0;
      while (got < (ssize_t)sizeof buf) {
        size_t chunk = 4096 - ((sp + (uint64_t)got) & 4095);
        ssize_t g = pread(p->memfd, (uint8_t *)buf + got, chunk, (off_t)(sp + (uint64_t)got));
        if (g <= 0) break;
        got += g;
      }
    }
    for (ssize_t k = 0; k < got / 8; k++)
      if (buf[k] >= lo && buf[k] < hi) return 1;
  }
  return 0;
}

static int proc_open(proc *p, pid_t pid, int fault_after) {
  memset(p, 0, sizeof *p);
  p->pid = pid;
  p->fault_after = fault_after;
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/mem", (int)pid);
  p->memfd = open(path, O_RDWR | O_CLOEXEC);
  if (p->memfd < 0) return errno == ENOENT ? ENG_GONE : ENG_FAIL;
  p->t = calloc(MAX_THREADS, sizeof *p->t);
  return p->t ? ENG_OK : ENG_FAIL;
}

static void proc_close(proc *p) {
  release_all(p);
  if (p->memfd >= 0) close(p->memfd);
  free(p->t);
}

static void unmap_unreferenced(proc *p, eng_map *m, int n, eng_report *rep) {
  for (int i = 0; i < n; i++) {
    if (!m[i].addr) continue;
    if (referenced(p, m[i].addr, m[i].addr + m[i].len)) { rep->retained++; continue; }
    long ret;
    if (remote_syscall(p, SYS_munmap, m[i].addr, m[i].len, 0, 0, 0, 0, &ret) == 0 && ret == 0)
      m[i].addr = 0; /* done */
    else
      rep->retained++;
  }
}

int eng_transition(pid_t pid, eng_plan *pl, eng_report *rep) {
  memset(rep, 0, sizeof *rep);
  proc p;
  int rc = proc_open(&p, pid, pl->fault_after);
  if (rc) { snprintf(rep->why, sizeof rep->why, "cannot open process memory"); free(p.t); return rc; }
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, NULL);
  uint64_t t0 = now_us();
  rc = stop_all(&p, pl->budget_us ? pl->budget_us : 5000);
  if (rc) {
    snprintf(rep->why, sizeof rep->why, rc == ENG_BUSY ? "threads did not stop within the pause budget"
                                        : rc == ENG_GONE ? "process exited" : "ptrace failed");
    goto out;
  }
  rep->threads = (unsigned)p.n;
  /* every site must hold exactly the bytes of its current state */
  for (int i = 0; i < pl->nsites; i++) {
    uint8_t want[HPP_REGION_MAX], have[HPP_REGION_MAX];
    eng_site *s = &pl->sites[i];
    eng_site_bytes(s, s->cur, want);
    if (pread(p.memfd, have, s->len, (off_t)s->region) != s->len) { rc = ENG_GONE; goto out; }
    if (memcmp(want, have, s->len)) {
      snprintf(rep->why, sizeof rep->why, "%s: bytes at 0x%llx differ from the expected %s bytes",
               s->name, (unsigned long long)s->region, s->cur ? "redirection" : "original");
      rc = ENG_MISMATCH;
      goto out;
    }
    for (int k = 0; k < p.n; k++)
      if (ip_unsafe(s, p.t[k].regs.rip)) {
        snprintf(rep->why, sizeof rep->why, "a thread is executing the bytes of %s", s->name);
        rc = ENG_BUSY;
        goto out;
      }
    if ((s->flags & HPP_F_QUIESCE) && s->size && referenced(&p, s->entry, s->entry + s->size)) {
      snprintf(rep->why, sizeof rep->why, "%s is active on a thread's stack (quiescence)", s->name);
      rc = ENG_BUSY;
      goto out;
    }
  }
  if (now_us() - t0 > (pl->budget_us ? pl->budget_us : 5000)) {
    snprintf(rep->why, sizeof rep->why, "stopping and checking took longer than the pause budget");
    rc = ENG_BUSY;
    goto out;
  }
  /* map and fill the new code */
  long ret;
  if (remote_syscall(&p, SYS_mmap, pl->map_addr, pl->map_len, PROT_READ | PROT_EXEC,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, (uint64_t)-1, 0, &ret) ||
      (uint64_t)ret != pl->map_addr) {
    if (ret > 0 && (uint64_t)ret != pl->map_addr) remote_syscall(&p, SYS_munmap, (uint64_t)ret, pl->map_len, 0, 0, 0, 0, &ret);
    snprintf(rep->why, sizeof rep->why, "remote mmap at 0x%llx failed (%ld)", (unsigned long long)pl->map_addr, ret);
    rc = ENG_BUSY; /* address taken meanwhile: plan again */
    goto out;
  }
  int written = 0;
  if (pl->rw_off < pl->map_len &&
      (remote_syscall(&p, SYS_mprotect, pl->map_addr + pl->rw_off, pl->map_len - pl->rw_off,
                      PROT_READ | PROT_WRITE, 0, 0, 0, &ret) || ret != 0))
    goto undo;
  if (mem_write(&p, pl->map_addr, pl->map_bytes, pl->map_len)) goto undo;
  /* 1: every site to its trampoline (behaviour unchanged: flag is 0) */
  for (; written < pl->nsites; written++) {
    eng_site *s = &pl->sites[written];
    uint8_t b[HPP_REGION_MAX];
    eng_site_bytes(s, pl->map_addr + ENG_HDR_SIZE + (uint64_t)written * ENG_TRAMP_SLOT, b);
    if (mem_write(&p, s->region, b, s->len)) goto undo;
  }
  /* 2: commit with one byte */
  uint8_t one = 1;
  if (mem_write(&p, pl->map_addr + ENG_FLAG_OFF, &one, 1)) goto undo;
  /* 3: every site straight to its final target */
  for (int i = 0; i < pl->nsites; i++) {
    eng_site *s = &pl->sites[i];
    uint8_t b[HPP_REGION_MAX];
    eng_site_bytes(s, s->next, b);
    if (mem_write(&p, s->region, b, s->len)) {
      snprintf(rep->why, sizeof rep->why, "write failed after commit (process exiting?)");
      rc = ENG_GONE;
      goto out;
    }
  }
  unmap_unreferenced(&p, pl->unmap, pl->nunmap, rep);
  if (!pl->keep_map) {
    eng_map self = {pl->map_addr, pl->map_len};
    unmap_unreferenced(&p, &self, 1, rep);
  }
  rep->pause_us = (unsigned)(now_us() - t0);
  rc = ENG_OK;
  goto out;
undo:
  /* restore every site written so far, then drop the new mapping */
  for (int i = 0; i < written; i++) {
    uint8_t b[HPP_REGION_MAX];
    eng_site_bytes(&pl->sites[i], pl->sites[i].cur, b);
    mem_write(&p, pl->sites[i].region, b, pl->sites[i].len);
  }
  remote_syscall(&p, SYS_munmap, pl->map_addr, pl->map_len, 0, 0, 0, 0, &ret);
  snprintf(rep->why, sizeof rep->why, "writing the redirections failed; original bytes restored");
  rc = ENG_FAIL;
out:
  if (!rep->pause_us) rep->pause_us = (unsigned)(now_us() - t0);
  proc_close(&p);
  return rc;
}

int eng_force(pid_t pid, eng_site *sites, int n, eng_map *unmap, int nunmap, eng_report *rep) {
  memset(rep, 0, sizeof *rep);
  proc p;
  int rc = proc_open(&p, pid, -1);
  if (rc) { free(p.t); return rc; }
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, NULL);
  uint64_t t0 = now_us();
  rc = stop_all(&p, 200000);
  if (rc) goto out;
  for (int i = 0; i < n; i++)
    for (int k = 0; k < p.n; k++)
      if (ip_unsafe(&sites[i], p.t[k].regs.rip)) { rc = ENG_BUSY; goto out; }
  for (int i = 0; i < n; i++) {
    uint8_t b[HPP_REGION_MAX];
    eng_site_bytes(&sites[i], sites[i].next, b);
    if (mem_write(&p, sites[i].region, b, sites[i].len)) { rc = ENG_GONE; goto out; }
  }
  unmap_unreferenced(&p, unmap, nunmap, rep);
out:
  rep->pause_us = (unsigned)(now_us() - t0);
  proc_close(&p);
  return rc;
}

uint64_t eng_pick_addr(pid_t pid, uint64_t lo, uint64_t hi, uint64_t len) {
  char path[64], line[512];
  snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
  FILE *f = fopen(path, "re");
  if (!f) return 0;
  static uint64_t ms[8192][2];
  int n = 0;
  while (n < 8192 && fgets(line, sizeof line, f)) {
    unsigned long a, b;
    if (sscanf(line, "%lx-%lx", &a, &b) == 2) { ms[n][0] = a; ms[n][1] = b; n++; }
  }
  fclose(f);
  const uint64_t range = 1536ull << 20, gap = 1ull << 21;
  /* below the binary first (the heap grows above it), highest address first */
  uint64_t floor = lo > range ? lo - range : 0x10000;
  for (uint64_t a = (lo - len - gap) & ~0xfffull; a >= floor && a < lo; a -= gap) {
    int clash = 0;
    for (int i = 0; i < n && !clash; i++) clash = a < ms[i][1] + gap && ms[i][0] < a + len + gap;
    if (!clash) return a;
  }
  for (uint64_t a = (hi + (256ull << 20)) & ~0xfffull; a + len < hi + range; a += gap) {
    int clash = 0;
    for (int i = 0; i < n && !clash; i++) clash = a < ms[i][1] + gap && ms[i][0] < a + len + gap;
    if (!clash) return a;
  }
  return 0;
}
