/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: the manifest parser.  The input is a manifest (FDT).  It is
 *  1. parsed directly by core's schema (hpm_manifest_parse, core's internal
 *     entry point) from libFuzzer's exact-size buffer, so any read past the
 *     manifest is an ASan report; and
 *  2. wrapped as the manifest of an otherwise valid container (header of
 *     each kind, a zero-filled payload area, an empty signature block) and
 *     run through hpm_container_parse_unverified: signature checking would
 *     stop a fuzzer at the first changed byte, the unverified parse runs the
 *     same header and manifest checks without it.
 * The payload area's size is taken from the input's own payload sizes (read
 * here with libfdt, independently of core) so embedded payloads can tile it.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <libfdt.h>

#include "../../core/internal.h"
#include "shared.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define AREA_CAP (1u << 20)

/* Sum of the "size" of /payloads/<x> nodes that have an "offset"; 0 if the
 * input is not a usable FDT or the sum is over AREA_CAP. */
static uint64_t guess_area(const uint8_t *fdt, size_t size) {
  static hpm_manifest probe;
  hpm_diag d;
  int pl, n;
  uint64_t sum = 0;
  /* libfdt itself hangs or crashes on some malformed trees (which is why
   * core prechecks them): only walk an FDT that core's structural checks
   * passed, i.e. whose parse failed later than those checks or not at all. */
  memset(&probe, 0, sizeof probe);
  hpm_result r = hpm_manifest_parse(fdt, size, &probe, &d);
  if (r == HPM_E_BAD_MANIFEST || r == HPM_E_TRAILING_DATA) return 0;
  pl = fdt_subnode_offset(fdt, 0, "payloads");
  if (pl < 0) return 0;
  fdt_for_each_subnode(n, fdt, pl) {
    int len;
    const void *sz = fdt_getprop(fdt, n, "size", &len);
    if (!sz || len != 8 || !fdt_getprop(fdt, n, "offset", NULL)) continue;
    sum += fdt64_ld(sz);
    if (sum > AREA_CAP) return 0;
  }
  return sum;
}

static void put32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static hpm_manifest m;
  hpm_diag d;
  uint64_t area;
  size_t len;
  uint8_t *c;

  /* core only ever hands the schema HPM_MANIFEST_MIN..MAX bytes */
  if (size < HPM_MANIFEST_MIN || size > HPM_MANIFEST_MAX) return 0;

  /* 1. the schema alone, on the exact bytes */
  for (int a = 0; a < 2; a++) {
    memset(&m, 0, sizeof m);
    m.payload_area_size = a ? guess_area(data, size) : 0;
    (void)hpm_manifest_parse(data, size, &m, &d);
  }

  /* 2. inside a container, for each kind */
  area = guess_area(data, size);
  len = HPM_HEADER_SIZE + size + (size_t)area + HPM_SIG_HEADER_SIZE;
  c = calloc(1, len);
  if (!c) return 0;
  memcpy(c, HPM_MAGIC, HPM_MAGIC_LEN);
  put32(c + HPM_HDR_OFF_FORMAT, HPM_FORMAT_VERSION);
  put32(c + HPM_HDR_OFF_HEADER_SIZE, HPM_HEADER_SIZE);
  put32(c + HPM_HDR_OFF_MANIFEST_SIZE, (uint32_t)size);
  put32(c + HPM_HDR_OFF_PAYLOAD_SIZE, (uint32_t)area);
  memcpy(c + HPM_HEADER_SIZE, data, size);
  memcpy(c + HPM_HEADER_SIZE + size + area, HPM_SIG_MAGIC, HPM_SIG_MAGIC_LEN);
  for (uint32_t kind = HPM_KIND_BASELINE; kind <= HPM_KIND_CATALOG; kind++) {
    hpm_result r;
    put32(c + HPM_HDR_OFF_KIND, kind);
    r = hpm_container_parse_unverified(c, len, &m, &d);
    FZ_REQUIRE(d.result == r);
    if (r == HPM_OK) {
      FZ_REQUIRE(m.kind == (hpm_kind)kind);
      fz_check_manifest(c, len, &m, false);
    }
  }
  free(c);
  return 0;
}
