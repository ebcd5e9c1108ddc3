/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the hotpatch payload parser and the ELF build-id parser
 * (host/payload.c) on arbitrary bytes.  Every accepted payload is walked
 * the way hpm walks it, so decoded fields stay in bounds. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "payload.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  hpp_payload p;
  char why[160];
  if (hpp_parse(data, size, &p, why, sizeof why) == HPP_OK) {
    volatile uint64_t sink = 0;
    for (uint32_t i = 0; i < p.func_count; i++) {
      hpp_func f;
      hpp_func_get(&p, i, &f);
      if (f.region_len > HPP_REGION_MAX || f.image_off >= p.image_size) __builtin_trap();
      sink += f.orig[f.region_len - 1] + p.image[f.image_off];
    }
    for (uint32_t i = 0; i < p.reloc_count; i++) {
      hpp_reloc r;
      hpp_reloc_get(&p, i, &r);
      uint32_t w = r.type == HPP_R_ABS64 ? 8 : 4;
      if (r.offset + w > p.image_size) __builtin_trap();
      if (r.base == HPP_B_IMPORT && (r.import >= p.import_count || r.type != HPP_R_ABS64)) __builtin_trap();
      sink += p.image[r.offset + w - 1];
    }
    for (uint32_t i = 0; i < p.import_count; i++) { /* version 3: names and versions are terminated, no '@' */
      hpp_import im;
      hpp_import_get(&p, i, &im);
      size_t nl = strlen(im.name);
      if (!nl || nl > HPP_IMPORT_NAME_MAX || strlen(im.version) > HPP_IMPORT_VER_MAX || strchr(im.name, '@'))
        __builtin_trap();
      sink += (uint8_t)im.name[nl - 1];
    }
    (void)sink;
  }
  hpp_elf_info info;
  if (hpp_elf_info_parse(data, size, &info) == 0 && (info.build_id_len < 1 || info.build_id_len > HPP_BUILD_ID_MAX))
    __builtin_trap();
  return 0;
}
