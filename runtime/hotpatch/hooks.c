/* SPDX-License-Identifier: MIT */
/* The hotpatch room's test hooks: see hooks.h. */
#include "hotpatch/hooks.h"

#include <stdlib.h>

const hp_test_hooks *hp_hooks(void) {
  static hp_test_hooks h;
  static bool read;
  if (read) return &h;
  const char *v;
  h.fault_after = (v = getenv("HPM_TEST_FAULT_AFTER")) ? atoi(v) : -1;
  h.delay_ms = (v = getenv("HPM_TEST_DELAY_MS")) ? (unsigned)atoi(v) : 0;
  h.syscall_delay = (v = getenv("HPM_TEST_SYSCALL_DELAY_US")) != NULL;
  h.syscall_delay_us = v && atoi(v) > 0 ? (unsigned)atoi(v) : 0;
  h.exit_at = getenv("HPM_TEST_EXIT_AT");
  h.timing = getenv("HPM_TIMING") != NULL;
  h.workers = (v = getenv("HPM_WORKERS")) ? (atoi(v) < 1 ? 1 : atoi(v)) : 0;
  h.retry_limit_ms = (v = getenv("HPM_TEST_RETRY_LIMIT_MS")) && atoi(v) > 0 ? (unsigned)atoi(v) : 0;
  read = true;
  return &h;
}
