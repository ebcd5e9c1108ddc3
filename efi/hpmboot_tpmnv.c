/* SPDX-License-Identifier: MIT */
/*
 * The TPM-backed rollback floor (docs/boot-interface.md "TPM floor"): the
 * floor is kept in the NV index HPM_TPMNV_INDEX as well as in the boot
 * state, so clearing the UEFI variables cannot lower it.  hpmboot.efi
 * defines the index when the TPM has none, reads it before selecting, raises
 * it (never lowers it) to the boot state's floor before the handover, then
 * write-locks it until the next TPM reset, so the OS cannot change it.
 * Without a TPM, or when the TPM fails, the floor is the boot state's alone,
 * as before, and the serial log says so.  The commands and the parsers of
 * the TPM's answers are core's (core/tpmnv.c).
 */
#include "hpmboot.h"
#include "hpm/tpmnv.h"

#define NOT_BACKED L"hpm: tpm floor: the rollback floor is not TPM-backed: "

/* Send cmd (cmd_len 0: it did not fit, which cannot happen with
 * HPM_TPMNV_CMD_MAX) and receive the response into rsp. */
static EFI_STATUS transact(const uint8_t *cmd, size_t cmd_len, uint8_t *rsp, UINTN *rsp_len) {
  *rsp_len = HPM_TPMNV_RSP_MAX;
  if (cmd_len == 0) return EFI_BUFFER_TOO_SMALL;
  return hpmboot_tpm_submit(cmd, cmd_len, rsp, rsp_len);
}

/* Log a failed step: the firmware's status, or the parser's verdict and
 * the TPM's response code. */
static void log_failure(const CHAR16 *prefix, const char *step, EFI_STATUS st,
                        hpm_tpmnv_result r, uint32_t rc) {
  if (EFI_ERROR(st))
    Print(L"%s%a NV index " HPM_TPMNV_INDEX_TEXT ": TCG2 SubmitCommand: %r\r\n", prefix, step, st);
  else
    Print(L"%s%a NV index " HPM_TPMNV_INDEX_TEXT ": %a (TPM response code 0x%x)\r\n", prefix,
          step, hpm_tpmnv_result_to_string(r), rc);
}

static bool define_index(void) {
  uint8_t cmd[HPM_TPMNV_CMD_MAX], rsp[HPM_TPMNV_RSP_MAX];
  UINTN n;
  uint32_t rc = 0;
  EFI_STATUS st = transact(cmd, hpm_tpmnv_cmd_define(cmd, sizeof cmd), rsp, &n);
  hpm_tpmnv_result r = EFI_ERROR(st) ? HPM_TPMNV_MALFORMED : hpm_tpmnv_parse_status(rsp, n, &rc);
  if (EFI_ERROR(st) || r != HPM_TPMNV_OK) {
    log_failure(NOT_BACKED, "defining", st, r, rc);
    return false;
  }
  return true;
}

void hpmboot_tpm_floor_load(hpmboot_tpm_floor *f) {
  f->backed = false;
  f->writable = false;
  f->written = false;
  f->floor = 0;
  if (!hpmboot_tpm_present()) {
    Print(NOT_BACKED L"no TPM 2.0 (EFI_TCG2_PROTOCOL)\r\n");
    return;
  }
  uint8_t cmd[HPM_TPMNV_CMD_MAX], rsp[HPM_TPMNV_RSP_MAX];
  UINTN n;
  uint32_t rc = 0;
  hpm_tpmnv_public pub;
  EFI_STATUS st = transact(cmd, hpm_tpmnv_cmd_read_public(cmd, sizeof cmd), rsp, &n);
  hpm_tpmnv_result r =
      EFI_ERROR(st) ? HPM_TPMNV_MALFORMED : hpm_tpmnv_parse_read_public(rsp, n, &pub, &rc);
  if (!EFI_ERROR(st) && r == HPM_TPMNV_ABSENT) {
    if (!define_index()) return;
    f->backed = true;
    f->writable = true;
    Print(L"hpm: tpm floor: defined NV index " HPM_TPMNV_INDEX_TEXT " (no floor yet)\r\n");
    return;
  }
  if (EFI_ERROR(st) || r != HPM_TPMNV_OK) {
    log_failure(NOT_BACKED, "reading the public area of", st, r, rc);
    return;
  }
  f->writable = !pub.locked;
  if (!pub.written) {
    f->backed = true;
    Print(L"hpm: tpm floor: NV index " HPM_TPMNV_INDEX_TEXT " has no floor yet\r\n");
    return;
  }
  st = transact(cmd, hpm_tpmnv_cmd_read(cmd, sizeof cmd), rsp, &n);
  r = EFI_ERROR(st) ? HPM_TPMNV_MALFORMED : hpm_tpmnv_parse_read(rsp, n, &f->floor, &rc);
  if (EFI_ERROR(st) || r != HPM_TPMNV_OK) {
    f->floor = 0;
    f->writable = false;
    log_failure(NOT_BACKED, "reading", st, r, rc);
    return;
  }
  f->backed = true;
  f->written = true;
  Print(L"hpm: tpm floor: NV index " HPM_TPMNV_INDEX_TEXT " holds floor %u%a\r\n", f->floor,
        pub.locked ? " (write-locked)" : "");
}

void hpmboot_tpm_floor_commit(hpmboot_tpm_floor *f, uint32_t floor) {
  if (!f->backed) return;
  uint8_t cmd[HPM_TPMNV_CMD_MAX], rsp[HPM_TPMNV_RSP_MAX];
  UINTN n;
  uint32_t rc = 0;
  EFI_STATUS st;
  hpm_tpmnv_result r;
  /* The first record is written even for floor 0: a written index is
   * then always one hpmboot.efi wrote. */
  if (floor > f->floor || !f->written) {
    if (!f->writable) {
      Print(L"hpm: tpm floor: error: NV index " HPM_TPMNV_INDEX_TEXT
            " is write-locked until the next TPM reset; it keeps floor %u (boot state: %u)\r\n",
            f->floor, floor);
    } else {
      st = transact(cmd, hpm_tpmnv_cmd_write(cmd, sizeof cmd, floor), rsp, &n);
      r = EFI_ERROR(st) ? HPM_TPMNV_MALFORMED : hpm_tpmnv_parse_status(rsp, n, &rc);
      if (EFI_ERROR(st) || r != HPM_TPMNV_OK) {
        log_failure(L"hpm: tpm floor: error: ", "raising", st, r, rc);
      } else {
        if (f->written)
          Print(L"hpm: tpm floor: raised from %u to %u\r\n", f->floor, floor);
        else
          Print(L"hpm: tpm floor: wrote floor %u (first record)\r\n", floor);
        f->floor = floor;
        f->written = true;
      }
    }
  }
  if (!f->writable) return;
  st = transact(cmd, hpm_tpmnv_cmd_write_lock(cmd, sizeof cmd), rsp, &n);
  r = EFI_ERROR(st) ? HPM_TPMNV_MALFORMED : hpm_tpmnv_parse_status(rsp, n, &rc);
  if (EFI_ERROR(st) || r != HPM_TPMNV_OK) {
    log_failure(L"hpm: tpm floor: error: ", "write-locking", st, r, rc);
    return;
  }
  f->writable = false;
  Print(L"hpm: tpm floor: write-locked until the next TPM reset\r\n");
}
