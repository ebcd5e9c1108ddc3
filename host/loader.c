/* SPDX-License-Identifier: MIT */
/* Detached payloads for core's hpm_ops: see loader.h. */
#include "loader.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"

const char *hpmh_file_name_problem(const char *name) {
  size_t n = strlen(name);
  if (n == 0) return "must not be empty";
  if (n > HPM_FILE_MAX) return "is longer than 63 characters";
  if (name[0] == '.') return "must not start with a dot";
  if (strspn(name, HPMH_PLAIN_CHARS) != n) return "may contain only A-Z a-z 0-9 . _ -";
  return NULL;
}

void hpmh_dir_of(const char *path, char *out, size_t cap) {
  const char *slash = strrchr(path, '/');
  if (!slash)
    snprintf(out, cap, ".");
  else if (slash == path)
    snprintf(out, cap, "/");
  else
    snprintf(out, cap, "%.*s", (int)(slash - path), path);
}

static hpm_result loader_load(void *ctx, const char *file, uint64_t expected, const uint8_t **data,
                              size_t *len) {
  hpmh_loader *l = ctx;
  hpmh_loaded *f;
  char path[PATH_MAX + HPM_FILE_MAX + 2];
  const char *why = hpmh_file_name_problem(file);
  uint64_t limit = l->bound == HPMH_LOAD_MANIFEST_SIZE ? expected : HPM_PAYLOAD_MAX;

  memset(&l->error, 0, sizeof l->error);
  /* core has checked the name; a loader never trusts that it did. */
  if (why) {
    hpmh_fail(&l->error, HPMH_E_INVALID, file, "detached payload file name '%s' %s", file, why);
    return HPM_E_PAYLOAD_MISSING;
  }
  if (snprintf(path, sizeof path, "%s/%s", l->dir, file) >= (int)sizeof path) {
    hpmh_fail(&l->error, HPMH_E_IO, l->dir, "%s/%s: path too long", l->dir, file);
    return HPM_E_PAYLOAD_MISSING;
  }
  if (l->n == HPM_MAX_PAYLOADS) {
    hpmh_fail(&l->error, HPMH_E_INVALID, path, "too many detached payloads");
    return HPM_E_PAYLOAD_MISSING;
  }
  if (limit == 0 || limit > HPM_PAYLOAD_MAX) {
    hpmh_fail(&l->error, HPMH_E_INVALID, path, "%s: the manifest states an impossible size", path);
    return HPM_E_PAYLOAD_MISSING;
  }
  f = &l->files[l->n];
  if (hpmh_read_file(path, limit, &f->buf, &f->len, &l->error)) return HPM_E_PAYLOAD_MISSING;
  snprintf(f->name, sizeof f->name, "%s", file);
  l->n++;
  *data = f->buf;
  *len = f->len;
  return HPM_OK;
}

void hpmh_loader_init(hpmh_loader *l, const char *container_path, hpmh_load_bound bound) {
  memset(l, 0, sizeof *l);
  hpmh_dir_of(container_path, l->dir, sizeof l->dir);
  l->bound = bound;
}

hpm_ops hpmh_loader_ops(hpmh_loader *l) {
  hpm_ops ops = {.ctx = l, .load = loader_load};
  return ops;
}

void hpmh_loader_free(hpmh_loader *l) {
  for (unsigned i = 0; i < l->n; i++) free(l->files[i].buf);
  memset(l->files, 0, sizeof l->files);
  l->n = 0;
}

static hpm_result mem_load(void *ctx, const char *file, uint64_t expected, const uint8_t **data,
                           size_t *len) {
  hpmh_mem_loader *ml = ctx;
  (void)expected; /* core compares the size */
  for (size_t i = 0; i < ml->count; i++)
    if (ml->files[i].file && strcmp(ml->files[i].file, file) == 0) {
      *data = ml->files[i].data;
      *len = ml->files[i].len;
      return HPM_OK;
    }
  return HPM_E_PAYLOAD_MISSING;
}

hpm_ops hpmh_mem_ops(hpmh_mem_loader *ml) {
  hpm_ops ops = {.ctx = ml, .load = mem_load};
  return ops;
}
