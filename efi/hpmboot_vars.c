/* SPDX-License-Identifier: MIT */
/*
 * hpmboot.efi's UEFI variables (docs/boot-interface.md "Variables"): the
 * two boot-state records, the OS's requests, and what the boot stage
 * publishes for the OS.  Names, attributes and record texts come from core
 * (hpm/bootif.h).
 */
#include "hpmboot.h"

EFI_GUID hpmboot_guid = HPM_VENDOR_GUID_INIT;

static const CHAR16 *state_name(unsigned copy) {
  return copy == 0 ? HPMBOOT_VAR(HPM_VAR_STATE0) : HPMBOOT_VAR(HPM_VAR_STATE1);
}

hpm_bs_result hpmboot_state_read(void *ctx, unsigned copy, uint8_t *buf, size_t *len) {
  (void)ctx;
  UINT32 attrs = 0;
  UINTN n = *len;
  EFI_STATUS st = uefi_call_wrapper(RT->GetVariable, 5, (CHAR16 *)state_name(copy), &hpmboot_guid,
                                    &attrs, &n, buf);
  if (st == EFI_NOT_FOUND) return HPM_BS_E_ABSENT;
  if (st == EFI_BUFFER_TOO_SMALL) return HPM_BS_E_SIZE;
  if (EFI_ERROR(st)) {
    Print(L"hpm: error: reading %s: %r\r\n", state_name(copy), st);
    return HPM_BS_E_IO;
  }
  /* Only a record the OS cannot have written counts. */
  if (attrs != HPM_VAR_ATTR_STATE) return HPM_BS_E_ATTRIBUTES;
  *len = n;
  return HPM_BS_OK;
}

EFI_STATUS hpmboot_set_var(const CHAR16 *name, UINT32 attrs, const void *data, UINTN len) {
  EFI_STATUS st = uefi_call_wrapper(RT->SetVariable, 5, (CHAR16 *)name, &hpmboot_guid, attrs, len,
                                    (VOID *)data);
  if (st == EFI_INVALID_PARAMETER || st == EFI_WRITE_PROTECTED) {
    /* Same name, other attributes (planted by someone else): replace it. */
    EFI_STATUS del = uefi_call_wrapper(RT->SetVariable, 5, (CHAR16 *)name, &hpmboot_guid, 0, 0, NULL);
    if (!EFI_ERROR(del))
      st = uefi_call_wrapper(RT->SetVariable, 5, (CHAR16 *)name, &hpmboot_guid, attrs, len,
                             (VOID *)data);
  }
  if (EFI_ERROR(st)) Print(L"hpm: error: writing variable %s: %r\r\n", name, st);
  return st;
}

hpm_bs_result hpmboot_state_write(void *ctx, unsigned copy, const uint8_t *buf, size_t len) {
  (void)ctx;
  EFI_STATUS st = hpmboot_set_var(state_name(copy), HPM_VAR_ATTR_STATE, buf, len);
  return EFI_ERROR(st) ? HPM_BS_E_IO : HPM_BS_OK;
}

/* Read a request variable the OS wrote; false when absent or unusable. */
bool hpmboot_read_request(const CHAR16 *name, uint8_t *buf, UINTN *len) {
  UINT32 attrs = 0;
  UINTN n = *len;
  EFI_STATUS st = uefi_call_wrapper(RT->GetVariable, 5, (CHAR16 *)name, &hpmboot_guid, &attrs, &n, buf);
  if (st == EFI_NOT_FOUND) return false;
  if (EFI_ERROR(st)) {
    Print(L"hpm: warning: reading request %s: %r (ignored)\r\n", name, st);
    return false;
  }
  *len = n;
  return true;
}

EFI_STATUS hpmboot_delete_var(const CHAR16 *name) {
  EFI_STATUS st = uefi_call_wrapper(RT->SetVariable, 5, (CHAR16 *)name, &hpmboot_guid, 0, 0, NULL);
  if (st == EFI_NOT_FOUND) return EFI_SUCCESS;
  if (EFI_ERROR(st)) Print(L"hpm: error: deleting %s: %r\r\n", name, st);
  return st;
}

void hpmboot_publish(const CHAR16 *name, const char *text) {
  UINTN n = 0;
  while (text[n]) n++;
  (void)hpmboot_set_var(name, HPM_VAR_ATTR_PUBLISHED, text, n);
}

void hpmboot_publish_u64(const CHAR16 *name, uint64_t v) {
  char num[24];
  hpm_text t = hpm_text_start(num, sizeof num);
  hpm_text_u64(&t, v);
  hpmboot_publish(name, num);
}

/* The slot table for the OS (core's writer; hpm parses it with core's
 * hpm_bootif_parse_slots), the floor and the state sequence. */
void hpmboot_publish_state(const hpm_bootstate *st) {
  static char text[HPM_BOOTIF_SLOTS_MAX];
  hpm_text b = hpm_text_start(text, sizeof text);
  hpm_bootif_write_slots(&b, st);
  if (b.truncated)
    Print(L"hpm: error: the slot table does not fit %u bytes\r\n", (UINT32)sizeof text);
  hpmboot_publish(HPMBOOT_VAR(HPM_VAR_BOOT_SLOTS), text);
  hpmboot_publish_u64(HPMBOOT_VAR(HPM_VAR_BOOT_FLOOR), st->floor);
  /* What a slot request must name as the state it was made against. */
  hpmboot_publish_u64(HPMBOOT_VAR(HPM_VAR_BOOT_STATE_SEQ), st->sequence);
}
