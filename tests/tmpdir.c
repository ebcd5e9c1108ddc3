/* SPDX-License-Identifier: MIT */
/* Temporary directories for the unit tests: see tmpdir.h. */
#include "tmpdir.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

int tt_mkdtemp(char *dir, size_t cap, const char *name) {
  if (snprintf(dir, cap, "/tmp/hpm-test-%s.XXXXXX", name) >= (int)cap) return -1;
  return mkdtemp(dir) ? 0 : -1;
}

static int remove_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(path);
}

int tt_rmtree(const char *dir) {
  return nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}
