/* SPDX-License-Identifier: MIT */
/*
 * What the files of the hotpatch room share (not for other rooms: they use
 * hotpatch.h).
 *
 *   scan.c     processes, the binaries they map, their ELF facts
 *   store.c    STATE_DIR: layout, lock, stored hotpatches, journal queries
 *   recover.c  interrupted transitions; adoption of forked children
 *   apply.c    verification, per-process transitions, apply and revert
 *   agent.c    the agent's loop (proc connector)
 *   cmd.c      the commands: options and printing
 * below them: journal.c (the journal record), transition.c (one process's
 * transition), redirect.c (bytes), ptrace.c (thread control), hooks.c,
 * imports.c (a payload's imports in one process) over dso.c (dso.h).
 */
#ifndef HPM_RUNTIME_HOTPATCH_INTERNAL_H
#define HPM_RUNTIME_HOTPATCH_INTERNAL_H

#include <glob.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "hotpatch/hooks.h"
#include "hotpatch/hotpatch.h"
#include "hotpatch/journal.h"
#include "hotpatch/transition.h"

#define HP_PATH_MAX 4200

/* ---- scan.c ---- */
/* Every process but hpm itself (*out malloc'd); -1 if /proc is unreadable. */
int hp_pids(pid_t **out);
/* Is pid one of pids[0..npids) (every pid when npids is 0)? */
bool hp_pid_selected(const pid_t *pids, int npids, pid_t pid);
/* starttime of /proc/PID/stat (clock ticks after boot; 0: no such process):
 * tells a reused pid apart. */
uint64_t hp_proc_starttime(pid_t pid);
/* Is pid gone, a zombie, exiting (PF_EXITING) or dumping core (killed by a
 * signal)?  Such a process runs no code of its own any more: a transition
 * it fails is not a failure to report. */
bool hp_proc_dying(pid_t pid);
/* How long a process that started at start has run, in ms. */
uint64_t hp_proc_age_ms(uint64_t start);

/* ELF facts of mapped files by device and inode, for one operation (or the
 * agent's lifetime): many processes map the same few binaries.  (A stale
 * entry cannot patch the wrong code: original bytes are checked in every
 * process.) */
#define HP_ELF_CACHE 256
typedef struct {
  struct { unsigned long dev, ino; int ok; hpp_elf_info info; } e[HP_ELF_CACHE];
  int n;
} hp_elf_cache;

/* One process x one payload whose binary it maps. */
typedef struct {
  pid_t pid;
  uint64_t bias;    /* load bias of the binary */
  uint64_t lo, hi;  /* the binary's span in the process */
  char exe[256];
  const hpp_payload *pl;
} hp_match;

/* The payloads of h whose binary (by build-id) pid maps; at most cap. */
int hp_proc_match(hp_elf_cache *c, pid_t pid, const hp_hotpatch *h, hp_match *out, int cap);
/* The site of payload function f in a process where the binary's bias is bias. */
void hp_site_from_func(hp_site *s, const hpp_func *f, uint64_t bias);

/* ---- binding.c ---- */
/* Whether m's process runs the code m's payload replaces, when that binary
 * is a shared library (nothing to say when it is the program itself): for
 * each exported function it replaces, a warning through warn when the
 * program exports or carries its own copy, or a reference of a mapped
 * object binds (its GOT slot, read now) to another object's definition.
 * Returns how many warnings it gave. */
typedef void (*hp_warn_fn)(void *ctx, const char *func, const char *text);
int hp_binding_check(const hp_match *m, hp_warn_fn warn, void *ctx);

/* ---- one operation over the host's processes ---- */
typedef struct {
  hpm_ctx *ctx;
  const pid_t *pids;  /* only these processes (npids 0: every process) */
  int npids;
  hp_elf_cache *elf;
} hp_op;

/* ---- store.c: STATE_DIR ---- */
void hp_store_mkdirs(const hpm_ctx *ctx);
/* Take STATE_DIR/lock (waits): the fd, or -1 with st (exit code 3). */
int hp_store_lock(const hpm_ctx *ctx, hpmh_status *st);
void hp_store_unlock(int fd);
/* STATE_DIR/hotpatches/seq-SEQ.hpm: the hotpatch of sequence seq as applied. */
int hp_stored_path(const hpm_ctx *ctx, char *o, size_t n, uint32_t seq);
/* STATE_DIR/procs/PID-START-BUILDID.suffix ("state" or "pending"). */
void hp_journal_path(const hpm_ctx *ctx, char *o, size_t n, pid_t pid, uint64_t start, const uint8_t *build_id,
                     const char *suffix);
/* Every STATE_DIR/procs/ *.suffix; 0 when there is any (globfree then). */
int hp_journal_glob(const hpm_ctx *ctx, const char *suffix, glob_t *g);
/* The journals of processes that still run and carry a hotpatch (forked
 * children carrying one adopted first, unless another hpm holds the
 * state).  *out malloc'd: hp_list_free. */
int hp_list_get(hpm_ctx *ctx, hp_journal **out, int *n);
void hp_list_free(hp_journal *l, int n);

/* ---- recover.c ---- */
/* Finish or roll back every interrupted transition; forget processes that
 * are gone.  0, or -1 if one could not be finished yet.  Under the lock. */
int hp_recover_all(hp_op *op);
/* hpm recover: the lock, then hp_recover_all.  0, 4 (not all finished), or
 * 3 with st (no lock). */
int hp_recover(hpm_ctx *ctx, hpmh_status *st);
/* Journal what pid (started at start) carries of hpm's code, if hpm has no
 * journal for it: binaries adopted, 0 none, -1 no mapping of hpm's at all. */
int hp_adopt_proc(hp_op *op, pid_t pid, uint64_t start);
/* Adopt every process of op that carries hpm's code unjournaled. */
void hp_adopt_all(hp_op *op);

/* ---- imports.c ---- */
/* The address in process pid of each import of pl (addrs[pl->import_count]),
 * found as its dynamic linker would, without running code in it; say (may
 * be NULL) gets a line per import.  0, or -1 with why naming the import. */
int hp_imports_resolve(pid_t pid, const hpp_payload *pl, uint64_t *addrs, FILE *say, char *why, size_t wl);

/* ---- apply.c ---- */
typedef struct { unsigned pause_us, prep_us, hold_us; int attempts; } hp_proc_result;
/* Retrying a busy process (apply.c): random growing back-off, and the hard
 * limit on the time spent retrying one process (docs/hotpatch-authoring.md). */
#define HP_RETRY_LIMIT_MS 20000u
typedef struct { unsigned wait_ms, seed, limit_ms; uint64_t start_us; } hp_backoff;
void hp_backoff_init(hp_backoff *b, pid_t pid);
int hp_backoff_wait(hp_backoff *b); /* 0 after waiting; -1: the limit is reached */
/* Move one process from its journaled state to h's payload mt->pl (h NULL:
 * original code), journaled, retried while busy.  Returns HP_*. */
int hp_transition_proc(hp_op *op, const hp_match *mt, const hp_hotpatch *h, hp_proc_result *pr);
/* Revert every journaled (or adoptable) process of o to original code and
 * record sequence 0.  r gets the counts (patched: reverted).  Prints one
 * line a process (not with ctx->json).  Returns the exit code. */
int hp_revert_all(hpm_ctx *ctx, const hp_opts *o, hp_report *r);

/* ---- agent.c ---- */
/* The agent: patch new processes of the applied hotpatch's binaries (proc
 * connector, periodic scans), run the update room's periodic assessment
 * (unless !assess); once: one scan, then return.  SIGHUP reads the policy
 * file again (hpm_ctx_reload); SIGTERM/SIGINT end it.  Tells the service
 * manager READY=1, its status and watchdog pings (service.h).  Returns the
 * exit code. */
int hp_agent(hpm_ctx *ctx, bool once, bool assess);

#endif
