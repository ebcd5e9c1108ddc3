/* SPDX-License-Identifier: MIT */
/*
 * The strict manifest schema.  Every manifest here is hand-made with libfdt's
 * sequential-write API (testlib.h), wrapped with hpmw_assemble and signed by
 * a trusted key: the signature is valid, the manifest is what is wrong.
 * Each case is checked through verification and through the unverified
 * parse (the same parser must refuse it the same way).
 */
#include "manifest_cases.h"
#include "testlib.h"

static const char *const long31 = "abcdefghijklmnopqrstuvwxyz01234";      /* 31 */
static const char *const long32 = "abcdefghijklmnopqrstuvwxyz012345";     /* 32 */

/* ---- the builder itself ---------------------------------------------------- */

static void test_builder_matches_hpmw(void **state) {
  hpmw_payload bp[3] = {
      {"kernel", HPM_PAYLOAD_KERNEL, tl_kernel, sizeof tl_kernel, NULL},
      {"initrd", HPM_PAYLOAD_INITRD, tl_initrd, sizeof tl_initrd, NULL},
      {"cmdline", HPM_PAYLOAD_CMDLINE, (const uint8_t *)tl_cmdline, strlen(tl_cmdline), NULL},
  };
  hpmw_payload hp[2] = {
      {"fix-openssl", HPM_PAYLOAD_PATCH, tl_patch1, sizeof tl_patch1, NULL},
      {"fix-glibc", HPM_PAYLOAD_PATCH, tl_patch2, sizeof tl_patch2, NULL},
  };
  hpmw_manifest bm = {.kind = HPM_KIND_BASELINE, .compat = "hpm-x86_64", .version = "2024.06.1",
                      .svn = 7, .timestamp = 1700000000, .release = HPM_RELEASE_PLANNED,
                      .payloads = bp, .payload_count = 3};
  hpmw_manifest hm = {.kind = HPM_KIND_HOTPATCH, .compat = "hpm-x86_64", .version = "2024.06.1",
                      .svn = 7, .timestamp = 1700000000, .classification = HPM_CLASS_SECURITY,
                      .id = "KB5001234", .sequence = 3, .payloads = hp, .payload_count = 2};
  const hpmw_manifest *ms[2] = {&bm, &hm};
  tl_doc *docs[2];
  (void)state;
  memcpy(hm.target_baseline, tl_target, 32);
  docs[0] = tl_doc_baseline();
  docs[1] = tl_doc_hotpatch();
  for (int i = 0; i < 2; i++) {
    uint8_t *mine, *theirs, *c;
    size_t ml, tlen, n;
    hpmh_status e;
    tl_doc_fdt(docs[i], &mine, &ml);
    if (hpmw_manifest_fdt(ms[i], &theirs, &tlen, &e)) fail_msg("%s", e.detail);
    tl_track(theirs);
    assert_int_equal(ml, tlen);
    assert_memory_equal(mine, theirs, ml);
    tl_build(ms[i], &tl_A, &c, &n);
    assert_result(tl_verify1(c, n, ms[i]->kind, &tl_A, NULL), HPM_OK);
    expect_doc(docs[i], HPM_OK);
  }
}

/* ---- duplicates ------------------------------------------------------------------ */

static void test_duplicate_nodes(void **state) {
  tl_doc *d;
  (void)state;
  /* two payloads nodes */
  d = tl_doc_baseline();
  tn_add_kid(d->root, tn_clone(tl_payloads(d), NULL));
  expect_doc(d, HPM_E_DUPLICATE);
  /* the same kernel twice */
  d = tl_doc_baseline();
  tn_add_kid(tl_payloads(d), tn_clone(tl_pl(d, "kernel"), NULL));
  expect_doc(d, HPM_E_DUPLICATE);
  /* a decoy "kernel" first, pointing at other bytes, the real one after it */
  d = tl_doc_baseline();
  {
    tn_node *p = tl_payloads(d), *decoy = tn_clone(tl_pl(d, "kernel"), NULL);
    uint8_t other[32] = {1};
    tn_set(decoy, "sha256", other, 32);
    memmove(&p->kids[1], &p->kids[0], (size_t)p->nkids * sizeof p->kids[0]);
    p->kids[0] = decoy;
    p->nkids++;
    expect_doc(d, HPM_E_DUPLICATE);
  }
  /* duplicated info nodes, at the root and among the payloads */
  d = tl_doc_baseline();
  tn_new_kid(d->root, "info,build");
  tn_new_kid(d->root, "info,build");
  expect_doc(d, HPM_E_DUPLICATE);
  d = tl_doc_baseline();
  tn_new_kid(tl_payloads(d), "info,x");
  tn_new_kid(tl_payloads(d), "info,x");
  expect_doc(d, HPM_E_DUPLICATE);
  /* a payload's own info children */
  d = tl_doc_baseline();
  tn_new_kid(tl_pl(d, "initrd"), "info,src");
  tn_new_kid(tl_pl(d, "initrd"), "info,src");
  expect_doc(d, HPM_E_DUPLICATE);
}

static void test_duplicate_properties(void **state) {
  static const char *const root_props[] = {"hpm,format", "hpm,kind", "compat", "version",
                                           "svn", "timestamp", "release"};
  static const char *const pl_props[] = {"type", "size", "sha256", "offset"};
  static const pv base_other[] = {{"svn", "\0\0\0\x09", 4}};
  static const pv cmdline_other[] = {{"sha256", tl_kernel, 32}}; /* a second one, other bytes */
  static const pv hot_other[] = {{"classification", S("other")}, {"target-baseline", tl_kernel, 32}};
  tl_doc *d;
  (void)state;
  /* every root property of a baseline, repeated with the same value */
  for (size_t i = 0; i < sizeof root_props / sizeof root_props[0]; i++) {
    tn_prop *p;
    d = tl_doc_baseline();
    p = tn_find(d->root, root_props[i]);
    tn_add(d->root, p->name, p->val, p->len);
    expect_doc(d, HPM_E_DUPLICATE);
  }
  /* ... and with a different value (the one a lax parser would pick up) */
  EXPECT_CASES(tl_doc_baseline, "@", base_other, true, HPM_E_DUPLICATE);
  EXPECT_CASES(tl_doc_baseline, "cmdline", cmdline_other, true, HPM_E_DUPLICATE);
  EXPECT_CASES(tl_doc_hotpatch, "@", hot_other, true, HPM_E_DUPLICATE);
  /* every property of a payload */
  for (size_t i = 0; i < sizeof pl_props / sizeof pl_props[0]; i++) {
    tn_prop *p;
    d = tl_doc_baseline();
    p = tn_find(tl_pl(d, "kernel"), pl_props[i]);
    tn_add(tl_pl(d, "kernel"), p->name, p->val, p->len);
    expect_doc(d, HPM_E_DUPLICATE);
  }
  /* info properties are non-critical, but still unique */
  d = tl_doc_baseline();
  tn_add_str(d->root, "info,builder", "ci-1");
  tn_add_str(d->root, "info,builder", "ci-2");
  expect_doc(d, HPM_E_DUPLICATE);
  d = tl_doc_baseline();
  tn_add_str(tl_payloads(d), "info,note", "a");
  tn_add_str(tl_payloads(d), "info,note", "a");
  expect_doc(d, HPM_E_DUPLICATE);
  d = tl_doc_baseline();
  tn_add_str(tl_pl(d, "kernel"), "info,note", "a");
  tn_add_str(tl_pl(d, "kernel"), "info,note", "b");
  expect_doc(d, HPM_E_DUPLICATE);
}

/* ---- names -------------------------------------------------------------------------- */

static void test_at_in_node_names(void **state) {
  tl_doc *d;
  (void)state;
  /* the only kernel is called kernel@1 */
  d = tl_doc_baseline();
  strcpy(tl_pl(d, "kernel")->name, "kernel@1");
  expect_doc(d, HPM_E_BAD_NAME);
  /* a decoy kernel@1 beside the real kernel: after it (zero-size, detached,
   * so only the name is wrong) and before it */
  d = tl_doc_baseline();
  {
    tn_node *decoy = tl_payload_node("kernel@1", "kernel", "evil", 4, "evil.bin", 0);
    tn_add_kid(tl_payloads(d), decoy);
    tl_files_add(&tl_doc_files, "evil.bin", "evil", 4);
  }
  expect_doc(d, HPM_E_BAD_NAME);
  d = tl_doc_baseline();
  {
    tn_node *p = tl_payloads(d), *decoy = tl_payload_node("kernel@0", "kernel", "evil", 4, "evil.bin", 0);
    memmove(&p->kids[1], &p->kids[0], (size_t)p->nkids * sizeof p->kids[0]);
    p->kids[0] = decoy;
    p->nkids++;
    tl_files_add(&tl_doc_files, "evil.bin", "evil", 4);
  }
  expect_doc(d, HPM_E_BAD_NAME);
  /* payloads@0, an '@' at the start, at the end */
  d = tl_doc_baseline();
  strcpy(tl_payloads(d)->name, "payloads@0");
  expect_doc(d, HPM_E_BAD_NAME);
  d = tl_doc_baseline();
  strcpy(tl_pl(d, "initrd")->name, "@initrd");
  expect_doc(d, HPM_E_BAD_NAME);
  d = tl_doc_baseline();
  strcpy(tl_pl(d, "initrd")->name, "initrd@");
  expect_doc(d, HPM_E_BAD_NAME);
  /* inside non-critical info nodes too, at any depth */
  d = tl_doc_baseline();
  tn_new_kid(d->root, "info,x@1");
  expect_doc(d, HPM_E_BAD_NAME);
  d = tl_doc_baseline();
  tn_new_kid(tn_new_kid(tn_new_kid(d->root, "info,a"), "b"), "c@2");
  expect_doc(d, HPM_E_BAD_NAME);
  d = tl_doc_baseline();
  tn_new_kid(tn_new_kid(tl_pl(d, "kernel"), "info,k"), "x@y");
  expect_doc(d, HPM_E_BAD_NAME);
}

static void test_bad_node_names(void **state) {
  static const char *const bad[] = {"Kernel", "ker nel", "kernel!", "ker\tnel", "k/x",
                                    "kernel#", "k\x80", "k~", "k:x", "k;x", "k*"};
  tl_doc *d;
  (void)state;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    d = tl_doc_baseline();
    strcpy(tl_pl(d, "initrd")->name, bad[i]);
    expect_doc(d, HPM_E_BAD_NAME);
  }
  /* empty name below the root */
  d = tl_doc_baseline();
  tl_pl(d, "initrd")->name[0] = '\0';
  expect_doc(d, HPM_E_BAD_NAME);
  /* 32 characters is one too many; 31 is fine; every allowed character */
  d = tl_doc_baseline();
  strcpy(tl_pl(d, "initrd")->name, long32);
  expect_doc(d, HPM_E_BAD_NAME);
  d = tl_doc_baseline();
  strcpy(tl_pl(d, "initrd")->name, long31);
  expect_doc(d, HPM_OK);
  assert_string_equal(tl_m->payloads[1].name, long31);
  d = tl_doc_baseline();
  strcpy(tl_pl(d, "initrd")->name, "a-z_0.9,+");
  expect_doc(d, HPM_OK);
  /* the root node must have the empty name */
  d = tl_doc_baseline();
  strcpy(d->root->name, "root");
  expect_doc(d, HPM_E_BAD_MANIFEST);
  /* a bad name on the payloads node and on an info node */
  d = tl_doc_baseline();
  strcpy(tl_payloads(d)->name, "Payloads");
  expect_doc(d, HPM_E_BAD_NAME);
  d = tl_doc_baseline();
  tn_new_kid(d->root, "info,Build");
  expect_doc(d, HPM_E_BAD_NAME);
}

/* ---- criticality -------------------------------------------------------------------- */

static void test_unknown_critical(void **state) {
  /* properties: root, payloads node, a payload; nodes: at the root, under
   * a payload */
  static const pv root[] = {
      {"rollback-floor", "\0\0\0\0", 4},
      {"hpm,flags", "\0\0\0\0", 4},
      {"info", "\0\0\0\0", 4}, /* the prefix is "info," */
      {"infox", "\0\0\0\0", 4},
      {"INFO,x", "\0\0\0\0", 4},
      {"extras", KID},
  };
  static const pv payloads[] = {{"count", "\0\0\0\3", 4}};
  static const pv kernel[] = {{"compression", S("zstd")}, {"signature", KID}};
  static const pv patch[] = {{"load-address", S("0x1000")}, {"sites", KID}};
  tl_doc *d;
  (void)state;
  EXPECT_CASES(tl_doc_baseline, "@", root, false, HPM_E_UNKNOWN_CRITICAL);
  EXPECT_CASES(tl_doc_baseline, "", payloads, false, HPM_E_UNKNOWN_CRITICAL);
  EXPECT_CASES(tl_doc_baseline, "kernel", kernel, false, HPM_E_UNKNOWN_CRITICAL);
  EXPECT_CASES(tl_doc_hotpatch, "fix-glibc", patch, false, HPM_E_UNKNOWN_CRITICAL);
  /* an info,-named node under an unknown one */
  d = tl_doc_baseline();
  tn_new_kid(tn_new_kid(d->root, "extras"), "info,x");
  expect_doc(d, HPM_E_UNKNOWN_CRITICAL);
}

static void test_info_entries_accepted(void **state) {
  tl_doc *d;
  tn_node *n;
  (void)state;
  d = tl_doc_baseline();
  tn_set_str(d->root, "info,builder", "ci.example.org");
  tn_set_u32(d->root, "info,build-number", 1234);
  tn_add(d->root, "info,", "", 0); /* the bare prefix, empty value */
  tn_set_str(tl_payloads(d), "info,note", "three payloads");
  tn_set_str(tl_pl(d, "kernel"), "info,version", "6.1.0-18-amd64");
  tn_set_str(tl_pl(d, "cmdline"), "info,why", "serial console");
  n = tn_new_kid(d->root, "info,sbom");
  tn_set_str(n, "format", "spdx"); /* anything goes inside info nodes */
  tn_set_u64(n, "anything", 5);
  tn_new_kid(n, "packages");
  tn_new_kid(tl_payloads(d), "info,layout");          /* not a payload */
  tn_new_kid(tl_pl(d, "initrd"), "info,modules");
  expect_doc(d, HPM_OK);
  assert_int_equal(tl_m->info_count, 3);
  assert_int_equal(tl_m->payload_count, 3);
  assert_string_equal(tl_m->payloads[0].name, "kernel");
  /* the same for a hotpatch */
  d = tl_doc_hotpatch();
  tn_set_str(d->root, "info,kb", "https://example.org/kb/5001234");
  tn_new_kid(tl_payloads(d), "info,x");
  expect_doc(d, HPM_OK);
  assert_int_equal(tl_m->info_count, 1);
  assert_int_equal(tl_m->payload_count, 2);
}

/* Nodes nest at most 6 levels (root = 0). */
static void test_nesting_depth(void **state) {
  tl_doc *d;
  tn_node *n;
  (void)state;
  d = tl_doc_baseline();
  n = tn_new_kid(d->root, "info,a"); /* 1 */
  for (int i = 2; i <= 6; i++) n = tn_new_kid(n, "b");
  expect_doc(d, HPM_OK);
  tn_new_kid(n, "c"); /* 7 */
  expect_doc(d, HPM_E_BAD_MANIFEST);
  /* the same depth under a payload's info node: payloads 1, kernel 2, info 3 */
  d = tl_doc_baseline();
  n = tn_new_kid(tl_pl(d, "kernel"), "info,deep");
  for (int i = 4; i <= 7; i++) n = tn_new_kid(n, "d");
  expect_doc(d, HPM_E_BAD_MANIFEST);
}

/* ---- the rules of docs/format.md hold inside info subtrees too -------------
 * "Two siblings with the same name, or two properties with the same name in
 * a node, are refused" and "Every node name below the root is 1-31
 * characters of [a-z0-9,._+-]": these say nothing about skipping info
 * subtrees. */

static void test_info_node_duplicate_property(void **state) {
  tl_doc *d = tl_doc_baseline();
  tn_node *n = tn_new_kid(d->root, "info,build");
  (void)state;
  tn_add_str(n, "host", "builder-1");
  tn_add_str(n, "host", "builder-2");
  expect_doc(d, HPM_E_DUPLICATE);
}

static void test_info_node_duplicate_child(void **state) {
  tl_doc *d = tl_doc_baseline();
  tn_node *n = tn_new_kid(d->root, "info,build");
  (void)state;
  tn_set_str(tn_new_kid(n, "step"), "cmd", "make");
  tn_set_str(tn_new_kid(n, "step"), "cmd", "make install");
  expect_doc(d, HPM_E_DUPLICATE);
}

static void test_info_node_child_names(void **state) {
  static const char *const bad[] = {"Upper", "with space", "", NULL /* 32 chars */};
  char accepted[256] = "";
  (void)state;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    tl_doc *d = tl_doc_baseline();
    tn_node *n = tn_new_kid(d->root, "info,build");
    hpm_result r;
    tn_new_kid(n, bad[i] ? bad[i] : long32);
    r = tl_doc_verify(d);
    if (r != HPM_E_BAD_NAME)
      snprintf(accepted + strlen(accepted), sizeof accepted - strlen(accepted), "\"%s\" -> %s; ",
               bad[i] ? bad[i] : long32, hpm_result_to_string(r));
  }
  if (accepted[0]) fail_msg("children of an info node with bad names: %s", accepted);
}

/* docs/format.md, Limits: 32 properties and 40 children per node. */
static void test_info_node_limits(void **state) {
  tl_doc *d;
  tn_node *n;
  hpm_result r1, r2;
  (void)state;
  d = tl_doc_baseline();
  n = tn_new_kid(d->root, "info,build");
  for (int i = 0; i < 33; i++) tn_set_u32(n, tl_str("p%d", i), (uint32_t)i);
  r1 = tl_doc_verify(d);
  d = tl_doc_baseline();
  n = tn_new_kid(d->root, "info,build");
  for (int i = 0; i < 41; i++) tn_new_kid(n, tl_str("c%d", i));
  r2 = tl_doc_verify(d);
  if (r1 != HPM_E_TOO_LARGE || r2 != HPM_E_TOO_LARGE)
    fail_msg("info node with 33 properties: %s; with 41 children: %s (want %s)",
             hpm_result_to_string(r1), hpm_result_to_string(r2),
             hpm_result_to_string(HPM_E_TOO_LARGE));
}

/* ---- fields --------------------------------------------------------------------------- */

static void test_kind_specific_properties(void **state) {
  static const pv base[] = {
      {"classification", S("security")},
      {"id", S("KB1")},
      {"target-baseline", tl_target, 32},
      {"sequence", "\0\0\0\1", 4},
  };
  static const pv hot[] = {{"release", S("planned")}};
  (void)state;
  EXPECT_CASES(tl_doc_baseline, "@", base, false, HPM_E_BAD_FIELD);
  EXPECT_CASES(tl_doc_hotpatch, "@", hot, false, HPM_E_BAD_FIELD);
}

static void test_missing_required(void **state) {
  static const char *const base[] = {"hpm,format", "hpm,kind", "compat", "version",
                                     "svn", "timestamp", "release"};
  static const char *const hot[] = {"classification", "id", "target-baseline", "sequence"};
  static const char *const pl[] = {"type", "size", "sha256", "offset"};
  tl_doc *d;
  (void)state;
  for (size_t i = 0; i < sizeof base / sizeof base[0]; i++) {
    d = tl_doc_baseline();
    tn_del(d->root, base[i]);
    expect_doc(d, HPM_E_BAD_FIELD);
  }
  for (size_t i = 0; i < sizeof hot / sizeof hot[0]; i++) {
    d = tl_doc_hotpatch();
    tn_del(d->root, hot[i]);
    expect_doc(d, HPM_E_BAD_FIELD);
  }
  for (size_t i = 0; i < sizeof pl / sizeof pl[0]; i++) {
    d = tl_doc_baseline();
    tn_del(tl_pl(d, "initrd"), pl[i]);
    expect_doc(d, HPM_E_BAD_FIELD);
  }
  d = tl_doc_baseline();
  tn_del_kid(d->root, "payloads");
  d->area_len = 0;
  expect_doc(d, HPM_E_BAD_FIELD);
  /* an empty manifest: just a root node */
  d = tl_doc_baseline();
  d->root = tn_new("");
  d->area_len = 0;
  expect_doc(d, HPM_E_BAD_FIELD);
}

static void test_bad_root_values(void **state) {
  static const pv base[] = {
      {"hpm,format", "\0\0\0\x02", 4},         /* the header says 1 */
      {"hpm,format", "\0\0\0\0", 4},
      {"hpm,format", "\0\0\0\0\0\0\0\x01", 8}, /* u64, not one cell */
      {"hpm,format", "\0\x01", 2},
      {"hpm,kind", S("hotpatch")},            /* disagrees with the header */
      {"hpm,kind", S("catalog")},
      {"hpm,kind", S("Baseline")},
      {"hpm,kind", S("baseline ")},
      {"hpm,kind", "baseline", 8},            /* no NUL */
      {"hpm,kind", "baseline\0\0", 10},       /* two strings */
      {"hpm,kind", "", 0},
      {"hpm,kind", "\0", 1},
      {"hpm,kind", "\0\0\0\x01", 4},
      {"compat", S("hpm x86_64")},            /* space */
      {"compat", S("hpm-x86_64\x7f")},
      {"compat", S("hpm-\xc3\xa9")},
      {"compat", "", 0},
      {"compat", "\0", 1},
      {"compat", "a\0b", 4},                  /* embedded NUL */
      {"version", S("1.0\n")},
      {"version", "1.0", 3},
      {"svn", "\0\0\x01", 3},
      {"svn", "\0\0\0\0\0\0\0\x01", 8},
      {"svn", "", 0},
      {"timestamp", "\0\0\0\x01", 4},
      {"timestamp", "\0\0\0\0\0\0\0\0\0", 9},
      {"release", S("sometimes")},
      {"release", S("Planned")},
      {"release", S("")},
      {"release", "\0\0\0\x01", 4},
  };
  static const pv hot[] = {
      {"classification", S("important")},
      {"classification", S("security\t")},
      {"id", S("KB/1")},
      {"id", S("KB 1")},
      {"id", S("KB+1")},
      {"id", S("KB:1")},
      {"id", S("")},
      {"target-baseline", "0123456789012345678901234567890", 31},
      {"target-baseline", "012345678901234567890123456789012", 33},
      {"target-baseline", "", 0},
      {"sequence", "\0\0\0\0", 4},            /* sequence numbers start at 1 */
      {"sequence", "\0\0\0\0\0\0\0\x01", 8},
  };
  (void)state;
  EXPECT_CASES(tl_doc_baseline, "@", base, false, HPM_E_BAD_FIELD);
  EXPECT_CASES(tl_doc_hotpatch, "@", hot, false, HPM_E_BAD_FIELD);
}

/* Maximum string lengths: at the limit fine, one over refused. */
static void test_string_limits(void **state) {
  static const struct {
    const char *prop;
    size_t max;
    bool hotpatch;
  } lim[] = {{"compat", HPM_COMPAT_MAX, false}, {"version", HPM_VERSION_MAX, false},
             {"id", HPM_ID_MAX, true}};
  (void)state;
  for (size_t i = 0; i < 3; i++) {
    tl_doc *d = lim[i].hotpatch ? tl_doc_hotpatch() : tl_doc_baseline();
    tn_set_str(d->root, lim[i].prop, tl_rep('a', lim[i].max));
    expect_doc(d, HPM_OK);
    tn_set_str(d->root, lim[i].prop, tl_rep('a', lim[i].max + 1));
    expect_doc(d, HPM_E_BAD_FIELD);
  }
  /* every printable character but space in compat; the id alphabet */
  {
    char all[95];
    size_t n = 0;
    tl_doc *d = tl_doc_baseline();
    for (int c = 0x21; c <= 0x7e; c++) all[n++] = (char)c;
    all[n] = '\0';
    tn_set_str(d->root, "compat", all);
    expect_doc(d, HPM_OK);
    assert_string_equal(tl_m->compat, all);
    d = tl_doc_hotpatch();
    tn_set_str(d->root, "id", "AZaz09._-");
    expect_doc(d, HPM_OK);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TL_TEST(test_builder_matches_hpmw),
      TL_TEST(test_duplicate_nodes),
      TL_TEST(test_duplicate_properties),
      TL_TEST(test_at_in_node_names),
      TL_TEST(test_bad_node_names),
      TL_TEST(test_unknown_critical),
      TL_TEST(test_info_entries_accepted),
      TL_TEST(test_nesting_depth),
      TL_TEST(test_info_node_duplicate_property),
      TL_TEST(test_info_node_duplicate_child),
      TL_TEST(test_info_node_child_names),
      TL_TEST(test_info_node_limits),
      TL_TEST(test_kind_specific_properties),
      TL_TEST(test_missing_required),
      TL_TEST(test_bad_root_values),
      TL_TEST(test_string_limits),
  };
  return TL_RUN(tests);
}
