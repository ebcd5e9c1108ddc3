/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the boot-state record parser and the OS request
 * parsers (core/bootstate.c).  Properties checked beyond "no crash":
 *   - a record that parses re-serializes to exactly the same bytes (the
 *     parser is strict: nothing is silently normalized);
 *   - loading two arbitrary copies never yields a slot marked good without
 *     a baseline digest, and a default never has a slot marked good.
 * Inputs of exactly one record whose first byte is 'H' are also tried with
 * the CRC recomputed, so the fuzzer reaches the field checks behind it.
 * Build: clang -fsanitize=fuzzer,address,undefined -Icore/include
 *        tests/fuzz/fuzz_bootstate.c $(B)/san-fuzz objects of core ...
 *        (see the report: any libFuzzer build of core/ + -lmbedcrypto -lfdt)
 */
#include <stdlib.h>
#include <string.h>

#include "hpm/bootstate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
  const uint8_t *p[2];
  size_t n[2];
} two_copies;

static hpm_bs_result rd(void *ctx, unsigned copy, uint8_t *buf, size_t *len) {
  two_copies *c = ctx;
  if (c->n[copy] == 0) return HPM_BS_E_ABSENT;
  if (c->n[copy] > *len) return HPM_BS_E_SIZE;
  memcpy(buf, c->p[copy], c->n[copy]);
  *len = c->n[copy];
  return HPM_BS_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  hpm_bootstate st;
  if (hpm_bs_parse(data, size, &st) == HPM_BS_OK) {
    uint8_t rec[HPM_BS_RECORD_SIZE];
    hpm_bs_serialize(&st, rec);
    if (size != sizeof rec || memcmp(rec, data, sizeof rec) != 0) abort();
  }

  if (size == HPM_BS_RECORD_SIZE && data[0] == 'H') {
    uint8_t sealed[HPM_BS_RECORD_SIZE];
    memcpy(sealed, data, size);
    uint32_t crc = hpm_crc32(sealed, size - 4);
    for (unsigned i = 0; i < 4; i++) sealed[size - 4 + i] = (uint8_t)(crc >> (8 * i));
    if (hpm_bs_parse(sealed, size, &st) == HPM_BS_OK) {
      uint8_t rec[HPM_BS_RECORD_SIZE];
      hpm_bs_serialize(&st, rec);
      if (memcmp(rec, sealed, sizeof rec) != 0) abort();
    }
  }

  /* The first half and the rest as the two copies. */
  two_copies c = {{data, data + size / 2}, {size / 2, size - size / 2}};
  hpm_bs_ops ops = {&c, rd, NULL};
  hpm_bs_load(&ops, &st);
  for (unsigned i = 0; i < HPM_BS_MAX_SLOTS; i++) {
    if (st.slots[i].successful && st.origin != HPM_BS_ORIGIN_LOADED) abort();
    if (st.slots[i].successful) {
      uint8_t z = 0;
      for (unsigned k = 0; k < HPM_DIGEST_LEN; k++) z |= st.slots[i].digest[k];
      if (!z) abort();
    }
  }

  /* The same bytes as requests from the OS. */
  uint32_t floor = st.floor;
  bool unknown = st.floor_unknown;
  (void)hpm_bs_apply_mark_good(&st, data, size);
  if (!unknown && st.floor < floor) abort(); /* the floor never goes down */
  (void)hpm_bs_parse_oneshot(data, size);
  return 0;
}
