/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of core/bootstate.c's slot requests from the OS (HpmSlotRequest):
 * layout and strict parsing, restaging, what a request can never bypass
 * (verification, the floor), staleness, renumbering.  Fakes: bsfake.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "bsfake.h"

/* ---- slot request ------------------------------------------------------------ */

static hpm_bs_request one_entry(uint64_t seq, uint8_t op, uint8_t slot, uint8_t prio,
                                uint8_t tries, uint8_t flags) {
  hpm_bs_request r;
  memset(&r, 0, sizeof r);
  r.sequence = seq;
  r.count = 1;
  r.entries[0] = (hpm_bs_req_entry){op, slot, prio, tries, flags};
  return r;
}

/* A loaded state with sequence seq: a marked good (svn 5, floor 5), b
 * refused, c/d disabled. */
static void loaded_state(hpm_bootstate *st, uint64_t seq) {
  hpm_bs_default(st, HPM_BS_ORIGIN_FRESH);
  st->origin = HPM_BS_ORIGIN_LOADED;
  st->current_copy = 0;
  st->sequence = seq;
  st->floor = 5;
  st->slots[0].successful = true;
  st->slots[0].tries = 0;
  st->slots[0].svn = 5;
  memset(st->slots[0].digest, 0xa0, 32);
  st->slots[1].tries = 0;
  st->slots[1].reason = HPM_BS_REASON_VERIFY_FAILED;
  st->slots[1].detail = HPM_E_SIGNATURE_INVALID;
  memset(st->slots[1].digest, 0xb0, 32);
  st->slots[1].svn = 5;
}

/* loaded_state, its slot a as the checker sees it (digest 0xa0, svn 5). */
static void loaded_env(sel_env *e, uint64_t seq) {
  bsf_sel_init(e, HPM_BS_ORIGIN_FRESH);
  e->f.digest_byte[0] = 0xa0;
  e->f.svn[0] = 5;
  loaded_state(&e->st, seq);
}

static void test_request_roundtrip_and_layout(void **unused) {
  (void)unused;
  hpm_bs_request r = one_entry(0x1122334455667788ull, HPM_BS_REQ_OP_SET, 2, 7, 3,
                               HPM_BS_REQ_CLEAR_SUCCESSFUL | HPM_BS_REQ_CLEAR_REFUSAL);
  r.entries[1] = (hpm_bs_req_entry){HPM_BS_REQ_OP_ACTIVATE, 3, 0, 1, 0};
  r.count = 2;
  uint8_t buf[HPM_BS_REQ_MAX_SIZE], want[36];
  assert_int_equal(hpm_bs_serialize_request(&r, buf), HPM_BS_REQ_SIZE(2));
  /* The documented layout, byte for byte (docs/boot-interface.md). */
  static const uint8_t body[32] = {'H', 'P', 'M', 'R', 1, 0, 2, 0,
                                   0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,
                                   1, 2, 7, 3, 3, 0, 0, 0,
                                   2, 3, 0, 1, 0, 0, 0, 0};
  memcpy(want, body, 32);
  uint32_t crc = hpm_crc32(body, 32);
  for (unsigned i = 0; i < 4; i++) want[32 + i] = (uint8_t)(crc >> (8 * i));
  assert_memory_equal(buf, want, sizeof want);
  hpm_bs_request back;
  assert_int_equal(hpm_bs_parse_request(buf, HPM_BS_REQ_SIZE(2), &back), HPM_BS_OK);
  assert_int_equal(back.sequence, r.sequence);
  assert_int_equal(back.count, 2);
  assert_memory_equal(&back.entries[0], &r.entries[0], sizeof r.entries[0]);
  assert_memory_equal(&back.entries[1], &r.entries[1], sizeof r.entries[1]);
  /* Invalid requests are not serialized. */
  r.entries[1].priority = 1; /* ACTIVATE takes no priority */
  assert_int_equal(hpm_bs_serialize_request(&r, buf), 0);
  r.count = 0;
  assert_int_equal(hpm_bs_serialize_request(&r, buf), 0);
}

/* Re-seal with a correct CRC so the field checks behind it are reached. */
static void reseal_req(uint8_t *buf, size_t len) {
  uint32_t crc = hpm_crc32(buf, len - 4);
  for (unsigned i = 0; i < 4; i++) buf[len - 4 + i] = (uint8_t)(crc >> (8 * i));
}

static void test_request_parse_strict(void **unused) {
  (void)unused;
  hpm_bs_request r = one_entry(9, HPM_BS_REQ_OP_SET, 1, 3, 2, HPM_BS_REQ_CLEAR_REFUSAL), out;
  uint8_t good[HPM_BS_REQ_MAX_SIZE], b[HPM_BS_REQ_MAX_SIZE + 1];
  size_t len = hpm_bs_serialize_request(&r, good);
  assert_int_equal(len, 28);
  /* Every single bit flip is refused (CRC, or the size/magic/version in front of it). */
  for (size_t i = 0; i < len * 8; i++) {
    memcpy(b, good, len);
    b[i / 8] ^= (uint8_t)(1u << (i % 8));
    assert_int_not_equal(hpm_bs_parse_request(b, len, &out), HPM_BS_OK);
  }
  /* Truncated, extended, empty. */
  for (size_t n = 0; n < len; n++) assert_int_not_equal(hpm_bs_parse_request(good, n, &out), HPM_BS_OK);
  memcpy(b, good, len);
  b[len] = 0;
  assert_int_equal(hpm_bs_parse_request(b, len + 1, &out), HPM_BS_E_SIZE);
  assert_int_equal(hpm_bs_parse_request(NULL, len, &out), HPM_BS_E_INVALID_ARGUMENT);
  /* Sealed (correct CRC) but a count that disagrees with the size, a field
   * out of range, another magic or version: each refused as such. */
  const struct {
    size_t off;
    uint8_t v;
    hpm_bs_result want;
  } bad[] = {
      {6, 2, HPM_BS_E_SIZE}, {6, 0, HPM_BS_E_SIZE},        /* count */
      {7, 1, HPM_BS_E_FIELD},                              /* header reserved */
      {16, 0, HPM_BS_E_FIELD}, {16, 3, HPM_BS_E_FIELD},    /* op */
      {17, 4, HPM_BS_E_FIELD},                             /* slot */
      {18, 16, HPM_BS_E_FIELD},                            /* priority > 15 */
      {19, 16, HPM_BS_E_FIELD},                            /* tries > 15 */
      {20, 4, HPM_BS_E_FIELD}, {20, 0x80, HPM_BS_E_FIELD}, /* unknown flag */
      {21, 1, HPM_BS_E_FIELD}, {23, 1, HPM_BS_E_FIELD},    /* entry reserved */
      {16, HPM_BS_REQ_OP_ACTIVATE, HPM_BS_E_FIELD},        /* ACTIVATE takes no priority */
      {3, 'B', HPM_BS_E_MAGIC}, {4, 2, HPM_BS_E_VERSION},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    memcpy(b, good, len);
    b[bad[i].off] = bad[i].v;
    reseal_req(b, len);
    assert_int_equal(hpm_bs_parse_request(b, len, &out), bad[i].want);
  }
  /* ACTIVATE without a priority is a request. */
  memcpy(b, good, len);
  b[16] = HPM_BS_REQ_OP_ACTIVATE;
  b[18] = 0;
  reseal_req(b, len);
  assert_int_equal(hpm_bs_parse_request(b, len, &out), HPM_BS_OK);
  /* A state record is not a request, and vice versa. */
  hpm_bootstate st;
  uint8_t rec[HPM_BS_RECORD_SIZE];
  loaded_state(&st, 3);
  hpm_bs_serialize(&st, rec);
  assert_int_not_equal(hpm_bs_parse_request(rec, sizeof rec, &out), HPM_BS_OK);
  assert_int_not_equal(hpm_bs_parse(good, len, &st), HPM_BS_OK);
}

static void test_request_restages_refused_slot(void **unused) {
  (void)unused;
  sel_env e;
  loaded_env(&e, 7);
  e.f.svn[1] = 5;
  /* b holds a bad baseline: refused, and stays refused without a request. */
  e.f.reason[1] = HPM_BS_REASON_VERIFY_FAILED;
  bsf_expect_pick(&e, -1, HPM_BS_BOOT_GOOD, 0);
  assert_int_equal(e.f.calls[1], 0); /* not a candidate: not even read */

  /* The OS stages a new baseline into b: priority above a, 2 tries. */
  e.f.reason[1] = HPM_BS_REASON_NONE;
  e.f.digest_byte[1] = 0xb7;
  e.f.svn[1] = 6;
  hpm_bs_request r = one_entry(7, HPM_BS_REQ_OP_SET, 1, 3, 2,
                               HPM_BS_REQ_CLEAR_SUCCESSFUL | HPM_BS_REQ_CLEAR_REFUSAL);
  assert_int_equal(hpm_bs_apply_request(&e.st, &r), HPM_BS_REQ_APPLIED);
  assert_int_equal(e.st.slots[1].priority, 3);
  assert_int_equal(e.st.slots[1].tries, 2);
  assert_int_equal(e.st.slots[1].reason, HPM_BS_REASON_NONE);
  assert_int_equal(e.st.slots[1].detail, 0);
  assert_int_equal(e.st.floor, 5);
  assert_true(e.st.slots[0].successful); /* the other slot is untouched */
  bsf_expect_pick(&e, -1, HPM_BS_BOOT_TRIAL, 1);
  assert_int_equal(e.sel.attempt, 1);
  assert_int_equal(e.st.slots[1].tries, 1); /* the requested tries, not the default */
  assert_int_equal(e.st.slots[1].svn, 6);
  assert_int_equal(bsf_pick(&e, -1), HPM_BS_BOOT_TRIAL);
  assert_int_equal(e.sel.attempt, 2);
  /* Never marked good: after its two tries, back to a. */
  bsf_expect_pick(&e, -1, HPM_BS_BOOT_FALLBACK, 0);
  assert_int_equal(e.st.slots[1].reason, HPM_BS_REASON_TRIES_EXHAUSTED);

  /* A new baseline staged into the slot marked good, mark not cleared: the
   * new digest starts a trial with the requested tries (1), not the default. */
  e.f.digest_byte[0] = 0xa9;
  r = one_entry(e.st.sequence, HPM_BS_REQ_OP_SET, 0, 4, 1, 0);
  assert_int_equal(hpm_bs_apply_request(&e.st, &r), HPM_BS_REQ_APPLIED);
  assert_true(e.st.slots[0].successful);
  bsf_expect_pick(&e, -1, HPM_BS_BOOT_TRIAL, 0);
  assert_false(e.st.slots[0].successful);
  assert_int_equal(e.st.slots[0].tries, 0);
  assert_int_equal(e.sel.attempt, 1);
}

static void test_request_cannot_bypass_verification_or_floor(void **unused) {
  (void)unused;
  sel_env e;
  loaded_env(&e, 2);
  /* b still holds an untrusted baseline: re-enabled, verified, refused again. */
  e.f.reason[1] = HPM_BS_REASON_VERIFY_FAILED;
  e.f.detail[1] = HPM_E_UNTRUSTED_KEY;
  hpm_bs_request r = one_entry(2, HPM_BS_REQ_OP_ACTIVATE, 1, 0, 3, HPM_BS_REQ_CLEAR_REFUSAL);
  assert_int_equal(hpm_bs_apply_request(&e.st, &r), HPM_BS_REQ_APPLIED);
  assert_int_equal(e.st.slots[1].priority, 2);
  assert_int_equal(e.st.slots[0].priority, 1);
  bsf_expect_pick(&e, -1, HPM_BS_BOOT_FALLBACK, 0);
  assert_int_equal(e.f.calls[1], 1);
  assert_int_equal(e.st.slots[1].reason, HPM_BS_REASON_VERIFY_FAILED);
  assert_int_equal(e.st.slots[1].detail, HPM_E_UNTRUSTED_KEY);
  assert_int_equal(e.st.slots[1].tries, 0);

  /* An old baseline (svn below the floor) re-enabled: refused as a rollback;
   * the floor never moves. */
  e.f.reason[1] = HPM_BS_REASON_NONE;
  e.f.svn[1] = 4;
  r = one_entry(e.st.sequence, HPM_BS_REQ_OP_SET, 1, 9, 15, HPM_BS_REQ_FLAGS_ALL);
  assert_int_equal(hpm_bs_apply_request(&e.st, &r), HPM_BS_REQ_APPLIED);
  assert_int_equal(e.st.floor, 5);
  bsf_expect_pick(&e, -1, HPM_BS_BOOT_FALLBACK, 0);
  assert_int_equal(e.st.slots[1].reason, HPM_BS_REASON_ROLLBACK);
  assert_int_equal(e.st.floor, 5);

  /* No entry can mark a slot good: clearing is the only direction. */
  for (unsigned flags = 0; flags <= HPM_BS_REQ_FLAGS_ALL; flags++) {
    for (unsigned slot = 0; slot < HPM_BS_MAX_SLOTS; slot++) {
      hpm_bootstate t;
      loaded_state(&t, 1);
      bool good_before[HPM_BS_MAX_SLOTS];
      for (unsigned i = 0; i < HPM_BS_MAX_SLOTS; i++) good_before[i] = t.slots[i].successful;
      r = one_entry(1, HPM_BS_REQ_OP_SET, (uint8_t)slot, 15, 15, (uint8_t)flags);
      assert_int_equal(hpm_bs_apply_request(&t, &r), HPM_BS_REQ_APPLIED);
      for (unsigned i = 0; i < HPM_BS_MAX_SLOTS; i++) {
        assert_true(!t.slots[i].successful || good_before[i]);
        assert_memory_equal(t.slots[i].digest, (i == 0 ? "\xa0" : i == 1 ? "\xb0" : "\0"), 1);
      }
      assert_int_equal(t.floor, 5);
    }
  }
}

static void test_request_stale_and_all_or_nothing(void **unused) {
  (void)unused;
  hpm_bootstate st, copy;
  fake_vars v;
  bsf_fake_init(&v);
  loaded_state(&st, 4);
  /* Made against another sequence: stale, nothing changes. */
  hpm_bs_request r = one_entry(3, HPM_BS_REQ_OP_SET, 1, 9, 2, HPM_BS_REQ_FLAGS_ALL);
  copy = st;
  assert_int_equal(hpm_bs_apply_request(&st, &r), HPM_BS_REQ_STALE);
  assert_memory_equal(&st, &copy, sizeof st);
  /* Against a default (fresh or corrupt), never applied. */
  hpm_bootstate d;
  hpm_bs_default(&d, HPM_BS_ORIGIN_CORRUPT);
  r.sequence = 0;
  assert_int_equal(hpm_bs_apply_request(&d, &r), HPM_BS_REQ_STALE);
  hpm_bs_default(&d, HPM_BS_ORIGIN_FRESH);
  assert_int_equal(hpm_bs_apply_request(&d, &r), HPM_BS_REQ_STALE);
  assert_int_equal(hpm_bs_apply_request(NULL, &r), HPM_BS_REQ_STALE);

  /* A request that would leave nothing to try is refused whole, even if
   * its first entries were fine. */
  r = one_entry(4, HPM_BS_REQ_OP_SET, 1, 9, 2, HPM_BS_REQ_CLEAR_REFUSAL);
  r.entries[1] = (hpm_bs_req_entry){HPM_BS_REQ_OP_SET, 0, 0, 0, 0};
  r.entries[2] = (hpm_bs_req_entry){HPM_BS_REQ_OP_SET, 1, 0, 0, 0};
  r.count = 3;
  copy = st;
  assert_int_equal(hpm_bs_apply_request(&st, &r), HPM_BS_REQ_NO_CANDIDATE);
  assert_memory_equal(&st, &copy, sizeof st);
  r.entries[0] = (hpm_bs_req_entry){HPM_BS_REQ_OP_SET, 0, 2, 0, HPM_BS_REQ_CLEAR_SUCCESSFUL};
  r.count = 1; /* a good slot losing its mark with no tries: nothing left */
  assert_int_equal(hpm_bs_apply_request(&st, &r), HPM_BS_REQ_NO_CANDIDATE);
  assert_memory_equal(&st, &copy, sizeof st);

  /* Applied once, stored: a copy of it left behind (power cut before the
   * delete) is stale at the next boot, so it is never applied twice. */
  r = one_entry(4, HPM_BS_REQ_OP_SET, 1, 9, 2, HPM_BS_REQ_FLAGS_ALL);
  assert_int_equal(hpm_bs_apply_request(&st, &r), HPM_BS_REQ_APPLIED);
  assert_int_equal(hpm_bs_store(&v.ops, &st), HPM_BS_OK);
  hpm_bootstate next;
  hpm_bs_load(&v.ops, &next);
  assert_int_equal(next.sequence, 5);
  assert_int_equal(next.slots[1].priority, 9);
  assert_int_equal(next.slots[1].tries, 2);
  next.slots[1].tries = 1; /* a try consumed by the boot */
  copy = next;
  assert_int_equal(hpm_bs_apply_request(&next, &r), HPM_BS_REQ_STALE);
  assert_memory_equal(&next, &copy, sizeof next);
}

static void test_request_activate_renumbers(void **unused) {
  (void)unused;
  sel_env e;
  loaded_env(&e, 1);
  e.st.slots[2].priority = 15;
  e.st.slots[2].tries = 1;
  e.st.slots[3].priority = 0;
  /* Order before: c(15) a(2) b(1); activate b -> b c a = 3 2 1. */
  hpm_bs_request r = one_entry(1, HPM_BS_REQ_OP_ACTIVATE, 1, 0, 2, 0);
  assert_int_equal(hpm_bs_apply_request(&e.st, &r), HPM_BS_REQ_APPLIED);
  assert_int_equal(e.st.slots[1].priority, 3);
  assert_int_equal(e.st.slots[2].priority, 2);
  assert_int_equal(e.st.slots[0].priority, 1);
  assert_int_equal(e.st.slots[3].priority, 0);
  assert_int_equal(e.st.slots[1].tries, 2);
  /* Activating a disabled slot; ties keep the lower letter first. */
  e.st.slots[0].priority = 3; /* a ties with b: a stays above it */
  r = one_entry(1, HPM_BS_REQ_OP_ACTIVATE, 3, 0, 1, 0);
  assert_int_equal(hpm_bs_apply_request(&e.st, &r), HPM_BS_REQ_APPLIED);
  assert_int_equal(e.st.slots[3].priority, 4);
  assert_int_equal(e.st.slots[0].priority, 3);
  assert_int_equal(e.st.slots[1].priority, 2);
  assert_int_equal(e.st.slots[2].priority, 1);
  /* Rollback to a slot marked good: it is chosen as good, no trial. */
  r = one_entry(1, HPM_BS_REQ_OP_ACTIVATE, 0, 0, 0, 0);
  assert_int_equal(hpm_bs_apply_request(&e.st, &r), HPM_BS_REQ_APPLIED);
  assert_int_equal(e.st.slots[0].priority, 4);
  bsf_expect_pick(&e, -1, HPM_BS_BOOT_GOOD, 0);
  assert_int_equal(e.sel.attempt, 0);
  assert_non_null(hpm_bs_req_status_to_string(HPM_BS_REQ_NO_CANDIDATE));
  assert_non_null(hpm_bs_req_status_to_string((hpm_bs_req_status)99));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_request_roundtrip_and_layout),
      cmocka_unit_test(test_request_parse_strict),
      cmocka_unit_test(test_request_restages_refused_slot),
      cmocka_unit_test(test_request_cannot_bypass_verification_or_floor),
      cmocka_unit_test(test_request_stale_and_all_or_nothing),
      cmocka_unit_test(test_request_activate_renumbers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
