/* SPDX-License-Identifier: MIT */
/*
 * `hpm fleet serve` (serve.h, docs/fleet.md "Observability"): a read-only
 * HTTP server (libmicrohttpd; no HTTP parsing of our own) answering
 *   GET /             the status page (page.c)
 *   GET /status.json  the document of `hpm fleet status --json` (status.c)
 *   GET /metrics      Prometheus text metrics (metrics.c)
 * and, with --fleetlock, the FleetLock protocol (fleetlock.c):
 *   POST /v1/pre-reboot, POST /v1/steady-state
 * Every request reads etcd afresh (one range, one revision), so the three
 * agree with `hpm fleet status` at the revision they name.  One thread
 * (libmicrohttpd's) answers requests one at a time; the main thread waits
 * for SIGINT or SIGTERM.
 */
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "cli.h"
#include "clock.h"
#include "dynlib.h"
#include "fleet/serve.h"
#include "jsonout.h"
#include "msg.h"

/* libmicrohttpd, loaded when hpm fleet serve starts (dynlib.h): no other
 * command needs it.  The MHD_* names below call through these pointers. */
static struct {
  struct MHD_Daemon *(*start_daemon)(unsigned int flags, uint16_t port, MHD_AcceptPolicyCallback apc, void *apc_cls,
                                     MHD_AccessHandlerCallback dh, void *dh_cls, ...);
  void (*stop_daemon)(struct MHD_Daemon *d);
  struct MHD_Response *(*create_response_from_buffer)(size_t size, void *buffer, enum MHD_ResponseMemoryMode mode);
  enum MHD_Result (*add_response_header)(struct MHD_Response *r, const char *header, const char *content);
  enum MHD_Result (*queue_response)(struct MHD_Connection *c, unsigned int status, struct MHD_Response *r);
  void (*destroy_response)(struct MHD_Response *r);
  const char *(*lookup_connection_value)(struct MHD_Connection *c, enum MHD_ValueKind kind, const char *key);
} mhd;
#define MHD_start_daemon (*mhd.start_daemon)
#define MHD_stop_daemon (*mhd.stop_daemon)
#define MHD_create_response_from_buffer (*mhd.create_response_from_buffer)
#define MHD_add_response_header (*mhd.add_response_header)
#define MHD_queue_response (*mhd.queue_response)
#define MHD_destroy_response (*mhd.destroy_response)
#define MHD_lookup_connection_value (*mhd.lookup_connection_value)

static int load_mhd(char *why, size_t n) {
  static const char *const names[] = {"MHD_start_daemon", "MHD_stop_daemon", "MHD_create_response_from_buffer",
                                      "MHD_add_response_header", "MHD_queue_response", "MHD_destroy_response",
                                      "MHD_lookup_connection_value"};
  _Static_assert(sizeof names / sizeof names[0] == sizeof mhd / sizeof(void (*)(void)),
                 "one name per pointer of mhd");
  void *slots[sizeof names / sizeof names[0]];
  if (hpm_dynlib_load("libmicrohttpd.so.12", "libmicrohttpd12", names, slots, sizeof names / sizeof names[0], why, n))
    return -1;
  memcpy(&mhd, slots, sizeof mhd);
  return 0;
}

#define DEFAULT_LISTEN "127.0.0.1:9479"

typedef struct {
  fl_conn conn;
  unsigned refresh_s;
  bool fleetlock;
  uint64_t read_errors;
} server;

/* A request's body as it arrives (FleetLock's JSON; other bodies are read
 * and dropped). */
typedef struct {
  char body[FL_LOCKREQ_MAX];
  size_t len;
  bool too_big;
} request;

static void completed(void *cls, struct MHD_Connection *con, void **con_cls, enum MHD_RequestTerminationCode why) {
  (void)cls;
  (void)con;
  (void)why;
  free(*con_cls);
  *con_cls = NULL;
}

static struct MHD_Response *text_response(char *text, const char *type) {
  struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
  if (!r) {
    free(text);
    return NULL;
  }
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
  MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
  MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
  MHD_add_response_header(r, "Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'");
  return r;
}

static enum MHD_Result answer(struct MHD_Connection *con, unsigned status, char *text, const char *type) {
  if (!text) {
    static char oom[] = "out of memory\n";
    struct MHD_Response *r = MHD_create_response_from_buffer(sizeof oom - 1, oom, MHD_RESPMEM_PERSISTENT);
    enum MHD_Result rc = r ? MHD_queue_response(con, MHD_HTTP_INTERNAL_SERVER_ERROR, r) : MHD_NO;
    if (r) MHD_destroy_response(r);
    return rc;
  }
  struct MHD_Response *r = text_response(text, type);
  if (!r) return MHD_NO;
  if (status == MHD_HTTP_METHOD_NOT_ALLOWED) MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
  enum MHD_Result rc = MHD_queue_response(con, status, r);
  MHD_destroy_response(r);
  return rc;
}

static char *strdupf(const char *s) {
  size_t n = strlen(s) + 1;
  char *p = malloc(n);
  if (p) memcpy(p, s, n);
  return p;
}

/* The error document `hpm fleet status --json` prints when it fails the
 * same way (jsonout.h hpm_json_error), and its exit status. */
static char *error_doc(const hpmh_status *st) {
  int rc = st->code == HPMH_E_REFUSED || st->code == HPMH_E_INVALID ? 1 : 3;
  cJSON *d = hpm_json_doc("fleet");
  cJSON *e = cJSON_AddObjectToObject(d, "error");
  hpmh_json_add_u64(e, "exit", (uint64_t)rc);
  hpmh_json_add_str(e, "kind", rc == 1 ? "refused" : "io");
  hpmh_json_add_str(e, "message", st->detail);
  char *s = d ? cJSON_PrintUnformatted(d) : NULL;
  cJSON_Delete(d);
  return s;
}

static char *json_text(cJSON *doc) {
  char *s = doc ? cJSON_PrintUnformatted(doc) : NULL;
  cJSON_Delete(doc);
  if (!s) return NULL;
  /* the same bytes `hpm fleet status --json` prints: one line */
  size_t n = strlen(s);
  char *t = realloc(s, n + 2);
  if (!t) {
    free(s);
    return NULL;
  }
  memcpy(t + n, "\n", 2);
  return t;
}

/* {"kind": ..., "value": ...}: the protocol's error, or {"value": ...} on success. */
static enum MHD_Result lock_answer(struct MHD_Connection *con, unsigned http, const char *kind, const char *value) {
  cJSON *d = cJSON_CreateObject();
  if (kind) hpmh_json_add_str(d, "kind", kind);
  hpmh_json_add_str(d, "value", value);
  return answer(con, http, json_text(d), "application/json");
}

static enum MHD_Result fleetlock(server *sv, struct MHD_Connection *con, const char *url, const char *method,
                                 const request *rq) {
  bool lock = !strcmp(url, "/v1/pre-reboot");
  if (!sv->fleetlock)
    return lock_answer(con, MHD_HTTP_NOT_FOUND, "fleetlock_off", "FleetLock is off on this server (hpm fleet serve --fleetlock)");
  if (strcmp(method, MHD_HTTP_METHOD_POST))
    return lock_answer(con, MHD_HTTP_METHOD_NOT_ALLOWED, "bad_request", "FleetLock takes POST");
  const char *hdr = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "fleet-lock-protocol");
  if (!hdr || strcmp(hdr, "true"))
    return lock_answer(con, MHD_HTTP_BAD_REQUEST, "missing_header", "the header fleet-lock-protocol: true is missing");
  char id[FL_NAME_MAX + 1], group[FL_NAME_MAX + 1], err[200];
  if (rq->too_big || fl_lockreq_parse(rq->body, rq->len, id, group, err, sizeof err))
    return lock_answer(con, MHD_HTTP_BAD_REQUEST, "bad_request", rq->too_big ? "the body is larger than 4096 bytes" : err);
  fl_lock_answer a;
  fl_fleetlock(&sv->conn, lock, id, group, &a);
  msg("fleet serve: FleetLock %s %s (group %s): %u %s", lock ? "pre-reboot" : "steady-state", id, group, a.http, a.value);
  return lock_answer(con, a.http, a.kind, a.value);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *con, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_len, void **con_cls) {
  (void)version;
  server *sv = cls;
  request *rq = *con_cls;
  if (!rq) { /* the headers came: the body, if any, follows in later calls */
    if (!(*con_cls = calloc(1, sizeof(request)))) return MHD_NO;
    return MHD_YES;
  }
  if (*upload_len) {
    if (rq->len + *upload_len > sizeof rq->body) {
      rq->too_big = true;
    } else {
      memcpy(rq->body + rq->len, upload, *upload_len);
      rq->len += *upload_len;
    }
    *upload_len = 0;
    return MHD_YES;
  }
  if (!strcmp(url, "/v1/pre-reboot") || !strcmp(url, "/v1/steady-state")) return fleetlock(sv, con, url, method, rq);
  bool page = !strcmp(url, "/"), json = !strcmp(url, "/status.json"), metrics = !strcmp(url, "/metrics");
  if (!page && !json && !metrics)
    return answer(con, MHD_HTTP_NOT_FOUND, strdupf("not found; this server answers /, /status.json and /metrics\n"),
                  "text/plain; charset=utf-8");
  if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
    return answer(con, MHD_HTTP_METHOD_NOT_ALLOWED, strdupf("read-only: only GET and HEAD\n"), "text/plain; charset=utf-8");

  fl_snap s;
  hpmh_status st;
  bool ok = !fl_read(&sv->conn, &s, &st);
  uint64_t now = hpm_now();
  if (!ok) sv->read_errors++;
  char *text;
  unsigned status = ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE;
  const char *type;
  if (page) {
    text = fl_page_html(ok ? &s : NULL, ok ? NULL : st.detail, now, sv->refresh_s);
    type = "text/html; charset=utf-8";
  } else if (json) {
    text = ok ? json_text(fl_status_doc(&s, now)) : error_doc(&st);
    type = "application/json";
  } else {
    /* a scrape succeeds even when etcd does not answer: hpm_fleet_read_ok says so */
    text = fl_metrics_text(ok ? &s : NULL, now, sv->read_errors);
    status = MHD_HTTP_OK;
    type = "text/plain; version=0.0.4; charset=utf-8";
  }
  if (ok) fl_snap_free(&s);
  return answer(con, status, text, type);
}

/* ADDR:PORT, ADDR an IPv4 or [IPv6] literal: a listening socket, or -1 and a
 * message (rc: 2 a malformed value, 3 the system refused it). */
static int listen_on(const char *spec, int *rc) {
  char host[128];
  const char *colon = strrchr(spec, ':');
  *rc = HPM_CLI_USAGE;
  if (!colon || colon == spec || strlen(spec) >= sizeof host) {
    hpm_cli_error("fleet", "--listen '%s': expected ADDRESS:PORT, e.g. 127.0.0.1:9479 or [::1]:9479", spec);
    return -1;
  }
  snprintf(host, sizeof host, "%.*s", (int)(colon - spec), spec);
  char *h = host;
  size_t hl = strlen(h);
  if (h[0] == '[' && hl > 2 && h[hl - 1] == ']') {
    h[hl - 1] = 0;
    h++;
  }
  char *end;
  unsigned long port = strtoul(colon + 1, &end, 10);
  if (!colon[1] || *end || port < 1 || port > 65535) {
    hpm_cli_error("fleet", "--listen '%s': the port must be a number 1..65535", spec);
    return -1;
  }
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                           .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE}, *ai;
  if (getaddrinfo(h, colon + 1, &hints, &ai)) {
    hpm_cli_error("fleet", "--listen '%s': '%s' is not an IPv4 or [IPv6] address (no names: give the address to bind)",
                  spec, host);
    return -1;
  }
  *rc = 3;
  int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
  int one = 1;
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) || bind(fd, ai->ai_addr, ai->ai_addrlen) ||
      listen(fd, 32)) {
    int e = errno;
    msg("fleet serve: cannot listen on %s: %s%s", spec, strerror(e),
        e == EADDRINUSE ? "; another program has that port: pick another with --listen ADDRESS:PORT"
        : e == EACCES   ? "; ports below 1024 need privileges: pick a higher one"
                        : "");
    if (fd >= 0) close(fd);
    fd = -1;
  }
  freeaddrinfo(ai);
  return fd;
}

int fl_serve_cmd(hpm_ctx *ctx, int argc, char **argv) {
  const char *cmd = "fleet";
  static const struct option lo[] = {{"listen", required_argument, 0, 'l'}, {"refresh", required_argument, 0, 'r'},
                                     {"fleetlock", no_argument, 0, 'f'}, {0, 0, 0, 0}};
  static server sv;
  const char *spec = DEFAULT_LISTEN;
  unsigned long refresh = 5;
  int o;
  while ((o = hpm_cli_next(cmd, argc, argv, "", lo)) != -1) {
    char *end;
    if (o == 'l') {
      spec = optarg;
    } else if (o == 'f') {
      sv.fleetlock = true;
    } else if (o == 'r') {
      refresh = strtoul(optarg, &end, 10);
      if (*end || !optarg[0] || refresh > 3600)
        return hpm_cli_error(cmd, "--refresh '%s': expected seconds 0..3600 (0: the page does not reload itself)", optarg);
    } else {
      return HPM_CLI_USAGE;
    }
  }
  if (hpm_cli_operands(cmd, argc, argv, 0, 0, "")) return HPM_CLI_USAGE;
  sv.refresh_s = (unsigned)refresh;
  char why[400];
  if (load_mhd(why, sizeof why)) {
    msg("fleet serve: %s", why);
    return 3;
  }
  hpmh_status st;
  if (fl_open(ctx, &sv.conn, &st)) {
    hpm_msg_status(&st);
    return 2;
  }
  int rc;
  int fd = listen_on(spec, &rc);
  if (fd < 0) return rc;
  /* SIGINT and SIGTERM end the server; blocked before libmicrohttpd's thread
   * starts, so that thread inherits the mask and the main thread takes them */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);
  struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL, handle, &sv,
                                          MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
                                          MHD_OPTION_CONNECTION_LIMIT, (unsigned)64,
                                          MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_END);
  if (!d) {
    close(fd);
    msg("fleet serve: the HTTP server (libmicrohttpd) did not start on %s", spec);
    return 3;
  }
  printf("serving the fleet's status on http://%s/ (/status.json, /metrics%s); etcd %s\n", spec,
         sv.fleetlock ? "; FleetLock /v1/pre-reboot, /v1/steady-state" : "", sv.conn.p->fleet_endpoints);
  fflush(stdout);
  int sig = 0;
  sigwait(&set, &sig);
  MHD_stop_daemon(d);
  close(fd);
  printf("stopped (%s)\n", strsignal(sig));
  return 0;
}
