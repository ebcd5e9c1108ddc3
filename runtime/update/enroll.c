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

#define HPM_VENDOR_GUID "28b3057a-0599-4bcf-861b-d81782718919"
#define ENROLL_FILE "enrollment"
#define ENROLL_MAGIC "hpm-enrollment 1"

static int hex_to_digest(const char *h, uint8_t out[HPM_DIGEST_LEN]) {
  if (strlen(h) != 2 * HPM_DIGEST_LEN) return -1;
  for (size_t i = 0; i < HPM_DIGEST_LEN; i++) {
    unsigned v = 0;
    for (int k = 0; k < 2; k++) {
      char c = h[2 * i + (size_t)k];
      unsigned d;
      if (c >= '0' && c <= '9') d = (unsigned)(c - '0');
      else if (c >= 'a' && c <= 'f') d = (unsigned)(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') d = (unsigned)(c - 'A' + 10);
      else return -1;
      v = v * 16 + d;
    }
    out[i] = (uint8_t)v;
  }
  return 0;
}

/* An EFI variable's text value (after the 4 attribute bytes; UTF-16 or
 * ASCII, NULs dropped) into out. */
static int efivar_text(const char *name, char *out, size_t outlen) {
  const char *dir = getenv("HPM_EFIVARS");
  char path[512];
  snprintf(path, sizeof path, "%s/%s-" HPM_VENDOR_GUID, dir && *dir ? dir : "/sys/firmware/efi/efivars", name);
  FILE *f = fopen(path, "re");
  if (!f) return -1;
  uint8_t buf[260];
  size_t n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  if (n <= 4) return -1;
  size_t k = 0;
  for (size_t i = 4; i < n && k + 1 < outlen; i++)
    if (buf[i]) out[k++] = (char)buf[i];
  out[k] = 0;
  return k ? 0 : -1;
}

static int parse_svn(const char *s, uint32_t *svn) {
  if (!*s) return -1;
  char *end;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (errno || *end || v > UINT32_MAX || s[0] == '-') return -1;
  *svn = (uint32_t)v;
  return 0;
}

int enroll_running_baseline(running_baseline *rb) {
  memset(rb, 0, sizeof *rb);
  char text[128];
  const char *env = getenv("HPM_BASELINE");
  if (env && *env) {
    if (hex_to_digest(env, rb->digest)) return -1;
    rb->src = "HPM_BASELINE";
    const char *s = getenv("HPM_BASELINE_SVN");
    if (s && !parse_svn(s, &rb->svn)) rb->svn_known = true;
    return 0;
  }
  if (!efivar_text("HpmBootBaseline", text, sizeof text) && !hex_to_digest(text, rb->digest)) {
    rb->src = "EFI variable HpmBootBaseline";
    if (!efivar_text("HpmBootSvn", text, sizeof text) && !parse_svn(text, &rb->svn)) rb->svn_known = true;
    return 0;
  }
  FILE *f = fopen("/proc/cmdline", "re");
  if (!f) return -1;
  char line[4096];
  size_t n = fread(line, 1, sizeof line - 1, f);
  fclose(f);
  line[n] = 0;
  char *p = strstr(line, "hpm.baseline=");
  if (!p) return -1;
  char hexs[2 * HPM_DIGEST_LEN + 1];
  size_t k = 0;
  for (p += 13; *p && *p != ' ' && *p != '\n' && k < 2 * HPM_DIGEST_LEN; p++) hexs[k++] = *p;
  hexs[k] = 0;
  if (hex_to_digest(hexs, rb->digest)) return -1;
  rb->src = "/proc/cmdline hpm.baseline=";
  return 0;
}

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
      if (hex_to_digest(v, s->baseline)) goto bad;
      have_base = true;
    } else if (!strcmp(k, "svn")) {
      if (strcmp(v, "unknown")) {
        if (parse_svn(v, &s->svn)) goto bad;
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
  char path[600], tmp[620], hexs[2 * HPM_DIGEST_LEN + 1], body[512];
  snprintf(path, sizeof path, "%s/" ENROLL_FILE, state_dir);
  snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
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
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    snprintf(err, errlen, "%s: cannot create: %s", tmp, strerror(errno));
    return -1;
  }
  bool bad = write(fd, body, (size_t)n) != n || fsync(fd);
  bad |= close(fd) != 0;
  if (bad || rename(tmp, path)) {
    snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
    unlink(tmp);
    return -1;
  }
  int dfd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    if (fsync(dfd)) {
      snprintf(err, errlen, "%s: cannot sync the directory: %s", state_dir, strerror(errno));
      close(dfd);
      return -1;
    }
    close(dfd);
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

enroll_verdict enroll_check(const enroll_state *s, const running_baseline *rb, const hpm_catalog *cat, char *why,
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
  else snprintf(need, sizeof need, "a baseline newer than %.16s… (the next one)", was);

  bool newer;
  if (!memcmp(rb->digest, s->baseline, HPM_DIGEST_LEN)) {
    newer = false;
  } else {
    const hpm_catalog_entry *cur = cat_baseline(cat, rb->digest);
    if (old && cur) newer = later(cur, old);
    else newer = !(s->svn_known && rb->svn_known && rb->svn < s->svn);
  }
  if (newer) {
    snprintf(why, whylen, "the running baseline is newer than %.16s…, the one this host was unenrolled on", was);
    return ENROLL_ALLOWED;
  }
  snprintf(why, whylen,
           "refused: this host was unenrolled while running baseline %.16s…%s; hotpatches for it were skipped, so it "
           "can re-enroll only once it runs %s. Install and boot that baseline first (hpm install, then reboot), "
           "then run hpm enroll again",
           was, memcmp(rb->digest, s->baseline, HPM_DIGEST_LEN) ? " and the running one is not newer" : ", which it still runs",
           need);
  return ENROLL_REFUSED;
}
