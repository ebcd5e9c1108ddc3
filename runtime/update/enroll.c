/* SPDX-License-Identifier: MIT */
/* Enrollment state and the re-enrollment rule (enroll.h). */
#include "update/enroll.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "hex.h"

#define ENROLL_FILE "enrollment"
#define ENROLL_MAGIC "hpm-enrollment 1"

int enroll_load(const char *state_dir, enroll_state *s, char *err, size_t errlen) {
  char path[600];
  snprintf(path, sizeof path, "%s/" ENROLL_FILE, state_dir);
  memset(s, 0, sizeof *s);
  s->enrolled = true;
  FILE *f = fopen(path, "re");
  if (!f) {
    if (errno == ENOENT) return 0;
    snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
    return -1;
  }
  char line[256];
  int lineno = 0;
  bool magic = false, have_state = false, have_base = false;
  while (fgets(line, sizeof line, f)) {
    lineno++;
    line[strcspn(line, "\n")] = 0;
    if (lineno == 1) {
      magic = !strcmp(line, ENROLL_MAGIC);
      if (!magic) break;
      continue;
    }
    char *eq = strchr(line, '=');
    if (!eq) goto bad;
    *eq = 0;
    const char *k = line, *v = eq + 1;
    if (!strcmp(k, "enrolled")) {
      if (!strcmp(v, "yes")) s->enrolled = true;
      else if (!strcmp(v, "no")) s->enrolled = false;
      else goto bad;
      have_state = true;
    } else if (!strcmp(k, "baseline")) {
      if (hpmh_parse_hex(v, s->baseline, HPM_DIGEST_LEN)) goto bad;
      have_base = true;
    } else if (!strcmp(k, "svn")) {
      if (strcmp(v, "unknown")) {
        if (hpmh_parse_u32(v, &s->svn)) goto bad;
        s->svn_known = true;
      }
    } else if (!strcmp(k, "since")) {
      char *end;
      errno = 0;
      s->since = strtoull(v, &end, 10);
      if (errno || *end || !*v) goto bad;
    } else {
      goto bad;
    }
  }
  fclose(f);
  if (!magic || !have_state || (!s->enrolled && !have_base)) {
    snprintf(err, errlen, "%s: not an hpm enrollment file (or incomplete); fix: delete it and run hpm unenroll (or hpm enroll) again",
             path);
    return -1;
  }
  return 0;
bad:
  fclose(f);
  snprintf(err, errlen, "%s:%d: unexpected line; fix: delete the file and run hpm unenroll (or hpm enroll) again", path, lineno);
  return -1;
}

int enroll_save(const char *state_dir, const enroll_state *s, char *err, size_t errlen) {
  char path[600], hexs[2 * HPM_DIGEST_LEN + 1], body[512];
  snprintf(path, sizeof path, "%s/" ENROLL_FILE, state_dir);
  hpm_fmt_hex(s->baseline, HPM_DIGEST_LEN, hexs, sizeof hexs);
  char svn[16] = "unknown";
  if (s->svn_known) snprintf(svn, sizeof svn, "%u", s->svn);
  int n;
  if (s->enrolled) n = snprintf(body, sizeof body, ENROLL_MAGIC "\nenrolled=yes\nsince=%llu\n", (unsigned long long)s->since);
  else
    n = snprintf(body, sizeof body, ENROLL_MAGIC "\nenrolled=no\nbaseline=%s\nsvn=%s\nsince=%llu\n", hexs, svn,
                 (unsigned long long)s->since);
  if (mkdir(state_dir, 0755) && errno != EEXIST) {
    snprintf(err, errlen, "%s: cannot create: %s", state_dir, strerror(errno));
    return -1;
  }
  hpmh_status st;
  if (hpmh_write_file(path, (const uint8_t *)body, (size_t)n, 0644, 0, &st)) {
    snprintf(err, errlen, "%s", st.detail);
    return -1;
  }
  return 0;
}

static const hpm_catalog_entry *cat_baseline(const hpm_catalog *cat, const uint8_t d[HPM_DIGEST_LEN]) {
  for (size_t i = 0; cat && i < cat->count; i++)
    if (cat->entries[i].kind == HPM_KIND_BASELINE && !memcmp(cat->entries[i].digest, d, HPM_DIGEST_LEN))
      return &cat->entries[i];
  return NULL;
}

static bool later(const hpm_catalog_entry *a, const hpm_catalog_entry *b) {
  if (a->release_time != b->release_time) return a->release_time > b->release_time;
  return a->svn > b->svn;
}

enroll_verdict enroll_check(const enroll_state *s, const hpm_running_baseline *rb, const hpm_catalog *cat, char *why,
                            size_t whylen) {
  if (s->enrolled) {
    snprintf(why, whylen, "this host is already enrolled");
    return ENROLL_ALREADY;
  }
  char was[2 * HPM_DIGEST_LEN + 1];
  hpm_fmt_hex(s->baseline, HPM_DIGEST_LEN, was, sizeof was);
  /* The next baseline after the one unenrolled on, if the catalog says. */
  const hpm_catalog_entry *old = cat_baseline(cat, s->baseline), *next = NULL;
  if (old)
    for (size_t i = 0; i < cat->count; i++) {
      const hpm_catalog_entry *e = &cat->entries[i];
      if (e->kind == HPM_KIND_BASELINE && later(e, old) && (!next || later(next, e))) next = e;
    }
  char need[200];
  if (next) snprintf(need, sizeof need, "baseline %s (%s) or later", next->id, next->version);
  else snprintf(need, sizeof need, "a baseline newer than %s (the next one)", was);

  bool newer;
  if (!memcmp(rb->digest, s->baseline, HPM_DIGEST_LEN)) {
    newer = false;
  } else {
    const hpm_catalog_entry *cur = cat_baseline(cat, rb->digest);
    if (old && cur) newer = later(cur, old);
    else newer = !(s->svn_known && rb->svn_known && rb->svn < s->svn);
  }
  if (newer) {
    snprintf(why, whylen, "the running baseline is newer than %s, the one this host was unenrolled on", was);
    return ENROLL_ALLOWED;
  }
  snprintf(why, whylen,
           "refused: this host was unenrolled while running baseline %s%s; hotpatches for it were skipped, so it "
           "can re-enroll only once it runs %s. Install and boot that baseline first (hpm install, then reboot), "
           "then run hpm enroll again",
           was, memcmp(rb->digest, s->baseline, HPM_DIGEST_LEN) ? " and the running one is not newer" : ", which it still runs",
           need);
  return ENROLL_REFUSED;
}
