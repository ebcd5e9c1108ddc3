/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the release file of `hpm-sign build --from`
 * (tools/hpm-sign/release_file.c): inih's reading and the checks of every
 * field and of their combination, from memory.  Invariants: a parse either
 * succeeds with a complete description (what the builders need is there)
 * or fails with one message that names the file; nothing leaks.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hpm-sign.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  release_spec *s = calloc(1, sizeof *s);
  char err[1024];
  if (!s) abort();
  if (rf_parse((const char *)data, size, "fuzz.ini", s, err, sizeof err) == 0) {
    uint32_t th = 0;
    if (s->kind < HPM_KIND_BASELINE || s->kind > HPM_KIND_CATALOG || !s->out.v || !s->key.n) abort();
    if (s->kind == HPM_KIND_BASELINE && (!s->kernel.v || !s->version.v || !s->svn.v)) abort();
    if (s->kind == HPM_KIND_HOTPATCH && (!s->baseline.v || !s->seq.v || !s->payload.n)) abort();
    if (s->kind == HPM_KIND_CATALOG && (!s->serial.v || !s->expires.v || !s->entry.n)) abort();
    if (s->threshold.v && (hpmh_parse_u32(s->threshold.v, &th) || th == 0 || th > s->key.n)) abort();
  } else if (strncmp(err, "fuzz.ini:", 9) != 0 || strlen(err) < 12) {
    abort();
  }
  rf_free(s);
  free(s);
  return 0;
}
