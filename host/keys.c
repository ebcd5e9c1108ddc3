/* SPDX-License-Identifier: MIT */
/* Public keys for the trust store and the signer: see keys.h. */
#include "keys.h"

#include <mbedtls/error.h>

const char *hpmh_mbedtls_text(int rc, char *buf, size_t cap) {
  mbedtls_strerror(rc, buf, cap);
  return buf;
}

int hpmh_public_of(mbedtls_pk_context *pk, hpm_pubkey *out, hpmh_status *e) {
  uint8_t der[256];
  int n = mbedtls_pk_write_pubkey_der(pk, der, sizeof der);
  char eb[128];
  if (n < 0) return hpmh_fail(e, HPMH_E_INVALID, NULL, "cannot encode the public key: %s", hpmh_mbedtls_text(n, eb, sizeof eb));
  /* mbedtls writes at the end of the buffer. */
  if (hpm_pubkey_from_spki(der + sizeof der - (size_t)n, (size_t)n, out) != HPM_OK)
    return hpmh_fail(e, HPMH_E_INVALID, NULL, "the key is not an uncompressed ECDSA P-256 or P-384 key");
  return 0;
}

int hpmh_check_curve(mbedtls_pk_context *pk, const char *path, hpmh_status *e) {
  if (mbedtls_pk_get_type(pk) != MBEDTLS_PK_ECKEY)
    return hpmh_fail(e, HPMH_E_INVALID, path, "%s: not an EC key (hpm uses ECDSA P-256 or P-384)", path);
  mbedtls_ecp_group_id g = mbedtls_pk_ec(*pk)->grp.id;
  if (g != MBEDTLS_ECP_DP_SECP256R1 && g != MBEDTLS_ECP_DP_SECP384R1)
    return hpmh_fail(e, HPMH_E_INVALID, path, "%s: unsupported curve (use P-256 or P-384)", path);
  return 0;
}

int hpmh_load_public(const char *path, hpm_pubkey *out, hpmh_status *e) {
  mbedtls_pk_context pk;
  char eb[128];
  int rc;
  mbedtls_pk_init(&pk);
  rc = mbedtls_pk_parse_public_keyfile(&pk, path);
  if (rc) {
    /* A private key file also carries the public key. */
    mbedtls_pk_free(&pk);
    mbedtls_pk_init(&pk);
    if (mbedtls_pk_parse_keyfile(&pk, path, NULL) != 0) {
      mbedtls_pk_free(&pk);
      return hpmh_fail(e, HPMH_E_INVALID, path, "%s: not a public key hpm can read (mbedTLS: %s)", path, hpmh_mbedtls_text(rc, eb, sizeof eb));
    }
  }
  rc = hpmh_check_curve(&pk, path, e);
  if (!rc && hpmh_public_of(&pk, out, NULL))
    rc = hpmh_fail(e, HPMH_E_INVALID, path, "%s: not an uncompressed ECDSA P-256 or P-384 public key", path);
  mbedtls_pk_free(&pk);
  return rc;
}
