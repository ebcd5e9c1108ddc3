/* SPDX-License-Identifier: MIT */
/*
 * JSON and time text for everything hpm's programs print for scripts.
 * Documents are built with cJSON (Debian's libcjson); these helpers cover
 * the few places that stream a value straight to a FILE.
 */
#ifndef HPMH_JSON_H
#define HPMH_JSON_H

#include <stdint.h>
#include <stdio.h>

/* s as a JSON string: quoted, '"', '\\' and control characters escaped,
 * valid UTF-8 kept as it is; bytes that are not valid UTF-8 (a file name
 * is any bytes) become U+FFFD so the output is always valid UTF-8. */
void hpmh_json_str(FILE *f, const char *s);

/* t (seconds since the epoch) as RFC 3339 UTC "YYYY-MM-DDTHH:MM:SSZ" in buf,
 * "" past the year 9999 or when it cannot be converted; returns buf. */
#define HPMH_UTC_LEN 32
const char *hpmh_utc(uint64_t t, char buf[HPMH_UTC_LEN]);

#endif
