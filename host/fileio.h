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

/* Write a file atomically: a temp file DIR/.hpm-tmp.NAME.XXXXXX with mode
 * (exactly; on a file system without modes, such as FAT, its own), fsync,
 * rename over path, directory fsync.  On failure path is as it was and the
 * temp file is removed; only a crash can leave a temp file, which
 * hpmh_remove_stale_temps() finds.  flags:
 *   HPMH_WRITE_EXCLUSIVE  refuse to replace an existing file (link, not rename)
 *   HPMH_WRITE_NO_SYNC    no fsync: readers still see the old or the new file
 *                         whole, but a power loss may lose the new one (for
 *                         records that a power loss makes moot anyway) */
#define HPMH_WRITE_EXCLUSIVE 1u
#define HPMH_WRITE_NO_SYNC 2u
int hpmh_write_file(const char *path, const uint8_t *data, size_t len, unsigned mode, unsigned flags,
                    hpmh_status *e);

#define HPMH_TEMP_PREFIX ".hpm-tmp."

/* Remove the temp files an interrupted hpmh_write_file left in dir;
 * removed (may be NULL) is told each path.  Returns -1 if dir cannot be read. */
int hpmh_remove_stale_temps(const char *dir, void (*removed)(const char *path));

/* Test hook: hpmh_write_file writes through hook instead of write(2)
 * (NULL: write(2)); used to simulate a full disk or a crash mid-copy. */
#include <sys/types.h>
typedef ssize_t (*hpmh_write_hook)(int fd, const uint8_t *p, size_t n);
void hpmh_set_write_hook(hpmh_write_hook hook);

/* Read a whole regular file (malloc'd; limit bounds the size). */
int hpmh_read_file(const char *path, uint64_t limit, uint8_t **out, size_t *len, hpmh_status *e);

/* SHA-256 and size of the file at path, read in 64 KiB chunks.  Returns 0,
 * or -1 with errno. */
int hpmh_sha256_file(const char *path, uint8_t out[32], uint64_t *size);

#endif
