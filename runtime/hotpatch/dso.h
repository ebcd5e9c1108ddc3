/* SPDX-License-Identifier: MIT */
/*
 * The dynamic symbols of a shared object (or executable) as the dynamic
 * linker sees them: its PT_DYNAMIC, .dynsym through .gnu.hash (or the SysV
 * .hash), symbol versions (.gnu.version, .gnu.version_d) and its dynamic
 * relocations.  A bounded, fail-closed parser of the file's bytes (fuzzed by
 * tests/fuzz/fuzz_dso.c); it never allocates and never writes through the
 * input.  Used by imports.c to resolve a payload's imports in a process.
 */
#ifndef HPM_RUNTIME_HOTPATCH_DSO_H
#define HPM_RUNTIME_HOTPATCH_DSO_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
  const uint8_t *buf;
  size_t len;
  uint64_t symtab, strtab, strsz;  /* file offsets (strsz a size) */
  uint64_t gnu_hash, sysv_hash;    /* file offsets, 0: none */
  uint64_t versym, verdef;         /* file offsets, 0: none */
  uint32_t verdefnum;
  uint64_t rela, relasz, jmprel, pltrelsz; /* file offsets and sizes (RELA only) */
} hp_dso;

enum { HP_DSO_FUNC = 1, HP_DSO_OBJECT = 2, HP_DSO_IFUNC = 3, HP_DSO_TLS = 4 };

typedef struct {
  uint64_t value;   /* st_value: vaddr before the load bias (IFUNC: its resolver) */
  uint64_t size;
  int kind;         /* HP_DSO_* */
  int weak;
} hp_dso_sym;

/* Parse an ELF64 x86-64 ET_DYN/ET_EXEC file held whole in buf.  0, or -1
 * with a reason in why. */
int hp_dso_parse(const uint8_t *buf, size_t len, hp_dso *d, char *why, size_t whylen);

/* The definition of name the dynamic linker would bind: version NULL or ""
 * asks for the default (an unversioned symbol, or the one non-hidden
 * version, `name@@V`); otherwise exactly `name@version` (hidden or not).
 * 0 found, -1 not defined here. */
int hp_dso_lookup(const hp_dso *d, const char *name, const char *version, hp_dso_sym *out);

/* The GOT slot (vaddr before the bias) that an R_X86_64_IRELATIVE
 * relocation with this resolver fills: 0, or -1 none. */
int hp_dso_irelative_slot(const hp_dso *d, uint64_t resolver, uint64_t *slot);

/* The GOT slot of a R_X86_64_JUMP_SLOT or R_X86_64_GLOB_DAT relocation
 * against a symbol named name (the object's own import of it): 0, or -1. */
int hp_dso_import_slot(const hp_dso *d, const char *name, uint64_t *slot);

#endif
