/* SPDX-License-Identifier: MIT */
/*
 * The update policy: /etc/hpm/hpm.conf (HPM_CONF), an INI file read with
 * inih (plus drop-ins in /etc/hpm/hpm.conf.d/).  policy_defaults() gives the documented defaults (what a host without
 * the file runs); policy_load() reads a file on top of them.  Unknown
 * sections and keys, bad values, duplicate window names are errors naming the
 * file, the line, the key and the fix (docs/operations.md "Policy file").
 */
#ifndef HPM_RUNTIME_POLICY_H
#define HPM_RUNTIME_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hpm/core.h"

#define POLICY_MAX_WINDOWS 32
#define POLICY_MAX_BLACKOUTS 32
#define POLICY_NAME_MAX 63
#define POLICY_TZ_MAX 63
#define POLICY_SOURCE_MAX 511
#define POLICY_PATH_MAX 255
#define POLICY_DEFAULT_PATH "/etc/hpm/hpm.conf"

/* Bit (1u << hpm_classification) per classification. */
#define POLICY_CLASS_BIT(c) (1u << (unsigned)(c))

typedef enum { REBOOT_NEVER = 0, REBOOT_IF_REQUIRED = 1, REBOOT_ALWAYS = 2 } policy_reboot;
const char *policy_reboot_to_string(policy_reboot r);
/* "never" / "if-required" / "always"; -1 if s is none of them. */
int policy_reboot_from_string(const char *s);

/* Local (policy time zone) calendar date. */
typedef struct { int year, month, day; } policy_date;

typedef struct {
  char name[POLICY_NAME_MAX + 1];
  bool dated;            /* false: weekly on `days`; true: once on `date` */
  uint8_t days;          /* weekly: bit 0 = Sunday ... bit 6 = Saturday */
  policy_date date;      /* dated */
  int start_min;         /* local wall-clock start, minutes after midnight */
  uint32_t duration_s;   /* elapsed seconds (1 min .. 7 days; weekly: at most 24 h) */
} policy_window;

typedef struct {
  char name[POLICY_NAME_MAX + 1];
  policy_date from_date, until_date;
  int from_min, until_min; /* local wall clock; the blackout is [from, until) */
} policy_blackout;

typedef struct {
  char source[POLICY_SOURCE_MAX + 1]; /* catalog location (directory or URL); "" = none */
  unsigned auto_classes;              /* POLICY_CLASS_BIT set: installed automatically */
  uint32_t deadline_days;
  bool hotpatch_outside_windows;
  uint32_t assess_interval_hours;
  uint32_t assess_jitter_minutes;
  policy_reboot reboot;
  char timezone[POLICY_TZ_MAX + 1];   /* "" = the host's (TZ / /etc/localtime) */
  uint32_t retention_days;
  /* [trust]: distinct trusted keys that must sign an object, by hpm_kind
   * (baseline, hotpatch, catalog; 1..HPM_MAX_SIGNATURES; index 0 unused). */
  uint32_t signers[HPM_KIND_CATALOG + 1];
  /* [paths]: where hpm keeps things on this host ("" = not set here; the
   * global options and HPM_* variables take precedence, ctx.c). */
  char esp[POLICY_PATH_MAX + 1], state_dir[POLICY_PATH_MAX + 1], trust_dir[POLICY_PATH_MAX + 1];
  char cache_dir[POLICY_PATH_MAX + 1];
  uint32_t cache_keep; /* [update] cache_keep: downloads kept beyond what the host uses */
  /* [health]: the verifying window after each hotpatch apply (runtime/hotpatch/health.h) */
  uint32_t health_window_s;         /* window: 0 = committed at once */
  uint32_t health_interval_s;       /* interval: the checks run this often during a window */
  uint32_t health_script_timeout_s; /* check_timeout: one check killed after this long */
  char health_dir[POLICY_PATH_MAX + 1]; /* checks: the health-check executables */
  bool health_units;                /* units: the systemd units of patched processes count (units.h) */
  uint32_t crash_loop;              /* crash_loop: agent-patched processes dying this many times ... (0: off) */
  uint32_t crash_loop_period_s;     /* crash_loop_period: ... each within this long of its patching, and
                                       all within this long, revert the hotpatch (health.h) */
  bool health_kernel_log;           /* kernel_log: a new oops/WARN/taint fails a window with a kernel part */
  /* [fleet]: this host in a cluster coordinated through etcd (docs/fleet.md) */
  char fleet_endpoints[POLICY_SOURCE_MAX + 1]; /* endpoints: the etcd members' client URLs ("" = no fleet) */
  char fleet_host[64];                /* host: this host's name in the fleet ("" = the host name) */
  char fleet_domain[64];              /* domain: its fault domain (rack, zone, chassis) */
  char fleet_hooks[POLICY_PATH_MAX + 1]; /* hooks: drain, undrain, gate, install, reboot, verify */
  uint32_t fleet_hook_timeout_s;      /* hook_timeout: one hook killed after this long */
  uint32_t fleet_lease_ttl_s;         /* lease_ttl: this host's liveness lease */
  uint32_t fleet_request_timeout_ms;  /* request_timeout: one etcd request at one member */
  uint32_t fleet_step_interval_s;     /* step_interval: the agent's fleet steps, this far apart */
  bool fleet_install_hook;            /* install = hook: the install hook does the work (default: release) */
  size_t nwindows, nblackouts;
  policy_window windows[POLICY_MAX_WINDOWS];
  policy_blackout blackouts[POLICY_MAX_BLACKOUTS];
} hpm_policy;

/* The [trust] key of a kind's threshold ("hotpatch_signers"); NULL for a
 * kind without one. */
const char *policy_signers_key(hpm_kind kind);

/* The documented defaults. */
void policy_defaults(hpm_policy *p);

typedef enum { POLICY_OK = 0, POLICY_MISSING = 1, POLICY_ERROR = 2 } policy_result;

/* Defaults, then `path` on top, then the drop-ins `path`.d/NAME.conf in
 * lexical order (a key set again in a later file replaces the earlier value;
 * window and blackout names stay unique across all files).  POLICY_MISSING:
 * neither the file nor a drop-in exists (*p holds the defaults; not an
 * error).  POLICY_ERROR: err says "FILE:LINE: [section] key: problem; fix"
 * (*p is unspecified); a path that is a directory is an error. */
policy_result policy_load(const char *path, hpm_policy *p, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* When the agent's next periodic assessment is due after one at `last`:
 * last + assess_interval_hours + a jitter in [0, assess_jitter_minutes]
 * derived from `seed` (e.g. a hash of /etc/machine-id, so hosts spread out
 * but each one is predictable). */
uint64_t policy_next_assessment(const hpm_policy *p, uint64_t last, uint64_t seed);

/* Parsers shared with the command line (return 0 on success). */
int policy_parse_duration(const char *s, uint32_t *seconds);  /* "3h", "90m", "1h30m", "2d", "45s" */
int policy_parse_date(const char *s, policy_date *d);         /* YYYY-MM-DD */
int policy_parse_hhmm(const char *s, int *minutes);           /* HH:MM, 00:00..23:59 */
int policy_parse_classes(const char *s, unsigned *bits);      /* "critical,security" */
/* Writes "critical,security" (or "none") for a class bit set. */
void policy_format_classes(unsigned bits, char *out, size_t outlen);

#endif
