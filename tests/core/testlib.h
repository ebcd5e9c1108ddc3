/* SPDX-License-Identifier: MIT */
/*
 * Shared helpers of the core unit tests (tests/core/testlib.c, compiled once
 * and linked into every test binary that uses it):
 *
 *  - deterministic key generation with mbedTLS (mbedtls_ecp_gen_key from a
 *    fixed-seed CTR_DRBG: no key files, same keys on every run);
 *  - signed containers built with hpmw (tools/lib, the signer);
 *  - a small tree builder on libfdt's sequential-write API, to make manifests
 *    hpmw would never write (duplicate properties and nodes, '@' names,
 *    unknown entries, gaps, memory reservations, ...), wrapped with
 *    hpmw_assemble and signed with a trusted key so the test reaches the
 *    manifest parser;
 *  - an allocation list freed after every test (cmocka longjmps out of a
 *    failing test; the list keeps LeakSanitizer quiet about it).
 */
#ifndef HPM_TESTLIB_H
#define HPM_TESTLIB_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libfdt.h>
#include <mbedtls/ecp.h>
#include <mbedtls/pk.h>

#include "hpm/core.h"
#include "hpm/format.h"
#include "hpmw.h"

/* ---- allocations freed after each test ---------------------------------- */

void *tl_track(void *p);
void *tl_calloc(size_t n);
/* The buffer old was realloc'd (to now): update the tracked pointer. */
void tl_retrack(void *old, void *now);
void tl_free_all(void);
/* A formatted string / a copy that lives until the end of the test. */
const char *tl_str(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
uint8_t *tl_dup(const uint8_t *p, size_t n);
bool tl_all_zero(const uint8_t *p, size_t n);

/* ---- keys ---------------------------------------------------------------- */

typedef struct {
  mbedtls_pk_context pk;
  hpm_pubkey pub;
} tl_key;

/* A key pair from mbedtls_ecp_gen_key, deterministic per label. */
void tl_keygen(tl_key *k, mbedtls_ecp_group_id gid, const char *label);
void tl_keyfree(tl_key *k);
/* DER SubjectPublicKeyInfo of a key, as mbedTLS (not core) writes it. */
size_t tl_spki(tl_key *k, uint8_t *out, size_t cap);
/* SHA-256 straight from mbedTLS, independent of hpm_sha256. */
void tl_sha256(const void *p, size_t n, uint8_t out[32]);

/* A (P-256), B (P-256), C (P-256), D (P-384) and X (P-256, never trusted):
 * made by tl_group_setup. */
extern tl_key tl_A, tl_B, tl_C, tl_D, tl_X;
extern hpm_diag tl_diag;
extern hpm_manifest *tl_m; /* big: kept off the stack */

/* ---- containers ----------------------------------------------------------- */

void tl_sign(uint8_t **buf, size_t *len, tl_key *k);
/* Append a raw signature entry (even one hpmw would refuse: same key twice). */
void tl_append_entry(uint8_t **buf, size_t *len, uint16_t alg, const uint8_t key_id[32],
                     const uint8_t *der, size_t der_len);
/* Sign whatever header and manifest the buffer holds (even fields core
 * refuses, which hpmw_sign_container would not sign) and append the entry. */
void tl_force_sign(uint8_t **buf, size_t *len, tl_key *k);
/* Where entry i of the signature block starts. */
size_t tl_entry_off(const uint8_t *buf, size_t len, uint32_t i);
void tl_put_le32(uint8_t *p, uint32_t v);
void tl_put_le64(uint8_t *p, uint64_t v);
uint32_t tl_get_le32(const uint8_t *p);

/* hpmw_build (signed by k unless NULL) and hpmw_assemble (unsigned): the
 * signer's container, tracked; the test fails if the signer refuses. */
void tl_build(const hpmw_manifest *m, tl_key *k, uint8_t **out, size_t *len);
void tl_assemble(hpm_kind kind, const uint8_t *fdt, size_t fdt_len, const uint8_t *area, size_t area_len,
                 uint8_t **out, size_t *len);

/* Verify with exactly key k trusted, threshold 1 (into tl_m, tl_diag). */
hpm_result tl_verify1(const uint8_t *buf, size_t len, hpm_kind kind, tl_key *k,
                      const hpm_ops *ops);
/* Assemble fdt + area into a container with header kind, sign with A. */
void tl_seal(hpm_kind kind, const uint8_t *fdt, size_t fdt_len, const uint8_t *area,
             size_t area_len, uint8_t **out, size_t *len);

/* Parse a container in a child process, so a crash inside core is reported
 * as one failed test instead of ending the whole binary.  Returns the
 * result, -1 if the child died (a signal, or a sanitizer report), -2 if it
 * did not finish within 2 seconds. */
int tl_isolated(const uint8_t *c, size_t n, hpm_kind kind, bool verify);
const char *tl_isolated_str(int r);

/* ---- default payloads ------------------------------------------------------ */

extern uint8_t tl_kernel[96], tl_initrd[48], tl_patch1[40], tl_patch2[24];
extern const char tl_cmdline[];
extern const uint8_t tl_target[32]; /* the hotpatch document's target-baseline */

/* ---- the tree builder -------------------------------------------------------- */

#define TN_MAX_PROPS 48
#define TN_MAX_KIDS 48
#define TN_VAL_MAX (128 * 1024)

typedef struct {
  char name[80];
  uint8_t *val;
  int len;
} tn_prop;

typedef struct tn_node {
  char name[80];
  tn_prop *props[TN_MAX_PROPS];
  int nprops;
  struct tn_node *kids[TN_MAX_KIDS];
  int nkids;
} tn_node;

tn_node *tn_new(const char *name);
/* Always appends (duplicates allowed on purpose). */
void tn_add(tn_node *n, const char *name, const void *val, int len);
/* Append a property of len bytes of value fill. */
void tn_add_fill(tn_node *n, const char *name, uint8_t fill, int len);
void tn_add_str(tn_node *n, const char *name, const char *s);
tn_prop *tn_find(tn_node *n, const char *name);
/* Replace the first property of that name, or append. */
void tn_set(tn_node *n, const char *name, const void *val, int len);
void tn_set_str(tn_node *n, const char *name, const char *s);
void tn_set_u32(tn_node *n, const char *name, uint32_t v);
void tn_set_u64(tn_node *n, const char *name, uint64_t v);
uint64_t tn_get_u64(tn_node *n, const char *name);
void tn_del(tn_node *n, const char *name);
tn_node *tn_kid(tn_node *n, const char *name);
tn_node *tn_add_kid(tn_node *n, tn_node *kid);
tn_node *tn_new_kid(tn_node *n, const char *name);
void tn_del_kid(tn_node *n, const char *name);
/* A deep copy (for a decoy that differs from the original). */
tn_node *tn_clone(const tn_node *n, const char *name);
/* Serialize with libfdt's sequential-write API (which checks nothing about
 * names or duplicates: exactly what is needed here). */
void tn_fdt(const tn_node *root, const uint64_t (*rsv)[2], int nrsv, uint8_t **out, size_t *len);

/* ---- detached payload files served through hpm_ops ---------------------------- */

typedef struct {
  const char *file;
  const uint8_t *data;
  size_t len;
  hpm_result result;
} tl_file;

typedef struct {
  tl_file files[40];
  int n;
  int calls;
  uint64_t last_expected;
  char last_file[80];
} tl_files;

extern tl_files tl_doc_files; /* files for detached payloads of documents */

void tl_files_add(tl_files *fs, const char *file, const void *data, size_t len);
/* hpm_ops.load over a tl_files (ctx). */
hpm_result tl_load(void *ctx, const char *file, uint64_t expected_size, const uint8_t **data,
                   size_t *len);

/* ---- documents: a tree + a payload area + the header kind -------------------- */

typedef struct {
  hpm_kind kind; /* written into the container header */
  tn_node *root;
  uint8_t area[16384];
  size_t area_len;
  uint64_t rsv[4][2];
  int nrsv;
} tl_doc;

/* A payload node laid out as hpmw lays it out (type, size, sha256, offset|file). */
tn_node *tl_payload_node(const char *name, const char *type, const void *data, size_t size,
                         const char *file, uint64_t offset);
/* Append an embedded payload: node at the end of /payloads, bytes at the
 * end of the area. */
tn_node *tl_doc_embed(tl_doc *d, const char *name, const char *type, const void *data,
                      size_t size);
void tl_doc_common(tl_doc *d, hpm_kind kind);
/* Baseline: kernel, initrd, cmdline embedded, in that order. */
tl_doc *tl_doc_baseline(void);
/* Hotpatch: two embedded patches. */
tl_doc *tl_doc_hotpatch(void);
tn_node *tl_payloads(tl_doc *d);
tn_node *tl_pl(tl_doc *d, const char *name);
/* Remove an embedded payload (node and bytes). */
void tl_drop(tl_doc *d, const char *name);
/* Turn an embedded payload into a detached one named file (which the
 * documents' hpm_ops then serve with the original bytes). */
void tl_detach(tl_doc *d, const char *name, const char *file);
void tl_doc_fdt(const tl_doc *d, uint8_t **fdt, size_t *len);
void tl_doc_container(const tl_doc *d, uint8_t **out, size_t *len);
hpm_result tl_doc_verify(const tl_doc *d);
hpm_result tl_doc_unverified(const tl_doc *d);

/* ---- cmocka glue ------------------------------------------------------------- */

int tl_group_setup(void **state);
int tl_group_teardown(void **state);
int tl_teardown(void **state);

/* Compare results by name so failures read well. */
#define assert_result(got, want)                                                          \
  do {                                                                                    \
    hpm_result got_ = (got), want_ = (want);                                              \
    if (got_ != want_)                                                                    \
      fail_msg("got %s (%d), want %s (%d); diag: %s: %s", hpm_result_to_string(got_),     \
               (int)got_, hpm_result_to_string(want_), (int)want_, tl_diag.field,        \
               tl_diag.detail);                                                           \
  } while (0)

/* A malformed manifest must be refused the same way by verification (signed
 * by a trusted key, so the signature is fine) and by the unverified parse. */
#define expect_doc(d, want)                        \
  do {                                             \
    assert_result(tl_doc_verify(d), want);         \
    assert_result(tl_doc_unverified(d), want);     \
  } while (0)

#define TL_TEST(f) cmocka_unit_test_teardown(f, tl_teardown)

/* Unbuffered stdout: cmocka's stdout and stderr lines stay in order in logs. */
#define TL_RUN(tests) \
  (setvbuf(stdout, NULL, _IONBF, 0), cmocka_run_group_tests(tests, tl_group_setup, tl_group_teardown))

/* A string of n copies of c (tl_calloc: freed with the test). */
char *tl_rep(char c, size_t n);

#endif
