/* SPDX-License-Identifier: MIT */
/*
 * STATE_DIR of the hotpatch room (docs/hotpatch-authoring.md, "Host
 * state"): procs/ (the per-process journal), hotpatches/ (each sequence as
 * applied), lock; and the queries `list` and `status` make of it.  The
 * applied sequence (STATE_DIR/applied) belongs to hostfacts.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hostfacts.h"
#include "hotpatch/internal.h"
#include "hpm/core.h"

void hp_store_mkdirs(const hpm_ctx *ctx) {
  char p[HP_PATH_MAX];
  mkdir(ctx->state_dir, 0700);
  snprintf(p, sizeof p, "%s/procs", ctx->state_dir);
  mkdir(p, 0700);
  snprintf(p, sizeof p, "%s/hotpatches", ctx->state_dir);
  mkdir(p, 0700);
}

int hp_store_lock(const hpm_ctx *ctx, hpmh_status *st) {
  char p[HP_PATH_MAX];
  snprintf(p, sizeof p, "%s/lock", ctx->state_dir);
  int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0 && errno == ENOENT) { /* the state directory is missing and could not be made */
    hpmh_fail(st, HPMH_E_IO, ctx->state_dir,
              "%s: the state directory does not exist and cannot be created (its parent is missing); create it, "
              "or set another one (--state-dir, HPM_STATE_DIR, [paths] state_dir)", ctx->state_dir);
    return -1;
  }
  if (fd < 0 || flock(fd, LOCK_EX)) {
    hpmh_fail(st, HPMH_E_IO, p, "%s: cannot lock: %s", p, strerror(errno));
    if (fd >= 0) close(fd);
    return -1;
  }
  return fd;
}

void hp_store_unlock(int fd) {
  if (fd >= 0) close(fd);
}

int hp_stored_path(const hpm_ctx *ctx, char *o, size_t n, uint32_t seq) {
  return snprintf(o, n, "%s/hotpatches/seq-%u.hpm", ctx->state_dir, seq) >= (int)n ? -1 : 0;
}

void hp_journal_path(const hpm_ctx *ctx, char *o, size_t n, pid_t pid, uint64_t start, const uint8_t *build_id,
                     const char *suffix) {
  char b[17];
  hpm_fmt_hex(build_id, 8, b, sizeof b);
  snprintf(o, n, "%s/procs/%d-%llu-%s.%s", ctx->state_dir, (int)pid, (unsigned long long)start, b, suffix);
}

int hp_journal_glob(const hpm_ctx *ctx, const char *suffix, glob_t *g) {
  char pat[HP_PATH_MAX];
  snprintf(pat, sizeof pat, "%s/procs/*.%s", ctx->state_dir, suffix);
  return glob(pat, 0, NULL, g);
}

void hp_status_get(hpm_ctx *ctx, hp_status *s) {
  memset(s, 0, sizeof *s);
  hpm_applied a;
  hostfacts_applied_read(ctx, &a);
  s->sequence = a.seq;
  snprintf(s->id, sizeof s->id, "%s", a.id);
  glob_t g;
  if (hp_journal_glob(ctx, "state", &g) == 0) { s->processes = (int)g.gl_pathc; globfree(&g); }
  if (hp_journal_glob(ctx, "pending", &g) == 0) { s->pending = (int)g.gl_pathc; globfree(&g); }
}

int hp_list_get(hpm_ctx *ctx, hp_journal **out, int *n) {
  *out = NULL;
  *n = 0;
  /* forked children carrying a hotpatch are listed too: adopt them, unless
   * another hpm holds the state (it adopts what it touches itself) */
  char lp[HP_PATH_MAX];
  snprintf(lp, sizeof lp, "%s/lock", ctx->state_dir);
  int lfd = open(lp, O_RDWR | O_CLOEXEC);
  if (lfd >= 0 && flock(lfd, LOCK_EX | LOCK_NB) == 0) {
    hp_elf_cache *elf = calloc(1, sizeof *elf);
    hp_op op = {ctx, NULL, 0, elf};
    if (elf) hp_adopt_all(&op);
    free(elf);
  }
  if (lfd >= 0) close(lfd);
  glob_t g;
  if (hp_journal_glob(ctx, "state", &g)) return 0;
  hp_journal *l = calloc(g.gl_pathc + 1, sizeof *l);
  if (!l) { globfree(&g); return -1; }
  for (size_t i = 0; i < g.gl_pathc; i++) {
    hp_journal *s = &l[*n];
    if (hp_journal_read(g.gl_pathv[i], s)) continue;
    if (hp_proc_starttime(s->pid) != s->start || !s->nsites) { hp_journal_free(s); continue; }
    (*n)++;
  }
  globfree(&g);
  *out = l;
  return 0;
}

void hp_list_free(hp_journal *l, int n) {
  for (int i = 0; i < n; i++) hp_journal_free(&l[i]);
  free(l);
}
