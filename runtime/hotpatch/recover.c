/* SPDX-License-Identifier: MIT */
/*
 * Making the journal match the processes again: finishing or rolling back
 * transitions hpm did not finish (it died, or a worker did), and adopting
 * children forked from patched processes, which carry hpm's code without a
 * journal of their own (internal.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hotpatch/internal.h"
#include "hpm/core.h"
#include "msg.h"
#include "update/update.h"

/* ---- recovery of interrupted transitions ---- */
/* Is [addr, addr+len) exactly one anonymous mapping holding zeros at its
 * start: hpm's transition mapping, created but not yet filled? */
static int fresh_map(pid_t pid, uint64_t addr, uint64_t len) {
  if (!addr) return 0;
  char path[64], line[512];
  snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
  FILE *f = fopen(path, "re");
  if (!f) return 0;
  int found = 0;
  while (!found && fgets(line, sizeof line, f)) {
    unsigned long lo, hi, off, ino;
    char perms[8], file[64] = "";
    if (sscanf(line, "%lx-%lx %7s %lx %*x:%*x %lu %63s", &lo, &hi, perms, &off, &ino, file) < 5) continue;
    found = lo == addr && hi == addr + len && !ino && !file[0];
  }
  fclose(f);
  uint8_t b[64], z[64] = {0};
  return found && hp_peek(pid, addr, b, sizeof b) == 0 && !memcmp(b, z, sizeof b);
}

/* Recovery writes while every thread is stopped and none is inside the
 * bytes; a busy thread there is transient: retry with back-off, as apply does. */
static int force_retry(pid_t pid, hp_site *sites, int n, hp_map *un, int nun, hp_transition_report *rep) {
  int r = HP_BUSY;
  unsigned backoff_ms = 2;
  for (int attempt = 0; attempt < 10 && r == HP_BUSY; attempt++) {
    if (attempt) { usleep(backoff_ms * 1000); if (backoff_ms < 64) backoff_ms *= 2; }
    r = hp_force(pid, sites, n, un, nun, rep);
  }
  return r;
}

/* Says how recovering pd's transition went (done: what was done, todo:
 * what is still to do), and records a recovery in the update history
 * (history.h; the commands themselves are recorded by main.c).  0 if it
 * went through, -1 if not. */
static int recovered(hpm_ctx *ctx, const hp_journal *pd, int r, const char *done, const char *todo) {
  if (r != HP_OK) {
    msg("pid %d: cannot %s the interrupted transition yet (%s): run hpm recover again", pd->pid, todo,
        r == HP_BUSY ? "threads busy in patched bytes or not stopping" : "process exiting or ptrace failed");
    return -1;
  }
  char ids[32], res[96];
  snprintf(ids, sizeof ids, "seq %u", pd->seq);
  snprintf(res, sizeof res, "%s an interrupted transition (pid %d)", done, (int)pd->pid);
  update_history_detail(ctx, "recover", ids, "ok", NULL, res);
  msg("pid %d: %s an interrupted transition (seq %u)", pd->pid, done, pd->seq);
  return 0;
}

/* Does the state record already hold the pending transition's outcome?
 * hpm records the new state and then removes the pending record: if it
 * died between the two, both are there, and the state's mappings are the
 * new code (a finished revert removes the state when it keeps no mapping). */
static int state_is_outcome(const hp_journal *pd, const hp_journal *cm, int have_cm) {
  if (!have_cm) return pd->seq == 0 && pd->nsites == 0 && pd->nmaps == 0;
  if (cm->txn_addr || cm->seq != pd->seq || cm->nsites != pd->nsites) return 0;
  for (int i = 0; i < pd->nsites; i++)
    if (cm->sites[i].region != pd->sites[i].region || cm->sites[i].next != pd->sites[i].next) return 0;
  for (int i = 0; i < pd->nmaps; i++) {
    int k;
    for (k = 0; k < cm->nmaps && cm->maps[k].addr != pd->maps[i].addr; k++) {}
    if (k == cm->nmaps) return 0;
  }
  return 1;
}

/*
 * A rollback that kept the transition mapping (a thread was in it: the
 * process ran through its trampolines after hpm died, and a thread inside
 * one goes on into the committed state's code) records it with the
 * committed state, as a finished transition records old code still in
 * use: the next transition unmaps it once no thread refers to it, and
 * keeps the committed state's code while one does (transition.c).
 * Without a committed state (the first hotpatch of the process) the record
 * holds the mapping alone.  0, or -1 if the record cannot be written.
 */
static int rebind_retained(const char *state, const hp_journal *pd, hp_journal *cm, int have_cm, hp_map un) {
  if (!have_cm) {
    hp_journal_free(cm);
    memset(cm, 0, sizeof *cm);
    cm->pid = pd->pid;
    cm->start = pd->start;
    memcpy(cm->exe, pd->exe, sizeof cm->exe);
    memcpy(cm->build_id, pd->build_id, sizeof cm->build_id);
    cm->time = pd->time;
  }
  if (cm->nmaps >= HP_JOURNAL_MAX_MAPS) {
    msg("pid %d: the transition mapping at 0x%llx is still in use and the record of old code is full; "
        "it stays mapped until the process exits", pd->pid, (unsigned long long)un.addr);
    return 0;
  }
  cm->maps[cm->nmaps++] = un;
  return hp_journal_write(state, cm) ? -1 : 0;
}

static int recover_one(hpm_ctx *ctx, const char *pend) {
  hp_journal pd, cm;
  char state[HP_PATH_MAX];
  snprintf(state, sizeof state, "%.*s.state", (int)(strlen(pend) - 8), pend);
  if (hp_journal_read(pend, &pd)) { unlink(pend); return 0; }
  int have_cm = hp_journal_read(state, &cm) == 0;
  if (!have_cm) memset(&cm, 0, sizeof cm);
  int rc = 0;
  if (hp_proc_starttime(pd.pid) != pd.start) { /* process gone: nothing to finish */
    unlink(pend);
    unlink(state);
    goto out;
  }
  if (state_is_outcome(&pd, &cm, have_cm)) {
    /* finished: only the record of the intent is left to remove */
    unlink(pend);
    if (recovered(ctx, &pd, HP_OK, "completed", "complete")) rc = -1;
    goto out;
  }
  /* the sites of the transition: pd's with their new target, and cm's that
   * pd drops, going back to original code (as hp_transition_proc built them) */
  hp_site *fw = calloc((size_t)pd.nsites + (size_t)cm.nsites + 1, sizeof *fw);
  hp_site *bk = calloc((size_t)pd.nsites + (size_t)cm.nsites + 1, sizeof *bk);
  int nf = 0, nb = 0;
  if (!fw || !bk) { free(fw); free(bk); rc = -1; goto out; }
  for (int i = 0; i < pd.nsites; i++) { fw[nf++] = pd.sites[i]; bk[nb] = pd.sites[i]; bk[nb++].next = 0; }
  for (int i = 0; i < cm.nsites; i++) {
    int j;
    for (j = 0; j < pd.nsites && pd.sites[j].region != cm.sites[i].region; j++) {}
    if (j == pd.nsites) { fw[nf] = cm.sites[i]; fw[nf++].next = 0; }
    for (j = 0; j < nb && bk[j].region != cm.sites[i].region; j++) {}
    if (j == nb) nb++;
    bk[j] = cm.sites[i];
  }
  uint8_t hdr[33];
  int ours = pd.txn_addr && hp_peek(pd.pid, pd.txn_addr, hdr, 33) == 0 && !memcmp(hdr, HP_MAGIC, 8);
  int forward = ours && hdr[HP_FLAG_OFF] == 1;
  if (!ours) {
    /* no transition mapping: never filled (sites untouched), or removed at
     * the very end of a finished transition (sites hold their new bytes) */
    int done = nf > 0;
    for (int i = 0; i < nf && done; i++) {
      uint8_t want[HPP_REGION_MAX], have[HPP_REGION_MAX];
      hp_site_bytes(&fw[i], fw[i].next, want);
      done = hp_peek(pd.pid, fw[i].region, have, fw[i].len) == 0 && !memcmp(want, have, fw[i].len);
    }
    forward = done;
  }
  hp_transition_report rep;
  if (forward) {
    hp_map un[HP_JOURNAL_MAX_MAPS + 1];
    int nun = 0;
    /* an old mapping is ours while it still starts with our header: hpm may
     * have died after unmapping it and before journaling that, and the
     * process may have mapped something else there since */
    for (int i = 0; i < cm.nmaps; i++) {
      uint8_t mg[8];
      un[nun] = cm.maps[i];
      if (hp_peek(pd.pid, cm.maps[i].addr, mg, sizeof mg) || memcmp(mg, HP_MAGIC, 8)) un[nun] = (hp_map){0, 0};
      nun++;
    }
    if (!pd.keep && ours) un[nun++] = (hp_map){pd.txn_addr, pd.txn_len};
    int r = force_retry(pd.pid, fw, nf, un, nun, &rep);
    if (r == HP_OK) {
      pd.txn_addr = 0;
      for (int i = 0; i < nun; i++) /* old code (or a revert's trampolines) still referenced: keep it recorded */
        if (un[i].addr && pd.nmaps < HP_JOURNAL_MAX_MAPS) pd.maps[pd.nmaps++] = un[i];
      if (pd.nsites || pd.nmaps) { if (hp_journal_write(state, &pd)) rc = -1; }
      else unlink(state);
      unlink(pend);
    }
    if (recovered(ctx, &pd, r, "completed", "complete")) rc = -1;
  } else {
    /* roll back: every site of both states to its committed target; drop
     * the transition mapping, also when hpm died before it was filled */
    hp_map un = {ours || fresh_map(pd.pid, pd.txn_addr, pd.txn_len) ? pd.txn_addr : 0, pd.txn_len};
    int r = force_retry(pd.pid, bk, nb, &un, 1, &rep);
    if (r == HP_OK && un.addr && rebind_retained(state, &pd, &cm, have_cm, un)) rc = -1;
    if (r == HP_OK) unlink(pend);
    if (recovered(ctx, &pd, r, "rolled back", "roll back")) rc = -1;
  }
  free(fw);
  free(bk);
out:
  hp_journal_free(&pd);
  hp_journal_free(&cm);
  return rc;
}

int hp_recover_all(hp_op *op) {
  glob_t g;
  int bad = hp_kernel_recover(op->ctx) != 0; /* the kernel part (kernel.c) */
  if (hp_journal_glob(op->ctx, "pending", &g) == 0) {
    for (size_t i = 0; i < g.gl_pathc; i++) bad |= recover_one(op->ctx, g.gl_pathv[i]) != 0;
    globfree(&g);
  }
  /* forget processes that are gone */
  if (hp_journal_glob(op->ctx, "state", &g) == 0) {
    for (size_t i = 0; i < g.gl_pathc; i++) {
      hp_journal s;
      if (hp_journal_read(g.gl_pathv[i], &s)) continue;
      if (hp_proc_starttime(s.pid) != s.start) unlink(g.gl_pathv[i]);
      hp_journal_free(&s);
    }
    globfree(&g);
  }
  return bad ? -1 : 0;
}

int hp_recover(hpm_ctx *ctx, hpmh_status *st) {
  hp_store_mkdirs(ctx);
  int lock = hp_store_lock(ctx, st);
  if (lock < 0) return 3;
  hp_op op = {ctx, NULL, 0, NULL};
  int rc = hp_recover_all(&op) ? 4 : 0;
  hp_store_unlock(lock);
  return rc;
}

/* ---- adoption: a process's hotpatch state read from its memory ----
 * A child forked from a patched process inherits its redirected code and
 * hpm's mappings, but hpm has no journal for it: without one, the next
 * transition would expect original bytes and fail, and a revert would not
 * reach it.  hpm's mappings carry a header (magic, sequence, image offset,
 * length; docs/hotpatch-payload.md); the stored hotpatch of that sequence
 * gives the sites, and the process's own site bytes must be exactly the
 * redirections into that mapping before its state is journaled. */
typedef struct { uint64_t lo, len; uint32_t seq, img_off; int committed, claimed; } hpm_vma;

/* hpm's mappings in pid: anonymous executable mappings starting with its header. */
static int find_hpm_maps(pid_t pid, hpm_vma *v, int cap) {
  char path[64], line[1024];
  snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
  FILE *f = fopen(path, "re");
  if (!f) return 0;
  int n = 0;
  while (n < cap && fgets(line, sizeof line, f)) {
    unsigned long lo, hi, off, ino;
    unsigned maj, mnr;
    char perms[8], file[512] = "";
    int k = sscanf(line, "%lx-%lx %7s %lx %x:%x %lu %511s", &lo, &hi, perms, &off, &maj, &mnr, &ino, file);
    if (k != 7 || ino || perms[2] != 'x') continue; /* anonymous (no name) and executable */
    uint8_t hdr[HP_FLAG_OFF + 1];
    if (hp_peek(pid, lo, hdr, sizeof hdr) || memcmp(hdr, HP_MAGIC, 8)) continue;
    v[n] = (hpm_vma){lo, hpp_ld32(hdr + HP_HDR_LEN), hpp_ld32(hdr + HP_HDR_SEQ), hpp_ld32(hdr + HP_HDR_IMAGE),
                     hdr[HP_FLAG_OFF] != 0, 0};
    if (v[n].len < hi - lo) v[n].len = hi - lo; /* written by an hpm without the length */
    n++;
  }
  fclose(f);
  return n;
}

/* Do pl's sites in pid hold the redirections into the image at img (either form)? */
static int sites_redirect_to(const hp_match *mt, const hpp_payload *pl, uint64_t img, hp_site *out) {
  for (uint32_t i = 0; i < pl->func_count; i++) {
    hpp_func f;
    hpp_func_get(pl, i, &f);
    hp_site *s = &out[i];
    hp_site_from_func(s, &f, mt->bias);
    s->next = img + f.image_off;
    uint8_t have[HPP_REGION_MAX], direct[HPP_REGION_MAX], hop[HPP_REGION_MAX];
    if (hp_peek(mt->pid, s->region, have, s->len)) return 0;
    hp_site_bytes(s, s->next, direct);
    hp_site_bytes_hop(s, s->next, hop);
    if (memcmp(have, direct, s->len) && memcmp(have, hop, s->len)) return 0;
  }
  return 1;
}

/* A process no journal describes: adopt what its memory carries. */
static int adopt_unjournaled(hp_op *op, pid_t pid, uint64_t start) {
  hpm_vma v[2 * HP_JOURNAL_MAX_MAPS];
  int nv = find_hpm_maps(pid, v, 2 * HP_JOURNAL_MAX_MAPS);
  if (!nv) return -1;
  hp_journal got[8];
  char jpath[8][HP_PATH_MAX];
  int ng = 0;
  for (int i = 0; i < nv && ng < 8; i++) {
    if (!v[i].committed || !v[i].seq || v[i].claimed) continue;
    char sp[HP_PATH_MAX];
    hp_hotpatch h;
    hpmh_status st;
    hp_stored_path(op->ctx, sp, sizeof sp, v[i].seq);
    if (access(sp, R_OK)) continue;
    if (hp_load_verified(op->ctx, sp, &h, &st)) { msg("%s", st.detail); continue; }
    hp_match m[8];
    int nm = hp_proc_match(op->elf, pid, &h, m, 8);
    for (int k = 0; k < nm && ng < 8; k++) {
      hp_site *sites = calloc((size_t)m[k].pl->func_count + 1, sizeof *sites);
      if (!sites) break;
      int j;
      for (j = 0; j < nv; j++)
        if (!v[j].claimed && v[j].committed && v[j].seq == v[i].seq &&
            sites_redirect_to(&m[k], m[k].pl, v[j].lo + v[j].img_off, sites))
          break;
      if (j == nv) { free(sites); continue; }
      v[j].claimed = 1;
      hp_journal_path(op->ctx, jpath[ng], sizeof jpath[ng], pid, start, m[k].pl->build_id, "state");
      hp_journal *pd = &got[ng++];
      memset(pd, 0, sizeof *pd);
      pd->pid = pid;
      pd->start = start;
      snprintf(pd->exe, sizeof pd->exe, "%s", m[k].exe);
      hpm_fmt_hex(m[k].pl->build_id, m[k].pl->build_id_len, pd->build_id, sizeof pd->build_id);
      pd->seq = v[j].seq;
      snprintf(pd->id, sizeof pd->id, "%s", h.m.id);
      pd->time = (uint64_t)time(NULL) - hp_proc_age_ms(start) / 1000; /* it carries the hotpatch since it began */
      pd->maps[pd->nmaps++] = (hp_map){v[j].lo, v[j].len};
      pd->sites = sites;
      pd->nsites = (int)m[k].pl->func_count;
    }
    hp_hotpatch_free(&h);
  }
  /* older code inherited along (still referenced when the parent forked):
   * journaled with the first binary, unmapped once nothing refers to it */
  for (int i = 0; i < nv && ng; i++)
    if (!v[i].claimed && got[0].nmaps < HP_JOURNAL_MAX_MAPS) got[0].maps[got[0].nmaps++] = (hp_map){v[i].lo, v[i].len};
  for (int k = 0; k < ng; k++) {
    if (hp_journal_write(jpath[k], &got[k])) msg("%s: cannot write the journal: %s", jpath[k], strerror(errno));
    else msg("pid %d (%s): adopted sequence %u (%s) found in its memory (forked from a patched process)", (int)pid,
             got[k].exe, got[k].seq, got[k].id);
    hp_journal_free(&got[k]);
  }
  return ng;
}

int hp_adopt_proc(hp_op *op, pid_t pid, uint64_t start) {
  char pat[HP_PATH_MAX];
  snprintf(pat, sizeof pat, "%s/procs/%d-%llu-*.state", op->ctx->state_dir, (int)pid, (unsigned long long)start);
  glob_t g;
  int journaled = glob(pat, 0, NULL, &g) == 0 && g.gl_pathc > 0;
  if (journaled) globfree(&g);
  if (journaled) return 0; /* known: its journal says what it carries */
  return adopt_unjournaled(op, pid, start);
}

typedef struct {
  pid_t pid;
  uint64_t start;
} proc_key;

static int key_cmp(const void *a, const void *b) {
  const proc_key *x = a, *y = b;
  if (x->pid != y->pid) return x->pid < y->pid ? -1 : 1;
  return x->start < y->start ? -1 : x->start > y->start;
}

/* Every process no journal describes: the journals are listed once (not
 * once a process: a host runs hundreds), then each process is looked up. */
void hp_adopt_all(hp_op *op) {
  glob_t g;
  proc_key *known = NULL;
  size_t nknown = 0;
  if (hp_journal_glob(op->ctx, "state", &g) == 0) {
    known = calloc(g.gl_pathc, sizeof *known);
    for (size_t i = 0; known && i < g.gl_pathc; i++) {
      const char *b = strrchr(g.gl_pathv[i], '/');
      int pid;
      unsigned long long start;
      if (b && sscanf(b + 1, "%d-%llu-", &pid, &start) == 2) known[nknown++] = (proc_key){pid, start};
    }
    globfree(&g);
    if (!known) return; /* out of memory: nothing adopted now, the next run tries again */
    qsort(known, nknown, sizeof *known, key_cmp);
  }
  pid_t *pids;
  int n = hp_pids(&pids);
  for (int i = 0; i < n; i++) {
    if (!hp_pid_selected(op->pids, op->npids, pids[i])) continue;
    proc_key k = {pids[i], hp_proc_starttime(pids[i])};
    if (!k.start || (nknown && bsearch(&k, known, nknown, sizeof *known, key_cmp))) continue;
    adopt_unjournaled(op, k.pid, k.start);
  }
  free(pids);
  free(known);
}
