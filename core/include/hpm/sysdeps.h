/* SPDX-License-Identifier: MIT */
/*
 * The platform seam of core/.  Core calls nothing outside its own hpm_
 * prefix, this header, mbedTLS and libfdt.  Each side implements these once:
 * core/sysdeps/posix.c for the host, efi/sysdeps_efi.c for the boot stage.
 *
 * memcpy, memmove, memset and memcmp are part of the seam too: GCC requires
 * a freestanding environment to provide them and emits calls to them itself.
 */
#ifndef HPM_SYSDEPS_H
#define HPM_SYSDEPS_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
  HPM_LOG_ERROR = 0,
  HPM_LOG_WARNING = 1,
  HPM_LOG_INFO = 2,
  HPM_LOG_DEBUG = 3,
} hpm_log_level;

/* Allocate n zeroed bytes; NULL on failure or when n is 0. */
void *hpm_sys_calloc(size_t count, size_t size);

/* Release memory from hpm_sys_calloc; NULL is a no-op. */
void hpm_sys_free(void *ptr);

/* SHA-256 of len bytes at data into out; 0 on success.  Each side uses its
 * fastest trustworthy implementation: the host OpenSSL's (CPU SHA
 * extensions), the boot stage mbedTLS's. */
int hpm_sys_sha256(const uint8_t *data, size_t len, uint8_t out[32]);

/* Emit one complete line of diagnostics (no trailing newline in msg). */
void hpm_sys_log(hpm_log_level level, const char *msg);

void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);

#endif
