/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of runtime/fleet/etcd.c without a cluster: base64, the JSON of
 * requests (as etcd 3.4's gateway wants it), and the response parser on
 * real answers of etcd 3.4 (captured from a 3-member cluster; the same
 * answers seed tests/fuzz/corpus-etcd) and on answers it must refuse.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fleet/etcd.h"

/* ---- base64 ---------------------------------------------------------------- */

static void test_base64_vectors(void **state) {
  (void)state;
  static const char *const in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
  static const char *const out[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
  for (size_t i = 0; i < 7; i++) {
    char *e = fl_base64_encode(in[i], strlen(in[i]));
    assert_string_equal(e, out[i]);
    free(e);
    size_t n;
    hpmh_status st;
    uint8_t *d = fl_base64_decode(out[i], strlen(out[i]), 64, &n, &st);
    assert_non_null(d);
    assert_int_equal(n, strlen(in[i]));
    assert_memory_equal(d, in[i], n);
    assert_int_equal(d[n], 0);
    free(d);
  }
  char *e = fl_base64_encode("\x00\xff\xfe", 3);
  assert_string_equal(e, "AP/+");
  free(e);
}

static void test_base64_round_trip(void **state) {
  (void)state;
  uint8_t buf[70];
  for (size_t i = 0; i < sizeof buf; i++) buf[i] = (uint8_t)(i * 37 + 11);
  for (size_t n = 0; n <= sizeof buf; n++) {
    char *e = fl_base64_encode(buf, n);
    size_t m;
    hpmh_status st;
    uint8_t *d = fl_base64_decode(e, strlen(e), sizeof buf, &m, &st);
    assert_non_null(d);
    assert_int_equal(m, n);
    assert_memory_equal(d, buf, n);
    free(d);
    free(e);
  }
}

static void expect_bad_base64(const char *t, size_t max, const char *why) {
  size_t n = 99;
  hpmh_status st;
  uint8_t *d = fl_base64_decode(t, strlen(t), max, &n, &st);
  if (d) fail_msg("'%s' decoded", t);
  assert_int_equal(st.code, HPMH_E_INVALID);
  if (!strstr(st.detail, why)) fail_msg("'%s': '%s' does not say '%s'", t, st.detail, why);
}

static void test_base64_refusals(void **state) {
  (void)state;
  expect_bad_base64("Zm9", 64, "not a multiple of 4");
  expect_bad_base64("Zm9v\n", 64, "not a multiple of 4");
  expect_bad_base64("Zm 9", 64, "invalid character at offset 2");
  expect_bad_base64("Zg==Zm9v", 64, "invalid character at offset 2");
  expect_bad_base64("=Zm9", 64, "invalid character at offset 0");
  expect_bad_base64("Z===", 64, "invalid character at offset 1");
  expect_bad_base64("Zm-_", 64, "invalid character");
  expect_bad_base64("Zh==", 64, "non-zero padding bits");
  expect_bad_base64("Zm9=", 64, "non-zero padding bits");
  expect_bad_base64("Zm9vYmFy", 5, "6 bytes, more than the 5 allowed");
}

/* ---- requests ---------------------------------------------------------------- */

static void test_prefix_end(void **state) {
  (void)state;
  uint8_t out[8];
  size_t n = fl_etcd_prefix_end("fleet/", 6, out);
  assert_int_equal(n, 6);
  assert_memory_equal(out, "fleet0", 6);
  n = fl_etcd_prefix_end("a\xff\xff", 3, out);
  assert_int_equal(n, 1);
  assert_int_equal(out[0], 'b');
  n = fl_etcd_prefix_end("\xff\xff", 2, out);
  assert_int_equal(n, 1);
  assert_int_equal(out[0], 0);
  n = fl_etcd_prefix_end("", 0, out);
  assert_int_equal(n, 1);
  assert_int_equal(out[0], 0);
}

static void expect_json(char *got, const char *want) {
  assert_non_null(got);
  assert_string_equal(got, want);
  free(got);
}

static void test_op_json(void **state) {
  (void)state;
  hpmh_status st;
  fl_op put = {.kind = FL_OP_PUT, .key = "fleet/a", .key_len = 7, .value = "one", .value_len = 3, .lease = 7};
  expect_json(fl_etcd_op_json(&put, &st), "{\"key\":\"ZmxlZXQvYQ==\",\"value\":\"b25l\",\"lease\":\"7\"}");
  put.lease = 0;
  put.value_len = 0;
  expect_json(fl_etcd_op_json(&put, &st), "{\"key\":\"ZmxlZXQvYQ==\",\"value\":\"\"}");
  fl_op range = {.kind = FL_OP_RANGE, .key = "fleet/", .key_len = 6, .prefix = true, .limit = 10};
  expect_json(fl_etcd_op_json(&range, &st), "{\"key\":\"ZmxlZXQv\",\"range_end\":\"ZmxlZXQw\",\"limit\":\"10\"}");
  fl_op del = {.kind = FL_OP_DELETE, .key = "a", .key_len = 1, .range_end = "c", .range_end_len = 1};
  expect_json(fl_etcd_op_json(&del, &st), "{\"key\":\"YQ==\",\"range_end\":\"Yw==\"}");
  fl_op bin = {.kind = FL_OP_RANGE, .key = "\x00\xff", .key_len = 2};
  expect_json(fl_etcd_op_json(&bin, &st), "{\"key\":\"AP8=\"}");

  fl_op empty = {.kind = FL_OP_RANGE, .key = "", .key_len = 0};
  assert_null(fl_etcd_op_json(&empty, &st));
  assert_non_null(strstr(st.detail, "needs a key"));
  static char big[FL_ETCD_KEY_MAX + 1];
  memset(big, 'k', sizeof big);
  fl_op huge = {.kind = FL_OP_RANGE, .key = big, .key_len = sizeof big};
  assert_null(fl_etcd_op_json(&huge, &st));
  assert_non_null(strstr(st.detail, "key of 4097 bytes, more than the 4096 allowed"));
  huge.key_len = FL_ETCD_KEY_MAX;
  char *ok = fl_etcd_op_json(&huge, &st);
  assert_non_null(ok);
  free(ok);
}

static void test_txn_json(void **state) {
  (void)state;
  hpmh_status st;
  fl_cmp cmp[3] = {
      {.key = "fleet/lock", .key_len = 10, .target = FL_CMP_MOD, .result = FL_CMP_EQUAL, .number = 42},
      {.key = "fleet/new", .key_len = 9, .target = FL_CMP_CREATE, .result = FL_CMP_EQUAL, .number = 0},
      {.key = "fleet/v", .key_len = 7, .target = FL_CMP_VALUE, .result = FL_CMP_NOT_EQUAL, .value = "x", .value_len = 1},
  };
  fl_op put = {.kind = FL_OP_PUT, .key = "fleet/lock", .key_len = 10, .value = "me", .value_len = 2};
  fl_op get = {.kind = FL_OP_RANGE, .key = "fleet/lock", .key_len = 10};
  fl_op del = {.kind = FL_OP_DELETE, .key = "fleet/v", .key_len = 7};
  fl_op succ[2] = {put, del};
  fl_txn txn = {.cmp = cmp, .ncmp = 3, .success = succ, .nsuccess = 2, .failure = &get, .nfailure = 1};
  expect_json(fl_etcd_txn_json(&txn, &st),
              "{\"compare\":["
              "{\"key\":\"ZmxlZXQvbG9jaw==\",\"target\":\"MOD\",\"result\":\"EQUAL\",\"mod_revision\":\"42\"},"
              "{\"key\":\"ZmxlZXQvbmV3\",\"target\":\"CREATE\",\"result\":\"EQUAL\",\"create_revision\":\"0\"},"
              "{\"key\":\"ZmxlZXQvdg==\",\"target\":\"VALUE\",\"result\":\"NOT_EQUAL\",\"value\":\"eA==\"}],"
              "\"success\":[{\"request_put\":{\"key\":\"ZmxlZXQvbG9jaw==\",\"value\":\"bWU=\"}},"
              "{\"request_delete_range\":{\"key\":\"ZmxlZXQvdg==\"}}],"
              "\"failure\":[{\"request_range\":{\"key\":\"ZmxlZXQvbG9jaw==\"}}]}");
  fl_txn bare = {0};
  expect_json(fl_etcd_txn_json(&bare, &st), "{}");

  static fl_op many[FL_ETCD_MAX_TXN_OPS + 1];
  for (size_t i = 0; i < FL_ETCD_MAX_TXN_OPS + 1; i++) many[i] = get;
  fl_txn big = {.success = many, .nsuccess = FL_ETCD_MAX_TXN_OPS + 1};
  assert_null(fl_etcd_txn_json(&big, &st));
  assert_non_null(strstr(st.detail, "129 success ops, more than the 128 allowed"));
  fl_cmp nokey = {.key = "", .key_len = 0};
  fl_txn t2 = {.cmp = &nokey, .ncmp = 1};
  assert_null(fl_etcd_txn_json(&t2, &st));
  assert_non_null(strstr(st.detail, "compare 0 has no key"));
}

static void test_lease_json(void **state) {
  (void)state;
  hpmh_status st;
  expect_json(fl_etcd_lease_json(FL_CALL_LEASE_GRANT, 5, &st), "{\"TTL\":\"5\"}");
  expect_json(fl_etcd_lease_json(FL_CALL_LEASE_KEEPALIVE, 4249606141061628687, &st), "{\"ID\":\"4249606141061628687\"}");
  expect_json(fl_etcd_lease_json(FL_CALL_LEASE_REVOKE, 12, &st), "{\"ID\":\"12\"}");
  assert_null(fl_etcd_lease_json(FL_CALL_LEASE_GRANT, 0, &st));
  assert_null(fl_etcd_lease_json(FL_CALL_PUT, 1, &st));
}

/* ---- responses: real answers of etcd 3.4 ---------------------------------------- */

#define HDR(rev) "{\"header\":{\"cluster_id\":\"9245378883085873263\",\"member_id\":\"2210786314759551737\",\"revision\":\"" rev "\",\"raft_term\":\"2\"}"

static const char RANGE[] = HDR("3") ",\"kvs\":[{\"key\":\"ZmxlZXQvYQ==\",\"create_revision\":\"2\",\"mod_revision\":\"2\",\"version\":\"1\",\"value\":\"b25l\"},"
    "{\"key\":\"ZmxlZXQvYg==\",\"create_revision\":\"3\",\"mod_revision\":\"3\",\"version\":\"1\",\"value\":\"AMO/IHR3bw==\"}],\"count\":\"2\"}";
static const char RANGE_LIMIT[] = HDR("3") ",\"kvs\":[{\"key\":\"ZmxlZXQvYQ==\",\"create_revision\":\"2\",\"mod_revision\":\"2\",\"version\":\"1\",\"value\":\"b25l\"}],\"more\":true,\"count\":\"2\"}";
static const char TXN_OK[] = HDR("4") ",\"succeeded\":true,\"responses\":[{\"response_put\":{\"header\":{\"revision\":\"4\"}}},"
    "{\"response_range\":{\"header\":{\"revision\":\"4\"},\"kvs\":[{\"key\":\"ZmxlZXQvYQ==\",\"create_revision\":\"2\",\"mod_revision\":\"4\",\"version\":\"2\",\"value\":\"dHdv\"}],\"count\":\"1\"}}]}";
static const char TXN_LOST[] = HDR("4") ",\"responses\":[{\"response_range\":{\"header\":{\"revision\":\"4\"},\"kvs\":[{\"key\":\"ZmxlZXQvYQ==\",\"create_revision\":\"2\",\"mod_revision\":\"4\",\"version\":\"2\",\"value\":\"dHdv\"}],\"count\":\"1\"}}]}";
static const char DELETE[] = HDR("5") ",\"deleted\":\"2\"}";
static const char GRANT[] = HDR("5") ",\"ID\":\"4249606141061628687\",\"TTL\":\"5\"}";
static const char KEEPALIVE[] = "{\"result\":" HDR("5") ",\"ID\":\"4249606141061628687\",\"TTL\":\"5\"}}\n";
static const char KEEPALIVE_GONE[] = "{\"result\":" HDR("5") ",\"ID\":\"4249606141061628687\"}}\n";
static const char LEASE_GONE[] = "{\"error\":\"etcdserver: requested lease not found\",\"message\":\"etcdserver: requested lease not found\",\"code\":5}";
static const char NO_QUORUM[] = "{\"error\":\"context deadline exceeded\",\"message\":\"context deadline exceeded\",\"code\":2}";

static void parse_ok(fl_call call, const char *body, fl_etcd_result *r) {
  hpmh_status st;
  fl_etcd_error err;
  if (fl_etcd_parse(call, 200, body, strlen(body), r, &err, &st)) fail_msg("refused: %s", st.detail);
  assert_int_equal(err.code, 0);
  assert_int_equal(r->call, call);
}

static void test_parse_range(void **state) {
  (void)state;
  fl_etcd_result r;
  parse_ok(FL_CALL_RANGE, RANGE, &r);
  assert_int_equal(r.revision, 3);
  assert_int_equal(r.count, 2);
  assert_false(r.more);
  assert_int_equal(r.nkvs, 2);
  assert_int_equal(r.kvs[0].key_len, 7);
  assert_string_equal((char *)r.kvs[0].key, "fleet/a");
  assert_string_equal((char *)r.kvs[0].value, "one");
  assert_int_equal(r.kvs[0].create_revision, 2);
  assert_int_equal(r.kvs[1].mod_revision, 3);
  assert_int_equal(r.kvs[1].version, 1);
  assert_int_equal(r.kvs[1].lease, 0);
  assert_int_equal(r.kvs[1].value_len, 7);
  assert_memory_equal(r.kvs[1].value, "\x00\xc3\xbf two", 7);
  fl_etcd_result_free(&r);
  assert_null(r.kvs);

  parse_ok(FL_CALL_RANGE, RANGE_LIMIT, &r);
  assert_true(r.more);
  assert_int_equal(r.count, 2);
  assert_int_equal(r.nkvs, 1);
  fl_etcd_result_free(&r);

  /* An empty range: etcd leaves out kvs and count. */
  parse_ok(FL_CALL_RANGE, HDR("3") "}", &r);
  assert_int_equal(r.nkvs, 0);
  assert_int_equal(r.count, 0);
  fl_etcd_result_free(&r);
}

static void test_parse_txn(void **state) {
  (void)state;
  fl_etcd_result r;
  parse_ok(FL_CALL_TXN, TXN_OK, &r);
  assert_true(r.succeeded);
  assert_int_equal(r.revision, 4);
  assert_int_equal(r.nops, 2);
  assert_int_equal(r.ops[0].call, FL_CALL_PUT);
  assert_int_equal(r.ops[0].revision, 4);
  assert_int_equal(r.ops[1].call, FL_CALL_RANGE);
  assert_int_equal(r.ops[1].nkvs, 1);
  assert_string_equal((char *)r.ops[1].kvs[0].value, "two");
  assert_int_equal(r.ops[1].kvs[0].mod_revision, 4);
  fl_etcd_result_free(&r);

  parse_ok(FL_CALL_TXN, TXN_LOST, &r);
  assert_false(r.succeeded);
  assert_int_equal(r.nops, 1);
  assert_int_equal(r.ops[0].call, FL_CALL_RANGE);
  fl_etcd_result_free(&r);
}

static void test_parse_delete_and_leases(void **state) {
  (void)state;
  fl_etcd_result r;
  parse_ok(FL_CALL_DELETE, DELETE, &r);
  assert_int_equal(r.deleted, 2);
  assert_int_equal(r.revision, 5);
  fl_etcd_result_free(&r);
  parse_ok(FL_CALL_LEASE_GRANT, GRANT, &r);
  assert_int_equal(r.lease_id, 4249606141061628687);
  assert_int_equal(r.ttl, 5);
  fl_etcd_result_free(&r);
  parse_ok(FL_CALL_LEASE_KEEPALIVE, KEEPALIVE, &r);
  assert_int_equal(r.lease_id, 4249606141061628687);
  assert_int_equal(r.ttl, 5);
  fl_etcd_result_free(&r);
  /* An expired lease: the answer has no TTL (fl_etcd_lease_keepalive refuses it). */
  parse_ok(FL_CALL_LEASE_KEEPALIVE, KEEPALIVE_GONE, &r);
  assert_int_equal(r.ttl, 0);
  fl_etcd_result_free(&r);
  parse_ok(FL_CALL_LEASE_REVOKE, HDR("5") "}", &r);
  fl_etcd_result_free(&r);
  parse_ok(FL_CALL_PUT, HDR("2") "}", &r);
  assert_int_equal(r.revision, 2);
  fl_etcd_result_free(&r);
}

static void test_parse_etcd_errors(void **state) {
  (void)state;
  fl_etcd_result r;
  hpmh_status st;
  fl_etcd_error err;
  assert_int_equal(fl_etcd_parse(FL_CALL_LEASE_REVOKE, 404, LEASE_GONE, strlen(LEASE_GONE), &r, &err, &st), -1);
  assert_int_equal(st.code, HPMH_E_REFUSED);
  assert_int_equal(err.code, 5);
  assert_string_equal(st.detail, "etcdserver: requested lease not found (code 5)");
  fl_etcd_result_free(&r);
  assert_int_equal(fl_etcd_parse(FL_CALL_PUT, 500, NO_QUORUM, strlen(NO_QUORUM), &r, &err, &st), -1);
  assert_int_equal(err.code, 2);
  assert_string_equal(st.detail, "context deadline exceeded (code 2)");
  fl_etcd_result_free(&r);
  /* A stream's error (keepalive). */
  static const char STREAM_ERR[] = "{\"error\":{\"grpc_code\":14,\"http_code\":503,\"message\":\"etcdserver: no leader\"}}";
  assert_int_equal(fl_etcd_parse(FL_CALL_LEASE_KEEPALIVE, 200, STREAM_ERR, strlen(STREAM_ERR), &r, &err, &st), -1);
  assert_int_equal(err.code, 14);
  assert_string_equal(st.detail, "etcdserver: no leader (code 14)");
  fl_etcd_result_free(&r);
  /* A status that is not 200 without etcd's error. */
  static const char BARE[] = "{\"header\":{}}";
  assert_int_equal(fl_etcd_parse(FL_CALL_PUT, 502, BARE, strlen(BARE), &r, &err, &st), -1);
  assert_int_equal(st.code, HPMH_E_INVALID);
  assert_non_null(strstr(st.detail, "HTTP 502"));
  fl_etcd_result_free(&r);
}

static void expect_refused(fl_call call, const char *body, size_t len, const char *why) {
  fl_etcd_result r;
  hpmh_status st;
  fl_etcd_error err;
  int rc = fl_etcd_parse(call, 200, body, len, &r, &err, &st);
  fl_etcd_result_free(&r);
  if (!rc) fail_msg("accepted: %.200s", body);
  assert_int_equal(st.code, HPMH_E_INVALID);
  if (!strstr(st.detail, why)) fail_msg("%.200s: '%s' does not say '%s'", body, st.detail, why);
}
#define REFUSED(call, body, why) expect_refused(call, body, strlen(body), why)

static void test_parse_refusals(void **state) {
  (void)state;
  REFUSED(FL_CALL_RANGE, "", "an empty answer");
  REFUSED(FL_CALL_RANGE, "not json", "not a JSON object");
  REFUSED(FL_CALL_RANGE, "[1,2]", "not a JSON object");
  REFUSED(FL_CALL_RANGE, "{\"header\":{}} {}", "not a JSON object");
  REFUSED(FL_CALL_RANGE, "{\"header\":{\"revision\":\"12x\"}}", "\"revision\" is not a 64-bit decimal number");
  REFUSED(FL_CALL_RANGE, "{\"header\":{\"revision\":\"\"}}", "\"revision\" is not a 64-bit decimal number");
  REFUSED(FL_CALL_RANGE, "{\"header\":{\"revision\":\"-1\"}}", "a negative revision");
  REFUSED(FL_CALL_RANGE, "{\"header\":{\"revision\":true}}", "neither a number nor a decimal string");
  REFUSED(FL_CALL_RANGE, "{\"header\":{\"revision\":1.5}}", "not an integer in range");
  REFUSED(FL_CALL_RANGE, "{\"header\":{\"revision\":1e300}}", "not an integer in range");
  REFUSED(FL_CALL_LEASE_GRANT, "{\"ID\":\"9223372036854775808\",\"TTL\":\"5\"}", "out of the 64-bit range");
  REFUSED(FL_CALL_LEASE_GRANT, "{\"ID\":\"99999999999999999999\",\"TTL\":\"5\"}", "not a 64-bit decimal number");
  REFUSED(FL_CALL_LEASE_GRANT, "{\"TTL\":\"5\"}", "without an ID or a TTL");
  REFUSED(FL_CALL_LEASE_KEEPALIVE, "{\"ID\":\"1\",\"TTL\":\"5\"}", "without \"result\"");
  REFUSED(FL_CALL_RANGE, "{\"header\":[]}", "\"header\" is not an object");
  REFUSED(FL_CALL_RANGE, "{\"kvs\":{}}", "\"kvs\" is not an array");
  REFUSED(FL_CALL_RANGE, "{\"kvs\":[1],\"count\":\"1\"}", "not an object");
  REFUSED(FL_CALL_RANGE, "{\"kvs\":[{\"value\":\"eA==\"}],\"count\":\"1\"}", "without a key");
  REFUSED(FL_CALL_RANGE, "{\"kvs\":[{\"key\":\"e Az\"}],\"count\":\"1\"}", "\"key\": base64 text has an invalid character");
  REFUSED(FL_CALL_RANGE, "{\"kvs\":[{\"key\":5}],\"count\":\"1\"}", "\"key\" is not a base64 string");
  REFUSED(FL_CALL_RANGE, "{\"kvs\":[{\"key\":\"eA==\"}]}", "below the 1 key-values returned");
  REFUSED(FL_CALL_RANGE, "{\"more\":\"yes\"}", "\"more\" is not true or false");
  REFUSED(FL_CALL_DELETE, "{\"deleted\":\"-2\"}", "a negative \"deleted\"");
  REFUSED(FL_CALL_TXN, "{\"responses\":[{}]}", "no known kind");
  REFUSED(FL_CALL_TXN, "{\"responses\":[{\"response_txn\":{}}]}", "no known kind");
  REFUSED(FL_CALL_TXN, "{\"responses\":[{\"response_put\":{},\"response_range\":{}}]}", "two kinds");
  REFUSED(FL_CALL_TXN, "{\"responses\":[{\"response_put\":[]}]}", "\"response_put\" is not an object");
  REFUSED(FL_CALL_TXN, "{\"succeeded\":1}", "\"succeeded\" is not true or false");

  /* A value just over the limit. */
  size_t tlen = (FL_ETCD_VALUE_MAX / 3 + 1) * 4; /* 262146 bytes */
  char *big = malloc(tlen + 64);
  int n = snprintf(big, 64, "{\"kvs\":[{\"key\":\"eA==\",\"value\":\"");
  memset(big + n, 'A', tlen);
  strcpy(big + n + tlen, "\"}],\"count\":\"1\"}");
  REFUSED(FL_CALL_RANGE, big, "\"value\": base64 text decodes to 262146 bytes, more than the 262144 allowed");
  free(big);

  /* Too many key-values, too many txn responses. */
  size_t cap = (FL_ETCD_MAX_KVS + 1) * 32 + 64;
  char *many = malloc(cap), *p = many;
  p += sprintf(p, "{\"count\":\"5000\",\"kvs\":[");
  for (int i = 0; i <= FL_ETCD_MAX_KVS; i++) p += sprintf(p, "%s{\"key\":\"eA==\"}", i ? "," : "");
  strcpy(p, "]}");
  REFUSED(FL_CALL_RANGE, many, "\"kvs\" has more than 1024 elements");
  p = many;
  p += sprintf(p, "{\"responses\":[");
  for (int i = 0; i <= FL_ETCD_MAX_TXN_OPS; i++) p += sprintf(p, "%s{\"response_put\":{}}", i ? "," : "");
  strcpy(p, "]}");
  REFUSED(FL_CALL_TXN, many, "\"responses\" has more than 128 elements");
  free(many);

  /* An answer over the size limit is refused before it is read as JSON. */
  size_t hlen = FL_ETCD_RESPONSE_MAX + 1;
  char *huge = malloc(hlen);
  memset(huge, ' ', hlen);
  huge[0] = '{';
  huge[hlen - 1] = '}';
  expect_refused(FL_CALL_RANGE, huge, hlen, "more than the 4194304 allowed");
  free(huge);
}

static void test_parse_bounds_accept(void **state) {
  (void)state;
  fl_etcd_result r;
  /* The largest int64, the gateway's numbers as JSON numbers, unknown fields kept aside. */
  parse_ok(FL_CALL_LEASE_GRANT, "{\"ID\":\"9223372036854775807\",\"TTL\":60,\"future\":{\"x\":[1]}}", &r);
  assert_int_equal(r.lease_id, INT64_MAX);
  assert_int_equal(r.ttl, 60);
  fl_etcd_result_free(&r);
}

/* Messages of a watch stream, as etcd 3.4's gateway sends them. */
static void test_watch_messages(void **state) {
  (void)state;
  hpmh_status st;
  const char *created = "{\"result\":{\"header\":{\"cluster_id\":\"1\",\"member_id\":\"2\",\"revision\":\"2\","
                        "\"raft_term\":\"2\"},\"created\":true}}\n";
  const char *events = "{\"result\":{\"header\":{\"revision\":\"2\"},\"events\":[{\"kv\":{\"key\":"
                       "\"L2hwbS9mbGVldC9zbG90cw==\",\"create_revision\":\"2\",\"mod_revision\":\"2\",\"version\":\"1\","
                       "\"value\":\"e30=\"}}]}}\n";
  const char *compacted = "{\"result\":{\"header\":{\"raft_term\":\"2\"},\"canceled\":true,\"compact_revision\":\"2\"}}";
  const char *progress = "{\"result\":{\"header\":{\"revision\":\"9\"},\"compact_revision\":\"0\"}}";
  assert_int_equal(fl_etcd_watch_parse(created, strlen(created), &st), 0);
  assert_int_equal(fl_etcd_watch_parse(progress, strlen(progress), &st), 0);
  assert_int_equal(fl_etcd_watch_parse(events, strlen(events), &st), 1);
  assert_int_equal(fl_etcd_watch_parse(compacted, strlen(compacted), &st), 1);
  const char *bad[][2] = {
      {"{\"error\":{\"grpc_code\":14,\"message\":\"etcdserver: no leader\"}}", "no leader (code 14)"},
      {"{\"result\":{\"events\":3}}", "\"events\" is not an array"},
      {"{\"header\":{}}", "without \"result\""},
      {"{\"result\":{}} {}", "not one JSON object"},
      {"", "not one JSON object"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_int_equal(fl_etcd_watch_parse(bad[i][0], strlen(bad[i][0]), &st), -1);
    if (!strstr(st.detail, bad[i][1])) fail_msg("%s: %s", bad[i][0], st.detail);
  }
}

static void test_client_init(void **state) {
  (void)state;
  fl_etcd c;
  hpmh_status st;
  if (fl_etcd_init(&c, "http://127.0.0.1:2379/,https://10.0.0.2:2379,,", 500, &st)) fail_msg("%s", st.detail);
  assert_int_equal(c.nendpoints, 2);
  assert_string_equal(c.endpoints[0], "http://127.0.0.1:2379");
  assert_string_equal(c.endpoints[1], "https://10.0.0.2:2379");
  assert_int_equal(fl_etcd_init(&c, "", 500, &st), -1);
  assert_non_null(strstr(st.detail, "no etcd endpoint"));
  assert_int_equal(fl_etcd_init(&c, "127.0.0.1:2379", 500, &st), -1);
  assert_non_null(strstr(st.detail, "not an http:// or https:// URL"));
  assert_int_equal(fl_etcd_init(&c, "http://a:1?x", 500, &st), -1);
  assert_int_equal(fl_etcd_init(&c, "http://a:1", 0, &st), -1);
  assert_int_equal(fl_etcd_init(&c, "http://a,http://b,http://c,http://d,http://e,http://f,http://g,http://h,http://i", 5, &st), -1);
  assert_non_null(strstr(st.detail, "more than 8 etcd endpoints"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_base64_vectors),     cmocka_unit_test(test_base64_round_trip),
      cmocka_unit_test(test_base64_refusals),    cmocka_unit_test(test_prefix_end),
      cmocka_unit_test(test_op_json),            cmocka_unit_test(test_txn_json),
      cmocka_unit_test(test_lease_json),         cmocka_unit_test(test_parse_range),
      cmocka_unit_test(test_parse_txn),          cmocka_unit_test(test_parse_delete_and_leases),
      cmocka_unit_test(test_parse_etcd_errors),  cmocka_unit_test(test_parse_refusals),
      cmocka_unit_test(test_parse_bounds_accept), cmocka_unit_test(test_client_init),
      cmocka_unit_test(test_watch_messages),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
