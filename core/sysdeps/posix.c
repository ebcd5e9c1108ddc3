/* SPDX-License-Identifier: MIT */
/* The sysdeps seam for host programs: libc. */
#include <stdio.h>
#include <stdlib.h>

#include "hpm/sysdeps.h"

void *hpm_sys_calloc(size_t count, size_t size) {
  if (count == 0 || size == 0) return NULL;
  return calloc(count, size);
}

void hpm_sys_free(void *ptr) { free(ptr); }

static const char *const level_names[] = {"error", "warning", "info", "debug"};

void hpm_sys_log(hpm_log_level level, const char *msg) {
  const char *name = (unsigned)level < 4 ? level_names[level] : "log";
  fprintf(stderr, "hpm-core: %s: %s\n", name, msg);
}
