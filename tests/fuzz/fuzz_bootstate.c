/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the boot-state record parser and the OS request
 * parsers (core/bootstate.c).  Properties checked beyond "no crash":
 *   - a record that parses re-serializes to exactly the same bytes (the
 *     parser is strict: nothing is silently normalized);
 *   - loading two arbitrary copies never yields a slot marked good without
 *     a baseline digest, and a default never has a slot marked good.
 *   - a slot request that parses re-serializes to the same bytes, and
 *     applying it is all or nothing and never marks a slot good, moves the
 *     floor, a digest or an SVN, or leaves no slot to try.
 * Inputs of exactly one record whose first byte is 'H' (and inputs of a
 * request's size) are also tried with the CRC recomputed, so the fuzzer
 * reaches the field checks behind it.
 * Built and run by mk/fuzz.mk (make check-fuzz, make fuzz).
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

  /* The same bytes as a slot request (also re-sealed with a correct CRC,
   * to reach the field checks).  A request that parses re-serializes to the
   * same bytes; applying it to a loaded state is all or nothing and never
   * marks a slot good, lowers the floor or changes a digest or SVN. */
  uint8_t sealed[HPM_BS_REQ_MAX_SIZE];
  for (int pass = 0; pass < 2; pass++) {
    const uint8_t *rq = data;
    if (pass == 1) {
      if (size < 8 || size > sizeof sealed) break;
      memcpy(sealed, data, size);
      uint32_t crc = hpm_crc32(sealed, size - 4);
      for (unsigned i = 0; i < 4; i++) sealed[size - 4 + i] = (uint8_t)(crc >> (8 * i));
      rq = sealed;
    }
    hpm_bs_request req;
    if (hpm_bs_parse_request(rq, size, &req) != HPM_BS_OK) continue;
    uint8_t again[HPM_BS_REQ_MAX_SIZE];
    if (hpm_bs_serialize_request(&req, again) != size || memcmp(again, rq, size) != 0) abort();
    hpm_bootstate before = st;
    /* Make the request match the state half the time. */
    if (pass == 1) {
      st.origin = HPM_BS_ORIGIN_LOADED;
      st.floor_unknown = false;
      st.sequence = req.sequence;
      before = st;
    }
    hpm_bs_req_status rs = hpm_bs_apply_request(&st, &req);
    if (rs != HPM_BS_REQ_APPLIED) {
      if (!hpm_bs_same(&st, &before) || st.sequence != before.sequence ||
          st.origin != before.origin)
        abort();
      continue;
    }
    if (st.floor != before.floor || st.sequence != before.sequence) abort();
    bool candidate = false;
    for (unsigned i = 0; i < HPM_BS_MAX_SLOTS; i++) {
      const hpm_bs_slot *a = &st.slots[i], *b = &before.slots[i];
      if (a->successful && !b->successful) abort();
      if (a->svn != b->svn || memcmp(a->digest, b->digest, HPM_DIGEST_LEN) != 0) abort();
      if (a->priority > HPM_BS_PRIORITY_MAX || a->tries > HPM_BS_TRIES_MAX) abort();
      candidate = candidate || (a->priority > 0 && (a->successful || a->tries > 0));
    }
    if (!candidate) abort();
    st = before;
  }
  return 0;
}
