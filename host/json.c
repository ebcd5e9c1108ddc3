/* SPDX-License-Identifier: MIT */
#include "json.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hpm/core.h"

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

/* ---- cJSON documents ---------------------------------------------------- */

cJSON *hpmh_json_string(const char *s) {
  size_t bad = 0;
  const unsigned char *p;
  char *clean, *o;
  cJSON *item;
  if (!s) return cJSON_CreateNull();
  for (p = (const unsigned char *)s; *p;) {
    int k = utf8_len(p);
    bad += k == 0;
    p += k ? k : 1;
  }
  if (!bad) return cJSON_CreateString(s);
  /* Each invalid byte becomes U+FFFD (3 bytes in UTF-8). */
  clean = malloc(strlen(s) + 2 * bad + 1);
  if (!clean) return NULL;
  o = clean;
  for (p = (const unsigned char *)s; *p;) {
    int k = utf8_len(p);
    if (k) {
      memcpy(o, p, (size_t)k);
      o += k;
      p += k;
    } else {
      memcpy(o, "\xef\xbf\xbd", 3);
      o += 3;
      p++;
    }
  }
  *o = '\0';
  item = cJSON_CreateString(clean);
  free(clean);
  return item;
}

cJSON *hpmh_json_u64(uint64_t v) {
  char buf[24];
  return cJSON_CreateRaw(hpm_fmt_u64(v, buf));
}

cJSON *hpmh_json_hex(const uint8_t *p, size_t n) {
  char *hex = malloc(2 * n + 1);
  cJSON *item;
  if (!hex) return NULL;
  hpm_fmt_hex(p, n, hex, 2 * n + 1);
  item = cJSON_CreateString(hex);
  free(hex);
  return item;
}

cJSON *hpmh_json_add(cJSON *obj, const char *key, cJSON *item) {
  cJSON_bool ok = 0;
  if (obj && item) ok = key ? cJSON_AddItemToObject(obj, key, item) : cJSON_AddItemToArray(obj, item);
  if (!ok) {
    cJSON_Delete(item);
    return NULL;
  }
  return item;
}

cJSON *hpmh_json_add_str(cJSON *obj, const char *key, const char *s) {
  return hpmh_json_add(obj, key, hpmh_json_string(s));
}
cJSON *hpmh_json_add_u64(cJSON *obj, const char *key, uint64_t v) {
  return hpmh_json_add(obj, key, hpmh_json_u64(v));
}
cJSON *hpmh_json_add_hex(cJSON *obj, const char *key, const uint8_t *p, size_t n) {
  return hpmh_json_add(obj, key, hpmh_json_hex(p, n));
}
cJSON *hpmh_json_add_bool(cJSON *obj, const char *key, int v) {
  return hpmh_json_add(obj, key, cJSON_CreateBool(v));
}
cJSON *hpmh_json_add_null(cJSON *obj, const char *key) {
  return hpmh_json_add(obj, key, cJSON_CreateNull());
}

int hpmh_json_print(FILE *f, const cJSON *doc) {
  char *text = doc ? cJSON_Print(doc) : NULL;
  int rc = -1;
  if (text) {
    rc = fputs(text, f) < 0 || fputc('\n', f) == EOF ? -1 : 0;
    free(text);
  }
  if (fflush(f)) rc = -1;
  return rc;
}
