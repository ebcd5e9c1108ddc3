/* SPDX-License-Identifier: MIT */
/*
 * Durable file I/O, the one implementation for hpm, hpm-sign and
 * hpm-patchgen: every file that must survive a crash or power loss whole is
 * replaced through hpmh_write_file.
 */
#ifndef HPMH_FILEIO_H
#define HPMH_FILEIO_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

/* Write a file atomically: temp file in the same directory, fsync, rename,
 * directory fsync.  mode applies to the new file.  With exclusive, refuse
 * to replace an existing file.  Never leaves a partial file behind. */
int hpmh_write_file(const char *path, const uint8_t *data, size_t len, unsigned mode, int exclusive,
                    hpmh_status *e);

/* Read a whole regular file (malloc'd; limit bounds the size). */
int hpmh_read_file(const char *path, uint64_t limit, uint8_t **out, size_t *len, hpmh_status *e);

#endif
