/* SPDX-License-Identifier: MIT */
/*
 * Verify throughput of core's host build (-O2, libhpmcore.a).
 *
 *   bench_verify make <dir> <MiB>   write <dir>/payload.bin (deterministic
 *                                  bytes) and <dir>/bench.hpm, a baseline
 *                                  whose kernel is that payload, embedded,
 *                                  signed with a P-256 key derived from a
 *                                  fixed seed (made with hpmw)
 *   bench_verify run <dir> [runs]   mmap bench.hpm and time
 *                                  hpm_container_verify (best of runs, 3),
 *                                  plus, for the breakdown, mbedtls_sha256
 *                                  alone and hpm_sha256 over the same
 *                                  payload bytes
 *
 * "run" prints one line per measurement, machine-readable:
 *   <name> <bytes> <best seconds>
 * bench/run.sh turns these into MB/s and compares with sha256sum/openssl.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/pk.h>
#include <mbedtls/sha256.h>

#include "hpm/core.h"
#include "hpmw.h"

static void die(const char *what, const char *msg) {
  fprintf(stderr, "bench_verify: %s: %s\n", what, msg);
  exit(1);
}

static int fixed_entropy(void *ctx, unsigned char *out, size_t len) {
  (void)ctx;
  for (size_t i = 0; i < len; i++) out[i] = (unsigned char)(0xb3 ^ (i * 29));
  return 0;
}

/* The same P-256 key on every run (a benchmark key, trusted nowhere). */
static void bench_key(mbedtls_pk_context *pk, hpm_pubkey *pub) {
  mbedtls_ctr_drbg_context drbg;
  hpmh_status e;
  mbedtls_ctr_drbg_init(&drbg);
  mbedtls_pk_init(pk);
  if (mbedtls_ctr_drbg_seed(&drbg, fixed_entropy, NULL, (const unsigned char *)"hpm bench", 9) ||
      mbedtls_pk_setup(pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) ||
      mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(*pk), mbedtls_ctr_drbg_random,
                          &drbg))
    die("key", "generation failed");
  mbedtls_ctr_drbg_free(&drbg);
  if (hpmh_public_of(pk, pub, &e)) die("key", e.detail);
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int cmd_make(const char *dir, size_t mib) {
  size_t n = mib << 20;
  uint8_t *payload = malloc(n), *buf;
  size_t len;
  uint64_t x = 0x9e3779b97f4a7c15ull;
  char path[4096];
  mbedtls_pk_context pk;
  hpm_pubkey pub;
  hpmh_status e;
  static const char cmdline[] = "console=ttyS0 quiet";

  if (!payload) die("payload", "out of memory");
  /* xorshift64*: incompressible, deterministic */
  for (size_t i = 0; i + 8 <= n; i += 8) {
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    uint64_t v = x * 0x2545f4914f6cdd1dull;
    memcpy(payload + i, &v, 8);
  }
  snprintf(path, sizeof path, "%s/payload.bin", dir);
  if (hpmh_write_file(path, payload, n, 0644, 0, &e)) die(path, e.detail);

  hpmw_payload pl[2] = {
      {"kernel", HPM_PAYLOAD_KERNEL, payload, n, NULL},
      {"cmdline", HPM_PAYLOAD_CMDLINE, (const uint8_t *)cmdline, sizeof cmdline - 1, NULL},
  };
  hpmw_manifest m = {.kind = HPM_KIND_BASELINE, .compat = "hpm-x86_64", .version = "bench",
                     .svn = 1, .timestamp = 1700000000, .release = HPM_RELEASE_PLANNED,
                     .payloads = pl, .payload_count = 2};
  bench_key(&pk, &pub);
  if (hpmw_build(&m, &buf, &len, &e)) die("build", e.detail);
  free(payload);
  if (hpmw_sign_container(&buf, &len, &pk, &e)) die("sign", e.detail);
  snprintf(path, sizeof path, "%s/bench.hpm", dir);
  if (hpmh_write_file(path, buf, len, 0644, 0, &e)) die(path, e.detail);
  free(buf);
  mbedtls_pk_free(&pk);
  printf("bench: wrote %s/payload.bin (%zu MiB) and %s/bench.hpm (%zu bytes)\n", dir, mib, dir, len);
  return 0;
}

static int cmd_run(const char *dir, int runs) {
  char path[4096];
  struct stat st;
  const uint8_t *c;
  hpm_manifest *m = calloc(1, sizeof *m);
  hpm_diag d;
  mbedtls_pk_context pk;
  hpm_pubkey pub;
  hpm_trust trust = {&pub, 1, 1};
  const hpm_payload *kernel;
  double best_verify = 1e30, best_mbed = 1e30, best_hpm = 1e30;
  uint8_t h[32];
  int fd;

  snprintf(path, sizeof path, "%s/bench.hpm", dir);
  fd = open(path, O_RDONLY);
  if (fd < 0 || fstat(fd, &st)) die(path, strerror(errno));
  /* MAP_POPULATE: the page faults are not part of the measurement (the
   * other tools read from the page cache too). */
  c = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
  if (c == MAP_FAILED) die(path, strerror(errno));
  close(fd);
  if (!m) die("manifest", "out of memory");
  bench_key(&pk, &pub);

  for (int i = 0; i < runs; i++) {
    double t0 = now(), t;
    hpm_result r = hpm_container_verify(c, (size_t)st.st_size, HPM_KIND_BASELINE, &trust, NULL, m, &d);
    t = now() - t0;
    if (r != HPM_OK) die("verify", hpm_result_to_string(r));
    if (t < best_verify) best_verify = t;
  }
  kernel = &m->payloads[0];
  for (int i = 0; i < runs; i++) {
    double t0 = now(), t;
    if (mbedtls_sha256_ret(kernel->data, (size_t)kernel->size, h, 0)) die("sha256", "failed");
    t = now() - t0;
    if (t < best_mbed) best_mbed = t;
    t0 = now();
    if (hpm_sha256(kernel->data, (size_t)kernel->size, h) != HPM_OK) die("sha256", "failed");
    t = now() - t0;
    if (t < best_hpm) best_hpm = t;
  }
  if (memcmp(h, kernel->sha256, 32) != 0) die("sha256", "payload hash differs");
  /* throughput is reported per payload byte: that is what sha256sum hashes */
  printf("hpm_container_verify %llu %.6f\n", (unsigned long long)kernel->size, best_verify);
  printf("mbedtls_sha256 %llu %.6f\n", (unsigned long long)kernel->size, best_mbed);
  printf("hpm_sha256 %llu %.6f\n", (unsigned long long)kernel->size, best_hpm);
  munmap((void *)c, (size_t)st.st_size);
  mbedtls_pk_free(&pk);
  free(m);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 4 && strcmp(argv[1], "make") == 0) return cmd_make(argv[2], (size_t)atol(argv[3]));
  if (argc >= 3 && strcmp(argv[1], "run") == 0) return cmd_run(argv[2], argc > 3 ? atoi(argv[3]) : 3);
  fprintf(stderr, "usage: bench_verify make <dir> <MiB> | run <dir> [runs]\n");
  return 2;
}
