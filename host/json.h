/* SPDX-License-Identifier: MIT */
/*
 * JSON and time text for everything hpm's programs print for scripts.
 * Documents are built with cJSON (Debian's libcjson); these helpers cover
 * the few places that stream a value straight to a FILE.
 */
#ifndef HPMH_JSON_H
#define HPMH_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

/* s as a JSON string: quoted, '"', '\\' and control characters escaped,
 * valid UTF-8 kept as it is; bytes that are not valid UTF-8 (a file name
 * is any bytes) become U+FFFD so the output is always valid UTF-8. */
void hpmh_json_str(FILE *f, const char *s);

/* ---- cJSON documents ----------------------------------------------------
 * Items that keep hpm's JSON exact and valid: strings through the same
 * UTF-8 rule as hpmh_json_str (cJSON copies bytes as they are), 64-bit
 * integers as written numbers (cJSON's numbers are doubles), digests as
 * lower-case hex.  Each returns NULL only when out of memory. */
cJSON *hpmh_json_string(const char *s); /* NULL gives null */
cJSON *hpmh_json_u64(uint64_t v);
cJSON *hpmh_json_hex(const uint8_t *p, size_t n);

/* Add item to obj under key, or to the array obj when key is NULL; returns
 * item (NULL, and item freed, when either is NULL or it cannot be added). */
cJSON *hpmh_json_add(cJSON *obj, const char *key, cJSON *item);
cJSON *hpmh_json_add_str(cJSON *obj, const char *key, const char *s);
cJSON *hpmh_json_add_u64(cJSON *obj, const char *key, uint64_t v);
cJSON *hpmh_json_add_hex(cJSON *obj, const char *key, const uint8_t *p, size_t n);
cJSON *hpmh_json_add_bool(cJSON *obj, const char *key, int v);
cJSON *hpmh_json_add_null(cJSON *obj, const char *key);

/* doc, formatted, and a newline on f, flushed.  Returns 0, or -1 when it
 * could not be printed (out of memory, a write error). */
int hpmh_json_print(FILE *f, const cJSON *doc);

/* t (seconds since the epoch) as RFC 3339 UTC "YYYY-MM-DDTHH:MM:SSZ" in buf,
 * "" past the year 9999 or when it cannot be converted; returns buf. */
#define HPMH_UTC_LEN 32
const char *hpmh_utc(uint64_t t, char buf[HPMH_UTC_LEN]);

#endif
