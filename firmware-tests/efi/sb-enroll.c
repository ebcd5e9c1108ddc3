/* SPDX-License-Identifier: MIT */
/*
 * hpm-sb-enroll.efi: TEST ONLY.  Enrolls Secure Boot keys into an OVMF
 * variable store that is in setup mode, for firmware-tests/test_secureboot.py.
 *
 * Reads \EFI\enroll\db.auth, KEK.auth and PK.auth from the volume it was
 * loaded from (time-based authenticated variable writes made at test time
 * by efitools' sign-efi-sig-list from freshly generated keys), writes db,
 * then KEK, then PK (writing PK leaves setup mode, so it goes last), prints
 * one "ENROLL:" line per step and the resulting SecureBoot/SetupMode, then
 * powers the machine off.  Any failure is printed and the machine powers
 * off too: the test reads the serial console, never a shell.
 */
#include <efi.h>
#include <efilib.h>

EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *systab);

#define IMAGE_SECURITY_DATABASE_GUID \
  {0xd719b2cb, 0x3d3a, 0x4596, {0xa3, 0xbc, 0xda, 0xd0, 0x0e, 0x67, 0x65, 0x6f}}
#define ATTR_AUTH                                                                \
  (EFI_VARIABLE_NON_VOLATILE | EFI_VARIABLE_BOOTSERVICE_ACCESS |               \
   EFI_VARIABLE_RUNTIME_ACCESS | EFI_VARIABLE_TIME_BASED_AUTHENTICATED_WRITE_ACCESS)
#define AUTH_MAX (64u * 1024u)

static EFI_GUID db_guid = IMAGE_SECURITY_DATABASE_GUID;
static EFI_GUID global_guid = EFI_GLOBAL_VARIABLE;

static EFI_STATUS enroll(EFI_FILE_HANDLE root, CHAR16 *var, EFI_GUID *guid, CHAR16 *path) {
  EFI_FILE_HANDLE f = NULL;
  EFI_STATUS st = uefi_call_wrapper(root->Open, 5, root, &f, path, EFI_FILE_MODE_READ, 0ULL);
  if (EFI_ERROR(st)) {
    Print(L"ENROLL: %s: open %s: %r\r\n", var, path, st);
    return st;
  }
  static UINT8 buf[AUTH_MAX];
  UINTN n = sizeof buf;
  st = uefi_call_wrapper(f->Read, 3, f, &n, buf);
  uefi_call_wrapper(f->Close, 1, f);
  if (EFI_ERROR(st) || n == 0 || n == sizeof buf) {
    Print(L"ENROLL: %s: read %s: %r (%lu bytes; 1..%u expected)\r\n", var, path, st, (UINT64)n,
          AUTH_MAX - 1);
    return EFI_ERROR(st) ? st : EFI_BAD_BUFFER_SIZE;
  }
  st = uefi_call_wrapper(RT->SetVariable, 5, var, guid, ATTR_AUTH, n, buf);
  Print(L"ENROLL: %s: %r\r\n", var, st);
  return st;
}

static UINT8 u8var(CHAR16 *name) {
  UINT8 v = 0xff;
  UINTN n = 1;
  if (EFI_ERROR(uefi_call_wrapper(RT->GetVariable, 5, name, &global_guid, NULL, &n, &v)))
    return 0xff;
  return v;
}

EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *systab) {
  InitializeLib(image, systab);
  uefi_call_wrapper(BS->SetWatchdogTimer, 4, 0, 0, 0, NULL);
  Print(L"ENROLL: start SetupMode=%d SecureBoot=%d\r\n", u8var(L"SetupMode"),
        u8var(L"SecureBoot"));
  EFI_LOADED_IMAGE *li = NULL;
  EFI_STATUS st = uefi_call_wrapper(BS->HandleProtocol, 3, image, &LoadedImageProtocol,
                                    (VOID **)&li);
  EFI_FILE_HANDLE root = EFI_ERROR(st) ? NULL : LibOpenRoot(li->DeviceHandle);
  if (root == NULL) {
    Print(L"ENROLL: cannot open the boot volume\r\n");
  } else if (!EFI_ERROR(enroll(root, L"db", &db_guid, L"\\EFI\\enroll\\db.auth")) &&
             !EFI_ERROR(enroll(root, L"KEK", &global_guid, L"\\EFI\\enroll\\KEK.auth")) &&
             !EFI_ERROR(enroll(root, L"PK", &global_guid, L"\\EFI\\enroll\\PK.auth"))) {
    Print(L"ENROLL: done SetupMode=%d SecureBoot=%d\r\n", u8var(L"SetupMode"),
          u8var(L"SecureBoot"));
  }
  uefi_call_wrapper(RT->ResetSystem, 4, EfiResetShutdown, EFI_SUCCESS, 0, NULL);
  return EFI_SUCCESS;
}
