/* SPDX-License-Identifier: MIT */
/*
 * mbedTLS 2.28 configuration for the freestanding UEFI build (verify only).
 * Passed with -DMBEDTLS_CONFIG_FILE='"mbedtls_config.h"'; it replaces
 * mbedtls/config.h entirely, so everything not listed here is off: no
 * time, file I/O, networking, entropy, DRBGs, threading, self-tests,
 * AES-NI, PSA, PK/X.509.
 *
 * Modules compiled (mk/efi.mk, EFI_MBEDTLS_MODULES): asn1parse asn1write
 * bignum ecp ecp_curves ecdsa constant_time platform platform_util
 * memory_buffer_alloc sha256 sha512.
 */
#ifndef HPM_EFI_MBEDTLS_CONFIG_H
#define HPM_EFI_MBEDTLS_CONFIG_H

/* ---- system support -------------------------------------------------- */
/* x86-64 inline assembly for the bignum inner loops (pure register code,
 * no library calls, fine freestanding). */
#define MBEDTLS_HAVE_ASM

/* The bignum code divides a 128-bit by a 64-bit value (mbedtls_t_udbl).
 * With a native 128-bit division GCC emits a call to libgcc's __udivti3.
 * Debian's libgcc.a is built for Linux user space (red zone allowed), and
 * UEFI interrupt handlers run on our stack, so we keep libgcc out of the
 * EFI image and let mbedTLS use its portable 64-bit long division instead.
 * It is only on the mpi_div_mpi path (a few modular reductions per verify;
 * the NIST curves use fast reduction), so the cost is negligible. */
#define MBEDTLS_NO_UDBL_DIVISION

/* Memory: mbedtls_calloc/mbedtls_free are function pointers, set at run
 * time by mbedtls_memory_buffer_alloc_init() to a static arena (EFI code
 * must call it before any crypto).  Until then every allocation fails
 * (mbedTLS's platform_calloc_uninit returns NULL): fail closed. */
#define MBEDTLS_PLATFORM_C
#define MBEDTLS_PLATFORM_MEMORY
#define MBEDTLS_PLATFORM_NO_STD_FUNCTIONS
#define MBEDTLS_MEMORY_BUFFER_ALLOC_C
/* memory_buffer_alloc "exits" when it finds its heap corrupted: stop the
 * machine (invalid-opcode trap, the firmware halts) rather than go on. */
#define MBEDTLS_PLATFORM_EXIT_MACRO(status) __builtin_trap()
/* Nothing compiled here prints, but keep any stray mbedtls_snprintf use a
 * link error instead of a silent libc dependency. */
#define MBEDTLS_PLATFORM_SNPRINTF_MACRO hpm_efi_no_snprintf

/* ---- crypto ------------------------------------------------------------ */
#define MBEDTLS_BIGNUM_C
#define MBEDTLS_ECP_C
#define MBEDTLS_ECP_DP_SECP256R1_ENABLED
#define MBEDTLS_ECP_DP_SECP384R1_ENABLED
#define MBEDTLS_ECP_NIST_OPTIM
/* Verification needs no randomness; without this check_config demands a
 * DRBG for the internal blinding RNG of ecp_mul. */
#define MBEDTLS_ECP_NO_INTERNAL_RNG
#define MBEDTLS_ECDSA_C
#define MBEDTLS_ASN1_PARSE_C
#define MBEDTLS_ASN1_WRITE_C
#define MBEDTLS_SHA256_C
#define MBEDTLS_SHA512_C  /* SHA-384 for ECDSA P-384 */

/* Speed over size: MBEDTLS_SHA256_SMALLER stays off (payload hashing of
 * kernels and initrds dominates the boot stage's time). */

#include "mbedtls/check_config.h"

#endif
