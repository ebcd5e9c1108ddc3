/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the per-process journal reader (runtime/hotpatch/journal.c).  The
 * journal is root-owned, but after a crash or a disk fault `hpm recover`
 * must read whatever is there without crashing.  Every record that parses
 * is written back and read again: the round trip must be stable, to the
 * byte.  The input is parsed from memory (hp_journal_parse on fmemopen),
 * the stream hp_journal_read hands the same parser, so no file is written
 * per input. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hotpatch/journal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* hp_journal_parse of n bytes at p; aborts if the stream cannot be opened. */
static int parse_mem(const void *p, size_t n, hp_journal *s) {
  FILE *f = fmemopen((void *)p, n, "r");
  if (!f) abort();
  int rc = hp_journal_parse(f, s);
  fclose(f);
  return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  hp_journal s, t;
  char *text, *again;
  size_t len = 0, len2 = 0;
  if (parse_mem(data, size, &s) != 0) {
    if (s.sites || s.nsites || s.nmaps) __builtin_trap(); /* a refused record leaves nothing */
    return 0;
  }
  text = hp_journal_format(&s, &len);
  if (!text) abort();
  if (parse_mem(text, len, &t) != 0) __builtin_trap();
  if (t.nsites != s.nsites || t.nmaps != s.nmaps || t.seq != s.seq) __builtin_trap();
  for (int i = 0; i < s.nsites; i++)
    if (t.sites[i].len != s.sites[i].len || memcmp(t.sites[i].orig, s.sites[i].orig, s.sites[i].len))
      __builtin_trap();
  again = hp_journal_format(&t, &len2);
  if (!again) abort();
  if (len2 != len || memcmp(again, text, len) != 0) __builtin_trap();
  free(again);
  free(text);
  hp_journal_free(&t);
  hp_journal_free(&s);
  return 0;
}
