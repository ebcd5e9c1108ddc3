/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of core/tpmnv.c, the TPM 2.0 NV commands of the TPM-backed
 * floor and the parsers of the TPM's responses: the command bytes against
 * the layouts of TPM 2.0 Part 3 written out by hand, the responses a TPM
 * gives (present, absent, other errors, a foreign index, a floor record),
 * and the refusal of every truncation and every inconsistent length.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "hpm/tpmnv.h"

#define IDX 0x01, 0x00, 0x48, 0x50
#define PW_SESSION 0x00, 0x00, 0x00, 0x09, 0x40, 0x00, 0x00, 0x09, 0x00, 0x00, 0x00, 0x00, 0x00
/* AUTHWRITE|WRITEALL|WRITE_STCLEAR|OWNERREAD|AUTHREAD|NO_DA */
#define ATTRS 0x02, 0x06, 0x50, 0x04

static void check_cmd(size_t (*fn)(uint8_t *, size_t), const uint8_t *want, size_t want_len) {
  uint8_t buf[HPM_TPMNV_CMD_MAX];
  memset(buf, 0xEE, sizeof buf);
  assert_int_equal(fn(buf, sizeof buf), want_len);
  assert_memory_equal(buf, want, want_len);
  /* One byte short: nothing, never a truncated command. */
  assert_int_equal(fn(buf, want_len - 1), 0);
  assert_int_equal(fn(NULL, sizeof buf), 0);
}

static size_t write_300(uint8_t *buf, size_t cap) { return hpm_tpmnv_cmd_write(buf, cap, 300); }

static void commands(void **state) {
  (void)state;
  static const uint8_t read_public[] = {0x80, 0x01, 0, 0, 0, 14, 0, 0, 0x01, 0x69, IDX};
  check_cmd(hpm_tpmnv_cmd_read_public, read_public, sizeof read_public);
  static const uint8_t read[] = {0x80, 0x02, 0, 0, 0, 35, 0, 0, 0x01, 0x4E, IDX, IDX,
                                 PW_SESSION, 0x00, 0x08, 0x00, 0x00};
  check_cmd(hpm_tpmnv_cmd_read, read, sizeof read);
  static const uint8_t define[] = {0x80, 0x02, 0, 0, 0, 45, 0, 0, 0x01, 0x2A, 0x40, 0, 0, 0x01,
                                   PW_SESSION, 0x00, 0x00, 0x00, 14, IDX, 0x00, 0x0B, ATTRS,
                                   0x00, 0x00, 0x00, 0x08};
  check_cmd(hpm_tpmnv_cmd_define, define, sizeof define);
  static const uint8_t write[] = {0x80, 0x02, 0, 0, 0, 43, 0, 0, 0x01, 0x37, IDX, IDX,
                                  PW_SESSION, 0x00, 0x08, 'H', 'P', 'M', 'F', 0, 0, 0x01, 0x2C,
                                  0x00, 0x00};
  check_cmd(write_300, write, sizeof write);
  static const uint8_t lock[] = {0x80, 0x02, 0, 0, 0, 31, 0, 0, 0x01, 0x38, IDX, IDX, PW_SESSION};
  check_cmd(hpm_tpmnv_cmd_write_lock, lock, sizeof lock);
}

/* ---- ReadPublic ------------------------------------------------------------- */

static size_t public_rsp(uint8_t *out, const uint8_t attrs[4], uint16_t data_size) {
  uint8_t r[] = {0x80, 0x01, 0, 0, 0, 62, 0, 0, 0, 0,
                 0x00, 14, IDX, 0x00, 0x0B, attrs[0], attrs[1], attrs[2], attrs[3], 0x00, 0x00,
                 (uint8_t)(data_size >> 8), (uint8_t)data_size,
                 0x00, 34, 0x00, 0x0B};
  memcpy(out, r, sizeof r);
  memset(out + sizeof r, 0xA5, 32); /* the name's digest */
  return sizeof r + 32;
}

static void read_public_ok(void **state) {
  (void)state;
  uint8_t rsp[128];
  static const uint8_t fresh[] = {ATTRS}, written[] = {0x22, 0x06, 0x50, 0x04},
                       locked[] = {0x22, 0x06, 0x58, 0x04};
  hpm_tpmnv_public pub;
  uint32_t rc = 1;
  size_t n = public_rsp(rsp, fresh, 8);
  assert_int_equal(n, 62);
  assert_int_equal(hpm_tpmnv_parse_read_public(rsp, n, &pub, &rc), HPM_TPMNV_OK);
  assert_int_equal(rc, 0);
  assert_false(pub.written);
  assert_false(pub.locked);
  n = public_rsp(rsp, written, 8);
  assert_int_equal(hpm_tpmnv_parse_read_public(rsp, n, &pub, &rc), HPM_TPMNV_OK);
  assert_true(pub.written);
  assert_false(pub.locked);
  n = public_rsp(rsp, locked, 8);
  assert_int_equal(hpm_tpmnv_parse_read_public(rsp, n, &pub, &rc), HPM_TPMNV_OK);
  assert_true(pub.written);
  assert_true(pub.locked);
}

static void read_public_foreign(void **state) {
  (void)state;
  uint8_t rsp[128];
  hpm_tpmnv_public pub;
  uint32_t rc;
  /* OWNERWRITE added: the OS could write it with the owner's auth. */
  static const uint8_t ownerwrite[] = {0x02, 0x06, 0x50, 0x06};
  size_t n = public_rsp(rsp, ownerwrite, 8);
  assert_int_equal(hpm_tpmnv_parse_read_public(rsp, n, &pub, &rc), HPM_TPMNV_FOREIGN);
  assert_int_equal(pub.attributes, 0x02065006u);
  /* WRITE_STCLEAR missing: it could not be locked. */
  static const uint8_t nolock[] = {0x02, 0x06, 0x10, 0x04};
  n = public_rsp(rsp, nolock, 8);
  assert_int_equal(hpm_tpmnv_parse_read_public(rsp, n, &pub, &rc), HPM_TPMNV_FOREIGN);
  static const uint8_t attrs[] = {ATTRS};
  n = public_rsp(rsp, attrs, 16);
  assert_int_equal(hpm_tpmnv_parse_read_public(rsp, n, &pub, &rc), HPM_TPMNV_FOREIGN);
  assert_int_equal(pub.size, 16);
  /* Another handle, another name algorithm. */
  n = public_rsp(rsp, attrs, 8);
  rsp[15] = 0x51;
  assert_int_equal(hpm_tpmnv_parse_read_public(rsp, n, NULL, &rc), HPM_TPMNV_FOREIGN);
  n = public_rsp(rsp, attrs, 8);
  rsp[17] = 0x04; /* SHA-1 */
  assert_int_equal(hpm_tpmnv_parse_read_public(rsp, n, NULL, &rc), HPM_TPMNV_FOREIGN);
}

static void error_codes(void **state) {
  (void)state;
  uint32_t rc = 0;
  /* TPM_RC_HANDLE for handle 1: no such index. */
  static const uint8_t absent[] = {0x80, 0x01, 0, 0, 0, 10, 0, 0, 0x01, 0x8B};
  assert_int_equal(hpm_tpmnv_parse_read_public(absent, sizeof absent, NULL, &rc), HPM_TPMNV_ABSENT);
  assert_int_equal(rc, 0x18B);
  /* TPM_RC_NV_LOCKED, TPM_RC_AUTH_FAIL for session 1, TPM_RC_NV_DEFINED. */
  static const uint8_t nv_locked[] = {0x80, 0x01, 0, 0, 0, 10, 0, 0, 0x01, 0x48};
  assert_int_equal(hpm_tpmnv_parse_status(nv_locked, sizeof nv_locked, &rc), HPM_TPMNV_TPM_ERROR);
  assert_int_equal(rc, 0x148);
  static const uint8_t auth[] = {0x80, 0x01, 0, 0, 0, 10, 0, 0, 0x09, 0x8E};
  assert_int_equal(hpm_tpmnv_parse_read(auth, sizeof auth, NULL, &rc), HPM_TPMNV_TPM_ERROR);
  assert_int_equal(rc, 0x98E);
  static const uint8_t defined[] = {0x80, 0x01, 0, 0, 0, 10, 0, 0, 0x01, 0x4C};
  assert_int_equal(hpm_tpmnv_parse_status(defined, sizeof defined, &rc), HPM_TPMNV_TPM_ERROR);
  /* An error response with a body, or under the sessions tag: malformed. */
  static const uint8_t body[] = {0x80, 0x01, 0, 0, 0, 11, 0, 0, 0x01, 0x8B, 0};
  assert_int_equal(hpm_tpmnv_parse_read_public(body, sizeof body, NULL, &rc), HPM_TPMNV_MALFORMED);
  static const uint8_t tag[] = {0x80, 0x02, 0, 0, 0, 10, 0, 0, 0x01, 0x8B};
  assert_int_equal(hpm_tpmnv_parse_read_public(tag, sizeof tag, NULL, &rc), HPM_TPMNV_MALFORMED);
}

/* ---- NV_Read and the status responses ---------------------------------------- */

static const uint8_t read_rsp[] = {0x80, 0x02, 0, 0, 0, 29, 0, 0, 0, 0, 0, 0, 0, 10,
                                   0x00, 0x08, 'H', 'P', 'M', 'F', 0x80, 0x00, 0x01, 0x2C,
                                   0x00, 0x00, 0x01, 0x00, 0x00};

static void read_floor(void **state) {
  (void)state;
  uint32_t floor = 0, rc = 1;
  assert_int_equal(hpm_tpmnv_parse_read(read_rsp, sizeof read_rsp, &floor, &rc), HPM_TPMNV_OK);
  assert_int_equal(floor, 0x8000012Cu);
  assert_int_equal(rc, 0);
  uint8_t r[sizeof read_rsp];
  memcpy(r, read_rsp, sizeof r);
  r[16] = 'h';
  floor = 7;
  assert_int_equal(hpm_tpmnv_parse_read(r, sizeof r, &floor, &rc), HPM_TPMNV_BAD_DATA);
  assert_int_equal(floor, 7);
  /* A shorter buffer (4 bytes of data, lengths consistent): not a record. */
  static const uint8_t shorter[] = {0x80, 0x02, 0, 0, 0, 25, 0, 0, 0, 0, 0, 0, 0, 6,
                                    0x00, 0x04, 'H', 'P', 'M', 'F', 0x00, 0x00, 0x01, 0x00, 0x00};
  assert_int_equal(hpm_tpmnv_parse_read(shorter, sizeof shorter, &floor, &rc), HPM_TPMNV_BAD_DATA);
  /* The response auth area must end the response: a nonce that runs past it,
   * a trailing byte, a parameterSize that disagrees. */
  memcpy(r, read_rsp, sizeof r);
  r[25] = 0x01;
  assert_int_equal(hpm_tpmnv_parse_read(r, sizeof r, &floor, &rc), HPM_TPMNV_MALFORMED);
  uint8_t longer[sizeof read_rsp + 1];
  memcpy(longer, read_rsp, sizeof read_rsp);
  longer[5] = sizeof longer;
  longer[sizeof read_rsp] = 0;
  assert_int_equal(hpm_tpmnv_parse_read(longer, sizeof longer, &floor, &rc), HPM_TPMNV_MALFORMED);
  memcpy(r, read_rsp, sizeof r);
  r[13] = 11;
  assert_int_equal(hpm_tpmnv_parse_read(r, sizeof r, &floor, &rc), HPM_TPMNV_MALFORMED);
  memcpy(r, read_rsp, sizeof r);
  r[15] = 0x07;
  assert_int_equal(hpm_tpmnv_parse_read(r, sizeof r, &floor, &rc), HPM_TPMNV_MALFORMED);
  memcpy(r, read_rsp, sizeof r);
  r[0x1] = 0x01; /* no sessions: no auth area either */
  assert_int_equal(hpm_tpmnv_parse_read(r, sizeof r, &floor, &rc), HPM_TPMNV_MALFORMED);
}

static void status(void **state) {
  (void)state;
  uint32_t rc = 1;
  static const uint8_t ok[] = {0x80, 0x02, 0, 0, 0, 19, 0, 0, 0, 0, 0, 0, 0, 0,
                               0x00, 0x00, 0x01, 0x00, 0x00};
  assert_int_equal(hpm_tpmnv_parse_status(ok, sizeof ok, &rc), HPM_TPMNV_OK);
  assert_int_equal(rc, 0);
  uint8_t r[sizeof ok];
  memcpy(r, ok, sizeof r);
  r[13] = 1; /* parameters where none are due */
  assert_int_equal(hpm_tpmnv_parse_status(r, sizeof r, &rc), HPM_TPMNV_MALFORMED);
  assert_int_equal(hpm_tpmnv_parse_status(NULL, 0, &rc), HPM_TPMNV_MALFORMED);
}

/* Every proper prefix of a good response, and every wrong size field. */
static void truncations(void **state) {
  (void)state;
  uint8_t pub[128];
  static const uint8_t attrs[] = {ATTRS};
  size_t pub_len = public_rsp(pub, attrs, 8);
  uint8_t r[128];
  uint32_t rc;
  for (size_t n = 0; n < pub_len; n++) {
    memcpy(r, pub, n);
    if (n >= 6) r[5] = (uint8_t)n; /* even with a size field that agrees */
    assert_int_equal(hpm_tpmnv_parse_read_public(r, n, NULL, &rc), HPM_TPMNV_MALFORMED);
  }
  for (size_t n = 0; n < sizeof read_rsp; n++) {
    memcpy(r, read_rsp, n);
    if (n >= 6) r[5] = (uint8_t)n;
    assert_int_equal(hpm_tpmnv_parse_read(r, n, NULL, &rc), HPM_TPMNV_MALFORMED);
  }
  for (unsigned size = 0; size < 256; size++) {
    if (size == sizeof read_rsp) continue;
    memcpy(r, read_rsp, sizeof read_rsp);
    r[5] = (uint8_t)size;
    assert_int_equal(hpm_tpmnv_parse_read(r, sizeof read_rsp, NULL, &rc), HPM_TPMNV_MALFORMED);
  }
  /* A policy longer than any digest. */
  memcpy(r, pub, pub_len);
  r[23] = 65;
  assert_int_equal(hpm_tpmnv_parse_read_public(r, pub_len, NULL, &rc), HPM_TPMNV_MALFORMED);
}

static void result_names(void **state) {
  (void)state;
  for (int r = HPM_TPMNV_OK; r <= HPM_TPMNV_NO_ROOM; r++)
    assert_string_not_equal(hpm_tpmnv_result_to_string((hpm_tpmnv_result)r), "unknown");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(commands),       cmocka_unit_test(read_public_ok),
      cmocka_unit_test(read_public_foreign), cmocka_unit_test(error_codes),
      cmocka_unit_test(read_floor),     cmocka_unit_test(status),
      cmocka_unit_test(truncations),    cmocka_unit_test(result_names),
  };
  return cmocka_run_group_tests_name("tpmnv", tests, NULL, NULL);
}
