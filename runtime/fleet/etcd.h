/* SPDX-License-Identifier: MIT */
/*
 * A small etcd v3 client over etcd's JSON gateway (POST /v3/... on a
 * member's client URL; docs/fleet.md): ranges, puts, deletes, transactions
 * with compares, leases.  Keys and values are bytes (base64 on the wire).
 *
 * Three layers, each usable alone:
 *   - request building: fl_etcd_*_json() turn a request into the gateway's
 *     JSON text (no I/O);
 *   - the response parser: fl_etcd_parse() turns the bytes a member
 *     answered, which are untrusted, into an fl_etcd_result, bounded in
 *     size and counts (fuzzed: tests/fuzz/fuzz_etcd.c);
 *   - the transport: fl_etcd_call() and the calls above it send one request
 *     over libcurl to the cluster's members in turn.
 *
 * Failover: a request goes to the member that answered last; when it cannot
 * be reached, does not answer within the per-request timeout, answers
 * that it is unavailable (gRPC codes 4 and 14, any HTTP 5xx: no leader, no
 * quorum, request timed out) or answers bytes that do not parse, the
 * next member is tried, each at most once.  A request therefore ends within
 * about (members x timeout).  A write whose first attempt timed out after
 * it was sent may have been applied there: a result retried that way says
 * so (fl_etcd_result.uncertain), and a caller of a compare-and-swap reads
 * again before it believes it lost.
 */
#ifndef FL_ETCD_H
#define FL_ETCD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

#define FL_ETCD_MAX_ENDPOINTS 8
#define FL_ETCD_ENDPOINT_MAX 256         /* characters of one member's URL */
#define FL_ETCD_KEY_MAX 4096             /* bytes of a key or range end */
#define FL_ETCD_VALUE_MAX (256 * 1024)   /* bytes of a value */
#define FL_ETCD_RESPONSE_MAX (4u << 20)  /* bytes of one response body */
#define FL_ETCD_MAX_KVS 1024             /* key-values in one response */
#define FL_ETCD_MAX_TXN_OPS 128          /* compares, and ops per branch (etcd's default) */

/* gRPC status codes etcd's errors carry (the "code" of its error JSON). */
#define FL_ETCD_CODE_DEADLINE 4
#define FL_ETCD_CODE_NOT_FOUND 5
#define FL_ETCD_CODE_UNAVAILABLE 14

/* What a call is; it names the gateway path and the response's shape. */
typedef enum {
  FL_CALL_RANGE,
  FL_CALL_PUT,
  FL_CALL_DELETE,
  FL_CALL_TXN,
  FL_CALL_LEASE_GRANT,
  FL_CALL_LEASE_KEEPALIVE,
  FL_CALL_LEASE_REVOKE,
  FL_CALL_WATCH,
  FL_NCALLS
} fl_call;

/* "kv/range", "kv/put", ...: the path after /v3/, also used in messages. */
const char *fl_call_path(fl_call call);

/* ---- requests ------------------------------------------------------------ */

typedef enum { FL_OP_RANGE, FL_OP_PUT, FL_OP_DELETE } fl_op_kind;

/* One operation: alone (fl_etcd_range/put/delete) or in a txn branch.
 * Keys are bytes; range_end NULL with prefix false means the one key,
 * prefix true means every key starting with key (range_end computed). */
typedef struct {
  fl_op_kind kind;
  const void *key;
  size_t key_len;
  const void *range_end;
  size_t range_end_len;
  bool prefix;
  const void *value; /* put */
  size_t value_len;
  int64_t lease;     /* put: 0 for none */
  int64_t limit;     /* range: 0 for no limit */
  int64_t revision;  /* range: the store as of this revision (0: the newest) */
} fl_op;

typedef enum { FL_CMP_VERSION, FL_CMP_CREATE, FL_CMP_MOD, FL_CMP_VALUE } fl_cmp_target;
typedef enum { FL_CMP_EQUAL, FL_CMP_GREATER, FL_CMP_LESS, FL_CMP_NOT_EQUAL } fl_cmp_result;

/* key's target compared with number (version, create_revision,
 * mod_revision) or value; create_revision 0 means "the key does not exist". */
typedef struct {
  const void *key;
  size_t key_len;
  fl_cmp_target target;
  fl_cmp_result result;
  int64_t number;
  const void *value;
  size_t value_len;
} fl_cmp;

typedef struct {
  const fl_cmp *cmp;
  size_t ncmp;
  const fl_op *success;
  size_t nsuccess;
  const fl_op *failure;
  size_t nfailure;
} fl_txn;

/* The gateway's JSON of a request, as a NUL-terminated string the caller
 * frees, or NULL with st filled (a length over the limits, out of memory). */
char *fl_etcd_op_json(const fl_op *op, hpmh_status *st);
char *fl_etcd_txn_json(const fl_txn *txn, hpmh_status *st);
char *fl_etcd_lease_json(fl_call call, int64_t ttl_or_id, hpmh_status *st);

/* The range end that selects every key starting with prefix[0..len) (the
 * prefix with its last byte below 0xff incremented, shorter by the 0xff
 * bytes after it; "\0" (all keys) when every byte is 0xff or len is 0).
 * out holds len bytes (1 at least); returns the end's length. */
size_t fl_etcd_prefix_end(const void *prefix, size_t len, uint8_t *out);

/* Standard base64 with padding, NUL-terminated, in a buffer the caller
 * frees; NULL when out of memory. */
char *fl_base64_encode(const void *p, size_t n);
/* Strict decoding (standard alphabet, padding, no spaces) of text[0..len)
 * into a buffer of at most max bytes, NUL-terminated for convenience (the
 * NUL is not counted in *out_len).  Returns NULL with st filled when the
 * text is not base64 or decodes to more than max bytes. */
uint8_t *fl_base64_decode(const char *text, size_t len, size_t max, size_t *out_len, hpmh_status *st);

/* ---- responses ------------------------------------------------------------ */

typedef struct {
  uint8_t *key; /* NUL-terminated copies; key_len/value_len exclude the NUL */
  size_t key_len;
  uint8_t *value;
  size_t value_len;
  int64_t create_revision;
  int64_t mod_revision;
  int64_t version;
  int64_t lease;
} fl_kv;

typedef struct fl_etcd_result {
  fl_call call;           /* or, for a txn's responses, the op's kind as a call */
  int64_t revision;       /* the store's revision when it answered (header) */
  fl_kv *kvs;             /* range */
  size_t nkvs;
  int64_t count;          /* range: keys in the range (may exceed nkvs) */
  bool more;              /* range: more keys than returned (limit) */
  int64_t deleted;        /* delete */
  bool succeeded;         /* txn: the compares held, the success ops ran */
  struct fl_etcd_result *ops; /* txn: one result per op of the branch that ran */
  size_t nops;
  int64_t lease_id;       /* lease grant / keepalive */
  int64_t ttl;            /* lease grant / keepalive: seconds left */
  bool uncertain;         /* a write retried after a timed-out attempt (see above) */
} fl_etcd_result;

void fl_etcd_result_free(fl_etcd_result *r);

/* An etcd error, when a member answered one: its gRPC code (0: none). */
typedef struct {
  int code;
} fl_etcd_error;

/* Parse body[0..len), what a member answered to call with HTTP status
 * http_status, into r (zeroed first; free it with fl_etcd_result_free even
 * on failure).  The bytes are untrusted: over FL_ETCD_RESPONSE_MAX, not
 * JSON, a field of the wrong type, a number out of range, a key or value
 * that is not base64 or too long, too many key-values or txn responses, a
 * response of a kind that does not match the call: -1 with st filled
 * (HPMH_E_INVALID).  etcd's error JSON ({"error": ..., "code": ...}, also
 * under any HTTP status): -1 with st saying etcd's message and code
 * (HPMH_E_REFUSED) and err->code set (err may be NULL). */
int fl_etcd_parse(fl_call call, long http_status, const char *body, size_t len,
                  fl_etcd_result *r, fl_etcd_error *err, hpmh_status *st);

/* ---- the client ------------------------------------------------------------ */

typedef struct {
  char endpoints[FL_ETCD_MAX_ENDPOINTS][FL_ETCD_ENDPOINT_MAX];
  size_t nendpoints;
  long timeout_ms;  /* one attempt at one member, connection included */
  size_t current;   /* the member tried first: the last one that answered */
  int last_code;    /* the gRPC code of the last etcd error (0: none) */
  uint64_t requests; /* HTTP requests sent to members so far (each attempt counts; bench/fleet_sim.c) */
  uint64_t requests_by[FL_NCALLS]; /* the same, by call */
} fl_etcd;

/* endpoints: comma-separated http:// or https:// URLs of the members
 * ("http://10.0.0.1:2379,http://10.0.0.2:2379"), at most
 * FL_ETCD_MAX_ENDPOINTS; timeout_ms > 0.  Returns 0, or -1 with st filled. */
int fl_etcd_init(fl_etcd *c, const char *endpoints, long timeout_ms, hpmh_status *st);

/* One request (the JSON text body) to the members in turn, its answer parsed
 * into r.  Returns 0, or -1 with st saying which member(s), which request
 * and why. */
int fl_etcd_call(fl_etcd *c, fl_call call, const char *body, fl_etcd_result *r, hpmh_status *st);

int fl_etcd_range(fl_etcd *c, const fl_op *op, fl_etcd_result *r, hpmh_status *st);
int fl_etcd_put(fl_etcd *c, const fl_op *op, fl_etcd_result *r, hpmh_status *st);
int fl_etcd_delete(fl_etcd *c, const fl_op *op, fl_etcd_result *r, hpmh_status *st);
int fl_etcd_txn(fl_etcd *c, const fl_txn *txn, fl_etcd_result *r, hpmh_status *st);
/* A lease of ttl seconds: *id and the TTL etcd granted (*ttl_out, may be NULL). */
int fl_etcd_lease_grant(fl_etcd *c, int64_t ttl, int64_t *id, int64_t *ttl_out, hpmh_status *st);
/* One keepalive: *ttl_out is the TTL the lease has again; a lease that has
 * expired or was revoked is an error (HPMH_E_REFUSED, code 5). */
int fl_etcd_lease_keepalive(fl_etcd *c, int64_t id, int64_t *ttl_out, hpmh_status *st);
int fl_etcd_lease_revoke(fl_etcd *c, int64_t id, hpmh_status *st);

/* ---- watches ---------------------------------------------------------------- */

/* What a watch stream (POST /v3/watch) says in one message of
 * buf[0..len): 1 a change (events, or the watch was cancelled or its
 * revision compacted: the caller reads again either way), 0 nothing yet
 * (the creation message, progress), -1 with st when the bytes are not a
 * watch message or carry etcd's error.  Untrusted bytes (fuzz_etcd). */
int fl_etcd_watch_parse(const char *buf, size_t len, hpmh_status *st);

/* Waits until a key in [key, range_end) (range_end NULL: the one key)
 * changes at or after revision from, for at most ms milliseconds, or until
 * *cancel (may be NULL) becomes true.  1 changed, 0 timed out or
 * cancelled, -1 with st when no member could be watched (the caller waits
 * its own way then).  One HTTP request at the member that answered last. */
int fl_etcd_watch(fl_etcd *c, const char *key, const char *range_end, int64_t from, long ms,
                  const _Atomic bool *cancel, hpmh_status *st);

#endif
