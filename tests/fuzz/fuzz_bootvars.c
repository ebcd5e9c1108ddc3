/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the parsers of hpmboot.efi's published text variables
 * (runtime/boot/bootvars.c: HpmBootSlots, decimal and hex fields).  Beyond "no
 * crash": a slot table that parses has every field in range, and printing
 * it back the way hpmboot.efi does and parsing that again gives the same
 * table (nothing is silently normalized into something else).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot/bootvars.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t describe(const hpm_bootstate *st, char detail[HPM_BS_MAX_SLOTS][64], char *out, size_t cap) {
  size_t n = 0;
  for (unsigned i = 0; i < HPM_BS_MAX_SLOTS; i++) {
    const hpm_bs_slot *s = &st->slots[i];
    char hx[2 * HPM_DIGEST_LEN + 1];
    for (unsigned k = 0; k < HPM_DIGEST_LEN; k++) snprintf(hx + 2 * k, 3, "%02x", s->digest[k]);
    n += (size_t)snprintf(out + n, cap - n, "%c priority=%u tries=%u successful=%u svn=%u reason=%s%s%s baseline=%s\n",
                          hpm_bs_slot_letter(i), s->priority, s->tries, s->successful ? 1u : 0u, s->svn,
                          hpm_bs_reason_to_string(s->reason), detail[i][0] ? " detail=" : "", detail[i], hx);
    if (n >= cap) abort();
  }
  return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 8192) return 0;
  char *text = malloc(size + 1);
  memcpy(text, data, size);
  text[size] = 0;
  hpm_bootstate st, st2;
  memset(&st, 0, sizeof st);
  memset(&st2, 0, sizeof st2);
  char det[HPM_BS_MAX_SLOTS][64], det2[HPM_BS_MAX_SLOTS][64], why[256];
  memset(det, 0, sizeof det);
  memset(det2, 0, sizeof det2);
  if (hpm_bv_parse_slots(text, &st, det, why, sizeof why) == 0) {
    for (unsigned i = 0; i < HPM_BS_MAX_SLOTS; i++) {
      const hpm_bs_slot *s = &st.slots[i];
      if (s->priority > HPM_BS_PRIORITY_MAX || s->tries > HPM_BS_TRIES_MAX || s->reason >= HPM_BS_REASON_COUNT_)
        abort();
      /* detail words never contain the separators */
      if (strchr(det[i], ' ') || strchr(det[i], '\n')) abort();
    }
    static char again[HPM_BS_MAX_SLOTS * 256];
    describe(&st, det, again, sizeof again);
    if (hpm_bv_parse_slots(again, &st2, det2, why, sizeof why)) abort();
    if (memcmp(st.slots, st2.slots, sizeof st.slots)) abort();
    for (unsigned i = 0; i < HPM_BS_MAX_SLOTS; i++)
      if (strcmp(det[i], det2[i])) abort();
  }
  uint64_t v;
  if (hpm_bv_parse_u64(text, UINT32_MAX, &v) == 0 && v > UINT32_MAX) abort();
  uint8_t d[HPM_DIGEST_LEN];
  (void)hpm_bv_parse_hex32(text, d);
  free(text);
  return 0;
}
