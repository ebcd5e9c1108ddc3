/* SPDX-License-Identifier: MIT */
/* Thread control of a target process with ptrace: see ptrace.h. */
#include "hotpatch/ptrace.h"

#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hotpatch/hooks.h"

uint64_t hp_now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int hp_peek(pid_t pid, uint64_t addr, void *buf, size_t len) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/mem", (int)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t r = pread(fd, buf, len, (off_t)addr);
  close(fd);
  return r == (ssize_t)len ? 0 : -1;
}

int hp_mem_write(hp_proc *p, uint64_t addr, const void *buf, size_t len) {
  if (p->fault_after >= 0 && p->writes++ >= p->fault_after) _exit(9); /* crash-test hook */
  return pwrite(p->memfd, buf, len, (off_t)addr) == (ssize_t)len ? 0 : -1;
}

static int has_tid(hp_proc *p, pid_t tid) {
  for (int i = 0; i < p->n; i++)
    if (p->t[i].tid == tid) return 1;
  return 0;
}

/* Let every seized thread go, re-delivering signals it was stopped with:
 * the threads stopped in the pause (those that were running) first, the
 * held sleepers after them. */
/* Detach thread i (stopping it first if it is not), re-delivering the
 * signal it was stopped with.  It stays in p->t: the caller drops it. */
static void detach_one(hp_proc *p, int i) {
  hp_thread *t = &p->t[i];
  if (!t->stopped) { /* detaching needs a stop: interrupt (if not yet) and wait for it */
    if (!t->intr) ptrace(PTRACE_INTERRUPT, t->tid, 0, 0);
    int st;
    if (waitpid(t->tid, &st, __WALL) != t->tid || !WIFSTOPPED(st)) return;
    if ((st >> 16) == 0) t->sig = WSTOPSIG(st);
  }
  ptrace(PTRACE_DETACH, t->tid, 0, (void *)(long)t->sig);
}

static void release_all(hp_proc *p) {
  for (int pass = 0; pass < 2; pass++)
    for (int i = 0; i < p->n; i++)
      if (p->t[i].held == pass) detach_one(p, i);
  p->n = 0;
}

static void note_status(hp_proc *p, int i, int st) {
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
void hp_block_sigchld(int block) {
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(block ? SIG_BLOCK : SIG_UNBLOCK, &chld, NULL);
}

/* How long wait_stopped polls, yielding the CPU, before it sleeps; a
 * yield that returns later than STOP_YIELD_MAX_US ends the polling. */
#define STOP_SPIN_US 300u
#define STOP_YIELD_MAX_US 50u

/* Wait until every interrupted thread is stopped; HP_BUSY past the deadline.
 * Collects whichever tracee reported (waitpid(-1)): one call per event
 * rather than one per thread per wake-up.
 * When nothing but the target's threads competes for the CPUs (p->spin,
 * see hp_spin_decide) it polls with sched_yield() for the first STOP_SPIN_US
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
static int wait_stopped(hp_proc *p, uint64_t deadline) {
  uint64_t spin_end = p->spin ? hp_now_us() + STOP_SPIN_US : 0;
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
    if (!pending) return HP_OK;
    uint64_t now = hp_now_us();
    if (now > deadline) return HP_BUSY;
    if (now < spin_end) {
      sched_yield();
      if (hp_now_us() - now > STOP_YIELD_MAX_US) spin_end = 0; /* something else ran: sleep from now on */
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

/* Scheduling state of a thread (field 3 of /proc/PID/task/TID/stat: 'R'
 * running or runnable, 'S' interruptible wait, 'D', 't', 'Z', ...); 'X'
 * when the thread is gone (no such file, or nothing to read), 0 if unknown. */
static char thread_state(pid_t pid, pid_t tid) {
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/%d/task/%d/stat", (int)pid, (int)tid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT || errno == ESRCH ? 'X' : 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 'X';
  buf[n] = 0;
  const char *q = strrchr(buf, ')');
  return q && q[1] == ' ' ? q[2] : 0;
}

/* Has thread tid exited (a zombie or dead, or gone)?  The kernel refuses
 * to attach to such a thread (EPERM), and it runs no code any more. */
static int thread_exited(pid_t pid, pid_t tid) {
  char s = thread_state(pid, tid);
  return s == 'Z' || s == 'X';
}

/* Seize (attach without stopping) every thread not yet seized; *added new. */
static int seize_new(hp_proc *p, int *added) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/task", (int)p->pid);
  DIR *d = opendir(path);
  if (!d) return HP_GONE;
  *added = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    pid_t tid = (pid_t)atoi(e->d_name);
    if (tid <= 0 || has_tid(p, tid)) continue;
    if (p->n == HP_MAX_THREADS) { closedir(d); return HP_FAIL; }
    if (ptrace(PTRACE_SEIZE, tid, 0, (void *)(long)PTRACE_O_TRACESYSGOOD) != 0) {
      if (errno == ESRCH || (errno == EPERM && thread_exited(p->pid, tid))) continue; /* runs no code */
      fprintf(stderr, "hpm: PTRACE_SEIZE %d: %s\n", (int)tid, strerror(errno));
      closedir(d);
      return HP_FAIL;
    }
    p->t[p->n++] = (hp_thread){.tid = tid};
    (*added)++;
  }
  closedir(d);
  return HP_OK;
}

/* num_threads of the process (field 20 of /proc/PID/stat), -1 if unknown.
 * Once every thread hpm holds is stopped, none can create threads: if the
 * count equals what hpm holds, the set is complete without a directory scan.
 * When hp_count_prepare has found /proc/PID/task's link count to be 2 plus
 * the same number (procfs adds the thread count to it), one fstat gives it
 * (~1 us; formatting /proc/PID/stat takes ~5). */
int hp_thread_count(hp_proc *p) {
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

/* Before the pause: open what hp_thread_count reads, and use the task
 * directory's link count only if it agrees with num_threads now. */
void hp_count_prepare(hp_proc *p) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/task", (int)p->pid);
  p->taskfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int n = hp_thread_count(p);
  if (p->taskfd < 0 || n < 0) return;
  for (int tries = 0; tries < 2 && !p->nlink_ok; tries++) {
    struct stat st;
    if (fstat(p->taskfd, &st) == 0 && st.st_nlink == (nlink_t)n + 2 && hp_thread_count(p) == n) p->nlink_ok = 1;
    else n = hp_thread_count(p);
  }
}

/*
 * Before the pause: may wait_stopped poll?  Only if no task outside the
 * target is runnable besides hpm: nr_running of /proc/loadavg (runnable
 * tasks on all CPUs) minus hpm and the target's threads that are not
 * stopped (an upper bound of those of them that are runnable) is <= 0.
 */
void hp_spin_decide(hp_proc *p) {
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

/* Is a signal pending for thread tid that it does not block (its own or the
 * process's)?  1 if unknown. */
static int signal_pending(pid_t pid, pid_t tid) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/task/%d/status", (int)pid, (int)tid);
  FILE *f = fopen(path, "re");
  if (!f) return 1;
  unsigned long long pnd = 0, shd = 0, blk = 0, v;
  int seen = 0;
  while (fgets(line, sizeof line, f)) {
    if (sscanf(line, "SigPnd: %llx", &v) == 1) { pnd = v; seen |= 1; }
    else if (sscanf(line, "ShdPnd: %llx", &v) == 1) { shd = v; seen |= 2; }
    else if (sscanf(line, "SigBlk: %llx", &v) == 1) { blk = v; seen |= 4; }
  }
  fclose(f);
  return seen != 7 || ((pnd | shd) & ~blk) != 0;
}

/*
 * A blocking call that the kernel does not restart by itself after a stop
 * (a socket read or write with SO_RCVTIMEO/SO_SNDTIMEO, epoll_wait, ...:
 * signal(7), "Interruption of system calls and library functions by stop
 * signals") fails with EINTR when PTRACE_INTERRUPT stops its thread, even
 * though no signal reached the program; a program without signal handlers
 * need not expect that (tinyproxy drops the connection: tests/realprog).
 * Such a thread stops in the call's exit with rax = -EINTR: put it back on
 * its `syscall` instruction with the call's number, as the kernel does for
 * a restartable call, so it makes the call again when it resumes. Not when
 * a signal is pending for it: then the EINTR may be that signal's.
 */
static void restart_interrupted(hp_proc *p, hp_thread *t) {
  struct user_regs_struct *r = &t->regs;
  uint8_t insn[2];
  if ((long)r->orig_rax < 0 || (long)r->rax != -EINTR) return;
  if (pread(p->memfd, insn, 2, (off_t)(r->rip - 2)) != 2 || insn[0] != 0x0f || insn[1] != 0x05) return;
  if (signal_pending(p->pid, t->tid)) return;
  struct user_regs_struct n = *r;
  n.rax = n.orig_rax;
  n.rip -= 2;
  n.orig_rax = (uint64_t)-1;
  if (ptrace(PTRACE_SETREGS, t->tid, 0, &n) == 0) *r = n;
}

static void interrupt(hp_thread *t) {
  if (t->stopped || t->intr) return;
  ptrace(PTRACE_INTERRUPT, t->tid, 0, 0);
  t->intr = 1;
}

/*
 * Before the pause.  Stopping a thread costs the kernel a wake-up and a
 * ptrace stop (about 2.5 us on this project's 2-CPU test machine), and a
 * process with many threads has most of them asleep: I/O threads, idle
 * vCPUs, workers waiting for work.  Such a thread makes no progress while
 * it sleeps, so holding it stopped from a little before the pause costs it
 * nothing unless its wait ends meanwhile (then it resumes at the release,
 * exactly as if it had been stopped in the pause).  Stopped here, its stop
 * leaves the pause of the threads that were running.
 *
 * Only 'S' threads (interruptible wait, e.g. futex, poll, read, pause)
 * are held: PTRACE_INTERRUPT does not end an uninterruptible ('D') wait,
 * and holding a running thread would be a pause of its own.  A thread that
 * does not stop within budget_us stays interrupted and is waited for in
 * the pause like any other.  Safety does not depend on the choice: the
 * pause stops every thread that is not stopped yet, and a held thread
 * stays stopped until the release, so the registers read here (and the
 * stack behind them) are the ones it has at the switch.  The thread that
 * phase 1 stopped is held too (stopped since, registers read).
 */
int hp_hold_sleepers(hp_proc *p, unsigned budget_us) {
  uint64_t deadline = hp_now_us() + budget_us;
  int asked = 0;
  for (int i = 0; i < p->n; i++) {
    hp_thread *t = &p->t[i];
    if (t->stopped || t->intr || thread_state(p->pid, t->tid) != 'S') continue;
    interrupt(t);
    asked++;
  }
  if (asked) (void)wait_stopped(p, deadline); /* HP_BUSY: the pause waits for the rest */
  int held = 0;
  for (int i = 0; i < p->n; i++) {
    hp_thread *t = &p->t[i];
    if (!t->stopped) continue;
    if (!t->regs_ok) {
      if (ptrace(PTRACE_GETREGS, t->tid, 0, &t->regs)) continue; /* the pause reads them again */
      t->regs_ok = 1;
      restart_interrupted(p, t);
    }
    t->held = 1;
    held++;
  }
  return held;
}

void hp_boost(hp_proc *p, int on) {
  if (on && !p->boosted) {
    struct sched_param sp = {.sched_priority = 1};
    p->policy_was = sched_getscheduler(0);
    if (p->policy_was < 0 || sched_getparam(0, &p->param_was)) return;
    int pol = p->policy_was & ~SCHED_RESET_ON_FORK;
    if (pol == SCHED_FIFO || pol == SCHED_RR || pol == SCHED_DEADLINE) return; /* real-time already */
    if (sched_setscheduler(0, SCHED_FIFO | SCHED_RESET_ON_FORK, &sp) == 0) p->boosted = 1;
  } else if (!on && p->boosted) {
    sched_setscheduler(0, p->policy_was, &p->param_was); /* back: needs no privilege */
    p->boosted = 0;
  }
}

/*
 * one: seize every thread (they keep running) and stop only one.
 * Otherwise stop every seized thread, then re-scan: only running threads
 * create threads, so once every known thread is stopped, a scan that
 * finds no new one proves the set complete.
 */
int hp_stop_threads(hp_proc *p, unsigned budget_us, int one) {
  uint64_t deadline = hp_now_us() + budget_us;
  int added, r;
  if (one) {
    if ((r = seize_new(p, &added))) return r;
    if (!p->n) return HP_GONE;
    interrupt(&p->t[0]);
    if ((r = wait_stopped(p, deadline))) return r;
  } else {
    do {
      for (int i = 0; i < p->n; i++) interrupt(&p->t[i]);
      if ((r = wait_stopped(p, deadline))) return r;
      added = 0;
      if (hp_thread_count(p) != p->n && (r = seize_new(p, &added))) return r;
    } while (added);
  }
  int nstopped = 0;
  for (int i = 0; i < p->n; i++) {
    if (!p->t[i].stopped) continue;
    nstopped++;
    if (p->t[i].regs_ok) continue; /* held stopped since they were read (phase 1's thread) */
    if (ptrace(PTRACE_GETREGS, p->t[i].tid, 0, &p->t[i].regs)) return HP_GONE;
    p->t[i].regs_ok = 1;
    restart_interrupted(p, &p->t[i]);
  }
  return nstopped ? HP_OK : HP_GONE;
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
static int find_stub(hp_proc *p) {
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
 * (tests kill hpm inside them); unit tests set hp_test_step_hook. */
void (*hp_test_step_hook)(int step);
static void test_delay(int step) {
  if (hp_test_step_hook) hp_test_step_hook(step);
  unsigned us = hp_hooks()->syscall_delay_us;
  if (us > 0) usleep((useconds_t)us);
}

/* Wait for the next syscall stop of t (SIGTRAP|0x80), keeping any signal
 * that arrives first for re-delivery. */
static int syscall_stop(hp_proc *p, hp_thread *t) {
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
int hp_remote_syscall(hp_proc *p, long nr, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4,
                          uint64_t a5, uint64_t a6, long *ret) {
  if (!p->stub && find_stub(p)) return -1;
  hp_thread *t = NULL;
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

void hp_load_vmas(hp_proc *p) {
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
void hp_load_start_stack(hp_proc *p) {
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
 * (snapshot taken before the pause), at most HP_STACK_SCAN; *full gets that.
 * The scan reads less where no frame can be:
 * - the main thread's stack ends at startstack (argv, envp, auxv above);
 * - a thread whose thread pointer (fs base) lies in its stack mapping above
 *   rsp has its frames below it (glibc and musl put the thread control block
 *   at the top of the thread's stack, frames below it): the span then ends
 *   8 bytes past fs base, and the caller checks that word holds fs base
 *   itself (the x86-64 TLS ABI's TCB self pointer) or else reads the rest.
 * Returns the bytes to read first.
 */
size_t hp_stack_span(const hp_proc *p, int i, size_t *full) {
  uint64_t sp = p->t[i].regs.rsp & ~7ull, end = 0;
  size_t want = HP_STACK_SCAN;
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
size_t hp_read_mem(hp_proc *p, uint64_t sp, void *buf, size_t want) {
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

static void hits_in(const uint64_t *w, size_t nw, const hp_map *m, int n, int *hit) {
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
 * point into?  Sets hit[i] (scan_batch, up to SCAN_BATCH threads a call). */
void hp_referenced_many(hp_proc *p, const hp_map *m, int n, int *hit) {
  hp_referenced_sel(p, m, n, hit, HP_SEL_ALL);
}

/* Scan the registers and stacks of threads idx[0..nb) (nb <= SCAN_BATCH)
 * for m[0..n), setting hit[] (never clearing it).  The stacks are read
 * with one process_vm_readv when they can be; a stack it cannot read whole
 * is read again page by page through /proc/PID/mem. */
enum { SCAN_BATCH = 64 };
static void scan_batch(hp_proc *p, const int *idx, int nb, const hp_map *m, int n, int *hit) {
  static uint64_t buf[HP_STACK_SCAN / 8];
  struct iovec loc[SCAN_BATCH], rem[SCAN_BATCH];
  size_t total = 0, full[SCAN_BATCH];
  if (!nb) return;
  for (int k = 0; k < nb; k++) {
    hits_in((const uint64_t *)&p->t[idx[k]].regs, sizeof p->t[idx[k]].regs / 8, m, n, hit);
    rem[k].iov_base = (void *)(uintptr_t)(p->t[idx[k]].regs.rsp & ~7ull);
    rem[k].iov_len = hp_stack_span(p, idx[k], &full[k]);
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
      got1 = hp_read_mem(p, sp, buf, want);
    }
    hits_in(w, got1 / 8, m, n, hit);
    if (want < full[k]) {
      /* span ended past the thread pointer: valid only if that word is the
       * TCB's self pointer; otherwise scan the rest of the mapping too */
      if (got1 == want && w[want / 8 - 1] == sp + want - 8) continue;
      size_t g = hp_read_mem(p, sp + want, buf, full[k] - want);
      hits_in(buf, g / 8, m, n, hit);
    }
  }
  if (all != p->scanbuf) free(all);
}

void hp_referenced_sel(hp_proc *p, const hp_map *m, int n, int *hit, int sel) {
  for (int j = 0; j < n; j++) hit[j] = 0;
  int idx[SCAN_BATCH];
  for (int i = 0; i < p->n;) {
    int nb = 0;
    for (; i < p->n && nb < SCAN_BATCH; i++)
      if (sel == HP_SEL_ALL || p->t[i].held == sel) idx[nb++] = i;
    scan_batch(p, idx, nb, m, n, hit);
  }
}

int hp_proc_open(hp_proc *p, pid_t pid, int fault_after) {
  memset(p, 0, sizeof *p);
  p->pid = pid;
  p->fault_after = fault_after;
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/mem", (int)pid);
  p->statfd = -1;
  p->taskfd = -1;
  p->memfd = open(path, O_RDWR | O_CLOEXEC);
  if (p->memfd < 0) return errno == ENOENT ? HP_GONE : HP_FAIL;
  p->t = calloc(HP_MAX_THREADS, sizeof *p->t);
  return p->t ? HP_OK : HP_FAIL;
}

void hp_proc_close(hp_proc *p) {
  release_all(p);
  hp_boost(p, 0);
  if (p->memfd >= 0) close(p->memfd);
  if (p->statfd >= 0) close(p->statfd);
  if (p->taskfd >= 0) close(p->taskfd);
  free(p->t);
  free(p->vmas);
  free(p->scanbuf);
}

/* Detach every thread but keep (re-delivering signals); keep stays stopped. */
void hp_release_others(hp_proc *p, pid_t keep) {
  hp_thread k;
  int have = 0;
  for (int i = 0; i < p->n; i++)
    if (p->t[i].tid == keep && p->t[i].stopped) { k = p->t[i]; have = 1; p->t[i] = p->t[--p->n]; break; }
  release_all(p);
  if (have) { p->t[0] = k; p->n = 1; }
}


/* Threads scanned, then detached, at a time in the release: the first
 * ones resume after a short scan rather than after all of them. */
#define RELEASE_SCAN_BATCH 8

uint64_t hp_release_scanning(hp_proc *p, pid_t keep, const hp_map *m, int n, int *hit) {
  uint64_t scan_us = 0;
  int idx[RELEASE_SCAN_BATCH + 1], nb = 0, ki = -1;
  for (int i = 0; i < p->n; i++)
    if (p->t[i].tid == keep && p->t[i].stopped) ki = i;
  if (ki >= 0 && !p->t[ki].held) idx[nb++] = ki; /* scanned with the first batch, detached last */
  for (int i = 0; i <= p->n; i++) {
    if (i < p->n && (p->t[i].held || i == ki)) continue;
    if (i < p->n) idx[nb++] = i;
    if (nb < RELEASE_SCAN_BATCH && i < p->n) continue;
    uint64_t t = hp_now_us();
    scan_batch(p, idx, nb, m, n, hit);
    scan_us += hp_now_us() - t;
    for (int k = 0; k < nb; k++)
      if (idx[k] != ki) {
        detach_one(p, idx[k]);
        p->t[idx[k]].tid = 0; /* detached: dropped below */
      }
    nb = 0;
  }
  int w = 0;
  for (int i = 0; i < p->n; i++)
    if (p->t[i].tid) p->t[w++] = p->t[i];
  p->n = w;
  hp_release_others(p, keep); /* the held sleepers (scanned before the pause) */
  return scan_us;
}
