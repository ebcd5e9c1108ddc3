/* SPDX-License-Identifier: MIT */
/*
 * The update history: HPM_STATE_DIR/history.db, SQLite in WAL mode.  One row
 * per event (assess, install, apply, revert, stage, reboot-request,
 * mark-good, enroll, unenroll, rollback, recover) with its time (hpm_now()), result,
 * the IDs it concerned and the error text.  Rows older than the retention
 * are pruned when the database is opened and on every record.
 *
 * Every write is one transaction (synchronous=FULL), so a crash at any point
 * leaves the previous or the new state.  A database that fails to open as a
 * database or fails PRAGMA quick_check is never reused: it is renamed to
 * history.db.corrupt-<UTC time> (its -wal too), a message on stderr says so,
 * and a new, empty one is created.
 *
 * Wiring: every command that changes the host calls
 *   hist *h = hist_open(state_dir, policy.retention_days, err, sizeof err);
 *   hist_record(h, "apply", "HP-2026-05", "ok", NULL);  hist_close(h);
 * A history failure never blocks the operation itself (the caller warns).
 */
#ifndef HPM_RUNTIME_HISTORY_H
#define HPM_RUNTIME_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hist hist;

/* Opens (creating the directory's database if needed), checks, prunes.
 * NULL on failure, err says why. */
hist *hist_open(const char *state_dir, uint32_t retention_days, char *err, size_t errlen);
void hist_close(hist *h);
/* hist_open, but NULL (err "") when the state directory has no history yet. */
hist *hist_open_existing(const char *state_dir, uint32_t retention_days, char *err, size_t errlen);

/* true for the event names listed above. */
bool hist_event_valid(const char *event);

/* ids, error_text may be NULL.  Returns 0, or -1 (hist_error() says why). */
int hist_record(hist *h, const char *event, const char *ids, const char *result, const char *error_text);
/* The same with what happened in words (e.g. why a hotpatch was reverted), beside the result word. */
int hist_record_detail(hist *h, const char *event, const char *ids, const char *result, const char *error_text,
                       const char *detail);

typedef struct {
  int64_t id;
  uint64_t time;
  const char *event, *ids, *result, *error; /* valid during the callback */
  const char *command, *user;               /* who recorded it ("" before schema 2) */
  const char *detail;                       /* what happened in words ("" if none; schema 3) */
} hist_entry;

/* Entries with time >= since, oldest first.  cb returning non-zero stops. */
int hist_query(hist *h, uint64_t since, int (*cb)(const hist_entry *e, void *ctx), void *ctx);

/* The n newest entries, newest first. */
int hist_query_newest(hist *h, unsigned n, int (*cb)(const hist_entry *e, void *ctx), void *ctx);

/* The entry with that id (cb not called if there is none). */
int hist_query_id(hist *h, int64_t id, int (*cb)(const hist_entry *e, void *ctx), void *ctx);

/* The command line and user recorded with every later hist_record() of
 * this process (hpm's main sets them once). */
void hist_set_origin(const char *command, const char *user);

/* The last error text. */
const char *hist_error(const hist *h);

/* Path of the database moved aside by the last hist_open, or "" if none. */
const char *hist_moved_aside(const hist *h);

#endif
