/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the etcd response parser (runtime/fleet/etcd.c,
 * fl_etcd_parse): what a member of the cluster answers is untrusted.  The
 * first input byte picks the call (range, put, delete, txn, lease grant,
 * keepalive, revoke), the second the HTTP status, the rest is the body; a
 * first byte 0xff takes the rest as one message of a watch stream
 * (fl_etcd_watch_parse).
 * Seeds (tests/fuzz/corpus-etcd) are real answers of etcd 3.4's gateway.
 * Invariants: an accepted answer stays within the documented bounds, and
 * every key and value is NUL-terminated at its length.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fleet/etcd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_kvs(const fl_etcd_result *r) {
  if (r->nkvs > FL_ETCD_MAX_KVS || (r->nkvs && !r->kvs) || r->count < (int64_t)r->nkvs) abort();
  for (size_t i = 0; i < r->nkvs; i++) {
    const fl_kv *kv = &r->kvs[i];
    if (!kv->key || !kv->value || kv->key_len == 0 || kv->key_len > FL_ETCD_KEY_MAX ||
        kv->value_len > FL_ETCD_VALUE_MAX || kv->key[kv->key_len] || kv->value[kv->value_len])
      abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const long statuses[] = {200, 400, 404, 500, 503};
  if (size < 2) return 0;
  if (data[0] == 0xff) { /* one message of a watch stream (fl_etcd_watch_parse) */
    hpmh_status st;
    int v = fl_etcd_watch_parse((const char *)data + 1, size - 1, &st);
    if (v < -1 || v > 1 || (v < 0 && (!memchr(st.detail, '\0', sizeof st.detail) || !st.detail[0]))) abort();
    return 0;
  }
  fl_call call = (fl_call)(data[0] % 7);
  long status = statuses[data[1] % 5];
  fl_etcd_result r;
  fl_etcd_error err;
  hpmh_status st;
  if (fl_etcd_parse(call, status, (const char *)data + 2, size - 2, &r, &err, &st) == 0) {
    if (status != 200 || err.code != 0 || r.call != call || r.revision < 0) abort();
    check_kvs(&r);
    if (r.nops > FL_ETCD_MAX_TXN_OPS || (r.nops && call != FL_CALL_TXN)) abort();
    for (size_t i = 0; i < r.nops; i++) {
      if (r.ops[i].nops) abort();
      check_kvs(&r.ops[i]);
    }
  } else if (!memchr(st.detail, '\0', sizeof st.detail) || !st.detail[0]) {
    abort();
  }
  fl_etcd_result_free(&r);
  return 0;
}
