/* SPDX-License-Identifier: MIT */
/*
 * Thread control of a target process with ptrace: seize and stop its
 * threads (all of them, or one while the others run), read their registers,
 * run system calls inside it through a stub that survives hpm's death at any
 * instant, read and write its memory, and find which ranges its registers
 * and stacks refer to.  The transition protocol (transition.h) is built on
 * these; the unit tests drive them on real traced children.
 */
#ifndef HPM_RUNTIME_HOTPATCH_PTRACE_H
#define HPM_RUNTIME_HOTPATCH_PTRACE_H

#include <stddef.h>
#include <sched.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/user.h>

/* The outcome of an operation on a process. */
enum {
  HP_OK = 0,
  HP_BUSY = 1,      /* a thread did not stop in time, or is in the way: try again */
  HP_MISMATCH = 2,  /* the process holds other bytes than expected */
  HP_GONE = 3,      /* the process (or the thread needed) exited */
  HP_FAIL = 4,
};

#define HP_MAX_THREADS 4096
#define HP_STACK_SCAN (64 * 1024) /* bytes of a thread's stack scanned at most */

/* A mapping in the process. */
typedef struct { uint64_t addr, len; } hp_map;

typedef struct {
  pid_t tid;
  int sig;        /* signal to re-deliver at resume */
  int stopped;
  int intr;       /* PTRACE_INTERRUPT sent */
  int regs_ok;    /* regs hold the stopped thread's registers (not resumed since) */
  int held;       /* stopped before the pause (hp_hold_sleepers) and held until the release */
  struct user_regs_struct regs;
} hp_thread;

typedef struct {
  pid_t pid;
  int memfd;
  hp_thread *t;
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
  int fault_after;      /* test hook: _exit(9) after this many writes (<0 off) */
  int spin;             /* waiting for stops may poll with sched_yield (hp_spin_decide) */
  int boosted;          /* hpm's thread runs SCHED_FIFO (hp_boost) */
  int policy_was;       /* its scheduling policy and parameters before */
  struct sched_param param_was;
} hp_proc;

uint64_t hp_now_us(void);

/* Read process memory (no ptrace needed); 0 or -1. */
int hp_peek(pid_t pid, uint64_t addr, void *buf, size_t len);

/* Open pid's memory (nothing seized yet).  Returns HP_OK, HP_GONE or HP_FAIL
 * (then nothing is held but p->t, which hp_proc_close frees too). */
int hp_proc_open(hp_proc *p, pid_t pid, int fault_after);
/* Release every thread (re-delivering signals they stopped with), close. */
void hp_proc_close(hp_proc *p);

/* Tracee stops arrive as SIGCHLD: every caller that stops threads blocks
 * it first (hp_block_sigchld(1)); tests unblock it again with 0. */
void hp_block_sigchld(int block);

/* With one: seize every thread (they keep running) and stop only one.
 * Otherwise stop every thread, the set proven complete.  Registers of the
 * stopped threads are read.  HP_BUSY past budget_us. */
int hp_stop_threads(hp_proc *p, unsigned budget_us, int one);
/* Detach every thread but keep (re-delivering signals); keep stays stopped.
 * Threads that were running go first, held sleepers last. */
void hp_release_others(hp_proc *p, pid_t keep);

/* Before the pause: stop the threads that sleep now in an interruptible
 * wait and hold them, registers read, until the release; the pause then
 * stops only the threads that were running.  Marks them (and phase 1's
 * thread, stopped since) held.  Returns how many threads are held. */
int hp_hold_sleepers(hp_proc *p, unsigned budget_us);

/*
 * For the release: run hpm's thread SCHED_FIFO (on), or back under its own
 * policy (off; hp_proc_close does it too).  Detaching a thread wakes it,
 * often on hpm's CPU, where it preempts hpm; the threads not yet detached
 * then wait for the next scheduler tick (2 CPUs, 4 busy threads: a release
 * of p50 3.9 ms, every thread but the first ones held that long).  A nice
 * value does not prevent that preemption, SCHED_FIFO does (release p50
 * 15 us).  Only for the detach loop: a real-time hpm could not hand its CPU
 * to a stopping thread queued on it while it waits for stops.  Without
 * CAP_SYS_NICE (or under systemd's RestrictRealtime=) it stays as it is.
 */
void hp_boost(hp_proc *p, int on);

/* Before a pause: open what counting threads reads, and decide whether
 * waiting for stops may poll (no other runnable work on the host). */
void hp_count_prepare(hp_proc *p);
int hp_thread_count(hp_proc *p);
void hp_spin_decide(hp_proc *p);

/* Write the process's memory (counts writes for the fault hook); 0 or -1. */
int hp_mem_write(hp_proc *p, uint64_t addr, const void *buf, size_t len);

/* Run system call nr in the process on a stopped thread; *ret gets its
 * return value.  0, or -1 when it could not be run. */
int hp_remote_syscall(hp_proc *p, long nr, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5,
                      uint64_t a6, long *ret);
/* Unit tests: called at each step of a remote call (0..3). */
extern void (*hp_test_step_hook)(int step);

/* ---- which ranges the stopped threads refer to ---- */
/* Before the pause: the mappings (bounds of stacks) and the main stack's start. */
void hp_load_vmas(hp_proc *p);
void hp_load_start_stack(hp_proc *p);
/* Bytes of thread i's stack to scan first (*full: at most, if the first
 * part ends at a thread pointer that turns out not to be one). */
size_t hp_stack_span(const hp_proc *p, int i, size_t *full);
/* Read [sp, sp+want) of the process, page by page past a hole; bytes read. */
size_t hp_read_mem(hp_proc *p, uint64_t sp, void *buf, size_t want);
/* Which of m[0..n) any thread's registers or stack words point into (hit[i]). */
void hp_referenced_many(hp_proc *p, const hp_map *m, int n, int *hit);
/* The same over some threads only: HP_SEL_HELD (held ones), HP_SEL_OTHERS. */
enum { HP_SEL_ALL = -1, HP_SEL_OTHERS = 0, HP_SEL_HELD = 1 };
void hp_referenced_sel(hp_proc *p, const hp_map *m, int n, int *hit, int sel);
/*
 * The release after a commit that leaves old maps to unmap: detach every
 * thread but keep, as hp_release_others, each thread stopped in the pause
 * (not held) scanned for m[0..n) right before its detach, a few at a time;
 * keep is scanned with the first of them and stays stopped.  Sets hit[]
 * (never clears it); held threads are not scanned (the caller scanned them
 * before the pause).  Returns the microseconds spent scanning.
 *
 * Safe because the commit came first: no site leads into an old map any
 * more, so a thread that refers to none when it is scanned cannot come to
 * refer to one while the rest are scanned.
 */
uint64_t hp_release_scanning(hp_proc *p, pid_t keep, const hp_map *m, int n, int *hit);

#endif
