/* SPDX-License-Identifier: MIT */
/*
 * Round trips: containers written by hpmw and read back by core, every
 * field compared; detached payloads through hpm_ops; keys (SPKI) and the
 * enum-to-string tables.
 */
#include "testlib.h"

/* Build a signed baseline with hpmw: kernel + initrd + cmdline embedded,
 * plus optionally a detached initrd instead of the embedded one. */
static void build_baseline(tl_key *k, hpm_release rel, bool detached_initrd, uint8_t **buf,
                           size_t *len) {
  hpmw_payload pl[3] = {
      {"kernel", HPM_PAYLOAD_KERNEL, tl_kernel, sizeof tl_kernel, NULL},
      {"initrd", HPM_PAYLOAD_INITRD, tl_initrd, sizeof tl_initrd,
       detached_initrd ? "initrd-6.1.img" : NULL},
      {"cmdline", HPM_PAYLOAD_CMDLINE, (const uint8_t *)tl_cmdline, strlen(tl_cmdline), NULL},
  };
  hpmw_manifest m = {.kind = HPM_KIND_BASELINE, .compat = "hpm-x86_64,acme-hci-r2",
                     .version = "2024.06.1-rc1", .svn = 42, .timestamp = 0x1234567890ull,
                     .release = rel, .payloads = pl, .payload_count = 3};
  tl_build(&m, k, buf, len);
}

/* The manifest size hpmw wrote, from the header. */
static uint32_t header_manifest_size(const uint8_t *buf) {
  return tl_get_le32(buf + HPM_HDR_OFF_MANIFEST_SIZE);
}

static void check_payload(const hpm_payload *p, const char *name, hpm_payload_type type,
                          const void *data, size_t size, bool embedded, uint64_t offset,
                          const char *file, const uint8_t *area) {
  uint8_t h[32];
  tl_sha256(data, size, h);
  assert_string_equal(p->name, name);
  assert_int_equal(p->type, type);
  assert_int_equal(p->size, size);
  assert_memory_equal(p->sha256, h, 32);
  assert_int_equal(p->embedded, embedded);
  if (embedded) {
    assert_int_equal(p->offset, offset);
    assert_string_equal(p->file, "");
    if (area) assert_ptr_equal(p->data, area + offset);
  } else {
    assert_int_equal(p->offset, 0);
    assert_string_equal(p->file, file);
  }
  if (area) {
    assert_non_null(p->data);
    assert_memory_equal(p->data, data, size);
  } else {
    assert_null(p->data); /* unverified parse: nothing was hashed */
  }
}

static void check_baseline_fields(const uint8_t *buf, size_t len, const hpm_manifest *m,
                                  tl_key *k, hpm_release rel, bool verified) {
  uint32_t msize = header_manifest_size(buf);
  uint64_t area_len = sizeof tl_kernel + sizeof tl_initrd + strlen(tl_cmdline);
  uint8_t digest[32];
  const uint8_t *area = verified ? buf + HPM_HEADER_SIZE + msize : NULL;

  tl_sha256(buf, HPM_HEADER_SIZE + msize, digest);
  assert_int_equal(m->format_version, 1);
  assert_int_equal(m->kind, HPM_KIND_BASELINE);
  assert_int_equal(m->manifest_size, msize);
  assert_int_equal(m->payload_area_size, area_len);
  assert_int_equal(len, HPM_HEADER_SIZE + msize + area_len + HPM_SIG_HEADER_SIZE + HPM_SIG_ENTRY_SIZE);
  assert_memory_equal(m->digest, digest, 32);
  assert_string_equal(m->compat, "hpm-x86_64,acme-hci-r2");
  assert_string_equal(m->version, "2024.06.1-rc1");
  assert_int_equal(m->svn, 42);
  assert_int_equal(m->timestamp, 0x1234567890ull);
  assert_int_equal(m->release, rel);
  /* hotpatch-only fields stay empty */
  assert_int_equal(m->classification, HPM_CLASS_NONE);
  assert_string_equal(m->id, "");
  assert_true(tl_all_zero(m->target_baseline, 32));
  assert_int_equal(m->sequence, 0);
  assert_int_equal(m->payload_count, 3);
  check_payload(&m->payloads[0], "kernel", HPM_PAYLOAD_KERNEL, tl_kernel, sizeof tl_kernel, true,
                0, NULL, area);
  check_payload(&m->payloads[1], "initrd", HPM_PAYLOAD_INITRD, tl_initrd, sizeof tl_initrd, true,
                sizeof tl_kernel, NULL, area);
  check_payload(&m->payloads[2], "cmdline", HPM_PAYLOAD_CMDLINE, tl_cmdline, strlen(tl_cmdline),
                true, sizeof tl_kernel + sizeof tl_initrd, NULL, area);
  assert_int_equal(m->signature_count, 1);
  assert_int_equal(m->signatures[0].alg, k->pub.alg);
  assert_memory_equal(m->signatures[0].key_id, k->pub.key_id, 32);
  assert_int_equal(m->signatures[0].status, verified ? HPM_SIG_VALID : HPM_SIG_NOT_CHECKED);
  assert_int_equal(m->trusted_signers, verified ? 1 : 0);
  assert_int_equal(m->info_count, 0);
}

static void baseline_roundtrip(tl_key *k, hpm_release rel) {
  uint8_t *buf;
  size_t len;
  build_baseline(k, rel, false, &buf, &len);
  assert_result(tl_verify1(buf, len, HPM_KIND_BASELINE, k, NULL), HPM_OK);
  assert_int_equal(tl_diag.result, HPM_OK);
  check_baseline_fields(buf, len, tl_m, k, rel, true);
  assert_result(hpm_container_parse_unverified(buf, len, tl_m, &tl_diag), HPM_OK);
  check_baseline_fields(buf, len, tl_m, k, rel, false);
}

static void test_baseline_roundtrip_p256(void **state) {
  (void)state;
  baseline_roundtrip(&tl_A, HPM_RELEASE_PLANNED);
}

static void test_baseline_roundtrip_p384(void **state) {
  (void)state;
  assert_int_equal(tl_D.pub.alg, HPM_ALG_ECDSA_P384_SHA384);
  assert_int_equal(tl_D.pub.point_len, 97);
  baseline_roundtrip(&tl_D, HPM_RELEASE_UNPLANNED);
}

/* The key ID is SHA-256 of the DER SubjectPublicKeyInfo (as mbedTLS writes it). */
static void test_key_id_is_sha256_of_spki(void **state) {
  tl_key *keys[] = {&tl_A, &tl_D};
  (void)state;
  for (size_t i = 0; i < 2; i++) {
    uint8_t der[200], h[32], der2[200];
    size_t n = tl_spki(keys[i], der, sizeof der), n2 = sizeof der2;
    hpm_pubkey pk;
    tl_sha256(der, n, h);
    assert_memory_equal(keys[i]->pub.key_id, h, 32);
    assert_result(hpm_pubkey_from_spki(der, n, &pk), HPM_OK);
    assert_memory_equal(pk.key_id, h, 32);
    assert_int_equal(pk.alg, keys[i]->pub.alg);
    assert_result(hpm_pubkey_to_spki(&pk, der2, &n2), HPM_OK);
    assert_int_equal(n2, n);
    assert_memory_equal(der2, der, n);
    n2 = n - 1; /* capacity one short */
    assert_result(hpm_pubkey_to_spki(&pk, der2, &n2), HPM_E_INVALID_ARGUMENT);
  }
}

static void build_hotpatch(tl_key *k, hpm_classification cls, const uint8_t target[32],
                           uint8_t **buf, size_t *len) {
  hpmw_payload pl[3] = {
      {"fix-openssl", HPM_PAYLOAD_PATCH, tl_patch1, sizeof tl_patch1, NULL},
      {"fix-sshd", HPM_PAYLOAD_PATCH, tl_initrd, sizeof tl_initrd, "fix-sshd.bin"},
      {"fix-glibc", HPM_PAYLOAD_PATCH, tl_patch2, sizeof tl_patch2, NULL},
  };
  hpmw_manifest m = {.kind = HPM_KIND_HOTPATCH, .compat = "hpm-x86_64",
                     .version = "2024.07-hp3", .svn = 43, .timestamp = 1720000000,
                     .classification = cls, .id = "KB5001234.1_x", .sequence = 0xfffffffe,
                     .payloads = pl, .payload_count = 3};
  memcpy(m.target_baseline, target, 32);
  tl_build(&m, k, buf, len);
}

static void test_hotpatch_roundtrip(void **state) {
  static const hpm_classification classes[] = {HPM_CLASS_CRITICAL, HPM_CLASS_SECURITY,
                                               HPM_CLASS_OTHER};
  uint8_t *base, *buf, digest[32];
  size_t base_len, len;
  tl_files fs = {0};
  hpm_ops ops = {&fs, tl_load};
  (void)state;

  /* A hotpatch names its baseline by the baseline's container digest. */
  build_baseline(&tl_A, HPM_RELEASE_PLANNED, false, &base, &base_len);
  assert_result(tl_verify1(base, base_len, HPM_KIND_BASELINE, &tl_A, NULL), HPM_OK);
  memcpy(digest, tl_m->digest, 32);
  tl_files_add(&fs, "fix-sshd.bin", tl_initrd, sizeof tl_initrd);

  for (size_t c = 0; c < 3; c++) {
    tl_key *k = c == 1 ? &tl_D : &tl_A;
    uint32_t msize;
    const uint8_t *area;
    uint8_t d2[32];
    build_hotpatch(k, classes[c], digest, &buf, &len);
    msize = header_manifest_size(buf);
    area = buf + HPM_HEADER_SIZE + msize;
    fs.calls = 0;
    assert_result(tl_verify1(buf, len, HPM_KIND_HOTPATCH, k, &ops), HPM_OK);
    assert_int_equal(fs.calls, 1);
    assert_string_equal(fs.last_file, "fix-sshd.bin");
    assert_int_equal(fs.last_expected, sizeof tl_initrd);
    tl_sha256(buf, HPM_HEADER_SIZE + msize, d2);
    assert_int_equal(tl_m->format_version, 1);
    assert_int_equal(tl_m->kind, HPM_KIND_HOTPATCH);
    assert_int_equal(tl_m->manifest_size, msize);
    assert_int_equal(tl_m->payload_area_size, sizeof tl_patch1 + sizeof tl_patch2);
    assert_memory_equal(tl_m->digest, d2, 32);
    assert_string_equal(tl_m->compat, "hpm-x86_64");
    assert_string_equal(tl_m->version, "2024.07-hp3");
    assert_int_equal(tl_m->svn, 43);
    assert_int_equal(tl_m->timestamp, 1720000000);
    assert_int_equal(tl_m->release, HPM_RELEASE_NONE);
    assert_int_equal(tl_m->classification, classes[c]);
    assert_string_equal(tl_m->id, "KB5001234.1_x");
    assert_memory_equal(tl_m->target_baseline, digest, 32);
    assert_int_equal(tl_m->sequence, 0xfffffffe);
    assert_int_equal(tl_m->payload_count, 3);
    check_payload(&tl_m->payloads[0], "fix-openssl", HPM_PAYLOAD_PATCH, tl_patch1,
                  sizeof tl_patch1, true, 0, NULL, area);
    check_payload(&tl_m->payloads[1], "fix-sshd", HPM_PAYLOAD_PATCH, tl_initrd,
                  sizeof tl_initrd, false, 0, "fix-sshd.bin", area);
    assert_ptr_equal(tl_m->payloads[1].data, tl_initrd); /* the bytes that were hashed */
    check_payload(&tl_m->payloads[2], "fix-glibc", HPM_PAYLOAD_PATCH, tl_patch2,
                  sizeof tl_patch2, true, sizeof tl_patch1, NULL, area);
    assert_int_equal(tl_m->signature_count, 1);
    assert_int_equal(tl_m->signatures[0].alg, k->pub.alg);
    assert_memory_equal(tl_m->signatures[0].key_id, k->pub.key_id, 32);
    assert_int_equal(tl_m->signatures[0].status, HPM_SIG_VALID);
    assert_int_equal(tl_m->trusted_signers, 1);

    /* The same fields through the unverified parse, nothing checked. */
    fs.calls = 0;
    assert_result(hpm_container_parse_unverified(buf, len, tl_m, &tl_diag), HPM_OK);
    assert_int_equal(fs.calls, 0);
    assert_int_equal(tl_m->classification, classes[c]);
    assert_string_equal(tl_m->id, "KB5001234.1_x");
    assert_memory_equal(tl_m->target_baseline, digest, 32);
    assert_int_equal(tl_m->sequence, 0xfffffffe);
    assert_memory_equal(tl_m->digest, d2, 32);
    check_payload(&tl_m->payloads[1], "fix-sshd", HPM_PAYLOAD_PATCH, tl_initrd,
                  sizeof tl_initrd, false, 0, "fix-sshd.bin", NULL);
    assert_int_equal(tl_m->signatures[0].status, HPM_SIG_NOT_CHECKED);
    assert_int_equal(tl_m->trusted_signers, 0);
  }
}

/* A hotpatch without payloads is allowed (contents are the engine's). */
static void test_hotpatch_without_payloads(void **state) {
  hpmw_manifest m = {.kind = HPM_KIND_HOTPATCH, .compat = "c", .version = "v", .svn = 1,
                     .classification = HPM_CLASS_OTHER, .id = "x", .sequence = 1};
  uint8_t *buf;
  size_t len;
  (void)state;
  tl_build(&m, &tl_A, &buf, &len);
  assert_result(tl_verify1(buf, len, HPM_KIND_HOTPATCH, &tl_A, NULL), HPM_OK);
  assert_int_equal(tl_m->payload_count, 0);
  assert_int_equal(tl_m->payload_area_size, 0);
}

/* ---- detached payloads through hpm_ops ---------------------------------- */

static void test_detached_payloads(void **state) {
  uint8_t *buf, wrong[sizeof tl_initrd];
  size_t len;
  tl_files fs = {0};
  hpm_ops ops = {&fs, tl_load};
  hpm_ops no_load = {&fs, NULL};
  (void)state;

  build_baseline(&tl_A, HPM_RELEASE_PLANNED, true, &buf, &len);

  /* present, right size and hash */
  tl_files_add(&fs, "initrd-6.1.img", tl_initrd, sizeof tl_initrd);
  assert_result(tl_verify1(buf, len, HPM_KIND_BASELINE, &tl_A, &ops), HPM_OK);
  assert_int_equal(fs.calls, 1);
  assert_string_equal(fs.last_file, "initrd-6.1.img");
  assert_int_equal(fs.last_expected, sizeof tl_initrd);
  assert_int_equal(tl_m->payload_area_size, sizeof tl_kernel + strlen(tl_cmdline));
  check_payload(&tl_m->payloads[1], "initrd", HPM_PAYLOAD_INITRD, tl_initrd, sizeof tl_initrd,
                false, 0, "initrd-6.1.img", buf);
  assert_ptr_equal(tl_m->payloads[1].data, tl_initrd);
  /* the cmdline after it still starts right after the kernel */
  assert_int_equal(tl_m->payloads[2].offset, sizeof tl_kernel);

  /* no ops at all, or ops without load */
  assert_result(tl_verify1(buf, len, HPM_KIND_BASELINE, &tl_A, NULL), HPM_E_PAYLOAD_MISSING);
  assert_string_equal(tl_diag.field, "payloads/initrd");
  assert_result(tl_verify1(buf, len, HPM_KIND_BASELINE, &tl_A, &no_load), HPM_E_PAYLOAD_MISSING);

  /* missing: load fails (any error), or "succeeds" without data */
  fs.files[0].result = HPM_E_IO;
  assert_result(tl_verify1(buf, len, HPM_KIND_BASELINE, &tl_A, &ops), HPM_E_PAYLOAD_MISSING);
  fs.files[0].result = HPM_E_PAYLOAD_SIZE;
  assert_result(tl_verify1(buf, len, HPM_KIND_BASELINE, &tl_A, &ops), HPM_E_PAYLOAD_MISSING);
  fs.files[0].result = HPM_OK;
  fs.files[0].data = NULL;
  assert_result(tl_verify1(buf, len, HPM_KIND_BASELINE, &tl_A, &ops), HPM_E_PAYLOAD_MISSING);
  fs.n = 0; /* not there at all */
  assert_result(tl_verify1(buf, len, HPM_KIND_BASELINE, &tl_A, &ops), HPM_E_PAYLOAD_MISSING);

  /* wrong size: one byte short, one byte long, empty */
  tl_files_add(&fs, "initrd-6.1.img", tl_initrd, sizeof tl_initrd - 1);
  assert_result(tl_verify1(buf, len, HPM_KIND_BASELINE, &tl_A, &ops), HPM_E_PAYLOAD_SIZE);
  {
    uint8_t longer[sizeof tl_initrd + 1];
    memcpy(longer, tl_initrd, sizeof tl_initrd);
    longer[sizeof tl_initrd] = 0;
    fs.files[0].data = longer;
    fs.files[0].len = sizeof longer;
    assert_result(tl_verify1(buf, len, HPM_KIND_BASELINE, &tl_A, &ops), HPM_E_PAYLOAD_SIZE);
  }
  fs.files[0].data = tl_initrd;
  fs.files[0].len = 0;
  assert_result(tl_verify1(buf, len, HPM_KIND_BASELINE, &tl_A, &ops), HPM_E_PAYLOAD_SIZE);

  /* right size, wrong bytes: first, last byte */
  memcpy(wrong, tl_initrd, sizeof wrong);
  wrong[0] ^= 1;
  fs.files[0].data = wrong;
  fs.files[0].len = sizeof wrong;
  assert_result(tl_verify1(buf, len, HPM_KIND_BASELINE, &tl_A, &ops), HPM_E_PAYLOAD_HASH);
  assert_string_equal(tl_diag.field, "payloads/initrd");
  wrong[0] ^= 1;
  wrong[sizeof wrong - 1] ^= 0x80;
  assert_result(tl_verify1(buf, len, HPM_KIND_BASELINE, &tl_A, &ops), HPM_E_PAYLOAD_HASH);
  assert_null(tl_m->payloads[1].data);
}

/* A detached cmdline is held to the same printable rule as an embedded one. */
static void test_detached_cmdline(void **state) {
  static const uint8_t bad[] = "console=ttyS0\nquiet";
  hpmw_payload pl[2] = {
      {"kernel", HPM_PAYLOAD_KERNEL, tl_kernel, sizeof tl_kernel, NULL},
      {"cmdline", HPM_PAYLOAD_CMDLINE, bad, sizeof bad - 1, "cmdline.txt"},
  };
  hpmw_manifest m = {.kind = HPM_KIND_BASELINE, .compat = "c", .version = "v",
                     .release = HPM_RELEASE_PLANNED, .payloads = pl, .payload_count = 2};
  uint8_t *buf;
  size_t len;
  tl_files fs = {0};
  hpm_ops ops = {&fs, tl_load};
  (void)state;
  tl_build(&m, &tl_A, &buf, &len);
  tl_files_add(&fs, "cmdline.txt", bad, sizeof bad - 1);
  assert_result(tl_verify1(buf, len, HPM_KIND_BASELINE, &tl_A, &ops), HPM_E_BAD_FIELD);
  assert_string_equal(tl_diag.field, "payloads/cmdline");
}

/* ---- keys ------------------------------------------------------------------------ */

static void test_pubkey_from_spki_malformed(void **state) {
  uint8_t der[200], bad[200];
  size_t n;
  hpm_pubkey pk;
  tl_key *keys[] = {&tl_A, &tl_D};
  (void)state;

  assert_result(hpm_pubkey_from_spki(NULL, 10, &pk), HPM_E_INVALID_ARGUMENT);
  n = tl_spki(&tl_A, der, sizeof der);
  assert_result(hpm_pubkey_from_spki(der, n, NULL), HPM_E_INVALID_ARGUMENT);

  for (size_t k = 0; k < 2; k++) {
    size_t prefix;
    n = tl_spki(keys[k], der, sizeof der);
    prefix = n - keys[k]->pub.point_len;
    assert_result(hpm_pubkey_from_spki(der, n, &pk), HPM_OK);

    /* every length but the right one */
    for (size_t l = 0; l < sizeof der; l++) {
      if (l == n) continue;
      memset(bad, 0, sizeof bad);
      memcpy(bad, der, l < n ? l : n);
      if (hpm_pubkey_from_spki(bad, l, &pk) == HPM_OK) fail_msg("key %zu: length %zu accepted", k, l);
    }
    /* every bit of the DER prefix (algorithm, curve, lengths) */
    for (size_t i = 0; i < prefix; i++)
      for (int b = 0; b < 8; b++) {
        memcpy(bad, der, n);
        bad[i] ^= (uint8_t)(1u << b);
        assert_result(hpm_pubkey_from_spki(bad, n, &pk), HPM_E_BAD_KEY);
      }
    /* compressed and hybrid point encodings, the point at infinity */
    static const uint8_t forms[] = {0x00, 0x02, 0x03, 0x06, 0x07};
    for (size_t f = 0; f < sizeof forms; f++) {
      memcpy(bad, der, n);
      bad[prefix] = forms[f];
      assert_result(hpm_pubkey_from_spki(bad, n, &pk), HPM_E_BAD_KEY);
    }
    /* a point off the curve: flip one bit of X, of Y */
    memcpy(bad, der, n);
    bad[prefix + 5] ^= 0x10;
    assert_result(hpm_pubkey_from_spki(bad, n, &pk), HPM_E_BAD_KEY);
    memcpy(bad, der, n);
    bad[n - 1] ^= 0x01;
    assert_result(hpm_pubkey_from_spki(bad, n, &pk), HPM_E_BAD_KEY);
    /* all-zero and all-ones coordinates (0 and >= p) */
    memcpy(bad, der, n);
    memset(bad + prefix + 1, 0, n - prefix - 1);
    assert_result(hpm_pubkey_from_spki(bad, n, &pk), HPM_E_BAD_KEY);
    memset(bad + prefix + 1, 0xff, n - prefix - 1);
    assert_result(hpm_pubkey_from_spki(bad, n, &pk), HPM_E_BAD_KEY);
  }

  /* the P-256 prefix with a P-384-sized point and the other way round */
  {
    uint8_t d256[200], d384[200], mix[300];
    size_t n256 = tl_spki(&tl_A, d256, sizeof d256), n384 = tl_spki(&tl_D, d384, sizeof d384);
    size_t p256 = n256 - 65, p384 = n384 - 97;
    memcpy(mix, d256, p256);
    memcpy(mix + p256, d384 + p384, 97);
    assert_result(hpm_pubkey_from_spki(mix, p256 + 97, &pk), HPM_E_BAD_KEY);
    memcpy(mix, d384, p384);
    memcpy(mix + p384, d256 + p256, 65);
    assert_result(hpm_pubkey_from_spki(mix, p384 + 65, &pk), HPM_E_BAD_KEY);
  }
  /* an RSA-looking blob of the right length */
  memset(bad, 0x30, sizeof bad);
  assert_result(hpm_pubkey_from_spki(bad, 91, &pk), HPM_E_BAD_KEY);
  assert_result(hpm_pubkey_from_spki(bad, 120, &pk), HPM_E_BAD_KEY);

  /* to_spki refuses keys that are not whole */
  {
    hpm_pubkey k = tl_A.pub;
    size_t cap = sizeof der;
    k.point_len = 64;
    assert_result(hpm_pubkey_to_spki(&k, der, &cap), HPM_E_BAD_KEY);
    k = tl_A.pub;
    k.alg = HPM_ALG_NONE;
    assert_result(hpm_pubkey_to_spki(&k, der, &cap), HPM_E_BAD_KEY);
    assert_result(hpm_pubkey_to_spki(NULL, der, &cap), HPM_E_INVALID_ARGUMENT);
  }
}

static void test_signature_check_direct(void **state) {
  static const uint8_t msg[] = "header and manifest";
  uint8_t der[MBEDTLS_ECDSA_MAX_LEN], kid[32];
  size_t der_len = 0;
  hpm_alg alg;
  hpmh_status e;
  tl_key *keys[] = {&tl_A, &tl_D};
  (void)state;
  for (size_t k = 0; k < 2; k++) {
    if (hpmw_sign(&keys[k]->pk, msg, sizeof msg, der, &der_len, &alg, kid, &e)) fail_msg("%s", e.detail);
    assert_int_equal(alg, keys[k]->pub.alg);
    assert_result(hpm_signature_check(&keys[k]->pub, msg, sizeof msg, der, der_len), HPM_OK);
    assert_result(hpm_signature_check(&keys[k]->pub, msg, sizeof msg - 1, der, der_len),
                  HPM_E_SIGNATURE_INVALID);
    assert_result(hpm_signature_check(&tl_B.pub, msg, sizeof msg, der, der_len),
                  HPM_E_SIGNATURE_INVALID);
    assert_result(hpm_signature_check(&keys[k]->pub, msg, sizeof msg, der, der_len - 1),
                  HPM_E_SIGNATURE_INVALID);
    assert_result(hpm_signature_check(NULL, msg, sizeof msg, der, der_len), HPM_E_INVALID_ARGUMENT);
    assert_result(hpm_signature_check(&keys[k]->pub, msg, sizeof msg, NULL, der_len),
                  HPM_E_INVALID_ARGUMENT);
  }
}

static void test_sha256_and_ct_equal(void **state) {
  uint8_t a[32], b[32];
  (void)state;
  /* FIPS 180-2 "abc" */
  static const uint8_t abc[32] = {0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40,
                                  0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
                                  0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
  assert_result(hpm_sha256((const uint8_t *)"abc", 3, a), HPM_OK);
  assert_memory_equal(a, abc, 32);
  assert_result(hpm_sha256(NULL, 0, b), HPM_OK);
  assert_result(hpm_sha256(NULL, 1, b), HPM_E_INVALID_ARGUMENT);
  assert_true(hpm_ct_equal(a, abc, 32));
  memcpy(b, a, 32);
  for (int i = 0; i < 32; i++) {
    b[i] ^= 0x40;
    assert_false(hpm_ct_equal(a, b, 32));
    b[i] ^= 0x40;
  }
  assert_true(hpm_ct_equal(a, b, 0));
}

/* ---- strings ----------------------------------------------------------------------- */

static void test_result_to_string_complete(void **state) {
  const char *seen[HPM_RESULT_COUNT_];
  (void)state;
  for (int r = 0; r < HPM_RESULT_COUNT_; r++) {
    const char *s = hpm_result_to_string((hpm_result)r);
    assert_non_null(s);
    assert_true(strlen(s) > 0);
    if (strcmp(s, "unknown result") == 0) fail_msg("result %d has no text", r);
    for (int q = 0; q < r; q++)
      if (strcmp(seen[q], s) == 0) fail_msg("results %d and %d share the text \"%s\"", q, r, s);
    seen[r] = s;
  }
  assert_string_equal(hpm_result_to_string(HPM_OK), "ok");
  assert_string_equal(hpm_result_to_string(HPM_RESULT_COUNT_), "unknown result");
  assert_string_equal(hpm_result_to_string((hpm_result)-1), "unknown result");
  assert_string_equal(hpm_result_to_string((hpm_result)1000), "unknown result");
}

static void test_other_strings(void **state) {
  (void)state;
  assert_string_equal(hpm_kind_to_string(HPM_KIND_BASELINE), "baseline");
  assert_string_equal(hpm_kind_to_string(HPM_KIND_HOTPATCH), "hotpatch");
  assert_string_equal(hpm_kind_to_string(HPM_KIND_CATALOG), "catalog");
  assert_string_equal(hpm_kind_to_string(HPM_KIND_NONE), "none");
  assert_string_equal(hpm_kind_to_string((hpm_kind)9), "none");
  assert_string_equal(hpm_alg_to_string(HPM_ALG_ECDSA_P256_SHA256), "ecdsa-p256-sha256");
  assert_string_equal(hpm_alg_to_string(HPM_ALG_ECDSA_P384_SHA384), "ecdsa-p384-sha384");
  assert_string_equal(hpm_alg_to_string((hpm_alg)7), "none");
  assert_string_equal(hpm_release_to_string(HPM_RELEASE_PLANNED), "planned");
  assert_string_equal(hpm_release_to_string(HPM_RELEASE_UNPLANNED), "unplanned");
  assert_string_equal(hpm_release_to_string(HPM_RELEASE_NONE), "none");
  assert_string_equal(hpm_classification_to_string(HPM_CLASS_CRITICAL), "critical");
  assert_string_equal(hpm_classification_to_string(HPM_CLASS_SECURITY), "security");
  assert_string_equal(hpm_classification_to_string(HPM_CLASS_OTHER), "other");
  assert_string_equal(hpm_classification_to_string(HPM_CLASS_NONE), "none");
  assert_string_equal(hpm_payload_type_to_string(HPM_PAYLOAD_KERNEL), "kernel");
  assert_string_equal(hpm_payload_type_to_string(HPM_PAYLOAD_INITRD), "initrd");
  assert_string_equal(hpm_payload_type_to_string(HPM_PAYLOAD_CMDLINE), "cmdline");
  assert_string_equal(hpm_payload_type_to_string(HPM_PAYLOAD_PATCH), "patch");
  assert_string_equal(hpm_payload_type_to_string(HPM_PAYLOAD_NONE), "none");
  assert_string_equal(hpm_sig_status_to_string(HPM_SIG_NOT_CHECKED), "not checked");
  assert_string_equal(hpm_sig_status_to_string(HPM_SIG_VALID), "valid");
  assert_string_equal(hpm_sig_status_to_string(HPM_SIG_UNKNOWN_KEY), "unknown key");
  assert_string_equal(hpm_sig_status_to_string(HPM_SIG_INVALID), "invalid");
  assert_string_equal(hpm_sig_status_to_string(HPM_SIG_DUPLICATE), "duplicate signer");
  assert_string_equal(hpm_sig_status_to_string((hpm_sig_status)99), "unknown");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TL_TEST(test_baseline_roundtrip_p256),
      TL_TEST(test_baseline_roundtrip_p384),
      TL_TEST(test_key_id_is_sha256_of_spki),
      TL_TEST(test_hotpatch_roundtrip),
      TL_TEST(test_hotpatch_without_payloads),
      TL_TEST(test_detached_payloads),
      TL_TEST(test_detached_cmdline),
      TL_TEST(test_pubkey_from_spki_malformed),
      TL_TEST(test_signature_check_direct),
      TL_TEST(test_sha256_and_ct_equal),
      TL_TEST(test_result_to_string_complete),
      TL_TEST(test_other_strings),
  };
  return TL_RUN(tests);
}
