/* SPDX-License-Identifier: MIT */
/*
 * make bench: SHA-256 throughput of the code paths the boot stage can use
 * (core/sha256_accel.c: mbedTLS's portable code, and the SHA-NI block loop
 * when this CPU has the SHA extensions) against the host seam (OpenSSL),
 * natively on this machine, best of RUNS over a MIB MiB buffer in memory.
 * QEMU's TCG (7.2) does not emulate the SHA extensions, so inside the
 * firmware tests the boot stage always takes the portable path; this is
 * the figure for real hardware.  Figures, not pass/fail.
 *
 *   bench_sha [MiB (64)] [runs (3)]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hpm/core.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double best(const uint8_t *p, size_t n, int runs, int which, uint8_t out[32]) {
  double b = 1e30;
  for (int r = 0; r < runs; r++) {
    double t0 = now();
    int rc = which == 2 ? (hpm_sha256(p, n, out) == HPM_OK ? 0 : -1) : hpm_sha256_mbedtls(p, n, out, which == 1);
    double t = now() - t0;
    if (rc) {
      fprintf(stderr, "bench_sha: hashing failed\n");
      exit(1);
    }
    if (t < b) b = t;
  }
  return b;
}

int main(int argc, char **argv) {
  size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 64;
  int runs = argc > 2 ? atoi(argv[2]) : 3;
  if (mib == 0 || runs <= 0) {
    fprintf(stderr, "usage: bench_sha [MiB] [runs]\n");
    return 2;
  }
  size_t n = mib << 20;
  uint8_t *p = malloc(n), d0[32], d1[32], d2[32];
  if (!p) return 1;
  for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(i * 131u + (i >> 13));
  double sw = best(p, n, runs, 0, d0), hw = best(p, n, runs, 1, d1), ossl = best(p, n, runs, 2, d2);
  free(p);
  if (memcmp(d0, d2, 32) || memcmp(d1, d2, 32)) {
    fprintf(stderr, "bench_sha: digests differ between implementations\n");
    return 1;
  }
  double mb = (double)n / 1e6;
  printf("\nboot-stage SHA-256 natively (%zu MiB in memory, best of %d), this CPU %s SHA extensions:\n", mib,
         runs, hpm_sha256_accelerated() ? "has" : "lacks");
  printf("  mbedTLS portable       %8.1f MB/s\n", mb / sw);
  printf("  SHA-NI block loop      %8.1f MB/s  (%.2fx portable)%s\n", mb / hw, sw / hw,
         hpm_sha256_accelerated() ? "" : "  [not available: same as portable]");
  printf("  OpenSSL (host seam)    %8.1f MB/s  (SHA-NI loop at %.2fx of it)\n", mb / ossl, ossl / hw);
  return 0;
}
