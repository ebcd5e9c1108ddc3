/* SPDX-License-Identifier: MIT */
#include "msg.h"

#include <stdarg.h>
#include <stdio.h>

static char last[512];

void hpm_msg(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(last, sizeof last, fmt, ap);
  va_end(ap);
  fprintf(stderr, "hpm: %s\n", last);
}

const char *hpm_msg_last(void) { return last; }

void hpm_msg_clear(void) { last[0] = 0; }

void hpm_msg_status(const hpmh_status *st) { hpm_msg("%s", st->detail); }
