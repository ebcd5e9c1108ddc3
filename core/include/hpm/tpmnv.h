/* SPDX-License-Identifier: MIT */
/*
 * The TPM-backed rollback floor (docs/boot-interface.md "TPM floor"): the
 * TPM 2.0 commands hpmboot.efi sends to keep the anti-rollback floor in an
 * NV index as well as in the boot state, marshalled here, and the parsers
 * of the TPM's responses (untrusted bytes: every length is bounded).
 * Freestanding, so the same code is unit-tested and fuzzed on the host.
 */
#ifndef HPM_TPMNV_H
#define HPM_TPMNV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The NV index: a fixed handle in the TPM owner range (0x01000000 to
 * 0x013FFFFF in the TCG handle registry), "HP" in its low bytes. */
#define HPM_TPMNV_INDEX 0x01004850u
#define HPM_TPMNV_INDEX_TEXT "0x01004850"

/* Its data: the magic "HPMF" then the floor, big-endian uint32. */
#define HPM_TPMNV_SIZE 8u
#define HPM_TPMNV_MAGIC "HPMF"

/* TPMA_NV bits (TPM 2.0 Part 2, 13.4). */
#define HPM_TPMA_NV_AUTHWRITE 0x00000004u
#define HPM_TPMA_NV_WRITELOCKED 0x00000800u
#define HPM_TPMA_NV_WRITEALL 0x00001000u
#define HPM_TPMA_NV_WRITE_STCLEAR 0x00004000u
#define HPM_TPMA_NV_OWNERREAD 0x00020000u
#define HPM_TPMA_NV_AUTHREAD 0x00040000u
#define HPM_TPMA_NV_NO_DA 0x02000000u
#define HPM_TPMA_NV_READLOCKED 0x10000000u
#define HPM_TPMA_NV_WRITTEN 0x20000000u
/* The attributes hpmboot.efi defines the index with: an ordinary index,
 * read and written with its own (empty) auth value, written whole, write-
 * lockable until the next TPM reset, no dictionary-attack counting. */
#define HPM_TPMNV_ATTRS                                                              \
  (HPM_TPMA_NV_AUTHWRITE | HPM_TPMA_NV_WRITEALL | HPM_TPMA_NV_WRITE_STCLEAR |       \
   HPM_TPMA_NV_OWNERREAD | HPM_TPMA_NV_AUTHREAD | HPM_TPMA_NV_NO_DA)
/* The bits that report state rather than define the index. */
#define HPM_TPMNV_STATE_BITS \
  (HPM_TPMA_NV_WRITELOCKED | HPM_TPMA_NV_READLOCKED | HPM_TPMA_NV_WRITTEN)

/* Room for any command below and any response they get. */
#define HPM_TPMNV_CMD_MAX 64u
#define HPM_TPMNV_RSP_MAX 256u

typedef enum {
  HPM_TPMNV_OK = 0,
  HPM_TPMNV_ABSENT,    /* the TPM says: no index at HPM_TPMNV_INDEX */
  HPM_TPMNV_TPM_ERROR, /* the TPM answered with another error code (*rc) */
  HPM_TPMNV_MALFORMED, /* the response does not parse */
  HPM_TPMNV_FOREIGN,   /* an index at the handle with other attributes or size */
  HPM_TPMNV_BAD_DATA,  /* the index's data is not "HPMF" + floor */
  HPM_TPMNV_NO_ROOM,   /* the command buffer is too small */
} hpm_tpmnv_result;

const char *hpm_tpmnv_result_to_string(hpm_tpmnv_result r);

/* Commands: each writes one complete command into buf[0..cap) and returns
 * its length, or 0 when cap is too small (HPM_TPMNV_CMD_MAX always fits).
 * The authorised ones use a password session with the empty auth value:
 * of the index itself (read, write, write-lock) or of the owner hierarchy
 * (define). */
size_t hpm_tpmnv_cmd_read_public(uint8_t *buf, size_t cap);
size_t hpm_tpmnv_cmd_read(uint8_t *buf, size_t cap);
size_t hpm_tpmnv_cmd_define(uint8_t *buf, size_t cap);
size_t hpm_tpmnv_cmd_write(uint8_t *buf, size_t cap, uint32_t floor);
size_t hpm_tpmnv_cmd_write_lock(uint8_t *buf, size_t cap);

/* The index as TPM2_NV_ReadPublic describes it. */
typedef struct {
  uint32_t attributes;
  uint16_t size;
  bool written; /* TPMA_NV_WRITTEN: it has data */
  bool locked;  /* TPMA_NV_WRITELOCKED: no write until the next TPM reset */
} hpm_tpmnv_public;

/* Responses.  *rc receives the response code whenever the header parses
 * (else 0).  OK only when the response is complete and consistent. */
/* ReadPublic: ABSENT on TPM_RC_HANDLE; FOREIGN when the index at the
 * handle is not one hpmboot.efi defines (other handle, name algorithm,
 * attributes, policy or size); *pub is filled for OK and FOREIGN. */
hpm_tpmnv_result hpm_tpmnv_parse_read_public(const uint8_t *rsp, size_t len,
                                             hpm_tpmnv_public *pub, uint32_t *rc);
/* NV_Read of the whole index: *floor from "HPMF" + big-endian floor. */
hpm_tpmnv_result hpm_tpmnv_parse_read(const uint8_t *rsp, size_t len, uint32_t *floor,
                                      uint32_t *rc);
/* DefineSpace, Write, WriteLock: success or the TPM's code. */
hpm_tpmnv_result hpm_tpmnv_parse_status(const uint8_t *rsp, size_t len, uint32_t *rc);

#endif
