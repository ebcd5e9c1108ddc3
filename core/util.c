/* SPDX-License-Identifier: MIT */
#include "internal.h"

bool hpm_all_zero(const uint8_t *p, size_t n) {
  uint8_t acc = 0;
  for (size_t i = 0; i < n; i++) acc |= p[i];
  return acc == 0;
}

bool hpm_ct_equal(const uint8_t *a, const uint8_t *b, size_t len) {
  volatile uint8_t acc = 0;
  for (size_t i = 0; i < len; i++) acc |= (uint8_t)(a[i] ^ b[i]);
  return acc == 0;
}

size_t hpm_strnlen(const char *s, size_t max) {
  size_t n = 0;
  while (n < max && s[n]) n++;
  return n;
}

bool hpm_str_eq(const char *a, const char *b) {
  while (*a && *a == *b) {
    a++;
    b++;
  }
  return *a == *b;
}

bool hpm_has_prefix(const char *s, const char *prefix) {
  while (*prefix) {
    if (*s++ != *prefix++) return false;
  }
  return true;
}

static void append(char *buf, size_t cap, size_t *pos, const char *s) {
  if (!s) return;
  while (*s && *pos + 1 < cap) buf[(*pos)++] = *s++;
  buf[*pos] = '\0';
}

hpm_result hpm_fail(hpm_diag *diag, hpm_result r, const char *field, const char *d1,
                    const char *d2, const char *d3) {
  if (!diag) return r;
  size_t pos = 0;
  diag->result = r;
  diag->field[0] = '\0';
  append(diag->field, sizeof diag->field, &pos, field);
  pos = 0;
  diag->detail[0] = '\0';
  append(diag->detail, sizeof diag->detail, &pos, d1);
  append(diag->detail, sizeof diag->detail, &pos, d2);
  append(diag->detail, sizeof diag->detail, &pos, d3);
  return r;
}

const char *hpm_fmt_u64(uint64_t v, char buf[24]) {
  char tmp[24];
  size_t n = 0;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  for (size_t i = 0; i < n; i++) buf[i] = tmp[n - 1 - i];
  buf[n] = '\0';
  return buf;
}

const char *hpm_fmt_hex(const uint8_t *p, size_t n, char *buf, size_t cap) {
  static const char digits[] = "0123456789abcdef";
  size_t o = 0;
  for (size_t i = 0; i < n && o + 2 < cap; i++) {
    buf[o++] = digits[p[i] >> 4];
    buf[o++] = digits[p[i] & 15];
  }
  if (cap) buf[o < cap ? o : cap - 1] = '\0';
  return buf;
}

const char *hpm_path2(char *buf, size_t cap, const char *a, const char *b) {
  return hpm_path3(buf, cap, a, b, NULL);
}

const char *hpm_path3(char *buf, size_t cap, const char *a, const char *b, const char *c) {
  size_t pos = 0;
  if (!cap) return buf;
  buf[0] = '\0';
  append(buf, cap, &pos, a);
  if (b) {
    append(buf, cap, &pos, "/");
    append(buf, cap, &pos, b);
  }
  if (c) {
    append(buf, cap, &pos, "/");
    append(buf, cap, &pos, c);
  }
  return buf;
}
