/* SPDX-License-Identifier: MIT */
#include "service.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "msg.h"

static void notify(const char *head, const char *fmt, va_list ap) {
  char status[400], line[512];
  vsnprintf(status, sizeof status, fmt, ap);
  snprintf(line, sizeof line, "%sSTATUS=%s", head, status);
  (void)sd_notify(0, line);
}

void hpm_service_ready(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  notify("READY=1\n", fmt, ap);
  va_end(ap);
}

void hpm_service_status(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  notify("", fmt, ap);
  va_end(ap);
}

void hpm_service_reloading(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  notify("RELOADING=1\n", fmt, ap);
  va_end(ap);
}

static uint64_t wd_half_us, wd_last_us;

static uint64_t mono_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t hpm_service_watchdog_init(void) {
  uint64_t usec = 0;
  int r = sd_watchdog_enabled(0, &usec);
  if (r < 0) msg("warning: service watchdog settings not understood (WATCHDOG_USEC, WATCHDOG_PID): %s; no watchdog",
                 strerror(-r));
  wd_half_us = r > 0 ? usec / 2 : 0;
  wd_last_us = 0;
  hpm_service_watchdog();
  return r > 0 ? usec : 0;
}

void hpm_service_watchdog(void) {
  if (!wd_half_us) return;
  uint64_t now = mono_us();
  if (wd_last_us && now - wd_last_us < wd_half_us) return;
  wd_last_us = now;
  (void)sd_notify(0, "WATCHDOG=1");
}
