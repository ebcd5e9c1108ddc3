/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of core/bootstate.c: the boot-state record (two copies, CRC,
 * sequence), torn writes, the safe defaults, requests from the OS and slot
 * selection.  Variable I/O and slot verification are fakes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "bsfake.h"
#include "hpm/bootstate.h"

/* ---- record ------------------------------------------------------------------ */

static void test_crc32_known_answer(void **unused) {
  (void)unused;
  assert_int_equal(hpm_crc32((const uint8_t *)"123456789", 9), 0xcbf43926u);
  assert_int_equal(hpm_crc32(NULL, 0), 0);
}

static void sample_state(hpm_bootstate *st) {
  hpm_bs_default(st, HPM_BS_ORIGIN_FRESH);
  st->sequence = 0x0102030405060708ull;
  st->floor = 7;
  st->slots[0].successful = true;
  st->slots[0].svn = 7;
  memset(st->slots[0].digest, 0x11, 32);
  st->slots[1].reason = HPM_BS_REASON_VERIFY_FAILED;
  st->slots[1].detail = HPM_E_PAYLOAD_HASH;
  st->slots[2].priority = 15;
  st->slots[2].tries = 15;
  st->slots[2].attempts = 200;
}

static void sample_record(hpm_bootstate *st, uint8_t rec[HPM_BS_RECORD_SIZE]) {
  sample_state(st);
  hpm_bs_serialize(st, rec);
}

static void test_roundtrip(void **unused) {
  (void)unused;
  hpm_bootstate st, back;
  uint8_t rec[HPM_BS_RECORD_SIZE];
  sample_record(&st, rec);
  assert_int_equal(hpm_bs_parse(rec, sizeof rec, &back), HPM_BS_OK);
  assert_true(hpm_bs_same(&st, &back));
  assert_int_equal(back.sequence, st.sequence);
  assert_int_equal(back.origin, HPM_BS_ORIGIN_LOADED);
  assert_int_equal(back.slots[1].detail, HPM_E_PAYLOAD_HASH);
  assert_int_equal(back.slots[2].attempts, 200);
}

static void test_parse_rejects_every_bit_flip(void **unused) {
  (void)unused;
  hpm_bootstate st, back;
  uint8_t rec[HPM_BS_RECORD_SIZE];
  sample_record(&st, rec);
  for (size_t i = 0; i < sizeof rec; i++)
    for (unsigned b = 0; b < 8; b++) {
      rec[i] ^= (uint8_t)(1u << b);
      assert_int_not_equal(hpm_bs_parse(rec, sizeof rec, &back), HPM_BS_OK);
      rec[i] ^= (uint8_t)(1u << b);
    }
  assert_int_equal(hpm_bs_parse(rec, sizeof rec - 1, &back), HPM_BS_E_SIZE);
  assert_int_equal(hpm_bs_parse(rec, 0, &back), HPM_BS_E_SIZE);
  assert_int_equal(hpm_bs_parse(NULL, sizeof rec, &back), HPM_BS_E_INVALID_ARGUMENT);
}

/* Re-seal a record after editing a field, so only the field check can fail. */
static void reseal(uint8_t *rec) {
  uint32_t c = hpm_crc32(rec, HPM_BS_RECORD_SIZE - 4);
  for (unsigned i = 0; i < 4; i++) rec[HPM_BS_RECORD_SIZE - 4 + i] = (uint8_t)(c >> (8 * i));
}

static void test_parse_rejects_bad_fields(void **unused) {
  (void)unused;
  hpm_bootstate st, back;
  uint8_t good[HPM_BS_RECORD_SIZE], rec[HPM_BS_RECORD_SIZE];
  sample_record(&st, good);
  const struct {
    size_t off;
    uint8_t val;
    hpm_bs_result want;
  } cases[] = {
      {0, 'X', HPM_BS_E_MAGIC},
      {4, 2, HPM_BS_E_VERSION},
      {6, 3, HPM_BS_E_FIELD},                       /* slot count */
      {20, 1, HPM_BS_E_FIELD},                      /* reserved */
      {HPM_BS_HDR_SIZE + 0, 16, HPM_BS_E_FIELD},    /* priority */
      {HPM_BS_HDR_SIZE + 1, 16, HPM_BS_E_FIELD},    /* tries */
      {HPM_BS_HDR_SIZE + 2, 2, HPM_BS_E_FIELD},     /* successful */
      {HPM_BS_HDR_SIZE + 3, HPM_BS_REASON_COUNT_, HPM_BS_E_FIELD},
      {HPM_BS_HDR_SIZE + 4, HPM_RESULT_COUNT_, HPM_BS_E_FIELD},
      {HPM_BS_HDR_SIZE + 6, 1, HPM_BS_E_FIELD},     /* reserved */
      {HPM_BS_HDR_SIZE + 47, 1, HPM_BS_E_FIELD},    /* reserved */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    memcpy(rec, good, sizeof rec);
    rec[cases[i].off] = cases[i].val;
    if (cases[i].want != HPM_BS_E_MAGIC && cases[i].want != HPM_BS_E_VERSION) reseal(rec);
    assert_int_equal(hpm_bs_parse(rec, sizeof rec, &back), cases[i].want);
  }
  /* Marked good without naming a baseline. */
  memcpy(rec, good, sizeof rec);
  memset(rec + HPM_BS_HDR_SIZE + 12, 0, 32);
  reseal(rec);
  assert_int_equal(hpm_bs_parse(rec, sizeof rec, &back), HPM_BS_E_FIELD);
}

/* ---- load / store -------------------------------------------------------------- */

static void test_load_fresh_and_store_alternates(void **unused) {
  (void)unused;
  fake_vars v;
  hpm_bootstate st;
  bsf_fake_init(&v);
  hpm_bs_load(&v.ops, &st);
  assert_int_equal(st.origin, HPM_BS_ORIGIN_FRESH);
  assert_int_equal(st.slots[0].priority, 2);
  assert_int_equal(st.slots[0].tries, HPM_BS_DEFAULT_TRIES);
  assert_int_equal(st.slots[1].priority, 1);
  assert_int_equal(st.slots[2].priority, 0);
  assert_false(st.floor_unknown);

  assert_int_equal(hpm_bs_store(&v.ops, &st), HPM_BS_OK);
  assert_int_equal(st.current_copy, 0);
  assert_int_equal(st.sequence, 1);
  st.floor = 3;
  assert_int_equal(hpm_bs_store(&v.ops, &st), HPM_BS_OK);
  assert_int_equal(st.current_copy, 1);
  assert_int_equal(hpm_bs_store(&v.ops, &st), HPM_BS_OK);
  assert_int_equal(st.current_copy, 0);
  assert_int_equal(st.sequence, 3);

  hpm_bootstate again;
  hpm_bs_load(&v.ops, &again);
  assert_int_equal(again.origin, HPM_BS_ORIGIN_LOADED);
  assert_int_equal(again.current_copy, 0);
  assert_int_equal(again.sequence, 3);
  assert_int_equal(again.floor, 3);
  assert_int_equal(again.copy_status[0], HPM_BS_OK);
  assert_int_equal(again.copy_status[1], HPM_BS_OK);
}

static void test_load_prefers_valid_copy(void **unused) {
  (void)unused;
  fake_vars v;
  hpm_bootstate st;
  bsf_fresh_store(&v, &st);
  assert_int_equal(hpm_bs_store(&v.ops, &st), HPM_BS_OK); /* copy 0, seq 1 */
  st.floor = 9;
  assert_int_equal(hpm_bs_store(&v.ops, &st), HPM_BS_OK); /* copy 1, seq 2 */

  v.data[1][100] ^= 0x40; /* newest copy damaged: the older one wins */
  hpm_bs_load(&v.ops, &st);
  assert_int_equal(st.origin, HPM_BS_ORIGIN_LOADED);
  assert_int_equal(st.current_copy, 0);
  assert_int_equal(st.floor, 0);
  assert_int_equal(st.copy_status[1], HPM_BS_E_CRC);
  /* The next store overwrites the damaged copy, not the good one. */
  assert_int_equal(hpm_bs_store(&v.ops, &st), HPM_BS_OK);
  assert_int_equal(st.current_copy, 1);

  /* A copy with the OS-writable attributes is never trusted. */
  v.wrong_attrs[1] = true;
  hpm_bs_load(&v.ops, &st);
  assert_int_equal(st.current_copy, 0);
  assert_int_equal(st.copy_status[1], HPM_BS_E_ATTRIBUTES);

  /* Oversized variable. */
  v.wrong_attrs[1] = false;
  v.len[1] = 300;
  hpm_bs_load(&v.ops, &st);
  assert_int_equal(st.current_copy, 0);
  assert_int_equal(st.copy_status[1], HPM_BS_E_SIZE);
}

static void test_both_corrupt_is_safe_default(void **unused) {
  (void)unused;
  fake_vars v;
  hpm_bootstate st;
  bsf_fake_init(&v);
  sample_state(&st);
  for (unsigned c = 0; c < 2; c++) {
    hpm_bs_serialize(&st, v.data[c]);
    v.data[c][30] ^= 1;
    v.len[c] = HPM_BS_RECORD_SIZE;
    v.present[c] = true;
  }
  hpm_bs_load(&v.ops, &st);
  assert_int_equal(st.origin, HPM_BS_ORIGIN_CORRUPT);
  assert_true(st.floor_unknown);
  for (unsigned i = 0; i < HPM_BS_MAX_SLOTS; i++) {
    assert_false(st.slots[i].successful);
    assert_true(st.slots[i].tries <= 1);
  }
  assert_int_equal(st.slots[2].priority, 0);
  assert_int_equal(st.slots[3].priority, 0);

  /* One present-but-invalid copy and one absent is also corruption. */
  v.present[1] = false;
  hpm_bs_load(&v.ops, &st);
  assert_int_equal(st.origin, HPM_BS_ORIGIN_CORRUPT);
}

/* Power cut at every byte of a store, from every starting state: the next
 * load sees the old state or the new one, never a default. */
static void test_torn_write_at_every_byte(void **unused) {
  (void)unused;
  for (unsigned start = 0; start < 3; start++) {
    for (long cut = 0; cut <= (long)HPM_BS_RECORD_SIZE; cut++) {
      fake_vars v;
          hpm_bootstate st, old, got;
      bsf_fake_init(&v);
      hpm_bs_default(&st, HPM_BS_ORIGIN_FRESH);
      for (unsigned k = 0; k <= start; k++) {
        st.floor = k + 1;
        assert_int_equal(hpm_bs_store(&v.ops, &st), HPM_BS_OK);
      }
      old = st;
      st.floor = 100;
      st.slots[0].tries = 1;
      v.torn_at = cut;
      assert_int_not_equal(hpm_bs_store(&v.ops, &st), HPM_BS_OK);
      assert_int_equal(st.sequence, old.sequence);
      hpm_bs_load(&v.ops, &got);
      assert_int_equal(got.origin, HPM_BS_ORIGIN_LOADED);
      if (got.sequence == old.sequence)
        assert_true(hpm_bs_same(&got, &old));
      else
        assert_true(hpm_bs_same(&got, &st) && got.sequence == old.sequence + 1);
    }
  }
}

static void test_store_failure_leaves_state(void **unused) {
  (void)unused;
  fake_vars v;
  hpm_bootstate st;
  bsf_fresh_store(&v, &st);
  v.fail_write = true;
  assert_int_equal(hpm_bs_store(&v.ops, &st), HPM_BS_E_IO);
  assert_int_equal(st.sequence, 0);
  assert_int_equal(st.current_copy, -1);
  assert_int_equal(hpm_bs_store(NULL, &st), HPM_BS_E_INVALID_ARGUMENT);
}

/* ---- selection ------------------------------------------------------------------ */

static void test_trial_then_fallback_after_tries(void **unused) {
  (void)unused;
  sel_env e;
  bsf_sel_init(&e, HPM_BS_ORIGIN_FRESH);
  for (unsigned n = 1; n <= HPM_BS_DEFAULT_TRIES; n++) {
    bsf_expect_pick(&e, -1, HPM_BS_BOOT_TRIAL, 0);
    assert_int_equal(e.sel.attempt, n);
    assert_int_equal(e.st.slots[0].tries, HPM_BS_DEFAULT_TRIES - n);
  }
  /* Never marked good: a is used up, b takes over. */
  bsf_expect_pick(&e, -1, HPM_BS_BOOT_FALLBACK, 1);
  assert_int_equal(e.st.slots[0].reason, HPM_BS_REASON_TRIES_EXHAUSTED);
  /* b marked good: it stays selected, a is not retried. */
  char req[128];
  bsf_mark_good_text(req, sizeof req, 1, e.f.digest_byte[1]);
  assert_int_equal(bsf_mark_good(&e.st, req), HPM_BS_MARK_APPLIED);
  unsigned a_calls = e.f.calls[0];
  for (unsigned n = 0; n < 3; n++) {
    bsf_expect_pick(&e, -1, HPM_BS_BOOT_FALLBACK, 1);
    assert_int_equal(e.sel.attempt, 0);
  }
  assert_int_equal(e.f.calls[0], a_calls);
}

static void test_refused_slot_records_reason(void **unused) {
  (void)unused;
  sel_env e;
  bsf_sel_init(&e, HPM_BS_ORIGIN_FRESH);
  e.f.reason[0] = HPM_BS_REASON_VERIFY_FAILED;
  e.f.detail[0] = HPM_E_PAYLOAD_HASH;
  bsf_expect_pick(&e, -1, HPM_BS_BOOT_FALLBACK, 1);
  assert_int_equal(e.st.slots[0].reason, HPM_BS_REASON_VERIFY_FAILED);
  assert_int_equal(e.st.slots[0].detail, HPM_E_PAYLOAD_HASH);
  assert_int_equal(e.st.slots[0].tries, 0);
  assert_int_equal(e.f.calls[0], 1);
  /* Refused slots are not retried on the next boot. */
  assert_int_equal(bsf_pick(&e, -1), HPM_BS_BOOT_FALLBACK);
  assert_int_equal(e.f.calls[0], 1);
}

static void test_nothing_bootable(void **unused) {
  (void)unused;
  hpm_bootstate before;
  sel_env e;
  bsf_sel_init(&e, HPM_BS_ORIGIN_FRESH);
  e.f.reason[0] = HPM_BS_REASON_NO_CONTAINER;
  e.f.reason[1] = HPM_BS_REASON_VERIFY_FAILED;
  e.f.detail[1] = HPM_E_UNTRUSTED_KEY;
  bsf_expect_pick(&e, -1, HPM_BS_NOTHING_BOOTABLE, -1);
  assert_int_equal(e.st.slots[0].reason, HPM_BS_REASON_NO_CONTAINER);
  assert_int_equal(e.st.slots[1].detail, HPM_E_UNTRUSTED_KEY);
  before = e.st;
  assert_int_equal(bsf_pick(&e, -1), HPM_BS_NOTHING_BOOTABLE);
  assert_true(hpm_bs_same(&e.st, &before)); /* nothing to write the second time */
  assert_string_equal(hpm_bs_decision_to_string(HPM_BS_NOTHING_BOOTABLE), "nothing bootable");
}

static void test_mark_good_raises_floor_and_rollback_refused(void **unused) {
  (void)unused;
  sel_env e;
  bsf_sel_init(&e, HPM_BS_ORIGIN_FRESH);
  char req[128];
  e.f.svn[0] = 5;
  e.f.svn[1] = 2;
  assert_int_equal(bsf_pick(&e, -1), HPM_BS_BOOT_TRIAL);
  assert_int_equal(e.st.floor, 0); /* not raised by a trial boot */
  bsf_mark_good_text(req, sizeof req, 0, e.f.digest_byte[0]);
  strcat(req, "\n");
  assert_int_equal(bsf_mark_good(&e.st, req), HPM_BS_MARK_APPLIED);
  assert_int_equal(e.st.floor, 5);
  assert_true(e.st.slots[0].successful);
  assert_int_equal(bsf_mark_good(&e.st, req), HPM_BS_MARK_ALREADY);
  bsf_expect_pick(&e, -1, HPM_BS_BOOT_GOOD, 0);

  /* A new baseline in a with a lower SVN: refused; b (svn 2) too. */
  memset(&e.f.calls, 0, sizeof e.f.calls);
  e.f.svn[0] = 3;
  e.f.digest_byte[0] = 0x55;
  assert_int_equal(bsf_pick(&e, -1), HPM_BS_NOTHING_BOOTABLE);
  assert_int_equal(e.st.slots[0].reason, HPM_BS_REASON_ROLLBACK);
  assert_int_equal(e.st.slots[1].reason, HPM_BS_REASON_ROLLBACK);
  assert_int_equal(e.st.floor, 5);
}

static void test_new_baseline_in_good_slot_starts_trial(void **unused) {
  (void)unused;
  sel_env e;
  bsf_sel_init(&e, HPM_BS_ORIGIN_FRESH);
  char req[128];
  assert_int_equal(bsf_pick(&e, -1), HPM_BS_BOOT_TRIAL);
  bsf_mark_good_text(req, sizeof req, 0, e.f.digest_byte[0]);
  assert_int_equal(bsf_mark_good(&e.st, req), HPM_BS_MARK_APPLIED);
  e.f.digest_byte[0] = 0x77; /* file replaced on the ESP */
  assert_int_equal(bsf_pick(&e, -1), HPM_BS_BOOT_TRIAL);
  assert_false(e.st.slots[0].successful);
  assert_int_equal(e.st.slots[0].tries, HPM_BS_DEFAULT_TRIES - 1);
  assert_int_equal(e.sel.attempt, 1);
  /* The old mark-good no longer applies to it. */
  assert_int_equal(bsf_mark_good(&e.st, req), HPM_BS_MARK_STALE);
}

static void test_mark_good_malformed(void **unused) {
  (void)unused;
  hpm_bootstate st;
  char req[160];
  hpm_bs_default(&st, HPM_BS_ORIGIN_FRESH);
  const char *bad[] = {"", "a", "hpm.slot=e hpm.baseline=00", "hpm.slot=a",
                       "hpm.slot=a hpm.baseline=zz"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_int_equal(hpm_bs_apply_mark_good(&st, (const uint8_t *)bad[i], strlen(bad[i])),
                     HPM_BS_MARK_MALFORMED);
  bsf_mark_good_text(req, sizeof req, 0, 0xab);
  req[30] = 'A'; /* upper-case hex is not the documented form */
  assert_int_equal(hpm_bs_apply_mark_good(&st, (const uint8_t *)req, strlen(req)),
                   HPM_BS_MARK_MALFORMED);
  /* A slot that never booted this digest: stale, nothing marked. */
  bsf_mark_good_text(req, sizeof req, 0, 0xab);
  assert_int_equal(hpm_bs_apply_mark_good(&st, (const uint8_t *)req, strlen(req)),
                   HPM_BS_MARK_STALE);
  bsf_mark_good_text(req, sizeof req, 0, 0x00);
  assert_int_equal(hpm_bs_apply_mark_good(&st, (const uint8_t *)req, strlen(req)),
                   HPM_BS_MARK_STALE);
  assert_false(st.slots[0].successful);
}

static void test_oneshot(void **unused) {
  (void)unused;
  sel_env e;
  bsf_sel_init(&e, HPM_BS_ORIGIN_FRESH);
  assert_int_equal(hpm_bs_parse_oneshot((const uint8_t *)"b\n", 2), 1);
  assert_int_equal(hpm_bs_parse_oneshot((const uint8_t *)"d", 1), 3);
  assert_int_equal(hpm_bs_parse_oneshot((const uint8_t *)"e", 1), -1);
  assert_int_equal(hpm_bs_parse_oneshot((const uint8_t *)"ab", 2), -1);
  assert_int_equal(hpm_bs_parse_oneshot((const uint8_t *)"", 0), -1);

  bsf_expect_pick(&e, 1, HPM_BS_BOOT_ONESHOT, 1);
  assert_int_equal(e.st.slots[1].tries, HPM_BS_DEFAULT_TRIES - 1);
  bsf_expect_pick(&e, -1, HPM_BS_BOOT_TRIAL, 0);

  /* A one-shot to a slot that does not verify: refused, normal choice. */
  e.f.reason[2] = HPM_BS_REASON_VERIFY_FAILED;
  e.f.detail[2] = HPM_E_SIGNATURE_INVALID;
  bsf_expect_pick(&e, 2, HPM_BS_BOOT_TRIAL, 0);
  assert_true(e.sel.oneshot_refused);
  assert_int_equal(e.st.slots[2].reason, HPM_BS_REASON_VERIFY_FAILED);

  /* A one-shot below the floor is refused too. */
  e.st.floor = 10;
  e.f.svn[0] = 10;
  assert_int_equal(bsf_pick(&e, 1), HPM_BS_BOOT_TRIAL);
  assert_true(e.sel.oneshot_refused);
  assert_int_equal(e.st.slots[1].reason, HPM_BS_REASON_ROLLBACK);
}

static void test_corrupt_default_derives_floor(void **unused) {
  (void)unused;
  sel_env e;
  bsf_sel_init(&e, HPM_BS_ORIGIN_CORRUPT);
  e.f.svn[0] = 4;
  e.f.svn[1] = 9; /* b is newer: the lost floor can be no lower than 9 */
  assert_int_equal(bsf_pick(&e, -1), HPM_BS_BOOT_FALLBACK);
  assert_true(e.sel.floor_raised);
  assert_false(e.st.floor_unknown);
  assert_int_equal(e.st.floor, 9);
  assert_int_equal(e.sel.slot, 1);
  assert_int_equal(e.st.slots[0].reason, HPM_BS_REASON_ROLLBACK);
  assert_int_equal(e.f.calls[0], 1); /* each slot verified once */
  assert_int_equal(e.f.calls[1], 1);
}

static void test_priorities_and_ties(void **unused) {
  (void)unused;
  sel_env e;
  bsf_sel_init(&e, HPM_BS_ORIGIN_FRESH);
  e.st.slots[3].priority = 9;
  e.st.slots[3].tries = 1;
  e.st.slots[2].priority = 9;
  e.st.slots[2].tries = 1;
  bsf_expect_pick(&e, -1, HPM_BS_BOOT_TRIAL, 2);
  bsf_expect_pick(&e, -1, HPM_BS_BOOT_FALLBACK, 3);
  bsf_expect_pick(&e, -1, HPM_BS_BOOT_FALLBACK, 0);
}

static void test_strings(void **unused) {
  (void)unused;
  for (int r = 0; r <= HPM_BS_REASON_COUNT_; r++)
    assert_non_null(hpm_bs_reason_to_string((hpm_bs_reason)r));
  assert_string_equal(hpm_bs_reason_to_string(HPM_BS_REASON_ROLLBACK), "rollback");
  for (int r = 0; r <= HPM_BS_RESULT_COUNT_; r++)
    assert_non_null(hpm_bs_result_to_string((hpm_bs_result)r));
  for (int d = 0; d <= HPM_BS_NOTHING_BOOTABLE + 1; d++)
    assert_non_null(hpm_bs_decision_to_string((hpm_bs_decision)d));
  assert_int_equal(hpm_bs_slot_from_letter('a'), 0);
  assert_int_equal(hpm_bs_slot_from_letter('d'), 3);
  assert_int_equal(hpm_bs_slot_from_letter('e'), -1);
  assert_int_equal(hpm_bs_slot_letter(4), '?');
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_crc32_known_answer),
      cmocka_unit_test(test_roundtrip),
      cmocka_unit_test(test_parse_rejects_every_bit_flip),
      cmocka_unit_test(test_parse_rejects_bad_fields),
      cmocka_unit_test(test_load_fresh_and_store_alternates),
      cmocka_unit_test(test_load_prefers_valid_copy),
      cmocka_unit_test(test_both_corrupt_is_safe_default),
      cmocka_unit_test(test_torn_write_at_every_byte),
      cmocka_unit_test(test_store_failure_leaves_state),
      cmocka_unit_test(test_trial_then_fallback_after_tries),
      cmocka_unit_test(test_refused_slot_records_reason),
      cmocka_unit_test(test_nothing_bootable),
      cmocka_unit_test(test_mark_good_raises_floor_and_rollback_refused),
      cmocka_unit_test(test_new_baseline_in_good_slot_starts_trial),
      cmocka_unit_test(test_mark_good_malformed),
      cmocka_unit_test(test_oneshot),
      cmocka_unit_test(test_corrupt_default_derives_floor),
      cmocka_unit_test(test_priorities_and_ties),
      cmocka_unit_test(test_strings),
  };
  return cmocka_run_group_tests_name("bootstate", tests, NULL, NULL);
}
