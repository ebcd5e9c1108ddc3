/* SPDX-License-Identifier: MIT */
/* The update history in SQLite (history.h). */
#include "update/history.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"

#define HIST_SCHEMA_VERSION 3 /* 2: command, user; 3: detail */

/* Who recorded: this process's command line and user (hist_set_origin). */
static char origin_command[1024], origin_user[128];

void hist_set_origin(const char *command, const char *user) {
  snprintf(origin_command, sizeof origin_command, "%s", command ? command : "");
  snprintf(origin_user, sizeof origin_user, "%s", user ? user : "");
}

struct hist {
  sqlite3 *db;
  char path[400];
  uint32_t retention_days;
  char err[1024];
  char moved[480];
};

static const char *const events[] = {"assess", "install", "apply",     "revert",   "stage",   "reboot-request",
                                     "mark-good", "enroll", "unenroll", "rollback", "recover", "clean",
                                     "commit",    "health-revert", "setup",    "restore"};

bool hist_event_valid(const char *event) {
  for (size_t i = 0; i < sizeof events / sizeof events[0]; i++)
    if (!strcmp(event, events[i])) return true;
  return false;
}

const char *hist_error(const hist *h) { return h->err; }
const char *hist_moved_aside(const hist *h) { return h->moved; }

static bool is_corruption(int rc) {
  rc &= 0xff;
  return rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB;
}

/* Runs sql; on failure fills h->err and returns the SQLite code. */
static int exec(hist *h, const char *sql) {
  char *msg = NULL;
  int rc = sqlite3_exec(h->db, sql, NULL, NULL, &msg);
  if (rc != SQLITE_OK)
    snprintf(h->err, sizeof h->err, "%s: %s", h->path, msg ? msg : sqlite3_errstr(rc));
  sqlite3_free(msg);
  return rc;
}

static int prune(hist *h) {
  uint64_t now = hpm_now(), keep = (uint64_t)h->retention_days * 86400u;
  sqlite3_stmt *st;
  int rc = sqlite3_prepare_v2(h->db, "DELETE FROM events WHERE time < ?1", -1, &st, NULL);
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_int64(st, 1, now > keep ? (sqlite3_int64)(now - keep) : 0);
  rc = sqlite3_step(st);
  sqlite3_finalize(st);
  return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Opens and checks; returns SQLITE_OK, a corruption code, or another error. */
static int open_checked(hist *h) {
  int rc = sqlite3_open_v2(h->path, &h->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
  if (rc != SQLITE_OK) {
    snprintf(h->err, sizeof h->err,
             "%s: cannot open the history database (SQLite: %s); it must be a file hpm can read and write, in a "
             "directory it can write",
             h->path, h->db ? sqlite3_errmsg(h->db) : sqlite3_errstr(rc));
    return rc;
  }
  sqlite3_extended_result_codes(h->db, 1);
  sqlite3_busy_timeout(h->db, 10000);
  if ((rc = exec(h, "PRAGMA journal_mode=WAL")) != SQLITE_OK) return rc;
  if ((rc = exec(h, "PRAGMA synchronous=FULL")) != SQLITE_OK) return rc;
  /* A row is durable once its commit synced the write-ahead log (FULL).
   * Each hpm command opens the database for one or two rows: checkpointing
   * and deleting the log at every close would cost four more syncs a
   * command.  The log stays (history.db-wal beside the database) and SQLite
   * checkpoints it when it grows past its automatic limit (1000 pages). */
  int one = 1;
  sqlite3_db_config(h->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
  sqlite3_file_control(h->db, "main", SQLITE_FCNTL_PERSIST_WAL, &one);
  sqlite3_stmt *st;
  rc = sqlite3_prepare_v2(h->db, "PRAGMA quick_check", -1, &st, NULL);
  if (rc != SQLITE_OK) {
    snprintf(h->err, sizeof h->err, "%s: %s", h->path, sqlite3_errmsg(h->db));
    return rc;
  }
  bool ok = true;
  char first[200] = "";
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *r = (const char *)sqlite3_column_text(st, 0);
    if (!r || strcmp(r, "ok")) {
      if (ok) snprintf(first, sizeof first, "%s", r ? r : "?");
      ok = false;
    }
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) {
    snprintf(h->err, sizeof h->err, "%s: quick_check: %s", h->path, sqlite3_errmsg(h->db));
    return rc;
  }
  if (!ok) {
    snprintf(h->err, sizeof h->err, "%s: quick_check: %s", h->path, first);
    return SQLITE_CORRUPT;
  }
  rc = exec(h,
            "BEGIN IMMEDIATE;"
            "CREATE TABLE IF NOT EXISTS events ("
            "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
            "  time INTEGER NOT NULL,"
            "  event TEXT NOT NULL,"
            "  ids TEXT NOT NULL DEFAULT '',"
            "  result TEXT NOT NULL,"
            "  error TEXT NOT NULL DEFAULT '',"
            "  command TEXT NOT NULL DEFAULT '',"
            "  user TEXT NOT NULL DEFAULT '',"
            "  detail TEXT NOT NULL DEFAULT '');"
            "CREATE INDEX IF NOT EXISTS events_time ON events(time);"
            "COMMIT;");
  if (rc != SQLITE_OK) {
    sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
  }
  /* A database from a newer hpm (or another program) is not ours to write. */
  rc = sqlite3_prepare_v2(h->db, "PRAGMA user_version", -1, &st, NULL);
  if (rc != SQLITE_OK) return rc;
  int ver = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
  sqlite3_finalize(st);
  if (ver == 0) {
    if ((rc = exec(h, "PRAGMA user_version=3")) != SQLITE_OK) return rc;
  } else if (ver == 1 || ver == 2) { /* an older hpm's: its rows keep '' for what they did not record */
    rc = exec(h, ver == 1 ? "BEGIN IMMEDIATE;"
                            "ALTER TABLE events ADD COLUMN command TEXT NOT NULL DEFAULT '';"
                            "ALTER TABLE events ADD COLUMN user TEXT NOT NULL DEFAULT '';"
                            "ALTER TABLE events ADD COLUMN detail TEXT NOT NULL DEFAULT '';"
                            "PRAGMA user_version=3;"
                            "COMMIT;"
                          : "BEGIN IMMEDIATE;"
                            "ALTER TABLE events ADD COLUMN detail TEXT NOT NULL DEFAULT '';"
                            "PRAGMA user_version=3;"
                            "COMMIT;");
    if (rc != SQLITE_OK) {
      sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
      return rc;
    }
  } else if (ver != HIST_SCHEMA_VERSION) {
    snprintf(h->err, sizeof h->err, "%s: schema version %d, this hpm knows %d; move the file away or upgrade hpm",
             h->path, ver, HIST_SCHEMA_VERSION);
    return SQLITE_MISMATCH;
  }
  return prune(h);
}

static void move_aside(hist *h) {
  char stamp[32];
  time_t t = (time_t)hpm_now();
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
  snprintf(h->moved, sizeof h->moved, "%s.corrupt-%s", h->path, stamp);
  /* Never overwrite an earlier corrupt copy. */
  struct stat stt;
  for (int i = 1; stat(h->moved, &stt) == 0 && i < 1000; i++)
    snprintf(h->moved, sizeof h->moved, "%s.corrupt-%s.%d", h->path, stamp, i);
  char from[640], to[720];
  rename(h->path, h->moved);
  snprintf(from, sizeof from, "%s-wal", h->path);
  snprintf(to, sizeof to, "%s-wal", h->moved);
  if (rename(from, to) && errno != ENOENT) unlink(from);
  snprintf(from, sizeof from, "%s-shm", h->path);
  unlink(from);
}

hist *hist_open(const char *state_dir, uint32_t retention_days, char *err, size_t errlen) {
  hist *h = calloc(1, sizeof *h);
  if (!h) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  h->retention_days = retention_days ? retention_days : 30;
  if (strlen(state_dir) > sizeof h->path - 16) {
    snprintf(err, errlen, "%s: state directory path too long", state_dir);
    free(h);
    return NULL;
  }
  snprintf(h->path, sizeof h->path, "%s/history.db", state_dir);
  if (mkdir(state_dir, 0755) && errno != EEXIST) {
    snprintf(err, errlen, "%s: cannot create the state directory: %s; create it, or set another one (--state-dir, "
             "HPM_STATE_DIR, [paths] state_dir)", state_dir, strerror(errno));
    free(h);
    return NULL;
  }
  int rc = open_checked(h);
  if (rc != SQLITE_OK && is_corruption(rc)) {
    char why[1024];
    size_t pl = strlen(h->path);
    const char *w = h->err;
    if (!strncmp(w, h->path, pl) && w[pl] == ':' && w[pl + 1] == ' ') w += pl + 2;
    snprintf(why, sizeof why, "%s", w);
    sqlite3_close_v2(h->db);
    h->db = NULL;
    move_aside(h);
    fprintf(stderr, "hpm: %s is corrupt (%s); kept aside as %s; starting a new, empty history\n", h->path, why,
            h->moved);
    rc = open_checked(h);
  }
  if (rc != SQLITE_OK) {
    snprintf(err, errlen, "%s", h->err[0] ? h->err : sqlite3_errstr(rc));
    sqlite3_close_v2(h->db);
    free(h);
    return NULL;
  }
  return h;
}

hist *hist_open_existing(const char *state_dir, uint32_t retention_days, char *err, size_t errlen) {
  char p[4200];
  snprintf(p, sizeof p, "%s/history.db", state_dir);
  if (access(p, F_OK)) {
    if (errlen) err[0] = '\0';
    return NULL;
  }
  return hist_open(state_dir, retention_days, err, errlen);
}

void hist_close(hist *h) {
  if (!h) return;
  sqlite3_close_v2(h->db);
  free(h);
}

int hist_record(hist *h, const char *event, const char *ids, const char *result, const char *error_text) {
  return hist_record_detail(h, event, ids, result, error_text, NULL);
}

int hist_record_detail(hist *h, const char *event, const char *ids, const char *result, const char *error_text,
                       const char *detail) {
  if (!hist_event_valid(event)) {
    snprintf(h->err, sizeof h->err, "unknown history event '%s'", event);
    return -1;
  }
  if (exec(h, "BEGIN IMMEDIATE") != SQLITE_OK) return -1;
  sqlite3_stmt *st;
  int rc = sqlite3_prepare_v2(h->db,
                              "INSERT INTO events(time, event, ids, result, error, command, user, detail) "
                              "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                              -1, &st, NULL);
  if (rc == SQLITE_OK) {
    sqlite3_bind_text(st, 6, origin_command, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, origin_user, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 1, (sqlite3_int64)hpm_now());
    sqlite3_bind_text(st, 2, event, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, ids ? ids : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, result ? result : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, error_text ? error_text : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, detail ? detail : "", -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    rc = rc == SQLITE_DONE ? prune(h) : rc;
  }
  if (rc != SQLITE_OK) {
    snprintf(h->err, sizeof h->err, "%s: %s", h->path, sqlite3_errmsg(h->db));
    sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
  }
  return exec(h, "COMMIT") == SQLITE_OK ? 0 : -1;
}

static const char *text_col(sqlite3_stmt *st, int i) {
  const char *t = (const char *)sqlite3_column_text(st, i);
  return t ? t : "";
}

/* Rows of the prepared SELECT st (its first parameter bound), to cb. */
static int run_query(hist *h, sqlite3_stmt *st, int (*cb)(const hist_entry *e, void *ctx), void *ctx) {
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    hist_entry e = {
        .id = sqlite3_column_int64(st, 0),
        .time = (uint64_t)sqlite3_column_int64(st, 1),
        .event = text_col(st, 2),
        .ids = text_col(st, 3),
        .result = text_col(st, 4),
        .error = text_col(st, 5),
        .command = text_col(st, 6),
        .user = text_col(st, 7),
        .detail = text_col(st, 8),
    };
    if (cb(&e, ctx)) break;
  }
  bool bad = rc != SQLITE_ROW && rc != SQLITE_DONE;
  if (bad) snprintf(h->err, sizeof h->err, "%s: %s", h->path, sqlite3_errmsg(h->db));
  sqlite3_finalize(st);
  return bad ? -1 : 0;
}

#define HIST_COLUMNS "SELECT id, time, event, ids, result, error, command, user, detail FROM events "

int hist_query(hist *h, uint64_t since, int (*cb)(const hist_entry *e, void *ctx), void *ctx) {
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(h->db, HIST_COLUMNS "WHERE time >= ?1 ORDER BY time, id", -1, &st, NULL) != SQLITE_OK) {
    snprintf(h->err, sizeof h->err, "%s: %s", h->path, sqlite3_errmsg(h->db));
    return -1;
  }
  sqlite3_bind_int64(st, 1, since > INT64_MAX ? INT64_MAX : (sqlite3_int64)since);
  return run_query(h, st, cb, ctx);
}

int hist_query_newest(hist *h, unsigned n, int (*cb)(const hist_entry *e, void *ctx), void *ctx) {
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(h->db, HIST_COLUMNS "ORDER BY time DESC, id DESC LIMIT ?1", -1, &st, NULL) != SQLITE_OK) {
    snprintf(h->err, sizeof h->err, "%s: %s", h->path, sqlite3_errmsg(h->db));
    return -1;
  }
  sqlite3_bind_int64(st, 1, n);
  return run_query(h, st, cb, ctx);
}

int hist_query_id(hist *h, int64_t id, int (*cb)(const hist_entry *e, void *ctx), void *ctx) {
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(h->db, HIST_COLUMNS "WHERE id = ?1", -1, &st, NULL) != SQLITE_OK) {
    snprintf(h->err, sizeof h->err, "%s: %s", h->path, sqlite3_errmsg(h->db));
    return -1;
  }
  sqlite3_bind_int64(st, 1, id);
  return run_query(h, st, cb, ctx);
}
