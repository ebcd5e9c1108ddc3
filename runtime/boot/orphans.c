/* SPDX-License-Identifier: MIT */
/*
 * Files on the ESP that no slot uses any more: a detached payload of a
 * baseline that was replaced (boot.h, hpm_boot_esp_orphans).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boot/boot.h"
#include "boot/internal.h"
#include "fileio.h"
#include "hpm/bootif.h"
#include "hpm/core.h"

#define SLOT_CONTAINER_MAX (64u * 1024 * 1024)

/* The detached file names every slot container in hpmdir names, into
 * names (count in *n).  -1 with st filled when a container cannot be read
 * or parsed: then nothing can be called unused. */
static int names_in_use(const char *hpmdir, char (*names)[HPM_FILE_MAX + 1], size_t cap, size_t *n,
                        hpmh_status *st) {
  *n = 0;
  for (unsigned i = 0; i < HPM_BS_MAX_SLOTS; i++) {
    char p[1400], nm[16];
    snprintf(nm, sizeof nm, "slot-%c.hpm", hpm_bs_slot_letter(i));
    if (!boot_pjoin(p, sizeof p, hpmdir, nm)) return hpmh_fail(st, HPMH_E_IO, hpmdir, "%s: path too long", hpmdir), -1;
    if (access(p, F_OK)) continue;
    uint8_t *b = NULL;
    size_t len = 0;
    if (hpmh_read_file(p, SLOT_CONTAINER_MAX, &b, &len, st)) return -1;
    static hpm_manifest m;
    hpm_diag d;
    hpm_result r = hpm_container_parse_unverified(b, len, &m, &d);
    free(b);
    if (r != HPM_OK) {
      hpmh_fail(st, HPMH_E_INVALID, p,
                "%s: cannot tell which files it uses (%s: %s): leaving the ESP's other files alone", p, d.field,
                hpm_result_to_string(r));
      return -1;
    }
    for (size_t k = 0; k < m.payload_count && *n < cap; k++)
      if (!m.payloads[k].embedded) snprintf(names[(*n)++], HPM_FILE_MAX + 1, "%s", m.payloads[k].file);
  }
  return 0;
}

static bool used(const char *name, char (*names)[HPM_FILE_MAX + 1], size_t n) {
  for (size_t i = 0; i < n; i++)
    if (hpm_bootif_same_file(names[i], name)) return true;
  return false;
}

/* Whether the folder's own files, never payloads: the slot containers, the
 * optional `bench` switch, temp files (hpmh_remove_stale_temps). */
static bool reserved(const char *name) {
  return hpm_bootif_slot_of_file(name) >= 0 || !strcasecmp(name, "bench") || !strncmp(name, ".hpm-tmp.", 9);
}

int hpm_boot_esp_orphans(const char *hpmdir, const char *const *only, size_t nonly, bool remove,
                         hpm_boot_orphan_fn fn, void *arg, hpmh_status *st) {
  static char names[HPM_BS_MAX_SLOTS * HPM_MAX_PAYLOADS][HPM_FILE_MAX + 1];
  size_t n;
  memset(st, 0, sizeof *st);
  if (names_in_use(hpmdir, names, sizeof names / sizeof names[0], &n, st)) return -1;
  DIR *d = opendir(hpmdir);
  if (!d) return hpmh_fail(st, HPMH_E_IO, hpmdir, "%s: %s", hpmdir, strerror(errno)), -1;
  int found = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    const char *name = e->d_name;
    if (name[0] == '.' && (!name[1] || (name[1] == '.' && !name[2]))) continue;
    if (reserved(name) || used(name, names, n)) continue;
    if (only) {
      size_t k = 0;
      while (k < nonly && !hpm_bootif_same_file(only[k], name)) k++;
      if (k == nonly) continue;
    }
    char p[1400];
    struct stat sb;
    if (!boot_pjoin(p, sizeof p, hpmdir, name) || lstat(p, &sb) || !S_ISREG(sb.st_mode)) continue;
    if (remove && unlink(p)) {
      hpmh_fail(st, HPMH_E_IO, p, "%s: cannot remove: %s", p, strerror(errno));
      closedir(d);
      return -1;
    }
    found++;
    if (fn) fn(p, (uint64_t)sb.st_size, arg);
  }
  closedir(d);
  if (remove && found) {
    int dfd = open(hpmdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      fsync(dfd);
      close(dfd);
    }
  }
  return found;
}
