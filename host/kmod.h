/* SPDX-License-Identifier: MIT */
/*
 * Kernel modules and kernel notes, as hpm reads them for the kernel part of
 * a hotpatch (docs/kernel-hotpatch.md): the .modinfo of a livepatch module
 * (ELF64 x86-64 relocatable, optionally with a module signature appended),
 * and the GNU build-id in an ELF note stream such as /sys/kernel/notes.
 * Both parsers take untrusted bytes: bounded, fail-closed, fuzzed
 * (tests/fuzz/fuzz_kmod.c).
 */
#ifndef HPMH_KMOD_H
#define HPMH_KMOD_H

#include <stddef.h>
#include <stdint.h>

#include "hpm/format.h"

typedef struct {
  char name[HPM_KMODULE_MAX + 1];         /* modinfo name= */
  char vermagic[HPM_VERMAGIC_MAX + 1];    /* modinfo vermagic= */
  int livepatch;                          /* modinfo livepatch=Y */
  uint32_t sequence;                      /* modinfo hpm_sequence= (0: absent) */
  size_t elf_len;                         /* bytes before an appended signature */
} hpmh_kmod_info;

/* Parse the module in buf[len].  Returns 0, or -1 with a sentence in why
 * (what is wrong, in which part). */
int hpmh_kmod_parse(const uint8_t *buf, size_t len, hpmh_kmod_info *out, char *why, size_t why_len);

/* The GNU build-id (note "GNU", type 3) in an ELF note stream (4-byte
 * aligned name and descriptor), as /sys/kernel/notes holds it.  Returns
 * its length (1..HPM_KBUILD_ID_MAX) with the bytes in id, 0 if there is
 * none, -1 if the stream is malformed. */
int hpmh_notes_build_id(const uint8_t *buf, size_t len, uint8_t id[HPM_KBUILD_ID_MAX]);

/* The first word of a vermagic: the kernel release it was built for.
 * Copies it into out (cap bytes); returns 0, or -1 when it does not fit or
 * is empty. */
int hpmh_vermagic_release(const char *vermagic, char *out, size_t cap);

#endif
