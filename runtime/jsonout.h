/* SPDX-License-Identifier: MIT */
/*
 * What hpm prints for scripts (--json): one JSON object per command, on one
 * line of stdout, following docs/json.md (schema docs/hpm-json.schema.json).
 * Every document starts with "schema" (HPM_JSON_SCHEMA) and "command"; a
 * command that fails or refuses prints an error document instead
 * (hpm_json_error), with the same exit status.
 */
#ifndef HPM_RUNTIME_JSONOUT_H
#define HPM_RUNTIME_JSONOUT_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "json.h"

#define HPM_JSON_SCHEMA "hpm-json/1"

/* {"schema": HPM_JSON_SCHEMA, "command": command}; NULL when out of memory
 * (every hpmh_json_add* takes NULL). */
cJSON *hpm_json_doc(const char *command);

/* Print doc on one line of stdout and free it; the command has answered. */
void hpm_json_emit(cJSON *doc);

/* Whether this process printed a document (hpm_json_emit). */
bool hpm_json_emitted(void);

/* A time: RFC 3339 UTC text ("2026-12-05T02:18:19Z"); 0 gives null. */
cJSON *hpm_json_add_time(cJSON *obj, const char *key, uint64_t t);

/* A string that may be absent: "" gives null. */
cJSON *hpm_json_add_opt(cJSON *obj, const char *key, const char *s);

/* The answer of a command that exited with rc != 0 without a document:
 * {"schema", "command", "error": {"exit": rc, "kind", "message"}}.  kind:
 * "refused" (1), "usage" (2), "io" (3), else "failed"; message: the last
 * diagnostic line (msg.h). */
void hpm_json_error(const char *command, int rc);

#endif
