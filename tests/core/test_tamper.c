/* SPDX-License-Identifier: MIT */
/*
 * Tampering with the bytes of signed containers: a flipped bit at every
 * byte position, truncation at every length, oversized and malformed header
 * and signature-block fields, trailing data, wrong kinds.
 */
#include "testlib.h"

#define ANY_OF(r, ...) any_of_((r), (const hpm_result[]){__VA_ARGS__}, \
                               sizeof((hpm_result[]){__VA_ARGS__}) / sizeof(hpm_result))
static bool any_of_(hpm_result r, const hpm_result *set, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (set[i] == r) return true;
  return false;
}

/* Where things are in a container with exactly one signature. */
typedef struct {
  size_t len, msize, tbs, area, sig_off, ent, der_len;
} shape;

static shape shape_of(const uint8_t *buf, size_t len) {
  shape s;
  s.len = len;
  s.msize = tl_get_le32(buf + HPM_HDR_OFF_MANIFEST_SIZE);
  s.tbs = HPM_HEADER_SIZE + s.msize;
  s.area = tl_get_le32(buf + HPM_HDR_OFF_PAYLOAD_SIZE);
  s.sig_off = s.tbs + s.area;
  s.ent = s.sig_off + HPM_SIG_HEADER_SIZE;
  s.der_len = buf[s.ent + HPM_SIG_ENT_OFF_LEN];
  assert_int_equal(s.ent + HPM_SIG_ENTRY_SIZE, len);
  return s;
}

/* The result classes a flipped bit at pos may give (verification). */
static bool flip_ok(const shape *s, size_t pos, hpm_result r, const char **region) {
  if (pos < HPM_HEADER_SIZE) {
    *region = "header";
    if (pos < 8) return r == HPM_E_BAD_MAGIC;
    if (pos < 12) return r == HPM_E_UNSUPPORTED_VERSION;
    if (pos < 16) return r == HPM_E_BAD_HEADER; /* 3: a catalog, which has no payload area */
    if (pos < 24) return r == HPM_E_BAD_HEADER;                        /* header_size, flags */
    if (pos < 28)
      return ANY_OF(r, HPM_E_BAD_HEADER, HPM_E_TOO_LARGE, HPM_E_TRUNCATED,
                    HPM_E_BAD_SIGNATURE_BLOCK);                         /* manifest_size */
    if (pos < 32) return r == HPM_E_BAD_HEADER;                        /* reserved */
    if (pos < 40)
      return ANY_OF(r, HPM_E_TOO_LARGE, HPM_E_TRUNCATED, HPM_E_BAD_SIGNATURE_BLOCK); /* area */
    return r == HPM_E_BAD_HEADER;                                      /* reserved */
  }
  if (pos < s->tbs) {
    *region = "manifest";
    return r == HPM_E_SIGNATURE_INVALID;
  }
  if (pos < s->sig_off) {
    *region = "payload area";
    return r == HPM_E_PAYLOAD_HASH;
  }
  if (pos < s->ent) {
    size_t o = pos - s->sig_off;
    *region = "signature block header";
    if (o < 8 || o >= 12) return r == HPM_E_BAD_SIGNATURE_BLOCK; /* magic, reserved */
    return ANY_OF(r, HPM_E_TRAILING_DATA, HPM_E_TRUNCATED, HPM_E_TOO_LARGE); /* count */
  }
  {
    size_t o = pos - s->ent;
    *region = "signature entry";
    if (o < 2) return r == HPM_E_BAD_SIGNATURE_BLOCK;                 /* alg */
    if (o < 4) return ANY_OF(r, HPM_E_BAD_SIGNATURE_BLOCK, HPM_E_SIGNATURE_INVALID); /* der_len */
    if (o < 8) return r == HPM_E_BAD_SIGNATURE_BLOCK;                 /* reserved */
    if (o < 40) return r == HPM_E_UNTRUSTED_KEY;                      /* key ID */
    if (o < 40 + s->der_len)                                          /* DER */
      return ANY_OF(r, HPM_E_SIGNATURE_INVALID, HPM_E_BAD_SIGNATURE_BLOCK); /* value, structure */
    return r == HPM_E_BAD_SIGNATURE_BLOCK;                            /* padding */
  }
}

static char report[4096];
static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...) {
  size_t n = strlen(report);
  va_list ap;
  if (n + 200 > sizeof report) return;
  va_start(ap, fmt);
  vsnprintf(report + n, sizeof report - n, fmt, ap);
  va_end(ap);
}

/* Which bits to flip at pos: all eight where the byte is a header or
 * signature-block field (the results differ by field), else one bit that
 * rotates with the position (each flip there costs an ECDSA verification
 * and all give the same result class). */
static unsigned bits_at(const shape *s, size_t pos) {
  if (pos < HPM_HEADER_SIZE) return 0xff;
  if (pos >= s->sig_off && pos < s->ent + HPM_SIG_ENT_OFF_DER) return 0xff;
  if (pos >= s->ent + HPM_SIG_ENT_OFF_DER + s->der_len) return 0xff;
  return 1u << (pos & 7);
}

/* Flip bits at every byte position of a signed container (an exact-size heap
 * copy, so any over-read is an ASan report). */
static void flip_everything(const uint8_t *orig, size_t len, hpm_kind kind, tl_key *k,
                            const hpm_ops *ops) {
  uint8_t *buf = tl_dup(orig, len);
  shape s = shape_of(orig, len);
  unsigned bad = 0, runs = 0;
  report[0] = '\0';
  assert_result(tl_verify1(buf, len, kind, k, ops), HPM_OK);
  for (size_t pos = 0; pos < len; pos++)
    for (int b = 0; b < 8; b++) {
      hpm_result r, u;
      const char *region = "";
      if (!(bits_at(&s, pos) & (1u << b))) continue;
      buf[pos] ^= (uint8_t)(1u << b);
      r = tl_verify1(buf, len, kind, k, ops);
      u = hpm_container_parse_unverified(buf, len, tl_m, &tl_diag); /* must not crash */
      (void)u;
      buf[pos] ^= (uint8_t)(1u << b);
      runs++;
      if (r == HPM_OK || !flip_ok(&s, pos, r, &region)) {
        if (!region[0]) flip_ok(&s, pos, r, &region);
        bad++;
        note("byte %zu (%s) bit %d: %s; ", pos, region, b, hpm_result_to_string(r));
      }
    }
  assert_true(runs >= len);
  assert_memory_equal(buf, orig, len);
  if (bad) fail_msg("%u of %u flips misjudged: %s", bad, runs, report);
}

static void baseline_container(tl_key *k, uint8_t **buf, size_t *len) {
  tl_doc *d = tl_doc_baseline();
  uint8_t *fdt;
  size_t fdt_len;
  tl_doc_fdt(d, &fdt, &fdt_len);
  tl_assemble(d->kind, fdt, fdt_len, d->area, d->area_len, buf, len);
  tl_sign(buf, len, k);
}

static void test_bit_flips_baseline_p256(void **state) {
  uint8_t *buf;
  size_t len;
  (void)state;
  baseline_container(&tl_A, &buf, &len);
  flip_everything(buf, len, HPM_KIND_BASELINE, &tl_A, NULL);
}

static void test_bit_flips_hotpatch_p384(void **state) {
  tl_doc *d = tl_doc_hotpatch();
  uint8_t *fdt, *buf;
  size_t fdt_len, len;
  (void)state;
  tl_doc_fdt(d, &fdt, &fdt_len);
  tl_assemble(d->kind, fdt, fdt_len, d->area, d->area_len, &buf, &len);
  tl_sign(&buf, &len, &tl_D);
  flip_everything(buf, len, HPM_KIND_HOTPATCH, &tl_D, NULL);
}

/* A detached payload's bytes, flipped one bit at a time. */
static void test_bit_flips_detached_payload(void **state) {
  hpmw_payload pl[2] = {
      {"kernel", HPM_PAYLOAD_KERNEL, tl_kernel, sizeof tl_kernel, "vmlinuz"},
      {"initrd", HPM_PAYLOAD_INITRD, tl_initrd, sizeof tl_initrd, NULL},
  };
  hpmw_manifest m = {.kind = HPM_KIND_BASELINE, .compat = "c", .version = "v",
                     .release = HPM_RELEASE_PLANNED, .payloads = pl, .payload_count = 2};
  uint8_t *buf, copy[sizeof tl_kernel];
  size_t len;
  tl_files fs = {0};
  hpm_ops ops = {&fs, tl_load};
  (void)state;
  tl_build(&m, &tl_A, &buf, &len);
  memcpy(copy, tl_kernel, sizeof copy);
  tl_files_add(&fs, "vmlinuz", copy, sizeof copy);
  assert_result(tl_verify1(buf, len, HPM_KIND_BASELINE, &tl_A, &ops), HPM_OK);
  for (size_t pos = 0; pos < sizeof copy; pos++)
    for (int b = 0; b < 8; b++) {
      copy[pos] ^= (uint8_t)(1u << b);
      assert_result(tl_verify1(buf, len, HPM_KIND_BASELINE, &tl_A, &ops), HPM_E_PAYLOAD_HASH);
      copy[pos] ^= (uint8_t)(1u << b);
    }
}

/* Every length 0..len-1, as an exact-size heap buffer: never OK, always
 * TRUNCATED (every shorter length ends inside something the header declares). */
static void truncate_everywhere(const uint8_t *orig, size_t len, hpm_kind kind, tl_key *k) {
  unsigned bad = 0;
  report[0] = '\0';
  for (size_t l = 0; l < len; l++) {
    uint8_t *b = malloc(l ? l : 1);
    hpm_result r, u;
    assert_non_null(b);
    memcpy(b, orig, l);
    r = tl_verify1(b, l, kind, k, NULL);
    u = hpm_container_parse_unverified(b, l, tl_m, &tl_diag);
    free(b);
    if (r != HPM_E_TRUNCATED || u != HPM_E_TRUNCATED) {
      bad++;
      note("length %zu: %s / unverified %s; ", l, hpm_result_to_string(r), hpm_result_to_string(u));
    }
  }
  if (bad) fail_msg("%u truncations misjudged: %s", bad, report);
}

static void test_truncation_every_length(void **state) {
  uint8_t *buf;
  size_t len;
  (void)state;
  baseline_container(&tl_A, &buf, &len);
  truncate_everywhere(buf, len, HPM_KIND_BASELINE, &tl_A);
  /* two signatures: cut inside the second entry too */
  tl_sign(&buf, &len, &tl_D);
  truncate_everywhere(buf, len, HPM_KIND_BASELINE, &tl_A);
}

static void test_trailing_data(void **state) {
  uint8_t *buf, *b;
  size_t len;
  (void)state;
  baseline_container(&tl_A, &buf, &len);
  b = tl_calloc(len + HPM_SIG_ENTRY_SIZE);
  memcpy(b, buf, len);
  /* one zero byte, one 0xff byte, a whole zero entry, a copy of the entry */
  assert_result(tl_verify1(b, len + 1, HPM_KIND_BASELINE, &tl_A, NULL), HPM_E_TRAILING_DATA);
  assert_result(hpm_container_parse_unverified(b, len + 1, tl_m, &tl_diag), HPM_E_TRAILING_DATA);
  b[len] = 0xff;
  assert_result(tl_verify1(b, len + 1, HPM_KIND_BASELINE, &tl_A, NULL), HPM_E_TRAILING_DATA);
  b[len] = 0;
  assert_result(tl_verify1(b, len + HPM_SIG_ENTRY_SIZE, HPM_KIND_BASELINE, &tl_A, NULL),
                HPM_E_TRAILING_DATA);
  memcpy(b + len, buf + len - HPM_SIG_ENTRY_SIZE, HPM_SIG_ENTRY_SIZE);
  assert_result(tl_verify1(b, len + HPM_SIG_ENTRY_SIZE, HPM_KIND_BASELINE, &tl_A, NULL),
                HPM_E_TRAILING_DATA);
  /* an unsigned container with a trailing byte */
  {
    uint32_t msize = tl_get_le32(buf + HPM_HDR_OFF_MANIFEST_SIZE);
    size_t sig_off = HPM_HEADER_SIZE + msize + tl_get_le32(buf + HPM_HDR_OFF_PAYLOAD_SIZE);
    memcpy(b, buf, sig_off + HPM_SIG_HEADER_SIZE);
    tl_put_le32(b + sig_off + 8, 0);
    assert_result(tl_verify1(b, sig_off + HPM_SIG_HEADER_SIZE, HPM_KIND_BASELINE, &tl_A, NULL),
                  HPM_E_NO_SIGNATURE);
    assert_result(tl_verify1(b, sig_off + HPM_SIG_HEADER_SIZE + 1, HPM_KIND_BASELINE, &tl_A, NULL),
                  HPM_E_TRAILING_DATA);
  }
}

/* Header fields, each set to a bad value and the container signed again over
 * the changed header (so only the field itself can be what is refused). */
static void header_case(const uint8_t *orig, size_t len, size_t off, const uint8_t *val,
                        size_t n, hpm_result want) {
  uint8_t *b = tl_dup(orig, len);
  size_t l = len;
  memcpy(b + off, val, n);
  assert_result(tl_verify1(b, l, HPM_KIND_BASELINE, &tl_A, NULL), want);
  assert_result(hpm_container_parse_unverified(b, l, tl_m, &tl_diag), want);
}

/* Same, starting from an unsigned container and signing after the change. */
static void header_case_signed(const uint8_t *unsigned_c, size_t len, size_t off,
                               const uint8_t *val, size_t n, hpm_result want) {
  uint8_t *b = tl_dup(unsigned_c, len);
  size_t l = len;
  memcpy(b + off, val, n);
  tl_force_sign(&b, &l, &tl_A);
  assert_result(tl_verify1(b, l, HPM_KIND_BASELINE, &tl_A, NULL), want);
}

static void test_header_fields(void **state) {
  tl_doc *d = tl_doc_baseline();
  uint8_t *fdt, *u, *buf;
  size_t fdt_len, ulen, len;
  uint8_t v[8];
  (void)state;
  tl_doc_fdt(d, &fdt, &fdt_len);
  tl_assemble(d->kind, fdt, fdt_len, d->area, d->area_len, &u, &ulen);
  buf = tl_dup(u, ulen);
  len = ulen;
  tl_sign(&buf, &len, &tl_A);
  assert_result(tl_verify1(buf, len, HPM_KIND_BASELINE, &tl_A, NULL), HPM_OK);

  /* magic: each byte wrong; a PNG's magic */
  for (size_t i = 0; i < 8; i++) {
    v[0] = (uint8_t)(buf[i] + 1);
    header_case(buf, len, i, v, 1, HPM_E_BAD_MAGIC);
  }
  header_case(buf, len, 0, (const uint8_t *)"\x89PNG\r\n\x1a\n", 8, HPM_E_BAD_MAGIC);
  /* one 32-bit field of a header re-signed as it is */
  {
    static const struct {
      size_t off;
      uint32_t v;
      hpm_result want;
    } fields[] = {
        {HPM_HDR_OFF_FORMAT, 0, HPM_E_UNSUPPORTED_VERSION},
        {HPM_HDR_OFF_FORMAT, 2, HPM_E_UNSUPPORTED_VERSION},
        {HPM_HDR_OFF_FORMAT, 0xffffffff, HPM_E_UNSUPPORTED_VERSION},
        {HPM_HDR_OFF_KIND, 3, HPM_E_BAD_HEADER}, /* a catalog never has a payload area */
        {HPM_HDR_OFF_KIND, 0, HPM_E_BAD_HEADER},
        {HPM_HDR_OFF_KIND, 4, HPM_E_BAD_HEADER},
        {HPM_HDR_OFF_KIND, 0x101, HPM_E_BAD_HEADER},
        {HPM_HDR_OFF_HEADER_SIZE, 0, HPM_E_BAD_HEADER},
        {HPM_HDR_OFF_HEADER_SIZE, 63, HPM_E_BAD_HEADER},
        {HPM_HDR_OFF_HEADER_SIZE, 65, HPM_E_BAD_HEADER},
        {HPM_HDR_OFF_HEADER_SIZE, 128, HPM_E_BAD_HEADER},
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
      tl_put_le32(v, fields[i].v);
      header_case_signed(u, ulen, fields[i].off, v, 4, fields[i].want);
    }
  }
  /* flags: every single bit */
  for (int bit = 0; bit < 32; bit++) {
    tl_put_le32(v, 1u << bit);
    header_case_signed(u, ulen, HPM_HDR_OFF_FLAGS, v, 4, HPM_E_BAD_HEADER);
    header_case(buf, len, HPM_HDR_OFF_FLAGS, v, 4, HPM_E_BAD_HEADER);
  }
  /* every reserved byte, signed and unsigned */
  for (size_t off = 0; off < HPM_HEADER_SIZE; off++) {
    if (!(off >= HPM_HDR_OFF_RESERVED0 && off < HPM_HDR_OFF_RESERVED0 + 4) &&
        off < HPM_HDR_OFF_RESERVED1)
      continue;
    v[0] = 0x01;
    header_case_signed(u, ulen, off, v, 1, HPM_E_BAD_HEADER);
    v[0] = 0x80;
    header_case(buf, len, off, v, 1, HPM_E_BAD_HEADER);
  }
}

static void test_oversized_lengths(void **state) {
  uint8_t *buf, v[8];
  size_t len;
  (void)state;
  baseline_container(&tl_A, &buf, &len);

  /* manifest_size: over 64 KiB, far over, under the FDT header size */
  {
    static const uint32_t big[] = {HPM_MANIFEST_MAX + 1, HPM_MANIFEST_MAX + 8, 0x7fffffff,
                                   0x80000000, 0xffffffff};
    static const uint32_t small[] = {0, 1, 39};
    for (size_t i = 0; i < 5; i++) {
      tl_put_le32(v, big[i]);
      header_case(buf, len, HPM_HDR_OFF_MANIFEST_SIZE, v, 4, HPM_E_TOO_LARGE);
    }
    for (size_t i = 0; i < 3; i++) {
      tl_put_le32(v, small[i]);
      header_case(buf, len, HPM_HDR_OFF_MANIFEST_SIZE, v, 4, HPM_E_BAD_HEADER);
    }
    /* exactly the limit is allowed, but the file is too short for it */
    tl_put_le32(v, HPM_MANIFEST_MAX);
    header_case(buf, len, HPM_HDR_OFF_MANIFEST_SIZE, v, 4, HPM_E_TRUNCATED);
  }
  /* payload area: over 2 GiB, up to UINT64_MAX (no wrap-around) */
  {
    static const uint64_t big[] = {HPM_PAYLOAD_AREA_MAX + 1, HPM_PAYLOAD_AREA_MAX * 2,
                                   0x8000000000000000ull, UINT64_MAX - HPM_HEADER_SIZE,
                                   UINT64_MAX};
    for (size_t i = 0; i < 5; i++) {
      tl_put_le64(v, big[i]);
      header_case(buf, len, HPM_HDR_OFF_PAYLOAD_SIZE, v, 8, HPM_E_TOO_LARGE);
    }
    tl_put_le64(v, HPM_PAYLOAD_AREA_MAX);
    header_case(buf, len, HPM_HDR_OFF_PAYLOAD_SIZE, v, 8, HPM_E_TRUNCATED);
  }
  /* signature count over 16 */
  {
    shape s = shape_of(buf, len);
    static const uint32_t big[] = {17, 0x10000, 0x80000000, 0xffffffff};
    for (size_t i = 0; i < 4; i++) {
      tl_put_le32(v, big[i]);
      header_case(buf, len, s.sig_off + 8, v, 4, HPM_E_TOO_LARGE);
    }
    tl_put_le32(v, 16);
    header_case(buf, len, s.sig_off + 8, v, 4, HPM_E_TRUNCATED);
    tl_put_le32(v, 2);
    header_case(buf, len, s.sig_off + 8, v, 4, HPM_E_TRUNCATED);
    tl_put_le32(v, 0);
    header_case(buf, len, s.sig_off + 8, v, 4, HPM_E_TRAILING_DATA);
  }
}

/* A manifest of exactly 64 KiB verifies; a valid FDT one byte (or eight)
 * larger is refused on its header's manifest_size alone. */
static void test_manifest_size_limit(void **state) {
  size_t target[] = {HPM_MANIFEST_MAX, HPM_MANIFEST_MAX + 1, HPM_MANIFEST_MAX + 8};
  hpm_result want[] = {HPM_OK, HPM_E_TOO_LARGE, HPM_E_TOO_LARGE};
  static const char *const names[] = {"info,p", "info,pa", "info,pad", "info,padd"};
  (void)state;
  for (size_t t = 0; t < 3; t++) {
    bool hit = false;
    /* property values are padded to 4 bytes, the strings block is not: the
     * name's length picks the size modulo 4, the value's length the rest */
    for (size_t nm = 0; nm < 4 && !hit; nm++) {
      tl_doc *d = tl_doc_baseline();
      uint8_t *fdt, *c;
      size_t fdt_len, n;
      int pad = 100;
      tn_add_fill(d->root, names[nm], 'x', pad);
      tl_doc_fdt(d, &fdt, &fdt_len);
      pad += (int)target[t] - (int)fdt_len;
      pad &= ~3;
      tn_set(d->root, names[nm], tl_calloc((size_t)pad), pad);
      tl_doc_fdt(d, &fdt, &fdt_len);
      if (fdt_len != target[t]) continue;
      hit = true;
      {
        tl_assemble(d->kind, fdt, fdt_len, d->area, d->area_len, &c, &n);
        tl_force_sign(&c, &n, &tl_A); /* hpmw refuses to sign over the limit */
      }
      assert_result(tl_verify1(c, n, d->kind, &tl_A, NULL), want[t]);
      if (want[t] == HPM_OK) assert_int_equal(tl_m->manifest_size, HPM_MANIFEST_MAX);
    }
    if (!hit) fail_msg("could not build a manifest of %zu bytes", target[t]);
  }
}

static void test_signature_block_fields(void **state) {
  uint8_t *buf, v[4];
  size_t len;
  shape s;
  (void)state;
  baseline_container(&tl_A, &buf, &len);
  s = shape_of(buf, len);
  for (size_t i = 0; i < 8; i++) {
    v[0] = (uint8_t)(buf[s.sig_off + i] ^ 0x20);
    header_case(buf, len, s.sig_off + i, v, 1, HPM_E_BAD_SIGNATURE_BLOCK);
  }
  for (size_t i = 12; i < 16; i++) {
    v[0] = 1;
    header_case(buf, len, s.sig_off + i, v, 1, HPM_E_BAD_SIGNATURE_BLOCK);
  }
  for (size_t i = HPM_SIG_ENT_OFF_RESERVED; i < HPM_SIG_ENT_OFF_KEYID; i++) {
    v[0] = 0x40;
    header_case(buf, len, s.ent + i, v, 1, HPM_E_BAD_SIGNATURE_BLOCK);
  }
  for (size_t i = HPM_SIG_ENT_OFF_DER + s.der_len; i < HPM_SIG_ENTRY_SIZE; i++) {
    v[0] = 0x01;
    header_case(buf, len, s.ent + i, v, 1, HPM_E_BAD_SIGNATURE_BLOCK);
  }
  /* no signature block at all: the file ends after the payloads */
  assert_result(tl_verify1(buf, s.sig_off, HPM_KIND_BASELINE, &tl_A, NULL), HPM_E_TRUNCATED);
}

static void test_wrong_kind(void **state) {
  tl_doc *b = tl_doc_baseline(), *h = tl_doc_hotpatch();
  uint8_t *bc, *hc, *x;
  size_t bn, hn, xn;
  (void)state;
  tl_doc_container(b, &bc, &bn);
  tl_doc_container(h, &hc, &hn);
  /* a baseline presented as a hotpatch and the other way round */
  assert_result(tl_verify1(bc, bn, HPM_KIND_HOTPATCH, &tl_A, NULL), HPM_E_WRONG_KIND);
  assert_string_equal(tl_diag.field, "header.kind");
  assert_result(tl_verify1(bc, bn, HPM_KIND_CATALOG, &tl_A, NULL), HPM_E_INVALID_ARGUMENT);
  assert_result(tl_verify1(hc, hn, HPM_KIND_BASELINE, &tl_A, NULL), HPM_E_WRONG_KIND);
  assert_result(tl_verify1(bc, bn, HPM_KIND_BASELINE, &tl_A, NULL), HPM_OK);
  assert_result(tl_verify1(hc, hn, HPM_KIND_HOTPATCH, &tl_A, NULL), HPM_OK);

  /* the baseline's header relabelled as a hotpatch: its signature no longer
   * verifies (the kind is signed) */
  x = tl_dup(bc, bn);
  xn = bn;
  tl_put_le32(x + HPM_HDR_OFF_KIND, HPM_KIND_HOTPATCH);
  assert_result(tl_verify1(x, xn, HPM_KIND_HOTPATCH, &tl_A, NULL), HPM_E_SIGNATURE_INVALID);

  /* a signer who labels a baseline manifest as a hotpatch in the header: the
   * signature is fine, the manifest's hpm,kind disagrees with the header */
  {
    uint8_t *fdt;
    size_t fdt_len;
    tl_doc_fdt(b, &fdt, &fdt_len);
    tl_seal(HPM_KIND_HOTPATCH, fdt, fdt_len, b->area, b->area_len, &x, &xn);
    assert_result(tl_verify1(x, xn, HPM_KIND_HOTPATCH, &tl_A, NULL), HPM_E_BAD_FIELD);
    assert_string_equal(tl_diag.field, "hpm,kind");
    assert_result(hpm_container_parse_unverified(x, xn, tl_m, &tl_diag), HPM_E_BAD_FIELD);
    assert_string_equal(tl_diag.field, "hpm,kind");
    /* and a hotpatch manifest under a baseline header */
    tl_doc_fdt(h, &fdt, &fdt_len);
    tl_seal(HPM_KIND_BASELINE, fdt, fdt_len, h->area, h->area_len, &x, &xn);
    assert_result(tl_verify1(x, xn, HPM_KIND_BASELINE, &tl_A, NULL), HPM_E_BAD_FIELD);
    assert_string_equal(tl_diag.field, "hpm,kind");
    /* a catalog header over a baseline manifest: refused from the header
     * (a catalog has no payload area), and hpm_container_verify never
     * accepts catalogs (hpm_catalog_verify does) */
    {
      tl_doc_fdt(b, &fdt, &fdt_len);
      tl_assemble(HPM_KIND_CATALOG, fdt, fdt_len, b->area, b->area_len, &x, &xn);
      tl_force_sign(&x, &xn, &tl_A);
      assert_result(tl_verify1(x, xn, HPM_KIND_CATALOG, &tl_A, NULL), HPM_E_INVALID_ARGUMENT);
      assert_result(tl_verify1(x, xn, HPM_KIND_BASELINE, &tl_A, NULL), HPM_E_BAD_HEADER);
      assert_string_equal(tl_diag.field, "header.payload_area_size");
    }
  }
}

/* Very short inputs and non-containers. */
static void test_tiny_inputs(void **state) {
  static const uint8_t zeros[256];
  uint8_t *b;
  (void)state;
  for (size_t l = 0; l <= sizeof zeros; l++) {
    b = malloc(l ? l : 1);
    assert_non_null(b);
    memcpy(b, zeros, l);
    assert_true(tl_verify1(b, l, HPM_KIND_BASELINE, &tl_A, NULL) != HPM_OK);
    assert_true(hpm_container_parse_unverified(b, l, tl_m, &tl_diag) != HPM_OK);
    free(b);
  }
  b = tl_calloc(HPM_HEADER_SIZE);
  memcpy(b, HPM_MAGIC, HPM_MAGIC_LEN);
  assert_result(tl_verify1(b, 7, HPM_KIND_BASELINE, &tl_A, NULL), HPM_E_TRUNCATED);
  assert_result(tl_verify1(b, 8, HPM_KIND_BASELINE, &tl_A, NULL), HPM_E_TRUNCATED);
  assert_result(tl_verify1(b, 63, HPM_KIND_BASELINE, &tl_A, NULL), HPM_E_TRUNCATED);
  assert_result(tl_verify1(b, 7, HPM_KIND_BASELINE, &tl_A, NULL), HPM_E_TRUNCATED);
  b[0] = 'X';
  assert_result(tl_verify1(b, 8, HPM_KIND_BASELINE, &tl_A, NULL), HPM_E_BAD_MAGIC);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TL_TEST(test_bit_flips_baseline_p256),
      TL_TEST(test_bit_flips_hotpatch_p384),
      TL_TEST(test_bit_flips_detached_payload),
      TL_TEST(test_truncation_every_length),
      TL_TEST(test_trailing_data),
      TL_TEST(test_header_fields),
      TL_TEST(test_oversized_lengths),
      TL_TEST(test_manifest_size_limit),
      TL_TEST(test_signature_block_fields),
      TL_TEST(test_wrong_kind),
      TL_TEST(test_tiny_inputs),
  };
  return TL_RUN(tests);
}
