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

#include "hpm/bootstate.h"

/* ---- fake variable store ----------------------------------------------- */

typedef struct {
  uint8_t data[HPM_BS_COPIES][512];
  size_t len[HPM_BS_COPIES];
  bool present[HPM_BS_COPIES];
  bool wrong_attrs[HPM_BS_COPIES];
  bool fail_write;
  long torn_at;   /* >= 0: the next write stores only this many bytes, then fails */
  unsigned writes;
  hpm_bs_ops ops; /* reading and writing this store */
} fake_vars;

static hpm_bs_result fake_read(void *ctx, unsigned copy, uint8_t *buf, size_t *len) {
  fake_vars *v = ctx;
  assert_true(copy < HPM_BS_COPIES);
  if (!v->present[copy]) return HPM_BS_E_ABSENT;
  if (v->wrong_attrs[copy]) return HPM_BS_E_ATTRIBUTES;
  if (v->len[copy] > *len) return HPM_BS_E_SIZE;
  memcpy(buf, v->data[copy], v->len[copy]);
  *len = v->len[copy];
  return HPM_BS_OK;
}

static hpm_bs_result fake_write(void *ctx, unsigned copy, const uint8_t *buf, size_t len) {
  fake_vars *v = ctx;
  assert_true(copy < HPM_BS_COPIES);
  assert_true(len <= sizeof v->data[copy]);
  v->writes++;
  if (v->fail_write) return HPM_BS_E_IO;
  if (v->torn_at >= 0) {
    /* Power cut mid-write: the variable holds the old bytes overwritten by
     * a prefix of the new ones. */
    size_t n = (size_t)v->torn_at < len ? (size_t)v->torn_at : len;
    memcpy(v->data[copy], buf, n);
    if (!v->present[copy]) v->len[copy] = n;
    v->present[copy] = true;
    v->torn_at = -1;
    return HPM_BS_E_IO;
  }
  memcpy(v->data[copy], buf, len);
  v->len[copy] = len;
  v->present[copy] = true;
  return HPM_BS_OK;
}

static void fake_init(fake_vars *v) {
  memset(v, 0, sizeof *v);
  v->torn_at = -1;
  v->ops.ctx = v;
  v->ops.read = fake_read;
  v->ops.write = fake_write;
}

/* A fresh store and a default state. */
static void fresh_store(fake_vars *v, hpm_bootstate *st) {
  fake_init(v);
  hpm_bs_default(st, HPM_BS_ORIGIN_FRESH);
}

/* ---- fake slot verification ----------------------------------------------- */

typedef struct {
  hpm_bs_reason reason[HPM_BS_MAX_SLOTS];
  uint8_t detail[HPM_BS_MAX_SLOTS];
  uint32_t svn[HPM_BS_MAX_SLOTS];
  uint8_t digest_byte[HPM_BS_MAX_SLOTS]; /* digest = 32 times this byte */
  unsigned calls[HPM_BS_MAX_SLOTS];
} fake_slots;

static hpm_bs_reason fake_check(void *ctx, unsigned slot, uint32_t *svn, uint8_t digest[32],
                                uint8_t *detail) {
  fake_slots *f = ctx;
  assert_true(slot < HPM_BS_MAX_SLOTS);
  f->calls[slot]++;
  if (f->reason[slot] != HPM_BS_REASON_NONE) {
    *detail = f->detail[slot];
    return f->reason[slot];
  }
  *svn = f->svn[slot];
  memset(digest, f->digest_byte[slot], 32);
  return HPM_BS_REASON_NONE;
}

/* A state, a fake checker of its slots (every slot verifies, svn 1, digest
 * 0xa0 + slot), and the last selection. */
typedef struct {
  fake_slots f;
  hpm_bs_checker chk;
  hpm_bs_selection sel;
  hpm_bootstate st;
} sel_env;

static void sel_init(sel_env *e, hpm_bs_origin origin) {
  memset(e, 0, sizeof *e);
  for (unsigned i = 0; i < HPM_BS_MAX_SLOTS; i++) {
    e->f.svn[i] = 1;
    e->f.digest_byte[i] = (uint8_t)(0xa0 + i);
  }
  e->chk.ctx = &e->f;
  e->chk.check = fake_check;
  hpm_bs_default(&e->st, origin);
}

static hpm_bs_decision pick(sel_env *e, int oneshot) {
  return hpm_bs_select(&e->st, oneshot, &e->chk, &e->sel);
}

/* The selection decides want, for slot want_slot. */
static void expect_pick(sel_env *e, int oneshot, hpm_bs_decision want, int want_slot) {
  assert_int_equal(pick(e, oneshot), want);
  assert_int_equal(e->sel.slot, want_slot);
}

static hpm_bs_mark mark_good(hpm_bootstate *st, const char *req) {
  return hpm_bs_apply_mark_good(st, (const uint8_t *)req, strlen(req));
}

static void mark_good_text(char *buf, size_t cap, unsigned slot, uint8_t digest_byte) {
  int n = snprintf(buf, cap, "hpm.slot=%c hpm.baseline=", hpm_bs_slot_letter(slot));
  for (unsigned i = 0; i < 32; i++) n += snprintf(buf + n, cap - (size_t)n, "%02x", digest_byte);
}

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
  fake_init(&v);
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
  fresh_store(&v, &st);
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
  fake_init(&v);
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
      fake_init(&v);
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
  fresh_store(&v, &st);
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
  sel_init(&e, HPM_BS_ORIGIN_FRESH);
  for (unsigned n = 1; n <= HPM_BS_DEFAULT_TRIES; n++) {
    expect_pick(&e, -1, HPM_BS_BOOT_TRIAL, 0);
    assert_int_equal(e.sel.attempt, n);
    assert_int_equal(e.st.slots[0].tries, HPM_BS_DEFAULT_TRIES - n);
  }
  /* Never marked good: a is used up, b takes over. */
  expect_pick(&e, -1, HPM_BS_BOOT_FALLBACK, 1);
  assert_int_equal(e.st.slots[0].reason, HPM_BS_REASON_TRIES_EXHAUSTED);
  /* b marked good: it stays selected, a is not retried. */
  char req[128];
  mark_good_text(req, sizeof req, 1, e.f.digest_byte[1]);
  assert_int_equal(mark_good(&e.st, req), HPM_BS_MARK_APPLIED);
  unsigned a_calls = e.f.calls[0];
  for (unsigned n = 0; n < 3; n++) {
    expect_pick(&e, -1, HPM_BS_BOOT_FALLBACK, 1);
    assert_int_equal(e.sel.attempt, 0);
  }
  assert_int_equal(e.f.calls[0], a_calls);
}

static void test_refused_slot_records_reason(void **unused) {
  (void)unused;
  sel_env e;
  sel_init(&e, HPM_BS_ORIGIN_FRESH);
  e.f.reason[0] = HPM_BS_REASON_VERIFY_FAILED;
  e.f.detail[0] = HPM_E_PAYLOAD_HASH;
  expect_pick(&e, -1, HPM_BS_BOOT_FALLBACK, 1);
  assert_int_equal(e.st.slots[0].reason, HPM_BS_REASON_VERIFY_FAILED);
  assert_int_equal(e.st.slots[0].detail, HPM_E_PAYLOAD_HASH);
  assert_int_equal(e.st.slots[0].tries, 0);
  assert_int_equal(e.f.calls[0], 1);
  /* Refused slots are not retried on the next boot. */
  assert_int_equal(pick(&e, -1), HPM_BS_BOOT_FALLBACK);
  assert_int_equal(e.f.calls[0], 1);
}

static void test_nothing_bootable(void **unused) {
  (void)unused;
  hpm_bootstate before;
  sel_env e;
  sel_init(&e, HPM_BS_ORIGIN_FRESH);
  e.f.reason[0] = HPM_BS_REASON_NO_CONTAINER;
  e.f.reason[1] = HPM_BS_REASON_VERIFY_FAILED;
  e.f.detail[1] = HPM_E_UNTRUSTED_KEY;
  expect_pick(&e, -1, HPM_BS_NOTHING_BOOTABLE, -1);
  assert_int_equal(e.st.slots[0].reason, HPM_BS_REASON_NO_CONTAINER);
  assert_int_equal(e.st.slots[1].detail, HPM_E_UNTRUSTED_KEY);
  before = e.st;
  assert_int_equal(pick(&e, -1), HPM_BS_NOTHING_BOOTABLE);
  assert_true(hpm_bs_same(&e.st, &before)); /* nothing to write the second time */
  assert_string_equal(hpm_bs_decision_to_string(HPM_BS_NOTHING_BOOTABLE), "nothing bootable");
}

static void test_mark_good_raises_floor_and_rollback_refused(void **unused) {
  (void)unused;
  sel_env e;
  sel_init(&e, HPM_BS_ORIGIN_FRESH);
  char req[128];
  e.f.svn[0] = 5;
  e.f.svn[1] = 2;
  assert_int_equal(pick(&e, -1), HPM_BS_BOOT_TRIAL);
  assert_int_equal(e.st.floor, 0); /* not raised by a trial boot */
  mark_good_text(req, sizeof req, 0, e.f.digest_byte[0]);
  strcat(req, "\n");
  assert_int_equal(mark_good(&e.st, req), HPM_BS_MARK_APPLIED);
  assert_int_equal(e.st.floor, 5);
  assert_true(e.st.slots[0].successful);
  assert_int_equal(mark_good(&e.st, req), HPM_BS_MARK_ALREADY);
  expect_pick(&e, -1, HPM_BS_BOOT_GOOD, 0);

  /* A new baseline in a with a lower SVN: refused; b (svn 2) too. */
  memset(&e.f.calls, 0, sizeof e.f.calls);
  e.f.svn[0] = 3;
  e.f.digest_byte[0] = 0x55;
  assert_int_equal(pick(&e, -1), HPM_BS_NOTHING_BOOTABLE);
  assert_int_equal(e.st.slots[0].reason, HPM_BS_REASON_ROLLBACK);
  assert_int_equal(e.st.slots[1].reason, HPM_BS_REASON_ROLLBACK);
  assert_int_equal(e.st.floor, 5);
}

static void test_new_baseline_in_good_slot_starts_trial(void **unused) {
  (void)unused;
  sel_env e;
  sel_init(&e, HPM_BS_ORIGIN_FRESH);
  char req[128];
  assert_int_equal(pick(&e, -1), HPM_BS_BOOT_TRIAL);
  mark_good_text(req, sizeof req, 0, e.f.digest_byte[0]);
  assert_int_equal(mark_good(&e.st, req), HPM_BS_MARK_APPLIED);
  e.f.digest_byte[0] = 0x77; /* file replaced on the ESP */
  assert_int_equal(pick(&e, -1), HPM_BS_BOOT_TRIAL);
  assert_false(e.st.slots[0].successful);
  assert_int_equal(e.st.slots[0].tries, HPM_BS_DEFAULT_TRIES - 1);
  assert_int_equal(e.sel.attempt, 1);
  /* The old mark-good no longer applies to it. */
  assert_int_equal(mark_good(&e.st, req), HPM_BS_MARK_STALE);
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
  mark_good_text(req, sizeof req, 0, 0xab);
  req[30] = 'A'; /* upper-case hex is not the documented form */
  assert_int_equal(hpm_bs_apply_mark_good(&st, (const uint8_t *)req, strlen(req)),
                   HPM_BS_MARK_MALFORMED);
  /* A slot that never booted this digest: stale, nothing marked. */
  mark_good_text(req, sizeof req, 0, 0xab);
  assert_int_equal(hpm_bs_apply_mark_good(&st, (const uint8_t *)req, strlen(req)),
                   HPM_BS_MARK_STALE);
  mark_good_text(req, sizeof req, 0, 0x00);
  assert_int_equal(hpm_bs_apply_mark_good(&st, (const uint8_t *)req, strlen(req)),
                   HPM_BS_MARK_STALE);
  assert_false(st.slots[0].successful);
}

static void test_oneshot(void **unused) {
  (void)unused;
  sel_env e;
  sel_init(&e, HPM_BS_ORIGIN_FRESH);
  assert_int_equal(hpm_bs_parse_oneshot((const uint8_t *)"b\n", 2), 1);
  assert_int_equal(hpm_bs_parse_oneshot((const uint8_t *)"d", 1), 3);
  assert_int_equal(hpm_bs_parse_oneshot((const uint8_t *)"e", 1), -1);
  assert_int_equal(hpm_bs_parse_oneshot((const uint8_t *)"ab", 2), -1);
  assert_int_equal(hpm_bs_parse_oneshot((const uint8_t *)"", 0), -1);

  expect_pick(&e, 1, HPM_BS_BOOT_ONESHOT, 1);
  assert_int_equal(e.st.slots[1].tries, HPM_BS_DEFAULT_TRIES - 1);
  expect_pick(&e, -1, HPM_BS_BOOT_TRIAL, 0);

  /* A one-shot to a slot that does not verify: refused, normal choice. */
  e.f.reason[2] = HPM_BS_REASON_VERIFY_FAILED;
  e.f.detail[2] = HPM_E_SIGNATURE_INVALID;
  expect_pick(&e, 2, HPM_BS_BOOT_TRIAL, 0);
  assert_true(e.sel.oneshot_refused);
  assert_int_equal(e.st.slots[2].reason, HPM_BS_REASON_VERIFY_FAILED);

  /* A one-shot below the floor is refused too. */
  e.st.floor = 10;
  e.f.svn[0] = 10;
  assert_int_equal(pick(&e, 1), HPM_BS_BOOT_TRIAL);
  assert_true(e.sel.oneshot_refused);
  assert_int_equal(e.st.slots[1].reason, HPM_BS_REASON_ROLLBACK);
}

static void test_corrupt_default_derives_floor(void **unused) {
  (void)unused;
  sel_env e;
  sel_init(&e, HPM_BS_ORIGIN_CORRUPT);
  e.f.svn[0] = 4;
  e.f.svn[1] = 9; /* b is newer: the lost floor can be no lower than 9 */
  assert_int_equal(pick(&e, -1), HPM_BS_BOOT_FALLBACK);
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
  sel_init(&e, HPM_BS_ORIGIN_FRESH);
  e.st.slots[3].priority = 9;
  e.st.slots[3].tries = 1;
  e.st.slots[2].priority = 9;
  e.st.slots[2].tries = 1;
  expect_pick(&e, -1, HPM_BS_BOOT_TRIAL, 2);
  expect_pick(&e, -1, HPM_BS_BOOT_FALLBACK, 3);
  expect_pick(&e, -1, HPM_BS_BOOT_FALLBACK, 0);
}

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
  sel_init(e, HPM_BS_ORIGIN_FRESH);
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
  expect_pick(&e, -1, HPM_BS_BOOT_GOOD, 0);
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
  expect_pick(&e, -1, HPM_BS_BOOT_TRIAL, 1);
  assert_int_equal(e.sel.attempt, 1);
  assert_int_equal(e.st.slots[1].tries, 1); /* the requested tries, not the default */
  assert_int_equal(e.st.slots[1].svn, 6);
  assert_int_equal(pick(&e, -1), HPM_BS_BOOT_TRIAL);
  assert_int_equal(e.sel.attempt, 2);
  /* Never marked good: after its two tries, back to a. */
  expect_pick(&e, -1, HPM_BS_BOOT_FALLBACK, 0);
  assert_int_equal(e.st.slots[1].reason, HPM_BS_REASON_TRIES_EXHAUSTED);

  /* A new baseline staged into the slot marked good, mark not cleared: the
   * new digest starts a trial with the requested tries (1), not the default. */
  e.f.digest_byte[0] = 0xa9;
  r = one_entry(e.st.sequence, HPM_BS_REQ_OP_SET, 0, 4, 1, 0);
  assert_int_equal(hpm_bs_apply_request(&e.st, &r), HPM_BS_REQ_APPLIED);
  assert_true(e.st.slots[0].successful);
  expect_pick(&e, -1, HPM_BS_BOOT_TRIAL, 0);
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
  expect_pick(&e, -1, HPM_BS_BOOT_FALLBACK, 0);
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
  expect_pick(&e, -1, HPM_BS_BOOT_FALLBACK, 0);
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
  fake_init(&v);
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
  expect_pick(&e, -1, HPM_BS_BOOT_GOOD, 0);
  assert_int_equal(e.sel.attempt, 0);
  assert_non_null(hpm_bs_req_status_to_string(HPM_BS_REQ_NO_CANDIDATE));
  assert_non_null(hpm_bs_req_status_to_string((hpm_bs_req_status)99));
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
      cmocka_unit_test(test_request_roundtrip_and_layout),
      cmocka_unit_test(test_request_parse_strict),
      cmocka_unit_test(test_request_restages_refused_slot),
      cmocka_unit_test(test_request_cannot_bypass_verification_or_floor),
      cmocka_unit_test(test_request_stale_and_all_or_nothing),
      cmocka_unit_test(test_request_activate_renumbers),
      cmocka_unit_test(test_strings),
  };
  return cmocka_run_group_tests_name("bootstate", tests, NULL, NULL);
}
