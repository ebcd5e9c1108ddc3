/* SPDX-License-Identifier: MIT */
/*
 * The kernel journal record (kernel.h): STATE_DIR/kernel.state and
 * kernel.pending, "key value" lines ending in "end".  Parsed from memory,
 * bounded, fail-closed; fuzzed (tests/fuzz/fuzz_kjournal.c).
 */
#include <stdio.h>
#include <string.h>

#include "hotpatch/kernel.h"

size_t hp_kjournal_format(const hp_kjournal *k, char *buf, size_t cap) {
  int n = snprintf(buf, cap, "op %s\nmodule %s\nprev %s\nseq %u\nid %s\ntime %llu\nend\n", k->op, k->module,
                   k->prev, k->seq, k->id, (unsigned long long)k->time);
  return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

/* value of "key value" into out (cap): printable, no spaces; 0 or -1. */
static int kj_word(const char *v, size_t n, char *out, size_t cap) {
  if (n >= cap) return -1;
  for (size_t i = 0; i < n; i++)
    if (v[i] <= ' ' || v[i] > '~') return -1;
  memcpy(out, v, n);
  out[n] = '\0';
  return 0;
}

static int kj_num(const char *v, size_t n, uint64_t max, uint64_t *out) {
  uint64_t x = 0;
  if (n == 0 || n > 20) return -1;
  for (size_t i = 0; i < n; i++) {
    if (v[i] < '0' || v[i] > '9') return -1;
    if (x > (max - (uint64_t)(v[i] - '0')) / 10) return -1;
    x = x * 10 + (uint64_t)(v[i] - '0');
  }
  *out = x;
  return 0;
}

int hp_kjournal_parse(const char *buf, size_t len, hp_kjournal *k) {
  unsigned seen = 0;
  memset(k, 0, sizeof *k);
  for (size_t i = 0; i < len;) {
    const char *nl = memchr(buf + i, '\n', len - i);
    if (!nl) break;
    const char *line = buf + i;
    size_t ll = (size_t)(nl - line);
    i += ll + 1;
    if (ll == 3 && !memcmp(line, "end", 3)) {
      if (seen != 0x3f || !k->module[0] || (strcmp(k->op, "apply") && strcmp(k->op, "revert") && k->op[0])) break;
      return 0;
    }
    const char *sp = memchr(line, ' ', ll);
    if (!sp) break;
    size_t kl = (size_t)(sp - line), vl = ll - kl - 1;
    const char *v = sp + 1;
    uint64_t x;
    int bad;
    if (kl == 2 && !memcmp(line, "op", 2)) bad = kj_word(v, vl, k->op, sizeof k->op) || (seen & 1), seen |= 1;
    else if (kl == 6 && !memcmp(line, "module", 6)) bad = kj_word(v, vl, k->module, sizeof k->module) || (seen & 2), seen |= 2;
    else if (kl == 4 && !memcmp(line, "prev", 4)) bad = kj_word(v, vl, k->prev, sizeof k->prev) || (seen & 4), seen |= 4;
    else if (kl == 3 && !memcmp(line, "seq", 3)) {
      bad = kj_num(v, vl, UINT32_MAX, &x) || (seen & 8);
      k->seq = (uint32_t)x;
      seen |= 8;
    } else if (kl == 2 && !memcmp(line, "id", 2)) bad = kj_word(v, vl, k->id, sizeof k->id) || (seen & 16), seen |= 16;
    else if (kl == 4 && !memcmp(line, "time", 4)) bad = kj_num(v, vl, UINT64_MAX, &k->time) || (seen & 32), seen |= 32;
    else bad = 1;
    if (bad) break;
  }
  memset(k, 0, sizeof *k);
  return -1;
}

