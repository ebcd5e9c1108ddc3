/* SPDX-License-Identifier: MIT */
/* Parsers of hpmboot.efi's published text variables (bootvars.c): core's
 * (hpm/bootif.h) on NUL-terminated text, returning 0 or -1. */
#ifndef HPM_RT_BOOTVARS_H
#define HPM_RT_BOOTVARS_H

#include <stddef.h>
#include <stdint.h>

#include "hpm/bootif.h"
#include "hpm/bootstate.h"

/* Decimal, digits only, at most max: 0, or -1 with *out untouched. */
int hpm_bv_parse_u64(const char *s, uint64_t max, uint64_t *out);

/* Exactly 64 lower-case hex digits: 0, or -1. */
int hpm_bv_parse_hex32(const char *s, uint8_t out[HPM_DIGEST_LEN]);

/*
 * HpmBootSlots ("a priority=2 tries=2 successful=0 svn=5 reason=none
 * [detail=x] baseline=<hex>", one line per slot): fills st->slots[] and
 * detail[] (the verify-failed detail word, "" if none), as
 * hpm_bootif_parse_slots.  Every slot a-d exactly once, every field present
 * and in range; unknown fields are ignored.  0, or -1 with `why` naming the
 * slot and field.
 */
int hpm_bv_parse_slots(char *text, hpm_bootstate *st, char detail[HPM_BS_MAX_SLOTS][64], char *why,
                       size_t why_cap);
_Static_assert(HPM_BOOTIF_DETAIL_MAX == 64, "hpm_bv_parse_slots's detail[] is core's");

#endif
