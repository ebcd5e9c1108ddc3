/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the kernel journal record (runtime/hotpatch/kjournal.c).
 * What it accepts must format back into a record that parses the same. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "hotpatch/kernel.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  hp_kjournal k, k2;
  char text[512];
  if (hp_kjournal_parse((const char *)data, size, &k)) return 0;
  if (!k.module[0]) __builtin_trap();
  size_t n = hp_kjournal_format(&k, text, sizeof text);
  if (!n || hp_kjournal_parse(text, n, &k2) || memcmp(&k, &k2, sizeof k)) __builtin_trap();
  return 0;
}
