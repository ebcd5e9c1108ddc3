/* SPDX-License-Identifier: MIT */
/* Freestanding <assert.h> for the UEFI build.  A failed assertion means a
 * broken invariant in verification code: stop (invalid opcode trap, the
 * firmware halts) instead of carrying on.  NDEBUG turns it off as usual. */
#ifndef HPM_EFI_LIBC_ASSERT_H
#define HPM_EFI_LIBC_ASSERT_H

#undef assert
#ifdef NDEBUG
#define assert(expr) ((void)0)
#else
#define assert(expr) ((expr) ? (void)0 : __builtin_trap())
#endif

#ifndef __cplusplus
#define static_assert _Static_assert
#endif

#endif
