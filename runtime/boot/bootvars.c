/* SPDX-License-Identifier: MIT */
/*
 * Parsers of the text variables hpmboot.efi publishes (docs/boot-interface.md
 * "Variables"), kept apart from I/O so they are fuzzed
 * (tests/fuzz/fuzz_bootvars.c).  Strict: decimal without sign or spaces,
 * lower-case hex, every field in range.
 */
#include "boot/bootvars.h"

#include <stdio.h>
#include <string.h>

int hpm_bv_parse_u64(const char *s, uint64_t max, uint64_t *out) {
  if (!*s || strlen(s) > 20) return -1;
  uint64_t v = 0;
  for (const char *p = s; *p; p++) {
    if (*p < '0' || *p > '9') return -1;
    unsigned d = (unsigned)(*p - '0');
    if (v > (UINT64_MAX - d) / 10) return -1;
    v = v * 10 + d;
  }
  if (v > max) return -1;
  *out = v;
  return 0;
}

int hpm_bv_parse_hex32(const char *s, uint8_t out[HPM_DIGEST_LEN]) {
  if (strlen(s) != 2 * HPM_DIGEST_LEN) return -1;
  for (unsigned i = 0; i < HPM_DIGEST_LEN; i++) {
    unsigned v = 0;
    for (unsigned k = 0; k < 2; k++) {
      char c = s[2 * i + k];
      unsigned d;
      if (c >= '0' && c <= '9') d = (unsigned)(c - '0');
      else if (c >= 'a' && c <= 'f') d = (unsigned)(c - 'a' + 10);
      else return -1; /* lower case only, as published */
      v = v * 16 + d;
    }
    out[i] = (uint8_t)v;
  }
  return 0;
}

static int parse_reason(const char *s) {
  for (int r = 0; r < HPM_BS_REASON_COUNT_; r++)
    if (!strcmp(s, hpm_bs_reason_to_string((hpm_bs_reason)r))) return r;
  return -1;
}

/* HpmBootSlots: one line per slot, "a priority=2 tries=2 successful=0 svn=5
 * reason=none [detail=x] baseline=<hex>".  Strict: every slot once, every
 * known field present and in range; unknown fields are ignored. */
int hpm_bv_parse_slots(char *text, hpm_bootstate *st, char detail[HPM_BS_MAX_SLOTS][64], char *why,
                       size_t why_cap) {
  unsigned seen = 0;
  char *save = NULL;
  for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    char *s2 = NULL;
    char *tok = strtok_r(line, " ", &s2);
    int i = tok && strlen(tok) == 1 ? hpm_bs_slot_from_letter(tok[0]) : -1;
    if (i < 0 || (seen & (1u << i))) { snprintf(why, why_cap, "HpmBootSlots: bad or repeated slot '%s'", tok ? tok : ""); return -1; }
    seen |= 1u << i;
    hpm_bs_slot *s = &st->slots[i];
    unsigned have = 0;
    while ((tok = strtok_r(NULL, " ", &s2))) {
      char *eq = strchr(tok, '=');
      if (!eq) continue;
      *eq = 0;
      const char *k = tok, *v = eq + 1;
      uint64_t n = 0;
      int bad = 0;
      if (!strcmp(k, "priority")) { bad = hpm_bv_parse_u64(v, HPM_BS_PRIORITY_MAX, &n); s->priority = (uint8_t)n; have |= 1; }
      else if (!strcmp(k, "tries")) { bad = hpm_bv_parse_u64(v, HPM_BS_TRIES_MAX, &n); s->tries = (uint8_t)n; have |= 2; }
      else if (!strcmp(k, "successful")) { bad = hpm_bv_parse_u64(v, 1, &n); s->successful = n == 1; have |= 4; }
      else if (!strcmp(k, "svn")) { bad = hpm_bv_parse_u64(v, UINT32_MAX, &n); s->svn = (uint32_t)n; have |= 8; }
      else if (!strcmp(k, "reason")) { int r = parse_reason(v); bad = r < 0; s->reason = (hpm_bs_reason)(r < 0 ? 0 : r); have |= 16; }
      else if (!strcmp(k, "baseline")) { bad = hpm_bv_parse_hex32(v, s->digest); have |= 32; }
      else if (!strcmp(k, "detail")) snprintf(detail[i], sizeof detail[i], "%s", v);
      if (bad) { snprintf(why, why_cap, "HpmBootSlots: slot %c: bad %s '%s'", hpm_bs_slot_letter((unsigned)i), k, v); return -1; }
    }
    if (have != 63) { snprintf(why, why_cap, "HpmBootSlots: slot %c: a field is missing", hpm_bs_slot_letter((unsigned)i)); return -1; }
    static const uint8_t no_baseline[HPM_DIGEST_LEN];
    if (s->successful && !memcmp(s->digest, no_baseline, HPM_DIGEST_LEN)) { snprintf(why, why_cap, "HpmBootSlots: slot %c: marked good without a baseline", hpm_bs_slot_letter((unsigned)i)); return -1; }
  }
  if (seen != (1u << HPM_BS_MAX_SLOTS) - 1) { snprintf(why, why_cap, "HpmBootSlots: not every slot a-d is listed"); return -1; }
  return 0;
}

