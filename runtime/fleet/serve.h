/* SPDX-License-Identifier: MIT */
/*
 * What the fleet shows (docs/fleet.md "Observability"): the status document
 * of `hpm fleet status --json` (status.c), the same snapshot as Prometheus
 * text metrics (metrics.c) and as a read-only HTML page (page.c), and
 * `hpm fleet serve`, which serves the three over HTTP (serve.c,
 * libmicrohttpd).  Everything but serve.c is pure: a snapshot in, text out.
 */
#ifndef FL_SERVE_H
#define FL_SERVE_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "fleet/fleet.h"

/* The document of `hpm fleet status --json` for snapshot s at time now
 * (docs/json.md "fleet"); NULL when out of memory. */
cJSON *fl_status_doc(const fl_snap *s, uint64_t now);

/* Prometheus text exposition format (version 0.0.4) of s at now, malloc'd
 * (NULL when out of memory).  s NULL: etcd could not be read (err says
 * why); only hpm_fleet_read_ok 0 and the read-error counter are given. */
char *fl_metrics_text(const fl_snap *s, uint64_t now, uint64_t read_errors);

/* The status page: one HTML document, every text from etcd escaped,
 * malloc'd.  s NULL: etcd could not be read; the page says err. */
char *fl_page_html(const fl_snap *s, const char *err, uint64_t now, unsigned refresh_s);

/* Text escaped for HTML element content and attribute values (& < > " '),
 * appended to a growing buffer (fl_buf). */
typedef struct {
  char *p;
  size_t len, cap;
  int oom;
} fl_buf;
void fl_buf_add(fl_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void fl_buf_html(fl_buf *b, const char *s);
/* Text escaped for a Prometheus label value (\ " and newline). */
void fl_buf_label(fl_buf *b, const char *s);
/* The buffer's text (the caller frees it), NULL when out of memory. */
char *fl_buf_take(fl_buf *b);

/* FleetLock (docs/fleet.md "FleetLock"): other OS updaters (Zincati...)
 * take and free the rollout's slots through `hpm fleet serve --fleetlock`. */
#define FL_LOCKREQ_MAX 4096
/* The request body {"client_params": {"id": ID, "group": GROUP}} ("node_uuid"
 * accepted for "id"): 0, or -1 with err saying what is wrong.  ID must be a
 * fleet host name, GROUP the protocol's [a-zA-Z0-9.-]+ (it is the fault
 * domain). */
int fl_lockreq_parse(const char *body, size_t len, char id[FL_NAME_MAX + 1], char group[FL_NAME_MAX + 1], char *err,
                     size_t n);

typedef struct {
  unsigned http;      /* 200: done; else the protocol's error status */
  const char *kind;   /* the error's kind (a small fixed set), NULL on success */
  char value[600];    /* what happened, for the client's log */
} fl_lock_answer;

/* pre-reboot (lock) or steady-state (unlock) for client id of group, with
 * the transactions hpm's own hosts use (fleet.c fl_txb_move). */
void fl_fleetlock(fl_conn *c, bool lock, const char *id, const char *group, fl_lock_answer *a);

/* `hpm fleet serve [--listen ADDR:PORT] [--refresh SECONDS] [--fleetlock]`. */
int fl_serve_cmd(hpm_ctx *ctx, int argc, char **argv);

#endif
