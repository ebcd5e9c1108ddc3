/* SPDX-License-Identifier: MIT */
/* The host trust store: see trust.h. */
#include "trust.h"

#include <glob.h>
#include <stdio.h>

#include "hpmw.h"
#include "msg.h"

size_t hpm_trust_load(const char *dir, hpm_pubkey *keys, size_t max) {
  char pat[4200];
  snprintf(pat, sizeof pat, "%s/*.pub", dir);
  glob_t g;
  size_t n = 0;
  if (glob(pat, 0, NULL, &g) == 0) {
    for (size_t i = 0; i < g.gl_pathc && n < max; i++) {
      hpmw_err e;
      if (hpmw_load_public(g.gl_pathv[i], &keys[n], &e) == 0) n++;
      else msg("%s: ignored: %s", g.gl_pathv[i], e.msg);
    }
    globfree(&g);
  }
  return n;
}
