/* SPDX-License-Identifier: MIT */
/* Per-process transitions with ptrace: see engine.h. */
#include "hotpatch/engine.h"

#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "x86.h"

#define MAX_THREADS 4096
#define STACK_SCAN (64 * 1024)
#define ST_SCAN_MAX 16

typedef struct {
  pid_t tid;
  int sig;        /* signal to re-deliver at resume */
  int stopped;
  int intr;       /* PTRACE_INTERRUPT sent */
  int regs_ok;    /* regs hold the stopped thread's registers (not resumed since) */
  struct user_regs_struct regs;
} thr;

typedef struct {
  pid_t pid;
  int memfd;
  thr *t;
  int n;
  uint64_t stub;
  uint64_t (*vmas)[2];  /* snapshot of /proc/PID/maps ranges: bounds stack scans */
  int nvmas;
  uint64_t start_stack; /* initial stack pointer of the main thread (0: unknown) */
  int statfd;           /* /proc/PID/stat, opened before the pause (re-read with pread) */
  int taskfd;           /* /proc/PID/task, opened before the pause: links = 2 + threads */
  int nlink_ok;         /* taskfd's link count agreed with num_threads: count by fstat */
  uint8_t *scanbuf;     /* stack scan buffer, allocated and touched before the pause */
  size_t scanlen;
  int writes;
  int fault_after;
  int spin;             /* wait_stopped may poll with sched_yield (see there) */
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
    if (!p->t[i].stopped) { /* detaching needs a stop: interrupt (if not yet) and wait for it */
      if (!p->t[i].intr) ptrace(PTRACE_INTERRUPT, p->t[i].tid, 0, 0);
      int st;
      if (waitpid(p->t[i].tid, &st, __WALL) != p->t[i].tid || !WIFSTOPPED(st)) continue;
      if ((st >> 16) == 0) p->t[i].sig = WSTOPSIG(st);
    }
    ptrace(PTRACE_DETACH, p->t[i].tid, 0, (void *)(long)p->t[i].sig);
  }
  p->n = 0;
}

static void note_status(proc *p, int i, int st) {
  if (WIFEXITED(st) || WIFSIGNALED(st)) { p->t[i] = p->t[--p->n]; return; } /* thread gone */
  if (WIFSTOPPED(st)) {
    p->t[i].stopped = 1;
    p->t[i].regs_ok = 0;
    if ((st >> 16) == 0) p->t[i].sig = WSTOPSIG(st); /* signal-delivery-stop: keep it */
  }
}

/* Tracee stops arrive as SIGCHLD: blocked, so wait_stopped can wait for
 * them with sigtimedwait (every entry point that stops threads blocks it;
 * tests unblock it again with 0). */
static void block_sigchld(int block) {
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(block ? SIG_BLOCK : SIG_UNBLOCK, &chld, NULL);
}

/* How long wait_stopped polls, yielding the CPU, before it sleeps; a
 * yield that returns later than STOP_YIELD_MAX_US ends the polling. */
#define STOP_SPIN_US 300u
#define STOP_YIELD_MAX_US 50u

/* Wait until every interrupted thread is stopped; ENG_BUSY past the deadline.
 * Collects whichever tracee reported (waitpid(-1)): one call per event
 * rather than one per thread per wake-up.
 * When nothing but the target's threads competes for the CPUs (p->spin,
 * see spin_decide) it polls with sched_yield() for the first STOP_SPIN_US
 * instead of sleeping: interrupted threads queued on hpm's CPU get it at
 * once (and stop as soon as they run), and hpm's CPU never goes idle, so
 * neither a stopping thread's wake-up of hpm nor a woken sleeper lands on
 * an idle CPU that must first be woken itself (tens of microseconds on a
 * virtual machine).  On 2 vCPUs with 4 busy threads this cut the stop of
 * every thread from p50 ~75 us to ~55 us (make bench-hotpatch).  With
 * other runnable work a yield can hand the CPU to a task that keeps it for
 * a whole time slice, while a sleeping hpm is woken (and preempts) when a
 * thread stops: so it sleeps then, and stops polling as soon as one yield
 * comes back late. */
static int wait_stopped(proc *p, uint64_t deadline) {
  uint64_t spin_end = p->spin ? now_us() + STOP_SPIN_US : 0;
  for (;;) {
    int st;
    pid_t r = waitpid(-1, &st, __WALL | WNOHANG);
    if (r > 0) {
      for (int i = 0; i < p->n; i++)
        if (p->t[i].tid == r) { note_status(p, i, st); break; }
      continue;
    }
    int pending = 0;
    for (int i = 0; i < p->n; i++) {
      if (p->t[i].stopped || !p->t[i].intr) continue;
      if (r < 0) { /* no waitable child at all: the thread is gone */
        p->t[i] = p->t[--p->n];
        i--;
        continue;
      }
      pending++;
    }
    if (!pending) return ENG_OK;
    uint64_t now = now_us();
    if (now > deadline) return ENG_BUSY;
    if (now < spin_end) {
      sched_yield();
      if (now_us() - now > STOP_YIELD_MAX_US) spin_end = 0; /* something else ran: sleep from now on */
      continue;
    }
    /* sleep until a tracee stops (SIGCHLD, blocked by the caller) or the deadline */
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    uint64_t left = deadline - now;
    struct timespec ts = {(time_t)(left / 1000000u), (long)(left % 1000000u) * 1000};
    sigtimedwait(&chld, NULL, &ts);
  }
}

/* Has thread tid exited (a zombie or dead, or gone)?  The kernel refuses
 * to attach to such a thread (EPERM), and it runs no code any more. */
static int thread_exited(pid_t pid, pid_t tid) {
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/%d/task/%d/stat", (int)pid, (int)tid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT || errno == ESRCH;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 1;
  buf[n] = 0;
  const char *q = strrchr(buf, ')');
  return q && q[1] == ' ' && (q[2] == 'Z' || q[2] == 'X');
}

/* Seize (attach without stopping) every thread not yet seized; *added new. */
static int seize_new(proc *p, int *added) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/task", (int)p->pid);
  DIR *d = opendir(path);
  if (!d) return ENG_GONE;
  *added = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    pid_t tid = (pid_t)atoi(e->d_name);
    if (tid <= 0 || has_tid(p, tid)) continue;
    if (p->n == MAX_THREADS) { closedir(d); return ENG_FAIL; }
    if (ptrace(PTRACE_SEIZE, tid, 0, (void *)(long)PTRACE_O_TRACESYSGOOD) != 0) {
      if (errno == ESRCH || (errno == EPERM && thread_exited(p->pid, tid))) continue; /* runs no code */
      fprintf(stderr, "hpm: PTRACE_SEIZE %d: %s\n", (int)tid, strerror(errno));
      closedir(d);
      return ENG_FAIL;
    }
    p->t[p->n++] = (thr){.tid = tid};
    (*added)++;
  }
  closedir(d);
  return ENG_OK;
}

/* num_threads of the process (field 20 of /proc/PID/stat), -1 if unknown.
 * Once every thread hpm holds is stopped, none can create threads: if the
 * count equals what hpm holds, the set is complete without a directory scan.
 * When count_prepare has found /proc/PID/task's link count to be 2 plus
 * the same number (procfs adds the thread count to it), one fstat gives it
 * (~1 us; formatting /proc/PID/stat takes ~5). */
static int thread_count(proc *p) {
  char buf[1024];
  if (p->nlink_ok) {
    struct stat st;
    if (fstat(p->taskfd, &st) == 0 && st.st_nlink >= 2) return (int)(st.st_nlink - 2);
    return -1;
  }
  if (p->statfd < 0) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)p->pid);
    p->statfd = open(path, O_RDONLY | O_CLOEXEC);
    if (p->statfd < 0) return -1;
  }
  ssize_t n = pread(p->statfd, buf, sizeof buf - 1, 0);
  if (n <= 0) return -1;
  buf[n] = 0;
  char *q = strrchr(buf, ')');
  if (!q) return -1;
  for (int f = 2; f < 20 && q; f++) q = strchr(q + 1, ' ');
  return q ? atoi(q + 1) : -1;
}

/* Before the pause: open what thread_count reads, and use the task
 * directory's link count only if it agrees with num_threads now. */
static void count_prepare(proc *p) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/task", (int)p->pid);
  p->taskfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int n = thread_count(p);
  if (p->taskfd < 0 || n < 0) return;
  for (int tries = 0; tries < 2 && !p->nlink_ok; tries++) {
    struct stat st;
    if (fstat(p->taskfd, &st) == 0 && st.st_nlink == (nlink_t)n + 2 && thread_count(p) == n) p->nlink_ok = 1;
    else n = thread_count(p);
  }
}

/*
 * Before the pause: may wait_stopped poll?  Only if no task outside the
 * target is runnable besides hpm: nr_running of /proc/loadavg (runnable
 * tasks on all CPUs) minus hpm and the target's threads that are not
 * stopped (an upper bound of those of them that are runnable) is <= 0.
 */
static void spin_decide(proc *p) {
  char buf[128];
  int fd = open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return;
  buf[n] = 0;
  int running = 0, total = 0;
  if (sscanf(buf, "%*s %*s %*s %d/%d", &running, &total) != 2) return;
  int target = 0;
  for (int i = 0; i < p->n; i++) target += !p->t[i].stopped;
  p->spin = running - 1 - target <= 0;
}

static void interrupt(thr *t) {
  if (t->stopped || t->intr) return;
  ptrace(PTRACE_INTERRUPT, t->tid, 0, 0);
  t->intr = 1;
}

/*
 * one: seize every thread (they keep running) and stop only one.
 * Otherwise stop every seized thread, then re-scan: only running threads
 * create threads, so once every known thread is stopped, a scan that
 * finds no new one proves the set complete.
 */
static int stop_threads(proc *p, unsigned budget_us, int one) {
  uint64_t deadline = now_us() + budget_us;
  int added, r;
  if (one) {
    if ((r = seize_new(p, &added))) return r;
    if (!p->n) return ENG_GONE;
    interrupt(&p->t[0]);
    if ((r = wait_stopped(p, deadline))) return r;
  } else {
    do {
      for (int i = 0; i < p->n; i++) interrupt(&p->t[i]);
      if ((r = wait_stopped(p, deadline))) return r;
      added = 0;
      if (thread_count(p) != p->n && (r = seize_new(p, &added))) return r;
    } while (added);
  }
  int nstopped = 0;
  for (int i = 0; i < p->n; i++) {
    if (!p->t[i].stopped) continue;
    nstopped++;
    if (p->t[i].regs_ok) continue; /* held stopped since they were read (phase 1's thread) */
    if (ptrace(PTRACE_GETREGS, p->t[i].tid, 0, &p->t[i].regs)) return ENG_GONE;
    p->t[i].regs_ok = 1;
  }
  return nstopped ? ENG_OK : ENG_GONE;
}

/*
 * The syscall stub.  Remote system calls run `syscall` from a 19-byte stub
 * that then restores every register the injection changed from a block hpm
 * writes on the thread's own stack, below its red zone:
 *
 *   S:  syscall
 *       pop %rax; pop %rcx; pop %rdx; pop %rsi; pop %rdi
 *       pop %r8; pop %r9; pop %r10; pop %r11; popfq
 *       ret $128                  # rip from the block, rsp back to its value
 *
 * The thread is started at S with rsp pointing at the block.  hpm stops it
 * at syscall exit and puts its registers back itself; if hpm dies at any
 * instant (before entry, at entry, inside, at exit), ptrace detaches and the
 * thread runs the stub to its end: it resumes exactly where it was with the
 * registers it had (a signal delivered meanwhile builds its frame below rsp,
 * under the block).  The stub lives in the unused tail of the vDSO mapping
 * (after the end of the vDSO ELF image, never executed by anything else;
 * the write makes a private copy of that page in the process only).
 */
static const uint8_t stub_code[] = {0x0f, 0x05, 0x58, 0x59, 0x5a, 0x5e, 0x5f, 0x41, 0x58, 0x41,
                                    0x59, 0x41, 0x5a, 0x41, 0x5b, 0x9d, 0xc2, 0x80, 0x00};
#define STUB_SLOT 32u
#define RED_ZONE 128u

static uint64_t vdso_base(pid_t pid) {
  char path[64];
  uint64_t av[128];
  snprintf(path, sizeof path, "/proc/%d/auxv", (int)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, av, sizeof av);
  close(fd);
  for (ssize_t i = 0; i + 1 < n / 8; i += 2) {
    if (av[i] == 0) break;
    if (av[i] == 33 /* AT_SYSINFO_EHDR */) return av[i + 1];
  }
  return 0;
}

/* Does the process run with a user shadow stack?  The stub's `ret` would
 * fault there: refuse rather than kill the target.  -1 if unknown. */
static int shadow_stack(pid_t pid) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  FILE *f = fopen(path, "re");
  if (!f) return -1;
  int on = 0;
  while (fgets(line, sizeof line, f))
    if (!strncmp(line, "x86_Thread_features:", 20)) { on = strstr(line, "shstk") != NULL; break; }
  fclose(f);
  return on;
}

/* Find (and if needed write) the stub in the vDSO's unused tail. */
static int find_stub(proc *p) {
  if (shadow_stack(p->pid) != 0) {
    fprintf(stderr, "hpm: pid %d: runs with a shadow stack (or status unreadable): remote calls not supported\n",
            (int)p->pid);
    return -1;
  }
  uint64_t base = vdso_base(p->pid);
  if (!base) return -1;
  Elf64_Ehdr eh;
  if (pread(p->memfd, &eh, sizeof eh, (off_t)base) != (ssize_t)sizeof eh || memcmp(eh.e_ident, ELFMAG, SELFMAG) ||
      eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum > 32 || eh.e_shnum > 256)
    return -1;
  uint64_t end = eh.e_shoff + (uint64_t)eh.e_shnum * eh.e_shentsize;
  Elf64_Phdr ph[32];
  size_t phl = (size_t)eh.e_phnum * sizeof(Elf64_Phdr);
  if (pread(p->memfd, ph, phl, (off_t)(base + eh.e_phoff)) != (ssize_t)phl) return -1;
  for (int i = 0; i < eh.e_phnum; i++) {
    if (ph[i].p_offset + ph[i].p_filesz > end) end = ph[i].p_offset + ph[i].p_filesz;
    if (ph[i].p_type == PT_LOAD && ph[i].p_vaddr + ph[i].p_memsz > end) end = ph[i].p_vaddr + ph[i].p_memsz;
  }
  if (eh.e_phoff + phl > end) end = eh.e_phoff + phl;
  if (end > (1u << 20)) return -1;
  uint64_t at = ((end + 4095) & ~4095ull) - STUB_SLOT; /* last slot of the image's last page */
  if (at < end) return -1;                             /* no room: tail too short */
  uint8_t have[STUB_SLOT], want[STUB_SLOT];
  memset(want, 0, sizeof want);
  memcpy(want, stub_code, sizeof stub_code);
  if (pread(p->memfd, have, sizeof have, (off_t)(base + at)) != (ssize_t)sizeof have) return -1;
  if (memcmp(have, want, sizeof want)) {
    for (size_t i = 0; i < sizeof have; i++)
      if (have[i]) return -1; /* not the zero padding we expect: leave it alone */
    if (pwrite(p->memfd, want, sizeof want, (off_t)(base + at)) != (ssize_t)sizeof want) return -1;
  }
  p->stub = base + at;
  return 0;
}

/* Test hooks: HPM_TEST_SYSCALL_DELAY_US widens each step of a remote call
 * (tests kill hpm inside them); unit tests set test_step_hook. */
static void (*test_step_hook)(int step);
static void test_delay(int step) {
  static int us = -1;
  if (test_step_hook) test_step_hook(step);
  if (us < 0) us = getenv("HPM_TEST_SYSCALL_DELAY_US") ? atoi(getenv("HPM_TEST_SYSCALL_DELAY_US")) : 0;
  if (us > 0) usleep((useconds_t)us);
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
 * Run one system call in the process on a stopped thread, through the stub
 * (see above), between its syscall-entry and syscall-exit stops.  A thread
 * outside any system call is preferred; if the one used was inside an
 * interrupted call, its restart is done here (the thread no longer goes
 * back through the signal path that would restart it), and the saved block
 * carries the restart too, so a thread released by hpm's death restarts it.
 */
static int remote_syscall(proc *p, long nr, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4,
                          uint64_t a5, uint64_t a6, long *ret) {
  if (!p->stub && find_stub(p)) return -1;
  thr *t = NULL;
  for (int i = 0; i < p->n && !t; i++)
    if (p->t[i].stopped && (long)p->t[i].regs.orig_rax < 0) t = &p->t[i];
  for (int i = 0; i < p->n && !t; i++)
    if (p->t[i].stopped) t = &p->t[i];
  if (!t) return -1;
  struct user_regs_struct back = t->regs;
  long orig = (long)back.orig_rax, rv = (long)back.rax;
  if (orig >= 0 && (rv == -512 || rv == -513 || rv == -514 || rv == -516)) {
    back.rax = rv == -516 ? (uint64_t)SYS_restart_syscall : (uint64_t)orig;
    back.rip -= 2;
    back.orig_rax = (uint64_t)-1;
  }
  /* block: rax rcx rdx rsi rdi r8 r9 r10 r11 rflags, then rip just below the red zone */
  uint64_t blk[11] = {back.rax, back.rcx, back.rdx, back.rsi, back.rdi, back.r8,
                      back.r9,  back.r10, back.r11, back.eflags, back.rip};
  uint64_t at = back.rsp - RED_ZONE - sizeof blk;
  if (pwrite(p->memfd, blk, sizeof blk, (off_t)at) != (ssize_t)sizeof blk) return -1;
  struct user_regs_struct r = back;
  r.rip = p->stub;
  r.rsp = at;
  r.rax = (uint64_t)nr;
  r.orig_rax = (uint64_t)-1;
  r.rdi = a1; r.rsi = a2; r.rdx = a3; r.r10 = a4; r.r8 = a5; r.r9 = a6;
  test_delay(0);
  if (ptrace(PTRACE_SETREGS, t->tid, 0, &r)) return -1;
  test_delay(1);
  int rc = -1;
  if (syscall_stop(p, t) == 0) {
    test_delay(2);
    if (syscall_stop(p, t) == 0) {
      test_delay(3);
      struct user_regs_struct after;
      if (ptrace(PTRACE_GETREGS, t->tid, 0, &after) == 0) { *ret = (long)after.rax; rc = 0; }
    }
  }
  if (ptrace(PTRACE_SETREGS, t->tid, 0, &back)) { t->regs_ok = 0; return -1; }
  t->regs = back;
  return rc;
}

int eng_site_direct(const eng_site *s) {
  return s->mode == HPP_MODE_PAD && s->len >= s->flip_off + 2 + HPP_DIRECT_MIN && s->len <= HPP_REGION_MAX;
}

/* direct: the committed form (a PAD site with body bytes takes a 5-byte
 * jump at its entry); otherwise the entry hops to the pad's jump and the
 * body keeps its original bytes, as trampolines returning to the original
 * code (entry + 2) need. */
static void site_bytes(const eng_site *s, uint64_t target, int direct, uint8_t out[HPP_REGION_MAX]) {
  memcpy(out, s->orig, HPP_REGION_MAX);
  if (!target) return;
  int32_t rel = (int32_t)(int64_t)(target - (s->region + 5));
  out[0] = s->mode == HPP_MODE_CALL ? s->orig[0] : 0xe9; /* a call site stays a call (or jmp) */
  memcpy(out + 1, &rel, 4);
  if (s->mode == HPP_MODE_CALL) return;
  if (s->mode == HPP_MODE_PAD && direct && eng_site_direct(s)) {
    int32_t d = (int32_t)(int64_t)(target - (s->region + s->flip_off + 5));
    out[s->flip_off] = 0xe9;
    memcpy(out + s->flip_off + 1, &d, 4);
    for (int i = s->flip_off + 5; i < s->len; i++) out[i] = 0xcc; /* never reached: trap if it were */
  } else if (s->mode == HPP_MODE_PAD) {
    out[s->flip_off] = 0xeb;
    out[s->flip_off + 1] = (uint8_t)(int8_t)(-(int)(s->flip_off + 2));
  } else {
    for (int i = 5; i < s->len; i++) out[i] = 0x90;
  }
}

void eng_site_bytes(const eng_site *s, uint64_t target, uint8_t out[HPP_REGION_MAX]) {
  site_bytes(s, target, 1, out);
}

void eng_site_bytes_hop(const eng_site *s, uint64_t target, uint8_t out[HPP_REGION_MAX]) {
  site_bytes(s, target, 0, out);
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
  if (s->mode == HPP_MODE_CALL) return jmp_to(o, at, s->entry); /* reached by the call: go on to the callee */
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

static void load_vmas(proc *p) {
  char path[64], line[512];
  snprintf(path, sizeof path, "/proc/%d/maps", (int)p->pid);
  FILE *f = fopen(path, "re");
  if (!f) return;
  int cap = 0;
  while (fgets(line, sizeof line, f)) {
    unsigned long lo, hi;
    if (sscanf(line, "%lx-%lx", &lo, &hi) != 2) continue;
    if (p->nvmas == cap) {
      cap = cap ? 2 * cap : 128;
      void *n = realloc(p->vmas, (size_t)cap * sizeof *p->vmas);
      if (!n) break;
      p->vmas = n;
    }
    p->vmas[p->nvmas][0] = lo;
    p->vmas[p->nvmas][1] = hi;
    p->nvmas++;
  }
  fclose(f);
}

/* startstack (field 28 of /proc/PID/stat): where the main thread's stack
 * began at exec; above it only argc, argv, envp, auxv and their strings. */
static void load_start_stack(proc *p) {
  char buf[1024];
  if (p->statfd < 0) return;
  ssize_t n = pread(p->statfd, buf, sizeof buf - 1, 0);
  if (n <= 0) return;
  buf[n] = 0;
  char *q = strrchr(buf, ')');
  for (int f = 2; f < 28 && q; f++) q = strchr(q + 1, ' ');
  if (q) p->start_stack = strtoull(q + 1, NULL, 10);
}

/*
 * Bytes of thread i's stack to scan: from rsp to the end of its mapping
 * (snapshot taken before the pause), at most STACK_SCAN; *full gets that.
 * The scan reads less where no frame can be:
 * - the main thread's stack ends at startstack (argv, envp, auxv above);
 * - a thread whose thread pointer (fs base) lies in its stack mapping above
 *   rsp has its frames below it (glibc and musl put the thread control block
 *   at the top of the thread's stack, frames below it): the span then ends
 *   8 bytes past fs base, and the caller checks that word holds fs base
 *   itself (the x86-64 TLS ABI's TCB self pointer) or else reads the rest.
 * Returns the bytes to read first.
 */
static size_t stack_span(const proc *p, int i, size_t *full) {
  uint64_t sp = p->t[i].regs.rsp & ~7ull, end = 0;
  size_t want = STACK_SCAN;
  for (int v = 0; v < p->nvmas; v++)
    if (sp >= p->vmas[v][0] && sp < p->vmas[v][1]) {
      end = p->vmas[v][1];
      if (end - sp < want) want = (size_t)(end - sp);
      break;
    }
  *full = want;
  if (!end) return want;
  uint64_t fs = p->t[i].regs.fs_base;
  if (p->start_stack > sp && p->start_stack <= end) { /* the main stack: a hard end */
    if (p->start_stack - sp < want) want = *full = (size_t)((p->start_stack - sp + 7) & ~7ull);
    return want;
  }
  if (!(fs & 7) && fs > sp && fs + 8 <= end && fs + 8 - sp < want) want = (size_t)(fs + 8 - sp);
  return want;
}

/* Read [sp, sp+want) through /proc/PID/mem, page by page past a hole; bytes read. */
static size_t read_mem(proc *p, uint64_t sp, void *buf, size_t want) {
  ssize_t g2 = pread(p->memfd, buf, want, (off_t)sp);
  if (g2 > 0) return (size_t)g2;
  g2 = 0;
  while (g2 < (ssize_t)want) {
    size_t chunk = 4096 - ((sp + (uint64_t)g2) & 4095);
    if (chunk > want - (size_t)g2) chunk = want - (size_t)g2;
    ssize_t g = pread(p->memfd, (uint8_t *)buf + g2, chunk, (off_t)(sp + (uint64_t)g2));
    if (g <= 0) break;
    g2 += g;
  }
  return (size_t)g2;
}

static void hits_in(const uint64_t *w, size_t nw, const eng_map *m, int n, int *hit) {
  /* one compare against the hull of all ranges first: almost no stack word
   * falls in it (the loop vectorises); exact tests only for those that do */
  uint64_t lo = UINT64_MAX, hi = 0;
  for (int j = 0; j < n; j++)
    if (m[j].len) {
      if (m[j].addr < lo) lo = m[j].addr;
      if (m[j].addr + m[j].len > hi) hi = m[j].addr + m[j].len;
    }
  if (lo >= hi) return;
  uint64_t span = hi - lo;
  for (size_t k0 = 0; k0 < nw; k0 += 64) {
    size_t k1 = nw - k0 < 64 ? nw : k0 + 64;
    int any = 0;
    for (size_t k = k0; k < k1; k++) any |= w[k] - lo < span;
    if (!any) continue;
    for (size_t k = k0; k < k1; k++)
      for (int j = 0; j < n; j++) hit[j] |= w[k] >= m[j].addr && w[k] < m[j].addr + m[j].len;
  }
}

/* Which of the ranges m[0..n) does any thread's registers or stack words
 * point into?  Sets hit[i].  All stacks are read with one
 * process_vm_readv when they can be; a stack it cannot read whole is read
 * again page by page through /proc/PID/mem. */
static void referenced_many(proc *p, const eng_map *m, int n, int *hit) {
  static uint64_t buf[STACK_SCAN / 8];
  for (int j = 0; j < n; j++) hit[j] = 0;
  for (int i = 0; i < p->n; i++)
    hits_in((const uint64_t *)&p->t[i].regs, sizeof p->t[i].regs / 8, m, n, hit);
  enum { BATCH = 64 };
  for (int i0 = 0; i0 < p->n; i0 += BATCH) {
    int nb = p->n - i0 < BATCH ? p->n - i0 : BATCH;
    struct iovec loc[BATCH], rem[BATCH];
    size_t total = 0, full[BATCH];
    for (int k = 0; k < nb; k++) {
      rem[k].iov_base = (void *)(uintptr_t)(p->t[i0 + k].regs.rsp & ~7ull);
      rem[k].iov_len = stack_span(p, i0 + k, &full[k]);
      total += rem[k].iov_len;
    }
    uint8_t *all = total <= p->scanlen ? p->scanbuf : malloc(total ? total : 1);
    ssize_t got = -1;
    if (all) {
      size_t off = 0;
      for (int k = 0; k < nb; k++) { loc[k].iov_base = all + off; loc[k].iov_len = rem[k].iov_len; off += rem[k].iov_len; }
      got = process_vm_readv(p->pid, loc, (unsigned long)nb, rem, (unsigned long)nb, 0);
    }
    size_t left = got > 0 ? (size_t)got : 0;
    for (int k = 0; k < nb; k++) {
      uint64_t sp = (uint64_t)(uintptr_t)rem[k].iov_base;
      size_t want = rem[k].iov_len, got1;
      const uint64_t *w;
      if (left >= want) { /* read whole */
        w = loc[k].iov_base;
        got1 = want;
        left -= want;
      } else {
        /* the rest of this batch, one stack at a time, page by page */
        left = 0;
        w = buf;
        got1 = read_mem(p, sp, buf, want);
      }
      hits_in(w, got1 / 8, m, n, hit);
      if (want < full[k]) {
        /* span ended past the thread pointer: valid only if that word is the
         * TCB's self pointer; otherwise scan the rest of the mapping too */
        if (got1 == want && w[want / 8 - 1] == sp + want - 8) continue;
        size_t g = read_mem(p, sp + want, buf, full[k] - want);
        hits_in(buf, g / 8, m, n, hit);
      }
    }
    if (all != p->scanbuf) free(all);
  }
}

static int referenced(proc *p, uint64_t lo, uint64_t hi) {
  eng_map m = {lo, hi - lo};
  int hit;
  referenced_many(p, &m, 1, &hit);
  return hit;
}

static int stop_all(proc *p, unsigned budget_us) { return stop_threads(p, budget_us, 0); }

static int proc_open(proc *p, pid_t pid, int fault_after) {
  memset(p, 0, sizeof *p);
  p->pid = pid;
  p->fault_after = fault_after;
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/mem", (int)pid);
  p->statfd = -1;
  p->taskfd = -1;
  p->memfd = open(path, O_RDWR | O_CLOEXEC);
  if (p->memfd < 0) return errno == ENOENT ? ENG_GONE : ENG_FAIL;
  p->t = calloc(MAX_THREADS, sizeof *p->t);
  return p->t ? ENG_OK : ENG_FAIL;
}

static void proc_close(proc *p) {
  release_all(p);
  if (p->memfd >= 0) close(p->memfd);
  if (p->statfd >= 0) close(p->statfd);
  if (p->taskfd >= 0) close(p->taskfd);
  free(p->t);
  free(p->vmas);
  free(p->scanbuf);
}

/* Detach every thread but keep (re-delivering signals); keep stays stopped. */
static void release_others(proc *p, pid_t keep) {
  thr k;
  int have = 0;
  for (int i = 0; i < p->n; i++)
    if (p->t[i].tid == keep && p->t[i].stopped) { k = p->t[i]; have = 1; p->t[i] = p->t[--p->n]; break; }
  release_all(p);
  if (have) { p->t[0] = k; p->n = 1; }
}

/* With every thread stopped: which maps no thread refers to (hit[i] = 0). */
static void scan_unmaps(proc *p, eng_map *m, int n, int *hit, eng_report *rep) {
  referenced_many(p, m, n, hit);
  for (int i = 0; i < n; i++)
    if (m[i].addr && hit[i]) rep->retained++;
}

/* Unmap the maps found unreferenced (any thread may run meanwhile: nothing
 * can reach code that no register, stack word or site refers to). */
static void unmap_list(proc *p, eng_map *m, int n, const int *hit, eng_report *rep) {
  for (int i = 0; i < n; i++) {
    if (!m[i].addr || hit[i]) continue;
    long ret;
    if (remote_syscall(p, SYS_munmap, m[i].addr, m[i].len, 0, 0, 0, 0, &ret) == 0 && ret == 0)
      m[i].addr = 0; /* done */
    else
      rep->retained++;
  }
}

static void unmap_unreferenced(proc *p, eng_map *m, int n, eng_report *rep) {
  int hit[ST_SCAN_MAX];
  for (int i = 0; i < n; i += ST_SCAN_MAX) {
    int k = n - i < ST_SCAN_MAX ? n - i : ST_SCAN_MAX;
    scan_unmaps(p, m + i, k, hit, rep);
    unmap_list(p, m + i, k, hit, rep);
  }
}

/* Sites grouped into spans of nearby bytes. */
#define SPAN_GAP 64u
#define SPAN_MAX 65536u
typedef struct { uint64_t lo, hi; size_t off; } span;
typedef struct {
  span *s;
  int n;
  int *of;            /* span of each site */
  uint8_t *orig, *work;
  size_t total;
  const eng_plan *pl;
} spans;

static void spans_free(spans *sp) {
  free(sp->s);
  free(sp->of);
  free(sp->orig);
  free(sp->work);
  memset(sp, 0, sizeof *sp);
}

static const eng_site *sort_sites;
static int by_region(const void *a, const void *b) {
  uint64_t x = sort_sites[*(const int *)a].region, y = sort_sites[*(const int *)b].region;
  return x < y ? -1 : x > y;
}

static int plan_spans(spans *sp, const eng_plan *pl) {
  int n = pl->nsites;
  int *ord = malloc(((size_t)n + 1) * sizeof *ord);
  sp->s = calloc((size_t)n + 1, sizeof *sp->s);
  sp->of = calloc((size_t)n + 1, sizeof *sp->of);
  sp->pl = pl;
  if (!ord || !sp->s || !sp->of) { free(ord); return -1; }
  for (int i = 0; i < n; i++) ord[i] = i;
  sort_sites = pl->sites;
  qsort(ord, (size_t)n, sizeof *ord, by_region);
  for (int k = 0; k < n; k++) {
    const eng_site *e = &pl->sites[ord[k]];
    span *c = sp->n ? &sp->s[sp->n - 1] : NULL;
    if (c && e->region <= c->hi + SPAN_GAP && e->region + e->len - c->lo <= SPAN_MAX) {
      if (e->region + e->len > c->hi) c->hi = e->region + e->len;
    } else {
      c = &sp->s[sp->n++];
      c->lo = e->region;
      c->hi = e->region + e->len;
    }
    sp->of[ord[k]] = sp->n - 1;
  }
  free(ord);
  for (int k = 0; k < sp->n; k++) { sp->s[k].off = sp->total; sp->total += sp->s[k].hi - sp->s[k].lo; }
  sp->orig = malloc(sp->total + 1);
  sp->work = malloc(sp->total + 1);
  return sp->orig && sp->work ? 0 : -1;
}

static int read_spans(proc *p, spans *sp) {
  for (int k = 0; k < sp->n; k++) {
    size_t len = sp->s[k].hi - sp->s[k].lo;
    if (pread(p->memfd, sp->orig + sp->s[k].off, len, (off_t)sp->s[k].lo) != (ssize_t)len) return -1;
  }
  return 0;
}

/* Where site i's bytes are in buf (sp->orig or sp->work). */
static uint8_t *span_at(spans *sp, int i, uint8_t *buf) {
  const span *c = &sp->s[sp->of[i]];
  return buf + c->off + (sp->pl->sites[i].region - c->lo);
}

/* Put site i's bytes for target into the work copy of its span. */
static void site_to_span(spans *sp, int i, uint64_t target, int direct) {
  uint8_t b[HPP_REGION_MAX];
  site_bytes(&sp->pl->sites[i], target, direct, b);
  memcpy(span_at(sp, i, sp->work), b, sp->pl->sites[i].len);
}

/* Does anything need the stack scan?  Only old mappings to unmap. */
static int need_unmap(const eng_plan *pl) {
  for (int i = 0; i < pl->nunmap; i++)
    if (pl->unmap[i].addr) return 1;
  return !pl->keep_map;
}

int eng_transition(pid_t pid, eng_plan *pl, eng_report *rep) {
  memset(rep, 0, sizeof *rep);
  proc p;
  int rc = proc_open(&p, pid, pl->fault_after);
  if (rc) { snprintf(rep->why, sizeof rep->why, "cannot open process memory"); free(p.t); return rc; }
  block_sigchld(1);
  unsigned budget = pl->budget_us ? pl->budget_us : 5000;
  long ret = 0;
  int mapped = 0, written = 0;
  spans sp;
  memset(&sp, 0, sizeof sp);
  uint64_t t0 = 0;
  /*
   * Phase 1, one thread stopped, the others running: map the new code and
   * fill it.  Nothing refers to the new mapping yet, so this needs no
   * pause of the process; only the switch below does.
   */
  uint64_t t1 = now_us();
  rc = stop_threads(&p, budget, 1);
  if (rc) {
    snprintf(rep->why, sizeof rep->why, rc == ENG_BUSY ? "a thread did not stop within the pause budget"
                                        : rc == ENG_GONE ? "process exited" : "ptrace failed");
    goto out;
  }
  if (remote_syscall(&p, SYS_mmap, pl->map_addr, pl->map_len, PROT_READ | PROT_EXEC,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, (uint64_t)-1, 0, &ret) ||
      (uint64_t)ret != pl->map_addr) {
    long r2;
    if (ret > 0 && (uint64_t)ret != pl->map_addr) remote_syscall(&p, SYS_munmap, (uint64_t)ret, pl->map_len, 0, 0, 0, 0, &r2);
    snprintf(rep->why, sizeof rep->why, "remote mmap at 0x%llx failed (%ld)", (unsigned long long)pl->map_addr, ret);
    rc = ENG_BUSY; /* address taken meanwhile: plan again */
    goto out;
  }
  mapped = 1;
  if (pl->rw_off < pl->map_len &&
      (remote_syscall(&p, SYS_mprotect, pl->map_addr + pl->rw_off, pl->map_len - pl->rw_off,
                      PROT_READ | PROT_WRITE, 0, 0, 0, &ret) || ret != 0))
    goto undo;
  if (mem_write(&p, pl->map_addr, pl->map_bytes, pl->map_len)) goto undo;
  count_prepare(&p); /* opens /proc/PID/stat and /proc/PID/task now rather than in the pause */
  spin_decide(&p);
  int scan = need_unmap(pl);
  for (int i = 0; i < pl->nsites && !scan; i++) scan = (pl->sites[i].flags & HPP_F_QUIESCE) != 0;
  if (scan) {
    load_vmas(&p);
    load_start_stack(&p);
    /* the stacks are read into memory already faulted in (no page faults
     * while every thread is stopped); a larger process falls back to malloc */
    int nt = p.n < 64 ? p.n + 1 : 64;
    p.scanlen = (size_t)nt * STACK_SCAN;
    p.scanbuf = malloc(p.scanlen);
    if (p.scanbuf) memset(p.scanbuf, 0, p.scanlen);
    else p.scanlen = 0;
    /* the first process_vm_readv on a process costs 10-30 us more than the
     * next ones (kernel paths and page walks cold): pay it here, reading a
     * word of the stopped thread's stack, not in the pause */
    for (int i = 0; i < p.n; i++)
      if (p.t[i].stopped) {
        uint64_t w;
        struct iovec l = {&w, sizeof w}, r = {(void *)(uintptr_t)(p.t[i].regs.rsp & ~7ull), sizeof w};
        (void)process_vm_readv(p.pid, &l, 1, &r, 1, 0);
        break;
      }
  }
  if (plan_spans(&sp, pl)) { rc = ENG_FAIL; snprintf(rep->why, sizeof rep->why, "out of memory"); goto undo_keep_rc; }
  rep->prep_us = (unsigned)(now_us() - t1);
  /* Phase 2: every thread stopped (the pause). */
  t0 = now_us();
  rc = stop_all(&p, budget);
  if (rc) {
    snprintf(rep->why, sizeof rep->why, rc == ENG_BUSY ? "threads did not stop within the pause budget"
                                        : rc == ENG_GONE ? "process exited" : "ptrace failed");
    goto undo_keep_rc;
  }
  rep->threads = (unsigned)p.n;
  rep->stop_us = (unsigned)(now_us() - t0);
  /* every site must hold exactly the bytes of its current state; sites
   * close together are read and written as one span (one /proc/PID/mem
   * call instead of one per site and step) */
  if (read_spans(&p, &sp)) { rc = ENG_GONE; goto undo_keep_rc; }
  for (int i = 0; i < pl->nsites; i++) {
    uint8_t want[HPP_REGION_MAX];
    eng_site *s = &pl->sites[i];
    eng_site_bytes(s, s->cur, want);
    int differ = memcmp(want, span_at(&sp, i, sp.orig), s->len) != 0;
    if (differ && s->cur && eng_site_direct(s)) { /* redirected by a payload without the direct jump */
      site_bytes(s, s->cur, 0, want);
      differ = memcmp(want, span_at(&sp, i, sp.orig), s->len) != 0;
    }
    if (differ) {
      snprintf(rep->why, sizeof rep->why, "%s: bytes at 0x%llx differ from the expected %s bytes",
               s->name, (unsigned long long)s->region, s->cur ? "redirection" : "original");
      rc = ENG_MISMATCH;
      goto undo_keep_rc;
    }
    for (int k = 0; k < p.n; k++)
      if (ip_unsafe(s, p.t[k].regs.rip)) {
        snprintf(rep->why, sizeof rep->why, "a thread is executing the bytes of %s", s->name);
        rc = ENG_BUSY;
        goto undo_keep_rc;
      }
    if ((s->flags & HPP_F_QUIESCE) && s->size && referenced(&p, s->entry, s->entry + s->size)) {
      snprintf(rep->why, sizeof rep->why, "%s is active on a thread's stack (quiescence)", s->name);
      rc = ENG_BUSY;
      goto undo_keep_rc;
    }
  }
  if (now_us() - t0 > budget) {
    snprintf(rep->why, sizeof rep->why, "stopping and checking took longer than the pause budget");
    rc = ENG_BUSY;
    goto undo_keep_rc;
  }
  uint64_t tw = now_us();
  /* 1: every site to its trampoline (behaviour unchanged: flag is 0).  A
   * call site goes back to calling its function's entry (its original
   * bytes), which follows the same commit byte: no trampoline needed, and
   * nothing to write when it already does.  Spans whose bytes do not change
   * are not written. */
  memcpy(sp.work, sp.orig, sp.total);
  for (int i = 0; i < pl->nsites; i++)
    site_to_span(&sp, i, pl->sites[i].mode == HPP_MODE_CALL ? 0 : pl->map_addr + ENG_HDR_SIZE + (uint64_t)i * ENG_TRAMP_SLOT, 0);
  for (; written < sp.n; written++) {
    const span *c = &sp.s[written];
    if (!memcmp(sp.work + c->off, sp.orig + c->off, c->hi - c->lo)) continue;
    if (mem_write(&p, c->lo, sp.work + c->off, c->hi - c->lo)) goto undo;
  }
  /* 2: commit with one byte */
  uint8_t one = 1;
  if (mem_write(&p, pl->map_addr + ENG_FLAG_OFF, &one, 1)) goto undo;
  /* 3: every site straight to its final target (PAD sites with body bytes:
   * one direct jump at the entry; call sites call the new code).  From here
   * on nothing is undone: sp.orig now tracks what the sites hold. */
  memcpy(sp.orig, sp.work, sp.total);
  for (int i = 0; i < pl->nsites; i++) site_to_span(&sp, i, pl->sites[i].next, 1);
  for (int k = 0; k < sp.n; k++)
    if (memcmp(sp.work + sp.s[k].off, sp.orig + sp.s[k].off, sp.s[k].hi - sp.s[k].lo) &&
        mem_write(&p, sp.s[k].lo, sp.work + sp.s[k].off, sp.s[k].hi - sp.s[k].lo)) {
      snprintf(rep->why, sizeof rep->why, "write failed after commit (process exiting?)");
      rc = ENG_GONE;
      goto out;
    }
  rep->write_us = (unsigned)(now_us() - tw);
  if (need_unmap(pl)) {
    /* decide with every thread stopped; unmap after the others resume */
    eng_map um[ST_SCAN_MAX + 1];
    int hit[ST_SCAN_MAX + 1], nu = 0;
    for (int i = 0; i < pl->nunmap && nu < ST_SCAN_MAX; i++) um[nu++] = pl->unmap[i];
    if (!pl->keep_map) um[nu++] = (eng_map){pl->map_addr, pl->map_len};
    uint64_t ts = now_us();
    scan_unmaps(&p, um, nu, hit, rep);
    rep->scan_us = (unsigned)(now_us() - ts);
    rep->pause_us = (unsigned)(now_us() - t0);
    thr *keep = NULL;
    for (int i = 0; i < p.n && !keep; i++)
      if ((long)p.t[i].regs.orig_rax < 0) keep = &p.t[i];
    release_others(&p, keep ? keep->tid : p.t[0].tid);
    /* test hook: hpm dies with every thread but one resumed, before or after the unmap */
    const char *ex = getenv("HPM_TEST_EXIT_AT");
    if (ex && !strcmp(ex, "resumed")) _exit(9);
    unmap_list(&p, um, nu, hit, rep);
    if (ex && !strcmp(ex, "unmapped")) _exit(9);
    for (int i = 0; i < pl->nunmap && i < ST_SCAN_MAX; i++) pl->unmap[i].addr = um[i].addr;
  }
  if (!rep->pause_us) rep->pause_us = (unsigned)(now_us() - t0);
  rc = ENG_OK;
  goto out;
undo:
  rc = ENG_FAIL;
  snprintf(rep->why, sizeof rep->why, "writing the redirections failed; original bytes restored");
undo_keep_rc:
  /* restore every span written so far (to the bytes read, all threads
   * stopped since), then drop the new mapping */
  for (int i = 0; i < written; i++) mem_write(&p, sp.s[i].lo, sp.orig + sp.s[i].off, sp.s[i].hi - sp.s[i].lo);
  if (mapped) {
    long r2;
    remote_syscall(&p, SYS_munmap, pl->map_addr, pl->map_len, 0, 0, 0, 0, &r2);
  }
out:
  if (!rep->pause_us && t0) rep->pause_us = (unsigned)(now_us() - t0);
  proc_close(&p);
  spans_free(&sp);
  return rc;
}

int eng_force(pid_t pid, eng_site *sites, int n, eng_map *unmap, int nunmap, eng_report *rep) {
  memset(rep, 0, sizeof *rep);
  proc p;
  int rc = proc_open(&p, pid, -1);
  if (rc) { free(p.t); return rc; }
  block_sigchld(1);
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
