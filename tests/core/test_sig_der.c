/* SPDX-License-Identifier: MIT */
/*
 * hpm_signature_check on its own (issue 13, finding 5): the API accepts the
 * one minimal DER encoding of ECDSA-Sig-Value and refuses every other
 * encoding of the same (r, s) and every value outside 1..n-1, so a caller
 * that has no signature block to check first (hpm-sign attach) is as safe as
 * container verification.  Encodings are made by hand here from (r, s) of a
 * real signature.
 */
#include <mbedtls/asn1.h>
#include <mbedtls/bignum.h>

#include "testlib.h"

/* Big-endian magnitude of a value, no leading zero bytes. */
typedef struct {
  uint8_t v[64];
  size_t n;
} mag;

static mag mag_of(const mbedtls_mpi *x) {
  mag m;
  m.n = mbedtls_mpi_size(x);
  if (m.n == 0) { /* zero: one 0x00 byte, as DER writes it */
    m.n = 1;
    m.v[0] = 0;
    return m;
  }
  assert_true(m.n <= sizeof m.v);
  assert_int_equal(mbedtls_mpi_write_binary(x, m.v, m.n), 0);
  return m;
}

/* (r, s) of key k's deterministic signature over msg, split by mbedTLS. */
static void sign_rs(tl_key *k, const uint8_t *msg, size_t len, mbedtls_mpi *r, mbedtls_mpi *s) {
  uint8_t der[MBEDTLS_ECDSA_MAX_LEN], kid[32];
  unsigned char *p = der;
  size_t dl = 0, n;
  hpm_alg alg;
  hpmh_status e;
  if (hpmw_sign(&k->pk, msg, len, der, &dl, &alg, kid, &e)) fail_msg("sign: %s", e.detail);
  assert_int_equal(mbedtls_asn1_get_tag(&p, der + dl, &n, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE), 0);
  assert_int_equal(mbedtls_asn1_get_mpi(&p, der + dl, r), 0);
  assert_int_equal(mbedtls_asn1_get_mpi(&p, der + dl, s), 0);
  assert_ptr_equal(p, der + dl);
}

/* ---- hand-made encodings ----------------------------------------------------- */

typedef struct {
  uint8_t b[200];
  size_t n;
} enc;

static void put(enc *e, const void *p, size_t n) {
  assert_true(e->n + n <= sizeof e->b);
  memcpy(e->b + e->n, p, n);
  e->n += n;
}

static void put1(enc *e, uint8_t c) { put(e, &c, 1); }

/* How a length is written: DER's short form, BER's long forms (one length
 * byte; two, the first 0), or BER's indefinite length (0x80 ... 00 00). */
enum len_form { SHORT, LONG1, LONG2, INDEF };

static void tag_len(enc *e, uint8_t tag, size_t n, enum len_form f) {
  put1(e, tag);
  if (f == SHORT) {
    assert_true(n < 0x80);
    put1(e, (uint8_t)n);
  } else if (f == LONG1) {
    put(e, (uint8_t[]){0x81, (uint8_t)n}, 2);
  } else if (f == LONG2) {
    put(e, (uint8_t[]){0x82, 0, (uint8_t)n}, 3);
  } else {
    put1(e, 0x80);
  }
}

/* The shape of one encoding of (r, s). */
typedef struct {
  const char *what;
  enum len_form seq, r_len;
  int r_zeros, s_zeros; /* 0x00 bytes before the value beyond the one DER needs */
  bool s_no_sign_byte;  /* s's top bit is set: leave out DER's 0x00 (a negative s) */
  int inner, outer;     /* a byte after s inside / after the SEQUENCE; -1: none */
} shape;

static void integer(enc *e, const mag *x, enum len_form f, int zeros, bool no_sign_byte) {
  int pad = (x->v[0] & 0x80) && !no_sign_byte ? 1 : 0;
  tag_len(e, 0x02, x->n + (size_t)(pad + zeros), f);
  for (int i = 0; i < pad + zeros; i++) put1(e, 0);
  put(e, x->v, x->n);
}

static enc encode(const mag *r, const mag *s, const shape *sh) {
  enc body = {.n = 0}, out = {.n = 0};
  integer(&body, r, sh->r_len, sh->r_zeros, false);
  integer(&body, s, SHORT, sh->s_zeros, sh->s_no_sign_byte);
  if (sh->inner >= 0) put1(&body, (uint8_t)sh->inner);
  tag_len(&out, 0x30, body.n, sh->seq);
  put(&out, body.b, body.n);
  if (sh->seq == INDEF) put(&out, (uint8_t[]){0, 0}, 2);
  if (sh->outer >= 0) put1(&out, (uint8_t)sh->outer);
  return out;
}

static const shape der_shape = {"minimal DER", SHORT, SHORT, 0, 0, false, -1, -1};

static const shape ber_shapes[] = {
    {"SEQUENCE length in long form", LONG1, SHORT, 0, 0, false, -1, -1},
    {"SEQUENCE length in two bytes, the first 0", LONG2, SHORT, 0, 0, false, -1, -1},
    {"SEQUENCE of indefinite length", INDEF, SHORT, 0, 0, false, -1, -1},
    {"r's length in long form", SHORT, LONG1, 0, 0, false, -1, -1},
    {"r's length in two bytes", SHORT, LONG2, 0, 0, false, -1, -1},
    {"r with an extra leading 0x00", SHORT, SHORT, 1, 0, false, -1, -1},
    {"s with an extra leading 0x00", SHORT, SHORT, 0, 1, false, -1, -1},
    {"s with two extra leading 0x00", SHORT, SHORT, 0, 2, false, -1, -1},
    {"negative s (top bit set, no 0x00)", SHORT, SHORT, 0, 0, true, -1, -1},
    {"a 0x00 after s inside the SEQUENCE", SHORT, SHORT, 0, 0, false, 0x00, -1},
    {"a 0x00 after the SEQUENCE", SHORT, SHORT, 0, 0, false, -1, 0x00},
    {"garbage after the SEQUENCE", SHORT, SHORT, 0, 0, false, -1, 0xa5},
};

/* ---- the tests -------------------------------------------------------------------- */

/* For each curve: a message whose signature has s with its top bit set (so
 * "negative s" is an encoding of the same value), then every BER shape. */
static void test_ber_encodings_refused(void **state) {
  tl_key *keys[] = {&tl_A, &tl_D};
  char refused_wrongly[1024] = "", accepted[2048] = "";
  (void)state;
  for (size_t k = 0; k < 2; k++) {
    mbedtls_mpi r, s;
    uint8_t msg[32] = "hpm: BER is not DER";
    mag rm, sm;
    mbedtls_mpi_init(&r);
    mbedtls_mpi_init(&s);
    for (msg[31] = 0;; msg[31]++) {
      assert_true(msg[31] < 200);
      sign_rs(keys[k], msg, sizeof msg, &r, &s);
      sm = mag_of(&s);
      if (sm.v[0] & 0x80) break;
    }
    rm = mag_of(&r);
    enc e = encode(&rm, &sm, &der_shape);
    if (hpm_signature_check(&keys[k]->pub, msg, sizeof msg, e.b, e.n) != HPM_OK)
      snprintf(refused_wrongly + strlen(refused_wrongly), sizeof refused_wrongly - strlen(refused_wrongly),
               "key %zu: %s; ", k, der_shape.what);
    for (size_t i = 0; i < sizeof ber_shapes / sizeof ber_shapes[0]; i++) {
      hpm_result got;
      e = encode(&rm, &sm, &ber_shapes[i]);
      got = hpm_signature_check(&keys[k]->pub, msg, sizeof msg, e.b, e.n);
      if (got != HPM_E_SIGNATURE_INVALID)
        snprintf(accepted + strlen(accepted), sizeof accepted - strlen(accepted), "key %zu: %s -> %s; ", k,
                 ber_shapes[i].what, hpm_result_to_string(got));
    }
    mbedtls_mpi_free(&r);
    mbedtls_mpi_free(&s);
  }
  if (refused_wrongly[0]) fail_msg("minimal DER refused: %s", refused_wrongly);
  if (accepted[0]) fail_msg("hpm_signature_check accepted BER: %s", accepted);
}

/* Values no ECDSA signature has, in minimal DER: 0, n, s + n. */
static void test_values_out_of_range(void **state) {
  tl_key *keys[] = {&tl_A, &tl_D};
  static const uint8_t msg[] = "hpm: 1 <= r, s < n";
  (void)state;
  for (size_t k = 0; k < 2; k++) {
    const mbedtls_mpi *order = &mbedtls_pk_ec(keys[k]->pk)->grp.N;
    mbedtls_mpi r, s, zero, s_plus_n;
    mag rm, sm, zm, nm, spn;
    enc e;
    mbedtls_mpi_init(&r);
    mbedtls_mpi_init(&s);
    mbedtls_mpi_init(&zero);
    mbedtls_mpi_init(&s_plus_n);
    sign_rs(keys[k], msg, sizeof msg, &r, &s);
    assert_int_equal(mbedtls_mpi_add_mpi(&s_plus_n, &s, order), 0);
    rm = mag_of(&r);
    sm = mag_of(&s);
    zm = mag_of(&zero);
    nm = mag_of(order);
    spn = mag_of(&s_plus_n);
    e = encode(&rm, &sm, &der_shape);
    assert_result(hpm_signature_check(&keys[k]->pub, msg, sizeof msg, e.b, e.n), HPM_OK);
    {
      /* (0, s), (r, 0), (n, s), (r, n), (r, s + n) */
      const mag *bad[][2] = {{&zm, &sm}, {&rm, &zm}, {&nm, &sm}, {&rm, &nm}, {&rm, &spn}};
      for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        e = encode(bad[i][0], bad[i][1], &der_shape);
        assert_result(hpm_signature_check(&keys[k]->pub, msg, sizeof msg, e.b, e.n), HPM_E_SIGNATURE_INVALID);
      }
    }
    mbedtls_mpi_free(&r);
    mbedtls_mpi_free(&s);
    mbedtls_mpi_free(&zero);
    mbedtls_mpi_free(&s_plus_n);
  }
}

/* Not even a SEQUENCE, empty, a length that is not the rest. */
static void test_not_a_signature(void **state) {
  static const uint8_t msg[] = "m";
  static const uint8_t cases[][10] = {
      {0x31, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01},       /* SET, not SEQUENCE */
      {0x30, 0x06, 0x03, 0x01, 0x01, 0x02, 0x01, 0x01},       /* BIT STRING r */
      {0x30, 0x07, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01},       /* length past the end */
      {0x30, 0x05, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01},       /* length short of it */
      {0x30, 0x06, 0x02, 0x00, 0x02, 0x02, 0x01, 0x01, 0x01}, /* empty r */
  };
  static const size_t lens[] = {8, 8, 8, 8, 9};
  (void)state;
  for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++)
    assert_result(hpm_signature_check(&tl_A.pub, msg, 1, cases[i], lens[i]), HPM_E_SIGNATURE_INVALID);
  assert_result(hpm_signature_check(&tl_A.pub, msg, 1, cases[0], 0), HPM_E_SIGNATURE_INVALID);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TL_TEST(test_ber_encodings_refused),
      TL_TEST(test_values_out_of_range),
      TL_TEST(test_not_a_signature),
  };
  return TL_RUN(tests);
}
