/* SPDX-License-Identifier: MIT */
/*
 * Detached payloads for core's hpm_ops: the one loader for hpm and the
 * tools.  A container's detached payloads are files in its own directory,
 * named by the signed manifest with plain names; the loader reads each
 * whole into memory it owns until hpmh_loader_free, so what core hashes is
 * what the caller then uses.  hpmh_mem_ops serves files already in memory
 * (a container just built, tests).
 */
#ifndef HPMH_LOADER_H
#define HPMH_LOADER_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "hpm/core.h"
#include "hpm/format.h"
#include "status.h"

/* The largest file read for a payload. */
typedef enum {
  /* The size the signed manifest states: a larger file is never read and
   * counts as missing; a smaller one is read and core refuses its size
   * (hosts: nothing beyond the signed size enters memory). */
  HPMH_LOAD_MANIFEST_SIZE,
  /* Up to HPM_PAYLOAD_MAX, so that core reports a size that differs
   * ("N bytes on disk, the manifest says M"): hpm-sign's diagnostics. */
  HPMH_LOAD_ANY_SIZE,
} hpmh_load_bound;

typedef struct {
  char name[HPM_FILE_MAX + 1]; /* the file name the manifest gives */
  uint8_t *buf;
  size_t len;
} hpmh_loaded;

typedef struct {
  char dir[PATH_MAX];                  /* the container's directory */
  hpmh_load_bound bound;
  hpmh_loaded files[HPM_MAX_PAYLOADS]; /* what was loaded, in order */
  unsigned n;
  hpmh_status error; /* why the last load failed (detail "" when none; field: the path) */
} hpmh_loader;

/* Detached payloads of the container at container_path. */
void hpmh_loader_init(hpmh_loader *l, const char *container_path, hpmh_load_bound bound);
hpm_ops hpmh_loader_ops(hpmh_loader *l);
/* Free what was loaded (the loader can be used again). */
void hpmh_loader_free(hpmh_loader *l);

/* Files served from memory: a load of a name not listed fails. */
typedef struct {
  const char *file;
  const uint8_t *data;
  size_t len;
} hpmh_mem_file;

typedef struct {
  const hpmh_mem_file *files;
  size_t count;
} hpmh_mem_loader;

hpm_ops hpmh_mem_ops(hpmh_mem_loader *ml);

/* The characters of plain names: detached file names, release IDs. */
#define HPMH_PLAIN_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"

/* NULL when name is a plain detached file name (docs/format.md: 1..63
 * characters of [A-Za-z0-9._-], no leading dot); otherwise why not. */
const char *hpmh_file_name_problem(const char *name);

/* The directory part of path into out: "." when there is none, "/" for a
 * file in the root. */
void hpmh_dir_of(const char *path, char *out, size_t cap);

#endif
