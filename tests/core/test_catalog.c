/* SPDX-License-Identifier: MIT */
/* Catalogs (container kind 3): hpm_catalog_verify, the strict catalog
 * schema, expiry, and the writer in tools/lib/hpmw_catalog.c. */
#include "testlib.h"

#include "hpm/catalog.h"
#include "hpmw_catalog.h"

#define NOW 1760000000ull
#define ISSUED 1750000000ull
#define EXPIRES 1770000000ull

static const uint8_t base1[32] = {0xba, 0x5e, 1};
static const uint8_t base2[32] = {0xba, 0x5e, 2};

static void fill_entry(hpm_catalog_entry *e, size_t i, hpm_kind kind) {
  memset(e, 0, sizeof *e);
  snprintf(e->id, sizeof e->id, "REL-%zu", i);
  e->kind = kind;
  e->release = HPM_RELEASE_PLANNED;
  e->classification = HPM_CLASS_SECURITY;
  e->release_time = ISSUED - 1000 + i;
  snprintf(e->version, sizeof e->version, "2026.%zu", i);
  e->svn = (uint32_t)(i + 1);
  memset(e->digest, 0x11, 32);
  e->digest[0] = (uint8_t)i;
  e->digest[1] = (uint8_t)(i >> 8);
  if (kind == HPM_KIND_HOTPATCH) {
    memcpy(e->target_baseline, base1, 32);
    e->sequence = (uint32_t)i + 1;
  }
  e->size = 4096 + i;
  memset(e->file_sha256, 0x22, 32);
  snprintf(e->url, sizeof e->url, "%s/rel-%zu.hpm", kind == HPM_KIND_HOTPATCH ? "hotpatches" : "baselines", i);
}

/* A catalog of n entries: even ones baselines, odd ones hotpatches. */
static hpm_catalog *make_catalog(size_t n) {
  hpm_catalog *c = tl_calloc(sizeof *c);
  c->serial = 42;
  c->issued = ISSUED;
  c->expires = EXPIRES;
  strcpy(c->compat, "hpm-x86_64");
  c->count = n;
  c->entries = tl_calloc(n * sizeof *c->entries);
  for (size_t i = 0; i < n; i++) fill_entry(&c->entries[i], i, i % 2 ? HPM_KIND_HOTPATCH : HPM_KIND_BASELINE);
  return c;
}

static void build(const hpm_catalog *c, tl_key *k, uint8_t **out, size_t *len) {
  hpmh_status e;
  if (hpmw_catalog_build(c, out, len, &e)) fail_msg("build: %s", e.detail);
  tl_track(*out);
  if (k) tl_force_sign(out, len, k);
}

/* make_catalog(entries), built and signed by k. */
static void signed_catalog(size_t entries, tl_key *k, uint8_t **out, size_t *len) {
  build(make_catalog(entries), k, out, len);
}

static hpm_result verify_with(const uint8_t *b, size_t n, tl_key *k, uint64_t now, hpm_catalog *out) {
  hpm_trust t = {&k->pub, 1, 1};
  return hpm_catalog_verify(b, n, &t, now, out, &tl_diag);
}

static hpm_result verify1(const uint8_t *b, size_t n) {
  hpm_catalog out;
  hpm_result r = verify_with(b, n, &tl_A, NOW, &out);
  if (r != HPM_OK) assert_null(out.entries);
  hpm_catalog_free(&out);
  return r;
}

static void test_round_trip(void **state) {
  hpm_catalog *c = make_catalog(5), out;
  uint8_t *b;
  size_t n;
  (void)state;
  c->entries[3].release = HPM_RELEASE_UNPLANNED;
  c->entries[4].classification = HPM_CLASS_CRITICAL;
  build(c, &tl_A, &b, &n);
  assert_result(verify_with(b, n, &tl_A, NOW, &out), HPM_OK);
  assert_int_equal(out.serial, 42);
  assert_int_equal(out.issued, ISSUED);
  assert_int_equal(out.expires, EXPIRES);
  assert_string_equal(out.compat, "hpm-x86_64");
  assert_int_equal(out.count, 5);
  assert_int_equal(out.trusted_signers, 1);
  assert_int_equal(out.signature_count, 1);
  assert_int_equal(out.signatures[0].status, HPM_SIG_VALID);
  for (size_t i = 0; i < 5; i++) {
    const hpm_catalog_entry *e = &out.entries[i], *w = &c->entries[i];
    assert_string_equal(e->id, w->id);
    assert_int_equal(e->kind, w->kind);
    assert_int_equal(e->release, w->release);
    assert_int_equal(e->classification, w->classification);
    assert_int_equal(e->release_time, w->release_time);
    assert_string_equal(e->version, w->version);
    assert_int_equal(e->svn, w->svn);
    assert_memory_equal(e->digest, w->digest, 32);
    assert_memory_equal(e->target_baseline, w->target_baseline, 32);
    assert_int_equal(e->sequence, w->sequence);
    assert_int_equal(e->size, w->size);
    assert_memory_equal(e->file_sha256, w->file_sha256, 32);
    assert_string_equal(e->url, w->url);
  }
  assert_ptr_equal(hpm_catalog_find(&out, "REL-3"), &out.entries[3]);
  assert_null(hpm_catalog_find(&out, "REL-9"));
  {
    uint8_t d[32];
    assert_result(hpm_sha256(b, HPM_HEADER_SIZE + tl_get_le32(b + HPM_HDR_OFF_MANIFEST_SIZE), d), HPM_OK);
    assert_memory_equal(out.digest, d, 32);
  }
  hpm_catalog_free(&out);
  assert_null(out.entries);
  assert_int_equal(out.count, 0);
  hpm_catalog_free(&out); /* twice is harmless */

  /* an empty catalog is valid (nothing published yet) */
  c->count = 0;
  build(c, &tl_A, &b, &n);
  assert_result(verify1(b, n), HPM_OK);
}

static void test_expiry(void **state) {
  hpm_catalog out;
  uint8_t *b;
  size_t n;
  (void)state;
  signed_catalog(2, &tl_A, &b, &n);
  assert_result(verify_with(b, n, &tl_A, EXPIRES - 1, &out), HPM_OK);
  hpm_catalog_free(&out);
  assert_result(verify_with(b, n, &tl_A, EXPIRES, &out), HPM_E_EXPIRED);
  assert_string_equal(tl_diag.field, "expires");
  /* the refused catalog keeps what an error message needs, nothing else */
  assert_int_equal(out.expires, EXPIRES);
  assert_int_equal(out.serial, 42);
  assert_null(out.entries);
  assert_int_equal(out.count, 0);
  assert_result(verify_with(b, n, &tl_A, UINT64_MAX, &out), HPM_E_EXPIRED);
  /* the unverified parse (display) does not judge time */
  assert_result(hpm_catalog_parse_unverified(b, n, &out, &tl_diag), HPM_OK);
  assert_int_equal(out.count, 2);
  assert_int_equal(out.signatures[0].status, HPM_SIG_NOT_CHECKED);
  hpm_catalog_free(&out);
}

static void test_signatures(void **state) {
  hpm_catalog *c = make_catalog(3), out;
  uint8_t *b, *x;
  size_t n, xn;
  (void)state;
  /* unsigned */
  build(c, NULL, &b, &n);
  assert_result(verify1(b, n), HPM_E_NO_SIGNATURE);
  /* signed by an untrusted key */
  build(c, &tl_X, &b, &n);
  assert_result(verify1(b, n), HPM_E_UNTRUSTED_KEY);
  /* no trust at all */
  assert_result(hpm_catalog_verify(b, n, NULL, NOW, &out, &tl_diag), HPM_E_INVALID_ARGUMENT);
  /* every byte of the signed part flipped: never accepted */
  build(c, &tl_A, &b, &n);
  assert_result(verify1(b, n), HPM_OK);
  for (size_t pos = 0; pos < n; pos += (pos < 64 ? 1 : 7)) {
    hpm_result r;
    x = tl_dup(b, n);
    xn = n;
    x[pos] ^= 0x20;
    r = verify1(x, xn);
    if (r == HPM_OK) fail_msg("flip at %zu accepted", pos);
  }
  /* truncated and extended */
  assert_result(verify1(b, n - 1), HPM_E_TRUNCATED);
  x = tl_calloc(n + 1);
  memcpy(x, b, n);
  assert_result(verify1(x, n + 1), HPM_E_TRAILING_DATA);
  /* threshold: A and B required, only A signed */
  {
    hpm_pubkey keys[2] = {tl_A.pub, tl_B.pub};
    hpm_trust t = {keys, 2, 2};
    assert_result(hpm_catalog_verify(b, n, &t, NOW, &out, &tl_diag), HPM_E_THRESHOLD_NOT_MET);
    tl_force_sign(&b, &n, &tl_B);
    assert_result(hpm_catalog_verify(b, n, &t, NOW, &out, &tl_diag), HPM_OK);
    assert_int_equal(out.trusted_signers, 2);
    hpm_catalog_free(&out);
  }
}

static void test_kinds(void **state) {
  hpm_catalog out;
  uint8_t *b, *bc;
  size_t n, bn;
  (void)state;
  signed_catalog(2, &tl_A, &b, &n);
  /* a catalog is never a baseline or hotpatch, and the container verifier
   * does not take catalogs */
  assert_result(tl_verify1(b, n, HPM_KIND_BASELINE, &tl_A, NULL), HPM_E_WRONG_KIND);
  assert_result(tl_verify1(b, n, HPM_KIND_HOTPATCH, &tl_A, NULL), HPM_E_WRONG_KIND);
  assert_result(tl_verify1(b, n, HPM_KIND_CATALOG, &tl_A, NULL), HPM_E_INVALID_ARGUMENT);
  assert_result(hpm_container_parse_unverified(b, n, tl_m, &tl_diag), HPM_E_WRONG_KIND);
  assert_int_equal(tl_m->kind, HPM_KIND_CATALOG);
  /* a baseline is not a catalog */
  tl_doc_container(tl_doc_baseline(), &bc, &bn);
  assert_result(verify_with(bc, bn, &tl_A, NOW, &out), HPM_E_WRONG_KIND);
  assert_result(hpm_catalog_parse_unverified(bc, bn, &out, &tl_diag), HPM_E_WRONG_KIND);
  /* a catalog manifest relabelled as a baseline in the header, re-signed:
   * the manifest's hpm,kind disagrees */
  {
    uint8_t *fdt, *x;
    size_t fl, xn;
    hpmh_status e;
    if (hpmw_catalog_fdt(make_catalog(2), &fdt, &fl, &e)) fail_msg("%s", e.detail);
    tl_track(fdt);
    tl_assemble(HPM_KIND_BASELINE, fdt, fl, NULL, 0, &x, &xn);
    tl_force_sign(&x, &xn, &tl_A);
    assert_result(tl_verify1(x, xn, HPM_KIND_BASELINE, &tl_A, NULL), HPM_E_BAD_FIELD);
    assert_string_equal(tl_diag.field, "hpm,kind");
  }
  /* a catalog header with a payload area */
  {
    uint8_t *fdt, *x, area[8] = {0};
    size_t fl, xn;
    hpmh_status e;
    if (hpmw_catalog_fdt(make_catalog(2), &fdt, &fl, &e)) fail_msg("%s", e.detail);
    tl_track(fdt);
    tl_assemble(HPM_KIND_CATALOG, fdt, fl, area, sizeof area, &x, &xn);
    tl_force_sign(&x, &xn, &tl_A);
    assert_result(verify1(x, xn), HPM_E_BAD_HEADER);
    assert_string_equal(tl_diag.field, "header.payload_area_size");
  }
}

/* ---- schema: catalogs built node by node ---------------------------------- */

static tn_node *entry_node(size_t i, hpm_kind kind) {
  hpm_catalog_entry e;
  char name[24];
  tn_node *n;
  fill_entry(&e, i, kind);
  snprintf(name, sizeof name, "%zu", i);
  n = tn_new(name);
  tn_set_str(n, "id", e.id);
  tn_set_str(n, "kind", hpm_kind_to_string(kind));
  tn_set_str(n, "release", "planned");
  tn_set_str(n, "classification", "security");
  tn_set_u64(n, "released", e.release_time);
  tn_set_str(n, "version", e.version);
  tn_set_u32(n, "svn", e.svn);
  tn_set(n, "digest", e.digest, 32);
  if (kind == HPM_KIND_HOTPATCH) {
    tn_set(n, "target-baseline", e.target_baseline, 32);
    tn_set_u32(n, "sequence", e.sequence);
  }
  tn_set_u64(n, "size", e.size);
  tn_set(n, "sha256", e.file_sha256, 32);
  tn_set_str(n, "url", e.url);
  return n;
}

/* root with a baseline "0" and a hotpatch "1" */
static tn_node *cat_root(void) {
  tn_node *r = tn_new(""), *en;
  tn_set_u32(r, "hpm,format", 1);
  tn_set_str(r, "hpm,kind", "catalog");
  tn_set_str(r, "compat", "hpm-x86_64");
  tn_set_u64(r, "timestamp", ISSUED);
  tn_set_u64(r, "serial", 7);
  tn_set_u64(r, "expires", EXPIRES);
  en = tn_new_kid(r, "entries");
  tn_add_kid(en, entry_node(0, HPM_KIND_BASELINE));
  tn_add_kid(en, entry_node(1, HPM_KIND_HOTPATCH));
  return r;
}

static hpm_result tree_verify(const tn_node *root) {
  uint8_t *fdt, *c;
  size_t fl, n;
  hpm_catalog out;
  hpm_result r, u;
  tn_fdt(root, NULL, 0, &fdt, &fl);
  tl_seal(HPM_KIND_CATALOG, fdt, fl, NULL, 0, &c, &n);
  r = verify1(c, n);
  /* the unverified parse applies the same schema */
  {
    hpm_diag keep = tl_diag;
    u = hpm_catalog_parse_unverified(c, n, &out, &tl_diag);
    if (u == HPM_OK) hpm_catalog_free(&out);
    if (u != r && !(r == HPM_E_EXPIRED && u == HPM_OK))
      fail_msg("unverified parse gave %s, verification %s", hpm_result_to_string(u), hpm_result_to_string(r));
    tl_diag = keep;
  }
  return r;
}

static void expect_field(const char *fld) {
  if (fld) assert_string_equal(tl_diag.field, fld);
}
#define expect_tree(root, want, fld)        \
  do {                                      \
    assert_result(tree_verify(root), want); \
    expect_field(fld);                      \
  } while (0)

static tn_node *E(tn_node *r, const char *name) { return tn_kid(tn_kid(r, "entries"), name); }

/* One change to a fresh catalog tree (cat_root()): in node ("/" the root,
 * "entries", else entry "0" or "1") property prop set to val (len bytes),
 * appended (ADD), deleted (DEL), or a child node of that name (KID); the
 * catalog must then be refused with want naming field. */
typedef enum { SET, ADD, DEL, KID } edit_op;
typedef struct {
  const char *node, *prop;
  edit_op op;
  const void *val;
  int len;
  hpm_result want;
  const char *field;
} cat_edit;
#define STR(x) x, (int)sizeof(x) /* a string literal with its NUL */
#define NOVAL NULL, 0

static void expect_edits(const cat_edit *c, size_t n) {
  for (size_t i = 0; i < n; i++) {
    tn_node *r = cat_root();
    tn_node *at = !strcmp(c[i].node, "/") ? r : !strcmp(c[i].node, "entries") ? tn_kid(r, "entries")
                                                                               : E(r, c[i].node);
    if (c[i].op == DEL)
      tn_del(at, c[i].prop);
    else if (c[i].op == KID)
      tn_new_kid(at, c[i].prop);
    else if (c[i].op == ADD)
      tn_add(at, c[i].prop, c[i].val, c[i].len);
    else
      tn_set(at, c[i].prop, c[i].val, c[i].len);
    hpm_result got = tree_verify(r);
    if (got != c[i].want || strcmp(tl_diag.field, c[i].field))
      fail_msg("edit %zu (%s %s): %s in %s, want %s in %s", i, c[i].node, c[i].prop,
               hpm_result_to_string(got), tl_diag.field, hpm_result_to_string(c[i].want), c[i].field);
  }
}
#define EXPECT_EDITS(c) expect_edits(c, sizeof c / sizeof c[0])

static void test_schema_good(void **state) {
  tn_node *r = cat_root();
  (void)state;
  expect_tree(r, HPM_OK, NULL);
  /* info,* properties and nodes are accepted anywhere */
  tn_set_str(r, "info,note", "x");
  tn_set_str(tn_kid(r, "entries"), "info,note", "x");
  tn_set_str(E(r, "0"), "info,changelog", "y");
  tn_new_kid(E(r, "1"), "info,extra");
  tn_new_kid(tn_kid(r, "entries"), "info,meta");
  tn_new_kid(r, "info,top");
  expect_tree(r, HPM_OK, NULL);
  /* no entries at all */
  r = cat_root();
  tn_del_kid(r, "entries");
  tn_new_kid(r, "entries");
  expect_tree(r, HPM_OK, NULL);
}

static void test_schema_root(void **state) {
  static const char *const required[] = {"hpm,format", "compat", "timestamp", "serial", "expires"};
  static const cat_edit edits[] = {
      /* version and release belong to releases, not to catalogs */
      {"/", "version", SET, STR("1"), HPM_E_UNKNOWN_CRITICAL, "version"},
      {"/", "release", SET, STR("planned"), HPM_E_UNKNOWN_CRITICAL, "release"},
      {"/", "payloads", KID, NOVAL, HPM_E_UNKNOWN_CRITICAL, "payloads"},
      {"/", "serial", SET, "\0\0\0\0\0\0\0\0", 8, HPM_E_BAD_FIELD, "serial"},
      {"/", "serial", SET, "\0\0\0\5", 4, HPM_E_BAD_FIELD, "/serial"}, /* one cell */
      {"/", "hpm,kind", SET, STR("baseline"), HPM_E_BAD_FIELD, "hpm,kind"},
      {"/", "hpm,format", SET, "\0\0\0\2", 4, HPM_E_BAD_FIELD, "hpm,format"},
      {"/", "serial", ADD, "\0\0\0\0\0\0\0\x09", 8, HPM_E_DUPLICATE, "//serial"}, /* a second */
      {"entries", "count", SET, STR("2"), HPM_E_UNKNOWN_CRITICAL, "entries/count"},
  };
  tn_node *r;
  (void)state;
  char f[64];
  for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
    r = cat_root();
    tn_del(r, required[i]);
    snprintf(f, sizeof f, "/%s", required[i]); /* root paths, as in manifests */
    expect_tree(r, HPM_E_BAD_FIELD, f);
  }
  r = cat_root();
  tn_del_kid(r, "entries");
  expect_tree(r, HPM_E_BAD_FIELD, "entries");
  EXPECT_EDITS(edits);
  r = cat_root();
  tn_set_u64(r, "expires", ISSUED);
  expect_tree(r, HPM_E_BAD_FIELD, "expires");
  r = cat_root();
  tn_add_kid(r, tn_clone(tn_kid(r, "entries"), NULL)); /* two entries nodes */
  expect_tree(r, HPM_E_DUPLICATE, "entries");
}

static void test_schema_entries(void **state) {
  static const char *const common[] = {"id", "kind", "release", "classification", "released",
                                       "version", "svn", "digest", "size", "sha256", "url"};
  static const cat_edit edits[] = {
      {"1", "target-baseline", DEL, NOVAL, HPM_E_BAD_FIELD, "entries/1/target-baseline"},
      {"1", "sequence", DEL, NOVAL, HPM_E_BAD_FIELD, "entries/1/sequence"},
      {"1", "sequence", SET, "\0\0\0\0", 4, HPM_E_BAD_FIELD, "entries/1/sequence"},
      {"0", "target-baseline", SET, base2, 32, HPM_E_BAD_FIELD, "entries/0/target-baseline"}, /* a baseline has none */
      {"0", "sequence", SET, "\0\0\0\1", 4, HPM_E_BAD_FIELD, "entries/0/sequence"},
      {"0", "signature", SET, STR("x"), HPM_E_UNKNOWN_CRITICAL, "entries/0/signature"},
      {"0", "files", KID, NOVAL, HPM_E_UNKNOWN_CRITICAL, "entries/0/files"}, /* only info,* below an entry */
      {"0", "kind", SET, STR("catalog"), HPM_E_BAD_FIELD, "entries/0/kind"},
      {"0", "release", SET, STR("sometimes"), HPM_E_BAD_FIELD, "entries/0/release"},
      {"0", "classification", SET, STR("important"), HPM_E_BAD_FIELD, "entries/0/classification"},
      {"0", "id", SET, STR("KB 1"), HPM_E_BAD_FIELD, "entries/0/id"},
      {"0", "digest", SET, base2, 31, HPM_E_BAD_FIELD, "entries/0/digest"},
      {"0", "sha256", SET, "012345678901234567890123456789012", 33, HPM_E_BAD_FIELD, "entries/0/sha256"},
      {"0", "size", SET, "\0\0\0\0\0\0\0\x64", 8, HPM_E_BAD_FIELD, "entries/0/size"}, /* 100 */
      {"0", "url", ADD, "a.hpm", 6, HPM_E_DUPLICATE, "entries/0/url"},
  };
  tn_node *r;
  char f[64];
  (void)state;
  for (size_t i = 0; i < sizeof common / sizeof common[0]; i++) {
    r = cat_root();
    tn_del(E(r, "1"), common[i]);
    snprintf(f, sizeof f, "entries/1/%s", common[i]);
    expect_tree(r, HPM_E_BAD_FIELD, f);
  }
  EXPECT_EDITS(edits);
  r = cat_root();
  tn_set_u64(E(r, "0"), "size", HPM_CATALOG_ENTRY_SIZE_MAX + 1);
  expect_tree(r, HPM_E_BAD_FIELD, "entries/0/size");
  r = cat_root();
  tn_set_u64(E(r, "0"), "size", HPM_CATALOG_ENTRY_SIZE_MAX);
  expect_tree(r, HPM_OK, NULL);
}

static void test_schema_names_and_duplicates(void **state) {
  /* entries are named 0, 1, 2... in order: entry renamed to name */
  static const struct {
    const char *entry, *name;
  } renames[] = {{"1", "2"}, {"0", "00"}, {"0", "a"}, {"1", "1@0"}};
  tn_node *r, *en;
  (void)state;
  for (size_t i = 0; i < sizeof renames / sizeof renames[0]; i++) {
    r = cat_root();
    strcpy(E(r, renames[i].entry)->name, renames[i].name);
    expect_tree(r, HPM_E_BAD_NAME, tl_str("entries/%s", renames[i].entry));
  }
  r = cat_root();
  en = tn_kid(r, "entries");
  tn_add_kid(en, tn_clone(E(r, "1"), NULL)); /* a second "1" */
  expect_tree(r, HPM_E_BAD_NAME, "entries/2");
  r = cat_root();
  tn_new_kid(tn_kid(r, "entries"), "info,x@1");
  expect_tree(r, HPM_E_BAD_NAME, NULL);
  r = cat_root();
  tn_new_kid(tn_kid(r, "entries"), "info,x");
  tn_new_kid(tn_kid(r, "entries"), "info,x");
  expect_tree(r, HPM_E_DUPLICATE, "entries/info,x");

  /* two entries with the same id, digest, url or hotpatch slot */
  {
    static const char *const fields[] = {"id", "digest", "url", "sequence"};
    for (size_t i = 0; i < 4; i++) {
      tn_node *two, *three;
      char f[64];
      r = cat_root();
      en = tn_kid(r, "entries");
      two = tn_add_kid(en, entry_node(2, HPM_KIND_HOTPATCH));
      three = tn_add_kid(en, entry_node(3, HPM_KIND_HOTPATCH));
      (void)two;
      expect_tree(r, HPM_OK, NULL);
      if (i == 3) {
        tn_set_u32(three, "sequence", 3); /* entry 2's sequence, same target */
      } else {
        tn_prop *p = tn_find(two, fields[i]);
        tn_set(three, fields[i], p->val, p->len);
      }
      snprintf(f, sizeof f, "entries/3/%s", fields[i]);
      expect_tree(r, HPM_E_DUPLICATE, f);
    }
  }
  /* the same sequence for different baselines is fine */
  r = cat_root();
  en = tn_kid(r, "entries");
  tn_add_kid(en, entry_node(2, HPM_KIND_HOTPATCH));
  {
    tn_node *three = tn_add_kid(en, entry_node(3, HPM_KIND_HOTPATCH));
    tn_set_u32(three, "sequence", 3);
    tn_set(three, "target-baseline", base2, 32);
  }
  expect_tree(r, HPM_OK, NULL);
}

static void test_urls(void **state) {
  static const char *const good[] = {"a.hpm", "baselines/2026.1.hpm", "x/y/z/w_~+-.hpm", "a..b", ".hidden/x"};
  static const char *const bad[] = {"", "/abs.hpm", "http://evil/x.hpm", "c:x", "a//b", "a/", "..",
                                    "../x", "a/../b", "a/..", "./a", "a/./b", ".", "a b", "a?b",
                                    "a#b", "a\\b", "%2e%2e/x", "a\nb"};
  (void)state;
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
    if (hpm_catalog_url_problem(good[i])) fail_msg("%s refused: %s", good[i], hpm_catalog_url_problem(good[i]));
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    tn_node *r = cat_root();
    if (!hpm_catalog_url_problem(bad[i])) fail_msg("\"%s\" accepted", bad[i]);
    if (bad[i][0]) {
      tn_set_str(E(r, "0"), "url", bad[i]);
      expect_tree(r, HPM_E_BAD_FIELD, "entries/0/url");
    }
  }
  {
    char longest[HPM_CATALOG_URL_MAX + 2];
    memset(longest, 'a', sizeof longest);
    longest[HPM_CATALOG_URL_MAX] = '\0';
    assert_null(hpm_catalog_url_problem(longest));
    longest[HPM_CATALOG_URL_MAX] = 'a';
    longest[HPM_CATALOG_URL_MAX + 1] = '\0';
    assert_non_null(hpm_catalog_url_problem(longest));
    tn_node *r = cat_root();
    tn_set_str(E(r, "0"), "url", longest);
    expect_tree(r, HPM_E_BAD_FIELD, "entries/0/url");
    tn_set(E(r, "0"), "url", "a\0b", 4); /* embedded NUL */
    expect_tree(r, HPM_E_BAD_FIELD, "entries/0/url");
  }
}

/* 4096 entries fit (and take well under the 2 MiB manifest limit); 4097
 * are refused before any entry is parsed. */
static void test_limits(void **state) {
  hpm_catalog *c = make_catalog(HPM_CATALOG_MAX_ENTRIES), out;
  uint8_t *b;
  size_t n;
  hpmh_status e;
  (void)state;
  build(c, &tl_A, &b, &n);
  assert_true(n < HPM_CATALOG_MANIFEST_MAX);
  assert_result(verify_with(b, n, &tl_A, NOW, &out), HPM_OK);
  assert_int_equal(out.count, HPM_CATALOG_MAX_ENTRIES);
  hpm_catalog_free(&out);
  c->count = HPM_CATALOG_MAX_ENTRIES + 1;
  assert_int_not_equal(hpmw_catalog_build(c, &b, &n, &e), 0);
  {
    /* 4097 bare nodes written by hand */
    size_t cap = 256 * 1024;
    uint8_t *fdt = tl_calloc(cap), *x;
    char name[16];
    size_t xn;
    assert_int_equal(fdt_create(fdt, (int)cap), 0);
    assert_int_equal(fdt_finish_reservemap(fdt), 0);
    assert_int_equal(fdt_begin_node(fdt, ""), 0);
    assert_int_equal(fdt_property_u32(fdt, "hpm,format", 1), 0);
    assert_int_equal(fdt_property_string(fdt, "hpm,kind", "catalog"), 0);
    assert_int_equal(fdt_property_string(fdt, "compat", "c"), 0);
    assert_int_equal(fdt_property_u64(fdt, "timestamp", ISSUED), 0);
    assert_int_equal(fdt_property_u64(fdt, "serial", 1), 0);
    assert_int_equal(fdt_property_u64(fdt, "expires", EXPIRES), 0);
    assert_int_equal(fdt_begin_node(fdt, "entries"), 0);
    for (unsigned i = 0; i <= HPM_CATALOG_MAX_ENTRIES; i++) {
      snprintf(name, sizeof name, "%u", i);
      assert_int_equal(fdt_begin_node(fdt, name), 0);
      assert_int_equal(fdt_end_node(fdt), 0);
    }
    assert_int_equal(fdt_end_node(fdt), 0);
    assert_int_equal(fdt_end_node(fdt), 0);
    assert_int_equal(fdt_finish(fdt), 0);
    tl_seal(HPM_KIND_CATALOG, fdt, fdt_totalsize(fdt), NULL, 0, &x, &xn);
    assert_result(verify1(x, xn), HPM_E_TOO_LARGE);
    assert_string_equal(tl_diag.field, "entries");
  }
  /* a manifest over 2 MiB is refused from the header */
  {
    uint8_t hdr[HPM_HEADER_SIZE + 64] = {0};
    memcpy(hdr, HPM_MAGIC, HPM_MAGIC_LEN);
    tl_put_le32(hdr + HPM_HDR_OFF_FORMAT, 1);
    tl_put_le32(hdr + HPM_HDR_OFF_KIND, HPM_KIND_CATALOG);
    tl_put_le32(hdr + HPM_HDR_OFF_HEADER_SIZE, HPM_HEADER_SIZE);
    tl_put_le32(hdr + HPM_HDR_OFF_MANIFEST_SIZE, HPM_CATALOG_MANIFEST_MAX + 1);
    assert_result(verify1(hdr, sizeof hdr), HPM_E_TOO_LARGE);
    assert_string_equal(tl_diag.field, "header.manifest_size");
    /* while a baseline keeps its 64 KiB limit */
    tl_put_le32(hdr + HPM_HDR_OFF_KIND, HPM_KIND_BASELINE);
    tl_put_le32(hdr + HPM_HDR_OFF_MANIFEST_SIZE, HPM_MANIFEST_MAX + 1);
    assert_result(tl_verify1(hdr, sizeof hdr, HPM_KIND_BASELINE, &tl_A, NULL), HPM_E_TOO_LARGE);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TL_TEST(test_round_trip),
      TL_TEST(test_expiry),
      TL_TEST(test_signatures),
      TL_TEST(test_kinds),
      TL_TEST(test_schema_good),
      TL_TEST(test_schema_root),
      TL_TEST(test_schema_entries),
      TL_TEST(test_schema_names_and_duplicates),
      TL_TEST(test_urls),
      TL_TEST(test_limits),
  };
  return TL_RUN(tests);
}
