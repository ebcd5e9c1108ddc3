/* SPDX-License-Identifier: MIT */
/*
 * libfdt environment for the freestanding UEFI build (replaces the Xen
 * libfdt_env.h, which pulls in Xen headers; deps.sh does not unpack it).
 * Provides what libfdt expects from its environment: the fdtNN_t big-endian
 * storage types, the byte-order helpers, and the standard headers.
 */
#ifndef LIBFDT_ENV_H
#define LIBFDT_ENV_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __CHECKER__
#define FDT_FORCE __attribute__((force))
#define FDT_BITWISE __attribute__((bitwise))
#else
#define FDT_FORCE
#define FDT_BITWISE
#endif

typedef uint16_t FDT_BITWISE fdt16_t;
typedef uint32_t FDT_BITWISE fdt32_t;
typedef uint64_t FDT_BITWISE fdt64_t;

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define HPM_FDT_BE16(x) __builtin_bswap16(x)
#define HPM_FDT_BE32(x) __builtin_bswap32(x)
#define HPM_FDT_BE64(x) __builtin_bswap64(x)
#elif defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define HPM_FDT_BE16(x) (x)
#define HPM_FDT_BE32(x) (x)
#define HPM_FDT_BE64(x) (x)
#else
#error "unknown byte order"
#endif

static inline uint16_t fdt16_to_cpu(fdt16_t x) { return (FDT_FORCE uint16_t)HPM_FDT_BE16(x); }
static inline fdt16_t cpu_to_fdt16(uint16_t x) { return (FDT_FORCE fdt16_t)HPM_FDT_BE16(x); }
static inline uint32_t fdt32_to_cpu(fdt32_t x) { return (FDT_FORCE uint32_t)HPM_FDT_BE32(x); }
static inline fdt32_t cpu_to_fdt32(uint32_t x) { return (FDT_FORCE fdt32_t)HPM_FDT_BE32(x); }
static inline uint64_t fdt64_to_cpu(fdt64_t x) { return (FDT_FORCE uint64_t)HPM_FDT_BE64(x); }
static inline fdt64_t cpu_to_fdt64(uint64_t x) { return (FDT_FORCE fdt64_t)HPM_FDT_BE64(x); }

#endif /* LIBFDT_ENV_H */
