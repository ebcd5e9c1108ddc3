/* SPDX-License-Identifier: MIT */
/*
 * UEFI variables of the hpm vendor GUID through efivarfs
 * (/sys/firmware/efi/efivars/<Name>-<GUID>, or $HPM_EFIVARS for tests).
 * A file holds the 4-byte little-endian attribute word, then the value.
 * docs/boot-interface.md "Variables" lists the names.
 */
#ifndef HPM_RT_EFIVAR_H
#define HPM_RT_EFIVAR_H

#include <stddef.h>
#include <stdint.h>

#include "hpm/bootif.h"

/* The GUID, names and attributes are the boot interface's (hpm/bootif.h). */
#define HPM_EFIVAR_GUID HPM_VENDOR_GUID_STR
#define HPM_EFIVAR_NV HPM_VAR_ATTR_NV
#define HPM_EFIVAR_BS HPM_VAR_ATTR_BS
#define HPM_EFIVAR_RT HPM_VAR_ATTR_RT
/* What the boot stage publishes (volatile) and what the OS writes (requests). */
#define HPM_EFIVAR_ATTR_VOLATILE HPM_VAR_ATTR_PUBLISHED
#define HPM_EFIVAR_ATTR_REQUEST HPM_VAR_ATTR_REQUEST
/* Largest value read: the slot table text is the biggest. */
#define HPM_EFIVAR_MAX 4096u
_Static_assert(HPM_BOOTIF_SLOTS_MAX < HPM_EFIVAR_MAX, "the slot table fits a read");

typedef enum {
  HPM_EFIVAR_OK = 0,
  HPM_EFIVAR_ABSENT,      /* no such variable */
  HPM_EFIVAR_TOO_BIG,     /* larger than the caller's buffer */
  HPM_EFIVAR_SHORT,       /* fewer than the 4 attribute bytes */
  HPM_EFIVAR_IO,          /* open/read/write failed: errno says why */
} hpm_efivar_result;

/* The efivarfs directory: /sys/firmware/efi/efivars unless set (hpm's
 * context sets it from $HPM_EFIVARS for tests). */
const char *hpm_efivar_dir(void);
void hpm_efivar_set_dir(const char *dir);

/* Path of variable `name` (e.g. HPM_VAR_BOOT_SLOT) into out. */
void hpm_efivar_path(const char *name, char *out, size_t cap);

/* Read a variable: *attr gets the attribute word, val (capacity cap) the
 * value, *len its size.  Reads at most cap + 5 bytes (attribute word, value
 * and one byte more to notice HPM_EFIVAR_TOO_BIG); writes at most cap to val. */
hpm_efivar_result hpm_efivar_read(const char *name, uint32_t *attr, uint8_t *val, size_t cap,
                                  size_t *len);

/* Read a text variable (NUL-terminated in out, cap includes the NUL);
 * HPM_EFIVAR_IO with errno EPROTO when its attributes are not `want_attr`
 * (someone else's variable) or it holds a NUL byte. */
hpm_efivar_result hpm_efivar_read_text(const char *name, uint32_t want_attr, char *out,
                                       size_t cap);

/* Create or replace a variable with one write() of attribute word + value,
 * as efivarfs requires (the immutable flag efivarfs puts on existing files
 * is cleared first).  Returns 0, or -1 with errno set. */
int hpm_efivar_write(const char *name, uint32_t attr, const uint8_t *val, size_t len);

/* Delete a variable (absent is success).  Returns 0, or -1 with errno. */
int hpm_efivar_delete(const char *name);

const char *hpm_efivar_result_to_string(hpm_efivar_result r);

#endif
