/* SPDX-License-Identifier: MIT */
/*
 * Signatures and trust: unknown keys, m-of-n thresholds, duplicate signers,
 * bad signatures by trusted keys (never outvoted), algorithm/key mismatch,
 * unsigned containers, the trust-set arguments.
 */
#include <mbedtls/bignum.h>

#include "testlib.h"

static void signed_baseline(uint8_t **buf, size_t *len, tl_key *const *signers, size_t n) {
  tl_doc *d = tl_doc_baseline();
  uint8_t *fdt;
  size_t fdt_len;
  tl_doc_fdt(d, &fdt, &fdt_len);
  tl_assemble(HPM_KIND_BASELINE, fdt, fdt_len, d->area, d->area_len, buf, len);
  for (size_t i = 0; i < n; i++) tl_sign(buf, len, signers[i]);
}

static hpm_result verify_with(const uint8_t *buf, size_t len, tl_key *const *trusted, size_t n,
                              unsigned threshold) {
  hpm_pubkey keys[20];
  hpm_trust t = {keys, n, threshold};
  assert_true(n <= 20);
  for (size_t i = 0; i < n; i++) keys[i] = trusted[i]->pub;
  return hpm_container_verify(buf, len, HPM_KIND_BASELINE, &t, NULL, tl_m, &tl_diag);
}

#define KEYS(...) ((tl_key *const[]){__VA_ARGS__}), (sizeof((tl_key *const[]){__VA_ARGS__}) / sizeof(tl_key *))

static void expect_statuses(const hpm_sig_status *want, size_t n) {
  assert_int_equal(tl_m->signature_count, n);
  for (size_t i = 0; i < n; i++)
    if (tl_m->signatures[i].status != want[i])
      fail_msg("signature %zu: status %s, want %s", i,
               hpm_sig_status_to_string(tl_m->signatures[i].status), hpm_sig_status_to_string(want[i]));
}
#define STATUSES(...) \
  expect_statuses((const hpm_sig_status[]){__VA_ARGS__}, sizeof((hpm_sig_status[]){__VA_ARGS__}) / sizeof(hpm_sig_status))

/* Copy of signature entry i (alg, key ID, DER). */
typedef struct {
  uint16_t alg;
  uint8_t key_id[32];
  uint8_t der[HPM_SIG_DER_MAX];
  size_t der_len;
} entry;

static entry get_entry(const uint8_t *buf, size_t len, uint32_t i) {
  entry e;
  const uint8_t *p = buf + tl_entry_off(buf, len, i);
  e.alg = (uint16_t)(p[0] | p[1] << 8);
  e.der_len = (size_t)(p[2] | p[3] << 8);
  memcpy(e.key_id, p + HPM_SIG_ENT_OFF_KEYID, 32);
  memcpy(e.der, p + HPM_SIG_ENT_OFF_DER, HPM_SIG_DER_MAX);
  return e;
}

static void put_entry(uint8_t **buf, size_t *len, const entry *e) {
  tl_append_entry(buf, len, e->alg, e->key_id, e->der, e->der_len);
}

/* ---- small DER helpers (short-form lengths: enough for P-256/P-384) ----- */

static void der_split(const entry *e, const uint8_t **r, size_t *rl, const uint8_t **s, size_t *sl) {
  const uint8_t *d = e->der;
  assert_int_equal(d[0], 0x30);
  assert_int_equal(d[1] + 2u, e->der_len);
  assert_int_equal(d[2], 0x02);
  *rl = d[3];
  *r = d + 4;
  assert_int_equal(d[4 + *rl], 0x02);
  *sl = d[5 + *rl];
  *s = d + 6 + *rl;
}

static size_t der_int(uint8_t *out, const uint8_t *v, size_t n, size_t pad_zeros, bool minimal) {
  size_t o = 0;
  if (minimal) {
    while (n > 1 && v[0] == 0 && !(v[1] & 0x80)) v++, n--;
    if (v[0] & 0x80) pad_zeros++;
  }
  out[o++] = 0x02;
  out[o++] = (uint8_t)(n + pad_zeros);
  for (size_t i = 0; i < pad_zeros; i++) out[o++] = 0;
  memcpy(out + o, v, n);
  return o + n;
}

static entry der_make(const entry *tmpl, const uint8_t *r, size_t rl, size_t rpad, bool rmin,
                      const uint8_t *s, size_t sl, size_t spad, bool smin) {
  entry e = *tmpl;
  uint8_t body[HPM_SIG_DER_MAX * 2];
  size_t n = der_int(body, r, rl, rpad, rmin);
  n += der_int(body + n, s, sl, spad, smin);
  assert_true(n + 2 <= HPM_SIG_DER_MAX && n < 128);
  memset(e.der, 0, sizeof e.der);
  e.der[0] = 0x30;
  e.der[1] = (uint8_t)n;
  memcpy(e.der + 2, body, n);
  e.der_len = n + 2;
  return e;
}

/* The other valid signature for the same bytes: (r, n - s). */
static entry malleate(const entry *e, mbedtls_ecp_group_id gid) {
  const uint8_t *r, *s;
  size_t rl, sl;
  mbedtls_ecp_group g;
  mbedtls_mpi S, NS;
  uint8_t ns[64];
  size_t nl;
  der_split(e, &r, &rl, &s, &sl);
  mbedtls_ecp_group_init(&g);
  mbedtls_mpi_init(&S);
  mbedtls_mpi_init(&NS);
  assert_int_equal(mbedtls_ecp_group_load(&g, gid), 0);
  assert_int_equal(mbedtls_mpi_read_binary(&S, s, sl), 0);
  assert_int_equal(mbedtls_mpi_sub_mpi(&NS, &g.N, &S), 0);
  nl = mbedtls_mpi_size(&NS);
  assert_int_equal(mbedtls_mpi_write_binary(&NS, ns, nl), 0);
  mbedtls_mpi_free(&S);
  mbedtls_mpi_free(&NS);
  mbedtls_ecp_group_free(&g);
  return der_make(e, r, rl, 0, true, ns, nl, 0, true);
}

/* ---- tests -------------------------------------------------------------------- */

static void test_wrong_key(void **state) {
  uint8_t *buf;
  size_t len;
  (void)state;
  signed_baseline(&buf, &len, KEYS(&tl_X));
  assert_result(verify_with(buf, len, KEYS(&tl_A), 1), HPM_E_UNTRUSTED_KEY);
  STATUSES(HPM_SIG_UNKNOWN_KEY);
  assert_int_equal(tl_m->trusted_signers, 0);
  assert_result(verify_with(buf, len, KEYS(&tl_A, &tl_B, &tl_C, &tl_D), 1), HPM_E_UNTRUSTED_KEY);
  /* a P-384 signer not in a P-256 trust set */
  signed_baseline(&buf, &len, KEYS(&tl_D));
  assert_result(verify_with(buf, len, KEYS(&tl_A, &tl_B), 1), HPM_E_UNTRUSTED_KEY);
  /* and the right key does verify both */
  assert_result(verify_with(buf, len, KEYS(&tl_A, &tl_D), 1), HPM_OK);
}

static void test_unknown_signers_are_ignored(void **state) {
  uint8_t *buf;
  size_t len;
  (void)state;
  signed_baseline(&buf, &len, KEYS(&tl_X, &tl_A, &tl_B));
  assert_result(verify_with(buf, len, KEYS(&tl_A), 1), HPM_OK);
  STATUSES(HPM_SIG_UNKNOWN_KEY, HPM_SIG_VALID, HPM_SIG_UNKNOWN_KEY);
  assert_int_equal(tl_m->trusted_signers, 1);
}

static void test_threshold(void **state) {
  uint8_t *buf;
  size_t len;
  (void)state;
  /* 2-of-3 with one signer */
  signed_baseline(&buf, &len, KEYS(&tl_A));
  assert_result(verify_with(buf, len, KEYS(&tl_A, &tl_B, &tl_C), 2), HPM_E_THRESHOLD_NOT_MET);
  assert_int_equal(tl_m->trusted_signers, 1);
  STATUSES(HPM_SIG_VALID);
  /* one trusted signer plus an untrusted one */
  signed_baseline(&buf, &len, KEYS(&tl_X, &tl_B));
  assert_result(verify_with(buf, len, KEYS(&tl_A, &tl_B, &tl_C), 2), HPM_E_THRESHOLD_NOT_MET);
  /* two: enough for 2-of-3, not 3-of-3 */
  signed_baseline(&buf, &len, KEYS(&tl_C, &tl_A));
  assert_result(verify_with(buf, len, KEYS(&tl_A, &tl_B, &tl_C), 2), HPM_OK);
  assert_int_equal(tl_m->trusted_signers, 2);
  STATUSES(HPM_SIG_VALID, HPM_SIG_VALID);
  assert_result(verify_with(buf, len, KEYS(&tl_A, &tl_B, &tl_C), 3), HPM_E_THRESHOLD_NOT_MET);
  /* all three, mixed curves */
  signed_baseline(&buf, &len, KEYS(&tl_A, &tl_D, &tl_B));
  assert_result(verify_with(buf, len, KEYS(&tl_A, &tl_B, &tl_D), 3), HPM_OK);
  assert_int_equal(tl_m->trusted_signers, 3);
  /* nobody trusted: UNTRUSTED_KEY, whatever the threshold */
  signed_baseline(&buf, &len, KEYS(&tl_X));
  assert_result(verify_with(buf, len, KEYS(&tl_A, &tl_B, &tl_C), 2), HPM_E_UNTRUSTED_KEY);
}

static void test_duplicate_signer_counted_once(void **state) {
  uint8_t *buf;
  size_t len;
  entry a, a2;
  (void)state;
  signed_baseline(&buf, &len, KEYS(&tl_A));
  a = get_entry(buf, len, 0);
  /* the same entry twice */
  put_entry(&buf, &len, &a);
  assert_result(verify_with(buf, len, KEYS(&tl_A, &tl_B, &tl_C), 2), HPM_E_THRESHOLD_NOT_MET);
  STATUSES(HPM_SIG_VALID, HPM_SIG_DUPLICATE);
  assert_int_equal(tl_m->trusted_signers, 1);
  assert_result(verify_with(buf, len, KEYS(&tl_A), 1), HPM_OK);
  STATUSES(HPM_SIG_VALID, HPM_SIG_DUPLICATE);

  /* a different, equally valid signature by the same key: (r, n-s) */
  signed_baseline(&buf, &len, KEYS(&tl_A));
  a2 = malleate(&a, MBEDTLS_ECP_DP_SECP256R1);
  assert_memory_not_equal(a2.der, a.der, a.der_len < a2.der_len ? a.der_len : a2.der_len);
  put_entry(&buf, &len, &a2);
  assert_result(verify_with(buf, len, KEYS(&tl_A, &tl_B), 2), HPM_E_THRESHOLD_NOT_MET);
  STATUSES(HPM_SIG_VALID, HPM_SIG_DUPLICATE);
  assert_int_equal(tl_m->trusted_signers, 1);

  /* duplicates do not hide a real second signer */
  tl_sign(&buf, &len, &tl_B);
  assert_result(verify_with(buf, len, KEYS(&tl_A, &tl_B), 2), HPM_OK);
  STATUSES(HPM_SIG_VALID, HPM_SIG_DUPLICATE, HPM_SIG_VALID);
  assert_int_equal(tl_m->trusted_signers, 2);

  /* the same key listed twice in the trust set is still one signer */
  signed_baseline(&buf, &len, KEYS(&tl_A));
  put_entry(&buf, &len, &a);
  assert_result(verify_with(buf, len, KEYS(&tl_A, &tl_A), 2), HPM_E_THRESHOLD_NOT_MET);
  assert_int_equal(tl_m->trusted_signers, 1);
}

/* An entry naming trusted key k whose signature does not verify. */
static entry bad_entry_for(const uint8_t *buf, size_t len, uint32_t from, tl_key *k) {
  entry e = get_entry(buf, len, from);
  memcpy(e.key_id, k->pub.key_id, 32);
  e.alg = (uint16_t)k->pub.alg;
  return e;
}

static void test_bad_trusted_signature_never_outvoted(void **state) {
  uint8_t *buf;
  size_t len;
  entry bad;
  (void)state;
  /* A and B valid, then C's entry carries A's signature: valid DER, wrong key */
  signed_baseline(&buf, &len, KEYS(&tl_A, &tl_B));
  bad = bad_entry_for(buf, len, 0, &tl_C);
  put_entry(&buf, &len, &bad);
  assert_result(verify_with(buf, len, KEYS(&tl_A, &tl_B, &tl_C), 1), HPM_E_SIGNATURE_INVALID);
  STATUSES(HPM_SIG_VALID, HPM_SIG_VALID, HPM_SIG_INVALID);
  assert_string_equal(tl_diag.field, "signatures/2");
  assert_result(verify_with(buf, len, KEYS(&tl_A, &tl_B, &tl_C), 2), HPM_E_SIGNATURE_INVALID);
  /* if C is not trusted, the entry is just an unknown key */
  assert_result(verify_with(buf, len, KEYS(&tl_A, &tl_B), 2), HPM_OK);
  STATUSES(HPM_SIG_VALID, HPM_SIG_VALID, HPM_SIG_UNKNOWN_KEY);

  /* the bad one first: bad(C), A, B */
  {
    entry good;
    signed_baseline(&buf, &len, KEYS(&tl_A));
    good = get_entry(buf, len, 0);
    bad = bad_entry_for(buf, len, 0, &tl_C);
    signed_baseline(&buf, &len, NULL, 0);
    put_entry(&buf, &len, &bad);
    put_entry(&buf, &len, &good);
    tl_sign(&buf, &len, &tl_B);
    assert_result(verify_with(buf, len, KEYS(&tl_A, &tl_B, &tl_C), 1), HPM_E_SIGNATURE_INVALID);
    STATUSES(HPM_SIG_INVALID, HPM_SIG_VALID, HPM_SIG_VALID);
    assert_string_equal(tl_diag.field, "signatures/0");
  }

  /* a valid signature by A followed by a corrupted one by A */
  signed_baseline(&buf, &len, KEYS(&tl_A));
  bad = get_entry(buf, len, 0);
  bad.der[bad.der_len - 1] ^= 0x01;
  put_entry(&buf, &len, &bad);
  assert_result(verify_with(buf, len, KEYS(&tl_A), 1), HPM_E_SIGNATURE_INVALID);
  STATUSES(HPM_SIG_VALID, HPM_SIG_INVALID);

  /* a signature over other bytes (another container), by a trusted key */
  {
    uint8_t *other;
    size_t olen;
    hpmw_payload pl = {"kernel", HPM_PAYLOAD_KERNEL, tl_kernel, sizeof tl_kernel - 1, NULL};
    hpmw_manifest m = {.kind = HPM_KIND_BASELINE, .compat = "hpm-x86_64", .version = "2024.06.1",
                       .svn = 7, .timestamp = 1700000000, .release = HPM_RELEASE_PLANNED,
                       .payloads = &pl, .payload_count = 1};
    entry foreign;
    tl_build(&m, &tl_A, &other, &olen);
    foreign = get_entry(other, olen, 0);
    signed_baseline(&buf, &len, KEYS(&tl_B));
    put_entry(&buf, &len, &foreign);
    assert_result(verify_with(buf, len, KEYS(&tl_A, &tl_B), 1), HPM_E_SIGNATURE_INVALID);
  }
}

static void test_alg_key_mismatch(void **state) {
  uint8_t *buf;
  size_t len;
  size_t off;
  (void)state;
  /* P-256 key, entry says P-384 */
  signed_baseline(&buf, &len, KEYS(&tl_A));
  off = tl_entry_off(buf, len, 0);
  assert_int_equal(buf[off], HPM_ALG_ECDSA_P256_SHA256);
  buf[off] = HPM_ALG_ECDSA_P384_SHA384;
  assert_result(verify_with(buf, len, KEYS(&tl_A), 1), HPM_E_SIGNATURE_INVALID);
  STATUSES(HPM_SIG_INVALID);
  assert_int_equal(tl_m->signatures[0].alg, HPM_ALG_ECDSA_P384_SHA384);
  /* ... never outvoted by a good signature either */
  tl_sign(&buf, &len, &tl_B);
  assert_result(verify_with(buf, len, KEYS(&tl_A, &tl_B), 1), HPM_E_SIGNATURE_INVALID);
  /* P-384 key, entry says P-256 */
  signed_baseline(&buf, &len, KEYS(&tl_D));
  off = tl_entry_off(buf, len, 0);
  assert_int_equal(buf[off], HPM_ALG_ECDSA_P384_SHA384);
  buf[off] = HPM_ALG_ECDSA_P256_SHA256;
  assert_result(verify_with(buf, len, KEYS(&tl_D), 1), HPM_E_SIGNATURE_INVALID);
  /* unknown algorithms are a malformed block, whoever the key */
  buf[off] = 3;
  assert_result(verify_with(buf, len, KEYS(&tl_D), 1), HPM_E_BAD_SIGNATURE_BLOCK);
  buf[off] = 0;
  assert_result(verify_with(buf, len, KEYS(&tl_D), 1), HPM_E_BAD_SIGNATURE_BLOCK);
  buf[off] = HPM_ALG_ECDSA_P384_SHA384;
  buf[off + 1] = 1; /* 0x0102 */
  assert_result(verify_with(buf, len, KEYS(&tl_D), 1), HPM_E_BAD_SIGNATURE_BLOCK);
}

static void test_no_signature(void **state) {
  uint8_t *buf;
  size_t len;
  (void)state;
  signed_baseline(&buf, &len, NULL, 0);
  assert_result(verify_with(buf, len, KEYS(&tl_A), 1), HPM_E_NO_SIGNATURE);
  assert_result(verify_with(buf, len, KEYS(&tl_A, &tl_B), 2), HPM_E_NO_SIGNATURE);
  /* display only: parsed, nothing checked */
  assert_result(hpm_container_parse_unverified(buf, len, tl_m, &tl_diag), HPM_OK);
  assert_int_equal(tl_m->signature_count, 0);
  assert_int_equal(tl_m->trusted_signers, 0);
}

/* Signature values out of range, and DER that is not the minimal encoding. */
static void test_signature_encodings(void **state) {
  static const uint8_t zero[1] = {0}, one[1] = {1};
  uint8_t *buf, *base;
  size_t len, base_len;
  entry a, e;
  const uint8_t *r, *s;
  size_t rl, sl;
  (void)state;
  signed_baseline(&base, &base_len, KEYS(&tl_A));
  a = get_entry(base, base_len, 0);
  der_split(&a, &r, &rl, &s, &sl);

#define TRY(ent, want)                                         \
  do {                                                         \
    signed_baseline(&buf, &len, NULL, 0);                      \
    put_entry(&buf, &len, &(ent));                             \
    assert_result(verify_with(buf, len, KEYS(&tl_A), 1), want); \
  } while (0)

  /* re-encoded minimal DER is the same signature */
  e = der_make(&a, r, rl, 0, true, s, sl, 0, true);
  assert_int_equal(e.der_len, a.der_len);
  TRY(e, HPM_OK);
  /* r = 0, s = 0, r = 1 */
  e = der_make(&a, zero, 1, 0, false, s, sl, 0, true);
  TRY(e, HPM_E_SIGNATURE_INVALID);
  e = der_make(&a, r, rl, 0, true, zero, 1, 0, false);
  TRY(e, HPM_E_SIGNATURE_INVALID);
  e = der_make(&a, one, 1, 0, false, s, sl, 0, true);
  TRY(e, HPM_E_SIGNATURE_INVALID);
  /* trailing bytes after the SEQUENCE inside der_len */
  e = a;
  e.der[e.der_len] = 0;
  e.der_len++;
  TRY(e, HPM_E_BAD_SIGNATURE_BLOCK);
  /* SEQUENCE length one short / long; not a SEQUENCE; an INTEGER tag wrong */
  e = a;
  e.der[1]--;
  TRY(e, HPM_E_BAD_SIGNATURE_BLOCK);
  e = a;
  e.der[1]++;
  TRY(e, HPM_E_BAD_SIGNATURE_BLOCK);
  e = a;
  e.der[0] = 0x31;
  TRY(e, HPM_E_BAD_SIGNATURE_BLOCK);
  e = a;
  e.der[2] = 0x03;
  TRY(e, HPM_E_BAD_SIGNATURE_BLOCK);
  /* der_len below 8, above 104 */
  e = a;
  e.der_len = 7;
  memset(e.der + 7, 0, sizeof e.der - 7);
  TRY(e, HPM_E_BAD_SIGNATURE_BLOCK);
#undef TRY
  {
    /* der_len 105 written by hand (tl_append_entry refuses it) */
    size_t off;
    signed_baseline(&buf, &len, KEYS(&tl_A));
    off = tl_entry_off(buf, len, 0);
    buf[off + HPM_SIG_ENT_OFF_LEN] = 105;
    assert_result(verify_with(buf, len, KEYS(&tl_A), 1), HPM_E_BAD_SIGNATURE_BLOCK);
    buf[off + HPM_SIG_ENT_OFF_LEN] = 0xff;
    buf[off + HPM_SIG_ENT_OFF_LEN + 1] = 0xff;
    assert_result(verify_with(buf, len, KEYS(&tl_A), 1), HPM_E_BAD_SIGNATURE_BLOCK);
  }
}

/*
 * The format says the signature is a minimal DER ECDSA-Sig-Value.  BER
 * variants of the same (r, s) are a malformed signature block: otherwise one
 * signature has many byte encodings in the (unsigned) signature block.
 */
static void test_signature_der_strict(void **state) {
  uint8_t *buf, *base;
  size_t len, base_len;
  entry a, e;
  const uint8_t *r, *s;
  size_t rl, sl;
  int negative_done = 0;
  char accepted[2048] = "";
  tl_key *keys[] = {&tl_A, &tl_B, &tl_C, &tl_X};
  (void)state;

#define TRY(key, ent, what)                                                          \
  do {                                                                               \
    signed_baseline(&buf, &len, NULL, 0);                                            \
    put_entry(&buf, &len, &(ent));                                                   \
    hpm_result r_ = verify_with(buf, len, KEYS(key), 1);                             \
    if (r_ != HPM_E_BAD_SIGNATURE_BLOCK)                                             \
      snprintf(accepted + strlen(accepted), sizeof accepted - strlen(accepted),      \
               "key %zu: %s -> %s; ", k, what, hpm_result_to_string(r_));           \
  } while (0)

  for (size_t k = 0; k < 4; k++) {
    signed_baseline(&base, &base_len, &keys[k], 1);
    a = get_entry(base, base_len, 0);
    der_split(&a, &r, &rl, &s, &sl);
    /* a superfluous leading zero byte in r, in s */
    e = der_make(&a, r, rl, 1, true, s, sl, 0, true);
    TRY(keys[k], e, "r with a leading 0x00");
    e = der_make(&a, r, rl, 0, true, s, sl, 1, true);
    TRY(keys[k], e, "s with a leading 0x00");
    /* a positive INTEGER with its top bit set, written without the 0x00
     * that DER requires (read as a negative number in DER) */
    if (rl == 33 && r[0] == 0) {
      e = der_make(&a, r + 1, 32, 0, false, s, sl, 0, true);
      TRY(keys[k], e, "r without its 0x00 sign byte");
      negative_done++;
    }
    if (sl == 33 && s[0] == 0) {
      e = der_make(&a, r, rl, 0, true, s + 1, 32, 0, false);
      TRY(keys[k], e, "s without its 0x00 sign byte");
      negative_done++;
    }
  }
  assert_true(negative_done > 0);
  if (accepted[0]) fail_msg("non-DER signature encodings not refused as malformed: %s", accepted);
#undef TRY
}

/* The container digest is filled in before the signatures are checked, so a
 * refusal can still name the object. */
static void test_digest_on_refusal(void **state) {
  uint8_t *buf, h[32];
  size_t len;
  (void)state;
  signed_baseline(&buf, &len, KEYS(&tl_X));
  tl_sha256(buf, HPM_HEADER_SIZE + tl_get_le32(buf + HPM_HDR_OFF_MANIFEST_SIZE), h);
  assert_result(verify_with(buf, len, KEYS(&tl_A), 1), HPM_E_UNTRUSTED_KEY);
  assert_memory_equal(tl_m->digest, h, 32);
  /* ... but not for what fails before the layout is known */
  assert_result(verify_with(buf, len - 1, KEYS(&tl_A), 1), HPM_E_TRUNCATED);
  assert_true(tl_all_zero(tl_m->digest, 32));
}

static void test_trust_arguments(void **state) {
  uint8_t *buf;
  size_t len;
  hpm_pubkey keys[17];
  hpm_trust t;
  (void)state;
  signed_baseline(&buf, &len, KEYS(&tl_A));
  for (int i = 0; i < 17; i++) keys[i] = tl_A.pub;

  assert_result(hpm_container_verify(buf, len, HPM_KIND_BASELINE, NULL, NULL, tl_m, &tl_diag),
                HPM_E_INVALID_ARGUMENT);
  {
    /* trust sets and kinds: at most 16 keys, 1 <= threshold <= count */
    const struct {
      hpm_trust t;
      hpm_kind kind;
      hpm_result want;
    } cases[] = {
        {{NULL, 1, 1}, HPM_KIND_BASELINE, HPM_E_INVALID_ARGUMENT},
        {{keys, 0, 1}, HPM_KIND_BASELINE, HPM_E_INVALID_ARGUMENT},
        {{keys, 1, 0}, HPM_KIND_BASELINE, HPM_E_INVALID_ARGUMENT},
        {{keys, 1, 2}, HPM_KIND_BASELINE, HPM_E_INVALID_ARGUMENT},
        {{keys, 17, 17}, HPM_KIND_BASELINE, HPM_E_INVALID_ARGUMENT},
        {{keys, 17, 1}, HPM_KIND_BASELINE, HPM_OK},
        {{keys, 1, 1}, HPM_KIND_NONE, HPM_E_INVALID_ARGUMENT},
        {{keys, 1, 1}, (hpm_kind)4, HPM_E_INVALID_ARGUMENT},
        {{keys, 1, 1}, HPM_KIND_BASELINE, HPM_OK},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
      assert_result(hpm_container_verify(buf, len, cases[i].kind, &cases[i].t, NULL, tl_m, &tl_diag),
                    cases[i].want);
  }
  /* a trusted key without a usable algorithm */
  keys[1] = tl_B.pub;
  keys[1].alg = HPM_ALG_NONE;
  t = (hpm_trust){keys, 2, 1};
  assert_result(hpm_container_verify(buf, len, HPM_KIND_BASELINE, &t, NULL, tl_m, &tl_diag),
                HPM_E_BAD_KEY);
  keys[1].alg = (hpm_alg)3;
  assert_result(hpm_container_verify(buf, len, HPM_KIND_BASELINE, &t, NULL, tl_m, &tl_diag),
                HPM_E_BAD_KEY);
  /* NULL buffer, NULL output; a NULL diag is allowed */
  t = (hpm_trust){keys, 1, 1};
  assert_result(hpm_container_verify(NULL, 0, HPM_KIND_BASELINE, &t, NULL, tl_m, &tl_diag),
                HPM_E_INVALID_ARGUMENT);
  assert_result(hpm_container_verify(NULL, 100, HPM_KIND_BASELINE, &t, NULL, tl_m, &tl_diag),
                HPM_E_INVALID_ARGUMENT);
  assert_result(hpm_container_verify(buf, len, HPM_KIND_BASELINE, &t, NULL, NULL, &tl_diag),
                HPM_E_INVALID_ARGUMENT);
  assert_result(hpm_container_verify(buf, len, HPM_KIND_BASELINE, &t, NULL, tl_m, NULL), HPM_OK);
  assert_result(hpm_container_verify(buf, len - 1, HPM_KIND_BASELINE, &t, NULL, tl_m, NULL),
                HPM_E_TRUNCATED);
  assert_result(hpm_container_parse_unverified(NULL, 0, tl_m, &tl_diag), HPM_E_INVALID_ARGUMENT);
  assert_result(hpm_container_parse_unverified(buf, len, NULL, &tl_diag), HPM_E_INVALID_ARGUMENT);
  assert_result(hpm_container_parse_unverified(buf, len, tl_m, NULL), HPM_OK);
}

/* A trusted key that is not a usable point never yields a valid signature. */
static void test_broken_trusted_key(void **state) {
  uint8_t *buf;
  size_t len;
  hpm_pubkey k;
  hpm_trust t = {&k, 1, 1};
  (void)state;
  signed_baseline(&buf, &len, KEYS(&tl_A));
  k = tl_A.pub;
  k.point[10] ^= 0x04; /* off the curve, same key ID */
  assert_true(hpm_container_verify(buf, len, HPM_KIND_BASELINE, &t, NULL, tl_m, &tl_diag) != HPM_OK);
  STATUSES(HPM_SIG_INVALID);
  k = tl_A.pub;
  k.point_len = 64;
  assert_true(hpm_container_verify(buf, len, HPM_KIND_BASELINE, &t, NULL, tl_m, &tl_diag) != HPM_OK);
  k = tl_A.pub;
  k.alg = HPM_ALG_ECDSA_P384_SHA384; /* P-256 point under the P-384 algorithm */
  assert_true(hpm_container_verify(buf, len, HPM_KIND_BASELINE, &t, NULL, tl_m, &tl_diag) != HPM_OK);
  /* a different key that claims A's key ID */
  k = tl_B.pub;
  memcpy(k.key_id, tl_A.pub.key_id, 32);
  assert_result(hpm_container_verify(buf, len, HPM_KIND_BASELINE, &t, NULL, tl_m, &tl_diag),
                HPM_E_SIGNATURE_INVALID);
}

/* 16 signatures is the limit: all distinct and trusted, threshold 16. */
static void test_sixteen_signers(void **state) {
  static tl_key more[12];
  tl_key *all[16] = {&tl_A, &tl_B, &tl_C, &tl_D};
  uint8_t *buf;
  size_t len;
  hpmh_status e;
  entry extra;
  (void)state;
  for (int i = 0; i < 12; i++) {
    char label[32];
    snprintf(label, sizeof label, "hpm unit key %d", i);
    tl_keygen(&more[i], i % 3 ? MBEDTLS_ECP_DP_SECP256R1 : MBEDTLS_ECP_DP_SECP384R1, label);
    all[4 + i] = &more[i];
  }
  signed_baseline(&buf, &len, all, 16);
  assert_result(verify_with(buf, len, all, 16, 16), HPM_OK);
  assert_int_equal(tl_m->trusted_signers, 16);
  assert_int_equal(tl_m->signature_count, 16);
  /* hpmw refuses a 17th; written by hand it is over the limit */
  {
    uint8_t *old = buf;
    assert_int_not_equal(hpmw_sign_container(&buf, &len, &tl_X.pk, &e), 0);
    tl_retrack(old, buf);
  }
  extra = get_entry(buf, len, 0);
  memcpy(extra.key_id, tl_X.pub.key_id, 32);
  put_entry(&buf, &len, &extra);
  assert_result(verify_with(buf, len, all, 16, 1), HPM_E_TOO_LARGE);
  assert_result(hpm_container_parse_unverified(buf, len, tl_m, &tl_diag), HPM_E_TOO_LARGE);
  for (int i = 0; i < 12; i++) tl_keyfree(&more[i]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TL_TEST(test_wrong_key),
      TL_TEST(test_unknown_signers_are_ignored),
      TL_TEST(test_threshold),
      TL_TEST(test_duplicate_signer_counted_once),
      TL_TEST(test_bad_trusted_signature_never_outvoted),
      TL_TEST(test_alg_key_mismatch),
      TL_TEST(test_no_signature),
      TL_TEST(test_signature_encodings),
      TL_TEST(test_signature_der_strict),
      TL_TEST(test_digest_on_refusal),
      TL_TEST(test_trust_arguments),
      TL_TEST(test_broken_trusted_key),
      TL_TEST(test_sixteen_signers),
  };
  return TL_RUN(tests);
}
