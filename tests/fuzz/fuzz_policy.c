/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the two small text parsers of the host lifecycle:
 * the policy file (runtime/update/policy.c, via inih) and the enrollment state file
 * (runtime/update/enroll.c).  The first input byte picks the parser; the rest is
 * the file.  A parsed policy is then run through the window arithmetic.
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!dir[0]) {
    snprintf(dir, sizeof dir, "/tmp/hpm-fuzz-policy-%d", (int)getpid());
    mkdir(dir, 0700);
  }
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
