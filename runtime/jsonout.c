/* SPDX-License-Identifier: MIT */
#include "jsonout.h"

#include <stdio.h>
#include <stdlib.h>

#include "msg.h"

static bool emitted;

cJSON *hpm_json_doc(const char *command) {
  cJSON *d = cJSON_CreateObject();
  hpmh_json_add_str(d, "schema", HPM_JSON_SCHEMA);
  hpmh_json_add_str(d, "command", command);
  return d;
}

void hpm_json_emit(cJSON *doc) {
  char *s = doc ? cJSON_PrintUnformatted(doc) : NULL;
  if (s) {
    puts(s);
    fflush(stdout);
  } else {
    msg("out of memory printing JSON");
  }
  free(s);
  cJSON_Delete(doc);
  emitted = true;
}

bool hpm_json_emitted(void) { return emitted; }

cJSON *hpm_json_add_time(cJSON *obj, const char *key, uint64_t t) {
  char b[HPMH_UTC_LEN];
  if (!t || !hpmh_utc(t, b)[0]) return hpmh_json_add_null(obj, key);
  return hpmh_json_add_str(obj, key, b);
}

cJSON *hpm_json_add_opt(cJSON *obj, const char *key, const char *s) {
  return s && *s ? hpmh_json_add_str(obj, key, s) : hpmh_json_add_null(obj, key);
}

void hpm_json_error(const char *command, int rc) {
  cJSON *d = hpm_json_doc(command);
  cJSON *e = cJSON_AddObjectToObject(d, "error");
  hpmh_json_add_u64(e, "exit", (uint64_t)rc);
  hpmh_json_add_str(e, "kind", rc == 1 ? "refused" : rc == 2 ? "usage" : rc == 3 ? "io" : "failed");
  hpmh_json_add_str(e, "message", hpm_msg_last()[0] ? hpm_msg_last() : "failed without a message");
  hpm_json_emit(d);
}
