/* SPDX-License-Identifier: MIT */
/*
 * Handover to the Linux kernel (EFI stub): LoadImage from the verified
 * in-memory kernel, LoadOptions = the command line we built, and the
 * verified initrd served through the LoadFile2 protocol on the
 * LINUX_EFI_INITRD_MEDIA_GUID vendor media device path, which the EFI stub
 * looks up itself.  Nothing here reads the disk again.
 */
#include "hpmboot.h"

#define LINUX_EFI_INITRD_MEDIA_GUID \
  {0x5568e427, 0x68fc, 0x4f3d, {0xac, 0x74, 0xca, 0x55, 0x52, 0x31, 0xcc, 0x68}}
#define EFI_LOAD_FILE2_PROTOCOL_GUID \
  {0x4006c0c1, 0xfcb3, 0x403e, {0x99, 0x6d, 0x4a, 0x6c, 0x87, 0x24, 0xe0, 0x6d}}

static EFI_GUID load_file2_guid = EFI_LOAD_FILE2_PROTOCOL_GUID;

typedef struct {
  VENDOR_DEVICE_PATH vendor;
  EFI_DEVICE_PATH end;
} __attribute__((packed)) initrd_device_path;

static initrd_device_path initrd_dp = {
    {{MEDIA_DEVICE_PATH, MEDIA_VENDOR_DP, {sizeof(VENDOR_DEVICE_PATH), 0}},
     LINUX_EFI_INITRD_MEDIA_GUID},
    {END_DEVICE_PATH_TYPE, END_ENTIRE_DEVICE_PATH_SUBTYPE, {sizeof(EFI_DEVICE_PATH), 0}},
};

/* The LoadFile2 instance: the first member is the protocol itself. */
typedef struct {
  EFI_LOAD_FILE_PROTOCOL proto; /* LoadFile2 has the same shape */
  const uint8_t *data;
  UINTN size;
} initrd_loader;

static initrd_loader loader;

static EFI_STATUS EFIAPI initrd_load_file(EFI_LOAD_FILE_PROTOCOL *this, EFI_DEVICE_PATH *path,
                                          BOOLEAN boot_policy, UINTN *size, VOID *buf) {
  (void)path;
  if (this != &loader.proto || size == NULL) return EFI_INVALID_PARAMETER;
  if (boot_policy) return EFI_UNSUPPORTED; /* LoadFile2 never boots */
  if (buf == NULL || *size < loader.size) {
    *size = loader.size;
    return EFI_BUFFER_TOO_SMALL;
  }
  CopyMem(buf, (VOID *)loader.data, loader.size);
  *size = loader.size;
  return EFI_SUCCESS;
}

/* ASCII command line -> UCS-2 LoadOptions (the size includes the NUL). */
static CHAR16 *widen(const char *s, UINT32 *bytes) {
  UINTN n = 0;
  while (s[n]) n++;
  CHAR16 *w = AllocatePool((n + 1) * sizeof(CHAR16));
  if (w == NULL) return NULL;
  for (UINTN i = 0; i < n; i++) w[i] = (CHAR16)(unsigned char)s[i];
  w[n] = 0;
  *bytes = (UINT32)((n + 1) * sizeof(CHAR16));
  return w;
}

EFI_STATUS hpmboot_handover(EFI_HANDLE parent, const uint8_t *kernel, UINTN kernel_len,
                            const uint8_t *initrd, UINTN initrd_len, const char *cmdline,
                            BOOLEAN *loaded) {
  EFI_STATUS st;
  EFI_HANDLE initrd_handle = NULL, kh = NULL;
  *loaded = FALSE;

  if (initrd != NULL) {
    /* Another provider of the initrd path would let someone else's initrd
     * reach the kernel: refuse rather than guess which one it picks. */
    EFI_DEVICE_PATH *dp = (EFI_DEVICE_PATH *)&initrd_dp;
    EFI_HANDLE other = NULL;
    st = uefi_call_wrapper(BS->LocateDevicePath, 3, &load_file2_guid, &dp, &other);
    if (st == EFI_SUCCESS) {
      Print(L"hpm: error: an initrd provider is already installed by someone else; refusing to boot\r\n");
      return EFI_ACCESS_DENIED;
    }
    loader.proto.LoadFile = initrd_load_file;
    loader.data = initrd;
    loader.size = initrd_len;
    st = uefi_call_wrapper(BS->InstallProtocolInterface, 4, &initrd_handle, &DevicePathProtocol,
                           EFI_NATIVE_INTERFACE, &initrd_dp);
    if (EFI_ERROR(st)) {
      Print(L"hpm: error: installing the initrd device path: %r\r\n", st);
      return st;
    }
    st = uefi_call_wrapper(BS->InstallProtocolInterface, 4, &initrd_handle, &load_file2_guid,
                           EFI_NATIVE_INTERFACE, &loader.proto);
    if (EFI_ERROR(st)) {
      Print(L"hpm: error: installing the initrd LoadFile2 protocol: %r\r\n", st);
      goto out_dp;
    }
  }

  /* Under Secure Boot the firmware would check the kernel against db;
   * hpm has already authenticated exactly these bytes, so its image check
   * is told so for this one buffer, for the duration of this call only. */
  hpmboot_sb_allow_begin(kernel, kernel_len);
  st = uefi_call_wrapper(BS->LoadImage, 6, FALSE, parent, NULL, (VOID *)kernel, kernel_len, &kh);
  unsigned vouched = hpmboot_sb_allow_end();
  if (vouched)
    Print(L"hpm: secure boot: the firmware accepted the kernel on hpm's verification\r\n");
  if (EFI_ERROR(st)) {
    Print(L"hpm: error: the firmware refused to load the verified kernel (LoadImage): %r\r\n", st);
    goto out_lf;
  }
  *loaded = TRUE;

  EFI_LOADED_IMAGE *li = NULL;
  st = uefi_call_wrapper(BS->OpenProtocol, 6, kh, &LoadedImageProtocol, (VOID **)&li, parent,
                         NULL, EFI_OPEN_PROTOCOL_GET_PROTOCOL);
  if (EFI_ERROR(st) || li == NULL) {
    Print(L"hpm: error: kernel image has no LoadedImage protocol: %r\r\n", st);
    if (!EFI_ERROR(st)) st = EFI_NOT_FOUND;
    goto out_unload;
  }
  UINT32 opt_bytes = 0;
  CHAR16 *opts = widen(cmdline, &opt_bytes);
  if (opts == NULL) {
    Print(L"hpm: error: out of memory for the kernel command line\r\n");
    st = EFI_OUT_OF_RESOURCES;
    goto out_unload;
  }
  li->LoadOptions = opts;
  li->LoadOptionsSize = opt_bytes;

  Print(L"hpm: starting kernel\r\n");
  st = uefi_call_wrapper(BS->StartImage, 3, kh, NULL, NULL);
  /* Only reached when the kernel returned (it failed before ExitBootServices). */
  Print(L"hpm: error: the kernel returned: %r\r\n", st);
  if (!EFI_ERROR(st)) st = EFI_LOAD_ERROR;
  FreePool(opts);
  goto out_lf;
out_unload:
  uefi_call_wrapper(BS->UnloadImage, 1, kh);
out_lf:
  if (initrd_handle != NULL)
    uefi_call_wrapper(BS->UninstallProtocolInterface, 3, initrd_handle, &load_file2_guid,
                      &loader.proto);
out_dp:
  if (initrd_handle != NULL)
    uefi_call_wrapper(BS->UninstallProtocolInterface, 3, initrd_handle, &DevicePathProtocol,
                      &initrd_dp);
  return st;
}
