/* SPDX-License-Identifier: MIT */
/*
 * Shared by the fuzz harnesses of core and the seed-corpus generator
 * (tests/fuzz/shared.c, linked into each): the fixed fuzzing keys, the
 * bytes of the detached payloads the harnesses serve through hpm_ops, and
 * the checks of what an accepted container must look like.
 *
 * The keys are derived from fixed private scalars, so the generator (built
 * with gcc against hpmw) and the harnesses (built with clang) agree on them
 * without any key file.  They are test keys: never trust them anywhere.
 */
#ifndef HPM_FUZZ_SHARED_H
#define HPM_FUZZ_SHARED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/ecp.h>

#include "hpm/core.h"
#include "hpm/format.h"

/* Fill keypair (group, d, Q) for the fixed scalar of gid.  0 on success. */
int fz_keypair(mbedtls_ecp_group_id gid, mbedtls_ecp_keypair *kp);
/* The public half as core sees it (key ID included). */
int fz_pubkey(mbedtls_ecp_group_id gid, hpm_pubkey *out);
/* The harnesses' trust set: the fixed P-256 and P-384 keys, threshold 1
 * (derived on first use; aborts naming who if that fails). */
const hpm_trust *fz_trust(const char *who);

/* Detached payload files the harnesses serve (and the seeds reference). */
#define FZ_FILE_INITRD "initrd.img"
#define FZ_FILE_PATCH "patch-2.bin"
#define FZ_INITRD_LEN 200u
#define FZ_PATCH_LEN 48u

typedef struct {
  uint8_t initrd[FZ_INITRD_LEN];
  uint8_t patch[FZ_PATCH_LEN];
} fz_files;

void fz_fill(uint8_t *p, size_t n, uint8_t seed);
void fz_files_init(fz_files *f);
const hpm_ops *fz_ops(fz_files *f);

/* ---- what an accepted container must look like ----------------------------
 * A violation is a bug in core even if nothing crashed: abort() so libFuzzer
 * reports it and saves the input. */
#define FZ_REQUIRE(c)   \
  do {                  \
    if (!(c)) abort();  \
  } while (0)

/* verified: hpm_container_verify returned OK (payload data hashed). */
void fz_check_manifest(const uint8_t *buf, size_t len, const hpm_manifest *m, bool verified);

#endif
