/* SPDX-License-Identifier: MIT */
/* mbedTLS's heap outside ASan's allocator: see mbedtls_alloc.h. */
#include "mbedtls_alloc.h"

/* glibc's own allocator, which ASan does not intercept. */
void *__libc_calloc(size_t n, size_t size);
void __libc_free(void *p);

static size_t live;

void *fz_mbedtls_calloc(size_t n, size_t size) {
  void *p = __libc_calloc(n, size);
  if (p) live++;
  return p;
}

void fz_mbedtls_free(void *p) {
  if (!p) return;
  live--;
  __libc_free(p);
}

size_t fz_mbedtls_live(void) { return live; }
