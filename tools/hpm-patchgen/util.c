/* SPDX-License-Identifier: MIT */
/* hpm-patchgen: messages, whole files, child processes. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fileio.h"
#include "pg.h"
#include "version.h"

const char *pg_prog = "hpm-patchgen";
int pg_no_direct;

/* Said on stderr; kept for the JSON document (its error, or a warning). */
static void vsay(int status, const char *fmt, va_list ap) {
  char msg[2048];
  vsnprintf(msg, sizeof msg, fmt, ap);
  fprintf(stderr, "%s: %s\n", pg_prog, msg);
  if (status) pg_report_message(status, msg);
  else pg_report_warning(msg);
}

void pg_die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsay(1, fmt, ap);
  va_end(ap);
  exit(1);
}

void pg_warn(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsay(0, fmt, ap);
  va_end(ap);
}

int pg_usage_error(const char *mode, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fprintf(stderr, "%s: %s\nTry '%s --help'.\n", pg_prog, msg, mode);
  pg_report_message(2, msg);
  return 2;
}

int pg_common_option(int c, char **argv, const char *mode, void (*usage)(FILE *)) {
  switch (c) {
  case 'h': usage(stdout); return 0;
  case 'V': printf("hpm-patchgen %s (payload format %u)\n", HPM_PROJECT_VERSION, HPP_VERSION); return 0;
  case ':': return pg_usage_error(mode, "option '%s' needs a value", argv[optind - 1]);
  default: return pg_usage_error(mode, "unknown option '%s'", argv[optind - 1]);
  }
}

uint8_t *pg_read_file(const char *path, size_t *len) {
  hpmh_status e;
  uint8_t *b;
  if (hpmh_read_file(path, 1u << 30, &b, len, &e)) pg_die("%s", e.detail);
  if (!*len) pg_die("%s: unusable size", path);
  return b;
}

int pg_run(char *const argv[], const char *cwd, const char *in, const char *out) {
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) pg_die("fork: %s", strerror(errno));
  if (pid == 0) {
    if (cwd && chdir(cwd)) { fprintf(stderr, "%s: %s: %s\n", pg_prog, cwd, strerror(errno)); _exit(127); }
    if (in) {
      int fd = open(in, O_RDONLY | O_CLOEXEC);
      if (fd < 0 || dup2(fd, 0) < 0) { fprintf(stderr, "%s: %s: %s\n", pg_prog, in, strerror(errno)); _exit(127); }
    }
    if (out) {
      int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      if (fd < 0 || dup2(fd, 1) < 0) { fprintf(stderr, "%s: %s: %s\n", pg_prog, out, strerror(errno)); _exit(127); }
    }
    execvp(argv[0], argv);
    fprintf(stderr, "%s: cannot run %s: %s\n", pg_prog, argv[0], strerror(errno));
    _exit(127);
  }
  int st;
  while (waitpid(pid, &st, 0) < 0)
    if (errno != EINTR) pg_die("waitpid: %s", strerror(errno));
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}
