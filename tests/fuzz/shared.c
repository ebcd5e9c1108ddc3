/* SPDX-License-Identifier: MIT */
/* Shared by the fuzz harnesses of core and the seed generator: see shared.h. */
#include "shared.h"

#include <stdio.h>

#include <mbedtls/sha256.h>

/* Private scalars (well below either group order). */
static const uint8_t fz_p256_d[32] = {
    0x1f, 0x3a, 0x5c, 0x7e, 0x91, 0xb2, 0xd4, 0xf6, 0x08, 0x2a, 0x4c, 0x6e, 0x80, 0xa1, 0xc3, 0xe5,
    0x17, 0x39, 0x5b, 0x7d, 0x9f, 0xb0, 0xd2, 0xf4, 0x06, 0x28, 0x4a, 0x6c, 0x8e, 0xaf, 0xc1, 0xe3};
static const uint8_t fz_p384_d[48] = {
    0x2e, 0x4b, 0x68, 0x85, 0xa2, 0xbf, 0xdc, 0xf9, 0x16, 0x33, 0x50, 0x6d, 0x8a, 0xa7, 0xc4, 0xe1,
    0xfe, 0x1b, 0x38, 0x55, 0x72, 0x8f, 0xac, 0xc9, 0xe6, 0x03, 0x20, 0x3d, 0x5a, 0x77, 0x94, 0xb1,
    0xce, 0xeb, 0x08, 0x25, 0x42, 0x5f, 0x7c, 0x99, 0xb6, 0xd3, 0xf0, 0x0d, 0x2a, 0x47, 0x64, 0x81};

int fz_keypair(mbedtls_ecp_group_id gid, mbedtls_ecp_keypair *kp) {
  const uint8_t *d = gid == MBEDTLS_ECP_DP_SECP256R1 ? fz_p256_d : fz_p384_d;
  size_t dl = gid == MBEDTLS_ECP_DP_SECP256R1 ? sizeof fz_p256_d : sizeof fz_p384_d;
  if (mbedtls_ecp_group_load(&kp->grp, gid)) return -1;
  if (mbedtls_mpi_read_binary(&kp->d, d, dl)) return -1;
  if (mbedtls_ecp_check_privkey(&kp->grp, &kp->d)) return -1;
  /* No RNG: blinding is irrelevant for a public test key. */
  if (mbedtls_ecp_mul(&kp->grp, &kp->Q, &kp->d, &kp->grp.G, NULL, NULL)) return -1;
  return 0;
}

int fz_pubkey(mbedtls_ecp_group_id gid, hpm_pubkey *out) {
  mbedtls_ecp_keypair kp;
  hpm_pubkey k;
  uint8_t der[200];
  size_t len = sizeof der;
  int rc = -1;
  memset(&k, 0, sizeof k);
  mbedtls_ecp_keypair_init(&kp);
  if (fz_keypair(gid, &kp) == 0 &&
      mbedtls_ecp_point_write_binary(&kp.grp, &kp.Q, MBEDTLS_ECP_PF_UNCOMPRESSED, &k.point_len,
                                     k.point, sizeof k.point) == 0) {
    k.alg = gid == MBEDTLS_ECP_DP_SECP256R1 ? HPM_ALG_ECDSA_P256_SHA256 : HPM_ALG_ECDSA_P384_SHA384;
    if (hpm_pubkey_to_spki(&k, der, &len) == HPM_OK && hpm_pubkey_from_spki(der, len, out) == HPM_OK)
      rc = 0;
  }
  mbedtls_ecp_keypair_free(&kp);
  return rc;
}

const hpm_trust *fz_trust(const char *who) {
  static hpm_pubkey keys[2];
  static hpm_trust trust = {keys, 2, 1};
  static bool made;
  if (!made) {
    if (fz_pubkey(MBEDTLS_ECP_DP_SECP256R1, &keys[0]) || fz_pubkey(MBEDTLS_ECP_DP_SECP384R1, &keys[1])) {
      fprintf(stderr, "%s: cannot derive the fixed keys\n", who);
      abort();
    }
    made = true;
  }
  return &trust;
}

void fz_fill(uint8_t *p, size_t n, uint8_t seed) {
  for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(seed + i * 7u + (i >> 3));
}

void fz_files_init(fz_files *f) {
  fz_fill(f->initrd, sizeof f->initrd, 0x31);
  fz_fill(f->patch, sizeof f->patch, 0x77);
}

static hpm_result fz_load(void *ctx, const char *file, uint64_t expected_size,
                          const uint8_t **data, size_t *len) {
  fz_files *f = ctx;
  (void)expected_size;
  if (strcmp(file, FZ_FILE_INITRD) == 0) {
    *data = f->initrd;
    *len = sizeof f->initrd;
    return HPM_OK;
  }
  if (strcmp(file, FZ_FILE_PATCH) == 0) {
    *data = f->patch;
    *len = sizeof f->patch;
    return HPM_OK;
  }
  return HPM_E_IO;
}

const hpm_ops *fz_ops(fz_files *f) {
  static hpm_ops ops;
  ops.ctx = f;
  ops.load = fz_load;
  return &ops;
}

static bool fz_str_ok(const char *s, size_t cap) {
  size_t n = strnlen(s, cap);
  return n > 0 && n < cap;
}

void fz_check_manifest(const uint8_t *buf, size_t len, const hpm_manifest *m, bool verified) {
  uint8_t h[32];
  uint64_t embedded = 0, next = 0;
  unsigned kernels = 0, initrds = 0, cmdlines = 0, livepatches = 0;
  size_t tbs = HPM_HEADER_SIZE + (size_t)m->manifest_size;

  FZ_REQUIRE(m->format_version == HPM_FORMAT_VERSION);
  FZ_REQUIRE(m->kind == HPM_KIND_BASELINE || m->kind == HPM_KIND_HOTPATCH);
  FZ_REQUIRE(m->manifest_size >= HPM_MANIFEST_MIN && m->manifest_size <= HPM_MANIFEST_MAX);
  FZ_REQUIRE(m->payload_area_size <= HPM_PAYLOAD_AREA_MAX);
  FZ_REQUIRE(tbs + m->payload_area_size + HPM_SIG_HEADER_SIZE +
                 (uint64_t)m->signature_count * HPM_SIG_ENTRY_SIZE == len);
  FZ_REQUIRE(mbedtls_sha256_ret(buf, tbs, h, 0) == 0 && memcmp(h, m->digest, 32) == 0);
  FZ_REQUIRE(fz_str_ok(m->compat, sizeof m->compat) && fz_str_ok(m->version, sizeof m->version));
  FZ_REQUIRE(m->payload_count <= HPM_MAX_PAYLOADS);
  FZ_REQUIRE(m->signature_count <= HPM_MAX_SIGNATURES);
  if (m->kind == HPM_KIND_BASELINE) {
    FZ_REQUIRE(m->release == HPM_RELEASE_PLANNED || m->release == HPM_RELEASE_UNPLANNED);
    FZ_REQUIRE(m->classification == HPM_CLASS_NONE && m->sequence == 0 && m->id[0] == '\0');
  } else {
    FZ_REQUIRE(m->release == HPM_RELEASE_NONE && m->sequence >= 1 && fz_str_ok(m->id, sizeof m->id));
    FZ_REQUIRE(m->classification >= HPM_CLASS_CRITICAL && m->classification <= HPM_CLASS_OTHER);
  }
  for (size_t i = 0; i < m->payload_count; i++) {
    const hpm_payload *p = &m->payloads[i];
    FZ_REQUIRE(fz_str_ok(p->name, sizeof p->name) && !strchr(p->name, '@'));
    for (size_t j = 0; j < i; j++) FZ_REQUIRE(strcmp(m->payloads[j].name, p->name) != 0);
    FZ_REQUIRE(p->size <= HPM_PAYLOAD_MAX);
    FZ_REQUIRE((p->type == HPM_PAYLOAD_PATCH || p->type == HPM_PAYLOAD_LIVEPATCH) ==
               (m->kind == HPM_KIND_HOTPATCH));
    livepatches += p->type == HPM_PAYLOAD_LIVEPATCH;
    if (p->type == HPM_PAYLOAD_LIVEPATCH) FZ_REQUIRE(m->kernel.present && m->kernel.payload == i);
    kernels += p->type == HPM_PAYLOAD_KERNEL;
    initrds += p->type == HPM_PAYLOAD_INITRD;
    cmdlines += p->type == HPM_PAYLOAD_CMDLINE;
    if (p->embedded) {
      FZ_REQUIRE(p->offset == next && p->file[0] == '\0');
      next += p->size;
      embedded += p->size;
      FZ_REQUIRE(next <= m->payload_area_size);
    } else {
      FZ_REQUIRE(fz_str_ok(p->file, sizeof p->file) && p->file[0] != '.' && !strchr(p->file, '/'));
    }
    if (verified) {
      FZ_REQUIRE(p->data != NULL);
      if (p->embedded) FZ_REQUIRE(p->data == buf + tbs + p->offset);
      FZ_REQUIRE(mbedtls_sha256_ret(p->data, (size_t)p->size, h, 0) == 0);
      FZ_REQUIRE(memcmp(h, p->sha256, 32) == 0);
      if (p->type == HPM_PAYLOAD_CMDLINE)
        for (uint64_t k = 0; k < p->size; k++) FZ_REQUIRE(p->data[k] >= 0x20 && p->data[k] <= 0x7e);
    } else {
      FZ_REQUIRE(p->data == NULL);
    }
  }
  FZ_REQUIRE(embedded == m->payload_area_size);
  if (m->kind == HPM_KIND_BASELINE) FZ_REQUIRE(kernels == 1 && initrds <= 1 && cmdlines <= 1);
  FZ_REQUIRE(livepatches <= 1 && (livepatches == 1) == m->kernel.present);
  if (m->kernel.present)
    FZ_REQUIRE(fz_str_ok(m->kernel.release, sizeof m->kernel.release) &&
               fz_str_ok(m->kernel.module, sizeof m->kernel.module) && m->kernel.build_id_len >= 1 &&
               m->kernel.build_id_len <= HPM_KBUILD_ID_MAX && strlen(m->kernel.vermagic) < sizeof m->kernel.vermagic);
  for (size_t i = 0; i < m->signature_count; i++) {
    const hpm_signature_info *s = &m->signatures[i];
    FZ_REQUIRE(s->alg == HPM_ALG_ECDSA_P256_SHA256 || s->alg == HPM_ALG_ECDSA_P384_SHA384);
    if (verified)
      FZ_REQUIRE(s->status == HPM_SIG_VALID || s->status == HPM_SIG_UNKNOWN_KEY ||
                 s->status == HPM_SIG_DUPLICATE);
    else
      FZ_REQUIRE(s->status == HPM_SIG_NOT_CHECKED);
  }
  if (verified) FZ_REQUIRE(m->trusted_signers >= 1 && m->signature_count >= 1);
}
