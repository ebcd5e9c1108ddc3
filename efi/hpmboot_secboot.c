/* SPDX-License-Identifier: MIT */
/*
 * UEFI Secure Boot: the state the firmware reports, and the one exception
 * hpmboot.efi makes to the firmware's image check (docs/boot-interface.md
 * "Secure Boot").
 *
 * The firmware checks every image LoadImage is given against db/dbx.  The
 * kernel of a baseline is authenticated by hpm itself (signed manifest ->
 * SHA-256 of the payload), not by a db entry, so under Secure Boot
 * LoadImage would refuse it.  As mature loaders do (shim, systemd-boot),
 * hpm wraps the firmware's EFI_SECURITY2_ARCH_PROTOCOL.FileAuthentication
 * for the duration of one LoadImage call and answers "allowed" for exactly
 * one image: the one whose bytes are the bytes hpm verified (same length,
 * same contents).  Every other request in that window, and every request
 * outside it, goes to the firmware's own check unchanged.  The wrapper is
 * removed again as soon as LoadImage returns, whatever it returned.
 */
#include "hpmboot.h"

#define EFI_SECURITY2_ARCH_PROTOCOL_GUID \
  {0x94ab2f58, 0x1438, 0x4ef1, {0x91, 0x52, 0x18, 0x94, 0x1a, 0x3a, 0x0e, 0x68}}

struct security2_arch;
typedef EFI_STATUS(EFIAPI *file_authentication_fn)(const struct security2_arch *this,
                                                   const EFI_DEVICE_PATH *path, VOID *buf,
                                                   UINTN size, BOOLEAN boot_policy);
/* PI 1.2.1 vol. 2, 12.9: the protocol has this one member. */
typedef struct security2_arch {
  file_authentication_fn FileAuthentication;
} security2_arch;

static EFI_GUID security2_guid = EFI_SECURITY2_ARCH_PROTOCOL_GUID;
static EFI_GUID global_guid = EFI_GLOBAL_VARIABLE;

static struct {
  security2_arch *proto;         /* NULL: not installed */
  file_authentication_fn original;
  const uint8_t *buf;            /* the verified bytes */
  UINTN len;
  unsigned allowed;              /* answers "allowed" given (at most 1) */
} window;

static UINT8 global_u8(const CHAR16 *name, UINT8 missing) {
  UINT8 v = 0;
  UINTN n = sizeof v;
  UINT32 attrs = 0;
  EFI_STATUS st = uefi_call_wrapper(RT->GetVariable, 5, (CHAR16 *)name, &global_guid, &attrs, &n,
                                    &v);
  if (EFI_ERROR(st) || n != 1) return missing;
  return v;
}

hpmboot_sb_state hpmboot_secure_boot_state(void) {
  if (global_u8(L"SetupMode", 0) == 1) return HPMBOOT_SB_SETUP;
  /* Anything but an explicit 1 (absent, unreadable, odd size) is "off":
   * hpm's own verification never depends on this answer. */
  return global_u8(L"SecureBoot", 0) == 1 ? HPMBOOT_SB_ON : HPMBOOT_SB_OFF;
}

const char *hpmboot_sb_state_to_string(hpmboot_sb_state s) {
  switch (s) {
    case HPMBOOT_SB_ON: return "on";
    case HPMBOOT_SB_SETUP: return "setup-mode";
    case HPMBOOT_SB_OFF: break;
  }
  return "off";
}

static BOOLEAN same_bytes(const VOID *buf, UINTN size) {
  if (buf == NULL || size != window.len || window.buf == NULL) return FALSE;
  if (buf == (const VOID *)window.buf) return TRUE;
  /* A firmware that copies the buffer before checking it: compare the copy. */
  return CompareMem(buf, window.buf, size) == 0;
}

static EFI_STATUS EFIAPI allow_verified(const security2_arch *this, const EFI_DEVICE_PATH *path,
                                        VOID *buf, UINTN size, BOOLEAN boot_policy) {
  if (window.allowed == 0 && same_bytes(buf, size)) {
    window.allowed++;
    return EFI_SUCCESS;
  }
  return uefi_call_wrapper(window.original, 5, this, path, buf, size, boot_policy);
}

void hpmboot_sb_allow_begin(const uint8_t *buf, UINTN len) {
  security2_arch *p = NULL;
  window.proto = NULL;
  window.allowed = 0;
  EFI_STATUS st = uefi_call_wrapper(BS->LocateProtocol, 3, &security2_guid, NULL, (VOID **)&p);
  if (EFI_ERROR(st) || p == NULL || p->FileAuthentication == NULL) {
    /* No Security2 arch protocol: nothing to scope.  Under Secure Boot the
     * firmware then applies its own policy and may refuse the kernel. */
    return;
  }
  window.buf = buf;
  window.len = len;
  window.original = p->FileAuthentication;
  window.proto = p;
  p->FileAuthentication = allow_verified;
}

unsigned hpmboot_sb_allow_end(void) {
  if (window.proto != NULL && window.proto->FileAuthentication == allow_verified)
    window.proto->FileAuthentication = window.original;
  window.proto = NULL;
  window.buf = NULL;
  window.len = 0;
  return window.allowed;
}
