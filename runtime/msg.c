/* SPDX-License-Identifier: MIT */
#include "msg.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static _Thread_local char last[512]; /* per thread: the agent's fleet thread has its own */
static bool prefixed;

static void emit(int priority, const char *fmt, va_list ap) {
  vsnprintf(last, sizeof last, fmt, ap);
  if (priority < 0) priority = strncmp(last, "warning:", 8) ? HPM_MSG_ERR : HPM_MSG_WARNING;
  if (prefixed) fprintf(stderr, "<%d>hpm: %s\n", priority, last);
  else fprintf(stderr, "hpm: %s\n", last);
}

void hpm_msg(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  emit(-1, fmt, ap);
  va_end(ap);
}

void hpm_msg_at(int priority, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  emit(priority, fmt, ap);
  va_end(ap);
}

bool hpm_msg_journal(const char *journal_stream) {
  unsigned long long dev, ino;
  struct stat sb;
  char end;
  prefixed = journal_stream && sscanf(journal_stream, "%llu:%llu%c", &dev, &ino, &end) == 2 && fstat(2, &sb) == 0 &&
             (unsigned long long)sb.st_dev == dev && (unsigned long long)sb.st_ino == ino;
  return prefixed;
}

const char *hpm_msg_last(void) { return last; }

void hpm_msg_clear(void) { last[0] = 0; }

void hpm_msg_status(const hpmh_status *st) { hpm_msg("%s", st->detail); }
