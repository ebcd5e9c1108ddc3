/* SPDX-License-Identifier: MIT */
/*
 * Container verification: header bounds, signature block, signatures over
 * header || manifest, then (only then) the manifest and the payloads.
 */
#include "internal.h"

typedef struct {
  uint32_t format_version;
  hpm_kind kind;
  uint32_t manifest_size;
  uint64_t payload_area_size;
  size_t tbs_len;      /* header + manifest */
  size_t sig_off;      /* start of the signature block */
  uint32_t sig_count;
} layout;

static hpm_result parse_layout(const uint8_t *buf, size_t len, layout *l, hpm_diag *diag) {
  char n1[24], n2[24];
  uint64_t end;
  uint32_t kind;

  if (!buf) return hpm_fail(diag, HPM_E_INVALID_ARGUMENT, "container", "no buffer", 0, 0);
  if (len < HPM_MAGIC_LEN || memcmp(buf, HPM_MAGIC, HPM_MAGIC_LEN) != 0) {
    if (len < HPM_MAGIC_LEN)
      return hpm_fail(diag, HPM_E_TRUNCATED, "header", "file is shorter than the magic", 0, 0);
    return hpm_fail(diag, HPM_E_BAD_MAGIC, "header.magic", "not an hpm container", 0, 0);
  }
  if (len < HPM_HEADER_SIZE)
    return hpm_fail(diag, HPM_E_TRUNCATED, "header", "file is shorter than the 64-byte header", 0, 0);

  l->format_version = hpm_le32(buf + HPM_HDR_OFF_FORMAT);
  if (l->format_version != HPM_FORMAT_VERSION)
    return hpm_fail(diag, HPM_E_UNSUPPORTED_VERSION, "header.format_version", "version ",
                    hpm_fmt_u64(l->format_version, n1), " is not supported (this build: 1)");
  kind = hpm_le32(buf + HPM_HDR_OFF_KIND);
  if (kind < HPM_KIND_BASELINE || kind > HPM_KIND_CATALOG)
    return hpm_fail(diag, HPM_E_BAD_HEADER, "header.kind", "unknown kind ",
                    hpm_fmt_u64(kind, n1), 0);
  l->kind = (hpm_kind)kind;
  if (hpm_le32(buf + HPM_HDR_OFF_HEADER_SIZE) != HPM_HEADER_SIZE)
    return hpm_fail(diag, HPM_E_BAD_HEADER, "header.header_size", "must be 64", 0, 0);
  if (hpm_le32(buf + HPM_HDR_OFF_FLAGS) != 0)
    return hpm_fail(diag, HPM_E_BAD_HEADER, "header.flags", "no flags are defined; must be 0", 0, 0);
  if (hpm_le32(buf + HPM_HDR_OFF_RESERVED0) != 0 ||
      !hpm_all_zero(buf + HPM_HDR_OFF_RESERVED1, HPM_HEADER_SIZE - HPM_HDR_OFF_RESERVED1))
    return hpm_fail(diag, HPM_E_BAD_HEADER, "header.reserved", "reserved bytes must be 0", 0, 0);

  l->manifest_size = hpm_le32(buf + HPM_HDR_OFF_MANIFEST_SIZE);
  if (l->manifest_size < HPM_MANIFEST_MIN)
    return hpm_fail(diag, HPM_E_BAD_HEADER, "header.manifest_size", "smaller than an FDT header", 0, 0);
  /* A catalog lists up to 4096 releases in its manifest; the boot stage
   * never reads one, and every other kind keeps the 64 KiB limit. */
  if (l->kind == HPM_KIND_CATALOG ? l->manifest_size > HPM_CATALOG_MANIFEST_MAX
                                  : l->manifest_size > HPM_MANIFEST_MAX)
    return hpm_fail(diag, HPM_E_TOO_LARGE, "header.manifest_size", hpm_fmt_u64(l->manifest_size, n1),
                    l->kind == HPM_KIND_CATALOG ? " bytes exceeds the catalog limit of 2097152"
                                                : " bytes exceeds the limit of 65536", 0);
  l->payload_area_size = hpm_le64(buf + HPM_HDR_OFF_PAYLOAD_SIZE);
  if (l->payload_area_size > HPM_PAYLOAD_AREA_MAX)
    return hpm_fail(diag, HPM_E_TOO_LARGE, "header.payload_area_size",
                    hpm_fmt_u64(l->payload_area_size, n1), " bytes exceeds the limit of 2 GiB", 0);
  if (l->kind == HPM_KIND_CATALOG && l->payload_area_size != 0)
    return hpm_fail(diag, HPM_E_BAD_HEADER, "header.payload_area_size",
                    "a catalog has no payloads; must be 0", 0, 0);

  l->tbs_len = HPM_HEADER_SIZE + l->manifest_size;
  if (len < l->tbs_len)
    return hpm_fail(diag, HPM_E_TRUNCATED, "manifest", "file ends inside the manifest", 0, 0);
  /* Both terms are bounded above, so this cannot overflow, but stay explicit. */
  if (!hpm_add_u64(l->tbs_len, l->payload_area_size, &end) || end > (uint64_t)len)
    return hpm_fail(diag, HPM_E_TRUNCATED, "payloads", "file ends inside the payload area", 0, 0);
  l->sig_off = (size_t)end;

  if (len - l->sig_off < HPM_SIG_HEADER_SIZE)
    return hpm_fail(diag, HPM_E_TRUNCATED, "signatures", "file ends before the signature block", 0, 0);
  if (memcmp(buf + l->sig_off, HPM_SIG_MAGIC, HPM_SIG_MAGIC_LEN) != 0)
    return hpm_fail(diag, HPM_E_BAD_SIGNATURE_BLOCK, "signatures.magic", "signature block magic missing", 0, 0);
  l->sig_count = hpm_le32(buf + l->sig_off + 8);
  if (hpm_le32(buf + l->sig_off + 12) != 0)
    return hpm_fail(diag, HPM_E_BAD_SIGNATURE_BLOCK, "signatures.reserved", "must be 0", 0, 0);
  if (l->sig_count > HPM_MAX_SIGNATURES)
    return hpm_fail(diag, HPM_E_TOO_LARGE, "signatures.count", hpm_fmt_u64(l->sig_count, n1),
                    " signatures exceeds the limit of 16", 0);
  end = (uint64_t)l->sig_off + HPM_SIG_HEADER_SIZE + (uint64_t)l->sig_count * HPM_SIG_ENTRY_SIZE;
  if ((uint64_t)len < end)
    return hpm_fail(diag, HPM_E_TRUNCATED, "signatures", "file ends inside the signature block", 0, 0);
  if ((uint64_t)len > end)
    return hpm_fail(diag, HPM_E_TRAILING_DATA, "signatures", hpm_fmt_u64((uint64_t)len - end, n1),
                    " bytes follow the signature block (expected end at ", hpm_fmt_u64(end, n2));
  return HPM_OK;
}

hpm_result hpm_container_layout(const uint8_t *buf, size_t len, size_t *tbs_len,
                                size_t *sigblock_off, hpm_diag *diag) {
  layout l;
  hpm_result r = parse_layout(buf, len, &l, diag);
  if (r != HPM_OK) return r;
  if (tbs_len) *tbs_len = l.tbs_len;
  if (sigblock_off) *sigblock_off = l.sig_off;
  return HPM_OK;
}

/* Decode entry i of the signature block; shape only, no cryptography. */
static hpm_result sig_entry(const uint8_t *buf, const layout *l, uint32_t i, hpm_alg *alg,
                            const uint8_t **key_id, const uint8_t **der, size_t *der_len,
                            hpm_diag *diag) {
  const uint8_t *e = buf + l->sig_off + HPM_SIG_HEADER_SIZE + (size_t)i * HPM_SIG_ENTRY_SIZE;
  char field[32], n1[24];
  uint16_t a = hpm_le16(e + HPM_SIG_ENT_OFF_ALG);
  uint16_t dl = hpm_le16(e + HPM_SIG_ENT_OFF_LEN);
  const uint8_t *r, *s;
  size_t rn, sn;
  hpm_path2(field, sizeof field, "signatures", hpm_fmt_u64(i, n1));
  if (a != HPM_ALG_ECDSA_P256_SHA256 && a != HPM_ALG_ECDSA_P384_SHA384)
    return hpm_fail(diag, HPM_E_BAD_SIGNATURE_BLOCK, field, "unknown algorithm ",
                    hpm_fmt_u64(a, n1), 0);
  if (dl < 8 || dl > HPM_SIG_DER_MAX)
    return hpm_fail(diag, HPM_E_BAD_SIGNATURE_BLOCK, field, "signature length out of range", 0, 0);
  if (hpm_le32(e + HPM_SIG_ENT_OFF_RESERVED) != 0 ||
      !hpm_all_zero(e + HPM_SIG_ENT_OFF_DER + dl, HPM_SIG_DER_MAX - dl))
    return hpm_fail(diag, HPM_E_BAD_SIGNATURE_BLOCK, field, "reserved or padding bytes are not 0", 0, 0);
  if (!hpm_sig_der_parse(e + HPM_SIG_ENT_OFF_DER, dl, &r, &rn, &s, &sn))
    return hpm_fail(diag, HPM_E_BAD_SIGNATURE_BLOCK, field,
                    "signature is not minimal DER (SEQUENCE of two INTEGERs)", 0, 0);
  *alg = (hpm_alg)a;
  *key_id = e + HPM_SIG_ENT_OFF_KEYID;
  *der = e + HPM_SIG_ENT_OFF_DER;
  *der_len = dl;
  return HPM_OK;
}

static const hpm_pubkey *trusted_key(const hpm_trust *trust, const uint8_t *key_id) {
  for (size_t k = 0; k < trust->count; k++)
    if (memcmp(trust->keys[k].key_id, key_id, HPM_DIGEST_LEN) == 0) return &trust->keys[k];
  return NULL;
}

/* The container digest identifies the signed bytes; computing it reads
 * nothing but the bounds-checked TBS, so it is available to error messages
 * even when verification later fails. */
static hpm_result fill_digest(const uint8_t *buf, const layout *l, hpm_manifest *m,
                              hpm_diag *diag) {
  hpm_result r = hpm_sha256(buf, l->tbs_len, m->digest);
  if (r != HPM_OK) return hpm_fail(diag, r, "digest", "hashing header and manifest failed", 0, 0);
  return HPM_OK;
}

static hpm_result check_signatures(const uint8_t *buf, const layout *l, const hpm_trust *trust,
                                   hpm_manifest *m, hpm_diag *diag) {
  /* Distinct trusted keys counted so far (indices into trust->keys). */
  const hpm_pubkey *counted[HPM_MAX_SIGNATURES];
  unsigned ncounted = 0;
  hpm_result first_bad = HPM_OK;
  char field[32], n1[24], hex[17];

  if (l->sig_count == 0 && trust)
    return hpm_fail(diag, HPM_E_NO_SIGNATURE, "signatures", "the container is not signed", 0, 0);

  m->signature_count = 0;
  for (uint32_t i = 0; i < l->sig_count; i++) {
    hpm_alg alg = HPM_ALG_NONE;
    const uint8_t *kid = NULL, *der = NULL;
    size_t der_len = 0;
    hpm_result r = sig_entry(buf, l, i, &alg, &kid, &der, &der_len, diag);
    if (r != HPM_OK) return r;
    hpm_signature_info *si = &m->signatures[i];
    const hpm_pubkey *key;
    bool dup = false;

    si->alg = alg;
    memcpy(si->key_id, kid, HPM_DIGEST_LEN);
    si->status = HPM_SIG_NOT_CHECKED;
    m->signature_count = i + 1;
    if (!trust) continue; /* unverified parse: shape only */
    key = trusted_key(trust, kid);
    if (!key) {
      si->status = HPM_SIG_UNKNOWN_KEY;
      continue;
    }
    for (unsigned c = 0; c < ncounted; c++)
      if (counted[c] == key) dup = true;
    /* The algorithm is a property of the trusted key, not of the entry. */
    if (alg != key->alg) {
      r = HPM_E_SIGNATURE_INVALID;
    } else {
      r = hpm_signature_check(key, buf, l->tbs_len, der, der_len);
    }
    if (r == HPM_OK) {
      si->status = dup ? HPM_SIG_DUPLICATE : HPM_SIG_VALID;
      if (!dup) counted[ncounted++] = key;
    } else {
      si->status = HPM_SIG_INVALID;
      if (first_bad == HPM_OK) {
        first_bad = r == HPM_E_CRYPTO ? HPM_E_CRYPTO : HPM_E_SIGNATURE_INVALID;
        hpm_path2(field, sizeof field, "signatures", hpm_fmt_u64(i, n1));
        hpm_fail(diag, first_bad, field,
                 "signature by trusted key ", hpm_fmt_hex(kid, 8, hex, sizeof hex),
                 alg != key->alg ? "... names the wrong algorithm for that key"
                                 : "... does not verify over header and manifest");
      }
    }
  }
  if (!trust) return HPM_OK;
  m->trusted_signers = ncounted;
  /* One bad signature by a trusted key means the bytes were altered or the
   * signer is broken: never outvoted by other valid signatures. */
  if (first_bad != HPM_OK) return first_bad;
  if (ncounted == 0)
    return hpm_fail(diag, HPM_E_UNTRUSTED_KEY, "signatures",
                    "no signature is by a key in the trust set", 0, 0);
  if (ncounted < trust->threshold) {
    char n2[24];
    return hpm_fail(diag, HPM_E_THRESHOLD_NOT_MET, "signatures", hpm_fmt_u64(ncounted, n1),
                    " distinct trusted signer(s), threshold is ", hpm_fmt_u64(trust->threshold, n2));
  }
  return HPM_OK;
}

static hpm_result check_trust(const hpm_trust *trust, hpm_diag *diag) {
  if (!trust || !trust->keys || trust->count == 0)
    return hpm_fail(diag, HPM_E_INVALID_ARGUMENT, "trust", "the trust set is empty", 0, 0);
  if (trust->threshold == 0)
    return hpm_fail(diag, HPM_E_INVALID_ARGUMENT, "trust", "threshold must be at least 1", 0, 0);
  if (trust->threshold > HPM_MAX_SIGNATURES || trust->threshold > trust->count)
    return hpm_fail(diag, HPM_E_INVALID_ARGUMENT, "trust",
                    "threshold exceeds the number of trusted keys", 0, 0);
  for (size_t k = 0; k < trust->count; k++)
    if (trust->keys[k].alg != HPM_ALG_ECDSA_P256_SHA256 &&
        trust->keys[k].alg != HPM_ALG_ECDSA_P384_SHA384)
      return hpm_fail(diag, HPM_E_BAD_KEY, "trust", "a trusted key has no usable algorithm", 0, 0);
  return HPM_OK;
}

/* Shape of the manifest that needs the header: kind and format agree. */
static hpm_result header_matches_manifest(const layout *l, const hpm_manifest *m, hpm_diag *diag) {
  if (m->format_version != l->format_version)
    return hpm_fail(diag, HPM_E_BAD_FIELD, "hpm,format", "differs from the header's format version", 0, 0);
  if (m->kind != l->kind)
    return hpm_fail(diag, HPM_E_BAD_FIELD, "hpm,kind", "differs from the header's kind", 0, 0);
  return HPM_OK;
}

/* Fill the header part of m and parse the manifest.  Signatures must have
 * been checked by the caller unless this is the unverified parse. */
static hpm_result parse_signed_part(const uint8_t *buf, const layout *l, hpm_manifest *m,
                                    hpm_diag *diag) {
  hpm_result r;
  /* hpm_manifest_parse fills only manifest fields; the caller zeroed m.
   * It needs the payload area size to prove embedded payloads tile it. */
  m->manifest_size = l->manifest_size;
  m->payload_area_size = l->payload_area_size;
  r = hpm_manifest_parse(buf + HPM_HEADER_SIZE, l->manifest_size, m, diag);
  if (r != HPM_OK) return r;
  r = header_matches_manifest(l, m, diag);
  if (r != HPM_OK) return r;
  m->format_version = l->format_version;
  m->kind = l->kind;
  m->manifest_size = l->manifest_size;
  m->payload_area_size = l->payload_area_size;
  return HPM_OK;
}

static bool cmdline_ok(const uint8_t *p, uint64_t n) {
  for (uint64_t i = 0; i < n; i++)
    if (p[i] < 0x20 || p[i] > 0x7e) return false;
  return true;
}

static hpm_result check_payloads(const uint8_t *buf, const layout *l, const hpm_ops *ops,
                                 hpm_manifest *m, hpm_diag *diag) {
  char field[64], n1[24], n2[24];
  for (size_t i = 0; i < m->payload_count; i++) {
    hpm_payload *p = &m->payloads[i];
    const uint8_t *data = NULL;
    size_t data_len = 0;
    uint8_t digest[HPM_DIGEST_LEN];
    hpm_result r;

    hpm_path2(field, sizeof field, "payloads", p->name);
    if (p->embedded) {
      /* manifest.c proved offsets tile the area; re-check against the header. */
      uint64_t end;
      if (!hpm_add_u64(p->offset, p->size, &end) || end > l->payload_area_size)
        return hpm_fail(diag, HPM_E_PAYLOAD_SIZE, field, "extends beyond the payload area", 0, 0);
      data = buf + l->tbs_len + p->offset;
      data_len = (size_t)p->size;
    } else {
      if (!ops || !ops->load)
        return hpm_fail(diag, HPM_E_PAYLOAD_MISSING, field, "detached payload file ", p->file,
                        " was not provided");
      r = ops->load(ops->ctx, p->file, p->size, &data, &data_len);
      if (r != HPM_OK || !data)
        return hpm_fail(diag, HPM_E_PAYLOAD_MISSING, field, "cannot read detached payload file ",
                        p->file, 0);
      if ((uint64_t)data_len != p->size)
        return hpm_fail(diag, HPM_E_PAYLOAD_SIZE, field, hpm_fmt_u64(data_len, n1),
                        " bytes on disk, the manifest says ", hpm_fmt_u64(p->size, n2));
    }
    r = hpm_sha256(data, data_len, digest);
    if (r != HPM_OK) return hpm_fail(diag, r, field, "hashing failed", 0, 0);
    if (!hpm_ct_equal(digest, p->sha256, HPM_DIGEST_LEN))
      return hpm_fail(diag, HPM_E_PAYLOAD_HASH, field, "SHA-256 of the payload bytes differs from the signed manifest", 0, 0);
    if (p->type == HPM_PAYLOAD_CMDLINE && !cmdline_ok(data, p->size))
      return hpm_fail(diag, HPM_E_BAD_FIELD, field, "command line must be printable ASCII", 0, 0);
    p->data = data;
  }
  return HPM_OK;
}

/* Every entry point starts here: diag cleared, out required and zeroed. */
static hpm_result begin(hpm_manifest *out, hpm_diag *diag) {
  if (diag) hpm_fail(diag, HPM_OK, "", 0, 0, 0);
  if (!out) return hpm_fail(diag, HPM_E_INVALID_ARGUMENT, "container", "no output manifest", 0, 0);
  memset(out, 0, sizeof *out);
  return HPM_OK;
}

/* The steps before the manifest is interpreted, in this order for every
 * kind: header bounds and the signature block's shape, the signed kind
 * (unless expected is HPM_KIND_NONE), the digest, then the signatures over
 * exactly header || manifest (trust NULL: their shape only). */
static hpm_result authenticate(const uint8_t *buf, size_t len, hpm_kind expected,
                               const hpm_trust *trust, layout *l, hpm_manifest *m,
                               hpm_diag *diag) {
  hpm_result r = parse_layout(buf, len, l, diag);
  if (r != HPM_OK) return r;
  if (expected != HPM_KIND_NONE && l->kind != expected)
    return hpm_fail(diag, HPM_E_WRONG_KIND, "header.kind", "container is a ",
                    hpm_kind_to_string(l->kind), expected == HPM_KIND_BASELINE ? ", expected a baseline"
                    : expected == HPM_KIND_HOTPATCH ? ", expected a hotpatch" : ", expected a catalog");
  r = fill_digest(buf, l, m, diag);
  if (r != HPM_OK) return r;
  return check_signatures(buf, l, trust, m, diag);
}

hpm_result hpm_container_verify(const uint8_t *buf, size_t len, hpm_kind expected_kind,
                                const hpm_trust *trust, const hpm_ops *ops, hpm_manifest *out,
                                hpm_diag *diag) {
  layout l;
  hpm_result r = begin(out, diag);
  if (r != HPM_OK) return r;
  r = check_trust(trust, diag);
  if (r != HPM_OK) return r;
  if (expected_kind == HPM_KIND_CATALOG)
    return hpm_fail(diag, HPM_E_INVALID_ARGUMENT, "kind", "catalogs are verified by hpm_catalog_verify", 0, 0);
  if (expected_kind < HPM_KIND_BASELINE || expected_kind > HPM_KIND_HOTPATCH)
    return hpm_fail(diag, HPM_E_INVALID_ARGUMENT, "kind", "no expected kind given", 0, 0);

  /* 1. header, kind, signatures over exactly header || manifest. */
  r = authenticate(buf, len, expected_kind, trust, &l, out, diag);
  if (r != HPM_OK) return r;

  /* 2. only now interpret the manifest. */
  r = parse_signed_part(buf, &l, out, diag);
  if (r != HPM_OK) return r;

  /* 3. payload sizes and hashes. */
  return check_payloads(buf, &l, ops, out, diag);
}

hpm_result hpm_container_parse_unverified(const uint8_t *buf, size_t len, hpm_manifest *out,
                                          hpm_diag *diag) {
  layout l;
  hpm_result r = begin(out, diag);
  if (r != HPM_OK) return r;
  r = authenticate(buf, len, HPM_KIND_NONE, NULL, &l, out, diag);
  if (r != HPM_OK) return r;
  if (l.kind == HPM_KIND_CATALOG) {
    out->format_version = l.format_version;
    out->kind = l.kind;
    out->manifest_size = l.manifest_size;
    return hpm_fail(diag, HPM_E_WRONG_KIND, "header.kind",
                    "a catalog: parse it with hpm_catalog_parse_unverified", 0, 0);
  }
  return parse_signed_part(buf, &l, out, diag);
}

hpm_result hpm_container_authenticate(const uint8_t *buf, size_t len, hpm_kind expected_kind,
                                      const hpm_trust *trust, hpm_manifest *m,
                                      const uint8_t **manifest, size_t *size,
                                      hpm_diag *diag) {
  layout l;
  hpm_result r;
  memset(m, 0, sizeof *m);
  if (trust) {
    r = check_trust(trust, diag);
    if (r != HPM_OK) return r;
  }
  r = authenticate(buf, len, expected_kind, trust, &l, m, diag);
  if (r != HPM_OK) return r;
  m->format_version = l.format_version;
  m->kind = l.kind;
  m->manifest_size = l.manifest_size;
  m->payload_area_size = l.payload_area_size;
  *manifest = buf + HPM_HEADER_SIZE;
  *size = l.manifest_size;
  return HPM_OK;
}
