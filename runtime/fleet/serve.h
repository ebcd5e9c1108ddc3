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

/* `hpm fleet serve [--listen ADDR:PORT] [--refresh SECONDS]`. */
int fl_serve_cmd(hpm_ctx *ctx, int argc, char **argv);

#endif
