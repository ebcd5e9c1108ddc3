/* SPDX-License-Identifier: MIT */
/*
 * SHA-256 through mbedTLS with the block compression done by the x86 SHA
 * extensions when the CPU has them (CPUID.07H:EBX.SHA[29], with SSSE3 and
 * SSE4.1).  mbedTLS 2.28 has no such path; its portable code stays the
 * fallback and does the message framing (buffering, padding, length) in
 * both cases: only whole 64-byte blocks go to the SHA-NI loop, which
 * updates the same mbedtls_sha256_context state words mbedTLS would.
 *
 * Used by the boot stage's seam (efi/sysdeps_efi.c), where payload hashing
 * dominates verification time; the host seam uses OpenSSL, which has its
 * own SHA-NI code.  Freestanding: compiler intrinsics only.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mbedtls/sha256.h"

#include "hpm/core.h"

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>

static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

/* 0 unknown, 1 present, 2 absent. */
static int sha_ext_state;

static bool sha_ext_present(void) {
  if (sha_ext_state == 0) {
    unsigned a, b, c, d;
    bool ok = false;
    if (__get_cpuid(1, &a, &b, &c, &d) && (c & bit_SSSE3) && (c & bit_SSE4_1) &&
        __get_cpuid_count(7, 0, &a, &b, &c, &d))
      ok = (b & bit_SHA) != 0;
    sha_ext_state = ok ? 1 : 2;
  }
  return sha_ext_state == 1;
}

/*
 * Compress n 64-byte blocks into state (FIPS 180-4 word order, a..h).
 * The SHA-NI instructions keep the state as ABEF/CDGH pairs; each
 * sha256rnds2 does two rounds, each loop step four, with the message
 * schedule for the next words derived by sha256msg1/msg2 in a ring of four
 * registers.
 */
__attribute__((target("sha,sse4.1,ssse3"))) static void sha_ext_blocks(uint32_t state[8],
                                                                        const uint8_t *p,
                                                                        size_t n) {
  const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
  __m128i dcba = _mm_loadu_si128((const __m128i *)&state[0]);
  __m128i hgfe = _mm_loadu_si128((const __m128i *)&state[4]);
  __m128i cdab = _mm_shuffle_epi32(dcba, 0xb1);
  __m128i efgh = _mm_shuffle_epi32(hgfe, 0x1b);
  __m128i abef = _mm_alignr_epi8(cdab, efgh, 8);
  __m128i cdgh = _mm_blend_epi16(efgh, cdab, 0xf0);

  for (; n > 0; n--, p += 64) {
    const __m128i abef_in = abef, cdgh_in = cdgh;
    __m128i w[4];
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++) {
      __m128i m;
      if (i < 4) {
        m = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * i)), bswap);
      } else {
        /* W[t..t+3] = sigma1 terms (msg2) + W[t-16] + sigma0(W[t-15]) (msg1) + W[t-7..t-4]. */
        __m128i t = _mm_sha256msg1_epu32(w[i & 3], w[(i + 1) & 3]);
        t = _mm_add_epi32(t, _mm_alignr_epi8(w[(i + 3) & 3], w[(i + 2) & 3], 4));
        m = _mm_sha256msg2_epu32(t, w[(i + 3) & 3]);
      }
      w[i & 3] = m;
      __m128i wk = _mm_add_epi32(m, _mm_loadu_si128((const __m128i *)&K256[4 * i]));
      cdgh = _mm_sha256rnds2_epu32(cdgh, abef, wk);
      abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(wk, 0x0e));
    }
    abef = _mm_add_epi32(abef, abef_in);
    cdgh = _mm_add_epi32(cdgh, cdgh_in);
  }

  __m128i feba = _mm_shuffle_epi32(abef, 0x1b);
  __m128i dchg = _mm_shuffle_epi32(cdgh, 0xb1);
  _mm_storeu_si128((__m128i *)&state[0], _mm_blend_epi16(feba, dchg, 0xf0));
  _mm_storeu_si128((__m128i *)&state[4], _mm_alignr_epi8(dchg, feba, 8));
}
#endif

bool hpm_sha256_accelerated(void) {
#if defined(__x86_64__)
  return sha_ext_present();
#else
  return false;
#endif
}

int hpm_sha256_mbedtls(const uint8_t *data, size_t len, uint8_t out[HPM_DIGEST_LEN], bool accel) {
  mbedtls_sha256_context c;
  int rc;
  mbedtls_sha256_init(&c);
  rc = mbedtls_sha256_starts_ret(&c, 0);
#if defined(__x86_64__)
  if (rc == 0 && accel && sha_ext_present() && len >= 64) {
    /* The context is fresh: nothing buffered, total 0.  Compress the whole
     * blocks, then account for them as mbedTLS would have. */
    size_t blocks = len / 64;
    uint64_t done = (uint64_t)blocks * 64u;
    sha_ext_blocks(c.state, data, blocks);
    c.total[0] = (uint32_t)done;
    c.total[1] = (uint32_t)(done >> 32);
    data += done;
    len -= (size_t)done;
  }
#else
  (void)accel;
#endif
  if (rc == 0)
    rc = mbedtls_sha256_update_ret(&c, data, len);
  if (rc == 0)
    rc = mbedtls_sha256_finish_ret(&c, out);
  mbedtls_sha256_free(&c);
  return rc == 0 ? 0 : -1;
}
