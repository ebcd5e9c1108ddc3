/* SPDX-License-Identifier: MIT */
/* hpm-sign: command lines (options by table), messages, values. */
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hpm-sign.h"

/* ---- messages ---------------------------------------------------------- */

static void vmsg(const char *cmd, const char *fmt, va_list ap) {
  fprintf(stderr, "hpm-sign%s%s: ", cmd ? " " : "", cmd ? cmd : "");
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
}

void msg(const char *cmd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vmsg(cmd, fmt, ap);
  va_end(ap);
}

int usage_error(const char *cmd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vmsg(cmd, fmt, ap);
  va_end(ap);
  if (cmd)
    fprintf(stderr, "Try 'hpm-sign %s --help'.\n", cmd);
  else
    fprintf(stderr, "Try 'hpm-sign --help'.\n");
  return EXIT_USAGE;
}

int out_of_memory(const char *cmd) {
  msg(cmd, "out of memory");
  return EXIT_IOERR;
}

void getopt_reset(void) {
  optind = 0; /* glibc: full re-initialisation */
  opterr = 0;
  optopt = 0;
}

/* ---- options by table -------------------------------------------------- */

#define OPTS_MAX 24
#define HELP_VAL 'h'

/* Report a getopt failure ('?' or ':'). */
static int bad_option(const char *cmd, int c, char **argv) {
  const char *arg = optind > 0 && argv[optind - 1] ? argv[optind - 1] : "";
  if (c == ':') return usage_error(cmd, "option %s needs a value", arg);
  if (strncmp(arg, "--", 2) == 0) {
    if (strchr(arg, '='))
      return usage_error(cmd, "%s: unknown option, or an option that takes no value", arg);
    return usage_error(cmd, "unknown option %s", arg);
  }
  if (optopt > 0x20 && optopt < 0x7f) return usage_error(cmd, "unknown option -%c", optopt);
  return usage_error(cmd, "unknown option %s", arg);
}

/* One option met: store or act on its value. */
static int take(const char *cmd, const opt_spec *o, const char *value) {
  switch (o->kind) {
    case OPT_VALUE: {
      const char **dest = o->dest;
      if (*dest) return usage_error(cmd, "--%s given twice; give it once", o->name);
      *dest = value;
      return GO_ON;
    }
    case OPT_FLAG: *(bool *)o->dest = true; return GO_ON;
    case OPT_LIST: {
      opt_list *l = o->dest;
      if (l->n == l->max) return usage_error(cmd, "%s", l->too_many);
      l->v[l->n++] = value;
      return GO_ON;
    }
    case OPT_CALL: {
      int rc = o->call(cmd, value, o->dest);
      return rc ? rc : GO_ON;
    }
  }
  return GO_ON;
}

int parse_args(const cmd_spec *c, int argc, char **argv) {
  struct option lo[OPTS_MAX + 2];
  char shorts[2 * OPTS_MAX + 4] = ":";
  size_t n = 0, s = 1;
  int ch, rc;

  for (; c->opts[n].name && n < OPTS_MAX; n++) {
    const opt_spec *o = &c->opts[n];
    int has_arg = o->kind == OPT_FLAG ? no_argument : required_argument;
    lo[n] = (struct option){o->name, has_arg, NULL, o->letter ? o->letter : 256 + (int)n};
    if (o->letter) {
      shorts[s++] = o->letter;
      if (has_arg == required_argument) shorts[s++] = ':';
    }
  }
  lo[n] = (struct option){"help", no_argument, NULL, HELP_VAL};
  lo[n + 1] = (struct option){NULL, 0, NULL, 0};
  shorts[s++] = HELP_VAL;
  shorts[s] = '\0';

  while ((ch = getopt_long(argc, argv, shorts, lo, NULL)) != -1) {
    const opt_spec *o = NULL;
    if (ch == HELP_VAL) {
      fputs(c->help, stdout);
      return EXIT_VALID;
    }
    for (size_t i = 0; i < n && !o; i++)
      if (lo[i].val == ch) o = &c->opts[i];
    if (!o) return bad_option(c->cmd, ch, argv);
    if ((rc = take(c->cmd, o, optarg)) != GO_ON) return rc;
  }
  if (!c->operand) {
    if (optind < argc)
      return usage_error(c->cmd, "unexpected argument '%s'%s", argv[optind], c->extra ? c->extra : "");
    return GO_ON;
  }
  if (optind >= argc) return usage_error(c->cmd, "%s", c->operand);
  if (argc - optind > 1)
    return usage_error(c->cmd, "unexpected argument '%s'%s", argv[optind + 1], c->extra ? c->extra : "");
  *c->file = argv[optind];
  return GO_ON;
}

int check_required(const cmd_spec *c) {
  for (const opt_spec *o = c->opts; o->name; o++) {
    const char *v;
    if (o->kind != OPT_VALUE) continue;
    v = *(const char **)o->dest;
    if (!v && o->missing) return usage_error(c->cmd, "%s", o->missing);
    if (v && !*v && o->nonempty) return usage_error(c->cmd, "--%s: empty file name", o->name);
  }
  return 0;
}

int check_signing(const char *cmd, const release_args *r) {
  if (!r->keys.n && !r->unsigned_)
    return usage_error(cmd, "missing --key KEY.pem|URI (the private signing key: a file or a pkcs11: URI), or --unsigned to sign later");
  if (r->keys.n && r->unsigned_) return usage_error(cmd, "--key and --unsigned exclude each other");
  return 0;
}

int check_out_not_key(const char *cmd, const release_args *r) {
  for (size_t i = 0; i < r->keys.n; i++)
    if (!p11_is_uri(r->keys.v[i]) && same_file(r->out, r->keys.v[i]))
      return usage_error(cmd, "--out %s is the same file as --key %s; choose another --out", r->out, r->keys.v[i]);
  return 0;
}

int parse_release(const cmd_spec *c, const release_args *r, int argc, char **argv) {
  int rc = parse_args(c, argc, argv);
  if (rc == GO_ON && !(rc = check_signing(c->cmd, r)) && !(rc = check_required(c))) return GO_ON;
  return rc;
}

/* ---- values (the pure checks are in values.c) ------------------------- */

int release_timestamp(const char *cmd, const char *opt, uint64_t *ts) {
  const char *env;
  if (opt) {
    if (!parse_u64(opt, ts))
      return usage_error(cmd, "--timestamp '%s': expected seconds since 1970-01-01 UTC as an unsigned decimal number", opt);
    return 0;
  }
  env = getenv("SOURCE_DATE_EPOCH");
  if (env) {
    if (!parse_u64(env, ts))
      return usage_error(cmd, "SOURCE_DATE_EPOCH='%s' is malformed: expected seconds since 1970-01-01 UTC as an unsigned decimal number (unset it or fix it)", env);
    return 0;
  }
  time_t now = time(NULL);
  if (now < 0) {
    msg(cmd, "cannot read the clock; pass --timestamp");
    return EXIT_IOERR;
  }
  *ts = (uint64_t)now;
  msg(cmd, "note: no --timestamp and no SOURCE_DATE_EPOCH: using the current time %llu; the output is not reproducible",
      (unsigned long long)*ts);
  return 0;
}
