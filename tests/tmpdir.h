/* SPDX-License-Identifier: MIT */
/*
 * Temporary directories for the unit tests (tests/tmpdir.c, in
 * libtestlib.a with tests/core/testlib.c): made fresh for each test,
 * removed with everything in them afterwards.
 */
#ifndef HPM_TEST_TMPDIR_H
#define HPM_TEST_TMPDIR_H

#include <stddef.h>

/* A new directory /tmp/hpm-test-<name>.XXXXXX into dir (cap bytes).
 * Returns 0, or -1 (cmocka setup functions return it as is). */
int tt_mkdtemp(char *dir, size_t cap, const char *name);

/* Remove dir and everything below it.  Returns 0, or -1. */
int tt_rmtree(const char *dir);

#endif
