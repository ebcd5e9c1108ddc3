/* SPDX-License-Identifier: MIT */
/* Cases of malformed manifests for the test_manifest*.c tests (the runner
 * is tl_expect_cases in testlib.c). */
#ifndef HPM_TESTS_MANIFEST_CASES_H
#define HPM_TESTS_MANIFEST_CASES_H

#include "testlib.h"

/* One case of a malformed document: a property set to val (len bytes; len
 * KID: a child node named prop instead). */
typedef struct {
  const char *prop;
  const void *val;
  int len;
} pv;
#define S(x) x, (int)sizeof(x) /* a string literal with its NUL */
#define KID NULL, -1

/* Each case alone, in node of a fresh document from doc() (set, or with add
 * appended after what is there), must be refused with want by verification
 * and by the unverified parse.  node: "@" the root, "" the /payloads node,
 * else the payload of that name. */
void tl_expect_cases(tl_doc *(*doc)(void), const char *node, const pv *cases, size_t n, bool add, hpm_result want);
#define EXPECT_CASES(doc, node, cases, add, want) \
  tl_expect_cases(doc, node, cases, sizeof cases / sizeof cases[0], add, want)

#endif
