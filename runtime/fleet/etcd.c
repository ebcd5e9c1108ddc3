/* SPDX-License-Identifier: MIT */
/* The etcd v3 client over the JSON gateway (etcd.h): request building,
 * the bounded response parser, the transport with failover. */
#include "fleet/etcd.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

static const char *const call_paths[] = {
    [FL_CALL_RANGE] = "kv/range",
    [FL_CALL_PUT] = "kv/put",
    [FL_CALL_DELETE] = "kv/deleterange",
    [FL_CALL_TXN] = "kv/txn",
    [FL_CALL_LEASE_GRANT] = "lease/grant",
    [FL_CALL_LEASE_KEEPALIVE] = "lease/keepalive",
    [FL_CALL_LEASE_REVOKE] = "lease/revoke",
    [FL_CALL_WATCH] = "watch",
};

const char *fl_call_path(fl_call call) {
  if ((size_t)call < sizeof call_paths / sizeof call_paths[0]) return call_paths[call];
  return "?";
}

/* ---- base64 ------------------------------------------------------------------ */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *fl_base64_encode(const void *p, size_t n) {
  const uint8_t *s = p;
  if (n > (SIZE_MAX - 1) / 4 * 3 - 2) return NULL;
  char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
  if (!out) return NULL;
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)s[i] << 16;
    if (i + 1 < n) v |= (uint32_t)s[i + 1] << 8;
    if (i + 2 < n) v |= s[i + 2];
    *o++ = b64[v >> 18];
    *o++ = b64[(v >> 12) & 63];
    *o++ = i + 1 < n ? b64[(v >> 6) & 63] : '=';
    *o++ = i + 2 < n ? b64[v & 63] : '=';
  }
  *o = '\0';
  return out;
}

static int b64_value(char ch) {
  if (ch >= 'A' && ch <= 'Z') return ch - 'A';
  if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
  if (ch >= '0' && ch <= '9') return ch - '0' + 52;
  if (ch == '+') return 62;
  if (ch == '/') return 63;
  return -1;
}

uint8_t *fl_base64_decode(const char *text, size_t len, size_t max, size_t *out_len, hpmh_status *st) {
  if (len % 4)
    return hpmh_fail(st, HPMH_E_INVALID, "", "base64 text of %zu characters (not a multiple of 4)", len), NULL;
  size_t pad = 0;
  if (len && text[len - 1] == '=') pad = len >= 2 && text[len - 2] == '=' ? 2 : 1;
  size_t n = len / 4 * 3 - pad;
  if (n > max)
    return hpmh_fail(st, HPMH_E_INVALID, "", "base64 text decodes to %zu bytes, more than the %zu allowed", n, max), NULL;
  uint8_t *out = malloc(n + 1);
  if (!out) return hpmh_fail(st, HPMH_E_NOMEM, "", "out of memory"), NULL;
  size_t k = 0;
  for (size_t i = 0; i < len; i += 4) {
    uint32_t v = 0;
    for (size_t j = 0; j < 4; j++) {
      int d = b64_value(text[i + j]);
      if (d < 0 && !(text[i + j] == '=' && i + 4 == len && j >= 4 - pad)) {
        free(out);
        return hpmh_fail(st, HPMH_E_INVALID, "", "base64 text has an invalid character at offset %zu", i + j), NULL;
      }
      v = v << 6 | (uint32_t)(d < 0 ? 0 : d);
    }
    /* Bits beyond the last byte must be zero: one text per byte string. */
    if ((pad == 1 && i + 4 == len && (v & 0xff)) || (pad == 2 && i + 4 == len && (v & 0xffff))) {
      free(out);
      return hpmh_fail(st, HPMH_E_INVALID, "", "base64 text has non-zero padding bits"), NULL;
    }
    uint8_t b[3] = {(uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    for (size_t j = 0; j < 3 && k < n; j++) out[k++] = b[j];
  }
  out[n] = 0;
  *out_len = n;
  return out;
}

/* ---- requests ----------------------------------------------------------------- */

size_t fl_etcd_prefix_end(const void *prefix, size_t len, uint8_t *out) {
  const uint8_t *p = prefix;
  for (size_t i = len; i > 0; i--) {
    if (p[i - 1] != 0xff) {
      memcpy(out, p, i - 1);
      out[i - 1] = (uint8_t)(p[i - 1] + 1);
      return i;
    }
  }
  out[0] = 0;
  return 1;
}

/* obj[name] = base64 of p[0..n), at most max bytes.  0, or -1 with st. */
static int add_b64(cJSON *obj, const char *name, const void *p, size_t n, size_t max, hpmh_status *st) {
  if (n > max) return hpmh_fail(st, HPMH_E_INVALID, name, "%s of %zu bytes, more than the %zu allowed", name, n, max);
  char *t = fl_base64_encode(p ? p : "", n);
  if (!t || !cJSON_AddStringToObject(obj, name, t)) {
    free(t);
    return hpmh_fail(st, HPMH_E_NOMEM, "", "out of memory");
  }
  free(t);
  return 0;
}

/* int64 fields go as decimal strings, as the gateway writes them. */
static int add_i64(cJSON *obj, const char *name, int64_t v, hpmh_status *st) {
  char t[24];
  snprintf(t, sizeof t, "%" PRId64, v);
  if (!cJSON_AddStringToObject(obj, name, t)) return hpmh_fail(st, HPMH_E_NOMEM, "", "out of memory");
  return 0;
}

static cJSON *op_object(const fl_op *op, hpmh_status *st) {
  cJSON *o = cJSON_CreateObject();
  if (!o) return hpmh_fail(st, HPMH_E_NOMEM, "", "out of memory"), NULL;
  if (!op->key || op->key_len == 0) {
    hpmh_fail(st, HPMH_E_INVALID, "key", "an etcd request needs a key (an empty key is not one)");
    goto fail;
  }
  if (add_b64(o, "key", op->key, op->key_len, FL_ETCD_KEY_MAX, st)) goto fail;
  if (op->kind == FL_OP_PUT) {
    if (add_b64(o, "value", op->value, op->value_len, FL_ETCD_VALUE_MAX, st)) goto fail;
    if (op->lease && add_i64(o, "lease", op->lease, st)) goto fail;
    return o;
  }
  if (op->prefix) {
    uint8_t end[FL_ETCD_KEY_MAX];
    size_t n = fl_etcd_prefix_end(op->key, op->key_len, end);
    if (add_b64(o, "range_end", end, n, FL_ETCD_KEY_MAX, st)) goto fail;
  } else if (op->range_end) {
    if (add_b64(o, "range_end", op->range_end, op->range_end_len, FL_ETCD_KEY_MAX, st)) goto fail;
  }
  if (op->kind == FL_OP_RANGE && op->limit && add_i64(o, "limit", op->limit, st)) goto fail;
  if (op->kind == FL_OP_RANGE && op->revision && add_i64(o, "revision", op->revision, st)) goto fail;
  return o;
fail:
  cJSON_Delete(o);
  return NULL;
}

/* cJSON text of o (consumed), or NULL with st. */
static char *print_consume(cJSON *o, hpmh_status *st) {
  if (!o) return NULL;
  char *t = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  if (!t) hpmh_fail(st, HPMH_E_NOMEM, "", "out of memory");
  return t;
}

char *fl_etcd_op_json(const fl_op *op, hpmh_status *st) {
  return print_consume(op_object(op, st), st);
}

static const char *const op_names[] = {
    [FL_OP_RANGE] = "request_range", [FL_OP_PUT] = "request_put", [FL_OP_DELETE] = "request_delete_range"};
static const char *const target_names[] = {
    [FL_CMP_VERSION] = "VERSION", [FL_CMP_CREATE] = "CREATE", [FL_CMP_MOD] = "MOD", [FL_CMP_VALUE] = "VALUE"};
static const char *const target_fields[] = {
    [FL_CMP_VERSION] = "version", [FL_CMP_CREATE] = "create_revision", [FL_CMP_MOD] = "mod_revision",
    [FL_CMP_VALUE] = "value"};
static const char *const result_names[] = {
    [FL_CMP_EQUAL] = "EQUAL", [FL_CMP_GREATER] = "GREATER", [FL_CMP_LESS] = "LESS",
    [FL_CMP_NOT_EQUAL] = "NOT_EQUAL"};

static int add_ops(cJSON *txn, const char *name, const fl_op *ops, size_t n, hpmh_status *st) {
  if (n > FL_ETCD_MAX_TXN_OPS)
    return hpmh_fail(st, HPMH_E_INVALID, name, "a txn of %zu %s ops, more than the %d allowed", n, name,
                     FL_ETCD_MAX_TXN_OPS);
  if (n == 0) return 0;
  cJSON *arr = cJSON_AddArrayToObject(txn, name);
  if (!arr) return hpmh_fail(st, HPMH_E_NOMEM, "", "out of memory");
  for (size_t i = 0; i < n; i++) {
    if ((size_t)ops[i].kind >= sizeof op_names / sizeof op_names[0])
      return hpmh_fail(st, HPMH_E_INVALID, name, "txn op %zu has an unknown kind", i);
    cJSON *wrap = cJSON_CreateObject(), *o = op_object(&ops[i], st);
    if (!wrap || !o) {
      cJSON_Delete(wrap);
      cJSON_Delete(o);
      return o ? hpmh_fail(st, HPMH_E_NOMEM, "", "out of memory") : -1;
    }
    cJSON_AddItemToObject(wrap, op_names[ops[i].kind], o);
    cJSON_AddItemToArray(arr, wrap);
  }
  return 0;
}

char *fl_etcd_txn_json(const fl_txn *txn, hpmh_status *st) {
  if (txn->ncmp > FL_ETCD_MAX_TXN_OPS)
    return hpmh_fail(st, HPMH_E_INVALID, "compare", "a txn of %zu compares, more than the %d allowed", txn->ncmp,
                     FL_ETCD_MAX_TXN_OPS), NULL;
  cJSON *o = cJSON_CreateObject();
  if (!o) return hpmh_fail(st, HPMH_E_NOMEM, "", "out of memory"), NULL;
  if (txn->ncmp) {
    cJSON *arr = cJSON_AddArrayToObject(o, "compare");
    if (!arr) goto nomem;
    for (size_t i = 0; i < txn->ncmp; i++) {
      const fl_cmp *c = &txn->cmp[i];
      if ((size_t)c->target >= 4 || (size_t)c->result >= 4) {
        hpmh_fail(st, HPMH_E_INVALID, "compare", "txn compare %zu has an unknown target or result", i);
        goto fail;
      }
      if (!c->key || !c->key_len) {
        hpmh_fail(st, HPMH_E_INVALID, "compare", "txn compare %zu has no key", i);
        goto fail;
      }
      cJSON *e = cJSON_CreateObject();
      if (!e) goto nomem;
      cJSON_AddItemToArray(arr, e);
      if (add_b64(e, "key", c->key, c->key_len, FL_ETCD_KEY_MAX, st)) goto fail;
      if (!cJSON_AddStringToObject(e, "target", target_names[c->target]) ||
          !cJSON_AddStringToObject(e, "result", result_names[c->result]))
        goto nomem;
      if (c->target == FL_CMP_VALUE) {
        if (add_b64(e, "value", c->value, c->value_len, FL_ETCD_VALUE_MAX, st)) goto fail;
      } else if (add_i64(e, target_fields[c->target], c->number, st)) {
        goto fail;
      }
    }
  }
  if (add_ops(o, "success", txn->success, txn->nsuccess, st) || add_ops(o, "failure", txn->failure, txn->nfailure, st))
    goto fail;
  return print_consume(o, st);
nomem:
  hpmh_fail(st, HPMH_E_NOMEM, "", "out of memory");
fail:
  cJSON_Delete(o);
  return NULL;
}

char *fl_etcd_lease_json(fl_call call, int64_t ttl_or_id, hpmh_status *st) {
  cJSON *o = cJSON_CreateObject();
  if (!o) return hpmh_fail(st, HPMH_E_NOMEM, "", "out of memory"), NULL;
  int bad = 0;
  if (call == FL_CALL_LEASE_GRANT) {
    if (ttl_or_id <= 0) {
      cJSON_Delete(o);
      return hpmh_fail(st, HPMH_E_INVALID, "ttl", "a lease needs a TTL of at least 1 second"), NULL;
    }
    bad = add_i64(o, "TTL", ttl_or_id, st);
  } else if (call == FL_CALL_LEASE_KEEPALIVE || call == FL_CALL_LEASE_REVOKE) {
    bad = add_i64(o, "ID", ttl_or_id, st);
  } else {
    bad = hpmh_fail(st, HPMH_E_INVALID, "", "%s is not a lease call", fl_call_path(call));
  }
  if (bad) {
    cJSON_Delete(o);
    return NULL;
  }
  return print_consume(o, st);
}

/* ---- responses ------------------------------------------------------------------ */

void fl_etcd_result_free(fl_etcd_result *r) {
  if (!r) return;
  for (size_t i = 0; i < r->nkvs; i++) {
    free(r->kvs[i].key);
    free(r->kvs[i].value);
  }
  free(r->kvs);
  for (size_t i = 0; i < r->nops; i++) fl_etcd_result_free(&r->ops[i]);
  free(r->ops);
  memset(r, 0, sizeof *r);
}

/* An int64 field: absent is 0 (the gateway leaves out zero values); a
 * decimal string (how the gateway writes 64-bit numbers) or an integral
 * JSON number within 2^53.  0, or -1 with st. */
static int get_i64(const cJSON *obj, const char *name, int64_t *out, hpmh_status *st) {
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);
  *out = 0;
  if (!it || cJSON_IsNull(it)) return 0;
  if (cJSON_IsNumber(it)) {
    double d = it->valuedouble;
    if (!isfinite(d) || d != floor(d) || fabs(d) > 9007199254740992.0)
      return hpmh_fail(st, HPMH_E_INVALID, name, "\"%s\" is not an integer in range", name);
    *out = (int64_t)d;
    return 0;
  }
  if (!cJSON_IsString(it))
    return hpmh_fail(st, HPMH_E_INVALID, name, "\"%s\" is neither a number nor a decimal string", name);
  const char *s = it->valuestring;
  bool neg = *s == '-';
  if (neg) s++;
  if (!*s || strlen(s) > 19)
    return hpmh_fail(st, HPMH_E_INVALID, name, "\"%s\" is not a 64-bit decimal number", name);
  uint64_t v = 0;
  for (; *s; s++) {
    if (*s < '0' || *s > '9')
      return hpmh_fail(st, HPMH_E_INVALID, name, "\"%s\" is not a 64-bit decimal number", name);
    v = v * 10 + (uint64_t)(*s - '0'); /* 19 digits fit in uint64 */
  }
  if (v > (uint64_t)INT64_MAX + (neg ? 1u : 0u))
    return hpmh_fail(st, HPMH_E_INVALID, name, "\"%s\" is out of the 64-bit range", name);
  *out = neg ? (int64_t)(0 - v) : (int64_t)v;
  return 0;
}

static int get_bool(const cJSON *obj, const char *name, bool *out, hpmh_status *st) {
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);
  *out = false;
  if (!it || cJSON_IsNull(it)) return 0;
  if (!cJSON_IsBool(it)) return hpmh_fail(st, HPMH_E_INVALID, name, "\"%s\" is not true or false", name);
  *out = cJSON_IsTrue(it);
  return 0;
}

/* A bytes field (base64 string); absent is empty. */
static int get_bytes(const cJSON *obj, const char *name, size_t max, uint8_t **out, size_t *len, hpmh_status *st) {
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);
  const char *t = "";
  if (it && !cJSON_IsNull(it)) {
    if (!cJSON_IsString(it)) return hpmh_fail(st, HPMH_E_INVALID, name, "\"%s\" is not a base64 string", name);
    t = it->valuestring;
  }
  hpmh_status sub;
  *out = fl_base64_decode(t, strlen(t), max, len, &sub);
  if (!*out) return hpmh_fail(st, sub.code, name, "\"%s\": %s", name, sub.detail);
  return 0;
}

static int get_object(const cJSON *obj, const char *name, const cJSON **out, hpmh_status *st) {
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);
  *out = NULL;
  if (!it || cJSON_IsNull(it)) return 0;
  if (!cJSON_IsObject(it)) return hpmh_fail(st, HPMH_E_INVALID, name, "\"%s\" is not an object", name);
  *out = it;
  return 0;
}

/* An array field of at most max elements; absent is empty. */
static int get_array(const cJSON *obj, const char *name, size_t max, const cJSON **out, size_t *n, hpmh_status *st) {
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);
  *out = NULL;
  *n = 0;
  if (!it || cJSON_IsNull(it)) return 0;
  if (!cJSON_IsArray(it)) return hpmh_fail(st, HPMH_E_INVALID, name, "\"%s\" is not an array", name);
  size_t k = 0;
  for (const cJSON *e = it->child; e; e = e->next)
    if (++k > max) return hpmh_fail(st, HPMH_E_INVALID, name, "\"%s\" has more than %zu elements", name, max);
  *out = it;
  *n = k;
  return 0;
}

static int parse_kv(const cJSON *o, fl_kv *kv, hpmh_status *st) {
  if (!cJSON_IsObject(o)) return hpmh_fail(st, HPMH_E_INVALID, "kvs", "an element of \"kvs\" is not an object");
  if (get_bytes(o, "key", FL_ETCD_KEY_MAX, &kv->key, &kv->key_len, st) ||
      get_bytes(o, "value", FL_ETCD_VALUE_MAX, &kv->value, &kv->value_len, st) ||
      get_i64(o, "create_revision", &kv->create_revision, st) || get_i64(o, "mod_revision", &kv->mod_revision, st) ||
      get_i64(o, "version", &kv->version, st) || get_i64(o, "lease", &kv->lease, st))
    return -1;
  if (kv->key_len == 0) return hpmh_fail(st, HPMH_E_INVALID, "kvs", "a key-value without a key");
  return 0;
}

static int parse_body(fl_call call, const cJSON *o, int depth, fl_etcd_result *r, hpmh_status *st);

/* One element of a txn's "responses": {"response_range"|"response_put"|
 * "response_delete_range": {...}}. */
static int parse_txn_response(const cJSON *e, int depth, fl_etcd_result *r, hpmh_status *st) {
  static const struct {
    const char *name;
    fl_call call;
  } kinds[] = {{"response_range", FL_CALL_RANGE}, {"response_put", FL_CALL_PUT},
               {"response_delete_range", FL_CALL_DELETE}};
  if (!cJSON_IsObject(e)) return hpmh_fail(st, HPMH_E_INVALID, "responses", "a txn response is not an object");
  const cJSON *found = NULL;
  fl_call call = FL_CALL_RANGE;
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
    const cJSON *it;
    if (get_object(e, kinds[i].name, &it, st)) return -1;
    if (!it) continue;
    if (found) return hpmh_fail(st, HPMH_E_INVALID, "responses", "a txn response of two kinds");
    found = it;
    call = kinds[i].call;
  }
  if (!found)
    return hpmh_fail(st, HPMH_E_INVALID, "responses", "a txn response of no known kind (a nested txn is never sent)");
  return parse_body(call, found, depth + 1, r, st);
}

static int parse_body(fl_call call, const cJSON *o, int depth, fl_etcd_result *r, hpmh_status *st) {
  const cJSON *hdr, *arr;
  size_t n;
  r->call = call;
  if (get_object(o, "header", &hdr, st)) return -1;
  if (hdr && get_i64(hdr, "revision", &r->revision, st)) return -1;
  if (r->revision < 0) return hpmh_fail(st, HPMH_E_INVALID, "revision", "a negative revision");
  switch (call) {
  case FL_CALL_RANGE:
    if (get_array(o, "kvs", FL_ETCD_MAX_KVS, &arr, &n, st) || get_i64(o, "count", &r->count, st) ||
        get_bool(o, "more", &r->more, st))
      return -1;
    if (r->count < (int64_t)n)
      return hpmh_fail(st, HPMH_E_INVALID, "count", "\"count\" %" PRId64 " is below the %zu key-values returned",
                       r->count, n);
    if (n) {
      r->kvs = calloc(n, sizeof *r->kvs);
      if (!r->kvs) return hpmh_fail(st, HPMH_E_NOMEM, "", "out of memory");
      for (const cJSON *e = arr->child; e; e = e->next) {
        r->nkvs++;
        if (parse_kv(e, &r->kvs[r->nkvs - 1], st)) return -1;
      }
    }
    return 0;
  case FL_CALL_DELETE:
    if (get_i64(o, "deleted", &r->deleted, st)) return -1;
    if (r->deleted < 0) return hpmh_fail(st, HPMH_E_INVALID, "deleted", "a negative \"deleted\"");
    return 0;
  case FL_CALL_TXN:
    if (depth > 0) return hpmh_fail(st, HPMH_E_INVALID, "responses", "a nested txn response");
    if (get_bool(o, "succeeded", &r->succeeded, st) ||
        get_array(o, "responses", FL_ETCD_MAX_TXN_OPS, &arr, &n, st))
      return -1;
    if (n) {
      r->ops = calloc(n, sizeof *r->ops);
      if (!r->ops) return hpmh_fail(st, HPMH_E_NOMEM, "", "out of memory");
      for (const cJSON *e = arr->child; e; e = e->next) {
        r->nops++;
        if (parse_txn_response(e, depth, &r->ops[r->nops - 1], st)) return -1;
      }
    }
    return 0;
  case FL_CALL_LEASE_GRANT:
  case FL_CALL_LEASE_KEEPALIVE:
    if (get_i64(o, "ID", &r->lease_id, st) || get_i64(o, "TTL", &r->ttl, st)) return -1;
    if (call == FL_CALL_LEASE_GRANT) {
      if (r->lease_id == 0 || r->ttl <= 0)
        return hpmh_fail(st, HPMH_E_INVALID, "ID", "a lease grant without an ID or a TTL");
    } else if (r->lease_id == 0) {
      return hpmh_fail(st, HPMH_E_INVALID, "ID", "a keepalive answer without the lease's ID");
    }
    return 0;
  case FL_CALL_PUT:
  case FL_CALL_LEASE_REVOKE:
    return 0;
  case FL_CALL_WATCH:
  case FL_NCALLS:
    break;
  }
  return hpmh_fail(st, HPMH_E_INVALID, "", "unknown call %d", (int)call);
}

/* etcd's error JSON: {"error": "etcdserver: ...", "code": N, "message": ...}
 * from a unary call, {"error": {"grpc_code": N, "message": ...}} from a
 * stream (keepalive).  Returns 1 (st and *code filled) when o is one. */
static int parse_error(const cJSON *o, int *code, hpmh_status *st) {
  const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "error");
  const cJSON *c = cJSON_GetObjectItemCaseSensitive(o, "code");
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "message");
  if (!e || cJSON_IsNull(e) || (cJSON_IsString(e) && !e->valuestring[0])) return 0;
  if (cJSON_IsObject(e)) {
    c = cJSON_GetObjectItemCaseSensitive(e, "grpc_code");
    m = cJSON_GetObjectItemCaseSensitive(e, "message");
    e = m;
  }
  const char *text = cJSON_IsString(e) && e->valuestring[0] ? e->valuestring
                     : cJSON_IsString(m)                    ? m->valuestring
                                                            : "(no message)";
  *code = cJSON_IsNumber(c) && c->valuedouble >= 0 && c->valuedouble <= 1000 ? (int)c->valuedouble : 0;
  hpmh_fail(st, HPMH_E_REFUSED, "", "%.300s (code %d)", text, *code);
  return 1;
}

/* buf[0..len) as one JSON object, then only white space (a stream
 * message ends in \n); NULL when it is not. */
static cJSON *one_object(const char *buf, size_t len) {
  const char *end = NULL;
  cJSON *doc = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
  while (doc && end && (size_t)(end - buf) < len && *end && strchr(" \t\r\n", *end)) end++;
  if (doc && cJSON_IsObject(doc) && end && (size_t)(end - buf) == len) return doc;
  cJSON_Delete(doc);
  return NULL;
}

int fl_etcd_parse(fl_call call, long http_status, const char *body, size_t len, fl_etcd_result *r,
                  fl_etcd_error *err, hpmh_status *st) {
  memset(r, 0, sizeof *r);
  if (err) err->code = 0;
  if ((size_t)call >= sizeof call_paths / sizeof call_paths[0])
    return hpmh_fail(st, HPMH_E_INVALID, "", "unknown call %d", (int)call);
  if (len > FL_ETCD_RESPONSE_MAX)
    return hpmh_fail(st, HPMH_E_INVALID, "", "an answer of %zu bytes, more than the %u allowed", len,
                     FL_ETCD_RESPONSE_MAX);
  cJSON *doc = one_object(body, len);
  if (!doc)
    return hpmh_fail(st, HPMH_E_INVALID, "", "HTTP %ld with %s", http_status,
                     len ? "an answer that is not a JSON object" : "an empty answer");
  int rc = -1, code = 0;
  const cJSON *o = doc;
  if (parse_error(doc, &code, st)) goto out;
  if (call == FL_CALL_LEASE_KEEPALIVE) {
    /* A stream: each message comes wrapped as {"result": {...}}. */
    if (get_object(doc, "result", &o, st)) goto out;
    if (!o) {
      hpmh_fail(st, HPMH_E_INVALID, "result", "a keepalive answer without \"result\"");
      goto out;
    }
    if (parse_error(o, &code, st)) goto out;
  }
  if (http_status != 200) {
    hpmh_fail(st, HPMH_E_INVALID, "", "HTTP %ld without etcd's error", http_status);
    goto out;
  }
  rc = parse_body(call, o, 0, r, st);
out:
  if (err) err->code = code;
  cJSON_Delete(doc);
  return rc;
}

/* ---- the client ------------------------------------------------------------------- */

int fl_etcd_init(fl_etcd *c, const char *endpoints, long timeout_ms, hpmh_status *st) {
  memset(c, 0, sizeof *c);
  if (timeout_ms <= 0) return hpmh_fail(st, HPMH_E_INVALID, "timeout", "the etcd timeout must be above 0 ms");
  c->timeout_ms = timeout_ms;
  const char *p = endpoints ? endpoints : "";
  while (*p) {
    size_t part = strcspn(p, ","), n = part;
    if (n) {
      if (c->nendpoints == FL_ETCD_MAX_ENDPOINTS)
        return hpmh_fail(st, HPMH_E_INVALID, "endpoints", "more than %d etcd endpoints", FL_ETCD_MAX_ENDPOINTS);
      if (n >= FL_ETCD_ENDPOINT_MAX)
        return hpmh_fail(st, HPMH_E_INVALID, "endpoints", "etcd endpoint '%.64s...' is longer than %d characters", p,
                         FL_ETCD_ENDPOINT_MAX - 1);
      char *e = c->endpoints[c->nendpoints];
      memcpy(e, p, n);
      e[n] = '\0';
      while (n > 0 && e[n - 1] == '/') e[--n] = '\0';
      if (strncmp(e, "http://", 7) && strncmp(e, "https://", 8))
        return hpmh_fail(st, HPMH_E_INVALID, "endpoints", "etcd endpoint '%s' is not an http:// or https:// URL", e);
      for (size_t i = 0; i < n; i++)
        if ((unsigned char)e[i] <= 0x20 || e[i] == 0x7f || e[i] == '?' || e[i] == '#')
          return hpmh_fail(st, HPMH_E_INVALID, "endpoints", "etcd endpoint '%s' has a space, control character, query or fragment", e);
      c->nendpoints++;
    }
    p += part;
    if (*p == ',') p++;
  }
  if (!c->nendpoints) return hpmh_fail(st, HPMH_E_INVALID, "endpoints", "no etcd endpoint given");
  return 0;
}

/* Append "; " and a formatted part to the message collecting each member's failure. */
static void note(char *msg, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void note(char *msg, size_t cap, const char *fmt, ...) {
  size_t used = strlen(msg);
  if (used + 3 >= cap) return;
  if (used) {
    memcpy(msg + used, "; ", 3);
    used += 2;
  }
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg + used, cap - used, fmt, ap);
  va_end(ap);
}

static bool is_write(fl_call call) {
  return call != FL_CALL_RANGE;
}

/* A POST of the JSON body to member ep's /v3/<call's path>, its answer
 * into s, within the connect timeout; one request counted.  NULL with
 * errbuf saying why (empty: out of memory).  The caller frees *hdrs. */
static CURL *post(fl_etcd *c, fl_call call, const char *ep, const char *body, hpm_http_sink *s, char *errbuf,
                  struct curl_slist **hdrs) {
  char url[FL_ETCD_ENDPOINT_MAX + 32];
  snprintf(url, sizeof url, "%s/v3/%s", ep, fl_call_path(call));
  CURL *h = hpm_http_easy(url, s, errbuf);
  if (!h) return NULL;
  *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, *hdrs);
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->timeout_ms);
  c->requests++;
  c->requests_by[call]++;
  return h;
}

int fl_etcd_call(fl_etcd *c, fl_call call, const char *body, fl_etcd_result *r, hpmh_status *st) {
  char why[400] = "";
  bool maybe_applied = false;
  memset(r, 0, sizeof *r);
  c->last_code = 0;
  hpm_http_global();
  for (size_t k = 0; k < c->nendpoints; k++) {
    size_t i = (c->current + k) % c->nendpoints;
    const char *ep = c->endpoints[i];
    char errbuf[CURL_ERROR_SIZE] = "";
    hpm_http_sink s = {.fd = -1, .cap = FL_ETCD_RESPONSE_MAX};
    long status = 0;
    curl_off_t sent = 0;
    struct curl_slist *hdrs = NULL;
    CURL *h = post(c, call, ep, body, &s, errbuf, &hdrs);
    if (!h && errbuf[0]) return hpmh_fail(st, HPMH_E_IO, "", "etcd %s: %s", fl_call_path(call), errbuf);
    if (!h) return hpmh_fail(st, HPMH_E_NOMEM, "", "etcd %s: out of memory", fl_call_path(call));
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->timeout_ms);
    CURLcode rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(h, CURLINFO_REQUEST_SIZE, &sent);
    curl_easy_cleanup(h);
    curl_slist_free_all(hdrs);
    if (rc != CURLE_OK) {
      if (rc == CURLE_OPERATION_TIMEDOUT)
        note(why, sizeof why, "%s: no answer within %ld ms", ep, c->timeout_ms);
      else if (s.over)
        note(why, sizeof why, "%s: an answer of more than %u bytes", ep, FL_ETCD_RESPONSE_MAX);
      else
        note(why, sizeof why, "%s: %s", ep, errbuf[0] ? errbuf : curl_easy_strerror(rc));
      if (sent > 0 && is_write(call)) maybe_applied = true;
      free(s.mem);
      continue;
    }
    fl_etcd_error ee;
    hpmh_status pst;
    int prc = fl_etcd_parse(call, status, s.mem ? (const char *)s.mem : "", s.mem_len, r, &ee, &pst);
    free(s.mem);
    if (prc == 0) {
      c->current = i;
      r->uncertain = maybe_applied;
      return 0;
    }
    fl_etcd_result_free(r);
    c->last_code = ee.code;
    /* A member in trouble (no leader, no quorum: a 5xx or codes 4 and 14)
     * may not speak for the cluster; another may. */
    bool member_trouble = status >= 500 || ee.code == FL_ETCD_CODE_UNAVAILABLE || ee.code == FL_ETCD_CODE_DEADLINE;
    if (pst.code == HPMH_E_REFUSED && !member_trouble) {
      c->current = i;
      return hpmh_fail(st, HPMH_E_REFUSED, "", "etcd %s at %s: %s", fl_call_path(call), ep, pst.detail);
    }
    note(why, sizeof why, "%s: %s", ep, pst.detail);
    if (is_write(call)) maybe_applied = true;
  }
  return hpmh_fail(st, HPMH_E_IO, "", "etcd %s failed at every member (%s)%s", fl_call_path(call), why,
                   maybe_applied ? "; it may have been applied" : "");
}

static int call_op(fl_etcd *c, fl_call call, fl_op_kind kind, const fl_op *op, fl_etcd_result *r, hpmh_status *st) {
  memset(r, 0, sizeof *r);
  if (op->kind != kind)
    return hpmh_fail(st, HPMH_E_INVALID, "", "etcd %s given an op of another kind", fl_call_path(call));
  char *body = fl_etcd_op_json(op, st);
  if (!body) return -1;
  int rc = fl_etcd_call(c, call, body, r, st);
  cJSON_free(body);
  return rc;
}

int fl_etcd_range(fl_etcd *c, const fl_op *op, fl_etcd_result *r, hpmh_status *st) {
  return call_op(c, FL_CALL_RANGE, FL_OP_RANGE, op, r, st);
}

int fl_etcd_put(fl_etcd *c, const fl_op *op, fl_etcd_result *r, hpmh_status *st) {
  return call_op(c, FL_CALL_PUT, FL_OP_PUT, op, r, st);
}

int fl_etcd_delete(fl_etcd *c, const fl_op *op, fl_etcd_result *r, hpmh_status *st) {
  return call_op(c, FL_CALL_DELETE, FL_OP_DELETE, op, r, st);
}

int fl_etcd_txn(fl_etcd *c, const fl_txn *txn, fl_etcd_result *r, hpmh_status *st) {
  memset(r, 0, sizeof *r);
  char *body = fl_etcd_txn_json(txn, st);
  if (!body) return -1;
  int rc = fl_etcd_call(c, FL_CALL_TXN, body, r, st);
  cJSON_free(body);
  return rc;
}

static int lease_call(fl_etcd *c, fl_call call, int64_t arg, fl_etcd_result *r, hpmh_status *st) {
  char *body = fl_etcd_lease_json(call, arg, st);
  memset(r, 0, sizeof *r);
  if (!body) return -1;
  int rc = fl_etcd_call(c, call, body, r, st);
  cJSON_free(body);
  return rc;
}

int fl_etcd_lease_grant(fl_etcd *c, int64_t ttl, int64_t *id, int64_t *ttl_out, hpmh_status *st) {
  fl_etcd_result r;
  if (lease_call(c, FL_CALL_LEASE_GRANT, ttl, &r, st)) return -1;
  *id = r.lease_id;
  if (ttl_out) *ttl_out = r.ttl;
  fl_etcd_result_free(&r);
  return 0;
}

int fl_etcd_lease_keepalive(fl_etcd *c, int64_t id, int64_t *ttl_out, hpmh_status *st) {
  fl_etcd_result r;
  if (lease_call(c, FL_CALL_LEASE_KEEPALIVE, id, &r, st)) return -1;
  int64_t ttl = r.ttl;
  fl_etcd_result_free(&r);
  if (ttl <= 0) {
    c->last_code = FL_ETCD_CODE_NOT_FOUND;
    return hpmh_fail(st, HPMH_E_REFUSED, "", "etcd lease/keepalive: lease %" PRId64 " has expired or was revoked (code %d)",
                     id, FL_ETCD_CODE_NOT_FOUND);
  }
  if (ttl_out) *ttl_out = ttl;
  return 0;
}

int fl_etcd_lease_revoke(fl_etcd *c, int64_t id, hpmh_status *st) {
  fl_etcd_result r;
  int rc = lease_call(c, FL_CALL_LEASE_REVOKE, id, &r, st);
  fl_etcd_result_free(&r);
  return rc;
}

/* ---- watches ---------------------------------------------------------------- */

int fl_etcd_watch_parse(const char *buf, size_t len, hpmh_status *st) {
  if (len > FL_ETCD_RESPONSE_MAX)
    return hpmh_fail(st, HPMH_E_INVALID, "", "a watch message of %zu bytes, more than the %u allowed", len,
                     FL_ETCD_RESPONSE_MAX);
  cJSON *doc = one_object(buf, len);
  if (!doc) return hpmh_fail(st, HPMH_E_INVALID, "", "a watch message that is not one JSON object");
  int rc = -1, code;
  const cJSON *o = NULL, *ev, *cancelled, *compact;
  if (parse_error(doc, &code, st) || get_object(doc, "result", &o, st)) goto out;
  if (!o) {
    hpmh_fail(st, HPMH_E_INVALID, "result", "a watch message without \"result\"");
    goto out;
  }
  if (parse_error(o, &code, st)) goto out;
  ev = cJSON_GetObjectItemCaseSensitive(o, "events");
  cancelled = cJSON_GetObjectItemCaseSensitive(o, "canceled");
  compact = cJSON_GetObjectItemCaseSensitive(o, "compact_revision");
  if (ev && !cJSON_IsArray(ev)) {
    hpmh_fail(st, HPMH_E_INVALID, "events", "\"events\" is not an array");
    goto out;
  }
  rc = (ev && cJSON_GetArraySize(ev) > 0) || cJSON_IsTrue(cancelled) ||
       (compact && !(cJSON_IsString(compact) && !strcmp(compact->valuestring, "0")));
out:
  cJSON_Delete(doc);
  return rc;
}

typedef struct {
  char *buf;
  size_t len, cap;
  int verdict; /* 1 changed, -1 broken, 0 nothing yet */
  hpmh_status st;
  const _Atomic bool *cancel;
} watch_sink;

static size_t watch_data(char *p, size_t size, size_t nmemb, void *ctx) {
  watch_sink *w = ctx;
  size_t n = size * nmemb;
  if (w->len + n + 1 > FL_ETCD_RESPONSE_MAX) {
    w->verdict = -1;
    hpmh_fail(&w->st, HPMH_E_INVALID, "", "a watch message of more than %u bytes", FL_ETCD_RESPONSE_MAX);
    return 0;
  }
  if (w->len + n + 1 > w->cap) {
    size_t cap = (w->len + n + 1) * 2;
    char *b = realloc(w->buf, cap);
    if (!b) {
      w->verdict = -1;
      hpmh_fail(&w->st, HPMH_E_NOMEM, "", "out of memory");
      return 0;
    }
    w->buf = b;
    w->cap = cap;
  }
  memcpy(w->buf + w->len, p, n);
  w->len += n;
  char *nl;
  while ((nl = memchr(w->buf, '\n', w->len))) {
    size_t line = (size_t)(nl - w->buf) + 1;
    int v = fl_etcd_watch_parse(w->buf, line, &w->st);
    memmove(w->buf, w->buf + line, w->len - line);
    w->len -= line;
    if (v) {
      w->verdict = v;
      return 0; /* enough: end the stream */
    }
  }
  return n;
}

static int watch_progress(void *ctx, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d) {
  (void)a, (void)b, (void)c, (void)d;
  const watch_sink *w = ctx;
  return w->cancel && atomic_load(w->cancel);
}

int fl_etcd_watch(fl_etcd *c, const char *key, const char *range_end, int64_t from, long ms,
                  const _Atomic bool *cancel, hpmh_status *st) {
  cJSON *body = cJSON_CreateObject(), *cr = cJSON_AddObjectToObject(body, "create_request");
  if (!cr || add_b64(cr, "key", key, strlen(key), FL_ETCD_KEY_MAX, st) ||
      (range_end && add_b64(cr, "range_end", range_end, strlen(range_end), FL_ETCD_KEY_MAX, st)) ||
      (from > 0 && add_i64(cr, "start_revision", from, st))) {
    cJSON_Delete(body);
    return cr ? -1 : hpmh_fail(st, HPMH_E_NOMEM, "", "out of memory");
  }
  char *text = print_consume(body, st);
  if (!text) return -1;
  char why[400] = "";
  int rc = -1;
  hpm_http_global();
  for (size_t k = 0; k < c->nendpoints && rc < 0; k++) {
    size_t i = (c->current + k) % c->nendpoints;
    const char *ep = c->endpoints[i];
    char errbuf[CURL_ERROR_SIZE] = "";
    hpm_http_sink unused = {.fd = -1, .cap = 1};
    watch_sink w = {.cancel = cancel};
    struct curl_slist *hdrs = NULL;
    CURL *h = post(c, FL_CALL_WATCH, ep, text, &unused, errbuf, &hdrs);
    if (!h) {
      cJSON_free(text);
      return hpmh_fail(st, HPMH_E_IO, "", "etcd watch: %s", errbuf[0] ? errbuf : "out of memory");
    }
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, watch_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &w);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, watch_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, &w);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, ms > 0 ? ms : 1);
    CURLcode cc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);
    curl_slist_free_all(hdrs);
    free(w.buf);
    if (w.verdict > 0) {
      c->current = i;
      rc = 1;
    } else if (w.verdict < 0) {
      note(why, sizeof why, "%s: %s", ep, w.st.detail);
    } else if (cc == CURLE_ABORTED_BY_CALLBACK || cc == CURLE_OPERATION_TIMEDOUT) {
      /* waited the time given; a member that never answered is not asked first next time */
      c->current = status == 200 ? i : (i + 1) % c->nendpoints;
      rc = 0;
    } else {
      note(why, sizeof why, "%s: %s", ep, cc == CURLE_OK ? "the stream ended" : errbuf[0] ? errbuf : curl_easy_strerror(cc));
    }
    if (cancel && atomic_load(cancel) && rc < 0) rc = 0;
  }
  cJSON_free(text);
  if (rc < 0) hpmh_fail(st, HPMH_E_IO, "", "etcd watch failed at every member (%s)", why);
  return rc;
}
