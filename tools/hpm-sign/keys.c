/* SPDX-License-Identifier: MIT */
/* hpm-sign: private keys, public keys and the --trust set. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "hpm-sign.h"

static int check_readable(const char *cmd, const char *path, const char *what) {
  struct stat st;
  if (stat(path, &st) != 0) {
    msg(cmd, "%s: cannot read the %s: %s", path, what, strerror(errno));
    return EXIT_IOERR;
  }
  if (!S_ISREG(st.st_mode)) {
    msg(cmd, "%s: the %s is not a regular file", path, what);
    return EXIT_IOERR;
  }
  return 0;
}

void signing_key_init(signing_key *k) {
  mbedtls_pk_init(&k->pk);
  k->p11 = NULL;
}

void signing_key_free(signing_key *k) {
  mbedtls_pk_free(&k->pk);
  p11_free(k->p11);
  k->p11 = NULL;
}

int load_private_key(const char *cmd, const char *spec, signing_key *k) {
  hpmh_status e;
  int rc;
  if (p11_is_uri(spec)) return p11_load(cmd, spec, &k->p11, &k->pub);
  rc = check_readable(cmd, spec, "private key");
  if (rc) return rc;
  if (hpmw_load_private(spec, &k->pk, &e) || hpmh_public_of(&k->pk, &k->pub, &e)) {
    msg(cmd, "%s; --key needs an unencrypted PEM or DER EC private key on P-256 or P-384 "
             "(hpm-sign keygen makes one), or a pkcs11: URI of a key in a token", e.detail);
    return EXIT_IOERR;
  }
  return 0;
}

int sign_container(signing_key *k, uint8_t **buf, size_t *len, hpmh_status *e) {
  uint8_t der[HPM_SIG_DER_MAX + 64];
  size_t tbs_len, sig_off, der_len = sizeof der;
  hpm_diag d;
  if (!k->p11) return hpmw_sign_container(buf, len, &k->pk, e);
  if (hpm_container_layout(*buf, *len, &tbs_len, &sig_off, &d) != HPM_OK)
    return hpmh_fail(e, HPMH_E_INVALID, NULL, "not a valid container (%s: %s)", d.field, d.detail);
  if (p11_sign(k->p11, &k->pub, *buf, tbs_len, der, &der_len, e)) return -1;
  /* The same check hpmw_sign makes: never emit what core would refuse. */
  if (hpm_signature_check(&k->pub, *buf, tbs_len, der, der_len) != HPM_OK)
    return hpmh_fail(e, HPMH_E_INVALID, NULL,
                     "the token's signature does not verify with the key's public key (not a minimal DER ECDSA "
                     "signature over the TBS)");
  return hpmw_add_signature(buf, len, k->pub.alg, k->pub.key_id, der, der_len, e);
}

void signers_init(signer_set *s) {
  for (size_t i = 0; i < HPM_MAX_SIGNATURES; i++) signing_key_init(&s->k[i]);
  s->n = 0;
}

void signers_free(signer_set *s) {
  for (size_t i = 0; i < HPM_MAX_SIGNATURES; i++) signing_key_free(&s->k[i]);
  s->n = 0;
}

int signers_load(const char *cmd, signer_set *s, const opt_list *specs) {
  char hex[HEX_DIGEST];
  for (size_t i = 0; i < specs->n && i < HPM_MAX_SIGNATURES; i++) {
    int rc = load_private_key(cmd, specs->v[i], &s->k[i]);
    if (rc) return rc;
    s->pubs[i] = s->k[i].pub;
    s->n = i + 1;
    for (size_t j = 0; j < i; j++)
      if (!memcmp(s->pubs[j].key_id, s->pubs[i].key_id, HPM_DIGEST_LEN))
        return usage_error(cmd, "--key %s and --key %s are the same key (%s); a second signature by one key "
                                "does not count towards a threshold: give each key once",
                           specs->v[j], specs->v[i], hex32(s->pubs[i].key_id, hex));
  }
  return 0;
}

int signers_sign(signer_set *s, uint8_t **buf, size_t *len, hpmh_status *e) {
  for (size_t i = 0; i < s->n; i++)
    if (sign_container(&s->k[i], buf, len, e)) return -1;
  return 0;
}

hpm_trust signers_trust(const signer_set *s) {
  hpm_trust t = {.keys = s->pubs, .count = s->n, .threshold = (unsigned)s->n};
  return t;
}

int load_public_key(const char *cmd, const char *path, hpm_pubkey *pub) {
  hpmh_status e;
  int rc = check_readable(cmd, path, "public key");
  if (rc) return rc;
  if (hpmh_load_public(path, pub, &e)) {
    msg(cmd, "%s; expected a PEM or DER SubjectPublicKeyInfo of a P-256 or P-384 key "
             "(e.g. the .pub file written by hpm-sign keygen)", e.detail);
    return EXIT_IOERR;
  }
  return 0;
}

/* Index of the key with this ID, or -1. */
static int trust_find(const trust_set *t, const uint8_t key_id[HPM_DIGEST_LEN]) {
  for (size_t i = 0; i < t->count; i++)
    if (memcmp(t->keys[i].key_id, key_id, HPM_DIGEST_LEN) == 0) return (int)i;
  return -1;
}

/* Add the key in path (a duplicate is dropped with a note). */
static int trust_add(const char *cmd, trust_set *t, const char *path) {
  hpm_pubkey k;
  int rc, dup;
  if (t->count == HPM_MAX_SIGNATURES)
    return usage_error(cmd, "at most %u --trust keys", HPM_MAX_SIGNATURES);
  rc = load_public_key(cmd, path, &k);
  if (rc) return rc;
  dup = trust_find(t, k.key_id);
  if (dup >= 0) {
    msg(cmd, "note: --trust %s is the same key as --trust %s; it counts once", path, t->paths[dup]);
    return 0;
  }
  t->keys[t->count] = k;
  t->paths[t->count] = path;
  t->count++;
  return 0;
}

int trust_load(const char *cmd, trust_set *t, const opt_list *paths, const char *threshold_s,
               unsigned *threshold) {
  uint32_t th = 1;
  int rc;
  if (threshold_s && (hpmh_parse_u32(threshold_s, &th) || th == 0))
    return usage_error(cmd, "--threshold '%s': expected a number of signers, at least 1", threshold_s);
  for (size_t i = 0; i < paths->n; i++) {
    rc = trust_add(cmd, t, paths->v[i]);
    if (rc) return rc;
  }
  if (paths->n && th > t->count)
    return usage_error(cmd, "--threshold %u is more than the %zu distinct --trust key(s) given", th, t->count);
  *threshold = th;
  return 0;
}

hpm_trust trust_of(const trust_set *t, unsigned threshold) {
  hpm_trust trust = {.keys = t->keys, .count = t->count, .threshold = threshold};
  return trust;
}
