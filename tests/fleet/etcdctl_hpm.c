/* SPDX-License-Identifier: MIT */
/*
 * The test driver of the etcd client (runtime/fleet/etcd.h): one request
 * per run, its result as one JSON document on stdout, for
 * tests/fleet/test_etcd_cluster.py.  Not installed, not an hpm command.
 *
 *   etcdctl_hpm --endpoints URL[,URL...] [--timeout-ms N] COMMAND ...
 *     get KEY [--prefix]          {"revision", "count", "more", "kvs": [...]}
 *     put KEY VALUE [--lease ID]  {"revision", "uncertain"}
 *     del KEY [--prefix]          {"revision", "deleted"}
 *     cas KEY mod|create|version|value EXPECTED VALUE
 *                                 a txn: if KEY's target equals EXPECTED,
 *                                 put VALUE, else read KEY:
 *                                 {"succeeded", "revision", "uncertain", "current"}
 *     grant TTL                   {"id", "ttl"}
 *     keepalive ID                {"ttl"}
 *     revoke ID                   {}
 *
 * Exit status: 0 done, 1 etcd refused (its message and code on stderr),
 * 2 usage, 3 any other failure (no member answered, a bad answer).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet/etcd.h"
#include "json.h"

static int usage(void) {
  fprintf(stderr, "usage: etcdctl_hpm --endpoints URL[,URL...] [--timeout-ms N] "
                  "get|put|del|cas|grant|keepalive|revoke ARGS...\n");
  return 2;
}

static int fail(const fl_etcd *c, const hpmh_status *st) {
  fprintf(stderr, "etcdctl_hpm: %s\n", st->detail);
  if (c->last_code) fprintf(stderr, "etcdctl_hpm: etcd code %d\n", c->last_code);
  return st->code == HPMH_E_REFUSED ? 1 : 3;
}

static int number(const char *s, int64_t *out) {
  char *end;
  long long v = strtoll(s, &end, 10);
  if (!*s || *end) return -1;
  *out = v;
  return 0;
}

static cJSON *kv_json(const fl_kv *kv) {
  cJSON *o = cJSON_CreateObject();
  hpmh_json_add_str(o, "key", (const char *)kv->key);
  hpmh_json_add_str(o, "value", (const char *)kv->value);
  hpmh_json_add_u64(o, "create_revision", (uint64_t)kv->create_revision);
  hpmh_json_add_u64(o, "mod_revision", (uint64_t)kv->mod_revision);
  hpmh_json_add_u64(o, "version", (uint64_t)kv->version);
  hpmh_json_add_u64(o, "lease", (uint64_t)kv->lease);
  return o;
}

static cJSON *kvs_json(const fl_etcd_result *r) {
  cJSON *a = cJSON_CreateArray();
  for (size_t i = 0; i < r->nkvs; i++) hpmh_json_add(a, NULL, kv_json(&r->kvs[i]));
  return a;
}

int main(int argc, char **argv) {
  const char *endpoints = NULL;
  long timeout_ms = 2000;
  int i = 1;
  for (; i < argc && !strncmp(argv[i], "--", 2); i += 2) {
    if (i + 1 >= argc) return usage();
    if (!strcmp(argv[i], "--endpoints"))
      endpoints = argv[i + 1];
    else if (!strcmp(argv[i], "--timeout-ms"))
      timeout_ms = atol(argv[i + 1]);
    else
      return usage();
  }
  if (i >= argc) return usage();
  const char *cmd = argv[i++];
  int nargs = argc - i;
  char **a = argv + i;

  fl_etcd c;
  hpmh_status st;
  fl_etcd_result r = {0};
  cJSON *out = cJSON_CreateObject();
  int rc = 0;
  if (fl_etcd_init(&c, endpoints, timeout_ms, &st)) {
    fprintf(stderr, "etcdctl_hpm: %s\n", st.detail);
    cJSON_Delete(out);
    return 2;
  }

  if (!strcmp(cmd, "get") || !strcmp(cmd, "del")) {
    bool prefix = nargs == 2 && !strcmp(a[1], "--prefix");
    if (nargs != 1 && !prefix) goto usage;
    bool get = cmd[0] == 'g';
    fl_op op = {.kind = get ? FL_OP_RANGE : FL_OP_DELETE, .key = a[0], .key_len = strlen(a[0]), .prefix = prefix};
    if (get ? fl_etcd_range(&c, &op, &r, &st) : fl_etcd_delete(&c, &op, &r, &st)) goto failed;
    hpmh_json_add_u64(out, "revision", (uint64_t)r.revision);
    if (get) {
      hpmh_json_add_u64(out, "count", (uint64_t)r.count);
      hpmh_json_add_bool(out, "more", r.more);
      hpmh_json_add(out, "kvs", kvs_json(&r));
    } else {
      hpmh_json_add_u64(out, "deleted", (uint64_t)r.deleted);
    }
  } else if (!strcmp(cmd, "put")) {
    int64_t lease = 0;
    if (nargs == 4 && !strcmp(a[2], "--lease")) {
      if (number(a[3], &lease)) goto usage;
    } else if (nargs != 2) {
      goto usage;
    }
    fl_op op = {.kind = FL_OP_PUT, .key = a[0], .key_len = strlen(a[0]), .value = a[1],
                .value_len = strlen(a[1]), .lease = lease};
    if (fl_etcd_put(&c, &op, &r, &st)) goto failed;
    hpmh_json_add_u64(out, "revision", (uint64_t)r.revision);
    hpmh_json_add_bool(out, "uncertain", r.uncertain);
  } else if (!strcmp(cmd, "cas")) {
    static const char *const targets[] = {"version", "create", "mod", "value"};
    if (nargs != 4) goto usage;
    fl_cmp cmp = {.key = a[0], .key_len = strlen(a[0]), .result = FL_CMP_EQUAL};
    size_t t = 0;
    while (t < 4 && strcmp(a[1], targets[t])) t++;
    if (t == 4) goto usage;
    cmp.target = (fl_cmp_target)t;
    if (cmp.target == FL_CMP_VALUE) {
      cmp.value = a[2];
      cmp.value_len = strlen(a[2]);
    } else if (number(a[2], &cmp.number)) {
      goto usage;
    }
    fl_op put = {.kind = FL_OP_PUT, .key = a[0], .key_len = strlen(a[0]), .value = a[3], .value_len = strlen(a[3])};
    fl_op get = {.kind = FL_OP_RANGE, .key = a[0], .key_len = strlen(a[0])};
    fl_txn txn = {.cmp = &cmp, .ncmp = 1, .success = &put, .nsuccess = 1, .failure = &get, .nfailure = 1};
    if (fl_etcd_txn(&c, &txn, &r, &st)) goto failed;
    hpmh_json_add_bool(out, "succeeded", r.succeeded);
    hpmh_json_add_u64(out, "revision", (uint64_t)r.revision);
    hpmh_json_add_bool(out, "uncertain", r.uncertain);
    if (r.nops != 1 || r.ops[0].call != (r.succeeded ? FL_CALL_PUT : FL_CALL_RANGE)) {
      fprintf(stderr, "etcdctl_hpm: the txn answered %zu responses, not the one of its branch\n", r.nops);
      rc = 3;
      goto done;
    }
    if (!r.succeeded && r.ops[0].nkvs == 1)
      hpmh_json_add(out, "current", kv_json(&r.ops[0].kvs[0]));
    else
      hpmh_json_add_null(out, "current");
  } else if (!strcmp(cmd, "grant") || !strcmp(cmd, "keepalive") || !strcmp(cmd, "revoke")) {
    int64_t n, id, ttl;
    if (nargs != 1 || number(a[0], &n)) goto usage;
    if (cmd[0] == 'g') {
      if (fl_etcd_lease_grant(&c, n, &id, &ttl, &st)) goto failed;
      hpmh_json_add_u64(out, "id", (uint64_t)id);
      hpmh_json_add_u64(out, "ttl", (uint64_t)ttl);
    } else if (cmd[0] == 'k') {
      if (fl_etcd_lease_keepalive(&c, n, &ttl, &st)) goto failed;
      hpmh_json_add_u64(out, "ttl", (uint64_t)ttl);
    } else if (fl_etcd_lease_revoke(&c, n, &st)) {
      goto failed;
    }
  } else {
    goto usage;
  }
  hpmh_json_print(stdout, out);
  goto done;
usage:
  rc = usage();
  goto done;
failed:
  rc = fail(&c, &st);
done:
  fl_etcd_result_free(&r);
  cJSON_Delete(out);
  return rc;
}
