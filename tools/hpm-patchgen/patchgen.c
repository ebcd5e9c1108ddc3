/* SPDX-License-Identifier: MIT */
/*
 * hpm-patchgen: build a hotpatch payload (docs/hotpatch-payload.md) from a
 * replacement source file (or object), an `old_fn=new_fn` description and the
 * target binary.  The release engineers' tool; never runs on hosts.
 */
#include <errno.h>
#include <fcntl.h>
#include <elfutils/libdwelf.h>
#include <gelf.h>
#include <getopt.h>
#include <libelf.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pgdiff.h"
#include "version.h"

#define MODE "hpm-patchgen" /* in "Try 'MODE --help'." */

/* ---- replacement object ---- */
static void compile(const char *src, const char *cc, const char *cflags, char *obj, size_t objlen) {
  char tmpl[] = "/tmp/hpm-patchgen-XXXXXX";
  int fd = mkstemp(tmpl);
  if (fd < 0) pg_die("mkstemp: %s", strerror(errno));
  close(fd);
  snprintf(obj, objlen, "%s", tmpl);
  char cmd[4096];
  snprintf(cmd, sizeof cmd,
           "%s -c -O2 -fPIE -fno-asynchronous-unwind-tables -fno-exceptions -fcf-protection=full %s -o '%s' '%s'",
           cc, cflags ? cflags : "", obj, src);
  int st = system(cmd);
  if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st)) {
    unlink(obj);
    pg_die("compiling %s failed: %s", src, cmd);
  }
}

typedef struct { char old[128], neu[128]; int quiesce; } mapent;

static size_t read_map(const char *path, mapent *m, size_t cap) {
  FILE *f = fopen(path, "r");
  if (!f) pg_die("%s: %s", path, strerror(errno));
  char line[512];
  size_t n = 0, ln = 0;
  while (fgets(line, sizeof line, f)) {
    ln++;
    char *h = strchr(line, '#');
    if (h) *h = 0;
    char a[200], b[200], c[200];
    int k = sscanf(line, " %199[^= \t\n] = %199s %199s", a, b, c);
    if (k <= 0) continue;
    if (k < 2 || strlen(a) >= 128 || strlen(b) >= 128) pg_die("%s:%zu: expected 'old_fn=new_fn [quiesce]'", path, ln);
    if (k == 3 && strcmp(c, "quiesce")) pg_die("%s:%zu: unknown flag '%s'", path, ln, c);
    if (n == cap) pg_die("%s: more than %zu functions", path, cap);
    snprintf(m[n].old, sizeof m[n].old, "%s", a);
    snprintf(m[n].neu, sizeof m[n].neu, "%s", b);
    m[n].quiesce = k == 3;
    n++;
  }
  fclose(f);
  if (!n) pg_die("%s: no 'old_fn=new_fn' lines", path);
  return n;
}

static void usage(FILE *o) {
  fprintf(o,
          "usage: hpm-patchgen --target BINARY --map FILE (--source FILE.c | --object FILE.o)\n"
          "                    [--debug-file FILE | --debug-dir DIR] [--cc CC] [--cflags FLAGS]\n"
          "                    [--no-direct-entry] [--json] --out PAYLOAD\n"
          "       hpm-patchgen diff --binary BINARY --source DIR --patch FILE...\n"
          "                    (--compile-db FILE | --build-cmd CMD)\n"
          "                    --out PAYLOAD   (from a source diff: hpm-patchgen diff --help)\n"
          "Build a hotpatch payload for `hpm-sign hotpatch --payload`.\n"
          "  --target  the exact binary (matched by ELF build-id) whose functions are replaced\n"
          "  --map     lines 'old_fn=new_fn [quiesce]': old_fn in the target, new_fn in the source\n"
          "  --source  replacement C source, compiled with -fPIE (extern declarations resolve\n"
          "            against the target's symbols, static ones included)\n"
          "  --object  an already compiled relocatable object (-fPIE) instead of --source\n"
          "  --debug-file  the target's separate debug file (objcopy --only-keep-debug, a\n"
          "            -dbgsym package): its symbol table names the functions; its build-id\n"
          "            must equal the target's\n"
          "  --debug-dir  where to look for it when the target is stripped:\n"
          "            DIR/.build-id/xx/rest.debug (default /usr/lib/debug)\n"
          "  --no-direct-entry  patchable entries keep the two-jump form (entry -> pad -> new\n"
          "            code) instead of one direct jump at the entry, and direct call sites\n"
          "            are not redirected; the payload is then version 1 (readable by older hpm)\n"
          "  --json    one JSON document on stdout: each function and how calls reach it\n"
          "            (entry redirect, direct call sites, inlined copies), warnings, errors\n"
          "See docs/hotpatch-authoring.md.\n");
}

/* ---- inlined copies of the replaced functions, from the binary's DWARF ---- */
typedef struct { target_t *t; pg_redirect *r; size_t nr; } inl_ctx;

static void on_inline(void *ctx, const char *inlined, uint64_t container) {
  inl_ctx *x = ctx;
  for (size_t i = 0; i < x->nr; i++) {
    pg_redirect *r = &x->r[i];
    if (strcmp(r->f.name, inlined)) continue;
    char at[32];
    const char *cn = target_func_at(x->t, container, NULL);
    if (!cn) snprintf(at, sizeof at, "0x%llx", (unsigned long long)container), cn = at;
    int covered = 0;
    for (size_t k = 0; k < x->nr; k++) covered |= x->r[k].f.entry == container;
    if (covered && r->f.inlined < UINT16_MAX) {
      r->f.inlined++;
      pg_list_add(r->covered_in, sizeof r->covered_in, cn);
    } else if (!covered && r->f.inlined_stale < UINT16_MAX) {
      r->f.inlined_stale++;
      pg_list_add(r->stale_in, sizeof r->stale_in, cn);
    }
  }
}

/* Each mapped function's inlined copies: a copy inside a function the map
 * does not replace keeps the old code, which is said as a warning. */
static void inlined_copies(target_t *t, pg_redirect *r, size_t nr) {
  pg_dw *d = pg_dw_open_elf(t->sym);
  if ((!d || !pg_dw_cu_count(d)) && t->sym != t->elf) {
    pg_dw_close(d);
    d = pg_dw_open_elf(t->elf);
  }
  if (!d || !pg_dw_cu_count(d)) {
    for (size_t i = 0; i < nr; i++) r[i].inl_unknown = 1;
    pg_dw_close(d);
    return;
  }
  inl_ctx x = {t, r, nr};
  pg_dw_all_inlines(d, on_inline, &x);
  pg_dw_close(d);
  for (size_t i = 0; i < nr; i++)
    if (r[i].f.inlined_stale)
      pg_warn("warning: '%s' is also inlined into %s (%u cop%s): this payload does not replace %s, so those callers "
              "keep the old code; map them too (their replacements calling the new '%s'), or build the payload with "
              "hpm-patchgen diff",
              r[i].f.name, r[i].stale_in, r[i].f.inlined_stale, r[i].f.inlined_stale == 1 ? "y" : "ies",
              r[i].f.inlined_stale == 1 ? "it" : "them", r[i].f.name);
}

int main(int argc, char **argv) {
  const char *tpath = NULL, *mpath = NULL, *src = NULL, *objpath = NULL, *out = NULL;
  const char *cc = getenv("CC") ? getenv("CC") : "cc", *cflags = NULL;
  const char *dbg_file = NULL, *dbg_dir = "/usr/lib/debug";
  static const struct option opts[] = {
      {"target", 1, 0, 't'}, {"map", 1, 0, 'm'}, {"source", 1, 0, 's'}, {"object", 1, 0, 'o'},
      {"out", 1, 0, 'O'},    {"cc", 1, 0, 'c'},  {"cflags", 1, 0, 'f'}, {"help", 0, 0, 'h'},
      {"no-direct-entry", 0, 0, 'n'}, {"debug-file", 1, 0, 'd'}, {"debug-dir", 1, 0, 'D'},
      {"version", 0, 0, 'V'}, {"json", 0, 0, 'j'}, {0, 0, 0, 0}};
  if (argc > 1 && !strcmp(argv[1], "diff")) return pg_diff_main(argc - 1, argv + 1);
  int c;
  opterr = 0; /* our messages, not getopt's */
  while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
    switch (c) {
    case 't': tpath = optarg; break;
    case 'm': mpath = optarg; break;
    case 's': src = optarg; break;
    case 'o': objpath = optarg; break;
    case 'O': out = optarg; break;
    case 'c': cc = optarg; break;
    case 'f': cflags = optarg; break;
    case 'n': pg_no_direct = 1; break;
    case 'd': dbg_file = optarg; break;
    case 'D': dbg_dir = optarg; break;
    case 'j': pg_json = 1; pg_report_begin("map"); break;
    default: return pg_common_option(c, argv, MODE, usage);
    }
  }
  if (optind != argc) return pg_usage_error(MODE, "unexpected argument '%s': every input is given by an option", argv[optind]);
  if (!tpath) return pg_usage_error(MODE, "--target BINARY is required");
  if (!mpath) return pg_usage_error(MODE, "--map FILE is required");
  if (!out) return pg_usage_error(MODE, "--out PAYLOAD is required");
  if (!!src == !!objpath) return pg_usage_error(MODE, "give exactly one of --source FILE.c or --object FILE.o");
  elf_version(EV_CURRENT);

  target_t t;
  target_open(&t, tpath);
  target_debug(&t, dbg_file, dbg_dir);
  pg_report_target(&t);
  if (t.dbg_used) fprintf(stderr, "%s: symbols of %s from %s\n", pg_prog, tpath, t.dbg);
  static mapent map[HPP_MAX_FUNCS];
  size_t nmap = read_map(mpath, map, HPP_MAX_FUNCS);
  pg_redirect *red = calloc(nmap, sizeof *red);
  if (!red) pg_die("out of memory");
  for (size_t i = 0; i < nmap; i++) {
    GElf_Sym s;
    if (target_sym(&t, map[i].old, 1, &s)) {
      if (t.dbg_used) pg_die("%s: no function symbol '%s' in its debug file %s", t.path, map[i].old, t.dbg);
      if (!target_has_symtab(t.elf))
        pg_die("%s: no function symbol '%s': the binary is stripped and no debug file was found%s%s "
               "(install its debug symbols, e.g. the -dbgsym package, or pass --debug-file)",
               t.path, map[i].old, t.dbg[0] ? " at " : "", t.dbg);
      pg_die("%s: no function symbol '%s'", t.path, map[i].old);
    }
    target_plan(&t, map[i].old, &s, &red[i].f, map[i].quiesce);
    red[i].new_name = map[i].neu;
  }
  inlined_copies(&t, red, nmap);
  char tmpobj[64] = "";
  if (src) { compile(src, cc, cflags, tmpobj, sizeof tmpobj); objpath = tmpobj; }
  pg_obj o;
  pg_obj_open(&o, objpath);
  if (tmpobj[0]) unlink(tmpobj);
  if (src) o.path = src;
  pg_write_payload(&t, &o, 1, red, nmap, out);
  return 0;
}
