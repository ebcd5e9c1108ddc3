/* SPDX-License-Identifier: MIT */
/*
 * mbedTLS's heap outside ASan's allocator, for the fuzzers whose time goes
 * to ECDSA (tests/fuzz/mbedtls_alloc.c).  mk/fuzz.mk links those against a
 * copy of the static libmbedcrypto whose calloc and free are renamed to the
 * two functions here, which use glibc's allocator directly.  mbedTLS is not
 * instrumented, so ASan checked nothing inside it anyway; its interceptors
 * still check every buffer of core that mbedTLS copies from.  What is lost,
 * LeakSanitizer's view of mbedTLS's blocks, fz_mbedtls_live() gives back:
 * a harness requires it to be 0 after every input (a context core failed to
 * free is then caught on the input that leaked it).
 */
#ifndef HPM_FUZZ_MBEDTLS_ALLOC_H
#define HPM_FUZZ_MBEDTLS_ALLOC_H

#include <stddef.h>

void *fz_mbedtls_calloc(size_t n, size_t size);
void fz_mbedtls_free(void *p);
/* Blocks mbedTLS holds now. */
size_t fz_mbedtls_live(void);

#endif
