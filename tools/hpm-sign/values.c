/* SPDX-License-Identifier: MIT */
/* hpm-sign: checks of values, shared by the command lines and the release
 * file (release_file.c); no I/O, no messages (the fuzz target links this). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hpm-sign.h"

bool parse_u64(const char *s, uint64_t *out) {
  uint64_t v = 0;
  if (!s || !*s) return false;
  for (const char *p = s; *p; p++) {
    unsigned d;
    if (*p < '0' || *p > '9') return false;
    d = (unsigned)(*p - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

bool parse_time(const char *s, uint64_t *out) {
  struct tm tm;
  const char *end;
  time_t t;
  if (parse_u64(s, out)) return true;
  memset(&tm, 0, sizeof tm);
  end = strptime(s, "%Y-%m-%d", &tm);
  if (!end) return false;
  if (*end == 'T') {
    end = strptime(end + 1, "%H:%M:%S", &tm);
    if (!end || strcmp(end, "Z") != 0) return false;
  } else if (*end) {
    return false;
  }
  if (tm.tm_year < 70) return false;
  t = timegm(&tm);
  if (t < 0) return false;
  *out = (uint64_t)t;
  return true;
}

int word_index(const char *v, const char *const *words, int n) {
  for (int i = 0; i < n; i++)
    if (!strcmp(v, words[i])) return i;
  return -1;
}

const char *const classification_words[3] = {"critical", "security", "other"};

const char *check_printable(const char *s, size_t max) {
  size_t n = strlen(s);
  if (n == 0) return "must not be empty";
  if (n > max) return max == HPM_VERSION_MAX ? "is longer than 63 characters"
                                             : "is longer than 127 characters";
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == ' ') return "must not contain spaces";
    if (c < 0x21 || c > 0x7e) return "must be printable ASCII (no spaces or control characters)";
  }
  return NULL;
}

const char *check_id(const char *s) {
  size_t n = strlen(s);
  if (n == 0) return "must not be empty";
  if (n > HPM_ID_MAX) return "is longer than 63 characters";
  if (strspn(s, HPMH_PLAIN_CHARS) != n) return "may contain only A-Z a-z 0-9 . _ - (e.g. KB5031234)";
  return NULL;
}

const char *check_node_name(const char *s) {
  switch (hpm_name_check(s, strlen(s), HPM_NAME_PAYLOAD)) {
    case HPM_NAME_OK: return NULL;
    case HPM_NAME_EMPTY: return "must not be empty";
    case HPM_NAME_TOO_LONG: return "is longer than 31 characters";
    case HPM_NAME_FIRST: return "must start with a-z or 0-9";
    case HPM_NAME_AT:
    case HPM_NAME_CHAR: break;
  }
  return "may contain only a-z 0-9 . _ -";
}

const char *hex32(const uint8_t d[HPM_DIGEST_LEN], char out[HEX_DIGEST]) {
  hpm_fmt_hex(d, HPM_DIGEST_LEN, out, HEX_DIGEST);
  return out;
}
