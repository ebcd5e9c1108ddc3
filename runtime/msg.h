/* SPDX-License-Identifier: MIT */
/*
 * hpm's diagnostics: one line "hpm: <text>" on stderr.  The last line is
 * kept so the history can record why a command failed (update.c).
 */
#ifndef HPM_RUNTIME_MSG_H
#define HPM_RUNTIME_MSG_H

#include <stdint.h>
#include <stdio.h>

void hpm_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#define msg(...) hpm_msg(__VA_ARGS__)

/* The text of the last hpm_msg() line ("" if none since the last clear). */
const char *hpm_msg_last(void);
void hpm_msg_clear(void);

/* t (seconds since the epoch) as "YYYY-MM-DDTHH:MM:SSZ" in buf, "" past
 * the year 9999 or when it cannot be converted; returns buf. */
#define HPM_UTC_LEN 32
const char *hpm_utc(uint64_t t, char buf[HPM_UTC_LEN]);

/* s as a JSON string (quoted; '"', '\\', control and non-ASCII bytes escaped). */
void hpm_json_str(FILE *f, const char *s);

#endif
