/* SPDX-License-Identifier: MIT */
/* Host facts: see hostfacts.h. */
#include "hostfacts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot/efivar.h"
#include "hpm/bootif.h"
#include "fileio.h"
#include "hex.h"

/* A variable's text with NUL bytes dropped (ASCII or UTF-16 alike). */
static int efivar_text(const char *name, char *out, size_t cap) {
  uint8_t buf[260];
  uint32_t attr;
  size_t n, k = 0;
  if (hpm_efivar_read(name, &attr, buf, sizeof buf, &n) != HPM_EFIVAR_OK) return -1;
  for (size_t i = 0; i < n && k + 1 < cap; i++)
    if (buf[i]) out[k++] = (char)buf[i];
  out[k] = 0;
  return k ? 0 : -1;
}

int hostfacts_running_baseline(const hpm_ctx *c, hpm_running_baseline *rb) {
  memset(rb, 0, sizeof *rb);
  rb->src = "none";
  char text[128];
  if (c->baseline_override) {
    if (hpmh_parse_hex(c->baseline_override, rb->digest, HPM_DIGEST_LEN)) return -1;
    rb->src = "--baseline/HPM_BASELINE";
    if (c->baseline_svn_override && !hpmh_parse_u32(c->baseline_svn_override, &rb->svn)) rb->svn_known = true;
    return 0;
  }
  if (!efivar_text(HPM_VAR_BOOT_BASELINE, text, sizeof text) && !hpmh_parse_hex(text, rb->digest, HPM_DIGEST_LEN)) {
    rb->src = "EFI variable HpmBootBaseline";
    if (!efivar_text(HPM_VAR_BOOT_SVN, text, sizeof text) && !hpmh_parse_u32(text, &rb->svn)) rb->svn_known = true;
    return 0;
  }
  FILE *f = fopen("/proc/cmdline", "re");
  if (!f) return -1;
  char line[4096];
  size_t n = fread(line, 1, sizeof line - 1, f);
  fclose(f);
  line[n] = 0;
  for (char *p = line; (p = strstr(p, "hpm.baseline=")); p++) {
    if (p != line && p[-1] != ' ') continue;
    char hexs[2 * HPM_DIGEST_LEN + 1];
    size_t k = 0;
    for (p += 13; *p && *p != ' ' && *p != '\n' && k < 2 * HPM_DIGEST_LEN; p++) hexs[k++] = *p;
    hexs[k] = 0;
    if (hpmh_parse_hex(hexs, rb->digest, HPM_DIGEST_LEN)) return -1;
    rb->src = "/proc/cmdline hpm.baseline=";
    return 0;
  }
  return -1;
}

static void applied_path(const hpm_ctx *c, char *p, size_t cap) { snprintf(p, cap, "%s/applied", c->state_dir); }

void hostfacts_applied_read(const hpm_ctx *c, hpm_applied *a) {
  memset(a, 0, sizeof *a);
  char p[4200];
  applied_path(c, p, sizeof p);
  FILE *f = fopen(p, "re");
  if (!f) return;
  if (fscanf(f, "seq %u id %63s", &a->seq, a->id) < 1) a->seq = 0;
  fclose(f);
}

int hostfacts_applied_write(const hpm_ctx *c, const hpm_applied *a) {
  char p[4200], text[128];
  applied_path(c, p, sizeof p);
  int n = snprintf(text, sizeof text, "seq %u id %s\n", a->seq, a->id[0] ? a->id : "-");
  hpmh_status st;
  if (hpmh_write_file(p, (const uint8_t *)text, (size_t)n, 0644, 0, &st)) {
    errno = EIO;
    return -1;
  }
  return 0;
}
