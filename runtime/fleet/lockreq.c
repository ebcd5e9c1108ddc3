/* SPDX-License-Identifier: MIT */
/* The body of a FleetLock request (serve.h fl_lockreq_parse): untrusted
 * bytes from the network, parsed strictly; fuzzed by
 * tests/fuzz/fuzz_fleetlock.c. */
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "fleet/serve.h"

static int bad(char *err, size_t n, const char *what) {
  snprintf(err, n, "%s", what);
  return -1;
}

static bool group_ok(const char *s) {
  /* the protocol's ^[a-zA-Z0-9.-]+$, within a fleet name's length */
  size_t n = strlen(s);
  if (!n || n > FL_NAME_MAX) return false;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '.' ||
          s[i] == '-'))
      return false;
  return true;
}

int fl_lockreq_parse(const char *body, size_t len, char id[FL_NAME_MAX + 1], char group[FL_NAME_MAX + 1], char *err,
                     size_t n) {
  id[0] = group[0] = 0;
  if (len > FL_LOCKREQ_MAX) return bad(err, n, "the body is larger than 4096 bytes");
  if (memchr(body, 0, len)) return bad(err, n, "the body holds a NUL byte");
  const char *end = NULL;
  cJSON *j = cJSON_ParseWithLengthOpts(body, len, &end, false);
  int rc = -1;
  if (!j || !cJSON_IsObject(j)) {
    bad(err, n, "the body is not one JSON object");
    goto out;
  }
  for (; end && end < body + len; end++)
    if (*end != ' ' && *end != '\n' && *end != '\r' && *end != '\t') {
      bad(err, n, "bytes after the JSON object");
      goto out;
    }
  const cJSON *cp = cJSON_GetObjectItemCaseSensitive(j, "client_params");
  if (!cJSON_IsObject(cp)) {
    bad(err, n, "\"client_params\" is missing or not an object");
    goto out;
  }
  /* "id" in the protocol; "node_uuid" in its first version (Zincati before 0.0.9) */
  const cJSON *i = cJSON_GetObjectItemCaseSensitive(cp, "id");
  if (!i) i = cJSON_GetObjectItemCaseSensitive(cp, "node_uuid");
  const cJSON *g = cJSON_GetObjectItemCaseSensitive(cp, "group");
  if (!cJSON_IsString(i) || !fl_name_ok(i->valuestring)) {
    bad(err, n, "\"client_params.id\" must be a host name: 1..63 letters, digits, '.', '_', '-'");
    goto out;
  }
  if (!cJSON_IsString(g) || !group_ok(g->valuestring)) {
    bad(err, n, "\"client_params.group\" must be 1..63 letters, digits, '.', '-'");
    goto out;
  }
  snprintf(id, FL_NAME_MAX + 1, "%s", i->valuestring);
  snprintf(group, FL_NAME_MAX + 1, "%s", g->valuestring);
  rc = 0;
out:
  cJSON_Delete(j);
  return rc;
}
