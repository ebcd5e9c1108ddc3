/* SPDX-License-Identifier: MIT */
/* Shared helpers of the core unit tests: see testlib.h. */
#include "manifest_cases.h"
#include "testlib.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/sha256.h>

#include "../../core/internal.h" /* hpm_le32 */


/* ---- allocations freed after each test ---------------------------------- */

#define TL_MAX_ALLOCS 16384
static void *tl_allocs[TL_MAX_ALLOCS];
static size_t tl_nallocs;

void *tl_track(void *p) {
  assert_non_null(p);
  assert_true(tl_nallocs < TL_MAX_ALLOCS);
  tl_allocs[tl_nallocs++] = p;
  return p;
}

void *tl_calloc(size_t n) { return tl_track(calloc(1, n ? n : 1)); }

/* The buffer at *p was realloc'd by hpmw: update the tracked pointer. */
void tl_retrack(void *old, void *now) {
  for (size_t i = 0; i < tl_nallocs; i++)
    if (tl_allocs[i] == old) {
      tl_allocs[i] = now;
      return;
    }
  tl_track(now);
}

void tl_free_all(void) {
  while (tl_nallocs) free(tl_allocs[--tl_nallocs]);
}

/* ---- keys ---------------------------------------------------------------- */


static int tl_fixed_entropy(void *ctx, unsigned char *out, size_t len) {
  uint32_t *ctr = ctx;
  for (size_t i = 0; i < len; i++) out[i] = (unsigned char)(*ctr * 131u + i * 7u + 1u);
  (*ctr)++;
  return 0;
}

/* A key pair from mbedtls_ecp_gen_key, deterministic per label. */
void tl_keygen(tl_key *k, mbedtls_ecp_group_id gid, const char *label) {
  mbedtls_ctr_drbg_context drbg;
  uint32_t ctr = 0;
  hpmh_status e;
  mbedtls_ctr_drbg_init(&drbg);
  assert_int_equal(mbedtls_ctr_drbg_seed(&drbg, tl_fixed_entropy, &ctr,
                                         (const unsigned char *)label, strlen(label)),
                   0);
  mbedtls_pk_init(&k->pk);
  assert_int_equal(mbedtls_pk_setup(&k->pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)), 0);
  assert_int_equal(mbedtls_ecp_gen_key(gid, mbedtls_pk_ec(k->pk), mbedtls_ctr_drbg_random, &drbg), 0);
  mbedtls_ctr_drbg_free(&drbg);
  assert_int_equal(hpmh_public_of(&k->pk, &k->pub, &e), 0);
}

void tl_keyfree(tl_key *k) { mbedtls_pk_free(&k->pk); }

/* DER SubjectPublicKeyInfo of a key, as mbedTLS (not core) writes it. */
size_t tl_spki(tl_key *k, uint8_t *out, size_t cap) {
  uint8_t der[256];
  int n = mbedtls_pk_write_pubkey_der(&k->pk, der, sizeof der);
  assert_true(n > 0 && (size_t)n <= cap);
  memcpy(out, der + sizeof der - (size_t)n, (size_t)n);
  return (size_t)n;
}

/* SHA-256 straight from mbedTLS, independent of hpm_sha256. */
void tl_sha256(const void *p, size_t n, uint8_t out[32]) {
  assert_int_equal(mbedtls_sha256_ret(p, n, out, 0), 0);
}

/* ---- containers ----------------------------------------------------------- */

void tl_sign(uint8_t **buf, size_t *len, tl_key *k) {
  hpmh_status e;
  uint8_t *old = *buf;
  if (hpmw_sign_container(buf, len, &k->pk, &e) != 0) fail_msg("sign: %s", e.detail);
  tl_retrack(old, *buf);
}

/* Append a raw signature entry (even one hpmw would refuse: same key twice). */
void tl_append_entry(uint8_t **buf, size_t *len, uint16_t alg, const uint8_t key_id[32],
                        const uint8_t *der, size_t der_len) {
  size_t tbs, sig_off;
  uint8_t *nb;
  uint32_t count;
  assert_int_equal(hpm_container_layout(*buf, *len, &tbs, &sig_off, NULL), HPM_OK);
  assert_true(der_len <= HPM_SIG_DER_MAX);
  nb = realloc(*buf, *len + HPM_SIG_ENTRY_SIZE);
  assert_non_null(nb);
  tl_retrack(*buf, nb);
  memset(nb + *len, 0, HPM_SIG_ENTRY_SIZE);
  nb[*len + HPM_SIG_ENT_OFF_ALG] = (uint8_t)alg;
  nb[*len + HPM_SIG_ENT_OFF_ALG + 1] = (uint8_t)(alg >> 8);
  nb[*len + HPM_SIG_ENT_OFF_LEN] = (uint8_t)der_len;
  memcpy(nb + *len + HPM_SIG_ENT_OFF_KEYID, key_id, 32);
  memcpy(nb + *len + HPM_SIG_ENT_OFF_DER, der, der_len);
  count = (uint32_t)nb[sig_off + 8] | (uint32_t)nb[sig_off + 9] << 8;
  count++;
  nb[sig_off + 8] = (uint8_t)count;
  nb[sig_off + 9] = (uint8_t)(count >> 8);
  *buf = nb;
  *len += HPM_SIG_ENTRY_SIZE;
}

/* Where entry i of the signature block starts. */
size_t tl_entry_off(const uint8_t *buf, size_t len, uint32_t i) {
  size_t tbs, sig_off;
  assert_int_equal(hpm_container_layout(buf, len, &tbs, &sig_off, NULL), HPM_OK);
  return sig_off + HPM_SIG_HEADER_SIZE + (size_t)i * HPM_SIG_ENTRY_SIZE;
}

void tl_put_le32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
void tl_put_le64(uint8_t *p, uint64_t v) {
  tl_put_le32(p, (uint32_t)v);
  tl_put_le32(p + 4, (uint32_t)(v >> 32));
}
uint32_t tl_get_le32(const uint8_t *p) { return hpm_le32(p); }

/* A formatted string that lives until the end of the test. */
const char *tl_str(const char *fmt, ...) {
  char *s = tl_calloc(256);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(s, 256, fmt, ap);
  va_end(ap);
  return s;
}

bool tl_all_zero(const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i]) return false;
  return true;
}

uint8_t *tl_dup(const uint8_t *p, size_t n) {
  uint8_t *d = tl_calloc(n);
  memcpy(d, p, n);
  return d;
}

/* ---- default payloads ------------------------------------------------------ */

uint8_t tl_kernel[96], tl_initrd[48], tl_patch1[40], tl_patch2[24];
const char tl_cmdline[] = "console=ttyS0 quiet";

static void tl_init_payloads(void) {
  for (size_t i = 0; i < sizeof tl_kernel; i++) tl_kernel[i] = (uint8_t)(0x4b + i * 3);
  for (size_t i = 0; i < sizeof tl_initrd; i++) tl_initrd[i] = (uint8_t)(0x91 ^ i);
  for (size_t i = 0; i < sizeof tl_patch1; i++) tl_patch1[i] = (uint8_t)(0xc3 + i);
  for (size_t i = 0; i < sizeof tl_patch2; i++) tl_patch2[i] = (uint8_t)(0x10 * i + 5);
}

/* ---- the tree builder -------------------------------------------------------- */


tn_node *tn_new(const char *name) {
  tn_node *n = tl_calloc(sizeof *n);
  assert_true(strlen(name) < sizeof n->name);
  strcpy(n->name, name);
  return n;
}

/* Always appends (duplicates allowed on purpose). */
void tn_add(tn_node *n, const char *name, const void *val, int len) {
  tn_prop *p;
  assert_true(n->nprops < TN_MAX_PROPS && len >= 0 && len <= TN_VAL_MAX);
  p = tl_calloc(sizeof *p);
  assert_true(strlen(name) < sizeof p->name);
  strcpy(p->name, name);
  p->val = tl_calloc((size_t)len);
  if (len) memcpy(p->val, val, (size_t)len);
  p->len = len;
  n->props[n->nprops++] = p;
}

/* Append a property of len bytes of value fill. */
void tn_add_fill(tn_node *n, const char *name, uint8_t fill, int len) {
  uint8_t *v = tl_calloc((size_t)len);
  memset(v, fill, (size_t)len);
  tn_add(n, name, v, len);
}

/* Index of the first of a node's props or kids named key, or -1. */
#define TN_INDEX(arr, count, key)                          \
  ({                                                       \
    int at_ = -1;                                          \
    for (int i_ = 0; at_ < 0 && i_ < (count); i_++)        \
      if (strcmp((arr)[i_]->name, (key)) == 0) at_ = i_;   \
    at_;                                                   \
  })

tn_prop *tn_find(tn_node *n, const char *name) {
  int i = TN_INDEX(n->props, n->nprops, name);
  return i < 0 ? NULL : n->props[i];
}

/* Replace the first property of that name, or append. */
void tn_set(tn_node *n, const char *name, const void *val, int len) {
  tn_prop *p = tn_find(n, name);
  if (!p) {
    tn_add(n, name, val, len);
    return;
  }
  assert_true(len >= 0 && len <= TN_VAL_MAX);
  p->val = tl_calloc((size_t)len);
  if (len) memcpy(p->val, val, (size_t)len);
  p->len = len;
}

void tn_set_str(tn_node *n, const char *name, const char *s) {
  tn_set(n, name, s, (int)strlen(s) + 1);
}
void tn_add_str(tn_node *n, const char *name, const char *s) {
  tn_add(n, name, s, (int)strlen(s) + 1);
}
void tn_set_u32(tn_node *n, const char *name, uint32_t v) {
  fdt32_t c = cpu_to_fdt32(v);
  tn_set(n, name, &c, 4);
}
void tn_set_u64(tn_node *n, const char *name, uint64_t v) {
  fdt64_t c = cpu_to_fdt64(v);
  tn_set(n, name, &c, 8);
}


/* Take entry i out of an array of count pointers. */
static void tn_unlist(void *arr, int *count, int i) {
  char *a = arr;
  memmove(a + (size_t)i * sizeof(void *), a + (size_t)(i + 1) * sizeof(void *),
          (size_t)(*count - i - 1) * sizeof(void *));
  (*count)--;
}

void tn_del(tn_node *n, const char *name) {
  int i = TN_INDEX(n->props, n->nprops, name);
  if (i < 0) fail_msg("no property %s in node %s", name, n->name);
  tn_unlist(n->props, &n->nprops, i);
}

tn_node *tn_kid(tn_node *n, const char *name) {
  int i = TN_INDEX(n->kids, n->nkids, name);
  if (i < 0) fail_msg("no node %s under %s", name, n->name);
  return n->kids[i];
}

tn_node *tn_add_kid(tn_node *n, tn_node *kid) {
  assert_true(n->nkids < TN_MAX_KIDS);
  n->kids[n->nkids++] = kid;
  return kid;
}

tn_node *tn_new_kid(tn_node *n, const char *name) { return tn_add_kid(n, tn_new(name)); }

void tn_del_kid(tn_node *n, const char *name) {
  int i = TN_INDEX(n->kids, n->nkids, name);
  if (i < 0) fail_msg("no node %s under %s", name, n->name);
  tn_unlist(n->kids, &n->nkids, i);
}

/* A deep copy (for a decoy that differs from the original). */
tn_node *tn_clone(const tn_node *n, const char *name) {
  tn_node *c = tn_new(name ? name : n->name);
  for (int i = 0; i < n->nprops; i++) tn_add(c, n->props[i]->name, n->props[i]->val, n->props[i]->len);
  for (int i = 0; i < n->nkids; i++) tn_add_kid(c, tn_clone(n->kids[i], NULL));
  return c;
}

static int tn_emit(void *fdt, const tn_node *n) {
  int rc = fdt_begin_node(fdt, n->name);
  for (int i = 0; !rc && i < n->nprops; i++)
    rc = fdt_property(fdt, n->props[i]->name, n->props[i]->val, n->props[i]->len);
  for (int i = 0; !rc && i < n->nkids; i++) rc = tn_emit(fdt, n->kids[i]);
  if (!rc) rc = fdt_end_node(fdt);
  return rc;
}

/* Serialize with libfdt's sequential-write API (which checks nothing about
 * names or duplicates: exactly what is needed here). */
void tn_fdt(const tn_node *root, const uint64_t (*rsv)[2], int nrsv, uint8_t **out,
               size_t *len) {
  size_t cap = 256 * 1024;
  uint8_t *fdt = tl_calloc(cap);
  assert_int_equal(fdt_create(fdt, (int)cap), 0);
  for (int i = 0; i < nrsv; i++) assert_int_equal(fdt_add_reservemap_entry(fdt, rsv[i][0], rsv[i][1]), 0);
  assert_int_equal(fdt_finish_reservemap(fdt), 0);
  assert_int_equal(tn_emit(fdt, root), 0);
  assert_int_equal(fdt_finish(fdt), 0);
  *out = fdt;
  *len = fdt_totalsize(fdt);
}

/* ---- detached payload files served through hpm_ops ---------------------------- */


tl_files tl_doc_files; /* files for detached payloads of documents */

void tl_files_add(tl_files *fs, const char *file, const void *data, size_t len) {
  assert_true(fs->n < 40);
  fs->files[fs->n].file = file;
  fs->files[fs->n].data = data;
  fs->files[fs->n].len = len;
  fs->files[fs->n].result = HPM_OK;
  fs->n++;
}

hpm_result tl_load(void *ctx, const char *file, uint64_t expected_size,
                          const uint8_t **data, size_t *len) {
  tl_files *fs = ctx;
  fs->calls++;
  fs->last_expected = expected_size;
  snprintf(fs->last_file, sizeof fs->last_file, "%s", file);
  for (int i = 0; i < fs->n; i++)
    if (strcmp(fs->files[i].file, file) == 0) {
      if (fs->files[i].result != HPM_OK) return fs->files[i].result;
      *data = fs->files[i].data;
      *len = fs->files[i].len;
      return HPM_OK;
    }
  return HPM_E_IO;
}

/* ---- documents: a tree + a payload area + the header kind -------------------- */


/* A payload node laid out as hpmw lays it out (type, size, sha256, offset|file). */
tn_node *tl_payload_node(const char *name, const char *type, const void *data, size_t size,
                            const char *file, uint64_t offset) {
  tn_node *n = tn_new(name);
  uint8_t h[32];
  tl_sha256(data, size, h);
  tn_set_str(n, "type", type);
  tn_set_u64(n, "size", size);
  tn_set(n, "sha256", h, 32);
  if (file)
    tn_set_str(n, "file", file);
  else
    tn_set_u64(n, "offset", offset);
  return n;
}

/* Append an embedded payload: node at the end of /payloads, bytes at the end
 * of the area. */
tn_node *tl_doc_embed(tl_doc *d, const char *name, const char *type, const void *data,
                         size_t size) {
  tn_node *n = tl_payload_node(name, type, data, size, NULL, d->area_len);
  assert_true(d->area_len + size <= sizeof d->area);
  memcpy(d->area + d->area_len, data, size);
  d->area_len += size;
  return tn_add_kid(tn_kid(d->root, "payloads"), n);
}

void tl_doc_common(tl_doc *d, hpm_kind kind) {
  memset(d, 0, sizeof *d);
  d->kind = kind;
  d->root = tn_new("");
  tn_set_u32(d->root, "hpm,format", 1);
  tn_set_str(d->root, "hpm,kind", hpm_kind_to_string(kind));
  tn_set_str(d->root, "compat", "hpm-x86_64");
  tn_set_str(d->root, "version", "2024.06.1");
  tn_set_u32(d->root, "svn", 7);
  tn_set_u64(d->root, "timestamp", 1700000000);
}

/* Baseline: kernel, initrd, cmdline embedded, in that order. */
tl_doc *tl_doc_baseline(void) {
  tl_doc *d = tl_calloc(sizeof *d);
  tl_doc_common(d, HPM_KIND_BASELINE);
  tn_set_str(d->root, "release", "planned");
  tn_new_kid(d->root, "payloads");
  tl_doc_embed(d, "kernel", "kernel", tl_kernel, sizeof tl_kernel);
  tl_doc_embed(d, "initrd", "initrd", tl_initrd, sizeof tl_initrd);
  tl_doc_embed(d, "cmdline", "cmdline", tl_cmdline, strlen(tl_cmdline));
  return d;
}

const uint8_t tl_target[32] = {0xb0, 0x0c, 0x5e, 0xed, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
                                      13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28};

/* Hotpatch: two embedded patches. */
tl_doc *tl_doc_hotpatch(void) {
  tl_doc *d = tl_calloc(sizeof *d);
  tl_doc_common(d, HPM_KIND_HOTPATCH);
  tn_set_str(d->root, "classification", "security");
  tn_set_str(d->root, "id", "KB5001234");
  tn_set(d->root, "target-baseline", tl_target, 32);
  tn_set_u32(d->root, "sequence", 3);
  tn_new_kid(d->root, "payloads");
  tl_doc_embed(d, "fix-openssl", "patch", tl_patch1, sizeof tl_patch1);
  tl_doc_embed(d, "fix-glibc", "patch", tl_patch2, sizeof tl_patch2);
  return d;
}

tn_node *tl_payloads(tl_doc *d) { return tn_kid(d->root, "payloads"); }
tn_node *tl_pl(tl_doc *d, const char *name) { return tn_kid(tl_payloads(d), name); }

uint64_t tn_get_u64(tn_node *n, const char *name) {
  tn_prop *p = tn_find(n, name);
  fdt64_t v;
  assert_non_null(p);
  assert_int_equal(p->len, 8);
  memcpy(&v, p->val, 8);
  return fdt64_to_cpu(v);
}

/* Take an embedded payload's bytes out of the area; later offsets move down. */
static void tl_cut(tl_doc *d, tn_node *n) {
  tn_node *p = tl_payloads(d);
  uint64_t off = tn_get_u64(n, "offset"), size = tn_get_u64(n, "size");
  assert_true(off + size <= d->area_len);
  memmove(d->area + off, d->area + off + size, d->area_len - off - size);
  d->area_len -= size;
  tn_del(n, "offset");
  for (int i = 0; i < p->nkids; i++)
    if (tn_find(p->kids[i], "offset") && tn_get_u64(p->kids[i], "offset") > off)
      tn_set_u64(p->kids[i], "offset", tn_get_u64(p->kids[i], "offset") - size);
}

/* Remove an embedded payload (node and bytes). */
void tl_drop(tl_doc *d, const char *name) {
  tl_cut(d, tl_pl(d, name));
  tn_del_kid(tl_payloads(d), name);
}

/* Turn an embedded payload into a detached one named file (which the
 * documents' hpm_ops then serve with the original bytes). */
void tl_detach(tl_doc *d, const char *name, const char *file) {
  tn_node *n = tl_pl(d, name);
  uint64_t off = tn_get_u64(n, "offset"), size = tn_get_u64(n, "size");
  uint8_t *copy = tl_dup(d->area + off, (size_t)size);
  tl_cut(d, n);
  tn_set_str(n, "file", file);
  tl_files_add(&tl_doc_files, file, copy, (size_t)size);
}

void tl_doc_fdt(const tl_doc *d, uint8_t **fdt, size_t *len) {
  tn_fdt(d->root, (const uint64_t(*)[2])d->rsv, d->nrsv, fdt, len);
}

/* ---- the trust set used by every test binary ----------------------------------- */



/* A (P-256), B (P-256), C (P-256), D (P-384) and X (P-256, never trusted). */
tl_key tl_A, tl_B, tl_C, tl_D, tl_X;
hpm_diag tl_diag;
hpm_manifest *tl_m; /* big: keep it off the stack */

int tl_group_setup(void **state) {
  (void)state;
  tl_init_payloads();
  tl_keygen(&tl_A, MBEDTLS_ECP_DP_SECP256R1, "hpm unit key A");
  tl_keygen(&tl_B, MBEDTLS_ECP_DP_SECP256R1, "hpm unit key B");
  tl_keygen(&tl_C, MBEDTLS_ECP_DP_SECP256R1, "hpm unit key C");
  tl_keygen(&tl_D, MBEDTLS_ECP_DP_SECP384R1, "hpm unit key D");
  tl_keygen(&tl_X, MBEDTLS_ECP_DP_SECP256R1, "hpm unit key X (untrusted)");
  tl_m = calloc(1, sizeof *tl_m);
  return tl_m ? 0 : -1;
}

int tl_group_teardown(void **state) {
  (void)state;
  tl_keyfree(&tl_A);
  tl_keyfree(&tl_B);
  tl_keyfree(&tl_C);
  tl_keyfree(&tl_D);
  tl_keyfree(&tl_X);
  free(tl_m);
  tl_m = NULL;
  return 0;
}

int tl_teardown(void **state) {
  (void)state;
  tl_free_all();
  memset(&tl_doc_files, 0, sizeof tl_doc_files);
  memset(&tl_diag, 0, sizeof tl_diag);
  return 0;
}

/* Trust exactly key k, threshold 1. */
/* Sign whatever header and manifest the buffer holds (even fields core
 * refuses, which hpmw_sign_container would not sign) and append the entry. */
void tl_force_sign(uint8_t **buf, size_t *len, tl_key *k) {
  uint32_t msize = tl_get_le32(*buf + HPM_HDR_OFF_MANIFEST_SIZE);
  uint64_t area = (uint64_t)tl_get_le32(*buf + HPM_HDR_OFF_PAYLOAD_SIZE) |
                  (uint64_t)tl_get_le32(*buf + HPM_HDR_OFF_PAYLOAD_SIZE + 4) << 32;
  size_t tbs = HPM_HEADER_SIZE + msize, sig_off = tbs + (size_t)area, der_len = 0;
  uint8_t der[MBEDTLS_ECDSA_MAX_LEN], kid[32], *nb, *ent;
  hpm_alg alg;
  hpmh_status e;
  uint32_t count;
  assert_true(sig_off + HPM_SIG_HEADER_SIZE <= *len);
  if (hpmw_sign(&k->pk, *buf, tbs, der, &der_len, &alg, kid, &e)) fail_msg("sign: %s", e.detail);
  nb = realloc(*buf, *len + HPM_SIG_ENTRY_SIZE);
  assert_non_null(nb);
  tl_retrack(*buf, nb);
  ent = nb + *len;
  memset(ent, 0, HPM_SIG_ENTRY_SIZE);
  ent[HPM_SIG_ENT_OFF_ALG] = (uint8_t)alg;
  ent[HPM_SIG_ENT_OFF_LEN] = (uint8_t)der_len;
  memcpy(ent + HPM_SIG_ENT_OFF_KEYID, kid, 32);
  memcpy(ent + HPM_SIG_ENT_OFF_DER, der, der_len);
  count = tl_get_le32(nb + sig_off + 8) + 1;
  tl_put_le32(nb + sig_off + 8, count);
  *buf = nb;
  *len += HPM_SIG_ENTRY_SIZE;
}

hpm_result tl_verify1(const uint8_t *buf, size_t len, hpm_kind kind, tl_key *k,
                         const hpm_ops *ops) {
  hpm_trust t = {&k->pub, 1, 1};
  return hpm_container_verify(buf, len, kind, &t, ops, tl_m, &tl_diag);
}

void tl_build(const hpmw_manifest *m, tl_key *k, uint8_t **out, size_t *len) {
  hpmh_status e;
  if (hpmw_build(m, out, len, &e)) fail_msg("build: %s", e.detail);
  tl_track(*out);
  if (k) tl_sign(out, len, k);
}

void tl_assemble(hpm_kind kind, const uint8_t *fdt, size_t fdt_len, const uint8_t *area, size_t area_len,
                 uint8_t **out, size_t *len) {
  hpmh_status e;
  if (hpmw_assemble(kind, fdt, fdt_len, area, area_len, out, len, &e)) fail_msg("assemble: %s", e.detail);
  tl_track(*out);
}

void tl_seal(hpm_kind kind, const uint8_t *fdt, size_t fdt_len, const uint8_t *area,
             size_t area_len, uint8_t **out, size_t *len) {
  tl_assemble(kind, fdt, fdt_len, area, area_len, out, len);
  tl_sign(out, len, &tl_A);
}

void tl_doc_container(const tl_doc *d, uint8_t **out, size_t *len) {
  uint8_t *fdt;
  size_t fdt_len;
  tl_doc_fdt(d, &fdt, &fdt_len);
  tl_seal(d->kind, fdt, fdt_len, d->area, d->area_len, out, len);
}

hpm_result tl_doc_verify(const tl_doc *d) {
  uint8_t *c;
  size_t n;
  hpm_ops ops = {&tl_doc_files, tl_load};
  tl_doc_container(d, &c, &n);
  return tl_verify1(c, n, d->kind, &tl_A, &ops);
}

hpm_result tl_doc_unverified(const tl_doc *d) {
  uint8_t *c;
  size_t n;
  tl_doc_container(d, &c, &n);
  return hpm_container_parse_unverified(c, n, tl_m, &tl_diag);
}

/* Parse a container in a child process, so a crash inside core is reported
 * as one failed test instead of ending the whole binary.  The child calls
 * nothing but core (no cmocka: a failed assertion there would longjmp into
 * the parent's copy of the test runner) with the default signal actions.
 * Returns the result, -1 if the child died (a signal, or a sanitizer report:
 * ASan exits with status 1), -2 if it did not finish within 2 seconds. */
int tl_isolated(const uint8_t *c, size_t n, hpm_kind kind, bool verify) {
  int status;
  pid_t pid;
  fflush(stdout);
  fflush(stderr);
  pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    static const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGALRM};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) signal(sigs[i], SIG_DFL);
    alarm(2); /* a parse that never ends is killed (a normal one takes milliseconds) */
    _exit(100 + (int)(verify ? tl_verify1(c, n, kind, &tl_A, NULL)
                             : hpm_container_parse_unverified(c, n, tl_m, NULL)));
  }
  assert_int_equal(waitpid(pid, &status, 0), pid);
  if (WIFEXITED(status) && WEXITSTATUS(status) >= 100) return WEXITSTATUS(status) - 100;
  if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM) return -2;
  return -1;
}

const char *tl_isolated_str(int r) {
  return r == -2 ? "HUNG (killed after 2 s)" : r < 0 ? "CRASHED" : hpm_result_to_string((hpm_result)r);
}

char *tl_rep(char c, size_t n) {
  char *s = tl_calloc(n + 1);
  memset(s, c, n);
  return s;
}

void tl_expect_cases(tl_doc *(*doc)(void), const char *node, const pv *cases, size_t n, bool add,
                         hpm_result want) {
  for (size_t i = 0; i < n; i++) {
    tl_doc *d = doc();
    const pv *c = &cases[i];
    tn_node *at = !strcmp(node, "@") ? d->root : !*node ? tl_payloads(d) : tl_pl(d, node);
    if (c->len < 0)
      tn_new_kid(at, c->prop);
    else if (add)
      tn_add(at, c->prop, c->val, c->len);
    else
      tn_set(at, c->prop, c->val, c->len);
    if (tl_doc_verify(d) != want || tl_doc_unverified(d) != want)
      fail_msg("case %zu (%s %s): %s, want %s (%s: %s)", i, node, c->prop,
               hpm_result_to_string(tl_doc_verify(d)), hpm_result_to_string(want), tl_diag.field,
               tl_diag.detail);
  }
}
