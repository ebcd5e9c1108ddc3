/* SPDX-License-Identifier: MIT */
/*
 * The kernel module signing certificates built into hpmboot.efi
 * (HPM_KERNEL_CERTS, hpmboot_kernel_certs[]) handed to the kernel the way
 * shim hands over MOK keys (docs/kernel-hotpatch.md "Secure Boot"), so that
 * a kernel in lockdown loads livepatch modules signed by the release:
 *
 * - the MOK variable configuration table (LINUX_EFI_MOK_VARIABLE_TABLE_GUID):
 *   entries "MokListRT" (one EFI_SIGNATURE_LIST of type EFI_CERT_X509_GUID
 *   per certificate) and "MokListTrustedRT" (one byte, 1), then an entry
 *   with an empty name and size 0.  Linux reads MokListRT from it first and
 *   puts its certificates into the .machine keyring only when the table
 *   also has MokListTrustedRT (security/integrity/platform_certs:
 *   load_moklist_certs, imputed_trust_enabled); .machine is linked into the
 *   secondary trusted keyring, which verifies module signatures.
 * - the same two as volatile variables (boot + runtime access, no
 *   non-volatile) under shim's GUID, as shim mirrors them: kernels and
 *   tools that read the variables see the same keys.  A non-volatile
 *   variable of either name was not made by a boot loader this boot
 *   (someone wrote it from the OS): it is deleted first.
 *
 * Only certificates compiled into this image, never one read from disk.
 * The table replaces one a boot loader before hpmboot.efi installed.
 */
#include "hpmboot.h"

static EFI_GUID shim_lock_guid = {0x605dab50, 0xe046, 0x4300, {0xab, 0xb6, 0x3d, 0xd8, 0x10, 0xdd, 0x8b, 0x23}};
static EFI_GUID mokvar_table_guid = {0xc451ed2b, 0x9694, 0x45d3, {0xba, 0xba, 0xed, 0x9f, 0x89, 0x88, 0xa3, 0x89}};
static EFI_GUID cert_x509_guid = {0xa5c059a1, 0x94e4, 0x4aa7, {0x87, 0xb5, 0xab, 0x15, 0x5c, 0x2b, 0xf0, 0x72}};

#define MOK_ATTRS (EFI_VARIABLE_BOOTSERVICE_ACCESS | EFI_VARIABLE_RUNTIME_ACCESS)
#define ESL_HEADER 28u  /* SignatureType, ListSize, HeaderSize, SignatureSize */
#define MOKVAR_NAME 256u
#define MOKVAR_HEADER (MOKVAR_NAME + 8u)

static void put_u32(uint8_t *p, uint32_t v) {
  for (unsigned i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v) {
  for (unsigned i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* The EFI_SIGNATURE_LISTs of MokListRT into out (NULL: size only). */
static UINTN write_lists(uint8_t *out) {
  UINTN n = 0;
  for (size_t i = 0; i < hpmboot_kernel_cert_count; i++) {
    const hpmboot_key *c = &hpmboot_kernel_certs[i];
    UINT32 sig = (UINT32)(sizeof(EFI_GUID) + c->len), list = ESL_HEADER + sig;
    if (out) {
      uint8_t *p = out + n;
      CopyMem(p, &cert_x509_guid, sizeof(EFI_GUID));
      put_u32(p + 16, list);
      put_u32(p + 20, 0);
      put_u32(p + 24, sig);
      CopyMem(p + ESL_HEADER, &hpmboot_guid, sizeof(EFI_GUID)); /* SignatureOwner: hpm */
      CopyMem(p + ESL_HEADER + sizeof(EFI_GUID), (VOID *)c->der, c->len);
    }
    n += list;
  }
  return n;
}

/* The header of one entry of the MOK variable table at p (name, data
 * size); returns where its data goes. */
static uint8_t *mokvar_header(uint8_t *p, const char *name, UINTN len) {
  SetMem(p, MOKVAR_HEADER, 0);
  for (UINTN i = 0; name[i]; i++) p[i] = (uint8_t)name[i];
  put_u64(p + MOKVAR_NAME, len);
  return p + MOKVAR_HEADER;
}

/* Delete name under shim's GUID when it is non-volatile (or unreadable). */
static void drop_planted(const CHAR16 *name) {
  UINT32 attrs = 0;
  UINTN n = 0;
  EFI_STATUS st = uefi_call_wrapper(RT->GetVariable, 5, (CHAR16 *)name, &shim_lock_guid, &attrs, &n, NULL);
  if (st == EFI_NOT_FOUND) return;
  if (st == EFI_BUFFER_TOO_SMALL && !(attrs & EFI_VARIABLE_NON_VOLATILE)) return;
  st = uefi_call_wrapper(RT->SetVariable, 5, (CHAR16 *)name, &shim_lock_guid, 0, 0, NULL);
  Print(L"hpm: kernel keys: deleted a non-volatile %s (not a boot loader's): %r\r\n", name, st);
}

static EFI_STATUS set_mok_var(const CHAR16 *name, const uint8_t *data, UINTN len) {
  EFI_STATUS st = uefi_call_wrapper(RT->SetVariable, 5, (CHAR16 *)name, &shim_lock_guid, MOK_ATTRS, len,
                                    (VOID *)data);
  if (EFI_ERROR(st)) Print(L"hpm: warning: kernel keys: writing %s: %r\r\n", name, st);
  return st;
}

void hpmboot_kernel_keys(void) {
  static const uint8_t trusted = 1;
  drop_planted(L"MokListRT");
  drop_planted(L"MokListTrustedRT");
  if (hpmboot_kernel_cert_count == 0) {
    Print(L"hpm: kernel keys: none built in (HPM_KERNEL_CERTS=none)\r\n");
    return;
  }
  UINTN lists = write_lists(NULL);
  UINTN size = MOKVAR_HEADER + lists + MOKVAR_HEADER + sizeof trusted + MOKVAR_HEADER;
  uint8_t *table = NULL;
  /* Runtime services data: Linux maps the table and keeps it reserved. */
  EFI_STATUS st = uefi_call_wrapper(BS->AllocatePool, 3, EfiRuntimeServicesData, size, (VOID **)&table);
  if (EFI_ERROR(st) || table == NULL) {
    Print(L"hpm: warning: kernel keys: no memory for the MOK table (%r): the kernel gets no key of hpm's\r\n", st);
    return;
  }
  uint8_t *esl = mokvar_header(table, "MokListRT", lists);
  write_lists(esl);
  uint8_t *p = mokvar_header(esl + lists, "MokListTrustedRT", sizeof trusted);
  *p = trusted;
  (void)mokvar_header(p + sizeof trusted, "", 0); /* the end */
  st = uefi_call_wrapper(BS->InstallConfigurationTable, 2, &mokvar_table_guid, table);
  if (EFI_ERROR(st)) {
    Print(L"hpm: warning: kernel keys: installing the MOK table: %r: the kernel gets no key of hpm's\r\n", st);
    FreePool(table);
    return;
  }
  (void)set_mok_var(L"MokListRT", esl, lists);
  (void)set_mok_var(L"MokListTrustedRT", &trusted, sizeof trusted);
  for (size_t i = 0; i < hpmboot_kernel_cert_count; i++)
    Print(L"hpm: kernel keys: handing certificate %a to the kernel's machine keyring (MokListRT, trusted)\r\n",
          hpmboot_kernel_certs[i].name);
}
