/* SPDX-License-Identifier: MIT */
/*
 * Parsers of the text variables hpmboot.efi publishes: hpm's names for
 * core's parsers (core/bootif.c, where the writer the boot stage uses sits
 * beside them), on NUL-terminated text.
 */
#include "boot/bootvars.h"

#include <string.h>

int hpm_bv_parse_u64(const char *s, uint64_t max, uint64_t *out) {
  return hpm_bootif_parse_u64(s, strlen(s), max, out) == HPM_BS_OK ? 0 : -1;
}

int hpm_bv_parse_hex32(const char *s, uint8_t out[HPM_DIGEST_LEN]) {
  return hpm_bootif_parse_digest(s, strlen(s), out) == HPM_BS_OK ? 0 : -1;
}

int hpm_bv_parse_slots(char *text, hpm_bootstate *st, char detail[HPM_BS_MAX_SLOTS][64], char *why,
                       size_t why_cap) {
  return hpm_bootif_parse_slots(text, strlen(text), st, detail, why, why_cap) == HPM_BS_OK ? 0 : -1;
}
