/* SPDX-License-Identifier: MIT */
/*
 * The few <string.h> functions core/, mbedTLS and libfdt need in the UEFI
 * build.  Compiled with -fno-builtin -fno-tree-loop-distribute-patterns:
 * otherwise GCC recognises these loops and turns them back into calls to
 * the very functions being defined.
 *
 * memcpy and memset are NOT here: gnu-efi's libefi.a defines both in init.o,
 * the object that also holds InitializeLib, so every gnu-efi application
 * links them already and a second definition would be a duplicate symbol.
 */
#include <stdint.h>
#include <string.h>

void *memmove(void *dst, const void *src, size_t n) {
  unsigned char *d = dst;
  const unsigned char *s = src;
  if (d == s || n == 0)
    return dst;
  if ((uintptr_t)d < (uintptr_t)s || (uintptr_t)d >= (uintptr_t)s + n) {
    while (n--)
      *d++ = *s++;
  } else {
    d += n;
    s += n;
    while (n--)
      *--d = *--s;
  }
  return dst;
}

int memcmp(const void *a, const void *b, size_t n) {
  const unsigned char *p = a, *q = b;
  for (; n; n--, p++, q++) {
    if (*p != *q)
      return *p < *q ? -1 : 1;
  }
  return 0;
}

void *memchr(const void *s, int c, size_t n) {
  const unsigned char *p = s;
  for (; n; n--, p++) {
    if (*p == (unsigned char)c)
      return (void *)(uintptr_t)p;
  }
  return NULL;
}

size_t strlen(const char *s) {
  size_t n = 0;
  while (s[n])
    n++;
  return n;
}

size_t strnlen(const char *s, size_t max) {
  size_t n = 0;
  while (n < max && s[n])
    n++;
  return n;
}

char *strchr(const char *s, int c) {
  for (;; s++) {
    if (*s == (char)c)
      return (char *)(uintptr_t)s;
    if (!*s)
      return NULL;
  }
}

char *strrchr(const char *s, int c) {
  const char *last = NULL;
  for (;; s++) {
    if (*s == (char)c)
      last = s;
    if (!*s)
      return (char *)(uintptr_t)last;
  }
}

int strcmp(const char *a, const char *b) {
  const unsigned char *p = (const unsigned char *)a, *q = (const unsigned char *)b;
  while (*p && *p == *q) {
    p++;
    q++;
  }
  return (*p > *q) - (*p < *q);
}
