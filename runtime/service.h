/* SPDX-License-Identifier: MIT */
/*
 * Talking to the service manager (systemd's notification protocol, through
 * libsystemd's sd_notify): readiness, a status line and the watchdog of
 * hpm-agent.service (Type=notify, WatchdogSec=).  Outside a unit
 * (NOTIFY_SOCKET unset) every call does nothing.
 */
#ifndef HPM_RUNTIME_SERVICE_H
#define HPM_RUNTIME_SERVICE_H

#include <stdint.h>

/* READY=1 with a STATUS= line. */
void hpm_service_ready(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* STATUS= line alone (what `systemctl status` shows under the unit). */
void hpm_service_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* RELOADING=1 with a STATUS= line; hpm_service_ready() ends the reload. */
void hpm_service_reloading(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The watchdog: hpm_service_watchdog_init() reads WatchdogSec= (through
 * WATCHDOG_USEC and WATCHDOG_PID, sd_watchdog_enabled) and returns the
 * interval in microseconds, 0 when there is none; hpm_service_watchdog()
 * sends WATCHDOG=1 when half that interval has passed since the last one,
 * so a loop calls it on every turn. */
uint64_t hpm_service_watchdog_init(void);
void hpm_service_watchdog(void);

#endif
