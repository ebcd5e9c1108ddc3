/* SPDX-License-Identifier: MIT */
/* The host trust store: see trust.h. */
#include "trust.h"

#include <glob.h>
#include <stdio.h>

#include "keys.h"

size_t hpmh_trust_load(const char *dir, hpm_pubkey *keys, size_t max,
                       void (*warn)(const hpmh_status *st)) {
  char pat[4200];
  snprintf(pat, sizeof pat, "%s/*.pub", dir);
  glob_t g;
  size_t n = 0;
  if (glob(pat, 0, NULL, &g) == 0) {
    for (size_t i = 0; i < g.gl_pathc && n < max; i++) {
      hpmh_status e;
      if (hpmh_load_public(g.gl_pathv[i], &keys[n], &e) == 0) {
        n++;
      } else if (warn) {
        hpmh_status w = e;
        snprintf(w.field, sizeof w.field, "%s", g.gl_pathv[i]);
        snprintf(w.detail, sizeof w.detail, "%.200s: ignored: %.300s", g.gl_pathv[i], e.detail);
        warn(&w);
      }
    }
    globfree(&g);
  }
  return n;
}
