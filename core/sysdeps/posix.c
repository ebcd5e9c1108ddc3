/* SPDX-License-Identifier: MIT */
/* The sysdeps seam for host programs: libc, and OpenSSL for SHA-256. */
#include <stdio.h>
#include <stdlib.h>

#include <openssl/evp.h>

#include "hpm/sysdeps.h"

void *hpm_sys_calloc(size_t count, size_t size) {
  if (count == 0 || size == 0) return NULL;
  return calloc(count, size);
}

void hpm_sys_free(void *ptr) { free(ptr); }

int hpm_sys_sha256(const uint8_t *data, size_t len, uint8_t out[32]) {
  unsigned int n = 0;
  static const uint8_t empty;
  if (EVP_Digest(len ? data : &empty, len, out, &n, EVP_sha256(), NULL) != 1 || n != 32) return -1;
  return 0;
}

static const char *const level_names[] = {"error", "warning", "info", "debug"};

void hpm_sys_log(hpm_log_level level, const char *msg) {
  const char *name = (unsigned)level < 4 ? level_names[level] : "log";
  fprintf(stderr, "hpm-core: %s: %s\n", name, msg);
}
