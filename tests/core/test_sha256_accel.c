/* SPDX-License-Identifier: MIT */
/*
 * core/sha256_accel.c: the SHA-NI block loop (used by the boot stage) must
 * give the same digests as mbedTLS's portable code and as the host seam
 * (OpenSSL) for every length around the block and padding boundaries,
 * for unaligned buffers and for a few MiB of random data.
 */
#include "testlib.h"

static void digest3(const uint8_t *p, size_t n, uint8_t hw[32], uint8_t sw[32], uint8_t ref[32]) {
  assert_int_equal(hpm_sha256_mbedtls(p, n, hw, true), 0);
  assert_int_equal(hpm_sha256_mbedtls(p, n, sw, false), 0);
  assert_int_equal(hpm_sha256(p, n, ref), HPM_OK);
}

static void fill(uint8_t *p, size_t n, uint32_t seed) {
  for (size_t i = 0; i < n; i++) {
    seed = seed * 1103515245u + 12345u;
    p[i] = (uint8_t)(seed >> 16);
  }
}

static void test_known_answers(void **st) {
  (void)st;
  /* FIPS 180-4 examples: "abc" and the 448-bit two-block message. */
  static const uint8_t abc[32] = {0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40,
                                  0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
                                  0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
  static const uint8_t two[32] = {0x24, 0x8d, 0x6a, 0x61, 0xd2, 0x06, 0x38, 0xb8, 0xe5, 0xc0, 0x26,
                                  0x93, 0x0c, 0x3e, 0x60, 0x39, 0xa3, 0x3c, 0xe4, 0x59, 0x64, 0xff,
                                  0x21, 0x67, 0xf6, 0xec, 0xed, 0xd4, 0x19, 0xdb, 0x06, 0xc1};
  const char *m2 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  uint8_t d[32];
  assert_int_equal(hpm_sha256_mbedtls((const uint8_t *)"abc", 3, d, true), 0);
  assert_memory_equal(d, abc, 32);
  assert_int_equal(hpm_sha256_mbedtls((const uint8_t *)m2, strlen(m2), d, true), 0);
  assert_memory_equal(d, two, 32);
  /* One million 'a': 15625 whole blocks through the accelerated loop. */
  static const uint8_t million_a[32] = {0xcd, 0xc7, 0x6e, 0x5c, 0x99, 0x14, 0xfb, 0x92, 0x81, 0xa1, 0xc7,
                                        0xe2, 0x84, 0xd7, 0x3e, 0x67, 0xf1, 0x80, 0x9a, 0x48, 0xa4, 0x97,
                                        0x20, 0x0e, 0x04, 0x6d, 0x39, 0xcc, 0xc7, 0x11, 0x2c, 0xd0};
  uint8_t *a = malloc(1000000);
  assert_non_null(a);
  memset(a, 'a', 1000000);
  assert_int_equal(hpm_sha256_mbedtls(a, 1000000, d, true), 0);
  free(a);
  assert_memory_equal(d, million_a, 32);
}

static void test_every_length_and_alignment(void **st) {
  (void)st;
  uint8_t buf[1100], hw[32], sw[32], ref[32];
  fill(buf, sizeof buf, 7);
  for (size_t off = 0; off < 4; off++)
    for (size_t n = 0; n + off <= 1030; n++) {
      digest3(buf + off, n, hw, sw, ref);
      if (memcmp(hw, ref, 32) || memcmp(sw, ref, 32))
        fail_msg("length %zu offset %zu: accelerated/portable digest differs from the host's", n, off);
    }
}

static void test_large_random(void **st) {
  (void)st;
  size_t n = 5u * 1024 * 1024 + 37;
  uint8_t *p = malloc(n), hw[32], sw[32], ref[32];
  assert_non_null(p);
  fill(p, n, 99);
  digest3(p, n, hw, sw, ref);
  free(p);
  assert_memory_equal(hw, ref, 32);
  assert_memory_equal(sw, ref, 32);
  print_message("SHA extensions on this CPU: %s\n", hpm_sha256_accelerated() ? "yes (accelerated path tested)"
                                                                             : "no (both paths are mbedTLS's)");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_known_answers),
      cmocka_unit_test(test_every_length_and_alignment),
      cmocka_unit_test(test_large_random),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
