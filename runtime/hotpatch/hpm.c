/* SPDX-License-Identifier: MIT */
/*
 * hpm: the host command.  Hotpatch part: apply, revert, list, status, agent,
 * recover.  See docs/hotpatch-authoring.md for the operator's view.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <glob.h>
#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "boot/boot.h"
#include "update/catalog_cmd.h"
#include "hotpatch/transition.h"
#include "json.h"
#include "msg.h"
#include "trust.h"
#include "update/update.h"
#include "hpm/core.h"
#include "fileio.h"
#include "keys.h"
#include "payload.h"
#include "update/lifecycle_cmd.h"
#include "hotpatch/journal.h"

/* ---- configuration ---- */
static const char *trust_dir = "/etc/hpm/trust";
static const char *state_dir = "/var/lib/hpm";
static const char *baseline_override;
static unsigned budget_us = 5000;
static int fault_after = -1; /* HPM_TEST_FAULT_AFTER: crash-test hook */
static int json;


static void hex(char *o, const uint8_t *b, size_t n) {
  for (size_t i = 0; i < n; i++) sprintf(o + 2 * i, "%02x", b[i]);
  o[2 * n] = 0;
}

static uint8_t *slurp(const char *path, size_t *len, size_t max) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL;
  struct stat st;
  if (fstat(fd, &st) || st.st_size < 0 || (size_t)st.st_size > max) { close(fd); errno = EFBIG; return NULL; }
  uint8_t *b = malloc((size_t)st.st_size + 1);
  size_t got = 0;
  while (b && got < (size_t)st.st_size) {
    ssize_t r = read(fd, b + got, (size_t)st.st_size - got);
    if (r <= 0) { free(b); b = NULL; break; }
    got += (size_t)r;
  }
  close(fd);
  if (b) *len = got;
  return b;
}

static void mkdirs(void) {
  char p[512];
  mkdir(state_dir, 0700);
  snprintf(p, sizeof p, "%s/procs", state_dir);
  mkdir(p, 0700);
  snprintf(p, sizeof p, "%s/hotpatches", state_dir);
  mkdir(p, 0700);
}

static int lock_fd = -1;
static void lock_state(void) {
  char p[512];
  snprintf(p, sizeof p, "%s/lock", state_dir);
  lock_fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd < 0 || flock(lock_fd, LOCK_EX)) { msg("%s: cannot lock: %s", p, strerror(errno)); exit(3); }
}

/* A recovery in the update history (history.h); the commands themselves are
 * recorded by main() through update_record_command(). */
static void history_recover(pid_t pid, uint32_t seq, const char *what) {
  char ids[32], res[96];
  snprintf(ids, sizeof ids, "seq %u", seq);
  snprintf(res, sizeof res, "%s (pid %d)", what, (int)pid);
  update_history_note("recover", ids, res, NULL);
}

/* ---- trust and verification ---- */
static hpm_pubkey keys[64];
static size_t nkeys;

static int load_trust(void) {
  nkeys = hpmh_trust_load(trust_dir, keys, 64, hpm_msg_status);
  if (!nkeys) { msg("no trusted keys in %s (expected *.pub): refusing", trust_dir); return -1; }
  return 0;
}

typedef struct {
  uint8_t *buf;
  size_t len;
  hpm_manifest m;
  hpp_payload p[HPM_MAX_PAYLOADS];
  size_t np;
} hotpatch;

static int hotpatch_load(const char *path, hotpatch *h) {
  memset(h, 0, sizeof *h);
  h->buf = slurp(path, &h->len, 1u << 30);
  if (!h->buf) { msg("%s: %s", path, strerror(errno)); return 3; }
  if (load_trust()) return 1;
  hpm_trust trust = {keys, nkeys, 1};
  hpm_diag d;
  memset(&d, 0, sizeof d);
  hpm_result r = hpm_container_verify(h->buf, h->len, HPM_KIND_HOTPATCH, &trust, NULL, &h->m, &d);
  if (r != HPM_OK) {
    msg("%s: %s%s%s%s%s (trust store %s)", path, d.field[0] ? d.field : "", d.field[0] ? ": " : "",
        hpm_result_to_string(r), d.detail[0] ? ": " : "", d.detail, trust_dir);
    return 1;
  }
  for (size_t i = 0; i < h->m.payload_count; i++) {
    const hpm_payload *pl = &h->m.payloads[i];
    if (pl->type != HPM_PAYLOAD_PATCH) continue;
    char why[160] = "";
    hpp_result pr = hpp_parse(pl->data, pl->size, &h->p[h->np], why, sizeof why);
    if (pr != HPP_OK) {
      msg("%s: payloads/%s: %s: %s", path, pl->name, hpp_result_to_string(pr), why);
      return 1;
    }
    h->np++;
  }
  return 0;
}

static int running_baseline(uint8_t out[32], const char **src) {
  char hexs[80] = "";
  if (baseline_override) {
    snprintf(hexs, sizeof hexs, "%s", baseline_override);
    *src = "--baseline/HPM_BASELINE";
  } else {
    size_t n;
    char vp[600];
    const char *ev = getenv("HPM_EFIVARS") && *getenv("HPM_EFIVARS") ? getenv("HPM_EFIVARS") : "/sys/firmware/efi/efivars";
    snprintf(vp, sizeof vp, "%s/HpmBootBaseline-28b3057a-0599-4bcf-861b-d81782718919", ev);
    uint8_t *v = slurp(vp, &n, 4096);
    if (v && n > 4) {
      size_t k = 0;
      for (size_t i = 4; i < n && k < 64; i++)
        if (v[i]) hexs[k++] = (char)v[i];
      hexs[k] = 0;
      *src = "EFI variable HpmBootBaseline";
    }
    free(v);
    if (!hexs[0]) {
      uint8_t *c = slurp("/proc/cmdline", &n, 65536);
      if (c) {
        c[n] = 0;
        char *p = strstr((char *)c, "hpm.baseline=");
        if (p) sscanf(p + 13, "%64[0-9a-fA-F]", hexs);
        free(c);
        *src = "/proc/cmdline hpm.baseline=";
      }
    }
  }
  if (strlen(hexs) != 64) return -1;
  for (int i = 0; i < 32; i++) {
    unsigned x;
    if (sscanf(hexs + 2 * i, "%2x", &x) != 1) return -1;
    out[i] = (uint8_t)x;
  }
  return 0;
}

/* ---- host state ---- */
typedef struct { uint32_t seq; char id[64]; } host_state;

static void host_read(host_state *h) {
  memset(h, 0, sizeof *h);
  char p[512];
  snprintf(p, sizeof p, "%s/applied", state_dir);
  FILE *f = fopen(p, "re");
  if (!f) return;
  if (fscanf(f, "seq %u id %63s", &h->seq, h->id) < 1) h->seq = 0;
  fclose(f);
}

static int host_write(const host_state *h) {
  char p[512], t[520];
  snprintf(p, sizeof p, "%s/applied", state_dir);
  snprintf(t, sizeof t, "%s.tmp", p);
  FILE *f = fopen(t, "we");
  if (!f) return -1;
  fprintf(f, "seq %u id %s\n", h->seq, h->id[0] ? h->id : "-");
  int bad = fflush(f) || fsync(fileno(f));
  bad |= fclose(f);
  return bad ? -1 : rename(t, p);
}

/* ---- processes ---- */
typedef struct {
  pid_t pid;
  uint64_t bias, lo, hi;
  char exe[256];
  const hpp_payload *pl;
} match;

/* ELF facts of a mapped file, cached by device and inode for this run:
 * many processes map the same few binaries.  (A stale entry cannot patch
 * the wrong code: original bytes are checked in every process.) */
static int elf_info_cached(pid_t pid, unsigned long lo, unsigned long hi, unsigned long dev, unsigned long ino,
                           hpp_elf_info *info) {
  static struct { unsigned long dev, ino; int ok; hpp_elf_info info; } cache[256];
  static int ncache;
  for (int i = 0; i < ncache; i++)
    if (cache[i].dev == dev && cache[i].ino == ino) { *info = cache[i].info; return cache[i].ok ? 0 : -1; }
  char mf[128];
  snprintf(mf, sizeof mf, "/proc/%d/map_files/%lx-%lx", (int)pid, lo, hi);
  int fd = open(mf, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  static uint8_t buf[65536];
  ssize_t r = pread(fd, buf, 4096, 0); /* headers and notes are nearly always in the first page */
  int bad = r <= 0 || hpp_elf_info_parse(buf, (size_t)r, info);
  if (bad && r == 4096) {
    r = pread(fd, buf, sizeof buf, 0);
    bad = r <= 0 || hpp_elf_info_parse(buf, (size_t)r, info);
  }
  close(fd);
  if (r <= 0) return -1; /* unreadable now: do not remember */
  if (ncache < 256) {
    cache[ncache].dev = dev;
    cache[ncache].ino = ino;
    cache[ncache].ok = !bad;
    if (!bad) cache[ncache].info = *info;
    ncache++;
  }
  return bad ? -1 : 0;
}

/* The name at the end of a /proc/PID/maps line (after the inode): the
 * rest of the line, spaces included, without the newline. */
static void maps_name(const char *p, char *out, size_t n) {
  while (*p == ' ' || *p == '\t') p++;
  size_t k = strcspn(p, "\n");
  if (k >= n) k = n - 1;
  memcpy(out, p, k);
  out[k] = 0;
}

static int proc_match(pid_t pid, const hotpatch *h, match *out, int cap) {
  char path[64], line[1024];
  snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
  FILE *f = fopen(path, "re");
  if (!f) return 0;
  int n = 0;
  /* every mapped file once, however many the process maps */
  struct seen_file { unsigned long dev, ino; } *seen = NULL;
  int nseen = 0, capseen = 0;
  while (fgets(line, sizeof line, f)) {
    unsigned long lo, hi, off, ino;
    unsigned maj, mnr;
    char perms[8], file[512] = "";
    int at = 0;
    if (sscanf(line, "%lx-%lx %7s %lx %x:%x %lu%n", &lo, &hi, perms, &off, &maj, &mnr, &ino, &at) < 7) continue;
    maps_name(line + at, file, sizeof file);
    if (file[0] != '/' || off != 0 || !ino) continue;
    int dup = 0;
    for (int i = 0; i < nseen; i++) dup |= seen[i].ino == ino && seen[i].dev == ((unsigned long)maj << 20 | mnr);
    if (dup) continue;
    if (nseen == capseen) {
      struct seen_file *g = realloc(seen, (size_t)(capseen = capseen ? 2 * capseen : 64) * sizeof *seen);
      if (!g) break;
      seen = g;
    }
    seen[nseen].dev = (unsigned long)maj << 20 | mnr;
    seen[nseen++].ino = ino;
    hpp_elf_info info;
    if (elf_info_cached(pid, lo, hi, seen[nseen - 1].dev, ino, &info)) continue;
    for (size_t k = 0; k < h->np && n < cap; k++) {
      const hpp_payload *pl = &h->p[k];
      if (pl->build_id_len != info.build_id_len || memcmp(pl->build_id, info.build_id, info.build_id_len)) continue;
      match *m = &out[n++];
      m->pid = pid;
      m->pl = pl;
      m->bias = info.is_dyn ? lo - (info.first_load_vaddr & ~0xfffull) : 0;
      m->lo = lo;
      m->hi = hi;
      snprintf(m->exe, sizeof m->exe, "%s", file);
    }
  }
  /* the binary's whole span, for placing code within jump range */
  rewind(f);
  while (fgets(line, sizeof line, f)) {
    unsigned long lo, hi;
    char file[512] = "";
    int at = 0;
    if (sscanf(line, "%lx-%lx %*s %*x %*s %*u%n", &lo, &hi, &at) < 2 || !at) continue;
    maps_name(line + at, file, sizeof file);
    for (int i = 0; i < n; i++)
      if (!strcmp(file, out[i].exe) && hi > out[i].hi) out[i].hi = hi;
  }
  fclose(f);
  free(seen);
  return n;
}

static void proc_state_path(char *o, size_t n, pid_t pid, uint64_t start, const uint8_t *bid, const char *suffix) {
  char b[17];
  hex(b, bid, 8);
  snprintf(o, n, "%s/procs/%d-%llu-%s.%s", state_dir, (int)pid, (unsigned long long)start, b, suffix);
}

static uint64_t uptime_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_BOOTTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

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

static int recover_one(const char *pend) {
  hp_journal pd, cm;
  char state[600];
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
  /* the sites of the transition: pd's with their new target, and cm's that
   * pd drops, going back to original code (as transition_proc built them) */
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
      for (int i = 0; i < cm.nmaps; i++) /* old code still referenced: keep it recorded */
        if (un[i].addr && pd.nmaps < HP_JOURNAL_MAX_MAPS) pd.maps[pd.nmaps++] = un[i];
      if (pd.nsites || pd.nmaps) { if (hp_journal_write(state, &pd)) rc = -1; }
      else unlink(state);
      unlink(pend);
      history_recover(pd.pid, pd.seq, "completed an interrupted transition");
      msg("pid %d: completed an interrupted transition (seq %u)", pd.pid, pd.seq);
    } else {
      msg("pid %d: cannot complete the interrupted transition yet (%s): run hpm recover again", pd.pid,
          r == HP_BUSY ? "threads busy in patched bytes or not stopping" : "process exiting or ptrace failed");
      rc = -1;
    }
  } else {
    /* roll back: every site of both states to its committed target; drop
     * the transition mapping, also when hpm died before it was filled */
    hp_map un = {ours || fresh_map(pd.pid, pd.txn_addr, pd.txn_len) ? pd.txn_addr : 0, pd.txn_len};
    int r = force_retry(pd.pid, bk, nb, &un, 1, &rep);
    if (r == HP_OK) {
      unlink(pend);
      history_recover(pd.pid, pd.seq, "rolled back an interrupted transition");
      msg("pid %d: rolled back an interrupted transition (seq %u)", pd.pid, pd.seq);
    } else {
      msg("pid %d: cannot roll back the interrupted transition yet (%s): run hpm recover again", pd.pid,
          r == HP_BUSY ? "threads busy in patched bytes or not stopping" : "process exiting or ptrace failed");
      rc = -1;
    }
  }
  free(fw);
  free(bk);
out:
  hp_journal_free(&pd);
  hp_journal_free(&cm);
  return rc;
}

static int recover_all(void) {
  char pat[600];
  snprintf(pat, sizeof pat, "%s/procs/*.pending", state_dir);
  glob_t g;
  int bad = 0;
  if (glob(pat, 0, NULL, &g) == 0) {
    for (size_t i = 0; i < g.gl_pathc; i++) bad |= recover_one(g.gl_pathv[i]) != 0;
    globfree(&g);
  }
  /* forget processes that are gone */
  snprintf(pat, sizeof pat, "%s/procs/*.state", state_dir);
  if (glob(pat, 0, NULL, &g) == 0) {
    for (size_t i = 0; i < g.gl_pathc; i++) {
      hp_journal s;
      if (hp_journal_read(g.gl_pathv[i], &s)) continue;
      if (hp_proc_starttime(s.pid) != s.start) unlink(g.gl_pathv[i]);
      hp_journal_free(&s);
    }
    globfree(&g);
  }
  return bad;
}

static pid_t *pid_filter; /* --pid: only these processes */
static int npid_filter;

/* How long a process that started at start (clock ticks after boot, /proc/PID/stat) has run, in ms. */
static uint64_t proc_age_ms(uint64_t start) {
  long tck = sysconf(_SC_CLK_TCK);
  return uptime_ms() - start * 1000 / (uint64_t)(tck > 0 ? tck : 100);
}

/* The site of payload function f in a process where the binary's bias is bias. */
static void site_from_func(hp_site *s, const hpp_func *f, uint64_t bias) {
  memset(s, 0, sizeof *s);
  memcpy(s->name, f->name, sizeof s->name);
  s->region = bias + f->region;
  s->entry = bias + f->entry;
  s->size = f->size;
  s->len = f->region_len;
  s->mode = f->mode;
  s->flip_off = f->flip_off;
  s->flags = f->flags;
  memcpy(s->orig, f->orig, HPP_REGION_MAX);
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
static int sites_redirect_to(const match *mt, const hpp_payload *pl, uint64_t img, hp_site *out) {
  for (uint32_t i = 0; i < pl->func_count; i++) {
    hpp_func f;
    hpp_func_get(pl, i, &f);
    hp_site *s = &out[i];
    site_from_func(s, &f, mt->bias);
    s->next = img + f.image_off;
    uint8_t have[HPP_REGION_MAX], direct[HPP_REGION_MAX], hop[HPP_REGION_MAX];
    if (hp_peek(mt->pid, s->region, have, s->len)) return 0;
    hp_site_bytes(s, s->next, direct);
    hp_site_bytes_hop(s, s->next, hop);
    if (memcmp(have, direct, s->len) && memcmp(have, hop, s->len)) return 0;
  }
  return 1;
}

static int stored_path(char *o, size_t n, uint32_t seq);

/* Journal what pid (started at start) carries of hpm's, if hpm has no
 * journal for it.  Returns the number of binaries adopted (0: none,
 * -1: no mapping of hpm's at all). */
static int adopt_proc(pid_t pid, uint64_t start) {
  char pat[600];
  snprintf(pat, sizeof pat, "%s/procs/%d-%llu-*.state", state_dir, (int)pid, (unsigned long long)start);
  glob_t g;
  int journaled = glob(pat, 0, NULL, &g) == 0 && g.gl_pathc > 0;
  if (journaled) globfree(&g);
  if (journaled) return 0; /* known: its journal says what it carries */
  hpm_vma v[2 * HP_JOURNAL_MAX_MAPS];
  int nv = find_hpm_maps(pid, v, 2 * HP_JOURNAL_MAX_MAPS);
  if (!nv) return -1;
  hp_journal got[8];
  char jpath[8][600];
  int ng = 0;
  for (int i = 0; i < nv && ng < 8; i++) {
    if (!v[i].committed || !v[i].seq || v[i].claimed) continue;
    char sp[600];
    hotpatch h;
    memset(&h, 0, sizeof h);
    stored_path(sp, sizeof sp, v[i].seq);
    if (access(sp, R_OK) || hotpatch_load(sp, &h)) { free(h.buf); continue; }
    match m[8];
    int nm = proc_match(pid, &h, m, 8);
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
      proc_state_path(jpath[ng], sizeof jpath[ng], pid, start, m[k].pl->build_id, "state");
      hp_journal *pd = &got[ng++];
      memset(pd, 0, sizeof *pd);
      pd->pid = pid;
      pd->start = start;
      snprintf(pd->exe, sizeof pd->exe, "%s", m[k].exe);
      hex(pd->build_id, m[k].pl->build_id, m[k].pl->build_id_len);
      pd->seq = v[j].seq;
      snprintf(pd->id, sizeof pd->id, "%s", h.m.id);
      pd->time = (uint64_t)time(NULL) - proc_age_ms(start) / 1000; /* it carries the hotpatch since it began */
      pd->maps[pd->nmaps++] = (hp_map){v[j].lo, v[j].len};
      pd->sites = sites;
      pd->nsites = (int)m[k].pl->func_count;
    }
    free(h.buf);
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

/* Adopt every process (or every --pid) that carries hpm's code unjournaled. */
static void adopt_all(void) {
  DIR *d = opendir("/proc");
  if (!d) return;
  struct dirent *e;
  while ((e = readdir(d))) {
    pid_t pid = (pid_t)atoi(e->d_name);
    if (pid <= 0 || pid == getpid()) continue;
    int ok = !npid_filter;
    for (int i = 0; i < npid_filter; i++) ok |= pid_filter[i] == pid;
    uint64_t start = ok ? hp_proc_starttime(pid) : 0;
    if (start) adopt_proc(pid, start);
  }
  closedir(d);
}

/* ---- one process: move from its journaled state to the payload (NULL: original) ---- */
typedef struct { unsigned pause_us, prep_us; int attempts; } proc_result;

static int transition_proc(const match *mt, const hotpatch *h, proc_result *pr) {
  const hpp_payload *pl = mt->pl;
  uint64_t start = hp_proc_starttime(mt->pid);
  if (!start) return HP_GONE;
  char spath[600], ppath[600];
  proc_state_path(spath, sizeof spath, mt->pid, start, pl->build_id, "state");
  proc_state_path(ppath, sizeof ppath, mt->pid, start, pl->build_id, "pending");
  hp_journal cur;
  if (hp_journal_read(spath, &cur) && (adopt_proc(mt->pid, start) <= 0 || hp_journal_read(spath, &cur))) {
    memset(&cur, 0, sizeof cur);
    cur.pid = mt->pid;
    cur.start = start;
  }
  int nnew = h ? (int)pl->func_count : 0;
  hp_site *sites = calloc((size_t)nnew + (size_t)cur.nsites + 1, sizeof *sites);
  int n = 0;
  for (int i = 0; i < nnew; i++) {
    hpp_func f;
    hpp_func_get(pl, (uint32_t)i, &f);
    site_from_func(&sites[n++], &f, mt->bias);
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
  plan.budget_us = budget_us;
  plan.fault_after = fault_after;
  int rc = HP_BUSY;
  hp_transition_report rep;
  memset(&rep, 0, sizeof rep);
  pr->attempts = 0;
  unsigned backoff_ms = 2;
  for (int attempt = 0; attempt < 10 && rc == HP_BUSY; attempt++) {
    pr->attempts++;
    if (attempt) { usleep(backoff_ms * 1000); if (backoff_ms < 64) backoff_ms *= 2; }
    plan.map_addr = hp_pick_addr(mt->pid, mt->lo, mt->hi, plan.map_len);
    if (!plan.map_addr) { msg("pid %d: no free address within jump range of %s", mt->pid, mt->exe); rc = HP_FAIL; break; }
    memset(plan.map_bytes, 0, plan.map_len);
    memcpy(plan.map_bytes, HP_MAGIC, 8);
    /* what adoption (adopt_proc) reads back in a forked child */
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
        uint64_t S = (r.base == HPP_B_IMAGE ? img_addr : mt->bias) + (uint64_t)r.value;
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
    hex(pd.build_id, pl->build_id, pl->build_id_len);
    pd.seq = h ? h->m.sequence : 0;
    snprintf(pd.id, sizeof pd.id, "%s", h ? h->m.id : "");
    pd.time = (uint64_t)time(NULL);
    pd.exposure_ms = cur.exposure_ms;
    if (!cur.nsites && h) pd.exposure_ms = proc_age_ms(start);
    if (h) pd.maps[pd.nmaps++] = (hp_map){plan.map_addr, plan.map_len};
    pd.sites = calloc((size_t)nnew + 1, sizeof *pd.sites);
    for (int i = 0; i < nnew; i++) pd.sites[i] = sites[i];
    pd.nsites = nnew;
    pd.txn_addr = plan.map_addr;
    pd.txn_len = plan.map_len;
    pd.keep = plan.keep_map;
    if (hp_journal_write(ppath, &pd)) { msg("%s: cannot write the journal: %s", ppath, strerror(errno)); hp_journal_free(&pd); rc = HP_FAIL; break; }
    if (getenv("HPM_TEST_DELAY_MS")) usleep((useconds_t)atoi(getenv("HPM_TEST_DELAY_MS")) * 1000);
    if (getenv("HPM_TEST_SYSCALL_DELAY_US")) { fputs("hpm-test: transition\n", stderr); fflush(stderr); }
    rc = hp_transition(mt->pid, &plan, &rep);
    pr->pause_us = rep.pause_us;
    pr->prep_us = rep.prep_us;
    if (getenv("HPM_TIMING"))
      fprintf(stderr, "hpm-timing: pid %d rc %d threads %u prep %u pause %u (stop %u write %u scan %u)\n", mt->pid,
              rc, rep.threads, rep.prep_us, rep.pause_us, rep.stop_us, rep.write_us, rep.scan_us);
    if (rc == HP_BUSY && attempt < 9) /* the process was released unchanged; say why it is tried again */
      msg("pid %d (%s): attempt %d: %s; trying again in %u ms", mt->pid, mt->exe, attempt + 1,
          rep.why[0] ? rep.why : "busy", backoff_ms);
    if (rc == HP_OK) {
      pd.txn_addr = 0;
      for (int i = 0; i < plan.nunmap; i++) /* old code still referenced: keep it recorded */
        if (plan.unmap[i].addr && pd.nmaps < HP_JOURNAL_MAX_MAPS) pd.maps[pd.nmaps++] = plan.unmap[i];
      if (h) hp_journal_write(spath, &pd);
      else if (pd.nmaps) { pd.nsites = 0; hp_journal_write(spath, &pd); }
      else unlink(spath);
    }
    unlink(ppath);
    hp_journal_free(&pd);
  }
  if (rc != HP_OK) msg("pid %d (%s): %s", mt->pid, mt->exe, rep.why[0] ? rep.why : "failed");
  free(plan.map_bytes);
  free(sites);
  hp_journal_free(&cur);
  return rc;
}


typedef struct { int rc; proc_result pr; } proc_outcome;

static int for_each_proc(const hotpatch *h, const hotpatch *match_by, int dry, int *patched, int *failed,
                         unsigned *pauses, unsigned *preps, int cap) {
  DIR *d = opendir("/proc");
  if (!d) return -1;
  struct dirent *e;
  pid_t self = getpid();
  match *ms = NULL;
  int nms = 0, capms = 0;
  while ((e = readdir(d))) {
    pid_t pid = (pid_t)atoi(e->d_name);
    if (pid <= 0 || pid == self) continue;
    if (npid_filter) {
      int ok = 0;
      for (int i = 0; i < npid_filter; i++) ok |= pid_filter[i] == pid;
      if (!ok) continue;
    }
    match m[8];
    int nm = proc_match(pid, match_by, m, 8);
    for (int i = 0; i < nm; i++) {
      if (nms == capms) {
        capms = capms ? 2 * capms : 64;
        match *nmsp = realloc(ms, (size_t)capms * sizeof *ms);
        if (!nmsp) { closedir(d); free(ms); return -1; }
        ms = nmsp;
      }
      ms[nms++] = m[i];
    }
  }
  closedir(d);
  if (dry) {
    for (int i = 0; i < nms; i++) {
      unsigned nf = 0, nc = 0;
      for (uint32_t k = 0; k < ms[i].pl->func_count; k++) {
        hpp_func f;
        hpp_func_get(ms[i].pl, k, &f);
        if (f.mode == HPP_MODE_CALL) nc++; else nf++;
      }
      printf("would patch pid %d (%s): %u functions, %u call sites\n", ms[i].pid, ms[i].exe, nf, nc);
      (*patched)++;
    }
    free(ms);
    return 0;
  }
  /* Processes are independent: patch them from a few worker processes
   * (one per CPU) sharing an outcome table.  Each transition is journaled
   * on its own, so a worker dying is recovered like hpm dying. */
  proc_outcome *out = mmap(NULL, (size_t)(nms ? nms : 1) * sizeof *out, PROT_READ | PROT_WRITE,
                           MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (out == MAP_FAILED) { free(ms); return -1; }
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  /* two per CPU: a worker mostly waits for its target's threads to be scheduled */
  int workers = nms >= 16 ? (int)(ncpu < 1 ? 2 : ncpu > 4 ? 8 : 2 * ncpu) : 1;
  if (getenv("HPM_WORKERS")) workers = atoi(getenv("HPM_WORKERS")) < 1 ? 1 : atoi(getenv("HPM_WORKERS"));
  for (int i = 0; i < nms; i++) out[i].rc = -1;
  if (workers <= 1) {
    for (int i = 0; i < nms; i++) out[i].rc = transition_proc(&ms[i], h, &out[i].pr);
  } else {
    fflush(stdout);
    fflush(stderr);
    pid_t kids[8];
    int nk = 0;
    for (int k = 0; k < workers; k++) {
      pid_t c = fork();
      if (c == 0) {
        for (int i = k; i < nms; i += workers) out[i].rc = transition_proc(&ms[i], h, &out[i].pr);
        fflush(NULL);
        _exit(0);
      }
      if (c > 0) kids[nk++] = c;
      else for (int i = k; i < nms; i += workers) out[i].rc = transition_proc(&ms[i], h, &out[i].pr);
    }
    for (int k = 0; k < nk; k++) {
      int st;
      while (waitpid(kids[k], &st, 0) < 0 && errno == EINTR) {}
    }
  }
  for (int i = 0; i < nms; i++) {
    int r = out[i].rc;
    if (r == HP_OK) {
      if (pauses && *patched < cap) { pauses[*patched] = out[i].pr.pause_us; preps[*patched] = out[i].pr.prep_us; }
      (*patched)++;
      if (!json) printf("pid %d (%s): %s, pause %u us, %d attempt(s)\n", ms[i].pid, ms[i].exe,
                        h ? "patched" : "reverted", out[i].pr.pause_us, out[i].pr.attempts);
    } else if (r == HP_GONE) msg("pid %d: exited during the transition", ms[i].pid);
    else (*failed)++;
  }
  munmap(out, (size_t)(nms ? nms : 1) * sizeof *out);
  free(ms);
  return 0;
}

static int stored_path(char *o, size_t n, uint32_t seq) {
  return snprintf(o, n, "%s/hotpatches/seq-%u.hpm", state_dir, seq) >= (int)n ? -1 : 0;
}

static int copy_file(const uint8_t *b, size_t n, const char *dst) {
  char t[700];
  snprintf(t, sizeof t, "%s.tmp", dst);
  FILE *f = fopen(t, "we");
  if (!f) return -1;
  int bad = fwrite(b, 1, n, f) != n || fflush(f) || fsync(fileno(f));
  bad |= fclose(f);
  return bad ? -1 : rename(t, dst);
}

/* ---- commands ---- */
static const struct option common_opts[] = {
    {"trust-dir", 1, 0, 'T'}, {"state-dir", 1, 0, 'S'}, {"baseline", 1, 0, 'B'}, {"pid", 1, 0, 'p'},
    {"dry-run", 0, 0, 'n'},   {"json", 0, 0, 'j'},      {"to", 1, 0, 't'},       {"all", 0, 0, 'a'},
    {"budget-us", 1, 0, 'u'}, {"help", 0, 0, 'h'},      {"once", 0, 0, 'o'},     {0, 0, 0, 0}};

static const char *usage_text =
    "usage: hpm <command> [options]\n"
    "  apply [--dry-run] [--pid PID]... HOTPATCH   verify and apply a signed hotpatch\n"
    "  revert [--to SEQ | --all] [--pid PID]...     go back to an earlier hotpatch or none\n"
    "  list [--json]                                patched processes: hotpatch, functions, when\n"
    "  status [--json]                              boot slots (hpmboot.efi) and applied hotpatch\n"
    "  mark-good [--json]                           mark the running baseline good (next boot records it)\n"
    "  stage [--tries N] [--json] BASELINE.hpm      verify and copy a baseline into the inactive slot\n"
    "  rollback [--json]                            make the previous good slot active at the next boot\n"
    "  agent [--once]                               patch new processes of targeted binaries; periodic\n"
    "                                               assessment and automatic installs (policy file)\n"
    "  recover                                      finish or roll back interrupted transitions\n"
    "  catalog [--source URL|DIR] [--download ID]... [--json]\n"
    "                                               fetch, verify and show the update catalog\n"
    LIFECYCLE_USAGE
    UPDATE_USAGE
    "options (all commands): --trust-dir DIR (HPM_TRUST_DIR, default /etc/hpm/trust)\n"
    "  --state-dir DIR (HPM_STATE_DIR, default /var/lib/hpm)  --baseline HEX (HPM_BASELINE:\n"
    "  overrides the running baseline read from EFI/kernel command line; for tests)\n"
    "  --budget-us N (pause budget per attempt, default 5000)\n";

static int opt_once;
static const char *opt_to;
static int opt_all, opt_dry;

static int parse_opts(int argc, char **argv, const char *cmd) {
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "", common_opts, NULL)) != -1) {
    switch (c) {
    /* exported too: update.c and the history read the environment */
    case 'T': trust_dir = optarg; setenv("HPM_TRUST_DIR", optarg, 1); break;
    case 'S': state_dir = optarg; setenv("HPM_STATE_DIR", optarg, 1); break;
    case 'B': baseline_override = optarg; break;
    case 'p': {
      char *end;
      long v = strtol(optarg, &end, 10);
      if (*end || v <= 0) { msg("%s: --pid '%s': expected a process id", cmd, optarg); return 2; }
      pid_filter = realloc(pid_filter, (size_t)(npid_filter + 1) * sizeof *pid_filter);
      pid_filter[npid_filter++] = (pid_t)v;
      break;
    }
    case 'n': opt_dry = 1; break;
    case 'j': json = 1; break;
    case 't': opt_to = optarg; break;
    case 'a': opt_all = 1; break;
    case 'o': opt_once = 1; break;
    case 'u': budget_us = (unsigned)strtoul(optarg, NULL, 10); break;
    case 'h': fputs(usage_text, stdout); exit(0);
    default: fprintf(stderr, "Try 'hpm %s --help'.\n", cmd); return 2;
    }
  }
  return 0;
}

static int pct(unsigned *v, int n, int p) {
  if (!n) return 0;
  for (int i = 1; i < n; i++)
    for (int j = i; j > 0 && v[j - 1] > v[j]; j--) { unsigned t = v[j]; v[j] = v[j - 1]; v[j - 1] = t; }
  return (int)v[(n - 1) * p / 100];
}

static int apply_hotpatch(const char *path, hotpatch *h, int is_revert) {
  uint8_t base[32];
  const char *src = "";
  if (running_baseline(base, &src)) {
    msg("%s: cannot determine the running baseline (no EFI variable, no hpm.baseline= on the kernel command line): refusing", path);
    return 1;
  }
  if (memcmp(base, h->m.target_baseline, 32)) {
    char a[65], b[65];
    hex(a, h->m.target_baseline, 32);
    hex(b, base, 32);
    msg("%s: targets baseline %.16s…, but the running baseline is %.16s… (%s): refusing", path, a, b, src);
    return 1;
  }
  host_state hs;
  host_read(&hs);
  if (!is_revert && h->m.sequence <= hs.seq) {
    msg("%s: sequence %u is not higher than the applied sequence %u (%s): refusing; use 'hpm revert --to' to go back",
        path, h->m.sequence, hs.seq, hs.id);
    return 1;
  }
  if (!h->np) { msg("%s: no patch payloads", path); return 1; }
  int patched = 0, failed = 0;
  static unsigned pauses[4096], preps[4096];
  if (!opt_dry) {
    char sp[600];
    stored_path(sp, sizeof sp, h->m.sequence);
    if (!is_revert && copy_file(h->buf, h->len, sp)) { msg("%s: cannot store: %s", sp, strerror(errno)); return 3; }
  }
  for_each_proc(h, h, opt_dry, &patched, &failed, pauses, preps, 4096);
  if (opt_dry) { printf("dry run: %d process(es) would be patched\n", patched); return 0; }
  if (npid_filter && !patched && !failed) {
    msg("%s: no given process maps a binary with a build-id this hotpatch targets: refusing", path);
    return 1;
  }
  /* processes still carrying an older hotpatch whose binary this one no longer targets */
  hs.seq = h->m.sequence;
  snprintf(hs.id, sizeof hs.id, "%s", h->m.id);
  if (host_write(&hs)) msg("cannot record the applied sequence");
  int np = patched < 4096 ? patched : 4096;
  int p50 = pct(pauses, np, 50), p99 = pct(pauses, np, 99), q50 = pct(preps, np, 50);
  if (json) {
    printf("{\"sequence\":%u,\"id\":", h->m.sequence);
    hpmh_json_str(stdout, h->m.id);
    printf(",\"patched\":%d,\"failed\":%d,\"pause_us_p50\":%d,\"pause_us_p99\":%d,\"prep_us_p50\":%d}\n", patched,
           failed, p50, p99, q50);
  } else
    printf("%s %s (sequence %u): %d process(es) patched, %d failed\n", is_revert ? "reverted to" : "applied", h->m.id,
           h->m.sequence, patched, failed);
  return failed ? 4 : 0;
}

static int cmd_apply(int argc, char **argv) {
  int r = parse_opts(argc, argv, "apply");
  if (r) return r;
  if (optind != argc - 1) { msg("apply: expected one HOTPATCH file"); fprintf(stderr, "Try 'hpm apply --help'.\n"); return 2; }
  mkdirs();
  lock_state();
  recover_all();
  hotpatch h;
  r = hotpatch_load(argv[optind], &h);
  if (r) return r;
  return apply_hotpatch(argv[optind], &h, 0);
}

/* Revert every journaled (or adoptable) process to original code. */
static int revert_all(void) {
  adopt_all();
  char pat[600];
  snprintf(pat, sizeof pat, "%s/procs/*.state", state_dir);
  glob_t g;
  int failed = 0, done = 0;
  if (glob(pat, 0, NULL, &g) == 0) {
    for (size_t i = 0; i < g.gl_pathc; i++) {
      hp_journal s;
      if (hp_journal_read(g.gl_pathv[i], &s)) continue;
      int ok = !npid_filter;
      for (int k = 0; k < npid_filter; k++) ok |= pid_filter[k] == s.pid;
      if (ok && hp_proc_starttime(s.pid) == s.start) {
        /* build a payload-less match for this process from its journal */
        hpp_payload pl;
        memset(&pl, 0, sizeof pl);
        pl.build_id_len = (uint32_t)strlen(s.build_id) / 2;
        for (uint32_t k = 0; k < pl.build_id_len; k++) {
          unsigned x;
          sscanf(s.build_id + 2 * k, "%2x", &x);
          pl.build_id[k] = (uint8_t)x;
        }
        match m = {.pid = s.pid, .pl = &pl};
        snprintf(m.exe, sizeof m.exe, "%s", s.exe);
        /* range for the transition page: near the redirected sites */
        m.lo = s.nsites ? s.sites[0].region & ~0xfffull : s.maps[0].addr;
        m.hi = m.lo + 4096;
        proc_result pr;
        int r = transition_proc(&m, NULL, &pr);
        if (r == HP_OK) { done++; if (!json) printf("pid %d (%s): reverted, pause %u us, prep %u us\n", s.pid, s.exe, pr.pause_us, pr.prep_us); }
        else if (r != HP_GONE) failed++;
      }
      hp_journal_free(&s);
    }
    globfree(&g);
  }
  printf("reverted %d process(es), %d failed\n", done, failed);
  return failed ? 4 : 0;
}

/* For hpm install (update.c), which runs it in a child process. */
int hpm_cmd_apply_entry(int argc, char **argv) { return cmd_apply(argc, argv); }

static int cmd_revert(int argc, char **argv) {
  int r = parse_opts(argc, argv, "revert");
  if (r) return r;
  if (optind != argc || (!!opt_to == opt_all)) { msg("revert: give exactly one of --to SEQ or --all"); fprintf(stderr, "Try 'hpm revert --help'.\n"); return 2; }
  mkdirs();
  lock_state();
  recover_all();
  host_state hs;
  host_read(&hs);
  if (opt_all) {
    r = revert_all();
    if (!r) {
      host_state z = {0, ""};
      host_write(&z);
    }
    return r;
  }
  char *end;
  unsigned long to = strtoul(opt_to, &end, 10);
  if (*end || !to) { msg("revert: --to '%s': expected a sequence number >= 1", opt_to); return 2; }
  if (to >= hs.seq) { msg("revert: --to %lu is not lower than the applied sequence %u", to, hs.seq); return 1; }
  char sp[600];
  stored_path(sp, sizeof sp, (uint32_t)to);
  if (access(sp, R_OK)) { msg("revert: sequence %lu was never applied on this host (%s missing)", to, sp); return 1; }
  hotpatch h;
  r = hotpatch_load(sp, &h);
  if (r) return r;
  return apply_hotpatch(sp, &h, 1);
}

static int cmd_list(int argc, char **argv) {
  int r = parse_opts(argc, argv, "list");
  if (r) return r;
  /* forked children carrying a hotpatch are listed too: adopt them, unless
   * another hpm holds the state (it adopts what it touches itself) */
  char lp[600];
  snprintf(lp, sizeof lp, "%s/lock", state_dir);
  int lfd = open(lp, O_RDWR | O_CLOEXEC);
  if (lfd >= 0 && flock(lfd, LOCK_EX | LOCK_NB) == 0) adopt_all();
  if (lfd >= 0) close(lfd);
  char pat[600];
  snprintf(pat, sizeof pat, "%s/procs/*.state", state_dir);
  glob_t g;
  int first = 1;
  if (json) printf("[");
  if (glob(pat, 0, NULL, &g) == 0) {
    for (size_t i = 0; i < g.gl_pathc; i++) {
      hp_journal s;
      if (hp_journal_read(g.gl_pathv[i], &s)) continue;
      if (hp_proc_starttime(s.pid) != s.start || !s.nsites) { hp_journal_free(&s); continue; }
      if (json) {
        printf("%s{\"pid\":%d,\"exe\":", first ? "" : ",", s.pid);
        hpmh_json_str(stdout, s.exe); /* any file name */
        printf(",\"build_id\":\"%s\",\"sequence\":%u,\"id\":", s.build_id, s.seq);
        hpmh_json_str(stdout, s.id);
        printf(",\"time\":%llu,\"exposure_ms\":%llu,\"functions\":[", (unsigned long long)s.time,
               (unsigned long long)s.exposure_ms);
        for (int k = 0, n = 0; k < s.nsites; k++) /* call sites (mode 3) repeat their function */
          if (s.sites[k].mode != HPP_MODE_CALL) {
            if (n++) putchar(',');
            hpmh_json_str(stdout, s.sites[k].name);
          }
        printf("]}");
      } else {
        char tb[HPMH_UTC_LEN];
        hpmh_utc(s.time, tb);
        printf("pid %d %s seq %u %s since %s (exposure %llu ms):", s.pid, s.exe, s.seq, s.id, tb,
               (unsigned long long)s.exposure_ms);
        for (int k = 0; k < s.nsites; k++)
          if (s.sites[k].mode != HPP_MODE_CALL) printf(" %s", s.sites[k].name);
        printf("\n");
      }
      first = 0;
      hp_journal_free(&s);
    }
    globfree(&g);
  }
  if (json) printf("]\n");
  return 0;
}

static int cmd_status(int argc, char **argv) {
  int r = parse_opts(argc, argv, "status");
  if (r) return r;
  host_state hs;
  host_read(&hs);
  char pat[600];
  snprintf(pat, sizeof pat, "%s/procs/*.state", state_dir);
  glob_t g;
  int procs = 0, pending = 0;
  if (glob(pat, 0, NULL, &g) == 0) { procs = (int)g.gl_pathc; globfree(&g); }
  snprintf(pat, sizeof pat, "%s/procs/*.pending", state_dir);
  if (glob(pat, 0, NULL, &g) == 0) { pending = (int)g.gl_pathc; globfree(&g); }
  uint8_t base[32];
  const char *src = "none";
  char bh[65] = "";
  if (!running_baseline(base, &src)) hex(bh, base, 32);
  if (json) {
    printf("{\"hotpatch\":{\"sequence\":%u,\"id\":", hs.seq);
    hpmh_json_str(stdout, hs.id);
    printf(",\"processes\":%d,\"pending\":%d,\"baseline\":\"%s\"},\"boot\":", procs, pending, bh);
    hpm_boot_status_print(stdout, true);
    printf("}\n");
  } else {
    hpm_boot_status_print(stdout, false);
    printf("\nhotpatch: sequence %u %s\nprocesses journaled: %d\ninterrupted transitions: %d\nrunning baseline: %s (%s)\n",
           hs.seq, hs.seq ? hs.id : "(none)", procs, pending, bh[0] ? bh : "unknown", src);
  }
  return 0;
}

static int cmd_recover(int argc, char **argv) {
  int r = parse_opts(argc, argv, "recover");
  if (r) return r;
  mkdirs();
  lock_state();
  return recover_all() ? 4 : 0;
}

/* ---- agent ---- */
static volatile sig_atomic_t agent_stop;
static void on_term(int s) { (void)s; agent_stop = 1; }

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

static int agent_patch_pid(const hotpatch *h, pid_t pid) {
  match m[8];
  int nm = proc_match(pid, h, m, 8), n = 0;
  if (nm) adopt_proc(pid, hp_proc_starttime(pid)); /* a child forked from a patched process */
  for (int i = 0; i < nm; i++) {
    uint64_t start = hp_proc_starttime(pid);
    char sp[600];
    proc_state_path(sp, sizeof sp, pid, start, m[i].pl->build_id, "state");
    hp_journal s;
    if (hp_journal_read(sp, &s) == 0) {
      int same = s.seq == h->m.sequence;
      hp_journal_free(&s);
      if (same) continue;
    }
    proc_result pr;
    if (transition_proc(&m[i], h, &pr) == HP_OK) {
      n++;
      printf("agent: pid %d (%s): patched to seq %u, pause %u us\n", pid, m[i].exe, h->m.sequence, pr.pause_us);
      fflush(stdout);
    }
  }
  return n;
}

static int cmd_agent(int argc, char **argv) {
  int r = parse_opts(argc, argv, "agent");
  if (r) return r;
  mkdirs();
  lock_state();
  recover_all();
  flock(lock_fd, LOCK_UN);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_term;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  int s = proc_connector();
  if (s < 0) msg("agent: proc connector unavailable (%s): falling back to periodic scans", strerror(errno));
  printf("agent: watching%s\n", s < 0 ? " (scan only)" : "");
  fflush(stdout);
  uint32_t loaded_seq = (uint32_t)-1;
  hotpatch h;
  int have = 0;
  time_t last_scan = 0;
  while (!agent_stop) {
    update_agent_tick(); /* periodic assessment + automatic installs, when due */
    host_state hs;
    host_read(&hs);
    if (hs.seq != loaded_seq) {
      if (have) free(h.buf);
      have = 0;
      loaded_seq = hs.seq;
      char sp[600];
      stored_path(sp, sizeof sp, hs.seq);
      if (hs.seq && hotpatch_load(sp, &h) == 0) have = 1;
      last_scan = 0;
    }
    if (have && time(NULL) - last_scan >= 2) { /* safety net for anything the events missed */
      flock(lock_fd, LOCK_EX);
      DIR *d = opendir("/proc");
      struct dirent *e;
      while (d && (e = readdir(d))) {
        pid_t pid = (pid_t)atoi(e->d_name);
        if (pid > 0 && pid != getpid()) agent_patch_pid(&h, pid);
      }
      if (d) closedir(d);
      flock(lock_fd, LOCK_UN);
      last_scan = time(NULL);
      if (opt_once) break;
    }
    if (s < 0) { usleep(200000); continue; }
    struct pollfd pf = {s, POLLIN, 0};
    if (poll(&pf, 1, 500) <= 0) continue;
    char buf[8192];
    ssize_t n = recv(s, buf, sizeof buf, 0);
    if (n < 0) { if (errno == ENOBUFS) last_scan = 0; continue; }
    for (struct nlmsghdr *nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, (size_t)n); nh = NLMSG_NEXT(nh, n)) {
      struct cn_msg *cn = NLMSG_DATA(nh);
      if (cn->id.idx != CN_IDX_PROC || cn->len < sizeof(struct proc_event)) continue;
      struct proc_event *ev = (struct proc_event *)cn->data;
      if (ev->what != PROC_EVENT_EXEC || !have) continue;
      pid_t pid = ev->event_data.exec.process_tgid;
      flock(lock_fd, LOCK_EX);
      agent_patch_pid(&h, pid);
      flock(lock_fd, LOCK_UN);
    }
  }
  if (s >= 0) close(s);
  return 0;
}

int main(int argc, char **argv) {
  if (getenv("HPM_TRUST_DIR")) trust_dir = getenv("HPM_TRUST_DIR");
  if (getenv("HPM_STATE_DIR")) state_dir = getenv("HPM_STATE_DIR");
  if (getenv("HPM_BASELINE")) baseline_override = getenv("HPM_BASELINE");
  if (getenv("HPM_TEST_FAULT_AFTER")) fault_after = atoi(getenv("HPM_TEST_FAULT_AFTER"));
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc < 2) { fputs(usage_text, stderr); return 2; }
  const char *c = argv[1];
  if (!strcmp(c, "--help") || !strcmp(c, "-h") || !strcmp(c, "help")) { fputs(usage_text, stdout); return 0; }
  argv++;
  argc--;
  /* Commands that change the host are recorded in the history (not their
   * --help, nor dry runs). */
  bool quiet = false;
  for (int i = 1; i < argc; i++)
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h") || !strcmp(argv[i], "--dry-run") ||
        !strcmp(argv[i], "-n"))
      quiet = true;
  static const struct {
    const char *name;
    int (*fn)(int, char **);
  } recorded[] = {
      {"apply", cmd_apply},  {"revert", cmd_revert}, {"stage", hpm_boot_cmd_stage},
      {"mark-good", hpm_boot_cmd_mark_good}, {"rollback", hpm_boot_cmd_rollback},
  };
  for (size_t i = 0; i < sizeof recorded / sizeof recorded[0]; i++)
    if (!strcmp(c, recorded[i].name))
      return quiet ? recorded[i].fn(argc, argv) : update_record_command(c, recorded[i].fn, argc, argv);
  if (!strcmp(c, "assess")) return cmd_assess(argc, argv);
  if (!strcmp(c, "install")) return cmd_install(argc, argv);
  if (!strcmp(c, "list")) return cmd_list(argc, argv);
  if (!strcmp(c, "status")) return cmd_status(argc, argv);
  if (!strcmp(c, "agent")) return cmd_agent(argc, argv);
  if (!strcmp(c, "recover")) return cmd_recover(argc, argv);
  if (!strcmp(c, "catalog")) return cmd_catalog(argc, argv);
  if (!strcmp(c, "policy")) return cmd_policy(argc, argv);
  if (!strcmp(c, "history")) return cmd_history(argc, argv);
  if (!strcmp(c, "enroll")) return cmd_enroll(argc, argv);
  if (!strcmp(c, "unenroll")) return cmd_unenroll(argc, argv);
  msg("unknown command '%s'", c);
  fputs(usage_text, stderr);
  return 2;
}
