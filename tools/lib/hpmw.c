/* SPDX-License-Identifier: MIT */
#include "hpmw.h"

#include <libfdt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>

#include "hpm/format.h"
#include "hpmw_fdt.h"

/* Little-endian integers of n bytes (docs/format.md). */
static void put_le(uint8_t *p, uint64_t v, unsigned n) {
  for (unsigned i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint64_t get_le(const uint8_t *p, unsigned n) {
  uint64_t v = 0;
  for (unsigned i = n; i-- > 0;) v = v << 8 | p[i];
  return v;
}

/* The frame every manifest shares around what emit adds. */
static int fdt_root(void *fdt, hpm_kind kind, int (*emit)(void *fdt, const void *ctx), const void *ctx) {
  HPMW_FDT_TRY(fdt_finish_reservemap(fdt));
  HPMW_FDT_TRY(fdt_begin_node(fdt, ""));
  HPMW_FDT_TRY(fdt_property_u32(fdt, "hpm,format", HPM_FORMAT_VERSION));
  HPMW_FDT_TRY(fdt_property_string(fdt, "hpm,kind", hpm_kind_to_string(kind)));
  HPMW_FDT_TRY(emit(fdt, ctx));
  HPMW_FDT_TRY(fdt_end_node(fdt));
  return fdt_finish(fdt);
}

int hpmw_fdt_build(hpm_kind kind, int (*emit)(void *fdt, const void *ctx), const void *ctx,
                   size_t max, const char *what, uint8_t **out, size_t *out_len, hpmh_status *e) {
  for (size_t cap = 4096;; cap *= 2) {
    uint8_t *fdt = calloc(1, cap);
    int rc;
    if (!fdt) return HPMW_FAIL(e, "out of memory");
    rc = fdt_create(fdt, (int)cap);
    if (!rc) rc = fdt_root(fdt, kind, emit, ctx);
    if (rc == -FDT_ERR_NOSPACE && cap < max * 2) {
      free(fdt);
      continue;
    }
    if (rc) {
      free(fdt);
      return HPMW_FAIL(e, "building the %s failed: %s", what, fdt_strerror(rc));
    }
    *out_len = fdt_totalsize(fdt);
    if (*out_len > max) {
      free(fdt);
      return HPMW_FAIL(e, "%s would be %zu bytes; the limit is %zu", what, *out_len, max);
    }
    *out = fdt;
    return 0;
  }
}

/* The payload hashes ride along with the manifest being emitted. */
typedef struct {
  const hpmw_manifest *m;
  const uint8_t (*hashes)[HPM_DIGEST_LEN];
} manifest_ctx;

static int fdt_emit(void *fdt, const void *ctx) {
  const hpmw_manifest *m = ((const manifest_ctx *)ctx)->m;
  const uint8_t (*hashes)[HPM_DIGEST_LEN] = ((const manifest_ctx *)ctx)->hashes;
  uint64_t offset = 0;
#define T HPMW_FDT_TRY
  T(fdt_property_string(fdt, "compat", m->compat));
  T(fdt_property_string(fdt, "version", m->version));
  T(fdt_property_u32(fdt, "svn", m->svn));
  T(fdt_property_u64(fdt, "timestamp", m->timestamp));
  if (m->kind == HPM_KIND_BASELINE) {
    T(fdt_property_string(fdt, "release", hpm_release_to_string(m->release)));
  } else if (m->kind == HPM_KIND_HOTPATCH) {
    T(fdt_property_string(fdt, "classification", hpm_classification_to_string(m->classification)));
    T(fdt_property_string(fdt, "id", m->id));
    T(fdt_property(fdt, "target-baseline", m->target_baseline, HPM_DIGEST_LEN));
    T(fdt_property_u32(fdt, "sequence", m->sequence));
  }
  T(fdt_begin_node(fdt, "payloads"));
  for (size_t i = 0; i < m->payload_count; i++) {
    const hpmw_payload *p = &m->payloads[i];
    T(fdt_begin_node(fdt, p->name));
    T(fdt_property_string(fdt, "type", hpm_payload_type_to_string(p->type)));
    T(fdt_property_u64(fdt, "size", p->size));
    T(fdt_property(fdt, "sha256", hashes[i], HPM_DIGEST_LEN));
    if (p->type == HPM_PAYLOAD_LIVEPATCH && m->kernel) {
      T(fdt_property_string(fdt, "kernel-release", m->kernel->release));
      T(fdt_property(fdt, "kernel-build-id", m->kernel->build_id, (int)m->kernel->build_id_len));
      T(fdt_property_string(fdt, "vermagic", m->kernel->vermagic));
      T(fdt_property_string(fdt, "module", m->kernel->module));
    }
    if (p->file) {
      T(fdt_property_string(fdt, "file", p->file));
    } else {
      T(fdt_property_u64(fdt, "offset", offset));
      offset += p->size;
    }
    T(fdt_end_node(fdt));
  }
#undef T
  return fdt_end_node(fdt);
}

int hpmw_manifest_fdt(const hpmw_manifest *m, uint8_t **out, size_t *out_len, hpmh_status *e) {
  uint8_t (*hashes)[HPM_DIGEST_LEN];
  manifest_ctx ctx;
  int rc;

  if (m->payload_count > HPM_MAX_PAYLOADS)
    return HPMW_FAIL(e, "too many payloads (%zu, the limit is %u)", m->payload_count, HPM_MAX_PAYLOADS);
  hashes = calloc(m->payload_count ? m->payload_count : 1, sizeof *hashes);
  if (!hashes) return HPMW_FAIL(e, "out of memory");
  for (size_t i = 0; i < m->payload_count; i++) {
    if (hpm_sha256(m->payloads[i].data, m->payloads[i].size, hashes[i]) != HPM_OK) {
      free(hashes);
      return HPMW_FAIL(e, "hashing payload %s failed", m->payloads[i].name);
    }
  }
  ctx.m = m;
  ctx.hashes = (const uint8_t(*)[HPM_DIGEST_LEN])hashes;
  rc = hpmw_fdt_build(m->kind, fdt_emit, &ctx, HPM_MANIFEST_MAX, "manifest", out, out_len, e);
  free(hashes);
  return rc;
}

int hpmw_assemble(hpm_kind kind, const uint8_t *fdt, size_t fdt_len, const uint8_t *area,
                  size_t area_len, uint8_t **out, size_t *out_len, hpmh_status *e) {
  size_t total = HPM_HEADER_SIZE + fdt_len + area_len + HPM_SIG_HEADER_SIZE;
  uint8_t *b;
  if (fdt_len > UINT32_MAX || area_len > HPM_PAYLOAD_AREA_MAX)
    return HPMW_FAIL(e, "embedded payloads total %zu bytes; the limit is 2 GiB", area_len);
  b = calloc(1, total);
  if (!b) return HPMW_FAIL(e, "out of memory (%zu bytes)", total);
  memcpy(b, HPM_MAGIC, HPM_MAGIC_LEN);
  put_le(b + HPM_HDR_OFF_FORMAT, HPM_FORMAT_VERSION, 4);
  put_le(b + HPM_HDR_OFF_KIND, (uint32_t)kind, 4);
  put_le(b + HPM_HDR_OFF_HEADER_SIZE, HPM_HEADER_SIZE, 4);
  put_le(b + HPM_HDR_OFF_MANIFEST_SIZE, (uint32_t)fdt_len, 4);
  put_le(b + HPM_HDR_OFF_PAYLOAD_SIZE, area_len, 8);
  memcpy(b + HPM_HEADER_SIZE, fdt, fdt_len);
  if (area_len) memcpy(b + HPM_HEADER_SIZE + fdt_len, area, area_len);
  memcpy(b + HPM_HEADER_SIZE + fdt_len + area_len, HPM_SIG_MAGIC, HPM_SIG_MAGIC_LEN);
  *out = b;
  *out_len = total;
  return 0;
}

int hpmw_build(const hpmw_manifest *m, uint8_t **out, size_t *out_len, hpmh_status *e) {
  uint8_t *fdt = NULL, *area = NULL;
  size_t fdt_len = 0, area_len = 0, off = 0;
  int rc;
  for (size_t i = 0; i < m->payload_count; i++)
    if (!m->payloads[i].file) {
      if (m->payloads[i].size > HPM_PAYLOAD_MAX)
        return HPMW_FAIL(e, "payload %s is %zu bytes; the limit is 1 GiB", m->payloads[i].name,
                    m->payloads[i].size);
      area_len += m->payloads[i].size;
    }
  if (area_len > HPM_PAYLOAD_AREA_MAX)
    return HPMW_FAIL(e, "embedded payloads total %zu bytes; the limit is 2 GiB", area_len);
  if (hpmw_manifest_fdt(m, &fdt, &fdt_len, e)) return -1;
  if (area_len) {
    area = malloc(area_len);
    if (!area) {
      free(fdt);
      return HPMW_FAIL(e, "out of memory (%zu bytes)", area_len);
    }
    for (size_t i = 0; i < m->payload_count; i++)
      if (!m->payloads[i].file) {
        memcpy(area + off, m->payloads[i].data, m->payloads[i].size);
        off += m->payloads[i].size;
      }
  }
  rc = hpmw_assemble(m->kind, fdt, fdt_len, area, area_len, out, out_len, e);
  free(fdt);
  free(area);
  return rc;
}

int hpmw_add_signature(uint8_t **buf, size_t *len, hpm_alg alg,
                       const uint8_t key_id[HPM_DIGEST_LEN], const uint8_t *der, size_t der_len,
                       hpmh_status *e) {
  size_t tbs_len, sig_off;
  hpm_diag d;
  uint32_t count;
  uint8_t *nb, *ent;
  char hex[2 * HPM_DIGEST_LEN + 1];

  if (hpm_container_layout(*buf, *len, &tbs_len, &sig_off, &d) != HPM_OK)
    return HPMW_FAIL(e, "not a valid container (%s: %s)", d.field, d.detail);
  if (der_len < 8 || der_len > HPM_SIG_DER_MAX)
    return HPMW_FAIL(e, "signature is %zu bytes; a DER ECDSA signature is 8 to %u bytes", der_len,
                HPM_SIG_DER_MAX);
  count = (uint32_t)get_le(*buf + sig_off + 8, 4);
  if (count >= HPM_MAX_SIGNATURES)
    return HPMW_FAIL(e, "the container already has %u signatures (the limit)", count);
  for (uint32_t i = 0; i < count; i++) {
    const uint8_t *x = *buf + sig_off + HPM_SIG_HEADER_SIZE + (size_t)i * HPM_SIG_ENTRY_SIZE;
    if (memcmp(x + HPM_SIG_ENT_OFF_KEYID, key_id, HPM_DIGEST_LEN) == 0) {
      hpm_fmt_hex(key_id, HPM_DIGEST_LEN, hex, sizeof hex);
      return HPMW_FAIL(e, "the container is already signed by key %s", hex);
    }
  }
  nb = realloc(*buf, *len + HPM_SIG_ENTRY_SIZE);
  if (!nb) return HPMW_FAIL(e, "out of memory");
  ent = nb + *len;
  memset(ent, 0, HPM_SIG_ENTRY_SIZE);
  put_le(ent + HPM_SIG_ENT_OFF_ALG, (uint16_t)alg, 2);
  put_le(ent + HPM_SIG_ENT_OFF_LEN, (uint16_t)der_len, 2);
  memcpy(ent + HPM_SIG_ENT_OFF_KEYID, key_id, HPM_DIGEST_LEN);
  memcpy(ent + HPM_SIG_ENT_OFF_DER, der, der_len);
  put_le(nb + sig_off + 8, count + 1, 4);
  *buf = nb;
  *len += HPM_SIG_ENTRY_SIZE;
  return 0;
}

int hpmw_load_private(const char *path, mbedtls_pk_context *pk, hpmh_status *e) {
  char eb[128];
  int rc = mbedtls_pk_parse_keyfile(pk, path, NULL);
  if (rc)
    return HPMW_FAIL(e, "%s: not a private key hpm-sign can read (mbedTLS: %s)", path, hpmh_mbedtls_text(rc, eb, sizeof eb));
  return hpmh_check_curve(pk, path, e);
}

int hpmw_generate_key(hpm_alg alg, mbedtls_pk_context *pk, hpmh_status *e) {
  mbedtls_entropy_context ent;
  mbedtls_ctr_drbg_context drbg;
  mbedtls_ecp_group_id gid = alg == HPM_ALG_ECDSA_P256_SHA256   ? MBEDTLS_ECP_DP_SECP256R1
                             : alg == HPM_ALG_ECDSA_P384_SHA384 ? MBEDTLS_ECP_DP_SECP384R1
                                                                : MBEDTLS_ECP_DP_NONE;
  char eb[128];
  int rc;
  if (gid == MBEDTLS_ECP_DP_NONE) return HPMW_FAIL(e, "unsupported algorithm (use P-256 or P-384)");
  rc = mbedtls_pk_setup(pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
  if (rc) return HPMW_FAIL(e, "cannot set up the key: %s", hpmh_mbedtls_text(rc, eb, sizeof eb));
  mbedtls_entropy_init(&ent);
  mbedtls_ctr_drbg_init(&drbg);
  rc = mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &ent,
                             (const unsigned char *)"hpm-sign keygen", 15);
  if (!rc) rc = mbedtls_ecp_gen_key(gid, mbedtls_pk_ec(*pk), mbedtls_ctr_drbg_random, &drbg);
  mbedtls_ctr_drbg_free(&drbg);
  mbedtls_entropy_free(&ent);
  if (rc) return HPMW_FAIL(e, "key generation failed: %s", hpmh_mbedtls_text(rc, eb, sizeof eb));
  return 0;
}

int hpmw_key_pem(mbedtls_pk_context *pk, int private_key, char *buf, size_t cap, size_t *len,
                 hpmh_status *e) {
  char eb[128];
  int rc;
  if (!cap) return HPMW_FAIL(e, "no room for the PEM encoding");
  rc = private_key ? mbedtls_pk_write_key_pem(pk, (unsigned char *)buf, cap)
                   : mbedtls_pk_write_pubkey_pem(pk, (unsigned char *)buf, cap);
  if (rc) return HPMW_FAIL(e, "cannot encode the %s key as PEM: %s", private_key ? "private" : "public",
                      hpmh_mbedtls_text(rc, eb, sizeof eb));
  *len = strnlen(buf, cap);
  if (*len == cap) return HPMW_FAIL(e, "PEM encoding is not terminated");
  return 0;
}

int hpmw_sign(mbedtls_pk_context *pk, const uint8_t *msg, size_t msg_len, uint8_t *der,
              size_t *der_len, hpm_alg *alg, uint8_t key_id[HPM_DIGEST_LEN], hpmh_status *e) {
  mbedtls_entropy_context ent;
  mbedtls_ctr_drbg_context drbg;
  hpm_pubkey pub;
  uint8_t hash[64];
  size_t hlen;
  mbedtls_md_type_t md;
  char eb[128];
  int rc;

  if (hpmh_check_curve(pk, "key", e) || hpmh_public_of(pk, &pub, e)) return -1;
  if (pub.alg == HPM_ALG_ECDSA_P256_SHA256) {
    md = MBEDTLS_MD_SHA256;
    hlen = 32;
    if (hpm_sha256(msg, msg_len, hash) != HPM_OK) return HPMW_FAIL(e, "hashing failed");
  } else {
    md = MBEDTLS_MD_SHA384;
    hlen = 48;
    if (mbedtls_sha512_ret(msg, msg_len, hash, 1)) return HPMW_FAIL(e, "hashing failed");
  }
  /* The DRBG only blinds the computation; k itself comes from RFC 6979, so
   * the same key and bytes always give the same signature. */
  mbedtls_entropy_init(&ent);
  mbedtls_ctr_drbg_init(&drbg);
  rc = mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &ent, (const unsigned char *)"hpm-sign", 8);
  if (!rc)
    rc = mbedtls_ecdsa_write_signature(mbedtls_pk_ec(*pk), md, hash, hlen, der, der_len,
                                       mbedtls_ctr_drbg_random, &drbg);
  mbedtls_ctr_drbg_free(&drbg);
  mbedtls_entropy_free(&ent);
  if (rc) return HPMW_FAIL(e, "signing failed: %s", hpmh_mbedtls_text(rc, eb, sizeof eb));
  /* Never emit a signature core would not accept. */
  if (hpm_signature_check(&pub, msg, msg_len, der, *der_len) != HPM_OK)
    return HPMW_FAIL(e, "internal error: the new signature does not verify");
  *alg = pub.alg;
  memcpy(key_id, pub.key_id, HPM_DIGEST_LEN);
  return 0;
}

int hpmw_sign_container(uint8_t **buf, size_t *len, mbedtls_pk_context *pk, hpmh_status *e) {
  size_t tbs_len, sig_off, der_len = 0;
  uint8_t der[MBEDTLS_ECDSA_MAX_LEN], kid[HPM_DIGEST_LEN];
  hpm_alg alg;
  hpm_diag d;
  if (hpm_container_layout(*buf, *len, &tbs_len, &sig_off, &d) != HPM_OK)
    return HPMW_FAIL(e, "not a valid container (%s: %s)", d.field, d.detail);
  if (hpmw_sign(pk, *buf, tbs_len, der, &der_len, &alg, kid, e)) return -1;
  return hpmw_add_signature(buf, len, alg, kid, der, der_len, e);
}

