/* SPDX-License-Identifier: MIT */
/* The host trust store: the release keys (*.pub) hpm verifies signatures with. */
#ifndef HPM_RUNTIME_TRUST_H
#define HPM_RUNTIME_TRUST_H
#include <stddef.h>

#include "hpm/core.h"

/* Load up to max public keys from the files DIR/NAME.pub into keys; a file that is not a
 * usable key is reported ("hpm: FILE: ignored: why") and skipped.  Returns
 * how many were loaded: the caller refuses to go on with none. */
size_t hpm_trust_load(const char *dir, hpm_pubkey *keys, size_t max);

#endif
