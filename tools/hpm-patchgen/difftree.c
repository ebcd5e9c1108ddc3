/* SPDX-License-Identifier: MIT */
/*
 * hpm-patchgen diff mode: the two trees and the compile database
 * (difftree.c): which files the patches change, the original files
 * renumbered to the patched files' lines (#line, against __LINE__-only
 * differences), each unit's command moved into a tree.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "pgdiff.h"

char *pg_xstrdup(const char *s) {
  char *d = strdup(s);
  if (!d) pg_die("out of memory");
  return d;
}

char *pg_xprintf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *s;
  if (vasprintf(&s, fmt, ap) < 0) pg_die("out of memory");
  va_end(ap);
  return s;
}

static int same_file(const char *a, const char *b) {
  size_t la, lb;
  hpmh_status e;
  uint8_t *ba, *bb;
  if (hpmh_read_file(a, 1u << 30, &ba, &la, &e)) return 0;
  if (hpmh_read_file(b, 1u << 30, &bb, &lb, &e)) { free(ba); return 0; }
  int same = la == lb && !memcmp(ba, bb, la);
  free(ba);
  free(bb);
  return same;
}

/* ---- the pg_changed files: tree a (baseline copy) against tree b (patched) ---- */
changed_t *pg_changed;
size_t pg_nchanged;
static const char *walk_other, *walk_root;
static int walk_removed;

static int walk_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st; (void)ftw;
  if (flag != FTW_F) return 0;
  const char *rel = path + strlen(walk_root) + 1;
  char *other = pg_xprintf("%s/%s", walk_other, rel);
  int exists = access(other, F_OK) == 0;
  if (walk_removed ? !exists : (!exists || !same_file(path, other))) {
    pg_changed = realloc(pg_changed, (pg_nchanged + 1) * sizeof *pg_changed);
    if (!pg_changed) pg_die("out of memory");
    pg_changed[pg_nchanged++] = (changed_t){pg_xstrdup(rel), !walk_removed && !exists, walk_removed};
  }
  free(other);
  return 0;
}

void pg_find_changed(const char *a, const char *b) {
  walk_root = b; walk_other = a; walk_removed = 0;
  if (nftw(b, walk_cb, 32, FTW_PHYS)) pg_die("%s: %s", b, strerror(errno));
  walk_root = a; walk_other = b; walk_removed = 1;
  if (nftw(a, walk_cb, 32, FTW_PHYS)) pg_die("%s: %s", a, strerror(errno));
}

/* ---- __LINE__: the original file renumbered to the patched file's lines ---- */
/* State of a C scanner across lines: inside a block comment or not. */
static int scan_line(const char *l, int in_comment) {
  char q = 0;
  for (const char *p = l; *p; p++) {
    if (in_comment) { if (p[0] == '*' && p[1] == '/') { in_comment = 0; p++; } continue; }
    if (q) { if (*p == '\\' && p[1]) p++; else if (*p == q) q = 0; continue; }
    if (*p == '"' || *p == '\'') q = *p;
    else if (p[0] == '/' && p[1] == '/') break;
    else if (p[0] == '/' && p[1] == '*') { in_comment = 1; p++; }
  }
  return in_comment;
}

void pg_renumber(const char *orig, const char *patched, const char *work) {
  char *ev = pg_xprintf("%s/lines.txt", work);
  char *argv[] = {"diff", "--unchanged-line-format=U\n", "--old-line-format=D\n", "--new-line-format=N\n",
                  (char *)orig, (char *)patched, NULL};
  int rc = pg_run(argv, NULL, NULL, ev);
  if (rc != 0 && rc != 1) pg_die("diff %s %s failed (exit %d)", orig, patched, rc);
  FILE *fe = fopen(ev, "r"), *fo = fopen(orig, "r");
  if (!fe || !fo) pg_die("%s: %s", fe ? orig : ev, strerror(errno));
  char *out = NULL;
  size_t outlen = 0;
  FILE *fw = open_memstream(&out, &outlen);
  if (!fw) pg_die("out of memory");
  char *line = NULL, evl[8];
  size_t cap = 0;
  long newno = 0, expect = 1;
  int continued = 0, in_comment = 0;
  while (fgets(evl, sizeof evl, fe)) {
    if (evl[0] == 'N') { newno++; continue; }
    ssize_t n = getline(&line, &cap, fo);
    if (n < 0) break;
    if (evl[0] == 'U') {
      newno++;
      if (newno != expect && !continued && !in_comment) {
        fprintf(fw, "#line %ld\n", newno);
        expect = newno;
      }
    }
    fputs(line, fw);
    expect++;
    continued = n >= 2 && line[n - 1] == '\n' && line[n - 2] == '\\';
    in_comment = scan_line(line, in_comment);
  }
  char buf[4096];
  size_t k;
  while ((k = fread(buf, 1, sizeof buf, fo)) > 0) fwrite(buf, 1, k, fw);
  fclose(fe);
  fclose(fo);
  fclose(fw);
  hpmh_status e;
  if (hpmh_write_file(orig, (const uint8_t *)out, outlen, 0644, 0, &e)) pg_die("cannot write %s", e.detail);
  free(out);
  free(line);
  unlink(ev);
  free(ev);
}

/* ---- the compile database ---- */

static void push_arg(char ***v, size_t *n, const char *s) {
  char **nv = realloc(*v, (*n + 2) * sizeof **v);
  if (!nv) pg_die("out of memory");
  nv[(*n)++] = pg_xstrdup(s);
  nv[*n] = NULL;
  *v = nv;
}

/* A "command" string split as a POSIX shell splits words (quotes, backslashes; no expansions). */
static char **split_command(const char *cmd, const char *db) {
  char **v = NULL;
  size_t n = 0, len = strlen(cmd);
  char *w = malloc(len + 1);
  if (!w) pg_die("out of memory");
  const char *p = cmd;
  while (*p) {
    while (*p == ' ' || *p == '\t' || *p == '\n') p++;
    if (!*p) break;
    size_t k = 0;
    while (*p && *p != ' ' && *p != '\t' && *p != '\n') {
      if (*p == '\'') {
        const char *e = strchr(p + 1, '\'');
        if (!e) pg_die("%s: unbalanced quote in command '%s'", db, cmd);
        memcpy(w + k, p + 1, (size_t)(e - p - 1));
        k += (size_t)(e - p - 1);
        p = e + 1;
      } else if (*p == '"') {
        p++;
        while (*p && *p != '"') {
          if (*p == '\\' && p[1]) p++;
          w[k++] = *p++;
        }
        if (*p != '"') pg_die("%s: unbalanced quote in command '%s'", db, cmd);
        p++;
      } else {
        if (*p == '\\' && p[1]) p++;
        w[k++] = *p++;
      }
    }
    w[k] = 0;
    push_arg(&v, &n, w);
  }
  free(w);
  if (!n) pg_die("%s: empty command", db);
  return v;
}

tu_t *pg_read_db(const char *db, const char *root, size_t *ntu) {
  size_t len;
  char *txt = (char *)pg_read_file(db, &len);
  cJSON *j = cJSON_ParseWithLength(txt, len);
  free(txt);
  if (!cJSON_IsArray(j)) pg_die("%s: not a compile database (a JSON array of {directory, file, command|arguments})", db);
  size_t n = (size_t)cJSON_GetArraySize(j), k = 0;
  tu_t *v = calloc(n ? n : 1, sizeof *v);
  if (!v) pg_die("out of memory");
  size_t rootlen = strlen(root);
  cJSON *e;
  cJSON_ArrayForEach(e, j) {
    cJSON *d = cJSON_GetObjectItemCaseSensitive(e, "directory"), *f = cJSON_GetObjectItemCaseSensitive(e, "file"),
          *c = cJSON_GetObjectItemCaseSensitive(e, "command"), *a = cJSON_GetObjectItemCaseSensitive(e, "arguments");
    if (!cJSON_IsString(d) || !cJSON_IsString(f) || (!cJSON_IsString(c) && !cJSON_IsArray(a)))
      pg_die("%s: entry %zu: needs \"directory\", \"file\" and \"command\" or \"arguments\"", db, k + 1);
    char dir[PATH_MAX], file[PATH_MAX];
    if (!realpath(d->valuestring, dir)) pg_die("%s: entry %zu: directory %s: %s", db, k + 1, d->valuestring, strerror(errno));
    char *fp = f->valuestring[0] == '/' ? pg_xstrdup(f->valuestring) : pg_xprintf("%s/%s", dir, f->valuestring);
    if (!realpath(fp, file)) pg_die("%s: entry %zu: file %s: %s", db, k + 1, fp, strerror(errno));
    free(fp);
    if (strncmp(dir, root, rootlen) || (dir[rootlen] && dir[rootlen] != '/'))
      pg_die("%s: entry %zu: directory %s is outside the source tree %s (build in the tree)", db, k + 1, dir, root);
    if (strncmp(file, root, rootlen) || file[rootlen] != '/')
      pg_die("%s: entry %zu: file %s is outside the source tree %s", db, k + 1, file, root);
    v[k].file = pg_xstrdup(file);
    v[k].rel = pg_xstrdup(file + rootlen + 1);
    v[k].dir = pg_xstrdup(dir);
    if (cJSON_IsArray(a)) {
      size_t na = 0;
      cJSON *x;
      cJSON_ArrayForEach(x, a) {
        if (!cJSON_IsString(x)) pg_die("%s: entry %zu: \"arguments\" must be strings", db, k + 1);
        push_arg(&v[k].argv, &na, x->valuestring);
      }
      if (!na) pg_die("%s: entry %zu: empty \"arguments\"", db, k + 1);
    } else {
      v[k].argv = split_command(c->valuestring, db);
    }
    k++;
  }
  cJSON_Delete(j);
  *ntu = k;
  return v;
}

/* s with the prefix from (a whole path component) replaced by to. */
char *pg_map_prefix(const char *s, const char *from, const char *to) {
  size_t n = strlen(from);
  const char *hit = strstr(s, from);
  if (!hit || (hit[n] && hit[n] != '/')) return pg_xstrdup(s);
  return pg_xprintf("%.*s%s%s", (int)(hit - s), s, to, hit + n);
}

/* -ffile-prefix-map=OLD=NEW and its -fdebug-/-fmacro- kin (Debian's
 * dpkg-buildflags add -ffile-prefix-map=SRCDIR=.): OLD inside the tree
 * moves with the copy, so both compiles record the paths the baseline
 * recorded (a CU "./util.c", __FILE__). pg_map_prefix would not see OLD:
 * it is followed by '=', not '/'. NULL for any other argument. */
static char *map_prefix_option(const char *a, const char *root, const char *tree) {
  static const char *const opts[] = {"-ffile-prefix-map=", "-fdebug-prefix-map=", "-fmacro-prefix-map="};
  for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
    size_t ol = strlen(opts[i]), rl = strlen(root);
    const char *old = a + ol, *eq;
    if (strncmp(a, opts[i], ol) || !(eq = strrchr(old, '='))) continue;
    if (strncmp(old, root, rl) || (old + rl != eq && old[rl] != '/')) return NULL;
    return pg_xprintf("%s%s%s", opts[i], tree, old + rl);
  }
  return NULL;
}

/* The TU's command for tree `tree`: paths moved into it, output to obj, no
 * dependency files, per-function and per-object sections. */
char **pg_tu_command(const tu_t *u, const char *root, const char *tree, const char *obj) {
  char **v = NULL;
  size_t n = 0;
  for (size_t i = 0; u->argv[i]; i++) {
    const char *a = u->argv[i];
    if (!strcmp(a, "-o") || !strcmp(a, "-MF") || !strcmp(a, "-MT") || !strcmp(a, "-MQ")) {
      if (u->argv[i + 1]) i++;
      continue;
    }
    if (!strncmp(a, "-o", 2) || !strcmp(a, "-MD") || !strcmp(a, "-MMD") || !strcmp(a, "-MP") ||
        !strncmp(a, "-MF", 3) || !strncmp(a, "-MT", 3) || !strncmp(a, "-MQ", 3))
      continue;
    char *m = map_prefix_option(a, root, tree);
    if (!m) m = pg_map_prefix(a, root, tree);
    push_arg(&v, &n, m);
    free(m);
  }
  push_arg(&v, &n, "-ffunction-sections");
  push_arg(&v, &n, "-fdata-sections");
  push_arg(&v, &n, "-o");
  push_arg(&v, &n, obj);
  return v;
}

/* The producer with the flags patchgen added removed (unless the baseline had them). */
char *pg_strip_added(const char *producer, const char *base) {
  char *s = pg_xstrdup(producer);
  static const char *const added[] = {" -ffunction-sections", " -fdata-sections"};
  for (size_t i = 0; i < 2; i++) {
    if (strstr(base, added[i])) continue;
    char *h;
    while ((h = strstr(s, added[i])) && (h[strlen(added[i])] == ' ' || !h[strlen(added[i])]))
      memmove(h, h + strlen(added[i]), strlen(h + strlen(added[i])) + 1);
  }
  return s;
}

