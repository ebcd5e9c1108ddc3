/* SPDX-License-Identifier: MIT */
/*
 * The hotpatch payload (docs/hotpatch-payload.md): the opaque bytes of one
 * `patch` payload of a signed hotpatch container.  One payload targets one
 * ELF binary (by build-id) and carries the replacement code as a relocatable
 * image plus the list of functions it redirects.
 *
 * hpp_parse() is bounded and fail-closed; it never writes through
 * the input and never allocates: the parsed view points into the buffer.
 * Shared by the runtime (hpm), the builder (hpm-patchgen) and the fuzzer.
 */
#ifndef HPMH_PAYLOAD_H
#define HPMH_PAYLOAD_H

#include <stddef.h>
#include <stdint.h>

#define HPP_MAGIC "HPMPATCH"
#define HPP_MAGIC_LEN 8
#define HPP_VERSION 3u       /* read 1..3; written: the lowest that describes the payload */
#define HPP_DIRECT_MIN 3u    /* PAD: body bytes a direct entry jump needs past the 2-byte nop */
#define HPP_HEADER_SIZE 112u   /* fixed header incl. the 64-byte build-id field */
#define HPP_FUNC_SIZE 128u
#define HPP_RELOC_SIZE 16u
#define HPP_BUILD_ID_MAX 64u
#define HPP_MAX_FUNCS 1024u
#define HPP_MAX_RELOCS 65536u
#define HPP_IMAGE_MAX (16u * 1024u * 1024u)
#define HPP_REGION_MAX 32u
#define HPP_NAME_MAX 63u       /* symbol name, NUL-padded in a 64-byte field */
#define HPP_PAGE 4096u
#define HPP_IMPORT_SIZE 128u
#define HPP_MAX_IMPORTS 1024u
#define HPP_IMPORT_NAME_MAX 95u  /* symbol name, NUL-padded in a 96-byte field */
#define HPP_IMPORT_VER_MAX 31u   /* symbol version ("" = the default), in a 32-byte field */
#define HPP_IMPORT_ADDEND_MAX ((int64_t)1 << 31)

enum hpp_mode { HPP_MODE_PAD = 1, HPP_MODE_PROLOGUE = 2, HPP_MODE_CALL = 3 /* v2: a direct call/jmp to a redirected entry */ };
enum hpp_reloc_type { HPP_R_ABS64 = 1, HPP_R_PC32 = 2 };
enum hpp_reloc_base { HPP_B_IMAGE = 1, HPP_B_TARGET = 2, HPP_B_IMPORT = 3 /* v3: a shared-library symbol */ };
#define HPP_F_QUIESCE 1u      /* no thread may be inside the old function */

typedef struct {
  char name[HPP_NAME_MAX + 1];
  uint64_t entry;        /* st_value of the symbol: vaddr in the binary */
  uint64_t region;       /* vaddr of the first byte the redirection rewrites */
  uint32_t size;         /* st_size of the function (quiescence checks) */
  uint32_t image_off;    /* replacement entry, offset in the image */
  uint8_t mode;          /* hpp_mode */
  uint8_t region_len;    /* bytes rewritten, 5..32; PAD: flip_off+2, or more
                            (version 2) when the entry takes a direct jump */
  uint8_t flip_off;      /* PAD: offset of the 2-byte entry nop in the region */
  uint8_t flags;
  uint16_t inlined;      /* the binary's inlined copies of it, all inside
                            functions this payload also replaces */
  uint16_t inlined_stale; /* inlined copies this payload does not reach:
                            their callers keep the old code */
  uint8_t orig[HPP_REGION_MAX]; /* expected bytes at region..region+region_len */
} hpp_func;

typedef struct {
  uint32_t offset;       /* in the image */
  uint8_t type;          /* hpp_reloc_type */
  uint8_t base;          /* hpp_reloc_base */
  uint16_t import;       /* HPP_B_IMPORT: index in the imports table (else 0) */
  int64_t value;         /* image offset or binary vaddr, plus addend (HPP_B_IMPORT: the addend) */
} hpp_reloc;

/* A symbol of the target process's shared libraries that patch code uses
 * (version 3): resolved in each process at apply time; the HPP_B_IMPORT
 * relocations naming its index are the places (GOT slots) that get its address. */
typedef struct {
  char name[HPP_IMPORT_NAME_MAX + 1];
  char version[HPP_IMPORT_VER_MAX + 1]; /* "" : the default version (or an unversioned symbol) */
} hpp_import;

typedef struct {
  uint8_t build_id[HPP_BUILD_ID_MAX];
  uint32_t version;      /* 1, 2 or 3 */
  uint32_t build_id_len;
  uint32_t func_count;
  uint32_t reloc_count;
  uint32_t import_count; /* version 3; else 0 */
  uint32_t image_size;
  uint32_t data_off;     /* page-aligned start of the writable part (== image_size: none) */
  const uint8_t *funcs;  /* raw tables, decoded one at a time */
  const uint8_t *relocs;
  const uint8_t *imports;
  const uint8_t *image;
} hpp_payload;

typedef enum {
  HPP_OK = 0,
  HPP_E_TRUNCATED,
  HPP_E_MAGIC,
  HPP_E_VERSION,
  HPP_E_HEADER,
  HPP_E_LIMIT,
  HPP_E_FUNC,
  HPP_E_RELOC,
  HPP_E_TRAILING,
  HPP_E_IMPORT,
} hpp_result;

const char *hpp_result_to_string(hpp_result r);

/* Validate everything (header, every function and relocation) and fill p.
 * detail (may be NULL) gets a short reason naming the field. */
__attribute__((warn_unused_result)) hpp_result
hpp_parse(const uint8_t *buf, size_t len, hpp_payload *p, char *detail, size_t detail_len);

/* Decode entry i (< func_count / reloc_count) of a parsed payload. */
void hpp_func_get(const hpp_payload *p, uint32_t i, hpp_func *f);
void hpp_reloc_get(const hpp_payload *p, uint32_t i, hpp_reloc *r);
void hpp_import_get(const hpp_payload *p, uint32_t i, hpp_import *im);

/* Encoders for the builder. */
/* Little-endian 32-bit load and store (the payload's byte order; also hpm's
 * transition-mapping header). */
uint32_t hpp_ld32(const uint8_t *p);
void hpp_st32(uint8_t *p, uint32_t v);

void hpp_put_header(uint8_t *out, const hpp_payload *p);
void hpp_put_func(uint8_t *out, const hpp_func *f);
void hpp_put_reloc(uint8_t *out, const hpp_reloc *r);
void hpp_put_import(uint8_t *out, const hpp_import *im);

/* ---- ELF facts of a target binary (bounded parser, fuzzed) ---- */
typedef struct {
  uint8_t build_id[HPP_BUILD_ID_MAX];
  uint32_t build_id_len;
  uint64_t first_load_vaddr; /* p_vaddr - p_offset of the PT_LOAD with the lowest offset */
  int is_dyn;                /* ET_DYN (PIE or shared object) */
} hpp_elf_info;

/* Parse an ELF64 x86-64 file image held in buf (at least the headers and
 * notes: callers may pass a prefix).  Returns 0 or -1. */
int hpp_elf_info_parse(const uint8_t *buf, size_t len, hpp_elf_info *out);

#endif
