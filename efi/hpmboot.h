/* SPDX-License-Identifier: MIT */
/* Shared between the hpmboot.efi sources (docs/boot-interface.md). */
#ifndef HPM_EFI_HPMBOOT_H
#define HPM_EFI_HPMBOOT_H

#include <efi.h>
#include <efilib.h>

#include "hpm/bootstate.h"
#include "hpm/core.h"

/* The hpm vendor GUID of every variable (docs/boot-interface.md). */
#define HPM_VENDOR_GUID \
  {0x28b3057a, 0x0599, 0x4bcf, {0x86, 0x1b, 0xd8, 0x17, 0x82, 0x71, 0x89, 0x19}}

/* Trusted baseline keys, generated at build time from HPM_TRUST_KEYS. */
typedef struct {
  const uint8_t *der; /* DER SubjectPublicKeyInfo */
  size_t len;
  const char *name;   /* the .pub file it came from */
} hpmboot_key;

extern const hpmboot_key hpmboot_trusted_keys[];
extern const size_t hpmboot_trusted_key_count;
extern const unsigned hpmboot_trust_threshold;
extern const char hpmboot_version[];

/* efi/hpmboot_handover.c: LoadImage the verified kernel, serve the
 * verified initrd through LINUX_EFI_INITRD_MEDIA_GUID LoadFile2, start it.
 * Returns only on failure; *loaded tells whether LoadImage accepted it. */
EFI_STATUS hpmboot_handover(EFI_HANDLE parent, const uint8_t *kernel, UINTN kernel_len,
                            const uint8_t *initrd, UINTN initrd_len, const char *cmdline,
                            BOOLEAN *loaded);

#endif
