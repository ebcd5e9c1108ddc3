/* SPDX-License-Identifier: MIT */
/* Hashes, public keys and ECDSA verification on top of mbedTLS. */
#include <mbedtls/ecdsa.h>
#include <mbedtls/sha512.h>

#include "internal.h"

/* DER SubjectPublicKeyInfo = fixed prefix || uncompressed point.  The
 * prefixes name id-ecPublicKey and the curve; nothing else is accepted, so
 * no general ASN.1 parser is needed on the boot path. */
static const uint8_t spki_p256_prefix[] = {
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
    0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00};
static const uint8_t spki_p384_prefix[] = {
    0x30, 0x76, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02,
    0x01, 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22, 0x03, 0x62, 0x00};

#define P256_POINT_LEN 65u
#define P384_POINT_LEN 97u
#define SPKI_MAX (sizeof spki_p384_prefix + P384_POINT_LEN)

hpm_result hpm_sha256(const uint8_t *data, size_t len, uint8_t out[HPM_DIGEST_LEN]) {
  /* Payloads are hundreds of MiB: the seam picks the fastest
   * implementation each side has (docs/format.md, "Verification"). */
  if (!out || (!data && len)) return HPM_E_INVALID_ARGUMENT;
  return hpm_sys_sha256(data, len, out) == 0 ? HPM_OK : HPM_E_CRYPTO;
}

hpm_result hpm_sha384(const uint8_t *data, size_t len, uint8_t out[48]) {
  mbedtls_sha512_context c;
  uint8_t full[64]; /* the API writes 64 bytes even for SHA-384 */
  int rc;
  mbedtls_sha512_init(&c);
  rc = mbedtls_sha512_starts_ret(&c, 1);
  if (!rc) rc = mbedtls_sha512_update_ret(&c, data, len);
  if (!rc) rc = mbedtls_sha512_finish_ret(&c, full);
  mbedtls_sha512_free(&c);
  if (!rc) memcpy(out, full, 48);
  return rc ? HPM_E_CRYPTO : HPM_OK;
}

static size_t point_len(hpm_alg alg) {
  switch (alg) {
    case HPM_ALG_ECDSA_P256_SHA256: return P256_POINT_LEN;
    case HPM_ALG_ECDSA_P384_SHA384: return P384_POINT_LEN;
    case HPM_ALG_NONE: break;
  }
  return 0;
}

static mbedtls_ecp_group_id curve_of(hpm_alg alg) {
  return alg == HPM_ALG_ECDSA_P256_SHA256   ? MBEDTLS_ECP_DP_SECP256R1
         : alg == HPM_ALG_ECDSA_P384_SHA384 ? MBEDTLS_ECP_DP_SECP384R1
                                            : MBEDTLS_ECP_DP_NONE;
}

/* Load key into an mbedTLS context and check the point is on the curve. */
static hpm_result load_key(const hpm_pubkey *key, mbedtls_ecdsa_context *ctx) {
  mbedtls_ecp_group_id gid = curve_of(key->alg);
  if (gid == MBEDTLS_ECP_DP_NONE || key->point_len != point_len(key->alg))
    return HPM_E_BAD_KEY;
  if (mbedtls_ecp_group_load(&ctx->grp, gid)) return HPM_E_CRYPTO;
  if (mbedtls_ecp_point_read_binary(&ctx->grp, &ctx->Q, key->point, key->point_len))
    return HPM_E_BAD_KEY;
  if (mbedtls_ecp_check_pubkey(&ctx->grp, &ctx->Q)) return HPM_E_BAD_KEY;
  return HPM_OK;
}

hpm_result hpm_pubkey_to_spki(const hpm_pubkey *key, uint8_t *der, size_t *len) {
  const uint8_t *prefix;
  size_t plen;
  if (!key || !der || !len) return HPM_E_INVALID_ARGUMENT;
  if (key->alg == HPM_ALG_ECDSA_P256_SHA256) {
    prefix = spki_p256_prefix;
    plen = sizeof spki_p256_prefix;
  } else if (key->alg == HPM_ALG_ECDSA_P384_SHA384) {
    prefix = spki_p384_prefix;
    plen = sizeof spki_p384_prefix;
  } else {
    return HPM_E_BAD_KEY;
  }
  if (key->point_len != point_len(key->alg)) return HPM_E_BAD_KEY;
  if (*len < plen + key->point_len) return HPM_E_INVALID_ARGUMENT;
  memcpy(der, prefix, plen);
  memcpy(der + plen, key->point, key->point_len);
  *len = plen + key->point_len;
  return HPM_OK;
}

hpm_result hpm_pubkey_from_spki(const uint8_t *der, size_t len, hpm_pubkey *out) {
  hpm_pubkey k;
  mbedtls_ecdsa_context ctx;
  hpm_result r;
  if (!der || !out) return HPM_E_INVALID_ARGUMENT;
  memset(&k, 0, sizeof k);
  if (len == sizeof spki_p256_prefix + P256_POINT_LEN &&
      memcmp(der, spki_p256_prefix, sizeof spki_p256_prefix) == 0) {
    k.alg = HPM_ALG_ECDSA_P256_SHA256;
    k.point_len = P256_POINT_LEN;
    memcpy(k.point, der + sizeof spki_p256_prefix, P256_POINT_LEN);
  } else if (len == sizeof spki_p384_prefix + P384_POINT_LEN &&
             memcmp(der, spki_p384_prefix, sizeof spki_p384_prefix) == 0) {
    k.alg = HPM_ALG_ECDSA_P384_SHA384;
    k.point_len = P384_POINT_LEN;
    memcpy(k.point, der + sizeof spki_p384_prefix, P384_POINT_LEN);
  } else {
    return HPM_E_BAD_KEY;
  }
  mbedtls_ecdsa_init(&ctx);
  r = load_key(&k, &ctx);
  mbedtls_ecdsa_free(&ctx);
  if (r != HPM_OK) return r;
  r = hpm_sha256(der, len, k.key_id);
  if (r != HPM_OK) return r;
  *out = k;
  return HPM_OK;
}

/* One INTEGER of an ECDSA-Sig-Value at *p, as DER requires: short-form
 * length (a value below a P-384 order has at most 49 bytes, so DER never
 * uses the long form here), at least one byte, positive (top bit clear), no
 * leading zero byte but the one a set top bit needs.  Its value bytes in
 * *v, *n. */
static bool der_uint(const uint8_t **p, const uint8_t *end, const uint8_t **v, size_t *n) {
  size_t len;
  if (end - *p < 2 || (*p)[0] != 0x02) return false;
  len = (*p)[1];
  if (len == 0 || len > 0x7f || (size_t)(end - *p - 2) < len) return false;
  *v = *p + 2;
  if ((*v)[0] & 0x80) return false;                           /* negative */
  if (len > 1 && (*v)[0] == 0x00 && !((*v)[1] & 0x80)) return false; /* padded */
  *n = len;
  *p = *v + len;
  return true;
}

bool hpm_sig_der_parse(const uint8_t *der, size_t len, const uint8_t **r, size_t *rn,
                       const uint8_t **s, size_t *sn) {
  const uint8_t *p, *end = der + len;
  /* The content is at most 2 * (2 + 49) bytes, so DER's one length
   * encoding is the short form: long form and indefinite length (0x80) are
   * refused with every other length that is not the exact rest. */
  if (len < 8 || der[0] != 0x30 || (der[1] & 0x80) || der[1] != len - 2) return false;
  p = der + 2;
  return der_uint(&p, end, r, rn) && der_uint(&p, end, s, sn) && p == end;
}

/* 1 <= v < the group order: a value an ECDSA signature can have. */
static bool in_range(const mbedtls_mpi *v, const mbedtls_ecp_group *grp) {
  return mbedtls_mpi_cmp_int(v, 1) >= 0 && mbedtls_mpi_cmp_mpi(v, &grp->N) < 0;
}

hpm_result hpm_signature_check(const hpm_pubkey *key, const uint8_t *msg, size_t msg_len,
                               const uint8_t *der, size_t der_len) {
  uint8_t hash[48];
  size_t hash_len, rn, sn;
  const uint8_t *rb, *sb;
  mbedtls_ecdsa_context ctx;
  mbedtls_mpi r, s;
  hpm_result res;
  if (!key || (!msg && msg_len) || !der) return HPM_E_INVALID_ARGUMENT;
  if (key->alg == HPM_ALG_ECDSA_P256_SHA256) {
    res = hpm_sha256(msg, msg_len, hash);
    hash_len = 32;
  } else if (key->alg == HPM_ALG_ECDSA_P384_SHA384) {
    res = hpm_sha384(msg, msg_len, hash);
    hash_len = 48;
  } else {
    return HPM_E_BAD_KEY;
  }
  if (res != HPM_OK) return res;
  /* Our own DER reader, not mbedtls_ecdsa_read_signature: mbedTLS 2.28
   * accepts BER (long-form and padded lengths, leading zero bytes, a
   * negative integer read as positive), so one signature would have many
   * accepted encodings. */
  if (!hpm_sig_der_parse(der, der_len, &rb, &rn, &sb, &sn)) return HPM_E_SIGNATURE_INVALID;
  mbedtls_ecdsa_init(&ctx);
  mbedtls_mpi_init(&r);
  mbedtls_mpi_init(&s);
  res = load_key(key, &ctx);
  if (res == HPM_OK && (mbedtls_mpi_read_binary(&r, rb, rn) || mbedtls_mpi_read_binary(&s, sb, sn)))
    res = HPM_E_CRYPTO;
  if (res == HPM_OK && !(in_range(&r, &ctx.grp) && in_range(&s, &ctx.grp)))
    res = HPM_E_SIGNATURE_INVALID;
  if (res == HPM_OK && mbedtls_ecdsa_verify(&ctx.grp, hash, hash_len, &ctx.Q, &r, &s))
    res = HPM_E_SIGNATURE_INVALID;
  mbedtls_mpi_free(&r);
  mbedtls_mpi_free(&s);
  mbedtls_ecdsa_free(&ctx);
  return res;
}
