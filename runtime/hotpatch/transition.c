/* SPDX-License-Identifier: MIT */
/* Per-process transitions: see transition.h. */
#include "hotpatch/transition.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "hotpatch/hooks.h"

#define UNMAP_MAX 16 /* old mappings scanned for at once */
#define HP_PREP_STOP_US 1000000u /* waiting for phase 1's one thread to stop */

/* The maps a transition may unmap, m[0..n), then the trampoline part of
 * each, x[n + i]: from its start to where its header says its image
 * begins (a revert's map is trampolines only; a map whose header cannot be
 * read counts as trampolines whole).  Both are scanned together. */
static void tramp_parts(hp_proc *p, const hp_map *m, int n, hp_map *x) {
  for (int i = 0; i < n; i++) {
    uint8_t hdr[HP_HDR_SIZE];
    x[i] = m[i];
    x[n + i] = m[i];
    if (m[i].addr && pread(p->memfd, hdr, sizeof hdr, (off_t)m[i].addr) == (ssize_t)sizeof hdr &&
        !memcmp(hdr, HP_MAGIC, 8)) {
      uint32_t img = hpp_ld32(hdr + HP_HDR_IMAGE);
      if (img >= HP_HDR_SIZE && img <= m[i].len) x[n + i].len = img;
    }
  }
}

/*
 * Which maps nothing refers to (hit[i] = 0), from what the threads refer
 * to: h[0..2n), set by scanning every thread after the commit for x[0..2n)
 * (tramp_parts' list); the held threads' share may have been scanned
 * before the pause (they stayed stopped).  A map holding the target of one
 * of the sites written (their final state) is in use whatever the threads
 * hold: it is the code the process runs from now on, never old code.
 *
 * A thread in a map's trampolines keeps all of the maps: a trampoline goes
 * on into its old or new target, which may lie in another of them.  A
 * thread can be in one only if hpm died between pointing sites at new
 * trampolines and the commit, and the process ran through them: recovery
 * rolls back and records the transition map, and a thread still in one of
 * its trampolines goes on into the previous hotpatch's code.  Except
 * m[fresh] (-1: none), a revert's own trampolines: every thread was
 * stopped for the whole time a site led into them.
 */
static void decide_unmaps(const hp_map *x, int n, const hp_site *sites, int nsites, const int *h, int *hit,
                          int fresh, hp_transition_report *rep) {
  int in_tramp = 0;
  for (int i = 0; i < n; i++) {
    hit[i] = h[i];
    if (x[i].addr && i != fresh && h[n + i]) in_tramp = 1;
  }
  for (int i = 0; i < n; i++) {
    if (i != fresh) hit[i] |= in_tramp;
    for (int k = 0; k < nsites && x[i].addr && !hit[i]; k++)
      hit[i] = sites[k].next >= x[i].addr && sites[k].next < x[i].addr + x[i].len;
    if (x[i].addr && hit[i]) rep->retained++;
  }
}

/* Unmap the maps found unreferenced (any thread may run meanwhile: nothing
 * can reach code that no register, stack word or site refers to). */
static void unmap_list(hp_proc *p, hp_map *m, int n, const int *hit, hp_transition_report *rep) {
  for (int i = 0; i < n; i++) {
    if (!m[i].addr || hit[i]) continue;
    long ret;
    if (hp_remote_syscall(p, SYS_munmap, m[i].addr, m[i].len, 0, 0, 0, 0, &ret) == 0 && ret == 0)
      m[i].addr = 0; /* done */
    else
      rep->retained++;
  }
}

static void unmap_unreferenced(hp_proc *p, hp_map *m, int n, const hp_site *sites, int nsites,
                               hp_transition_report *rep) {
  int hit[UNMAP_MAX], h[2 * UNMAP_MAX];
  hp_map x[2 * UNMAP_MAX];
  for (int i = 0; i < n; i += UNMAP_MAX) { /* one round: a journal holds at most HP_JOURNAL_MAX_MAPS (+1) */
    int k = n - i < UNMAP_MAX ? n - i : UNMAP_MAX;
    tramp_parts(p, m + i, k, x);
    hp_referenced_many(p, x, 2 * k, h); /* every thread stopped */
    decide_unmaps(x, k, sites, nsites, h, hit, -1, rep);
    unmap_list(p, m + i, k, hit, rep);
  }
}

static int read_spans(hp_proc *p, hp_spans *sp) {
  for (int k = 0; k < sp->n; k++) {
    size_t len = sp->s[k].hi - sp->s[k].lo;
    if (pread(p->memfd, sp->orig + sp->s[k].off, len, (off_t)sp->s[k].lo) != (ssize_t)len) return -1;
  }
  return 0;
}

/* Is s a function that needs quiescence and is active on the stack of one
 * of the threads sel picks (ptrace.h: HP_SEL_*)?  Then rep->why says so. */
static int quiesce_busy(hp_proc *p, const hp_site *s, int sel, hp_transition_report *rep) {
  hp_map q = {s->entry, s->size};
  int hit = 0;
  if ((s->flags & HPP_F_QUIESCE) && s->size) hp_referenced_sel(p, &q, 1, &hit, sel);
  if (hit) snprintf(rep->why, sizeof rep->why, "%s is active on a thread's stack (quiescence)", s->name);
  return hit;
}

/* Does anything need the stack scan?  Only old mappings to unmap. */
static int need_unmap(const hp_plan *pl) {
  for (int i = 0; i < pl->nunmap; i++)
    if (pl->unmap[i].addr) return 1;
  return !pl->keep_map;
}

int hp_transition(pid_t pid, hp_plan *pl, hp_transition_report *rep) {
  memset(rep, 0, sizeof *rep);
  hp_proc p;
  int rc = hp_proc_open(&p, pid, pl->fault_after);
  if (rc) { snprintf(rep->why, sizeof rep->why, "cannot open process memory"); free(p.t); return rc; }
  hp_block_sigchld(1);
  unsigned budget = pl->budget_us ? pl->budget_us : 5000;
  long ret = 0;
  int mapped = 0, written = 0;
  hp_spans sp;
  memset(&sp, 0, sizeof sp);
  uint64_t t0 = 0, th = 0;
  hp_map um[UNMAP_MAX + 1]; /* old maps to unmap, and the new one on a revert */
  hp_map ux[2 * (UNMAP_MAX + 1)]; /* them and their trampoline parts (tramp_parts) */
  int prehit[2 * (UNMAP_MAX + 1)], nu = 0;
  /*
   * Phase 1, one thread stopped, the others running: map the new code and
   * fill it.  Nothing refers to the new mapping yet, so this needs no
   * pause of the process; only the switch below does.
   */
  uint64_t t1 = hp_now_us();
  /* one thread stopped is no pause of the process: on a busy machine it may
   * wait for its turn on a CPU longer than the pause budget */
  rc = hp_stop_threads(&p, budget > HP_PREP_STOP_US ? budget : HP_PREP_STOP_US, 1);
  if (rc) {
    snprintf(rep->why, sizeof rep->why, rc == HP_BUSY ? "a thread did not stop within the pause budget"
                                        : rc == HP_GONE ? "process exited" : "ptrace failed");
    goto out;
  }
  if (hp_remote_syscall(&p, SYS_mmap, pl->map_addr, pl->map_len, PROT_READ | PROT_EXEC,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, (uint64_t)-1, 0, &ret) ||
      (uint64_t)ret != pl->map_addr) {
    long r2;
    if (ret > 0 && (uint64_t)ret != pl->map_addr) hp_remote_syscall(&p, SYS_munmap, (uint64_t)ret, pl->map_len, 0, 0, 0, 0, &r2);
    snprintf(rep->why, sizeof rep->why, "remote mmap at 0x%llx failed (%ld)", (unsigned long long)pl->map_addr, ret);
    rc = HP_BUSY; /* address taken meanwhile: plan again */
    goto out;
  }
  mapped = 1;
  if (pl->rw_off < pl->map_len &&
      (hp_remote_syscall(&p, SYS_mprotect, pl->map_addr + pl->rw_off, pl->map_len - pl->rw_off,
                      PROT_READ | PROT_WRITE, 0, 0, 0, &ret) || ret != 0))
    goto undo;
  if (hp_mem_write(&p, pl->map_addr, pl->map_bytes, pl->map_len)) goto undo;
  hp_count_prepare(&p); /* opens /proc/PID/stat and /proc/PID/task now rather than in the pause */
  hp_spin_decide(&p);
  th = hp_now_us();
  rep->held = (unsigned)hp_hold_sleepers(&p, budget);
  rep->hold_wait_us = (unsigned)(hp_now_us() - th);
  hp_spin_decide(&p);
  int scan = need_unmap(pl);
  for (int i = 0; i < pl->nsites && !scan; i++) scan = (pl->sites[i].flags & HPP_F_QUIESCE) != 0;
  if (scan) {
    hp_load_vmas(&p);
    hp_load_start_stack(&p);
    /* the stacks are read into memory already faulted in (no page faults
     * while every thread is stopped); a larger process falls back to malloc */
    int nt = p.n < 64 ? p.n + 1 : 64;
    p.scanlen = (size_t)nt * HP_STACK_SCAN;
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
  if (hp_spans_plan(&sp, pl->sites, pl->nsites)) { rc = HP_FAIL; snprintf(rep->why, sizeof rep->why, "out of memory"); goto undo_keep_rc; }
  /* read the spans once now, for the kernel's page walk of them: the read
   * in the pause is then ~1 us shorter (what it reads is what counts) */
  if (read_spans(&p, &sp)) { rc = HP_GONE; goto undo_keep_rc; }
  /* the held threads' share of the scans, before the pause: the old maps
   * they refer to, and whether one is inside a function that needs
   * quiescence (then the pause would fail the same way: fail now) */
  if (need_unmap(pl)) {
    for (int i = 0; i < pl->nunmap && nu < UNMAP_MAX; i++) um[nu++] = pl->unmap[i];
    if (!pl->keep_map) um[nu++] = (hp_map){pl->map_addr, pl->map_len};
    tramp_parts(&p, um, nu, ux);
    hp_referenced_sel(&p, ux, 2 * nu, prehit, HP_SEL_HELD);
  }
  for (int i = 0; i < pl->nsites; i++)
    if (quiesce_busy(&p, &pl->sites[i], HP_SEL_HELD, rep)) { rc = HP_BUSY; goto undo_keep_rc; }
  rep->prep_us = (unsigned)(hp_now_us() - t1);
  /* Phase 2: every thread stopped (the pause). */
  t0 = hp_now_us();
  rc = hp_stop_threads(&p, budget, 0);
  if (rc) {
    snprintf(rep->why, sizeof rep->why, rc == HP_BUSY ? "threads did not stop within the pause budget"
                                        : rc == HP_GONE ? "process exited" : "ptrace failed");
    goto undo_keep_rc;
  }
  rep->threads = (unsigned)p.n;
  rep->stop_us = (unsigned)(hp_now_us() - t0);
  /* every site must hold exactly the bytes of its current state; sites
   * close together are read and written as one span (one /proc/PID/mem
   * call instead of one per site and step) */
  if (read_spans(&p, &sp)) { rc = HP_GONE; goto undo_keep_rc; }
  for (int i = 0; i < pl->nsites; i++) {
    uint8_t want[HPP_REGION_MAX];
    hp_site *s = &pl->sites[i];
    hp_site_bytes(s, s->cur, want);
    int differ = memcmp(want, hp_span_at(&sp, i, sp.orig), s->len) != 0;
    if (differ && s->cur && hp_site_direct(s)) { /* redirected by a payload without the direct jump */
      hp_site_bytes_hop(s, s->cur, want);
      differ = memcmp(want, hp_span_at(&sp, i, sp.orig), s->len) != 0;
    }
    if (differ) {
      snprintf(rep->why, sizeof rep->why, "%s: bytes at 0x%llx differ from the expected %s bytes",
               s->name, (unsigned long long)s->region, s->cur ? "redirection" : "original");
      rc = HP_MISMATCH;
      goto undo_keep_rc;
    }
    for (int k = 0; k < p.n; k++)
      if (hp_site_ip_unsafe(s, p.t[k].regs.rip)) {
        snprintf(rep->why, sizeof rep->why, "a thread is executing the bytes of %s", s->name);
        rc = HP_BUSY;
        goto undo_keep_rc;
      }
    if (quiesce_busy(&p, s, HP_SEL_OTHERS, rep)) { rc = HP_BUSY; goto undo_keep_rc; }
  }
  if (hp_now_us() - t0 > budget) {
    snprintf(rep->why, sizeof rep->why, "stopping and checking took longer than the pause budget");
    rc = HP_BUSY;
    goto undo_keep_rc;
  }
  uint64_t tw = hp_now_us();
  /* 1: every site to its trampoline (behaviour unchanged: flag is 0).  A
   * call site goes back to calling its function's entry (its original
   * bytes), which follows the same commit byte: no trampoline needed, and
   * nothing to write when it already does.  Spans whose bytes do not change
   * are not written. */
  memcpy(sp.work, sp.orig, sp.total);
  for (int i = 0; i < pl->nsites; i++)
    hp_span_put_site(&sp, i, pl->sites[i].mode == HPP_MODE_CALL ? 0 : pl->map_addr + HP_HDR_SIZE + (uint64_t)i * HP_TRAMP_SLOT, 0);
  for (; written < sp.n; written++) {
    const hp_span *c = &sp.s[written];
    if (!memcmp(sp.work + c->off, sp.orig + c->off, c->hi - c->lo)) continue;
    if (hp_mem_write(&p, c->lo, sp.work + c->off, c->hi - c->lo)) goto undo;
  }
  /* 2: commit with one byte */
  uint8_t one = 1;
  if (hp_mem_write(&p, pl->map_addr + HP_FLAG_OFF, &one, 1)) goto undo;
  /* 3: every site straight to its final target (PAD sites with body bytes:
   * one direct jump at the entry; call sites call the new code).  From here
   * on nothing is undone: sp.orig now tracks what the sites hold. */
  memcpy(sp.orig, sp.work, sp.total);
  for (int i = 0; i < pl->nsites; i++) hp_span_put_site(&sp, i, pl->sites[i].next, 1);
  for (int k = 0; k < sp.n; k++)
    if (memcmp(sp.work + sp.s[k].off, sp.orig + sp.s[k].off, sp.s[k].hi - sp.s[k].lo) &&
        hp_mem_write(&p, sp.s[k].lo, sp.work + sp.s[k].off, sp.s[k].hi - sp.s[k].lo)) {
      snprintf(rep->why, sizeof rep->why, "write failed after commit (process exiting?)");
      rc = HP_GONE;
      goto out;
    }
  rep->write_us = (unsigned)(hp_now_us() - tw);
  if (need_unmap(pl)) {
    /* The pause ends here: the threads stopped in it are scanned for the
     * old maps a few at a time, each batch detached right after its scan
     * (hp_release_scanning); the decision follows the last scan, the unmap
     * runs on the kept thread after the others resume. */
    rep->pause_us = (unsigned)(hp_now_us() - t0);
    int hit[UNMAP_MAX + 1];
    hp_thread *keep = NULL;
    for (int i = 0; i < p.n && !keep; i++)
      if ((long)p.t[i].regs.orig_rax < 0) keep = &p.t[i];
    /* boosted until the last thread is detached (hp_boost): the kept
     * thread runs the munmaps while hpm sleeps in waitpid */
    uint64_t tr = hp_now_us();
    hp_boost(&p, 1);
    rep->fifo = p.boosted;
    rep->scan_us = (unsigned)hp_release_scanning(&p, keep ? keep->tid : p.t[0].tid, ux, 2 * nu, prehit);
    decide_unmaps(ux, nu, pl->sites, pl->nsites, prehit, hit, pl->keep_map ? -1 : nu - 1, rep);
    rep->release_us = (unsigned)(hp_now_us() - tr);
    /* test hook: hpm dies with every thread but one resumed, before or after the unmap */
    const char *ex = hp_hooks()->exit_at;
    if (ex && !strcmp(ex, "resumed")) _exit(9);
    unmap_list(&p, um, nu, hit, rep);
    if (ex && !strcmp(ex, "unmapped")) _exit(9);
    for (int i = 0; i < pl->nunmap && i < UNMAP_MAX; i++) pl->unmap[i].addr = um[i].addr;
    pl->map_retained = !pl->keep_map && um[nu - 1].addr != 0;
    hp_release_others(&p, 0); /* the kept thread */
    rep->hold_us = (unsigned)(hp_now_us() - th);
    hp_boost(&p, 0); /* hpm may be preempted from here on: no thread waits for it */
  }
  if (!rep->pause_us) {
    rep->pause_us = (unsigned)(hp_now_us() - t0);
    uint64_t tr = hp_now_us();
    hp_boost(&p, 1);
    rep->fifo = p.boosted;
    hp_release_others(&p, 0); /* every thread (tid 0 is none of them) */
    rep->release_us = (unsigned)(hp_now_us() - tr);
    rep->hold_us = (unsigned)(hp_now_us() - th);
    hp_boost(&p, 0); /* hpm may be preempted from here on: no thread waits for it */
  }
  rc = HP_OK;
  goto out;
undo:
  rc = HP_FAIL;
  snprintf(rep->why, sizeof rep->why, "writing the redirections failed; original bytes restored");
undo_keep_rc:
  /* restore every span written so far (to the bytes read, all threads
   * stopped since), then drop the new mapping */
  for (int i = 0; i < written; i++) hp_mem_write(&p, sp.s[i].lo, sp.orig + sp.s[i].off, sp.s[i].hi - sp.s[i].lo);
  if (mapped) {
    long r2;
    hp_remote_syscall(&p, SYS_munmap, pl->map_addr, pl->map_len, 0, 0, 0, 0, &r2);
  }
out:
  if (!rep->pause_us && t0) rep->pause_us = (unsigned)(hp_now_us() - t0);
  hp_proc_close(&p);
  hp_spans_free(&sp);
  return rc;
}

int hp_force(pid_t pid, hp_site *sites, int n, hp_map *unmap, int nunmap, hp_transition_report *rep) {
  memset(rep, 0, sizeof *rep);
  hp_proc p;
  int rc = hp_proc_open(&p, pid, -1);
  if (rc) { free(p.t); return rc; }
  hp_block_sigchld(1);
  uint64_t t0 = hp_now_us();
  rc = hp_stop_threads(&p, 200000, 0);
  if (rc) goto out;
  for (int i = 0; i < n; i++)
    for (int k = 0; k < p.n; k++)
      if (hp_site_ip_unsafe(&sites[i], p.t[k].regs.rip)) { rc = HP_BUSY; goto out; }
  for (int i = 0; i < n; i++) {
    uint8_t b[HPP_REGION_MAX];
    hp_site_bytes(&sites[i], sites[i].next, b);
    if (hp_mem_write(&p, sites[i].region, b, sites[i].len)) { rc = HP_GONE; goto out; }
  }
  hp_boost(&p, 1); /* the release (hp_proc_close) */
  unmap_unreferenced(&p, unmap, nunmap, sites, n, rep);
out:
  rep->pause_us = (unsigned)(hp_now_us() - t0);
  hp_proc_close(&p);
  return rc;
}

uint64_t hp_pick_addr(pid_t pid, uint64_t lo, uint64_t hi, uint64_t len) {
  char path[64], line[512];
  snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
  FILE *f = fopen(path, "re");
  if (!f) return 0;
  uint64_t (*ms)[2] = NULL;
  int n = 0, cap = 0;
  while (fgets(line, sizeof line, f)) {
    unsigned long a, b;
    if (sscanf(line, "%lx-%lx", &a, &b) != 2) continue;
    if (n == cap) {
      void *g = realloc(ms, (size_t)(cap = cap ? 2 * cap : 256) * sizeof *ms);
      if (!g) break;
      ms = g;
    }
    ms[n][0] = a;
    ms[n][1] = b;
    n++;
  }
  fclose(f);
  const uint64_t range = 1536ull << 20, gap = 1ull << 21;
  uint64_t found = 0;
  /* below the binary first (the heap grows above it), highest address first */
  uint64_t floor = lo > range ? lo - range : 0x10000;
  for (uint64_t a = (lo - len - gap) & ~0xfffull; !found && a >= floor && a < lo; a -= gap) {
    int clash = 0;
    for (int i = 0; i < n && !clash; i++) clash = a < ms[i][1] + gap && ms[i][0] < a + len + gap;
    if (!clash) found = a;
  }
  for (uint64_t a = (hi + (256ull << 20)) & ~0xfffull; !found && a + len < hi + range; a += gap) {
    int clash = 0;
    for (int i = 0; i < n && !clash; i++) clash = a < ms[i][1] + gap && ms[i][0] < a + len + gap;
    if (!clash) found = a;
  }
  free(ms);
  return found;
}
