/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the parsers of the TPM's responses to the floor's
 * NV commands (core/tpmnv.c), bytes hpmboot.efi receives from the TPM.
 * Beyond "no crash": what a parser accepts is consistent with the input —
 * its size field equals the length, a response code is only reported from
 * a complete header, an accepted floor record is exactly "HPMF" + the
 * floor, and an accepted public area is the index hpmboot.efi defines.
 */
#include <stdlib.h>
#include <string.h>

#include "hpm/tpmnv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void check_header(hpm_tpmnv_result r, const uint8_t *data, size_t size, uint32_t rc) {
  if (r == HPM_TPMNV_MALFORMED) return;
  if (size < 10 || be32(data + 2) != size || be32(data + 6) != rc) abort();
  if ((r == HPM_TPMNV_ABSENT || r == HPM_TPMNV_TPM_ERROR) && (rc == 0 || size != 10)) abort();
  if (r != HPM_TPMNV_ABSENT && r != HPM_TPMNV_TPM_ERROR && rc != 0) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > HPM_TPMNV_RSP_MAX) return 0;
  /* A copy of exactly size bytes, so ASan sees any read past the end. */
  uint8_t *copy = malloc(size ? size : 1);
  if (copy == NULL) return 0;
  memcpy(copy, data, size);

  uint32_t rc = 0;
  hpm_tpmnv_public pub;
  memset(&pub, 0, sizeof pub);
  hpm_tpmnv_result r = hpm_tpmnv_parse_read_public(copy, size, &pub, &rc);
  check_header(r, copy, size, rc);
  if (r == HPM_TPMNV_OK &&
      ((pub.attributes & ~(uint32_t)HPM_TPMNV_STATE_BITS) != HPM_TPMNV_ATTRS ||
       pub.size != HPM_TPMNV_SIZE))
    abort();

  uint32_t floor = 0xDEADBEEF;
  r = hpm_tpmnv_parse_read(copy, size, &floor, &rc);
  check_header(r, copy, size, rc);
  if (r == HPM_TPMNV_OK) {
    /* The record is somewhere in the response: "HPMF" then the floor. */
    bool found = false;
    for (size_t i = 0; i + 8 <= size && !found; i++)
      found = memcmp(copy + i, HPM_TPMNV_MAGIC, 4) == 0 && be32(copy + i + 4) == floor;
    if (!found) abort();
  } else if (floor != 0xDEADBEEF) {
    abort();
  }

  r = hpm_tpmnv_parse_status(copy, size, &rc);
  check_header(r, copy, size, rc);
  if (r == HPM_TPMNV_FOREIGN || r == HPM_TPMNV_BAD_DATA || r == HPM_TPMNV_NO_ROOM) abort();

  free(copy);
  return 0;
}
