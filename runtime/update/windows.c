/* SPDX-License-Identifier: MIT */
/* Maintenance windows and blackouts (windows.h). */
#include "update/windows.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The agent computes windows in two threads (its loop's assessment, the
 * fleet step's policy gate): one at a time, nested pushes allowed. */
static pthread_mutex_t tz_lock = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;

void win_tz_push(const hpm_policy *p, win_tz *s) {
  pthread_mutex_lock(&tz_lock);
  s->changed = false;
  if (!p->timezone[0]) return;
  const char *o = getenv("TZ");
  s->had = o != NULL;
  snprintf(s->old, sizeof s->old, "%s", o ? o : "");
  setenv("TZ", p->timezone, 1);
  tzset();
  s->changed = true;
}

void win_tz_pop(win_tz *s) {
  if (s->changed) {
    /* TZ unset means /etc/localtime; setting that instead of unsetting keeps
     * TZ in the environment, so a later push replaces a value rather than
     * growing the environment under another thread's getenv() */
    setenv("TZ", s->had ? s->old : ":/etc/localtime", 1);
    tzset();
    s->changed = false;
  }
  pthread_mutex_unlock(&tz_lock);
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int *y, int *m, int *d) {
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  *d = (int)(doy - (153 * mp + 2) / 5 + 1);
  *m = (int)(mp < 10 ? mp + 3 : mp - 9);
  *y = (int)(yoe + era * 400 + (*m <= 2));
}

static long gmtoff_at(int64_t t) {
  time_t tt = (time_t)t;
  struct tm tm;
  if (!localtime_r(&tt, &tm)) return 0;
  return tm.tm_gmtoff;
}

int64_t win_local_to_utc(int year, int month, int day, int minute) {
  int64_t naive = days_from_civil(year, month, day) * 86400 + (int64_t)minute * 60;
  /* The offsets in force a day either side bracket any transition near it. */
  long before = gmtoff_at(naive - 86400), after = gmtoff_at(naive + 86400);
  long cand[2] = {before, after};
  bool found = false;
  int64_t best = 0;
  for (int i = 0; i < 2; i++) {
    int64_t t = naive - cand[i];
    if (gmtoff_at(t) == cand[i] && (!found || t < best)) {
      best = t;
      found = true;
    }
  }
  /* Skipped local time: the same distance past the jump. */
  return found ? best : naive - before;
}

static void local_date_of(uint64_t t, int *y, int *m, int *d, int64_t *dayno) {
  time_t tt = (time_t)t;
  struct tm tm;
  localtime_r(&tt, &tm);
  *y = tm.tm_year + 1900;
  *m = tm.tm_mon + 1;
  *d = tm.tm_mday;
  *dayno = days_from_civil(*y, *m, *d);
}

static void blackout_span(const policy_blackout *b, int64_t *from, int64_t *until) {
  *from = win_local_to_utc(b->from_date.year, b->from_date.month, b->from_date.day, b->from_min);
  *until = win_local_to_utc(b->until_date.year, b->until_date.month, b->until_date.day, b->until_min);
}

static bool in_blackout_tz(const hpm_policy *p, int64_t t, const policy_blackout **which, int64_t *until) {
  for (size_t i = 0; i < p->nblackouts; i++) {
    int64_t f, u;
    blackout_span(&p->blackouts[i], &f, &u);
    if (f <= t && t < u) {
      if (which) *which = &p->blackouts[i];
      if (until) *until = u;
      return true;
    }
  }
  return false;
}

bool win_in_blackout(const hpm_policy *p, uint64_t t, const policy_blackout **which) {
  win_tz s;
  win_tz_push(p, &s);
  bool r = in_blackout_tz(p, (int64_t)t, which, NULL);
  win_tz_pop(&s);
  return r;
}

/* The first instant >= t inside [s, e) that no blackout covers, or -1. */
static int64_t first_clear(const hpm_policy *p, int64_t t, int64_t e) {
  for (size_t guard = 0; guard <= p->nblackouts && t < e; guard++) {
    int64_t u;
    if (!in_blackout_tz(p, t, NULL, &u)) return t;
    t = u;
  }
  return -1;
}

typedef struct {
  const hpm_policy *p;
  int64_t now;
  win_status *st;
  int64_t best;
} scan;

static void consider(scan *sc, const policy_window *w, int64_t s, int64_t e) {
  if (e <= sc->now) return;
  if (s <= sc->now && !sc->st->open) {
    int64_t bu;
    if (!in_blackout_tz(sc->p, sc->now, NULL, &bu)) {
      sc->st->open = true;
      sc->st->window = w;
      int64_t until = e;
      /* closes early if a blackout starts before the window ends */
      for (size_t i = 0; i < sc->p->nblackouts; i++) {
        int64_t f, u;
        blackout_span(&sc->p->blackouts[i], &f, &u);
        if (f > sc->now && f < until) until = f;
      }
      sc->st->open_until = (uint64_t)until;
    }
  }
  int64_t c = first_clear(sc->p, s > sc->now ? s : sc->now, e);
  if (c >= 0 && (sc->best < 0 || c < sc->best)) {
    sc->best = c;
    sc->st->next_window = w;
  }
}

int win_status_at(const hpm_policy *p, uint64_t now, win_status *out) {
  memset(out, 0, sizeof *out);
  win_tz tz;
  win_tz_push(p, &tz);
  scan sc = {p, (int64_t)now, out, -1};
  int64_t bu;
  const policy_blackout *b = NULL;
  if (in_blackout_tz(p, (int64_t)now, &b, &bu)) {
    out->blackout = b;
    out->blackout_until = (uint64_t)bu;
  }
  for (size_t i = 0; i < p->nwindows; i++) {
    const policy_window *w = &p->windows[i];
    if (!w->dated) continue;
    int64_t s = win_local_to_utc(w->date.year, w->date.month, w->date.day, w->start_min);
    consider(&sc, w, s, s + w->duration_s);
  }
  int y, m, d;
  int64_t today;
  local_date_of(now, &y, &m, &d, &today);
  /* Weekly windows last at most 24 h: yesterday's may still be open. */
  for (int64_t day = today - 1; day <= today + WIN_HORIZON_DAYS; day++) {
    if (sc.best >= 0 && day * 86400 > sc.best + 2 * 86400) break;
    int wd = (int)(((day % 7) + 7 + 4) % 7); /* 1970-01-01 was a Thursday */
    civil_from_days(day, &y, &m, &d);
    for (size_t i = 0; i < p->nwindows; i++) {
      const policy_window *w = &p->windows[i];
      if (w->dated || !(w->days & (1u << wd))) continue;
      int64_t s = win_local_to_utc(y, m, d, w->start_min);
      consider(&sc, w, s, s + w->duration_s);
    }
  }
  if (sc.best >= 0 && sc.best <= (int64_t)now + (int64_t)(WIN_HORIZON_DAYS + 1) * 86400) {
    out->next_valid = true;
    out->next_open = (uint64_t)sc.best;
  } else {
    out->next_window = NULL;
  }
  win_tz_pop(&tz);
  return 0;
}

void win_format_local(const hpm_policy *p, uint64_t t, char *out, size_t outlen) {
  win_tz tz;
  win_tz_push(p, &tz);
  time_t tt = (time_t)t;
  struct tm tm;
  if (!localtime_r(&tt, &tm) || !strftime(out, outlen, "%Y-%m-%d %H:%M %Z", &tm)) snprintf(out, outlen, "@%llu", (unsigned long long)t);
  win_tz_pop(&tz);
}
