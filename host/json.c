/* SPDX-License-Identifier: MIT */
#include "json.h"

#include <time.h>

const char *hpmh_utc(uint64_t t, char buf[HPMH_UTC_LEN]) {
  time_t tt = (time_t)t;
  struct tm tm;
  buf[0] = '\0';
  if (t <= 253402300799ull && gmtime_r(&tt, &tm)) strftime(buf, HPMH_UTC_LEN, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

/* Length of the valid UTF-8 sequence at p (1-4), or 0 when it is not one
 * (overlong forms, surrogates and code points past U+10FFFF are invalid). */
static int utf8_len(const unsigned char *p) {
  unsigned c = p[0];
  int n;
  unsigned min;
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf) n = 2, min = 0x80;
  else if (c >= 0xe0 && c <= 0xef) n = 3, min = 0x800;
  else if (c >= 0xf0 && c <= 0xf4) n = 4, min = 0x10000;
  else return 0;
  unsigned cp = c & (0x7f >> n);
  for (int i = 1; i < n; i++) {
    if ((p[i] & 0xc0) != 0x80) return 0; /* also stops at the NUL */
    cp = cp << 6 | (p[i] & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

void hpmh_json_str(FILE *f, const char *s) {
  fputc('"', f);
  for (const unsigned char *p = (const unsigned char *)s; *p;) {
    int n = utf8_len(p);
    if (n == 0) {
      fputs("\\ufffd", f);
      p++;
    } else if (n > 1) {
      fwrite(p, 1, (size_t)n, f);
      p += n;
    } else {
      if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
      else if (*p < 0x20 || *p == 0x7f) fprintf(f, "\\u%04x", *p);
      else fputc(*p, f);
      p++;
    }
  }
  fputc('"', f);
}
