/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of core/bootif.c, the boot-loader interface shared by
 * hpmboot.efi and hpm: the vendor GUID's two forms, the slot table
 * (HpmBootSlots) writer against its parser over many tables and edge
 * values, the parser's refusals, the identity text (kernel command line,
 * HpmMarkGood) and the field parsers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "hpm/bootif.h"

#define Z "0000000000000000000000000000000000000000000000000000000000000000"
#define A "abababababababababababababababababababababababababababababababab"
#define LINE_B "b priority=0 tries=0 successful=0 svn=0 reason=none baseline=" Z "\n"
#define LINE_C "c priority=0 tries=0 successful=0 svn=0 reason=none baseline=" Z "\n"
#define LINE_D "d priority=0 tries=0 successful=0 svn=0 reason=none baseline=" Z "\n"

/* ---- GUID, names, attributes -------------------------------------------------- */

typedef struct {
  uint32_t d1;
  uint16_t d2, d3;
  uint8_t d4[8];
} guid;

static void vendor_guid_forms_agree(void **state) {
  (void)state;
  assert_string_equal(HPM_VENDOR_GUID_STR, "28b3057a-0599-4bcf-861b-d81782718919");
  const guid g = HPM_VENDOR_GUID_INIT;
  char s[40];
  snprintf(s, sizeof s, "%08x-%04x-%04x-%02x%02x-%02x%02x%02x%02x%02x%02x", g.d1, g.d2, g.d3,
           g.d4[0], g.d4[1], g.d4[2], g.d4[3], g.d4[4], g.d4[5], g.d4[6], g.d4[7]);
  assert_string_equal(s, HPM_VENDOR_GUID_STR);
  /* docs/boot-interface.md: state NV+BS, published BS+RT, requests NV+BS+RT */
  assert_int_equal(HPM_VAR_ATTR_STATE, 3);
  assert_int_equal(HPM_VAR_ATTR_PUBLISHED, 6);
  assert_int_equal(HPM_VAR_ATTR_REQUEST, 7);
  const char *names[] = {HPM_VAR_STATE0,        HPM_VAR_STATE1,       HPM_VAR_MARK_GOOD,
                         HPM_VAR_ONESHOT,       HPM_VAR_SLOT_REQUEST, HPM_VAR_BOOT_SLOT,
                         HPM_VAR_BOOT_BASELINE, HPM_VAR_BOOT_VERSION, HPM_VAR_BOOT_SVN,
                         HPM_VAR_BOOT_ATTEMPT,  HPM_VAR_BOOT_REASON,  HPM_VAR_BOOT_FLOOR,
                         HPM_VAR_BOOT_STATE_SEQ, HPM_VAR_BOOT_REQUEST, HPM_VAR_BOOT_SECURE_BOOT,
                         HPM_VAR_BOOT_TPM,      HPM_VAR_BOOT_SLOTS,   HPM_VAR_BOOT_IMAGE};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    assert_memory_equal(names[i], "Hpm", 3);
    for (size_t k = 0; k < i; k++) assert_string_not_equal(names[i], names[k]);
  }
}

/* ---- slot table: writer -> parser ----------------------------------------------- */

static uint64_t rng = 0x9e3779b97f4a7c15u;
static uint64_t next_rand(void) { /* xorshift64: the same tables every run */
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

/* Edge values first, then random ones. */
static void make_table(unsigned n, hpm_bootstate *st) {
  static const uint32_t svns[] = {0, 1, 9, 10, 4294967295u, 4294967294u, 1000000};
  memset(st, 0, sizeof *st);
  for (unsigned i = 0; i < HPM_BS_MAX_SLOTS; i++) {
    hpm_bs_slot *s = &st->slots[i];
    uint64_t r = next_rand();
    s->priority = (uint8_t)(n < 4 ? (n & 1) * HPM_BS_PRIORITY_MAX : r % (HPM_BS_PRIORITY_MAX + 1));
    s->tries = (uint8_t)(n < 4 ? (n >> 1) * HPM_BS_TRIES_MAX : (r >> 8) % (HPM_BS_TRIES_MAX + 1));
    s->svn = n < 7 ? svns[(n + i) % 7] : (uint32_t)(r >> 16);
    s->reason = (hpm_bs_reason)((n + i) % HPM_BS_REASON_COUNT_);
    if (s->reason == HPM_BS_REASON_VERIFY_FAILED) s->detail = (uint8_t)((n * 7 + i) % HPM_RESULT_COUNT_);
    unsigned kind = (n + 2 * i) % 4; /* none, all 0xff, all 0x01, random */
    for (unsigned k = 0; k < HPM_DIGEST_LEN; k++)
      s->digest[k] = kind == 0 ? 0 : kind == 1 ? 0xff : kind == 2 ? 1 : (uint8_t)next_rand();
    s->successful = kind != 0 && (r >> 40) % 2;
  }
}

/* The fields of a slot as text, independent of the writer under test. */
static void summary(const hpm_bs_slot *s, char *out, size_t cap) {
  snprintf(out, cap, "priority=%u tries=%u successful=%d svn=%u reason=%d detail=%u attempts=%u",
           s->priority, s->tries, s->successful, s->svn, s->reason, s->detail, s->attempts);
}

static void slots_round_trip(void **state) {
  (void)state;
  for (unsigned n = 0; n < 2000; n++) {
    hpm_bootstate st, back;
    make_table(n, &st);
    char text[HPM_BOOTIF_SLOTS_MAX];
    hpm_text t = hpm_text_start(text, sizeof text);
    hpm_bootif_write_slots(&t, &st);
    assert_false(t.truncated);
    assert_int_equal(strlen(text), t.len);
    memset(&back, 0, sizeof back);
    for (unsigned i = 0; i < HPM_BS_MAX_SLOTS; i++) back.slots[i].attempts = (uint8_t)(40 + i);
    char det[HPM_BS_MAX_SLOTS][HPM_BOOTIF_DETAIL_MAX], why[200] = "";
    assert_int_equal(hpm_bootif_parse_slots(text, t.len, &back, det, why, sizeof why), HPM_BS_OK);
    /* Written again, the parsed table gives the same text: the writer is
     * one-to-one on the fields it writes, so every one of them came back. */
    char again[HPM_BOOTIF_SLOTS_MAX];
    hpm_text t2 = hpm_text_start(again, sizeof again);
    hpm_bootif_write_slots(&t2, &back);
    assert_string_equal(again, text);
    for (unsigned i = 0; i < HPM_BS_MAX_SLOTS; i++) {
      hpm_bs_slot want = st.slots[i];
      const hpm_bs_slot *a = &st.slots[i], *b = &back.slots[i];
      want.attempts = (uint8_t)(40 + i); /* not in the text: left alone */
      char sw[128], sb[128];
      summary(&want, sw, sizeof sw);
      summary(b, sb, sizeof sb);
      assert_string_equal(sb, sw);
      assert_memory_equal(b->digest, a->digest, HPM_DIGEST_LEN);
      if (a->reason == HPM_BS_REASON_VERIFY_FAILED) {
        char word[HPM_BOOTIF_DETAIL_MAX];
        snprintf(word, sizeof word, "%s", hpm_result_to_string((hpm_result)a->detail));
        for (char *p = word; *p; p++)
          if (*p == ' ') *p = '-';
        assert_string_equal(det[i], word);
      } else {
        assert_string_equal(det[i], "");
      }
    }
  }
}

static void slots_writer_text(void **state) {
  (void)state;
  hpm_bootstate st;
  memset(&st, 0, sizeof st);
  st.slots[0].priority = 2;
  st.slots[0].tries = 2;
  st.slots[0].svn = 5;
  memset(st.slots[0].digest, 0xab, HPM_DIGEST_LEN);
  st.slots[1].reason = HPM_BS_REASON_VERIFY_FAILED;
  st.slots[1].detail = HPM_E_PAYLOAD_HASH;
  char text[HPM_BOOTIF_SLOTS_MAX];
  hpm_text t = hpm_text_start(text, sizeof text);
  hpm_bootif_write_slots(&t, &st);
  /* docs/boot-interface.md "HpmBootSlots" */
  assert_string_equal(text, "a priority=2 tries=2 successful=0 svn=5 reason=none baseline=" A "\n"
                            "b priority=0 tries=0 successful=0 svn=0 reason=verify-failed "
                            "detail=payload-hash-mismatch baseline=" Z "\n" LINE_C LINE_D);
  /* The longest table the writer can make fits HPM_BOOTIF_SLOTS_MAX. */
  for (unsigned i = 0; i < HPM_BS_MAX_SLOTS; i++) {
    hpm_bs_slot *s = &st.slots[i];
    s->priority = s->tries = 255;
    s->successful = true;
    s->svn = UINT32_MAX;
    s->reason = HPM_BS_REASON_VERIFY_FAILED;
    s->detail = HPM_E_TRAILING_DATA;
  }
  t = hpm_text_start(text, sizeof text);
  hpm_bootif_write_slots(&t, &st);
  assert_false(t.truncated);
  /* A table cut short is marked, and the parser refuses what is left. */
  t = hpm_text_start(text, 300);
  hpm_bootif_write_slots(&t, &st);
  assert_true(t.truncated);
  assert_true(t.len < 300);
  hpm_bootstate back;
  assert_int_equal(hpm_bootif_parse_slots(text, t.len, &back, NULL, NULL, 0), HPM_BS_E_FIELD);
}

/* ---- slot table: what the parser accepts and refuses ------------------------------ */

static hpm_bs_result parse(const char *text, hpm_bootstate *st, char det[][HPM_BOOTIF_DETAIL_MAX],
                           char *why) {
  memset(st, 0x5a, sizeof *st);
  memset(det, 0x5a, HPM_BS_MAX_SLOTS * HPM_BOOTIF_DETAIL_MAX);
  why[0] = 0;
  return hpm_bootif_parse_slots(text, strlen(text), st, det, why, 200);
}

static void slots_parser_accepts(void **state) {
  (void)state;
  hpm_bootstate st;
  char det[HPM_BS_MAX_SLOTS][HPM_BOOTIF_DETAIL_MAX], why[200];
  /* any order of lines and fields, empty lines, runs of spaces, unknown
   * fields and words, an unknown or long detail word */
  char long_word[100];
  memset(long_word, 'x', 99);
  long_word[99] = 0;
  char text[1024];
  snprintf(text, sizeof text,
           "\n\nd  baseline=" Z " svn=4294967295 reason=tries-exhausted tries=15 priority=15 "
           "successful=0 future=1 word\n"
           LINE_B "\n"
           "c priority=0 tries=0 successful=0 svn=0 reason=verify-failed detail=%s baseline=" Z "\n"
           "a priority=2 tries=1 successful=1 svn=5 reason=verify-failed detail=no-such-result "
           "baseline=" A,
           long_word);
  assert_int_equal(parse(text, &st, det, why), HPM_BS_OK);
  assert_int_equal(st.slots[3].svn, UINT32_MAX);
  assert_int_equal(st.slots[3].priority, 15);
  assert_int_equal(st.slots[3].reason, HPM_BS_REASON_TRIES_EXHAUSTED);
  assert_string_equal(det[3], "");
  assert_int_equal(strlen(det[2]), HPM_BOOTIF_DETAIL_MAX - 1);
  assert_int_equal(st.slots[2].detail, 0);
  assert_string_equal(det[0], "no-such-result");
  assert_int_equal(st.slots[0].detail, 0);
  assert_true(st.slots[0].successful);
  assert_int_equal(st.slots[0].digest[31], 0xab);
  /* without detail[] */
  assert_int_equal(hpm_bootif_parse_slots(text, strlen(text), &st, NULL, NULL, 0), HPM_BS_OK);
}

static void slots_parser_refuses(void **state) {
  (void)state;
  static const struct {
    const char *line_a; /* slot a's line; b, c and d are valid */
    const char *why;
  } bad[] = {
      {"a priority=16 tries=1 successful=0 svn=5 reason=none baseline=" Z, "slot a: bad priority '16'"},
      {"a priority=1 tries=16 successful=0 svn=5 reason=none baseline=" Z, "slot a: bad tries"},
      {"a priority=1 tries=1 successful=2 svn=5 reason=none baseline=" Z, "slot a: bad successful"},
      {"a priority=1 tries=1 successful=0 svn=4294967296 reason=none baseline=" Z, "bad svn"},
      {"a priority=1 tries=1 successful=0 svn=5 reason=sideways baseline=" Z, "bad reason 'sideways'"},
      {"a priority=1 tries=1 successful=0 svn=5 reason=None baseline=" Z, "bad reason"},
      {"a priority=1 tries=1 successful=0 reason=none baseline=" Z, "slot a: a field is missing"},
      {"a priority=1 tries=1 successful=0 svn=5 baseline=" Z, "a field is missing"},
      {"a tries=1 successful=0 svn=5 reason=none baseline=" Z, "a field is missing"},
      {"a priority=1 tries=1 successful=0 svn=5 reason=none", "a field is missing"},
      {"a priority=1 tries=1 successful=1 svn=5 reason=none baseline=" Z, "marked good without a baseline"},
      {"a priority=1 tries=1 successful=0 svn=5 reason=none baseline=" A "00", "bad baseline"},
      {"a priority=1 tries=1 successful=0 svn=5 reason=none baseline=" Z "\r", "bad baseline"},
      {"a priority=1 tries=1 successful=0 svn=5 reason=none baseline=AB" Z, "bad baseline"},
      {"a priority=+1 tries=1 successful=0 svn=5 reason=none baseline=" Z, "bad priority"},
      {"a priority=-1 tries=1 successful=0 svn=5 reason=none baseline=" Z, "bad priority"},
      {"a priority= tries=1 successful=0 svn=5 reason=none baseline=" Z, "bad priority ''"},
      {"a priority=1 tries=1 successful=0 svn=000000000000000000005 reason=none baseline=" Z, "bad svn"},
      {"A priority=1 tries=1 successful=0 svn=5 reason=none baseline=" Z, "bad or repeated slot 'A'"},
      {"e priority=1 tries=1 successful=0 svn=5 reason=none baseline=" Z, "bad or repeated slot 'e'"},
      {"ab priority=1 tries=1 successful=0 svn=5 reason=none baseline=" Z, "bad or repeated slot 'ab'"},
      {"   ", "bad or repeated slot ''"},
      {LINE_B, "bad or repeated slot 'b'"},
      {"", "not every slot a-d is listed"},
  };
  hpm_bootstate st;
  char det[HPM_BS_MAX_SLOTS][HPM_BOOTIF_DETAIL_MAX], why[200];
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char text[1024];
    snprintf(text, sizeof text, "%s\n" LINE_B LINE_C LINE_D, bad[i].line_a);
    assert_int_equal(parse(text, &st, det, why), HPM_BS_E_FIELD);
    if (!strstr(why, bad[i].why) || strncmp(why, "HpmBootSlots: ", 14) != 0)
      fail_msg("case %zu: why '%s', want '%s'", i, why, bad[i].why);
    /* nothing written on a refusal */
    for (size_t k = 0; k < sizeof st; k++) assert_int_equal(((uint8_t *)&st)[k], 0x5a);
    assert_int_equal((uint8_t)det[0][0], 0x5a);
  }
  /* every slot must be there; a NUL byte is not text */
  assert_int_equal(parse(LINE_B LINE_C LINE_D, &st, det, why), HPM_BS_E_FIELD);
  assert_non_null(strstr(why, "not every slot"));
  assert_int_equal(parse("\n\n", &st, det, why), HPM_BS_E_FIELD);
  const char with_nul[] = "a priority=1 tries=1 successful=0 svn=5 reason=none baseline=" Z "\0\n"
                          LINE_B LINE_C LINE_D;
  assert_int_equal(hpm_bootif_parse_slots(with_nul, sizeof with_nul - 1, &st, det, why, 200),
                   HPM_BS_E_FIELD);
  assert_non_null(strstr(why, "NUL"));
  /* a tiny why buffer is still terminated; NULL arguments are refused */
  char tiny[8];
  assert_int_equal(hpm_bootif_parse_slots("x", 1, &st, det, tiny, sizeof tiny), HPM_BS_E_FIELD);
  assert_int_equal(strlen(tiny), sizeof tiny - 1);
  assert_int_equal(hpm_bootif_parse_slots(NULL, 0, &st, det, why, 200), HPM_BS_E_INVALID_ARGUMENT);
  assert_int_equal(hpm_bootif_parse_slots("", 0, NULL, det, why, 200), HPM_BS_E_INVALID_ARGUMENT);
}

/* ---- identity: kernel command line and HpmMarkGood ------------------------------------ */

static void identity_round_trip(void **state) {
  (void)state;
  for (unsigned n = 0; n < 200; n++) {
    uint8_t d[HPM_DIGEST_LEN], back[HPM_DIGEST_LEN];
    for (unsigned k = 0; k < HPM_DIGEST_LEN; k++) d[k] = n < 2 ? (uint8_t)(n * 0xff) : (uint8_t)next_rand();
    unsigned slot = n % HPM_BS_MAX_SLOTS, got = 99;
    char text[HPM_BOOTIF_IDENTITY_LEN + 2];
    hpm_text t = hpm_text_start(text, sizeof text);
    hpm_bootif_write_identity(&t, slot, d);
    assert_false(t.truncated);
    assert_int_equal(t.len, HPM_BOOTIF_IDENTITY_LEN);
    assert_int_equal(hpm_bootif_parse_identity((const uint8_t *)text, t.len, &got, back), HPM_BS_OK);
    assert_int_equal(got, slot);
    assert_memory_equal(back, d, HPM_DIGEST_LEN);
    /* echo's newline is accepted */
    text[t.len] = '\n';
    assert_int_equal(hpm_bootif_parse_identity((const uint8_t *)text, t.len + 1, &got, back), HPM_BS_OK);
  }
  char text[HPM_BOOTIF_IDENTITY_LEN + 1];
  hpm_text t = hpm_text_start(text, sizeof text);
  uint8_t d[HPM_DIGEST_LEN];
  memset(d, 0xab, sizeof d);
  hpm_bootif_write_identity(&t, 2, d);
  assert_string_equal(text, "hpm.slot=c hpm.baseline=" A);
  /* exactly what core's mark-good accepts */
  hpm_bootstate st;
  hpm_bs_default(&st, HPM_BS_ORIGIN_FRESH);
  memcpy(st.slots[2].digest, d, sizeof d);
  st.slots[2].svn = 4;
  assert_int_equal(hpm_bs_apply_mark_good(&st, (const uint8_t *)text, t.len), HPM_BS_MARK_APPLIED);
  assert_int_equal(st.floor, 4);
  /* one byte short of room: marked truncated */
  t = hpm_text_start(text, HPM_BOOTIF_IDENTITY_LEN);
  hpm_bootif_write_identity(&t, 2, d);
  assert_true(t.truncated);
}

static void identity_refusals(void **state) {
  (void)state;
  static const char *const bad[] = {
      "hpm.slot=e hpm.baseline=" A,          "hpm.slot=A hpm.baseline=" A,
      "hpm.slot=a  hpm.baseline=" A,         "hpm.slot=a hpm.baseline=" A "0",
      "hpm.slot=a hpm.baseline=" A "\n\n",   "hpm.slot=a hpm.baseline=" A " ",
      "hpm.slot=a hpm.baseline=AB" A,        "hpm.slot=a hpm.baseline=" Z "g",
      "HPM.slot=a hpm.baseline=" A,          "hpm.slot=a,hpm.baseline=" A,
      "hpm.slot=a hpm.baselin=" A "0",       "",
      "hpm.slot=a",
  };
  uint8_t d[HPM_DIGEST_LEN];
  unsigned slot = 7;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    if (hpm_bootif_parse_identity((const uint8_t *)bad[i], strlen(bad[i]), &slot, d) != HPM_BS_E_FIELD)
      fail_msg("accepted '%s'", bad[i]);
  assert_int_equal(slot, 7);
  assert_int_equal(hpm_bootif_parse_identity(NULL, 0, &slot, d), HPM_BS_E_FIELD);
}

/* ---- fields ----------------------------------------------------------------------------- */

static hpm_bs_result u64(const char *s, uint64_t max, uint64_t *v) {
  return hpm_bootif_parse_u64(s, strlen(s), max, v);
}

static void field_parsers(void **state) {
  (void)state;
  uint64_t v = 7;
  assert_int_equal(u64("0", 0, &v), HPM_BS_OK);
  assert_int_equal(v, 0);
  assert_int_equal(u64("00000000000000000042", 42, &v), HPM_BS_OK); /* 20 digits */
  assert_int_equal(v, 42);
  assert_int_equal(u64("18446744073709551615", UINT64_MAX, &v), HPM_BS_OK);
  assert_true(v == UINT64_MAX);
  v = 7;
  static const char *const bad[] = {"18446744073709551616", "99999999999999999999",
                                    "000000000000000000001", "", "+1", "-0", " 1", "1 ", "0x1",
                                    "1a"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_int_equal(u64(bad[i], UINT64_MAX, &v), HPM_BS_E_FIELD);
  assert_int_equal(u64("4294967296", UINT32_MAX, &v), HPM_BS_E_FIELD);
  assert_int_equal(u64("16", HPM_BS_PRIORITY_MAX, &v), HPM_BS_E_FIELD);
  assert_int_equal(v, 7); /* untouched on failure */
  /* only the len bytes count */
  assert_int_equal(hpm_bootif_parse_u64("123", 2, 100, &v), HPM_BS_OK);
  assert_int_equal(v, 12);

  uint8_t d[HPM_DIGEST_LEN], keep[HPM_DIGEST_LEN];
  assert_int_equal(hpm_bootif_parse_digest(A, 64, d), HPM_BS_OK);
  assert_int_equal(d[0], 0xab);
  memcpy(keep, d, sizeof d);
  char hx[65];
  memcpy(hx, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeF", 65);
  assert_int_equal(hpm_bootif_parse_digest(hx, 64, d), HPM_BS_E_FIELD); /* lower case only */
  assert_memory_equal(d, keep, sizeof d);                             /* untouched */
  hx[63] = 'f';
  assert_int_equal(hpm_bootif_parse_digest(hx, 64, d), HPM_BS_OK);
  assert_int_equal(d[31], 0xef);
  assert_int_equal(hpm_bootif_parse_digest(hx, 63, d), HPM_BS_E_FIELD);
  assert_int_equal(hpm_bootif_parse_digest(A "ab", 66, d), HPM_BS_E_FIELD);
}

/* ---- text building -------------------------------------------------------------------------- */

static void text_bounds(void **state) {
  (void)state;
  char b[8];
  hpm_text t = hpm_text_start(b, sizeof b);
  hpm_text_add(&t, "abc");
  hpm_text_u64(&t, 1234);
  assert_string_equal(b, "abc1234");
  assert_false(t.truncated);
  hpm_text_char(&t, 'x');
  assert_true(t.truncated);
  assert_string_equal(b, "abc1234");
  t = hpm_text_start(b, sizeof b);
  const uint8_t bytes[] = {0x01, 0xfe, 0x80, 0x7f};
  hpm_text_hex(&t, bytes, sizeof bytes); /* 3 whole bytes fit, never half of one */
  assert_string_equal(b, "01fe80");
  assert_true(t.truncated);
  t = hpm_text_start(b, 0);
  hpm_text_add(&t, "a");
  assert_true(t.truncated);
  assert_int_equal(t.len, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(vendor_guid_forms_agree),
      cmocka_unit_test(slots_round_trip),
      cmocka_unit_test(slots_writer_text),
      cmocka_unit_test(slots_parser_accepts),
      cmocka_unit_test(slots_parser_refuses),
      cmocka_unit_test(identity_round_trip),
      cmocka_unit_test(identity_refusals),
      cmocka_unit_test(field_parsers),
      cmocka_unit_test(text_bounds),
  };
  return cmocka_run_group_tests_name("bootif", tests, NULL, NULL);
}
