/* SPDX-License-Identifier: MIT */
/* Public keys (ECDSA P-256/P-384) as core verifies with them. */
#ifndef HPMH_KEYS_H
#define HPMH_KEYS_H

#include <stddef.h>

#include <mbedtls/pk.h>

#include "hpm/core.h"
#include "status.h"

/* A public key file: PEM or DER SubjectPublicKeyInfo (a private key file
 * also carries its public key). */
int hpmh_load_public(const char *path, hpm_pubkey *out, hpmh_status *e);
/* The public half of pk in core's form. */
int hpmh_public_of(mbedtls_pk_context *pk, hpm_pubkey *out, hpmh_status *e);
/* Refuse anything but an EC key on P-256 or P-384 (path names it). */
int hpmh_check_curve(mbedtls_pk_context *pk, const char *path, hpmh_status *e);
/* mbedTLS's text for rc, in buf. */
const char *hpmh_mbedtls_text(int rc, char *buf, size_t cap);

#endif
