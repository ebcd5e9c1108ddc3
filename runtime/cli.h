/* SPDX-License-Identifier: MIT */
/*
 * A command's own options, parsed alike by every command: getopt_long over
 * the command's table, with hpm's own messages for an unknown option, a
 * missing value and a wrong number of operands ("hpm: CMD: ...", then
 * "Try 'hpm CMD --help'." on stderr; exit status 2).  --help and --version
 * are answered in main.c before a command runs.
 */
#ifndef HPM_RUNTIME_CLI_H
#define HPM_RUNTIME_CLI_H

#include <getopt.h>

#define HPM_CLI_USAGE 2

/* The next option of argv (argv[0] is the command name; the first call
 * starts over, whatever an earlier command left in optind).  shortopts: the
 * short forms the command accepts besides its long ones (e.g. "n" for
 * --dry-run), may be "".  Returns the option's val, -1 after the last
 * option (operands from optind on), or '?' after reporting a bad option. */
int hpm_cli_next(const char *cmd, int argc, char **argv, const char *shortopts, const struct option *lo);

/* Reports a usage error of command cmd; returns HPM_CLI_USAGE. */
int hpm_cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The operands after the options: at least min, at most max.  what names
 * them for the message ("one HOTPATCH file").  Returns 0 or HPM_CLI_USAGE. */
int hpm_cli_operands(const char *cmd, int argc, char **argv, int min, int max, const char *what);

#endif
