/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the dynamic-symbol parser hpm apply uses to resolve a
 * payload's imports in a process (runtime/hotpatch/dso.c) on arbitrary
 * bytes standing for a mapped ELF file: parse, then look up names with and
 * without versions and walk the relocation tables, as imports.c does. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "hotpatch/dso.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  hp_dso d;
  char why[160];
  if (hp_dso_parse(data, size, &d, why, sizeof why)) {
    if (!memchr(why, 0, sizeof why)) __builtin_trap();
    return 0;
  }
  static const char *names[][2] = {{"strlen", NULL}, {"memcpy", "GLIBC_2.14"}, {"memcpy", "GLIBC_2.2.5"},
                                   {"imp_value", "V1"}, {"imp_value", ""}, {"a", NULL}, {"", NULL}};
  volatile uint64_t sink = 0;
  for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
    hp_dso_sym s;
    uint64_t slot;
    if (!hp_dso_lookup(&d, names[i][0], names[i][1], &s)) {
      if (s.kind < 1 || s.kind > 4) __builtin_trap();
      sink += s.value;
      if (s.kind == HP_DSO_IFUNC && !hp_dso_irelative_slot(&d, s.value, &slot)) sink += slot;
    }
    if (!hp_dso_import_slot(&d, names[i][0], &slot)) sink += slot;
  }
  (void)sink;
  return 0;
}
