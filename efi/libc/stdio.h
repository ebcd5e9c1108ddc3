/* SPDX-License-Identifier: MIT */
/* Freestanding <stdio.h> for the UEFI build: an opaque FILE type only, so
 * headers that mention FILE * compile.  No I/O functions exist. */
#ifndef HPM_EFI_LIBC_STDIO_H
#define HPM_EFI_LIBC_STDIO_H

#include <stdarg.h>
#include <stddef.h>

typedef struct hpm_efi_no_file FILE;

#endif
