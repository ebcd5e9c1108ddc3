/* SPDX-License-Identifier: MIT */
#include "cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "msg.h"

/* Parsing of which argv is under way: a new argv (or the end of the last
 * one) starts over. */
static char **current;

int hpm_cli_next(const char *cmd, int argc, char **argv, const char *shortopts, const struct option *lo) {
  /* ':' first: a missing value comes back as ':', not '?'; -h is every
   * command's --help (val 'h') */
  char so[16] = ":h";
  if (strlen(shortopts) + 2 > sizeof so) return hpm_cli_error(cmd, "internal: too many short options"), '?';
  strcat(so, shortopts);
  if (current != argv) {
    optind = 0; /* glibc: a full reinitialization */
    current = argv;
  }
  opterr = 0;
  int c = getopt_long(argc, argv, so, lo, NULL);
  if (c == -1) {
    current = NULL;
    return -1;
  }
  if (c != '?' && c != ':') return c;
  current = NULL;
  const char *bad = argv[optind - 1];
  if (c == ':') {
    hpm_cli_error(cmd, "option '%s' needs a value", bad);
  } else if (optopt && strncmp(bad, "--", 2)) {
    hpm_cli_error(cmd, "unknown option '-%c'", optopt);
  } else {
    /* an ambiguous abbreviation or a value given to a flag land here too */
    const char *eq = strchr(bad, '=');
    hpm_cli_error(cmd, "unknown option '%.*s'%s", eq ? (int)(eq - bad) : (int)strlen(bad), bad,
                  eq ? " (or it takes no value)" : "");
  }
  return '?';
}

int hpm_cli_error(const char *cmd, const char *fmt, ...) {
  char text[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  msg("%s: %s", cmd, text);
  fprintf(stderr, "Try 'hpm %s --help'.\n", cmd);
  return HPM_CLI_USAGE;
}

int hpm_cli_operands(const char *cmd, int argc, char **argv, int min, int max, const char *what) {
  int n = argc - optind;
  if (n > max && max == 0) return hpm_cli_error(cmd, "unexpected argument '%s': takes no operands", argv[optind]);
  if (n > max) return hpm_cli_error(cmd, "unexpected argument '%s': expected %s", argv[optind + max], what);
  if (n < min) return hpm_cli_error(cmd, "missing operand: expected %s", what);
  return 0;
}
