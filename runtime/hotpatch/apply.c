/* SPDX-License-Identifier: MIT */
/*
 * Applying and reverting: a hotpatch verified against the trust store,
 * each process's transition planned from its journal and the payload, the
 * processes patched from a few workers, the applied sequence recorded
 * (hotpatch.h, internal.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "fileio.h"
#include "hex.h"
#include "hostfacts.h"
#include "hotpatch/health.h"
#include "hotpatch/internal.h"
#include "hpm/core.h"
#include "json.h"
#include "msg.h"
#include "update/update.h"
#include "update/windows.h"

/* ---- verification ---- */
int hp_load_verified(hpm_ctx *ctx, const char *path, hp_hotpatch *h, hpmh_status *st) {
  memset(h, 0, sizeof *h);
  if (hpmh_read_file(path, 1u << 30, &h->buf, &h->len, st)) return 3;
  h->path = strdup(path);
  if (!h->path) { hp_hotpatch_free(h); hpmh_fail(st, HPMH_E_NOMEM, path, "%s: out of memory", path); return 3; }
  hpm_trust trust;
  if (hpm_ctx_trust_for(ctx, HPM_KIND_HOTPATCH, &trust, st)) {
    hp_hotpatch_free(h);
    return st->code == HPMH_E_INVALID ? 2 : 1;
  }
  hpm_diag d;
  memset(&d, 0, sizeof d);
  hpm_result r = hpm_container_verify(h->buf, h->len, HPM_KIND_HOTPATCH, &trust, NULL, &h->m, &d);
  if (r != HPM_OK) {
    char why[1200];
    hpm_ctx_refusal(ctx, HPM_KIND_HOTPATCH, &h->m, h->m.trusted_signers, r, &d, NULL, why, sizeof why);
    hpmh_fail(st, HPMH_E_REFUSED, path, "%s: %s", path, why);
    hp_hotpatch_free(h);
    return 1;
  }
  for (size_t i = 0; i < h->m.payload_count; i++) {
    const hpm_payload *pl = &h->m.payloads[i];
    if (pl->type != HPM_PAYLOAD_PATCH) continue;
    char why[160] = "";
    hpp_result pr = hpp_parse(pl->data, pl->size, &h->p[h->np], why, sizeof why);
    if (pr != HPP_OK) {
      hpmh_fail(st, HPMH_E_REFUSED, path, "%s: payloads/%s: %s: %s", path, pl->name, hpp_result_to_string(pr), why);
      hp_hotpatch_free(h);
      return 1;
    }
    h->np++;
  }
  if (h->m.kernel.present && hp_kernel_check_module(path, &h->m, st)) {
    hp_hotpatch_free(h);
    return 1;
  }
  return 0;
}

void hp_hotpatch_free(hp_hotpatch *h) {
  free(h->buf);
  free(h->path);
  memset(h, 0, sizeof *h);
}

/* ---- retrying a busy process ---- */
/* A transition that finds the process busy (threads not stopped within the
 * pause budget, a thread in the bytes to rewrite, a function active under
 * quiescence) has released it unchanged.  It is tried again after a random
 * wait drawn from [w/2, 3w/2), w doubling from 2 ms up to 250 ms: random so
 * that a retry does not fall into step with the target's own rhythm (the
 * same thread on the same instruction, the same competing time slice), and
 * growing so that an oversubscribed machine gets room.  The hard limit is
 * HP_RETRY_LIMIT_MS of waiting per process (internal.h); past it the
 * process is reported as failed, left unchanged. */
void hp_backoff_init(hp_backoff *b, pid_t pid) {
  b->wait_ms = 2;
  b->start_us = hp_now_us();
  b->seed = (unsigned)pid ^ (unsigned)b->start_us ^ (unsigned)getpid() << 16;
  b->limit_ms = hp_hooks()->retry_limit_ms ? hp_hooks()->retry_limit_ms : HP_RETRY_LIMIT_MS;
}

int hp_backoff_wait(hp_backoff *b) {
  uint64_t spent = (hp_now_us() - b->start_us) / 1000;
  if (spent >= b->limit_ms) return -1;
  unsigned ms = b->wait_ms / 2 + (unsigned)rand_r(&b->seed) % b->wait_ms;
  if (spent + ms > b->limit_ms) ms = (unsigned)(b->limit_ms - spent);
  usleep((useconds_t)ms * 1000);
  if (b->wait_ms < 250) b->wait_ms = b->wait_ms * 2 > 250 ? 250 : b->wait_ms * 2;
  return 0;
}

/* ---- one process: move from its journaled state to the payload (NULL: original) ---- */
int hp_transition_proc(hp_op *op, const hp_match *mt, const hp_hotpatch *h, hp_proc_result *pr) {
  const hp_test_hooks *hooks = hp_hooks();
  const hpp_payload *pl = mt->pl;
  uint64_t start = hp_proc_starttime(mt->pid);
  if (!start) return HP_GONE;
  char spath[HP_PATH_MAX], ppath[HP_PATH_MAX];
  hp_journal_path(op->ctx, spath, sizeof spath, mt->pid, start, pl->build_id, "state");
  hp_journal_path(op->ctx, ppath, sizeof ppath, mt->pid, start, pl->build_id, "pending");
  hp_journal cur;
  if (hp_journal_read(spath, &cur) && (hp_adopt_proc(op, mt->pid, start) <= 0 || hp_journal_read(spath, &cur))) {
    memset(&cur, 0, sizeof cur);
    cur.pid = mt->pid;
    cur.start = start;
  }
  /* the payload's imports, found in this process's own libraries (refused if one is missing) */
  uint64_t *imps = NULL;
  if (h && pl->import_count) {
    char why[1024];
    imps = calloc(pl->import_count, sizeof *imps);
    if (!imps || hp_imports_resolve(mt->pid, pl, imps, NULL, why, sizeof why)) {
      msg("pid %d (%s): refused: %s", mt->pid, mt->exe, imps ? why : "out of memory");
      free(imps);
      return HP_FAIL;
    }
  }
  int nnew = h ? (int)pl->func_count : 0;
  hp_site *sites = calloc((size_t)nnew + (size_t)cur.nsites + 1, sizeof *sites);
  int n = 0;
  for (int i = 0; i < nnew; i++) {
    hpp_func f;
    hpp_func_get(pl, (uint32_t)i, &f);
    hp_site_from_func(&sites[n++], &f, mt->bias);
    sites[n - 1].next = f.image_off; /* made absolute below */
  }
  for (int i = 0; i < cur.nsites; i++) {
    int j;
    for (j = 0; j < nnew && sites[j].region != cur.sites[i].region; j++) {}
    if (j == nnew) { sites[n] = cur.sites[i]; sites[n].next = 0; sites[n].cur = cur.sites[i].next; n++; }
    else {
      sites[j].cur = cur.sites[i].next;
      /* the process holds a direct entry jump over more body bytes than this
       * payload's region (an older builder): keep the longer region */
      if (cur.sites[i].len > sites[j].len && cur.sites[i].mode == sites[j].mode &&
          cur.sites[i].flip_off == sites[j].flip_off) {
        sites[j].len = cur.sites[i].len;
        memcpy(sites[j].orig, cur.sites[i].orig, HPP_REGION_MAX);
      }
    }
  }
  uint64_t tramp = ((uint64_t)HP_HDR_SIZE + (uint64_t)n * HP_TRAMP_SLOT + 4095) & ~4095ull;
  uint64_t img = h ? ((uint64_t)pl->image_size + 4095) & ~4095ull : 0;
  hp_plan plan;
  memset(&plan, 0, sizeof plan);
  plan.sites = sites;
  plan.nsites = n;
  plan.map_len = tramp + img;
  plan.map_bytes = calloc(1, plan.map_len);
  plan.keep_map = h != NULL;
  plan.rw_off = h && pl->data_off < pl->image_size ? tramp + pl->data_off : plan.map_len;
  plan.unmap = cur.maps;
  plan.nunmap = cur.nmaps;
  plan.budget_us = op->ctx->budget_us;
  plan.fault_after = hooks->fault_after;
  int rc = HP_BUSY;
  hp_transition_report rep;
  memset(&rep, 0, sizeof rep);
  pr->attempts = 0;
  hp_backoff bo;
  hp_backoff_init(&bo, mt->pid);
  for (int attempt = 0; rc == HP_BUSY; attempt++) {
    if (attempt && hp_backoff_wait(&bo)) break; /* the hard limit: give up */
    pr->attempts++;
    plan.map_addr = hp_pick_addr(mt->pid, mt->lo, mt->hi, plan.map_len);
    if (!plan.map_addr) { msg("pid %d: no free address within jump range of %s", mt->pid, mt->exe); rc = HP_FAIL; break; }
    memset(plan.map_bytes, 0, plan.map_len);
    memcpy(plan.map_bytes, HP_MAGIC, 8);
    /* what adoption (hp_adopt_proc) reads back in a forked child */
    hpp_st32(plan.map_bytes + HP_HDR_SEQ, h ? h->m.sequence : 0);
    hpp_st32(plan.map_bytes + HP_HDR_IMAGE, (uint32_t)tramp);
    hpp_st32(plan.map_bytes + HP_HDR_LEN, (uint32_t)plan.map_len);
    uint64_t img_addr = plan.map_addr + tramp;
    for (int i = 0; i < nnew; i++) {
      hpp_func f;
      hpp_func_get(pl, (uint32_t)i, &f);
      sites[i].next = img_addr + f.image_off;
    }
    int bad = 0;
    for (int i = 0; i < n && !bad; i++)
      bad = hp_trampoline(&sites[i], plan.map_addr + HP_HDR_SIZE + (uint64_t)i * HP_TRAMP_SLOT,
                          plan.map_addr + HP_FLAG_OFF, plan.map_bytes + HP_HDR_SIZE + (size_t)i * HP_TRAMP_SLOT);
    if (h && !bad) {
      uint8_t *im = plan.map_bytes + tramp;
      memcpy(im, pl->image, pl->image_size);
      for (uint32_t k = 0; k < pl->reloc_count && !bad; k++) {
        hpp_reloc r;
        hpp_reloc_get(pl, k, &r);
        uint64_t S = (r.base == HPP_B_IMAGE ? img_addr : r.base == HPP_B_IMPORT ? imps[r.import] : mt->bias) +
                     (uint64_t)r.value;
        if (r.type == HPP_R_ABS64) memcpy(im + r.offset, &S, 8);
        else {
          int64_t d = (int64_t)(S - (img_addr + r.offset));
          if (d < INT32_MIN || d > INT32_MAX) bad = 1;
          int32_t d32 = (int32_t)d;
          memcpy(im + r.offset, &d32, 4);
        }
      }
    }
    if (bad) { msg("pid %d: replacement code out of 32-bit range of %s", mt->pid, mt->exe); rc = HP_FAIL; break; }
    /* journal the intent before touching the process */
    hp_journal pd;
    memset(&pd, 0, sizeof pd);
    pd.pid = mt->pid;
    pd.start = start;
    snprintf(pd.exe, sizeof pd.exe, "%s", mt->exe);
    hpm_fmt_hex(pl->build_id, pl->build_id_len, pd.build_id, sizeof pd.build_id);
    pd.seq = h ? h->m.sequence : 0;
    snprintf(pd.id, sizeof pd.id, "%s", h ? h->m.id : "");
    pd.time = (uint64_t)time(NULL);
    pd.exposure_ms = cur.exposure_ms;
    if (!cur.nsites && h) pd.exposure_ms = hp_proc_age_ms(start);
    if (h) pd.maps[pd.nmaps++] = (hp_map){plan.map_addr, plan.map_len};
    pd.sites = calloc((size_t)nnew + 1, sizeof *pd.sites);
    for (int i = 0; i < nnew; i++) pd.sites[i] = sites[i];
    pd.nsites = nnew;
    pd.txn_addr = plan.map_addr;
    pd.txn_len = plan.map_len;
    pd.keep = plan.keep_map;
    if (hp_journal_write(ppath, &pd)) { msg("%s: cannot write the journal: %s", ppath, strerror(errno)); hp_journal_free(&pd); rc = HP_FAIL; break; }
    if (hooks->delay_ms) usleep((useconds_t)hooks->delay_ms * 1000);
    if (hooks->syscall_delay) { fputs("hpm-test: transition\n", stderr); fflush(stderr); }
    rc = hp_transition(mt->pid, &plan, &rep);
    pr->pause_us = rep.pause_us;
    pr->prep_us = rep.prep_us;
    pr->hold_us = rep.hold_us;
    if (hooks->timing)
      fprintf(stderr, "hpm-timing: pid %d rc %d threads %u prep %u pause %u (stop %u write %u) release %u (scan %u) "
              "held %u (in %u) hold %u fifo %d\n", mt->pid, rc, rep.threads, rep.prep_us, rep.pause_us, rep.stop_us,
              rep.write_us, rep.release_us, rep.scan_us, rep.held, rep.hold_wait_us, rep.hold_us, rep.fifo);
    if (rc == HP_BUSY && attempt == 0) /* released unchanged: said once, however many tries follow */
      msg("pid %d (%s): %s; retrying with random growing back-off (for up to %u ms)", mt->pid, mt->exe,
          rep.why[0] ? rep.why : "busy", bo.limit_ms);
    if (rc == HP_OK) {
      pd.txn_addr = 0;
      for (int i = 0; i < plan.nunmap; i++) /* old code still referenced: keep it recorded */
        if (plan.unmap[i].addr && pd.nmaps < HP_JOURNAL_MAX_MAPS) pd.maps[pd.nmaps++] = plan.unmap[i];
      if (plan.map_retained && pd.nmaps < HP_JOURNAL_MAX_MAPS) /* a revert's trampolines, still referenced */
        pd.maps[pd.nmaps++] = (hp_map){plan.map_addr, plan.map_len};
      if (h) hp_journal_write(spath, &pd);
      else if (pd.nmaps) { pd.nsites = 0; hp_journal_write(spath, &pd); }
      else unlink(spath);
      /* test hook: hpm dies with the new state recorded and the intent not yet removed */
      if (hooks->exit_at && !strcmp(hooks->exit_at, "journaled")) _exit(9);
    }
    unlink(ppath);
    hp_journal_free(&pd);
  }
  if (rc != HP_OK && rc != HP_GONE && hp_proc_dying(mt->pid)) {
    rc = HP_GONE; /* exiting or dumping core: said by the caller */
  } else if (rc == HP_BUSY) {
    msg("pid %d (%s): %s; gave up after %d attempts in %u ms (the retry limit)", mt->pid, mt->exe,
        rep.why[0] ? rep.why : "busy", pr->attempts, bo.limit_ms);
  } else if (rc != HP_OK && rc != HP_GONE) {
    msg("pid %d (%s): %s", mt->pid, mt->exe, rep.why[0] ? rep.why : "failed");
  }
  free(plan.map_bytes);
  free(sites);
  free(imps);
  hp_journal_free(&cur);
  return rc;
}

/* ---- every process of h's binaries ---- */
static unsigned pct(unsigned *v, int n, int p) {
  if (!n) return 0;
  for (int i = 1; i < n; i++)
    for (int j = i; j > 0 && v[j - 1] > v[j]; j--) { unsigned t = v[j]; v[j] = v[j - 1]; v[j - 1] = t; }
  return v[(n - 1) * p / 100];
}

typedef struct { int rc; hp_proc_result pr; } proc_outcome;

/* A process's warning that it would not run the patched code, on stderr. */
static void warn_line(void *ctx, const char *func, const char *text) {
  const hp_match *m = ctx;
  (void)func;
  msg("warning: pid %d (%s): %s", m->pid, m->exe, text);
}

typedef struct { const hp_match *m; cJSON *warnings; } dry_warn;
static void warn_dry(void *ctx, const char *func, const char *text) {
  dry_warn *w = ctx;
  warn_line((void *)w->m, func, text);
  if (w->warnings) cJSON_AddItemToArray(w->warnings, hpmh_json_string(text));
}

/* What a dry run says about one process: per function, how calls would
 * reach the new code (entry redirect, direct call sites rewritten, inlined
 * copies covered or not, from the payload), and the warnings of
 * hp_binding_check; into would (JSON) too. */
/* Say what patching m would do (text, or an entry of would[]); false when
 * the process would be refused (an import it cannot resolve). */
static bool dry_run_proc(hp_op *op, const hp_match *m, cJSON *would) {
  const hpp_payload *pl = m->pl;
  unsigned nf = 0, nc = 0;
  for (uint32_t k = 0; k < pl->func_count; k++) {
    hpp_func f;
    hpp_func_get(pl, k, &f);
    if (f.mode == HPP_MODE_CALL) nc++; else nf++;
  }
  bool text = !op->ctx->json;
  uint64_t *imps = calloc(pl->import_count + 1, sizeof *imps);
  char why[1024];
  if (!imps || hp_imports_resolve(m->pid, pl, imps, text ? stdout : NULL, why, sizeof why)) {
    msg("would refuse pid %d (%s): %s", m->pid, m->exe, imps ? why : "out of memory");
    free(imps);
    return false;
  }
  free(imps);
  if (text)
    printf("would patch pid %d (%s): %u functions, %u call sites, %u imports\n", m->pid, m->exe, nf, nc,
           pl->import_count);
  cJSON *proc = cJSON_CreateObject(), *fns = cJSON_CreateArray();
  hpmh_json_add_u64(proc, "pid", (uint64_t)m->pid);
  hpmh_json_add_str(proc, "exe", m->exe);
  hpmh_json_add(proc, "functions", fns);
  for (uint32_t k = 0; k < pl->func_count; k++) {
    hpp_func f;
    hpp_func_get(pl, k, &f);
    if (f.mode == HPP_MODE_CALL) continue;
    unsigned sites = 0;
    for (uint32_t j = 0; j < pl->func_count; j++) {
      hpp_func c;
      hpp_func_get(pl, j, &c);
      sites += c.mode == HPP_MODE_CALL && c.entry == f.entry;
    }
    const char *how = f.mode == HPP_MODE_PROLOGUE ? "prologue" : "patchable entry";
    if (text) {
      printf("  %s: entry redirect (%s); %u direct call site(s) rewritten", f.name, how, sites);
      if (f.inlined) printf("; %u inlined cop%s, inside functions this hotpatch replaces", f.inlined, f.inlined == 1 ? "y" : "ies");
      if (f.inlined_stale)
        printf("; %u inlined cop%s NOT replaced (their callers keep the old code)", f.inlined_stale,
               f.inlined_stale == 1 ? "y" : "ies");
      printf("\n");
    }
    cJSON *o = cJSON_CreateObject();
    hpmh_json_add_str(o, "name", f.name);
    hpmh_json_add_str(o, "redirect", f.mode == HPP_MODE_PROLOGUE ? "prologue" : "patchable");
    hpmh_json_add_u64(o, "direct_call_sites", sites);
    hpmh_json_add_u64(o, "inlined_covered", f.inlined);
    hpmh_json_add_u64(o, "inlined_not_covered", f.inlined_stale);
    cJSON_AddItemToArray(fns, o);
  }
  dry_warn w = {m, hpmh_json_add(proc, "warnings", cJSON_CreateArray())};
  hp_binding_check(m, warn_dry, &w);
  cJSON_AddItemToArray(would, proc);
  return true;
}

/* Every process of op mapping a binary h targets, moved to h (dry: only
 * said).  Counts and pause figures go to r. */
static int patch_processes(hp_op *op, const hp_hotpatch *h, bool dry, hp_report *r) {
  pid_t *pids;
  int npids = hp_pids(&pids);
  if (npids < 0) return -1;
  hp_match *ms = NULL;
  int nms = 0, capms = 0;
  for (int p = 0; p < npids; p++) {
    if (!hp_pid_selected(op->pids, op->npids, pids[p])) continue;
    hp_match m[8];
    int nm = hp_proc_match(op->elf, pids[p], h, m, 8);
    for (int i = 0; i < nm; i++) {
      if (nms == capms) {
        capms = capms ? 2 * capms : 64;
        hp_match *nmsp = realloc(ms, (size_t)capms * sizeof *ms);
        if (!nmsp) { free(pids); free(ms); return -1; }
        ms = nmsp;
      }
      ms[nms++] = m[i];
    }
  }
  free(pids);
  if (dry) {
    r->would = cJSON_CreateArray();
    for (int i = 0; i < nms; i++) {
      if (dry_run_proc(op, &ms[i], r->would)) r->patched++;
      else r->failed++;
    }
    free(ms);
    return 0;
  }
  for (int i = 0; i < nms; i++) hp_binding_check(&ms[i], warn_line, &ms[i]);
  /* Processes are independent: patch them from a few worker processes
   * (one per CPU) sharing an outcome table.  Each transition is journaled
   * on its own, so a worker dying is recovered like hpm dying. */
  size_t outlen = (size_t)(nms ? nms : 1) * sizeof(proc_outcome);
  proc_outcome *out = mmap(NULL, outlen, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  unsigned *pauses = calloc((size_t)nms + 1, sizeof *pauses), *preps = calloc((size_t)nms + 1, sizeof *preps);
  unsigned *holds = calloc((size_t)nms + 1, sizeof *holds);
  if (out == MAP_FAILED || !pauses || !preps || !holds) {
    if (out != MAP_FAILED) munmap(out, outlen);
    free(pauses);
    free(preps);
    free(holds);
    free(ms);
    return -1;
  }
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  /* two per CPU: a worker mostly waits for its target's threads to be scheduled */
  int workers = nms >= 16 ? (int)(ncpu < 1 ? 2 : ncpu > 4 ? 8 : 2 * ncpu) : 1;
  if (hp_hooks()->workers) workers = hp_hooks()->workers;
  for (int i = 0; i < nms; i++) out[i].rc = -1;
  if (workers <= 1) {
    for (int i = 0; i < nms; i++) out[i].rc = hp_transition_proc(op, &ms[i], h, &out[i].pr);
  } else {
    fflush(stdout);
    fflush(stderr);
    pid_t kids[8];
    int nk = 0;
    for (int k = 0; k < workers; k++) {
      pid_t c = fork();
      if (c == 0) {
        for (int i = k; i < nms; i += workers) out[i].rc = hp_transition_proc(op, &ms[i], h, &out[i].pr);
        fflush(NULL);
        _exit(0);
      }
      if (c > 0) kids[nk++] = c;
      else for (int i = k; i < nms; i += workers) out[i].rc = hp_transition_proc(op, &ms[i], h, &out[i].pr);
    }
    for (int k = 0; k < nk; k++) {
      int st;
      while (waitpid(kids[k], &st, 0) < 0 && errno == EINTR) {}
    }
  }
  for (int i = 0; i < nms; i++) {
    int rc = out[i].rc;
    if (rc == HP_OK) {
      pauses[r->patched] = out[i].pr.pause_us;
      preps[r->patched] = out[i].pr.prep_us;
      holds[r->patched] = out[i].pr.hold_us;
      r->patched++;
      if (!op->ctx->json) printf("pid %d (%s): patched, pause %u us (a thread held at most %u us), %d attempt(s)\n",
                                 ms[i].pid, ms[i].exe, out[i].pr.pause_us, out[i].pr.hold_us, out[i].pr.attempts);
    } else if (rc == HP_GONE) msg("pid %d (%s): exited during the transition (or is dumping core)", ms[i].pid, ms[i].exe);
    else r->failed++;
  }
  r->pause_us_p50 = pct(pauses, r->patched, 50);
  r->pause_us_p99 = pct(pauses, r->patched, 99);
  r->prep_us_p50 = pct(preps, r->patched, 50);
  r->hold_us_p50 = pct(holds, r->patched, 50);
  r->hold_us_p99 = pct(holds, r->patched, 99);
  munmap(out, outlen);
  free(pauses);
  free(preps);
  free(holds);
  free(ms);
  return 0;
}

/* ---- apply ---- */
/* Move the journaled process s back to original code: what to undo is all
 * in its journal, so no payload is needed (a payload-less match).  The
 * transition is journaled and recoverable like any other.  Returns HP_*
 * (HP_GONE for a process that is no longer the one journaled). */
static int revert_journaled(hp_op *op, const hp_journal *s) {
  hpp_payload pl;
  memset(&pl, 0, sizeof pl);
  pl.build_id_len = (uint32_t)strlen(s->build_id) / 2;
  if (hp_proc_starttime(s->pid) != s->start || pl.build_id_len > HPP_BUILD_ID_MAX ||
      hpmh_parse_hex(s->build_id, pl.build_id, pl.build_id_len))
    return HP_GONE;
  hp_match m = {.pid = s->pid, .pl = &pl};
  snprintf(m.exe, sizeof m.exe, "%s", s->exe);
  /* range for the transition page: near the redirected sites */
  m.lo = s->nsites ? s->sites[0].region & ~0xfffull : s->maps[0].addr;
  m.hi = m.lo + 4096;
  hp_proc_result pr;
  int rc = hp_transition_proc(op, &m, NULL, &pr);
  if (rc == HP_OK && !op->ctx->json)
    printf("pid %d (%s): reverted, pause %u us, prep %u us (a thread held at most %u us)\n", s->pid, s->exe, pr.pause_us,
           pr.prep_us, pr.hold_us);
  return rc;
}

/* Hotpatches are cumulative (ARCHITECTURE.md): once h is the recorded
 * sequence, processes of a binary h does not target must run original code.
 * patch_processes reaches only the binaries h targets, so a process still
 * carrying an older sequence for another binary (journaled, or a forked
 * child adopted here) would keep that code: revert it, journaled and
 * recoverable like revert --all.  Journals without sites (old code kept
 * mapped only) already mean original code.  Counts the processes reverted
 * (dry: that would be) in r->reverted; those that could not be are added to
 * r->failed and keep their journal, so list still shows what they run. */
static void revert_untargeted(hp_op *op, const hp_hotpatch *h, bool dry, hp_report *r) {
  hp_adopt_all(op);
  glob_t g;
  if (hp_journal_glob(op->ctx, "state", &g)) return;
  for (size_t i = 0; i < g.gl_pathc; i++) {
    hp_journal s;
    if (hp_journal_read(g.gl_pathv[i], &s)) continue;
    bool other = s.nsites > 0 && hp_pid_selected(op->pids, op->npids, s.pid);
    for (size_t k = 0; other && k < h->np; k++) {
      char bid[2 * HPP_BUILD_ID_MAX + 1];
      hpm_fmt_hex(h->p[k].build_id, h->p[k].build_id_len, bid, sizeof bid);
      other = strcmp(bid, s.build_id) != 0; /* targeted: patch_processes moved it */
    }
    if (other && hp_proc_starttime(s.pid) == s.start) {
      if (dry) {
        printf("would revert pid %d (%s): at sequence %u, sequence %u does not target it\n", s.pid, s.exe, s.seq,
               h->m.sequence);
        r->reverted++;
      } else {
        int rc = revert_journaled(op, &s);
        if (rc == HP_OK) r->reverted++;
        else if (rc != HP_GONE) r->failed++;
      }
    }
    hp_journal_free(&s);
  }
  globfree(&g);
}

static int refuse(hp_report *r, int code, const char *field, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int refuse(hp_report *r, int code, const char *field, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  hpmh_vfail(&r->st, code == 3 ? HPMH_E_IO : HPMH_E_REFUSED, field, fmt, ap);
  va_end(ap);
  return code;
}

int hp_apply(hpm_ctx *ctx, const hp_hotpatch *h, const hp_opts *o, hp_report *r) {
  memset(r, 0, sizeof *r);
  r->sequence = h->m.sequence;
  snprintf(r->id, sizeof r->id, "%s", h->m.id);
  const char *path = h->path ? h->path : "";
  hp_store_mkdirs(ctx);
  int lock = hp_store_lock(ctx, &r->st);
  if (lock < 0) return 3;
  hp_elf_cache *elf = calloc(1, sizeof *elf);
  hp_op op = {ctx, o->pids, o->npids, elf};
  int rc = 0;
  if (!elf) { rc = refuse(r, 3, path, "%s: out of memory", path); goto out; }
  hp_recover_all(&op);
  hpm_running_baseline rb;
  if (hostfacts_running_baseline(ctx, &rb)) {
    rc = refuse(r, 1, path, "%s: cannot determine the running baseline (no EFI variable, no hpm.baseline= on the kernel command line): refusing", path);
    goto out;
  }
  if (memcmp(rb.digest, h->m.target_baseline, HPM_DIGEST_LEN)) {
    char a[2 * HPM_DIGEST_LEN + 1], b[2 * HPM_DIGEST_LEN + 1];
    hpm_fmt_hex(h->m.target_baseline, HPM_DIGEST_LEN, a, sizeof a);
    hpm_fmt_hex(rb.digest, HPM_DIGEST_LEN, b, sizeof b);
    rc = refuse(r, 1, path, "%s: targets baseline %s, but the running baseline is %s (%s): refusing", path, a, b,
                rb.src);
    goto out;
  }
  hpm_applied applied;
  hostfacts_applied_read(ctx, &applied);
  if (!o->is_revert && !o->restore && h->m.sequence <= applied.seq) {
    rc = refuse(r, 1, path,
                "%s: sequence %u is not higher than the applied sequence %u (%s): refusing; use 'hpm revert --to' to go back",
                path, h->m.sequence, applied.seq, applied.id);
    goto out;
  }
  if (!h->np && !h->m.kernel.present) { rc = refuse(r, 1, path, "%s: no patch payloads", path); goto out; }
  if (h->m.kernel.present && (rc = hp_kernel_check_running(ctx, path, &h->m, &r->st))) goto out;
  hp_bad bad;
  if (!o->is_revert && !o->restore && hp_bad_find(ctx, rb.digest, h->m.sequence, &bad)) {
    char when[64];
    const hpm_policy *pol = hpm_ctx_policy(ctx, NULL, NULL);
    if (pol) win_format_local(pol, bad.time, when, sizeof when);
    else snprintf(when, sizeof when, "%llu (seconds since the epoch)", (unsigned long long)bad.time);
    if (!o->force) {
      rc = refuse(r, 1, path,
                  "%s: %s (sequence %u) was reverted for its health on this host on %s (%s): not applied again "
                  "until a newer sequence arrives; 'hpm apply --force' applies it anyway",
                  path, h->m.id, h->m.sequence, when, bad.reason);
      goto out;
    }
    if (!o->dry_run) {
      char res[700];
      snprintf(res, sizeof res, "forced over its bad mark of %s (%s)", when, bad.reason);
      update_history_detail(ctx, "apply", h->m.id, "ok", NULL, res);
    }
  }
  if (!o->dry_run && !o->is_revert && !o->restore) {
    char sp[HP_PATH_MAX];
    hpmh_status ws;
    hp_stored_path(ctx, sp, sizeof sp, h->m.sequence);
    if (hpmh_write_file(sp, h->buf, h->len, 0644, 0, &ws)) {
      /* "SP: cannot store: why", as the detail says "SP: why" */
      size_t k = strlen(sp);
      const char *why = !strncmp(ws.detail, sp, k) && !strncmp(ws.detail + k, ": ", 2) ? ws.detail + k + 2 : ws.detail;
      rc = refuse(r, 3, sp, "%s: cannot store: %s", sp, why);
      goto out;
    }
  }
  /* the verifying window (health.h) begins before any process runs the new
   * code: a process dying of it while others are still being patched counts */
  hp_health before;
  hp_health_read(ctx, &before);
  bool window = !o->dry_run && !o->is_revert && h->m.sequence != applied.seq;
  if (window) hp_health_begin(ctx, h, applied.seq);
  if (o->dry_run && h->m.kernel.present && !ctx->json)
    printf("would load livepatch %s into kernel %s\n", h->m.kernel.module, h->m.kernel.release);
  /* the kernel first: if its transition cannot finish, no process is touched */
  if (!o->dry_run && !o->npids && (rc = hp_kernel_transition(ctx, &h->m, o->kernel_deadline_ms, &r->kernel, &r->st))) {
    if (window) hp_health_restore(ctx, &before);
    goto out;
  }
  patch_processes(&op, h, o->dry_run, r);
  revert_untargeted(&op, h, o->dry_run, r);
  if (o->dry_run) goto out;
  if (o->npids && !r->patched && !r->failed && !r->reverted) {
    if (window) hp_health_restore(ctx, &before);
    rc = refuse(r, 1, path, "%s: no given process maps a binary with a build-id this hotpatch targets: refusing", path);
    goto out;
  }
  applied.seq = h->m.sequence;
  snprintf(applied.id, sizeof applied.id, "%s", h->m.id);
  if (hostfacts_applied_write(ctx, &applied)) msg("cannot record the applied sequence");
  if (o->is_revert) hp_health_reverted_to(ctx, h->m.sequence);
  else hp_health_note_units(ctx);
  rc = r->failed ? 4 : 0;
out:
  free(elf);
  hp_store_unlock(lock);
  return rc;
}

/* ---- revert everything ---- */
int hp_revert_all(hpm_ctx *ctx, const hp_opts *o, hp_report *r) {
  memset(r, 0, sizeof *r);
  hp_store_mkdirs(ctx);
  int lock = hp_store_lock(ctx, &r->st);
  if (lock < 0) return 3;
  hp_elf_cache *elf = calloc(1, sizeof *elf);
  if (!elf) { hp_store_unlock(lock); return refuse(r, 3, ctx->state_dir, "out of memory"); }
  hp_op op = {ctx, o->pids, o->npids, elf};
  hp_recover_all(&op);
  hp_adopt_all(&op);
  if (!o->dry_run && !o->npids) {
    int krc = hp_kernel_transition(ctx, NULL, o->kernel_deadline_ms, &r->kernel, &r->st);
    if (krc) {
      free(elf);
      hp_store_unlock(lock);
      return krc;
    }
  }
  glob_t g;
  if (hp_journal_glob(ctx, "state", &g) == 0) {
    for (size_t i = 0; i < g.gl_pathc; i++) {
      hp_journal s;
      if (hp_journal_read(g.gl_pathv[i], &s)) continue;
      if (hp_pid_selected(o->pids, o->npids, s.pid)) {
        int rc = revert_journaled(&op, &s);
        if (rc == HP_OK) r->patched++;
        else if (rc != HP_GONE) r->failed++;
      }
      hp_journal_free(&s);
    }
    globfree(&g);
  }
  if (!r->failed && !o->dry_run) {
    hpm_applied none = {0, ""};
    hostfacts_applied_write(ctx, &none);
    hp_health_reverted_to(ctx, 0);
  }
  free(elf);
  hp_store_unlock(lock);
  return r->failed ? 4 : 0;
}
