/* SPDX-License-Identifier: MIT */
/* Freestanding <string.h> for the UEFI build.  Implemented in
 * efi/libc/string.c, except memcpy and memset, which gnu-efi's libefi.a
 * (init.o, linked into every gnu-efi application) already defines. */
#ifndef HPM_EFI_LIBC_STRING_H
#define HPM_EFI_LIBC_STRING_H

#include <stddef.h>

void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
void *memchr(const void *s, int c, size_t n);
size_t strlen(const char *s);
size_t strnlen(const char *s, size_t max);
char *strchr(const char *s, int c);
char *strrchr(const char *s, int c);
int strcmp(const char *a, const char *b);

#endif
