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

int load_private_key(const char *cmd, const char *path, mbedtls_pk_context *pk, hpm_pubkey *pub) {
  hpmh_status e;
  int rc = check_readable(cmd, path, "private key");
  if (rc) return rc;
  if (hpmw_load_private(path, pk, &e) || hpmh_public_of(pk, pub, &e)) {
    msg(cmd, "%s; --key needs an unencrypted PEM or DER EC private key on P-256 or P-384 "
             "(hpm-sign keygen makes one)", e.detail);
    return EXIT_IOERR;
  }
  return 0;
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
