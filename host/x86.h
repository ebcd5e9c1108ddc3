/* SPDX-License-Identifier: MIT */
/* x86-64 instruction facts for redirections (Zydis 4). */
#ifndef HPMH_X86_H
#define HPMH_X86_H
#include <stddef.h>
#include <stdint.h>

#define X86_MAX_FIX 8
typedef struct {
  uint8_t field;   /* offset of the 32-bit relative field in the bytes */
} x86_fix;

/* Whole instructions from code[0] covering at least `need` bytes, none of
 * which ends control flow or has an 8-bit relative operand.  Fills
 * *covered and the 32-bit PC-relative fields to adjust when the bytes move.
 * Returns 0, or -1 with a reason in why. */
int x86_prologue(const uint8_t *code, size_t len, size_t need, size_t *covered, x86_fix *fix,
                 int *nfix, const char **why);

/* Relative branch targets of the function at addr (code/len): calls cb for
 * each target.  Stops quietly at the first undecodable byte. */
void x86_branch_targets(const uint8_t *code, size_t len, uint64_t addr,
                        void (*cb)(void *ctx, uint64_t target), void *ctx);

/* Does code[0..len) hold a call whose return address is inside it (not
 * at its end)?  A thread in the callee would return into rewritten bytes. */
int x86_has_call(const uint8_t *code, size_t len);

/* Direct `call rel32` (E8) and `jmp rel32` (E9) instructions of a function
 * at addr: cb(ctx, address of the instruction, target).  Only when the
 * whole function decodes as instructions ending exactly at len (else
 * nothing is reported and -1 is returned). */
int x86_direct_calls(const uint8_t *code, size_t len, uint64_t addr,
                     void (*cb)(void *ctx, uint64_t at, uint64_t target), void *ctx);

/* Copy n bytes of instructions from old_addr to new_addr, adjusting the
 * fields; -1 when a target is out of 32-bit range. */
int x86_relocate(uint8_t *dst, const uint8_t *src, size_t n, const x86_fix *fix, int nfix,
                 uint64_t old_addr, uint64_t new_addr);
#endif
