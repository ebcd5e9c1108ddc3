/* SPDX-License-Identifier: MIT */
/*
 * UEFI side of core's platform seam (core/include/hpm/sysdeps.h), plus the
 * set-up the boot stage must do before calling into core.
 */
#ifndef HPM_EFI_SYSDEPS_EFI_H
#define HPM_EFI_SYSDEPS_EFI_H

#include <efi.h>

#include "hpm/sysdeps.h"

/* Size of the fixed arena mbedTLS allocates from.  Measured peak of one
 * verify (MBEDTLS_MEMORY_DEBUG, same config): P-256 4.5 KiB, P-384 6 KiB
 * in ~75 blocks (plus a small header per block); everything is freed after
 * each verify. */
#define HPM_EFI_MBEDTLS_ARENA_SIZE (32u * 1024u)

/* Messages above this level are dropped; default HPM_LOG_INFO. */
extern hpm_log_level hpm_efi_log_threshold;

/*
 * Call once after InitializeLib() and before any core function: gives
 * mbedTLS its arena (one pool allocation; every mbedTLS calloc/free is then
 * served from it without boot-services calls).  Until it succeeds, every
 * mbedTLS allocation fails and verification fails closed.
 */
EFI_STATUS hpm_efi_sysdeps_init(void);

#endif
