/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the kernel module .modinfo parser and the ELF note
 * parser of the kernel part (host/kmod.c) on arbitrary bytes.  What they
 * accept must hold the promised shapes. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kmod.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  hpmh_kmod_info info;
  char why[200], rel[HPM_KRELEASE_MAX + 1];
  uint8_t id[HPM_KBUILD_ID_MAX];
  if (hpmh_kmod_parse(data, size, &info, why, sizeof why) == 0) {
    if (!info.name[0] || strlen(info.name) > HPM_KMODULE_MAX || info.elf_len > size) __builtin_trap();
    if (strlen(info.vermagic) > HPM_VERMAGIC_MAX) __builtin_trap();
    if (hpmh_vermagic_release(info.vermagic, rel, sizeof rel) == 0 && (!rel[0] || strchr(rel, ' ')))
      __builtin_trap();
  } else if (!why[0]) {
    __builtin_trap();
  }
  int n = hpmh_notes_build_id(data, size, id);
  if (n < -1 || n > (int)HPM_KBUILD_ID_MAX) __builtin_trap();
  return 0;
}
