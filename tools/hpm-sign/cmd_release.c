/* SPDX-License-Identifier: MIT */
/* hpm-sign build --from FILE: a baseline, hotpatch or catalog from one
 * reviewed release file (release_file.c checks it), built by the same
 * command the file's kind names, with the file's values as its options. */
#include <libgen.h>
#include <stdlib.h>
#include <string.h>

#include "hpm-sign.h"

static const char build_help[] =
    "Usage: hpm-sign build --from FILE\n"
    "Build and sign the baseline, hotpatch or catalog that the release file FILE\n"
    "describes: one reviewed INI file (like a FIT .its or a RAUC manifest) instead\n"
    "of a command line. Its keys are the options of 'hpm-sign baseline', 'hotpatch'\n"
    "or 'catalog'; paths are relative to FILE's directory; every key in [signing]\n"
    "signs (a file or a pkcs11: URI), and threshold says how many must.\n"
    "\n"
    "  --from FILE   the release file (docs/hpm-sign.md \"Release files\";\n"
    "                examples: docs/examples/release-*.ini)\n"
    "  -h, --help    show this help\n"
    "\n"
    "Every field is checked before anything is read or signed; an error names\n"
    "FILE:LINE, the [section] and key, and what to write instead. Unknown sections\n"
    "and keys are refused.\n"
    "\n"
    "Example:\n"
    "  hpm-sign build --from release/2026.1.ini\n";

#define RF_FILE_MAX (1u << 20)

/* argv under construction: every string owned. */
typedef struct {
  char **v;
  int n, cap;
} argv_buf;

static int push(argv_buf *a, const char *s) {
  if (a->n + 2 > a->cap) {
    int cap = a->cap ? a->cap * 2 : 64;
    char **nv = realloc(a->v, (size_t)cap * sizeof *nv);
    if (!nv) return -1;
    a->v = nv;
    a->cap = cap;
  }
  if (!(a->v[a->n] = strdup(s))) return -1;
  a->v[++a->n] = NULL;
  return 0;
}

static int push2(argv_buf *a, const char *opt, const char *v) { return push(a, opt) || push(a, v); }

/* A path of the file, relative to its directory (dir) unless absolute. */
static int push_path(argv_buf *a, const char *opt, const char *dir, const char *prefix, const char *p,
                     const char *suffix) {
  size_t n = strlen(dir) + strlen(prefix) + strlen(p) + strlen(suffix) + 2;
  char *s = malloc(n);
  int rc;
  if (!s) return -1;
  if (p[0] == '/')
    snprintf(s, n, "%s%s%s", prefix, p, suffix);
  else
    snprintf(s, n, "%s%s/%s%s", prefix, dir, p, suffix);
  rc = push2(a, opt, s);
  free(s);
  return rc;
}

static bool yes(const rf_field *f) { return f->v && (!strcmp(f->v, "yes") || !strcmp(f->v, "true")); }

/* The builder's command line for what s describes. */
static int to_argv(const release_spec *s, const char *dir, argv_buf *a) {
  static const char *const cmds[] = {"baseline", "hotpatch", "catalog"};
  int e = push(a, cmds[s->kind - 1]);
  for (size_t i = 0; i < s->key.n; i++) {
    const char *k = s->key.v[i].v;
    e = e || (p11_is_uri(k) ? push2(a, "--key", k) : push_path(a, "--key", dir, "", k, ""));
  }
  if (s->compat.v) e = e || push2(a, "--compat", s->compat.v);
  if (s->timestamp.v) e = e || push2(a, "--timestamp", s->timestamp.v);
  switch (s->kind) {
    case HPM_KIND_BASELINE:
      e = e || push_path(a, "--kernel", dir, "", s->kernel.v, "");
      if (s->initrd.v) e = e || push_path(a, "--initrd", dir, "", s->initrd.v, "");
      if (s->cmdline.v) e = e || push2(a, "--cmdline", s->cmdline.v);
      e = e || push2(a, "--version", s->version.v) || push2(a, "--svn", s->svn.v);
      if (s->release.v && !strcmp(s->release.v, "unplanned")) e = e || push(a, "--unplanned");
      if (yes(&s->detached)) e = e || push(a, "--detached");
      break;
    case HPM_KIND_HOTPATCH:
      e = e || push_path(a, "--baseline", dir, "", s->baseline.v, "") || push2(a, "--seq", s->seq.v) ||
          push2(a, "--classification", s->classification.v) || push2(a, "--id", s->id.v);
      for (size_t i = 0; i < s->payload.n && !e; i++) {
        /* [NAME=]FILE: the name stays, the file is made relative to dir */
        const char *v = s->payload.v[i].v, *eq = strchr(v, '=');
        if (eq && eq != v && !memchr(v, '/', (size_t)(eq - v))) {
          char name[HPM_NAME_MAX + 2];
          snprintf(name, sizeof name, "%.*s=", (int)(eq - v), v);
          e = push_path(a, "--payload", dir, name, eq + 1, "");
        } else {
          e = push_path(a, "--payload", dir, "", v, "");
        }
      }
      if (s->kernel_module.v)
        e = e || push_path(a, "--kernel-module", dir, "", s->kernel_module.v, "") ||
            push2(a, "--kernel-build-id", s->kernel_build_id.v);
      if (s->kernel_release.v) e = e || push2(a, "--kernel-release", s->kernel_release.v);
      if (s->version.v) e = e || push2(a, "--version", s->version.v);
      if (s->svn.v) e = e || push2(a, "--svn", s->svn.v);
      break;
    default:
      e = e || push2(a, "--serial", s->serial.v) || push2(a, "--expires", s->expires.v);
      for (size_t i = 0; i < s->trust.n; i++) e = e || push_path(a, "--trust", dir, "", s->trust.v[i].v, "");
      for (size_t i = 0; i < s->entry.n; i++) e = e || push_path(a, "--entry", dir, "", s->entry.v[i].v, "");
      if (yes(&s->allow_expired)) e = e || push(a, "--allow-expired");
      break;
  }
  return e || push_path(a, "--out", dir, "", s->out.v, "");
}

int cmd_release_build(int argc, char **argv) {
  const char *cmd = "build", *from = NULL;
  const opt_spec opts[] = {
      {"from", 0, OPT_VALUE, .dest = &from, .missing = "missing --from FILE (the release file to build)",
       .nonempty = true},
      {0},
  };
  const cmd_spec spec = {.cmd = cmd, .help = build_help, .opts = opts};
  release_spec *s = calloc(1, sizeof *s);
  argv_buf a = {0};
  uint8_t *text = NULL;
  size_t len = 0;
  char err[1024], *dcopy = NULL;
  int rc;

  if (!s) return out_of_memory(cmd);
  if ((rc = parse_args(&spec, argc, argv)) != GO_ON || (rc = check_required(&spec))) goto done;
  if ((rc = read_input(cmd, "--from", from, &text, &len))) goto done;
  if (len > RF_FILE_MAX) {
    rc = usage_error(cmd, "--from %s: %zu bytes; a release file is at most 1 MiB", from, len);
    goto done;
  }
  if (rf_parse((const char *)text, len, from, s, err, sizeof err)) {
    msg(cmd, "%s", err);
    rc = EXIT_USAGE;
    goto done;
  }
  if (!(dcopy = strdup(from)) || to_argv(s, dirname(dcopy), &a)) {
    rc = out_of_memory(cmd);
    goto done;
  }
  printf("%s: %s, %zu signing key(s)%s%s\n", from, hpm_kind_to_string(s->kind), s->key.n,
         s->threshold.v ? ", threshold " : "", s->threshold.v ? s->threshold.v : "");
  fflush(stdout);
  getopt_reset();
  rc = s->kind == HPM_KIND_BASELINE   ? cmd_baseline(a.n, a.v)
       : s->kind == HPM_KIND_HOTPATCH ? cmd_hotpatch(a.n, a.v)
                                      : cmd_catalog(a.n, a.v);
  if (rc) msg(cmd, "%s: nothing was written; the %s above names the option (= the key of the release file)", from,
              rc == EXIT_USAGE ? "usage error" : "error");
done:
  for (int i = 0; i < a.n; i++) free(a.v[i]);
  free(a.v);
  free(dcopy);
  free(text);
  if (s) rf_free(s);
  free(s);
  return rc;
}
