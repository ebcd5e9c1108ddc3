/* SPDX-License-Identifier: MIT */
/*
 * core's platform seam for UEFI (gnu-efi): boot-services pool memory,
 * SHA-256 (mbedTLS) and console logging.  memcpy/memset come from gnu-efi's
 * libefi.a, the other
 * string functions from efi/libc/string.c.  Boot services only: nothing
 * here may be called after ExitBootServices().
 */
#include <efi.h>
#include <efilib.h>

#include "mbedtls/memory_buffer_alloc.h"
#include "hpm/core.h"
#include "sysdeps_efi.h"

hpm_log_level hpm_efi_log_threshold = HPM_LOG_INFO;

static UINT8 *mbedtls_arena;

EFI_STATUS hpm_efi_sysdeps_init(void) {
  if (mbedtls_arena != NULL)
    return EFI_SUCCESS;
  if (BS == NULL)
    return EFI_NOT_READY;
  VOID *p = NULL;
  EFI_STATUS st =
      uefi_call_wrapper(BS->AllocatePool, 3, EfiLoaderData, HPM_EFI_MBEDTLS_ARENA_SIZE, &p);
  if (EFI_ERROR(st))
    return st;
  if (p == NULL)
    return EFI_OUT_OF_RESOURCES;
  mbedtls_arena = p;
  mbedtls_memory_buffer_alloc_init(mbedtls_arena, HPM_EFI_MBEDTLS_ARENA_SIZE);
  return EFI_SUCCESS;
}

void *hpm_sys_calloc(size_t count, size_t size) {
  if (count == 0 || size == 0)
    return NULL;
  if (count > (size_t)-1 / size)
    return NULL; /* count * size overflows */
  size_t n = count * size;
  if (BS == NULL)
    return NULL;
  VOID *p = NULL;
  EFI_STATUS st = uefi_call_wrapper(BS->AllocatePool, 3, EfiLoaderData, (UINTN)n, &p);
  if (EFI_ERROR(st) || p == NULL)
    return NULL;
  memset(p, 0, n);
  return p;
}

void hpm_sys_free(void *ptr) {
  if (ptr != NULL && BS != NULL)
    uefi_call_wrapper(BS->FreePool, 1, ptr);
}

static const CHAR16 *level_prefix(hpm_log_level level) {
  switch (level) {
  case HPM_LOG_ERROR:
    return L"hpm: error: ";
  case HPM_LOG_WARNING:
    return L"hpm: warning: ";
  case HPM_LOG_INFO:
    return L"hpm: ";
  case HPM_LOG_DEBUG:
    return L"hpm: debug: ";
  }
  return L"hpm: ";
}

static void out(CHAR16 *s) {
  if (ST != NULL && ST->ConOut != NULL)
    uefi_call_wrapper(ST->ConOut->OutputString, 2, ST->ConOut, s);
}

/* SHA-NI when the CPU has it (checked once by CPUID), else mbedTLS's
 * portable code (core/sha256_accel.c). */
int hpm_sys_sha256(const uint8_t *data, size_t len, uint8_t out[32]) {
  return hpm_sha256_mbedtls(data, len, out, true);
}

/* Widen the ASCII message in chunks; anything outside printable ASCII
 * (control characters, escape sequences, UTF-8 bytes) becomes '?'. */
void hpm_sys_log(hpm_log_level level, const char *msg) {
  if (level > hpm_efi_log_threshold)
    return;
  CHAR16 buf[129];
  out((CHAR16 *)level_prefix(level));
  if (msg != NULL) {
    while (*msg) {
      UINTN n = 0;
      for (; n < 128 && msg[n]; n++) {
        unsigned char c = (unsigned char)msg[n];
        buf[n] = (c >= 0x20 && c < 0x7f) ? (CHAR16)c : (CHAR16)'?';
      }
      buf[n] = 0;
      out(buf);
      msg += n;
    }
  }
  out(L"\r\n");
}
