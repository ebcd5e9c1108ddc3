/* SPDX-License-Identifier: MIT */
/* Freestanding <stdlib.h> for the UEFI build: types and constants only.
 * There is deliberately no malloc/calloc/free/abort/strtoul here: core
 * allocates through hpm_sys_calloc, mbedTLS through its static arena, and a
 * stray use is a compile error rather than a silent dependency. */
#ifndef HPM_EFI_LIBC_STDLIB_H
#define HPM_EFI_LIBC_STDLIB_H

#include <stddef.h>

#define EXIT_SUCCESS 0
#define EXIT_FAILURE 1

#endif
