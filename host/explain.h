/* SPDX-License-Identifier: MIT */
/*
 * One sentence for a container that did not verify or parse: what is wrong
 * (the field core named), why that matters and what to do.  hpm-sign and hpm
 * say it alike; only the words for where trusted keys come from differ.
 */
#ifndef HPMH_EXPLAIN_H
#define HPMH_EXPLAIN_H

#include <stddef.h>

#include "hpm/core.h"
#include "loader.h"

typedef struct {
  const char *trust;     /* where trusted keys come from: "the trust set (--trust)" */
  const char *add_key;   /* how to trust a release key: "pass that key's public key with --trust" */
  const char *threshold; /* the threshold in force, said as set: "(--threshold 2)" */
} hpmh_explain_words;

/* m: the manifest as far as it was parsed (NULL if not); ld: the loader of
 * detached payloads used (NULL: none); out gets one sentence, without the
 * file name. */
void hpmh_explain(const hpm_manifest *m, hpm_result r, const hpm_diag *d, const hpmh_loader *ld,
                  const hpmh_explain_words *w, char *out, size_t cap);

#endif
