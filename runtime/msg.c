/* SPDX-License-Identifier: MIT */
#include "msg.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

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

const char *hpm_utc(uint64_t t, char buf[HPM_UTC_LEN]) {
  time_t tt = (time_t)t;
  struct tm tm;
  buf[0] = '\0';
  if (t <= 253402300799ull && gmtime_r(&tt, &tm)) strftime(buf, HPM_UTC_LEN, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

void hpm_json_str(FILE *f, const char *s) {
  fputc('"', f);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
    else if (*p < 0x20 || *p >= 0x7f) fprintf(f, "\\u%04x", *p);
    else fputc(*p, f);
  }
  fputc('"', f);
}
