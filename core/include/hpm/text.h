/* SPDX-License-Identifier: MIT */
/*
 * Bounded text building, for core's diagnostics and record writers and for
 * the boot stage: append to a fixed buffer, always NUL-terminated, never
 * past its capacity.  A text that did not fit is marked truncated, so a
 * writer can refuse to publish half a record.
 */
#ifndef HPM_TEXT_H
#define HPM_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
  char *buf;
  size_t cap;     /* bytes at buf, the NUL included */
  size_t len;     /* characters written so far */
  bool truncated; /* something did not fit (or cap is 0) */
} hpm_text;

/* An empty text in buf[0..cap) (buf[0] is set to NUL). */
hpm_text hpm_text_start(char *buf, size_t cap);

/* Append a string (NULL appends nothing), one character, a decimal number,
 * or n bytes as lower-case hex (whole bytes only). */
void hpm_text_add(hpm_text *t, const char *s);
void hpm_text_char(hpm_text *t, char c);
void hpm_text_u64(hpm_text *t, uint64_t v);
void hpm_text_hex(hpm_text *t, const uint8_t *p, size_t n);

#endif
