/* SPDX-License-Identifier: MIT */
/* Hex text to bytes (the other way is core's hpm_fmt_hex). */
#ifndef HPMH_HEX_H
#define HPMH_HEX_H

#include <stddef.h>
#include <stdint.h>

/* Exactly 2n hex digits (either case) of s into out[n].  Returns 0, or -1
 * for any other length or a non-hex character (out is then unspecified). */
int hpmh_parse_hex(const char *s, uint8_t *out, size_t n);

/* A decimal number 0..UINT32_MAX, nothing else (no sign, no spaces).
 * Returns 0, or -1. */
int hpmh_parse_u32(const char *s, uint32_t *out);

#endif
