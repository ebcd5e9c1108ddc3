/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the per-process journal reader (runtime/hotpatch/state.c).  The
 * journal is root-owned, but after a crash or a disk fault `hpm recover`
 * must read whatever is there without crashing.  Every record that parses
 * is written back and read again: the round trip must be stable. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hotpatch/state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int put_file(const char *path, const uint8_t *data, size_t size) {
  FILE *f = fopen(path, "we");
  if (!f) return -1;
  size_t n = fwrite(data, 1, size, f);
  return (fclose(f) != 0 || n != size) ? -1 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static char dir[64];
  char in[96], out[96];
  st_proc s, t;
  if (!dir[0]) {
    snprintf(dir, sizeof dir, "/tmp/hpm-fuzz-journal.XXXXXX");
    if (!mkdtemp(dir)) abort();
  }
  snprintf(in, sizeof in, "%s/in", dir);
  snprintf(out, sizeof out, "%s/out", dir);
  if (put_file(in, data, size)) abort();
  if (st_read(in, &s) == 0) {
    if (st_write(out, &s) != 0) abort();
    if (st_read(out, &t) != 0) __builtin_trap();
    if (t.nsites != s.nsites || t.nmaps != s.nmaps || t.seq != s.seq) __builtin_trap();
    for (int i = 0; i < s.nsites; i++)
      if (t.sites[i].len != s.sites[i].len || memcmp(t.sites[i].orig, s.sites[i].orig, s.sites[i].len))
        __builtin_trap();
    st_free(&t);
    st_free(&s);
  }
  return 0;
}
