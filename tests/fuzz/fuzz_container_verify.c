/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: hpm_container_verify with a fixed trust set (a P-256 and a
 * P-384 key from fixed scalars, threshold 1) and hpm_ops serving two fixed
 * detached files.  The seeds (made by gen_corpus with the same keys) carry
 * valid signatures, so mutations of the payload area and the signature
 * block still reach the manifest parser and the payload checks, while
 * mutations of the signed bytes exercise the refusal paths.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "mbedtls_alloc.h"
#include "shared.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const hpm_trust *trust;
static fz_files files;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  trust = fz_trust("fuzz_container_verify");
  fz_files_init(&files);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static hpm_manifest m;
  hpm_diag d;
  int ok = 0;
  static const hpm_kind kinds[] = {HPM_KIND_BASELINE, HPM_KIND_HOTPATCH, HPM_KIND_CATALOG};
  for (size_t k = 0; k < 3; k++) {
    hpm_result r = hpm_container_verify(data, size, kinds[k], trust, fz_ops(&files), &m, &d);
    FZ_REQUIRE(d.result == r);
    if (r != HPM_OK) continue;
    ok++;
    FZ_REQUIRE(m.kind == kinds[k]);
    fz_check_manifest(data, size, &m, true);
    /* what verifies must also parse for display, with the same fields */
    {
      static hpm_manifest u;
      FZ_REQUIRE(hpm_container_parse_unverified(data, size, &u, NULL) == HPM_OK);
      FZ_REQUIRE(memcmp(u.digest, m.digest, 32) == 0 && u.payload_count == m.payload_count &&
                 u.svn == m.svn && u.sequence == m.sequence);
    }
  }
  FZ_REQUIRE(ok <= 1); /* one signed kind */
  FZ_REQUIRE(fz_mbedtls_live() == 0); /* every mbedTLS context freed */
  return 0;
}
