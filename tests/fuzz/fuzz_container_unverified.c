/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: hpm_container_parse_unverified (and hpm_container_layout) on
 * raw input: the display path, which parses the header, the signature
 * block's shape and the whole manifest without any signature.
 */
#include <stddef.h>
#include <stdint.h>

#include "shared.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static hpm_manifest m;
  hpm_diag d;
  size_t tbs = 0, sig_off = 0;
  hpm_result lr = hpm_container_layout(data, size, &tbs, &sig_off, &d);
  hpm_result r = hpm_container_parse_unverified(data, size, &m, &d);

  FZ_REQUIRE(d.result == r);
  if (lr == HPM_OK) FZ_REQUIRE(tbs >= HPM_HEADER_SIZE + HPM_MANIFEST_MIN && sig_off >= tbs && sig_off < size);
  if (r == HPM_OK) {
    FZ_REQUIRE(lr == HPM_OK && tbs == HPM_HEADER_SIZE + m.manifest_size);
    fz_check_manifest(data, size, &m, false);
  }
  /* the same with no diagnostics */
  FZ_REQUIRE(hpm_container_parse_unverified(data, size, &m, NULL) == r);
  return 0;
}
