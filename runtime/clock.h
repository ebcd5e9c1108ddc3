/* SPDX-License-Identifier: MIT */
/*
 * The host runtime's idea of "now".  Every policy, catalog-expiry, window and
 * history decision reads the time through here so tests can drive it:
 * HPM_NOW=<seconds since 1970-01-01 UTC> pins the clock (a test simulates a
 * year of releases by stepping it).  Unset, it is the real wall clock.
 */
#ifndef HPM_RUNTIME_CLOCK_H
#define HPM_RUNTIME_CLOCK_H
#include <stdint.h>

/* Seconds since 1970-01-01 UTC. */
uint64_t hpm_now(void);

#endif
