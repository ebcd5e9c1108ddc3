/* SPDX-License-Identifier: MIT */
/*
 * hpmw: host-only container writer and signer, shared by hpm-sign and the
 * tests; never linked into hpm.  Builds exactly the layout of docs/format.md; verification stays in
 * core/ (one implementation of the rules).
 */
#ifndef HPMW_H
#define HPMW_H

#include <stddef.h>
#include <stdint.h>

#include <mbedtls/pk.h>

#include "hpm/core.h"
#include "fileio.h"
#include "keys.h"
#include "status.h"

typedef struct {
  const char *name;          /* node name: [a-z0-9][a-z0-9._-]*, <= 31 */
  hpm_payload_type type;
  const uint8_t *data;       /* the bytes (hashed; copied when embedded) */
  size_t size;
  const char *file;          /* non-NULL: detached, stored beside as this file name */
} hpmw_payload;

typedef struct {
  hpm_kind kind;
  const char *compat;
  const char *version;
  uint32_t svn;
  uint64_t timestamp;
  hpm_release release;                 /* baseline */
  hpm_classification classification;   /* hotpatch */
  const char *id;                      /* hotpatch */
  uint8_t target_baseline[HPM_DIGEST_LEN]; /* hotpatch */
  uint32_t sequence;                   /* hotpatch */
  const hpmw_payload *payloads;
  size_t payload_count;
  /* hotpatch: the kernel its livepatch payload (at most one) is for; the
   * fields present and payload are not used */
  const hpm_kernel_part *kernel;
} hpmw_manifest;

/* Build the manifest FDT for m.  *fdt is malloc'd. */
int hpmw_manifest_fdt(const hpmw_manifest *m, uint8_t **fdt, size_t *fdt_len, hpmh_status *e);

/* Assemble header || fdt || payload area || empty signature block.
 * *out is malloc'd. */
int hpmw_assemble(hpm_kind kind, const uint8_t *fdt, size_t fdt_len, const uint8_t *area,
                  size_t area_len, uint8_t **out, size_t *out_len, hpmh_status *e);

/* hpmw_manifest_fdt + hpmw_assemble, embedding every payload without a file. */
int hpmw_build(const hpmw_manifest *m, uint8_t **out, size_t *out_len, hpmh_status *e);

/* Append one signature entry (the block's count is updated; *buf realloc'd).
 * Refuses a 17th signature and a second one by the same key. */
int hpmw_add_signature(uint8_t **buf, size_t *len, hpm_alg alg,
                       const uint8_t key_id[HPM_DIGEST_LEN], const uint8_t *der,
                       size_t der_len, hpmh_status *e);

/* Keys.  Private keys: PEM or DER (SEC1 or PKCS#8), P-256 or P-384. */
int hpmw_load_private(const char *path, mbedtls_pk_context *pk, hpmh_status *e);

/* Generate a fresh key on the curve of alg (P-256 or P-384); pk must be
 * freshly initialised.  Randomness: mbedTLS entropy (getrandom/urandom). */
int hpmw_generate_key(hpm_alg alg, mbedtls_pk_context *pk, hpmh_status *e);

/* PEM of the private key (SEC1 "EC PRIVATE KEY") or, with private_key 0, of
 * the public key (SubjectPublicKeyInfo).  buf gets a NUL-terminated string;
 * *len excludes the NUL.  Callers should wipe buf after use. */
int hpmw_key_pem(mbedtls_pk_context *pk, int private_key, char *buf, size_t cap, size_t *len,
                 hpmh_status *e);

/* Deterministic (RFC 6979) ECDSA over msg; the hash follows the key's curve.
 * der must hold MBEDTLS_ECDSA_MAX_LEN bytes (*der_len is output only). */
int hpmw_sign(mbedtls_pk_context *pk, const uint8_t *msg, size_t msg_len, uint8_t *der,
              size_t *der_len, hpm_alg *alg, uint8_t key_id[HPM_DIGEST_LEN], hpmh_status *e);

/* Sign the container in *buf with pk and append the signature. */
int hpmw_sign_container(uint8_t **buf, size_t *len, mbedtls_pk_context *pk, hpmh_status *e);



#endif
