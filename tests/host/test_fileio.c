/* SPDX-License-Identifier: MIT */
/*
 * host/fileio.c: hpmh_write_file (atomic replace through a temporary file
 * beside the target, the requested mode, exclusive creation that never
 * replaces a file, errors that name the path) and hpmh_read_file (whole
 * regular files, bounded by a size limit).  Against a temporary directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "fileio.h"
#include "tmpdir.h"

static char dir[64];

static int setup(void **state) {
  (void)state;
  return tt_mkdtemp(dir, sizeof dir, "fileio");
}

static int teardown(void **state) {
  (void)state;
  return tt_rmtree(dir);
}

/* dir/name, valid until the next call. */
static const char *at(const char *name) {
  static char p[256];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  return p;
}

/* Names in dir, sorted and joined with spaces ("" when empty). */
static const char *listing(void) {
  static char out[1024];
  struct dirent **names;
  int n = scandir(dir, &names, NULL, alphasort);
  assert_true(n >= 0);
  out[0] = '\0';
  for (int i = 0; i < n; i++) {
    if (names[i]->d_name[0] != '.') {
      if (out[0]) strcat(out, " ");
      strcat(out, names[i]->d_name);
    }
    free(names[i]);
  }
  free(names);
  return out;
}

/* Read path back with the library; its bytes must be want. */
static void expect_content(const char *path, const char *want) {
  uint8_t *got = NULL;
  size_t len = 0;
  hpmh_status st;
  if (hpmh_read_file(path, 1 << 20, &got, &len, &st)) fail_msg("%s", st.detail);
  assert_int_equal(len, strlen(want));
  assert_memory_equal(got, want, len);
  free(got);
}

static unsigned mode_of(const char *path) {
  struct stat sb;
  assert_int_equal(stat(path, &sb), 0);
  return sb.st_mode & 07777;
}

/* hpmh_write_file of text must succeed; the file then holds text, with mode. */
static void write_ok(const char *path, const char *text, unsigned mode, int exclusive) {
  hpmh_status st;
  if (hpmh_write_file(path, (const uint8_t *)text, strlen(text), mode, exclusive, &st)) fail_msg("%s", st.detail);
  expect_content(path, text);
  assert_int_equal(mode_of(path), mode);
}

/* hpmh_write_file must refuse: an I/O error about path, its sentence
 * naming path and saying why. */
static void write_refused(const char *path, int exclusive, const char *why) {
  hpmh_status st;
  memset(&st, 0, sizeof st);
  assert_int_equal(hpmh_write_file(path, (const uint8_t *)"other", 5, 0644, exclusive, &st), -1);
  assert_int_equal(st.code, HPMH_E_IO);
  assert_string_equal(st.field, path);
  assert_non_null(strstr(st.detail, path));
  if (!strstr(st.detail, why)) fail_msg("\"%s\" does not say \"%s\"", st.detail, why);
  /* without a status to fill, the same answer */
  assert_int_equal(hpmh_write_file(path, (const uint8_t *)"other", 5, 0644, exclusive, NULL), -1);
}

static void test_write_replaces_atomically(void **state) {
  (void)state;
  const char *p = at("state.bin");
  write_ok(p, "first", 0600, 0);
  /* Replacing: the new bytes and mode, and no temporary file left beside it. */
  write_ok(p, "second!", 0644, 0);
  assert_string_equal(listing(), "state.bin");
  /* An empty file is a file. */
  write_ok(p, "", 0600, 0);
}

static void test_exclusive_refuses_existing_file(void **state) {
  (void)state;
  const char *p = at("release.pem");
  write_ok(p, "key", 0600, 1);
  write_refused(p, 1, "already exists");
  expect_content(p, "key");
  assert_string_equal(listing(), "release.pem");
}

static void test_missing_directory_names_the_path(void **state) {
  (void)state;
  char p[256];
  snprintf(p, sizeof p, "%s/no-such-dir/out.hpm", dir);
  write_refused(p, 0, "does not exist; create it first");
  assert_string_equal(listing(), "");
}

static void test_read_limit_and_refusals(void **state) {
  (void)state;
  hpmh_status st;
  uint8_t *got = NULL;
  size_t len = 0;
  char big[100];
  const char *p = at("hundred");
  memset(big, 'z', sizeof big);
  assert_int_equal(hpmh_write_file(p, (const uint8_t *)big, sizeof big, 0644, 0, &st), 0);
  /* exactly at the limit: read whole */
  assert_int_equal(hpmh_read_file(p, sizeof big, &got, &len, &st), 0);
  assert_int_equal(len, sizeof big);
  assert_memory_equal(got, big, sizeof big);
  free(got);
  /* one byte over: refused, naming the file and the limit; nothing returned */
  got = NULL;
  assert_int_equal(hpmh_read_file(p, sizeof big - 1, &got, &len, &st), -1);
  assert_null(got);
  assert_string_equal(st.field, p);
  assert_non_null(strstr(st.detail, p));
  assert_non_null(strstr(st.detail, "over the limit of 99"));
  /* a directory and a missing file */
  assert_int_equal(hpmh_read_file(dir, 1 << 20, &got, &len, &st), -1);
  assert_non_null(strstr(st.detail, "not a regular file"));
  p = at("missing");
  assert_int_equal(hpmh_read_file(p, 1 << 20, &got, &len, &st), -1);
  assert_int_equal(st.code, HPMH_E_IO);
  assert_non_null(strstr(st.detail, p));
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void) {
  const struct CMUnitTest tests[] = {T(test_write_replaces_atomically), T(test_exclusive_refuses_existing_file),
                                     T(test_missing_directory_names_the_path), T(test_read_limit_and_refusals)};
  return cmocka_run_group_tests_name("host/fileio", tests, NULL, NULL);
}
