/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the two small text parsers of the host lifecycle:
 * the policy file (runtime/update/policy.c, via inih) and the enrollment state file
 * (runtime/update/enroll.c).  The first input byte picks the parser; the rest is
 * the file.  A parsed policy is then run through the window arithmetic.
 * Both parsers read a file by name, so each input is written to a folder in
 * tmpfs (/dev/shm): on a disk file system rewriting the file for every input
 * waited for its write-back, and the fuzzer ran at ~550 inputs/s.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "update/enroll.h"
#include "update/policy.h"
#include "update/windows.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64], path[96];

static void remove_dir(void) {
  static const char *const names[] = {"enrollment", "hpm.conf"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    unlink(path);
  }
  rmdir(dir);
}

/* A fresh folder in /dev/shm (in /tmp where there is none), removed at exit. */
static void make_dir(void) {
  snprintf(dir, sizeof dir, "/dev/shm/hpm-fuzz-policy.XXXXXX");
  if (!mkdtemp(dir)) {
    snprintf(dir, sizeof dir, "/tmp/hpm-fuzz-policy.XXXXXX");
    if (!mkdtemp(dir)) abort();
  }
  atexit(remove_dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!dir[0]) make_dir();
  if (size < 1) return 0;
  int which = data[0] & 1;
  snprintf(path, sizeof path, "%s/%s", dir, which ? "enrollment" : "hpm.conf");
  FILE *f = fopen(path, "w");
  if (!f) return 0;
  fwrite(data + 1, 1, size - 1, f);
  fclose(f);
  char err[600];
  if (which) {
    enroll_state s;
    (void)enroll_load(dir, &s, err, sizeof err);
  } else {
    hpm_policy *p = malloc(sizeof *p);
    if (p && policy_load(path, p, err, sizeof err) == POLICY_OK) {
      win_status st;
      win_status_at(p, 1790000000u, &st);
    }
    free(p);
  }
  return 0;
}
