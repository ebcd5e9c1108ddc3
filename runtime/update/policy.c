/* SPDX-License-Identifier: MIT */
/*
 * The update policy file (policy.h).  inih does the INI syntax; this file
 * checks every section, key and value and says how to fix what it refuses.
 */
#include "update/policy.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hpm/core.h"

const char *policy_reboot_to_string(policy_reboot r) {
  switch (r) {
  case REBOOT_NEVER: return "never";
  case REBOOT_IF_REQUIRED: return "if-required";
  case REBOOT_ALWAYS: return "always";
  }
  return "?";
}

int policy_reboot_from_string(const char *s) {
  if (!strcmp(s, "never")) return REBOOT_NEVER;
  if (!strcmp(s, "if-required")) return REBOOT_IF_REQUIRED;
  if (!strcmp(s, "always")) return REBOOT_ALWAYS;
  return -1;
}

const char *policy_signers_key(hpm_kind kind) {
  switch (kind) {
  case HPM_KIND_BASELINE: return "baseline_signers";
  case HPM_KIND_HOTPATCH: return "hotpatch_signers";
  case HPM_KIND_CATALOG: return "catalog_signers";
  default: return NULL;
  }
}

void policy_defaults(hpm_policy *p) {
  memset(p, 0, sizeof *p);
  p->auto_classes = POLICY_CLASS_BIT(HPM_CLASS_CRITICAL) | POLICY_CLASS_BIT(HPM_CLASS_SECURITY);
  p->deadline_days = 30;
  p->hotpatch_outside_windows = true;
  p->assess_interval_hours = 24;
  p->assess_jitter_minutes = 60;
  p->reboot = REBOOT_IF_REQUIRED;
  p->retention_days = 30;
  p->cache_keep = 2;
  for (hpm_kind k = HPM_KIND_BASELINE; k <= HPM_KIND_CATALOG; k++) p->signers[k] = 1;
  p->health_window_s = 300;
  p->health_interval_s = 30;
  p->health_script_timeout_s = 30;
  p->health_kernel_log = true;
  snprintf(p->health_dir, sizeof p->health_dir, "%s", "/etc/hpm/health.d");
  p->health_units = true;
  p->crash_loop = 3;
  p->crash_loop_period_s = 600;
  snprintf(p->fleet_domain, sizeof p->fleet_domain, "%s", "default");
  snprintf(p->fleet_hooks, sizeof p->fleet_hooks, "%s", "/etc/hpm/hooks.d");
  p->fleet_hook_timeout_s = 600;
  p->fleet_lease_ttl_s = 15;
  p->fleet_request_timeout_ms = 2000;
  p->fleet_step_interval_s = 5;
}

uint64_t policy_next_assessment(const hpm_policy *p, uint64_t last, uint64_t seed) {
  uint64_t jitter = 0;
  if (p->assess_jitter_minutes) {
    /* splitmix64 of (seed, last): spread over hosts, stable for one host and round */
    uint64_t z = seed ^ (last * 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    jitter = z % ((uint64_t)p->assess_jitter_minutes * 60u + 1u);
  }
  return last + (uint64_t)p->assess_interval_hours * 3600u + jitter;
}

/* ---- value parsers ---- */

static int parse_u32(const char *s, uint32_t lo, uint32_t hi, uint32_t *out) {
  if (!isdigit((unsigned char)*s)) return -1;
  errno = 0;
  char *end;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end || v < lo || v > hi) return -1;
  *out = (uint32_t)v;
  return 0;
}

int policy_parse_duration(const char *s, uint32_t *seconds) {
  uint64_t total = 0;
  int parts = 0;
  char last = 0;
  while (*s) {
    if (!isdigit((unsigned char)*s)) return -1;
    uint64_t v = 0;
    while (isdigit((unsigned char)*s)) {
      v = v * 10 + (uint64_t)(*s++ - '0');
      if (v > 1000000) return -1;
    }
    uint64_t mul;
    char u = *s++;
    int rank;
    if (u == 'd') mul = 86400, rank = 4;
    else if (u == 'h') mul = 3600, rank = 3;
    else if (u == 'm') mul = 60, rank = 2;
    else if (u == 's') mul = 1, rank = 1;
    else return -1;
    /* units in decreasing order, each once: "1h30m", not "30m1h" */
    if (last && rank >= last) return -1;
    last = (char)rank;
    total += v * mul;
    parts++;
  }
  if (!parts || total == 0 || total > UINT32_MAX) return -1;
  *seconds = (uint32_t)total;
  return 0;
}

static int days_in_month(int y, int m) {
  static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
  return d[m - 1];
}

int policy_parse_date(const char *s, policy_date *d) {
  int y, m, dd, n = 0;
  if (strlen(s) != 10 || sscanf(s, "%4d-%2d-%2d%n", &y, &m, &dd, &n) != 3 || n != 10) return -1;
  if (s[4] != '-' || s[7] != '-') return -1;
  for (int i = 0; i < 10; i++)
    if (i != 4 && i != 7 && !isdigit((unsigned char)s[i])) return -1;
  if (y < 1970 || y > 9999 || m < 1 || m > 12 || dd < 1 || dd > days_in_month(y, m)) return -1;
  d->year = y;
  d->month = m;
  d->day = dd;
  return 0;
}

int policy_parse_hhmm(const char *s, int *minutes) {
  if (strlen(s) != 5 || !isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]) || s[2] != ':' ||
      !isdigit((unsigned char)s[3]) || !isdigit((unsigned char)s[4]))
    return -1;
  int h = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');
  if (h > 23 || m > 59) return -1;
  *minutes = h * 60 + m;
  return 0;
}

/* Comma-separated tokens, spaces around them allowed; calls fn per token. */
static int each_token(const char *s, int (*fn)(const char *tok, void *ctx), void *ctx) {
  char buf[256];
  if (strlen(s) >= sizeof buf) return -1;
  strcpy(buf, s);
  int n = 0;
  char *save = NULL;
  for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    while (isspace((unsigned char)*t)) t++;
    char *e = t + strlen(t);
    while (e > t && isspace((unsigned char)e[-1])) *--e = 0;
    if (!*t || fn(t, ctx)) return -1;
    n++;
  }
  return n ? 0 : -1;
}

static int class_token(const char *t, void *ctx) {
  unsigned *bits = ctx;
  if (!strcmp(t, "critical")) *bits |= POLICY_CLASS_BIT(HPM_CLASS_CRITICAL);
  else if (!strcmp(t, "security")) *bits |= POLICY_CLASS_BIT(HPM_CLASS_SECURITY);
  else if (!strcmp(t, "other")) *bits |= POLICY_CLASS_BIT(HPM_CLASS_OTHER);
  else return -1;
  return 0;
}

int policy_parse_classes(const char *s, unsigned *bits) {
  unsigned b = 0;
  if (!strcmp(s, "none")) { *bits = 0; return 0; }
  if (each_token(s, class_token, &b)) return -1;
  *bits = b;
  return 0;
}

void policy_format_classes(unsigned bits, char *out, size_t outlen) {
  static const hpm_classification order[] = {HPM_CLASS_CRITICAL, HPM_CLASS_SECURITY, HPM_CLASS_OTHER};
  size_t o = 0;
  out[0] = 0;
  for (size_t i = 0; i < 3; i++)
    if (bits & POLICY_CLASS_BIT(order[i])) {
      int n = snprintf(out + o, outlen - o, "%s%s", o ? "," : "", hpm_classification_to_string(order[i]));
      if (n < 0 || (size_t)n >= outlen - o) return;
      o += (size_t)n;
    }
  if (!o) snprintf(out, outlen, "none");
}

static const char *const day_names[7] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};

static int day_token(const char *t, void *ctx) {
  uint8_t *days = ctx;
  if (!strcasecmp(t, "daily") || !strcmp(t, "*")) { *days = 0x7f; return 0; }
  for (int i = 0; i < 7; i++)
    if (!strcasecmp(t, day_names[i])) { *days |= (uint8_t)(1u << i); return 0; }
  return -1;
}

/* "YYYY-MM-DD" (from: 00:00, until: the end of that day) or "YYYY-MM-DD HH:MM". */
static int parse_instant(const char *s, bool until, policy_date *d, int *min) {
  char date[16];
  size_t n = strlen(s);
  if (n == 10) {
    if (policy_parse_date(s, d)) return -1;
    *min = until ? 1440 : 0;
    return 0;
  }
  if (n != 16 || (s[10] != ' ' && s[10] != 'T')) return -1;
  memcpy(date, s, 10);
  date[10] = 0;
  return policy_parse_date(date, d) || policy_parse_hhmm(s + 11, min) ? -1 : 0;
}

static int64_t date_key(const policy_date *d, int min) {
  return (((int64_t)d->year * 13 + d->month) * 32 + d->day) * 1441 + min;
}

static int tz_exists(const char *tz) {
  if (!*tz || tz[0] == '/' || strstr(tz, "..") || strlen(tz) > POLICY_TZ_MAX) return 0;
  for (const char *c = tz; *c; c++)
    if (!isalnum((unsigned char)*c) && !strchr("/_+-", *c)) return 0;
  const char *dir = getenv("TZDIR");
  char path[1024];
  snprintf(path, sizeof path, "%.700s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", tz);
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* ---- the INI handler ---- */

typedef struct {
  hpm_policy *p;
  char err[700];          /* the first problem, without file and line */
  bool failed;
  char cur[160];          /* the section of the previous key */
  policy_window *win;     /* the section being read, if a window */
  policy_blackout *blk;   /* ... if a blackout */
  bool seen_start, seen_duration, seen_days, seen_date, seen_from, seen_until;
  char names[POLICY_MAX_WINDOWS + POLICY_MAX_BLACKOUTS + 4][POLICY_NAME_MAX + 40];
  size_t nnames;
  char incomplete[400];   /* a finished section that lacks a required key */
  char keys[16][32];       /* keys seen in the current section */
  size_t nkeys;
  FILE *f;
  bool new_header;        /* a [section] line was read since the last key */
} ini_ctx;

/* inih's line reader, plus: notice every [section] line, so that two
 * sections with the same name in a row are seen as two. */
static char *read_line(char *str, int num, void *stream) {
  ini_ctx *c = stream;
  char *r = fgets(str, num, c->f);
  if (r) {
    const char *s = r;
    while (*s == ' ' || *s == '\t') s++;
    if (*s == '[') {
      c->new_header = true;
      /* inih skips such a line and reads what follows as keys of the
       * previous section: say what is wrong with the line itself */
      if (!strchr(s, ']') && !c->failed) {
        size_t n = strcspn(s, "\r\n");
        snprintf(c->err, sizeof c->err, "'%.*s': a section header needs its closing ]", (int)(n > 80 ? 80 : n), s);
        c->failed = true;
      }
    }
  }
  return r;
}

/* "value   # comment" -> "value": inih strips comments after ';' itself,
 * '#' after a value is ours (a '#' that does not follow a space or tab is
 * part of the value, e.g. a URL's fragment). */
static void strip_hash_comment(char *v) {
  bool quoted = false;
  for (char *q = v; *q; q++) {
    if (*q == '"') quoted = !quoted;
    if (*q == '#' && !quoted && q > v && (q[-1] == ' ' || q[-1] == '\t')) {
      *q = 0;
      break;
    }
  }
  size_t n = strlen(v);
  while (n && (v[n - 1] == ' ' || v[n - 1] == '\t')) v[--n] = 0;
}

#define FAIL(...)                                                    \
  do {                                                               \
    if (!c->failed) snprintf(c->err, sizeof c->err, __VA_ARGS__);    \
    c->failed = true;                                                \
    return 0;                                                        \
  } while (0)

/* `window "name"` -> kind "window", name "name". */
static int split_section(const char *sec, char *kind, size_t kl, char *name, size_t nl) {
  const char *sp = strchr(sec, ' ');
  if (!sp) {
    snprintf(kind, kl, "%s", sec);
    name[0] = 0;
    return 0;
  }
  snprintf(kind, kl, "%.*s", (int)(sp - sec), sec);
  const char *q = sp + 1;
  size_t n = strlen(q);
  if (n < 3 || q[0] != '"' || q[n - 1] != '"' || n - 2 > POLICY_NAME_MAX) return -1;
  for (size_t i = 1; i < n - 1; i++)
    if (q[i] == '"' || !isprint((unsigned char)q[i])) return -1;
  snprintf(name, nl, "%.*s", (int)(n - 2), q + 1);
  return 0;
}

/* Checks that the section just finished has its required keys. */
static void finish_section(ini_ctx *c) {
  if (c->incomplete[0]) return;
  if (c->win) {
    if (!c->seen_start || !c->seen_duration || (!c->seen_days && !c->seen_date))
      snprintf(c->incomplete, sizeof c->incomplete,
               "[window \"%s\"]: needs start=HH:MM, duration= (e.g. 3h) and either days= (e.g. Mon,Wed) or date=YYYY-MM-DD",
               c->win->name);
    else if (!c->win->dated && c->win->duration_s > 86400)
      snprintf(c->incomplete, sizeof c->incomplete,
               "[window \"%s\"]: a weekly window lasts at most 24h; use several days= or a dated window", c->win->name);
  }
  if (c->blk) {
    if (!c->seen_from || !c->seen_until)
      snprintf(c->incomplete, sizeof c->incomplete,
               "[blackout \"%s\"]: needs from= and until= (YYYY-MM-DD or \"YYYY-MM-DD HH:MM\")", c->blk->name);
    else if (date_key(&c->blk->until_date, c->blk->until_min) <= date_key(&c->blk->from_date, c->blk->from_min))
      snprintf(c->incomplete, sizeof c->incomplete, "[blackout \"%s\"]: until= must be after from=", c->blk->name);
  }
}

static int begin_section(ini_ctx *c, const char *section) {
  finish_section(c);
  snprintf(c->cur, sizeof c->cur, "%s", section);
  c->win = NULL;
  c->blk = NULL;
  c->nkeys = 0;
  c->seen_start = c->seen_duration = c->seen_days = c->seen_date = c->seen_from = c->seen_until = false;
  char kind[32], name[POLICY_NAME_MAX + 1];
  if (split_section(section, kind, sizeof kind, name, sizeof name))
    FAIL("[%s]: bad section name; write [window \"NAME\"] or [blackout \"NAME\"] (NAME up to %d printable characters)",
         section, POLICY_NAME_MAX);
  if (!strcmp(kind, "update") || !strcmp(kind, "history") || !strcmp(kind, "trust") || !strcmp(kind, "paths") ||
      !strcmp(kind, "health") || !strcmp(kind, "fleet")) {
    if (name[0]) FAIL("[%s]: this section takes no name; write [%s]", section, kind);
    for (size_t i = 0; i < c->nnames; i++)
      if (!strcmp(c->names[i], kind)) FAIL("[%s] appears twice; merge the two sections", kind);
  } else if (!strcmp(kind, "window") || !strcmp(kind, "blackout")) {
    if (!name[0]) FAIL("[%s]: needs a name; write [%s \"NAME\"]", section, kind);
    char full[sizeof c->names[0]];
    snprintf(full, sizeof full, "%s %s", kind, name);
    for (size_t i = 0; i < c->nnames; i++)
      if (!strcmp(c->names[i], full)) FAIL("[%s \"%s\"] appears twice; give each %s its own name", kind, name, kind);
    if (kind[0] == 'w') {
      if (c->p->nwindows >= POLICY_MAX_WINDOWS) FAIL("more than %d windows; merge some", POLICY_MAX_WINDOWS);
      c->win = &c->p->windows[c->p->nwindows++];
      memset(c->win, 0, sizeof *c->win);
      snprintf(c->win->name, sizeof c->win->name, "%s", name);
    } else {
      if (c->p->nblackouts >= POLICY_MAX_BLACKOUTS) FAIL("more than %d blackouts; merge some", POLICY_MAX_BLACKOUTS);
      c->blk = &c->p->blackouts[c->p->nblackouts++];
      memset(c->blk, 0, sizeof *c->blk);
      snprintf(c->blk->name, sizeof c->blk->name, "%s", name);
    }
  } else if (!section[0]) {
    /* keys before any section */
  } else {
    FAIL("[%s]: unknown section; the sections are [update], [history], [trust], [paths], [health], [fleet], [window \"NAME\"] and [blackout \"NAME\"]",
         section);
  }
  if (c->nnames < sizeof c->names / sizeof c->names[0]) {
    if (name[0]) snprintf(c->names[c->nnames++], sizeof c->names[0], "%s %s", kind, name);
    else snprintf(c->names[c->nnames++], sizeof c->names[0], "%s", kind);
  }
  return 1;
}

static int bool_value(const char *v, bool *out) {
  if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1")) { *out = true; return 0; }
  if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0")) { *out = false; return 0; }
  return -1;
}

static int handler(void *user, const char *section, const char *key, const char *raw) {
  ini_ctx *c = user;
  hpm_policy *p = c->p;
  if (c->failed) return 0;
  /* value = "2026-12-20 06:00" and value = 2026-12-20 06:00 mean the same */
  char value[256], text[256]; /* inih lines are at most 200 bytes */
  snprintf(text, sizeof text, "%s", raw);
  strip_hash_comment(text);
  size_t vl = strlen(text);
  if (vl >= 2 && text[0] == '"' && text[vl - 1] == '"') snprintf(value, sizeof value, "%.*s", (int)(vl - 2), text + 1);
  else snprintf(value, sizeof value, "%s", text);
  if (c->new_header || strcmp(section, c->cur) || !c->nnames) {
    c->new_header = false;
    if (!begin_section(c, section)) return 0;
  }
  if (!section[0]) FAIL("%s: key outside any section; put it under [update], [history], [trust], [paths], [health], [fleet], [window \"NAME\"] or [blackout \"NAME\"]", key);
  for (size_t i = 0; i < c->nkeys; i++)
    if (!strcmp(c->keys[i], key))
      FAIL("[%s] %s: set twice; keep one (an indented line continues the previous value)", section, key);
  if (c->nkeys < sizeof c->keys / sizeof c->keys[0]) snprintf(c->keys[c->nkeys++], sizeof c->keys[0], "%.31s", key);

  if (!strcmp(section, "update")) {
    if (!strcmp(key, "source")) {
      if (strlen(value) > POLICY_SOURCE_MAX) FAIL("[update] source: longer than %d characters", POLICY_SOURCE_MAX);
      if (strncmp(value, "https://", 8) && strncmp(value, "http://", 7) && value[0] != '/')
        FAIL("[update] source: '%.200s': expected an http:// or https:// URL or an absolute directory path", value);
      snprintf(p->source, sizeof p->source, "%.255s", value);
    } else if (!strcmp(key, "auto_classifications")) {
      if (policy_parse_classes(value, &p->auto_classes))
        FAIL("[update] auto_classifications: '%s' is not a list of critical, security, other (or none)", value);
    } else if (!strcmp(key, "deadline_days")) {
      if (parse_u32(value, 0, 365, &p->deadline_days))
        FAIL("[update] deadline_days: '%s': expected a whole number of days, 0..365", value);
    } else if (!strcmp(key, "hotpatch_outside_windows")) {
      if (bool_value(value, &p->hotpatch_outside_windows))
        FAIL("[update] hotpatch_outside_windows: '%s': expected yes or no", value);
    } else if (!strcmp(key, "assess_interval_hours")) {
      if (parse_u32(value, 1, 720, &p->assess_interval_hours))
        FAIL("[update] assess_interval_hours: '%s': expected a whole number of hours, 1..720", value);
    } else if (!strcmp(key, "assess_jitter_minutes")) {
      if (parse_u32(value, 0, 1440, &p->assess_jitter_minutes))
        FAIL("[update] assess_jitter_minutes: '%s': expected a whole number of minutes, 0..1440", value);
    } else if (!strcmp(key, "reboot")) {
      int r = policy_reboot_from_string(value);
      if (r < 0) FAIL("[update] reboot: '%s': expected never, if-required or always", value);
      p->reboot = (policy_reboot)r;
    } else if (!strcmp(key, "cache_keep")) {
      if (parse_u32(value, 0, 1000, &p->cache_keep))
        FAIL("[update] cache_keep: '%s': expected how many downloads to keep beyond those in use, 0..1000", value);
    } else if (!strcmp(key, "timezone")) {
      if (!tz_exists(value))
        FAIL("[update] timezone: '%s' is not a time zone in the tz database (e.g. Europe/Berlin, UTC; see /usr/share/zoneinfo)",
             value);
      snprintf(p->timezone, sizeof p->timezone, "%.63s", value);
    } else {
      FAIL("[update] %s: unknown key; the keys are source, auto_classifications, deadline_days, "
           "hotpatch_outside_windows, assess_interval_hours, assess_jitter_minutes, reboot, timezone, cache_keep", key);
    }
  } else if (!strcmp(section, "history")) {
    if (!strcmp(key, "retention_days")) {
      if (parse_u32(value, 1, 3650, &p->retention_days))
        FAIL("[history] retention_days: '%s': expected a whole number of days, 1..3650", value);
    } else {
      FAIL("[history] %s: unknown key; the only key is retention_days", key);
    }
  } else if (!strcmp(section, "paths")) {
    char *dst = !strcmp(key, "esp") ? p->esp : !strcmp(key, "state_dir") ? p->state_dir
              : !strcmp(key, "trust_dir") ? p->trust_dir : !strcmp(key, "cache_dir") ? p->cache_dir : NULL;
    if (!dst) FAIL("[paths] %s: unknown key; the keys are esp, state_dir, trust_dir and cache_dir", key);
    if (value[0] != '/' || strlen(value) > POLICY_PATH_MAX)
      FAIL("[paths] %s: '%.200s': expected an absolute directory path (at most %d characters)", key, value,
           POLICY_PATH_MAX);
    snprintf(dst, POLICY_PATH_MAX + 1, "%s", value);
  } else if (!strcmp(section, "health")) {
    if (!strcmp(key, "window")) {
      if (strcmp(value, "0") && (policy_parse_duration(value, &p->health_window_s) || p->health_window_s > 7 * 86400))
        FAIL("[health] window: '%s': expected how long a hotpatch is watched after it is applied, e.g. 5m or 90s "
             "(at most 7d; 0 commits at once)", value);
      if (!strcmp(value, "0")) p->health_window_s = 0;
    } else if (!strcmp(key, "interval")) {
      if (policy_parse_duration(value, &p->health_interval_s) || p->health_interval_s > 86400)
        FAIL("[health] interval: '%s': expected how often the health checks run during a window, e.g. 30s (1s..1d)",
             value);
    } else if (!strcmp(key, "check_timeout")) {
      if (policy_parse_duration(value, &p->health_script_timeout_s) || p->health_script_timeout_s > 3600)
        FAIL("[health] check_timeout: '%s': expected how long one health check may run, e.g. 30s (1s..1h)", value);
    } else if (!strcmp(key, "checks")) {
      if (value[0] != '/' || strlen(value) > POLICY_PATH_MAX)
        FAIL("[health] checks: '%.200s': expected an absolute directory path (at most %d characters)", value,
             POLICY_PATH_MAX);
      snprintf(p->health_dir, sizeof p->health_dir, "%s", value);
    } else if (!strcmp(key, "units")) {
      if (bool_value(value, &p->health_units))
        FAIL("[health] units: '%s': expected yes or no (whether a failed or restarted systemd unit of a patched "
             "process fails the window)", value);
    } else if (!strcmp(key, "crash_loop")) {
      if (parse_u32(value, 0, 1000, &p->crash_loop))
        FAIL("[health] crash_loop: '%s': expected how many crashes of processes the agent patched revert the "
             "hotpatch, 0..1000 (0: never)", value);
    } else if (!strcmp(key, "crash_loop_period")) {
      if (policy_parse_duration(value, &p->crash_loop_period_s) || p->crash_loop_period_s > 86400)
        FAIL("[health] crash_loop_period: '%s': expected e.g. 10m (1s..1d)", value);
    } else if (!strcmp(key, "kernel_log")) {
      if (bool_value(value, &p->health_kernel_log))
        FAIL("[health] kernel_log: '%s': expected yes or no (whether a new oops, WARN or taint in the kernel log "
             "fails the window of a hotpatch with a kernel part)", value);
    } else {
      FAIL("[health] %s: unknown key; the keys are window, interval, check_timeout, checks, units, crash_loop, "
           "crash_loop_period and kernel_log", key);
    }
  } else if (!strcmp(section, "fleet")) {
    if (!strcmp(key, "endpoints")) {
      if (value[0] && (strlen(value) > POLICY_SOURCE_MAX || (strncmp(value, "http://", 7) && strncmp(value, "https://", 8))))
        FAIL("[fleet] endpoints: '%.200s': expected the etcd members' client URLs, comma-separated "
             "(http://10.0.0.1:2379,http://10.0.0.2:2379), or nothing for no fleet", value);
      snprintf(p->fleet_endpoints, sizeof p->fleet_endpoints, "%s", value);
    } else if (!strcmp(key, "host") || !strcmp(key, "domain")) {
      bool ok = (value[0] || key[0] == 'h') && strlen(value) <= 63;
      for (const char *q = value; ok && *q; q++)
        ok = (*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') || *q == '.' ||
             *q == '_' || *q == '-';
      if (!ok) FAIL("[fleet] %s: '%.200s': expected a name of 1..63 letters, digits, '.', '_' or '-'", key, value);
      snprintf(key[0] == 'h' ? p->fleet_host : p->fleet_domain, 64, "%.63s", value);
    } else if (!strcmp(key, "hooks")) {
      if (value[0] != '/' || strlen(value) > POLICY_PATH_MAX)
        FAIL("[fleet] hooks: '%.200s': expected an absolute directory path (at most %d characters)", value,
             POLICY_PATH_MAX);
      snprintf(p->fleet_hooks, sizeof p->fleet_hooks, "%s", value);
    } else if (!strcmp(key, "hook_timeout")) {
      if (policy_parse_duration(value, &p->fleet_hook_timeout_s) || p->fleet_hook_timeout_s > 86400)
        FAIL("[fleet] hook_timeout: '%s': expected how long one hook may run, e.g. 10m (1s..1d)", value);
    } else if (!strcmp(key, "lease_ttl")) {
      if (policy_parse_duration(value, &p->fleet_lease_ttl_s) || p->fleet_lease_ttl_s < 2 || p->fleet_lease_ttl_s > 3600)
        FAIL("[fleet] lease_ttl: '%s': expected how long this host counts as alive without renewing, e.g. 15s (2s..1h)",
             value);
    } else if (!strcmp(key, "request_timeout")) {
      uint32_t sec;
      if (policy_parse_duration(value, &sec) || sec > 60)
        FAIL("[fleet] request_timeout: '%s': expected how long one etcd request may take at one member, e.g. 2s "
             "(1s..60s)", value);
      p->fleet_request_timeout_ms = sec * 1000u;
    } else if (!strcmp(key, "install")) {
      if (strcmp(value, "release") && strcmp(value, "hook"))
        FAIL("[fleet] install: '%.200s': expected release (hpm installs the rollout's release from the signed catalog, "
             "as hpm install does) or hook (the install hook does it)", value);
      p->fleet_install_hook = !strcmp(value, "hook");
    } else if (!strcmp(key, "step_interval")) {
      if (policy_parse_duration(value, &p->fleet_step_interval_s) || !p->fleet_step_interval_s || p->fleet_step_interval_s > 3600)
        FAIL("[fleet] step_interval: '%s': expected how long at most the agent waits between two fleet steps, e.g. 5s (1s..1h)", value);
    } else {
      FAIL("[fleet] %s: unknown key; the keys are endpoints, host, domain, hooks, hook_timeout, lease_ttl, "
           "request_timeout, step_interval and install", key);
    }
  } else if (!strcmp(section, "trust")) {
    hpm_kind k = HPM_KIND_BASELINE;
    while (k <= HPM_KIND_CATALOG && strcmp(key, policy_signers_key(k))) k++;
    if (k > HPM_KIND_CATALOG)
      FAIL("[trust] %s: unknown key; the keys are baseline_signers, hotpatch_signers and catalog_signers", key);
    if (parse_u32(value, 1, HPM_MAX_SIGNATURES, &p->signers[k]))
      FAIL("[trust] %s: '%s': expected how many distinct trusted keys must sign a %s, 1..%u", key, value,
           hpm_kind_to_string(k), HPM_MAX_SIGNATURES);
  } else if (c->win) {
    policy_window *w = c->win;
    if (!strcmp(key, "days")) {
      uint8_t d = 0;
      if (c->seen_date) FAIL("[window \"%s\"] days: the window already has date=; a window is weekly (days=) or dated (date=), not both", w->name);
      if (each_token(value, day_token, &d))
        FAIL("[window \"%s\"] days: '%s': expected day names like Mon,Wed,Sat (or daily)", w->name, value);
      w->days = d;
      c->seen_days = true;
    } else if (!strcmp(key, "date")) {
      if (c->seen_days) FAIL("[window \"%s\"] date: the window already has days=; a window is weekly (days=) or dated (date=), not both", w->name);
      if (policy_parse_date(value, &w->date)) FAIL("[window \"%s\"] date: '%s': expected YYYY-MM-DD", w->name, value);
      w->dated = true;
      c->seen_date = true;
    } else if (!strcmp(key, "start")) {
      if (policy_parse_hhmm(value, &w->start_min)) FAIL("[window \"%s\"] start: '%s': expected HH:MM (24-hour local time)", w->name, value);
      c->seen_start = true;
    } else if (!strcmp(key, "duration")) {
      if (policy_parse_duration(value, &w->duration_s) || w->duration_s < 60 || w->duration_s > 7 * 86400)
        FAIL("[window \"%s\"] duration: '%s': expected e.g. 3h, 90m or 1h30m (1m..7d)", w->name, value);
      c->seen_duration = true;
    } else {
      FAIL("[window \"%s\"] %s: unknown key; the keys are days (or date), start, duration", w->name, key);
    }
  } else if (c->blk) {
    policy_blackout *b = c->blk;
    if (!strcmp(key, "from")) {
      if (parse_instant(value, false, &b->from_date, &b->from_min))
        FAIL("[blackout \"%s\"] from: '%s': expected YYYY-MM-DD or \"YYYY-MM-DD HH:MM\"", b->name, value);
      c->seen_from = true;
    } else if (!strcmp(key, "until")) {
      if (parse_instant(value, true, &b->until_date, &b->until_min))
        FAIL("[blackout \"%s\"] until: '%s': expected YYYY-MM-DD (through the end of that day) or \"YYYY-MM-DD HH:MM\"",
             b->name, value);
      c->seen_until = true;
    } else {
      FAIL("[blackout \"%s\"] %s: unknown key; the keys are from and until", b->name, key);
    }
  }
  if (c->incomplete[0] && !c->failed) FAIL("%s", c->incomplete);
  return 1;
}

/* One file on top of *p.  Window and blackout names already in *p (from an
 * earlier file) count as taken. */
static policy_result load_one(const char *path, hpm_policy *p, char *err, size_t errlen) {
  struct stat st;
  if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
    snprintf(err, errlen, "%s: is a directory; the policy is a file (drop-ins go in %s.d/NAME.conf)", path, path);
    return POLICY_ERROR;
  }
  FILE *f = fopen(path, "re");
  if (!f) {
    if (errno == ENOENT) return POLICY_MISSING;
    snprintf(err, errlen, "%s: cannot open: %s; make it readable or use --config/HPM_CONF to name another file", path,
             strerror(errno));
    return POLICY_ERROR;
  }
  ini_ctx *c = calloc(1, sizeof *c);
  if (!c) {
    fclose(f);
    snprintf(err, errlen, "%s: out of memory", path);
    return POLICY_ERROR;
  }
  c->p = p;
  c->f = f;
  for (size_t i = 0; i < p->nwindows; i++) snprintf(c->names[c->nnames++], sizeof c->names[0], "window %s", p->windows[i].name);
  for (size_t i = 0; i < p->nblackouts; i++)
    snprintf(c->names[c->nnames++], sizeof c->names[0], "blackout %s", p->blackouts[i].name);
  int line = ini_parse_stream(read_line, c, handler, c);
  fclose(f);
  if (!c->failed && line == 0) {
    finish_section(c);
    if (c->incomplete[0]) {
      snprintf(err, errlen, "%s: %s", path, c->incomplete);
      free(c);
      return POLICY_ERROR;
    }
    free(c);
    return POLICY_OK;
  }
  if (!c->failed)
    snprintf(c->err, sizeof c->err, "not an INI line; write [section] or key = value (comments start with ; or #)");
  if (line > 0) snprintf(err, errlen, "%s:%d: %s", path, line, c->err);
  else snprintf(err, errlen, "%s: %s", path, c->err);
  free(c);
  return POLICY_ERROR;
}

static int conf_file(const struct dirent *d) {
  size_t n = strlen(d->d_name);
  return d->d_name[0] != '.' && n > 5 && !strcmp(d->d_name + n - 5, ".conf");
}

policy_result policy_load(const char *path, hpm_policy *p, char *err, size_t errlen) {
  policy_defaults(p);
  policy_result res = load_one(path, p, err, errlen);
  if (res == POLICY_ERROR) return res;
  char dir[PATH_MAX];
  if (snprintf(dir, sizeof dir, "%s.d", path) >= (int)sizeof dir) return res;
  struct dirent **list;
  int n = scandir(dir, &list, conf_file, alphasort);
  if (n < 0) {
    if (errno == ENOENT || errno == ENOTDIR) return res;
    snprintf(err, errlen, "%s: cannot read the drop-in directory: %s", dir, strerror(errno));
    return POLICY_ERROR;
  }
  for (int i = 0; i < n; i++) {
    char f[PATH_MAX + 256];
    snprintf(f, sizeof f, "%s/%s", dir, list[i]->d_name);
    if (res != POLICY_ERROR) {
      policy_result r = load_one(f, p, err, errlen);
      if (r == POLICY_ERROR || r == POLICY_OK) res = r;
    }
    free(list[i]);
  }
  free(list);
  return res;
}
