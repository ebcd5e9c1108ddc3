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

const char *hpm_name(const char *const *names, size_t count, long v, const char *fallback) {
  return v >= 0 && (size_t)v < count && names[v] ? names[v] : fallback;
}

hpm_text hpm_text_start(char *buf, size_t cap) {
  hpm_text t = {buf, cap, 0, cap == 0};
  if (cap) buf[0] = '\0';
  return t;
}

void hpm_text_char(hpm_text *t, char c) {
  if (t->len + 1 >= t->cap) {
    t->truncated = true;
    return;
  }
  t->buf[t->len++] = c;
  t->buf[t->len] = '\0';
}

void hpm_text_add(hpm_text *t, const char *s) {
  while (s && *s) hpm_text_char(t, *s++);
}

void hpm_text_u64(hpm_text *t, uint64_t v) {
  char d[24];
  hpm_text_add(t, hpm_fmt_u64(v, d));
}

void hpm_text_hex(hpm_text *t, const uint8_t *p, size_t n) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    if (t->len + 2 >= t->cap) {
      t->truncated = true;
      return;
    }
    hpm_text_char(t, digits[p[i] >> 4]);
    hpm_text_char(t, digits[p[i] & 15]);
  }
}

hpm_result hpm_fail(hpm_diag *diag, hpm_result r, const char *field, const char *d1,
                    const char *d2, const char *d3) {
  if (!diag) return r;
  diag->result = r;
  hpm_text t = hpm_text_start(diag->field, sizeof diag->field);
  hpm_text_add(&t, field);
  t = hpm_text_start(diag->detail, sizeof diag->detail);
  hpm_text_add(&t, d1);
  hpm_text_add(&t, d2);
  hpm_text_add(&t, d3);
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
  hpm_text t = hpm_text_start(buf, cap);
  hpm_text_hex(&t, p, n);
  return buf;
}

const char *hpm_path2(char *buf, size_t cap, const char *a, const char *b) {
  return hpm_path3(buf, cap, a, b, NULL);
}

const char *hpm_path3(char *buf, size_t cap, const char *a, const char *b, const char *c) {
  hpm_text t = hpm_text_start(buf, cap);
  hpm_text_add(&t, a);
  if (b) {
    hpm_text_char(&t, '/');
    hpm_text_add(&t, b);
  }
  if (c) {
    hpm_text_char(&t, '/');
    hpm_text_add(&t, c);
  }
  return buf;
}
