/* SPDX-License-Identifier: MIT */
/*
 * hpm_signature_check with a memory, for the fuzzers whose time goes to
 * ECDSA verification (fuzz_container_verify, fuzz_catalog).  mk/fuzz.mk
 * links them with -Wl,--wrap=hpm_signature_check, so core's calls (from
 * container.c) come here.  Each call is identified by the SHA-256 of its
 * whole input (the key's algorithm and point, the message, the DER
 * signature); the first call with an input runs core's real check
 * (__real_hpm_signature_check) and its result is kept, a repeated input
 * (a mutation outside the signed bytes and the signature: the payload area,
 * another signature entry) gets the kept result.  The check is a pure
 * function of those bytes, so every result is the one core computes; only
 * OK and SIGNATURE_INVALID are kept (CRYPTO could be an allocation that
 * failed this time).  Nothing of core is replaced: every distinct input
 * still runs through all of crypto.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/sha256.h>

#include "hpm/core.h"

hpm_result __real_hpm_signature_check(const hpm_pubkey *key, const uint8_t *msg, size_t msg_len,
                                      const uint8_t *der, size_t der_len);
hpm_result __wrap_hpm_signature_check(const hpm_pubkey *key, const uint8_t *msg, size_t msg_len,
                                      const uint8_t *der, size_t der_len);

#define MEMO_SLOTS (1u << 16) /* direct-mapped: a newer input replaces an older one */

typedef struct {
  uint8_t id[32];
  hpm_result r;
  bool used;
} memo_slot;

static memo_slot memo[MEMO_SLOTS];
static unsigned long long checks, remembered;

static void report(void) {
  fprintf(stderr, "sigmemo: %llu signature checks, %llu answered from memory\n", checks, remembered);
}

static void id_of(const hpm_pubkey *key, const uint8_t *msg, size_t msg_len, const uint8_t *der,
                  size_t der_len, uint8_t id[32]) {
  mbedtls_sha256_context c;
  uint8_t lens[2 * sizeof(size_t) + sizeof key->alg];
  memcpy(lens, &msg_len, sizeof msg_len);
  memcpy(lens + sizeof msg_len, &der_len, sizeof der_len);
  memcpy(lens + 2 * sizeof msg_len, &key->alg, sizeof key->alg);
  mbedtls_sha256_init(&c);
  if (mbedtls_sha256_starts_ret(&c, 0) || mbedtls_sha256_update_ret(&c, lens, sizeof lens) ||
      mbedtls_sha256_update_ret(&c, key->point, key->point_len) ||
      mbedtls_sha256_update_ret(&c, msg, msg_len) || mbedtls_sha256_update_ret(&c, der, der_len) ||
      mbedtls_sha256_finish_ret(&c, id))
    abort();
  mbedtls_sha256_free(&c);
}

hpm_result __wrap_hpm_signature_check(const hpm_pubkey *key, const uint8_t *msg, size_t msg_len,
                                      const uint8_t *der, size_t der_len) {
  static bool registered;
  uint8_t id[32];
  memo_slot *s;
  hpm_result r;
  if (!registered) {
    registered = true;
    atexit(report);
  }
  checks++;
  if (!key || (!msg && msg_len) || !der) return __real_hpm_signature_check(key, msg, msg_len, der, der_len);
  id_of(key, msg, msg_len, der, der_len, id);
  s = &memo[(id[0] | (unsigned)id[1] << 8) % MEMO_SLOTS];
  if (s->used && memcmp(s->id, id, sizeof id) == 0) {
    remembered++;
    return s->r;
  }
  r = __real_hpm_signature_check(key, msg, msg_len, der, der_len);
  if (r == HPM_OK || r == HPM_E_SIGNATURE_INVALID) {
    memcpy(s->id, id, sizeof id);
    s->r = r;
    s->used = true;
  }
  return r;
}
