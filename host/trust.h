/* SPDX-License-Identifier: MIT */
/* The host trust store: the release keys (DIR/NAME.pub) hpm verifies signatures with. */
#ifndef HPMH_TRUST_H
#define HPMH_TRUST_H
#include <stddef.h>

#include "hpm/core.h"
#include "status.h"

/* Load up to max public keys from the files DIR/NAME.pub into keys.  A file
 * that is not a usable key is skipped; warn (may be NULL) is told why, with
 * the file in st->field.  Returns how many were loaded: the caller refuses
 * to go on with none. */
size_t hpmh_trust_load(const char *dir, hpm_pubkey *keys, size_t max,
                       void (*warn)(const hpmh_status *st));

#endif
