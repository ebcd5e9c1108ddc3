/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: hpm_catalog_verify (fixed trust set: the fuzzing P-256 and
 * P-384 keys, threshold 1, a fixed "now") and hpm_catalog_parse_unverified.
 * Seeds (gen_corpus) are catalogs signed with the same keys, so mutations
 * after the manifest reach the signature checks and, with the dictionary,
 * the unverified parse walks mutated catalog schemas.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "mbedtls_alloc.h"
#include "shared.h"

#include "hpm/catalog.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const hpm_trust *trust;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  trust = fz_trust("fuzz_catalog");
  return 0;
}

/* What any accepted catalog must look like. */
static void check(const hpm_catalog *c) {
  FZ_REQUIRE(c->count <= HPM_CATALOG_MAX_ENTRIES);
  FZ_REQUIRE(c->count == 0 || c->entries != NULL);
  FZ_REQUIRE(c->serial >= 1 && c->expires > c->issued);
  for (size_t i = 0; i < c->count; i++) {
    const hpm_catalog_entry *e = &c->entries[i];
    FZ_REQUIRE(e->kind == HPM_KIND_BASELINE || e->kind == HPM_KIND_HOTPATCH);
    FZ_REQUIRE(e->release == HPM_RELEASE_PLANNED || e->release == HPM_RELEASE_UNPLANNED);
    FZ_REQUIRE(e->classification >= HPM_CLASS_CRITICAL && e->classification <= HPM_CLASS_OTHER);
    FZ_REQUIRE(e->id[0] && memchr(e->id, 0, sizeof e->id));
    FZ_REQUIRE(hpm_catalog_url_problem(e->url) == NULL);
    FZ_REQUIRE(e->size >= HPM_CATALOG_ENTRY_SIZE_MIN && e->size <= HPM_CATALOG_ENTRY_SIZE_MAX);
    FZ_REQUIRE((e->kind == HPM_KIND_HOTPATCH) == (e->sequence != 0));
    FZ_REQUIRE(hpm_catalog_find(c, e->id) == e); /* ids are unique */
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  hpm_catalog c, u;
  hpm_diag d;
  hpm_result r = hpm_catalog_verify(data, size, trust, 1760000000ull, &c, &d);
  hpm_result ru;
  FZ_REQUIRE(d.result == r);
  if (r != HPM_OK) FZ_REQUIRE(c.entries == NULL && c.count == 0);
  ru = hpm_catalog_parse_unverified(data, size, &u, &d);
  FZ_REQUIRE(d.result == ru);
  if (ru != HPM_OK) FZ_REQUIRE(u.entries == NULL && u.count == 0);
  if (ru == HPM_OK) check(&u);
  if (r == HPM_OK) {
    check(&c);
    /* what verifies parses for display, identically */
    FZ_REQUIRE(ru == HPM_OK && u.count == c.count && u.serial == c.serial &&
               memcmp(u.digest, c.digest, 32) == 0);
    for (size_t i = 0; i < c.count; i++)
      FZ_REQUIRE(memcmp(&u.entries[i], &c.entries[i], sizeof c.entries[i]) == 0);
  }
  hpm_catalog_free(&c);
  hpm_catalog_free(&u);
  FZ_REQUIRE(fz_mbedtls_live() == 0); /* every mbedTLS context freed */
  return 0;
}
