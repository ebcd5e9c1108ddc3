/* SPDX-License-Identifier: MIT */
#include "update/clean.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "boot/boot.h"
#include "cli.h"
#include "fileio.h"
#include "hostfacts.h"
#include "hpm/bootif.h"
#include "json.h"
#include "jsonout.h"
#include "msg.h"

#define KEEP_MAX 16 /* files kept for what they are: slot containers, the applied hotpatch */

typedef struct {
  char name[80];
  time_t mtime;
  uint64_t size;
  bool partial;
} cached;

static int newest_first(const void *a, const void *b) {
  const cached *x = a, *y = b;
  return (y->mtime > x->mtime) - (y->mtime < x->mtime);
}

/* "<64 hex>.hpm" or "<64 hex>.hpm.part": a download of ours. */
static bool download_name(const char *n, bool *partial) {
  size_t l = strlen(n);
  if (l != 68 && l != 73) return false;
  for (size_t i = 0; i < 64; i++)
    if (!strchr("0123456789abcdef", n[i])) return false;
  *partial = l == 73;
  return !strcmp(n + 64, *partial ? ".hpm.part" : ".hpm");
}

/* The SHA-256 (hex) of the files this host uses: slot containers, the
 * applied hotpatch's stored copy. */
static size_t in_use(const hpm_ctx *ctx, char (*hex)[65], size_t cap) {
  size_t n = 0;
  char p[4200];
  uint8_t d[32];
  uint64_t size;
  for (unsigned i = 0; i < HPM_BS_MAX_SLOTS && n < cap; i++) {
    snprintf(p, sizeof p, "%s/EFI/hpm/slot-%c.hpm", ctx->esp, hpm_bs_slot_letter(i));
    if (!hpmh_sha256_file(p, d, &size)) hpm_fmt_hex(d, 32, hex[n++], 65);
  }
  hpm_applied a;
  hostfacts_applied_read(ctx, &a);
  snprintf(p, sizeof p, "%s/hotpatches/seq-%u.hpm", ctx->state_dir, a.seq);
  if (a.seq && n < cap && !hpmh_sha256_file(p, d, &size)) hpm_fmt_hex(d, 32, hex[n++], 65);
  return n;
}

int clean_cache(hpm_ctx *ctx, unsigned keep, bool partials, bool dry_run, clean_fn fn, void *arg,
                hpmh_status *st) {
  memset(st, 0, sizeof *st);
  DIR *d = opendir(ctx->cache_dir);
  if (!d) {
    if (errno == ENOENT) return 0;
    hpmh_fail(st, HPMH_E_IO, ctx->cache_dir, "%s: %s", ctx->cache_dir, strerror(errno));
    return -1;
  }
  char used[KEEP_MAX][65];
  size_t nused = in_use(ctx, used, KEEP_MAX), n = 0, cap = 0;
  cached *list = NULL;
  struct dirent *e;
  while ((e = readdir(d))) {
    bool partial;
    if (!download_name(e->d_name, &partial)) continue;
    char p[4200];
    struct stat sb;
    snprintf(p, sizeof p, "%s/%s", ctx->cache_dir, e->d_name);
    if (lstat(p, &sb) || !S_ISREG(sb.st_mode)) continue;
    bool keep_it = partial && !partials;
    for (size_t k = 0; k < nused && !keep_it; k++) keep_it = !strncmp(e->d_name, used[k], 64);
    if (keep_it) continue;
    if (n == cap) {
      cached *g = realloc(list, (cap = cap ? 2 * cap : 32) * sizeof *list);
      if (!g) {
        free(list);
        closedir(d);
        hpmh_fail(st, HPMH_E_IO, ctx->cache_dir, "%s: out of memory", ctx->cache_dir);
        return -1;
      }
      list = g;
    }
    snprintf(list[n].name, sizeof list[n].name, "%s", e->d_name);
    list[n].mtime = sb.st_mtime;
    list[n].size = (uint64_t)sb.st_size;
    list[n++].partial = partial;
  }
  closedir(d);
  qsort(list, n, sizeof *list, newest_first);
  int removed = 0, rc = 0;
  unsigned kept = 0;
  for (size_t i = 0; i < n; i++) {
    if (!list[i].partial && kept < keep) {
      kept++;
      continue;
    }
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", ctx->cache_dir, list[i].name);
    if (!dry_run && unlink(p) && errno != ENOENT) {
      hpmh_fail(st, HPMH_E_IO, p, "%s: cannot remove: %s", p, strerror(errno));
      rc = -1;
      break;
    }
    removed++;
    if (fn) fn(p, list[i].size, arg);
  }
  free(list);
  return rc ? -1 : removed;
}

/* ---- hpm clean ---- */

static const char clean_usage[] =
    "usage: hpm clean [--dry-run] [--json]\n"
    "Remove what takes disk space and nothing uses:\n"
    "  - downloads in the cache directory ([paths] cache_dir, default /var/cache/hpm) other\n"
    "    than the slot containers' and the applied hotpatch's, beyond the [update] cache_keep\n"
    "    newest (default 2), and every unfinished download;\n"
    "  - files in ESP/EFI/hpm that no slot container names (the detached payloads of\n"
    "    replaced baselines; `hpm stage` removes those of the slot it replaces itself).\n"
    "  --dry-run  say what would be removed; remove nothing\n"
    "  --json     one JSON object: removed[] (path, where, bytes), bytes, dry_run\n"
    "Exit: 0 done; 1 the ESP part was refused (a slot container that does not parse);\n"
    "2 usage or policy file; 3 I/O error.\n";

typedef struct {
  bool dry_run, json;
  const char *where;
  cJSON *arr;
  uint64_t bytes;
  unsigned files;
} clean_out;

static void report(const char *path, uint64_t size, void *arg) {
  clean_out *o = arg;
  o->bytes += size;
  o->files++;
  if (o->json) {
    cJSON *x = cJSON_CreateObject();
    hpmh_json_add_str(x, "path", path);
    hpmh_json_add_str(x, "where", o->where);
    hpmh_json_add_u64(x, "bytes", size);
    cJSON_AddItemToArray(o->arr, x);
  } else {
    printf("%s %s (%llu bytes)\n", o->dry_run ? "would remove" : "removed", path, (unsigned long long)size);
  }
}

int cmd_clean(hpm_ctx *ctx, int argc, char **argv) {
  static const struct option opts[] = {
      {"dry-run", 0, 0, 'n'}, {"json", 0, 0, 'j'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
  clean_out o = {.where = "cache"};
  int c;
  while ((c = hpm_cli_next("clean", argc, argv, "n", opts)) != -1) {
    if (c == 'n') o.dry_run = true;
    else if (c == 'j') o.json = ctx->json = true;
    else if (c == 'h') { fputs(clean_usage, stdout); return 0; }
    else return HPM_CLI_USAGE;
  }
  if (hpm_cli_operands("clean", argc, argv, 0, 0, "")) return HPM_CLI_USAGE;
  const hpm_policy *p = hpm_ctx_policy(ctx, NULL, NULL);
  if (o.json) o.arr = cJSON_CreateArray();
  int rc = 0;
  hpmh_status st;
  if (clean_cache(ctx, p ? p->cache_keep : 2, true, o.dry_run, report, &o, &st) < 0) {
    msg("clean: %s", st.detail);
    rc = 3;
  }
  char hpmdir[4200];
  snprintf(hpmdir, sizeof hpmdir, "%s/EFI/hpm", ctx->esp);
  struct stat sb;
  o.where = "esp";
  if (!stat(hpmdir, &sb) && S_ISDIR(sb.st_mode)) {
    if (hpm_boot_esp_orphans(hpmdir, NULL, 0, !o.dry_run, report, &o, &st) < 0) {
      msg("clean: %s", st.detail);
      if (!rc) rc = st.code == HPMH_E_IO ? 3 : 1;
    }
  } else if (!o.json) {
    printf("no %s (ESP not mounted there? --esp, [paths] esp): only the cache was cleaned\n", hpmdir);
  }
  if (o.json) {
    cJSON *j = hpm_json_doc("clean");
    hpmh_json_add_bool(j, "dry_run", o.dry_run);
    hpmh_json_add(j, "removed", o.arr);
    hpmh_json_add_u64(j, "bytes", o.bytes);
    if (rc) cJSON_Delete(j); /* the error document says why */
    else hpm_json_emit(j);
  } else {
    printf("%s %u file(s), %llu bytes\n", o.dry_run ? "would free" : "freed", o.files, (unsigned long long)o.bytes);
  }
  return rc;
}
