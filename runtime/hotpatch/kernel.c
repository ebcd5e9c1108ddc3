/* SPDX-License-Identifier: MIT */
/*
 * The kernel part of a hotpatch: see kernel.h and docs/kernel-hotpatch.md.
 *
 * The kernel's livepatch core does the switch itself: every task moves from
 * the old to the new functions when it is at a safe point, so the kernel
 * runs old or new code at every instant whatever happens to hpm.  hpm's part
 * is to load exactly the verified bytes, to follow the transition, to undo
 * it at a deadline, to unload what is no longer used, and to journal each
 * step so a killed hpm's work is finished by the next run.
 */
#include "hotpatch/kernel.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "json.h"
#include "jsonout.h"
#include "hotpatch/hooks.h"
#include "kmod.h"
#include "msg.h"

#define LP_DIR "/sys/kernel/livepatch"
#define NOTES "/sys/kernel/notes"

static void kj_path(const hpm_ctx *ctx, const char *which, char *out, size_t cap) {
  snprintf(out, cap, "%s/kernel.%s", ctx->state_dir, which);
}

static int kj_read(const hpm_ctx *ctx, const char *which, hp_kjournal *k) {
  char p[4200];
  uint8_t *buf;
  size_t len;
  hpmh_status st;
  kj_path(ctx, which, p, sizeof p);
  memset(k, 0, sizeof *k);
  if (access(p, F_OK)) return -1;
  if (hpmh_read_file(p, 4096, &buf, &len, &st)) return -1;
  int rc = hp_kjournal_parse((const char *)buf, len, k);
  free(buf);
  return rc;
}

static int kj_write(const hpm_ctx *ctx, const char *which, const hp_kjournal *k, hpmh_status *st) {
  char p[4200], text[512];
  size_t n = hp_kjournal_format(k, text, sizeof text);
  kj_path(ctx, which, p, sizeof p);
  if (!n) return hpmh_fail(st, HPMH_E_INVALID, p, "%s: record too long", p);
  return hpmh_write_file(p, (const uint8_t *)text, n, 0644, 0, st);
}

static void kj_remove(const hpm_ctx *ctx, const char *which) {
  char p[4200];
  kj_path(ctx, which, p, sizeof p);
  unlink(p);
}

/* ---- sysfs ---- */

/* The integer in a sysfs file, or -1. */
static int sys_int(const char *module, const char *attr) {
  char p[256], b[32];
  snprintf(p, sizeof p, LP_DIR "/%s/%s", module, attr);
  int fd = open(p, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, b, sizeof b - 1);
  close(fd);
  if (n <= 0) return -1;
  b[n] = '\0';
  return atoi(b);
}

static bool patch_exists(const char *module) {
  char p[256];
  snprintf(p, sizeof p, LP_DIR "/%s", module);
  return access(p, F_OK) == 0;
}

static int write_enabled(const char *module, int v) {
  char p[256];
  snprintf(p, sizeof p, LP_DIR "/%s/enabled", module);
  int fd = open(p, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = write(fd, v ? "1" : "0", 1);
  int e = errno;
  close(fd);
  errno = e;
  return n == 1 ? 0 : -1;
}

static bool module_loaded(const char *module) {
  char p[256];
  snprintf(p, sizeof p, "/sys/module/%s", module);
  return module[0] && access(p, F_OK) == 0;
}

static uint64_t now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

/* Unload module, retrying while the kernel still holds it (a replaced or
 * disabled patch is freed asynchronously).  0, or -1 with errno. */
static int unload(const char *module, unsigned wait_ms) {
  uint64_t end = now_ms() + wait_ms;
  for (;;) {
    if (syscall(SYS_delete_module, module, O_NONBLOCK) == 0 || errno == ENOENT) return 0;
    if ((errno != EWOULDBLOCK && errno != EBUSY) || now_ms() >= end) return -1;
    usleep(10000);
  }
}

/* Tasks whose patch_state is not target (they hold the transition), with
 * the top of their kernel stack, into r. */
static void find_blocking(int target, hp_kreport *r) {
  DIR *d = opendir("/proc");
  struct dirent *e;
  r->nblocking = 0;
  if (!d) return;
  while ((e = readdir(d)) && r->nblocking < HP_KERNEL_BLOCKERS) {
    if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
    char p[300], b[256];
    snprintf(p, sizeof p, "/proc/%s/patch_state", e->d_name);
    FILE *f = fopen(p, "re");
    if (!f) continue;
    int ps = -1;
    if (fscanf(f, "%d", &ps) != 1) ps = -1;
    fclose(f);
    if (ps < 0 || ps == target) continue;
    char comm[32] = "?", stack[120] = "";
    snprintf(p, sizeof p, "/proc/%s/comm", e->d_name);
    if ((f = fopen(p, "re"))) {
      if (fgets(comm, sizeof comm, f)) comm[strcspn(comm, "\n")] = '\0';
      fclose(f);
    }
    snprintf(p, sizeof p, "/proc/%s/stack", e->d_name);
    if ((f = fopen(p, "re"))) {
      size_t used = 0;
      for (int i = 0; i < 3 && fgets(b, sizeof b, f); i++) {
        b[strcspn(b, "\n")] = '\0';
        char *fn = strchr(b, ' ');
        used += (size_t)snprintf(stack + used, sizeof stack - used, "%s%s", i ? " < " : "", fn ? fn + 1 : b);
        if (used >= sizeof stack) break;
      }
      fclose(f);
    }
    snprintf(r->blocking[r->nblocking++], sizeof r->blocking[0], "pid %.16s (%s) patch_state %d%s%s", e->d_name, comm,
             ps, stack[0] ? ", in " : "", stack);
  }
  closedir(d);
}

/* Wait until module's transition is over (or its patch is gone).  0 done,
 * -1 at the deadline. */
static int follow(const char *module, uint64_t end) {
  for (;;) {
    if (!patch_exists(module) || sys_int(module, "transition") == 0) return 0;
    if (now_ms() >= end) return -1;
    usleep(5000);
  }
}

/* ---- checks ---- */

int hp_kernel_check_module(const char *path, const hpm_manifest *m, hpmh_status *st) {
  const hpm_kernel_part *k = &m->kernel;
  const hpm_payload *pl = &m->payloads[k->payload];
  hpmh_kmod_info info;
  char why[200];
  if (hpmh_kmod_parse(pl->data, pl->size, &info, why, sizeof why))
    return hpmh_fail(st, HPMH_E_REFUSED, path, "%s: payloads/%s: not a kernel module: %s", path, pl->name, why);
  if (!info.livepatch)
    return hpmh_fail(st, HPMH_E_REFUSED, path, "%s: payloads/%s: module %s is not a livepatch (no livepatch=Y)", path,
                     pl->name, info.name);
  if (strcmp(info.name, k->module) || strcmp(info.vermagic, k->vermagic))
    return hpmh_fail(st, HPMH_E_REFUSED, path,
                     "%s: payloads/%s: the module is %s for '%s', but the manifest signs %s for '%s': refusing", path,
                     pl->name, info.name, info.vermagic, k->module, k->vermagic);
  if (info.sequence && info.sequence != m->sequence)
    return hpmh_fail(st, HPMH_E_REFUSED, path, "%s: payloads/%s: module built as sequence %u, the hotpatch is %u",
                     path, pl->name, info.sequence, m->sequence);
  return 0;
}

int hp_kernel_check_running(const hpm_ctx *ctx, const char *path, const hpm_manifest *m, hpmh_status *st) {
  const hpm_kernel_part *k = &m->kernel;
  struct utsname u;
  char have[2 * HPM_KBUILD_ID_MAX + 1], want[2 * HPM_KBUILD_ID_MAX + 1];
  uint8_t id[HPM_KBUILD_ID_MAX];
  uint8_t *notes;
  size_t nlen;
  if (uname(&u) == 0 && strcmp(u.release, k->release))
    return hpmh_fail(st, HPMH_E_REFUSED, path, "%s: kernel part is for kernel %s, the running kernel is %s: refusing",
                     path, k->release, u.release), 1;
  char rel[HPM_KRELEASE_MAX + 1];
  if (hpmh_vermagic_release(k->vermagic, rel, sizeof rel) || strcmp(rel, k->release))
    return hpmh_fail(st, HPMH_E_REFUSED, path, "%s: kernel part: vermagic '%s' is not for kernel %s: refusing", path,
                     k->vermagic, k->release), 1;
  if (hpmh_read_file(NOTES, 1u << 20, &notes, &nlen, st)) return 3;
  int n = hpmh_notes_build_id(notes, nlen, id);
  free(notes);
  hpm_fmt_hex(k->build_id, k->build_id_len, want, sizeof want);
  if (n <= 0)
    return hpmh_fail(st, HPMH_E_REFUSED, NOTES, "%s: no GNU build-id in " NOTES ": cannot prove the kernel part (%s) is "
                     "for this kernel: refusing", path, want), 1;
  hpm_fmt_hex(id, (size_t)n, have, sizeof have);
  if ((size_t)n != k->build_id_len || memcmp(id, k->build_id, (size_t)n))
    return hpmh_fail(st, HPMH_E_REFUSED, path,
                     "%s: kernel part is for the kernel build %s, the running kernel is build %s (" NOTES
                     "): another build of %s: refusing", path, want, have, k->release), 1;
  DIR *d = opendir(LP_DIR);
  if (!d)
    return hpmh_fail(st, HPMH_E_REFUSED, LP_DIR, "%s: " LP_DIR ": %s: the kernel has no livepatch support: refusing",
                     path, strerror(errno)), 1;
  hp_kjournal cur;
  bool have_cur = kj_read(ctx, "state", &cur) == 0;
  struct dirent *e;
  int rc = 0;
  while ((e = readdir(d)) && !rc) {
    if (e->d_name[0] == '.') continue;
    if (!have_cur || strcmp(e->d_name, cur.module)) {
      hpmh_fail(st, HPMH_E_REFUSED, LP_DIR, "%s: livepatch %.64s is loaded and is not hpm's (" LP_DIR "/%.64s): "
                "refusing to replace it; disable it first", path, e->d_name, e->d_name);
      rc = 1;
    }
  }
  closedir(d);
  return rc;
}

/* ---- transitions ---- */

/* A memfd holding exactly the verified bytes, sealed against change. */
static int memfd_of(const uint8_t *data, size_t len) {
  int fd = (int)syscall(SYS_memfd_create, "hpm-livepatch", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return -1;
  size_t off = 0;
  while (off < len) {
    ssize_t n = write(fd, data + off, len - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) { close(fd); return -1; }
    off += (size_t)n;
  }
  if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL)) {
    close(fd);
    return -1;
  }
  return fd;
}

static void die_if(const char *where) {
  const char *x = hp_hooks()->exit_at;
  if (x && !strcmp(x, where)) _exit(9);
}

/* Disable module's patch and follow that (the reverse of an unfinished
 * enable, or a revert), then unload it.  0, or -1 (st says why). */
static int disable_and_unload(const char *module, uint64_t end, hp_kreport *r, hpmh_status *st) {
  if (patch_exists(module) && sys_int(module, "enabled") == 1 && write_enabled(module, 0) && patch_exists(module))
    return hpmh_fail(st, HPMH_E_IO, module, LP_DIR "/%s/enabled: cannot write 0: %s", module, strerror(errno));
  die_if("kernel-disabled");
  if (follow(module, end)) {
    find_blocking(0, r);
    return hpmh_fail(st, HPMH_E_IO, module, "%s: disabling it did not finish before the deadline (%d task(s) hold it)",
                     module, r->nblocking);
  }
  if (unload(module, 5000))
    return hpmh_fail(st, HPMH_E_IO, module, "%s: disabled but cannot be unloaded: %s", module, strerror(errno));
  return 0;
}

int hp_kernel_transition(hpm_ctx *ctx, const hpm_manifest *m, unsigned deadline_ms, hp_kreport *r,
                         hpmh_status *st) {
  memset(r, 0, sizeof *r);
  hp_kjournal cur, pd;
  bool have_cur = kj_read(ctx, "state", &cur) == 0;
  bool want = m && m->kernel.present;
  uint64_t start = now_ms(), end = start + (deadline_ms ? deadline_ms : HP_KERNEL_DEADLINE_MS);
  if (!want && !have_cur) return 0; /* the kernel runs no livepatch of hpm's and needs none */
  if (want && have_cur && !strcmp(cur.module, m->kernel.module) && patch_exists(cur.module)) return 0;

  memset(&pd, 0, sizeof pd);
  snprintf(pd.op, sizeof pd.op, "%s", want ? "apply" : "revert");
  snprintf(pd.module, sizeof pd.module, "%s", want ? m->kernel.module : cur.module);
  /* what it replaces: only a patch the kernel runs (after a reboot,
   * kernel.state names a module the new boot never loaded) */
  if (want && have_cur && patch_exists(cur.module)) snprintf(pd.prev, sizeof pd.prev, "%s", cur.module);
  pd.seq = want ? m->sequence : 0;
  snprintf(pd.id, sizeof pd.id, "%s", want ? m->id : "-");
  pd.time = (uint64_t)time(NULL);
  if (kj_write(ctx, "pending", &pd, st)) return 3;
  snprintf(r->module, sizeof r->module, "%s", pd.module);

  if (!want && !patch_exists(cur.module) && !module_loaded(cur.module)) {
    kj_remove(ctx, "state"); /* the kernel never loaded it (a reboot since): nothing to undo */
    kj_remove(ctx, "pending");
    return 0;
  }
  if (!want) { /* back to the kernel's own code */
    if (disable_and_unload(cur.module, end, r, st)) return 4;
    kj_remove(ctx, "state");
    kj_remove(ctx, "pending");
    r->done = r->removed = true;
    r->transition_ms = (unsigned)(now_ms() - start);
    return 0;
  }

  const hpm_payload *pl = &m->payloads[m->kernel.payload];
  if (module_loaded(pd.module) && !patch_exists(pd.module)) unload(pd.module, 2000); /* a leftover, disabled */
  int fd = memfd_of(pl->data, (size_t)pl->size);
  if (fd < 0) {
    kj_remove(ctx, "pending");
    return hpmh_fail(st, HPMH_E_IO, pl->name, "memfd for %s: %s", pd.module, strerror(errno)), 3;
  }
  if (syscall(SYS_finit_module, fd, "", 0)) {
    int e = errno;
    close(fd);
    kj_remove(ctx, "pending");
    return hpmh_fail(st, HPMH_E_REFUSED, pl->name, "the kernel refused livepatch %s (finit_module): %s%s", pd.module,
                     strerror(e), e == EKEYREJECTED || e == EPERM ? " (lockdown or module signature policy?)" : ""), 1;
  }
  close(fd);
  die_if("kernel-loaded");
  if (follow(pd.module, end)) {
    /* the deadline: say who held it, and go back (the kernel reverses the
     * transition; the replaced patch, if any, stays enabled) */
    find_blocking(1, r);
    for (int i = 0; i < r->nblocking; i++) msg("kernel: livepatch %s: blocked by %s", pd.module, r->blocking[i]);
    hpmh_status ds;
    int bad = disable_and_unload(pd.module, now_ms() + (deadline_ms ? deadline_ms : HP_KERNEL_DEADLINE_MS), r, &ds);
    if (!bad) kj_remove(ctx, "pending");
    return hpmh_fail(st, HPMH_E_REFUSED, pd.module,
                     "kernel: livepatch %s did not finish its transition within %u ms (%d task(s) held it): %s", pd.module,
                     deadline_ms ? deadline_ms : HP_KERNEL_DEADLINE_MS, r->nblocking,
                     bad ? ds.detail : "reverted, the kernel runs the code it ran before"), 4;
  }
  if (sys_int(pd.module, "enabled") != 1) {
    unload(pd.module, 2000);
    kj_remove(ctx, "pending");
    return hpmh_fail(st, HPMH_E_IO, pd.module, "kernel: livepatch %s is not enabled after its transition", pd.module), 4;
  }
  r->transition_ms = (unsigned)(now_ms() - start);
  if (pd.prev[0]) {
    snprintf(r->replaced, sizeof r->replaced, "%s", pd.prev);
    if (unload(pd.prev, 5000)) msg("kernel: replaced livepatch %s cannot be unloaded yet: %s", pd.prev, strerror(errno));
  }
  pd.op[0] = '\0';
  if (kj_write(ctx, "state", &pd, st)) return 3;
  kj_remove(ctx, "pending");
  r->done = true;
  return 0;
}

int hp_kernel_recover(hpm_ctx *ctx) {
  hp_kjournal pd;
  hpmh_status st;
  hp_kreport r;
  if (kj_read(ctx, "pending", &pd)) {
    kj_remove(ctx, "pending"); /* unreadable: written not at all or not whole, before anything changed */
    return 0;
  }
  memset(&r, 0, sizeof r);
  uint64_t end = now_ms() + HP_KERNEL_DEADLINE_MS;
  if (!strcmp(pd.op, "revert")) { /* finish it */
    if (disable_and_unload(pd.module, end, &r, &st)) {
      msg("kernel: recovering the revert of %s: %s", pd.module, st.detail);
      return -1;
    }
    kj_remove(ctx, "state");
    kj_remove(ctx, "pending");
    msg("kernel: recovered: finished the revert of livepatch %s", pd.module);
    return 0;
  }
  /* an apply: the kernel completes (or reverses) a started transition by
   * itself; wait for it, then keep what the kernel runs */
  if (patch_exists(pd.module) && follow(pd.module, end)) {
    msg("kernel: recovering livepatch %s: its transition is still under way", pd.module);
    return -1;
  }
  if (patch_exists(pd.module) && sys_int(pd.module, "enabled") == 1) {
    if (pd.prev[0] && unload(pd.prev, 5000)) msg("kernel: replaced livepatch %s cannot be unloaded yet", pd.prev);
    pd.op[0] = '\0';
    if (kj_write(ctx, "state", &pd, &st)) return -1;
    kj_remove(ctx, "pending");
    msg("kernel: recovered: livepatch %s (sequence %u) is enabled; finished", pd.module, pd.seq);
    return 0;
  }
  if (module_loaded(pd.module) && unload(pd.module, 5000)) {
    msg("kernel: recovering livepatch %s: not enabled, cannot be unloaded: %s", pd.module, strerror(errno));
    return -1;
  }
  kj_remove(ctx, "pending");
  msg("kernel: recovered: livepatch %s was not enabled; rolled back to %s", pd.module,
      pd.prev[0] ? pd.prev : "the kernel's own code");
  return 0;
}

void hp_kernel_status(const hpm_ctx *ctx, hp_kstatus *s) {
  hp_kjournal pd;
  memset(s, 0, sizeof *s);
  s->enabled = s->transition = -1;
  s->pending = kj_read(ctx, "pending", &pd) == 0;
  if (kj_read(ctx, "state", &s->state)) return;
  s->present = true;
  s->enabled = sys_int(s->state.module, "enabled");
  s->transition = sys_int(s->state.module, "transition");
}

static const char *transition_word(int t) { return t == 1 ? "in transition" : t == 0 ? "complete" : "unknown"; }

void hp_kernel_status_json(const hpm_ctx *ctx, cJSON *parent) {
  hp_kstatus s;
  hp_kernel_status(ctx, &s);
  if (!s.present && !s.pending) {
    hpmh_json_add_null(parent, "kernel");
    return;
  }
  cJSON *k = hpmh_json_add(parent, "kernel", cJSON_CreateObject());
  hpm_json_add_opt(k, "module", s.present ? s.state.module : "");
  hpmh_json_add_u64(k, "sequence", s.present ? s.state.seq : 0);
  hpm_json_add_opt(k, "id", s.present ? s.state.id : "");
  hpm_json_add_time(k, "since", s.present ? s.state.time : 0);
  hpmh_json_add(k, "enabled", s.enabled < 0 ? cJSON_CreateNull() : cJSON_CreateBool(s.enabled == 1));
  hpmh_json_add(k, "transition", s.transition < 0 ? cJSON_CreateNull() : cJSON_CreateBool(s.transition == 1));
  hpmh_json_add_bool(k, "pending", s.pending);
}

void hp_kernel_status_print(const hpm_ctx *ctx, FILE *out) {
  hp_kstatus s;
  hp_kernel_status(ctx, &s);
  if (s.present) {
    char tb[HPMH_UTC_LEN];
    hpmh_utc(s.state.time, tb);
    fprintf(out, "kernel: livepatch %s seq %u %s since %s, %s, transition %s\n", s.state.module, s.state.seq,
            s.state.id, tb, s.enabled == 1 ? "enabled" : s.enabled == 0 ? "DISABLED" : "NOT LOADED",
            transition_word(s.transition));
  } else {
    fprintf(out, "kernel: no livepatch of hpm's\n");
  }
  if (s.pending) fprintf(out, "kernel: an interrupted transition is pending ('hpm recover' finishes it)\n");
}

void hp_kreport_json(const hp_kreport *r, cJSON *parent) {
  if (!r->done) {
    hpmh_json_add_null(parent, "kernel");
    return;
  }
  cJSON *k = hpmh_json_add(parent, "kernel", cJSON_CreateObject());
  hpmh_json_add_str(k, "module", r->module);
  hpm_json_add_opt(k, "replaced", r->replaced);
  hpmh_json_add_bool(k, "removed", r->removed);
  hpmh_json_add_u64(k, "transition_ms", r->transition_ms);
}

void hp_kreport_print(const hp_kreport *r, FILE *out) {
  if (!r->done) return;
  if (r->removed)
    fprintf(out, "kernel: livepatch %s disabled and unloaded, transition %u ms\n", r->module, r->transition_ms);
  else if (r->replaced[0])
    fprintf(out, "kernel: livepatch %s replaced %s in one transition, %u ms\n", r->module, r->replaced,
            r->transition_ms);
  else
    fprintf(out, "kernel: livepatch %s enabled, transition %u ms\n", r->module, r->transition_ms);
}
