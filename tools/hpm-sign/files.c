/* SPDX-License-Identifier: MIT */
/* hpm-sign: reading inputs and containers, writing outputs (all writes go
 * through hpmh_write_file: temp file, fsync, rename). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hpm-sign.h"

int read_container(const char *cmd, const char *path, uint8_t **buf, size_t *len) {
  hpmh_status e;
  if (hpmh_read_file(path, CONTAINER_MAX, buf, len, &e)) {
    msg(cmd, "%s", e.detail);
    return EXIT_IOERR;
  }
  return 0;
}

int read_input(const char *cmd, const char *what, const char *path, uint8_t **buf, size_t *len) {
  hpmh_status e;
  if (hpmh_read_file(path, HPM_PAYLOAD_MAX, buf, len, &e)) {
    msg(cmd, "%s: %s", what, e.detail);
    return EXIT_IOERR;
  }
  if (*len == 0) {
    free(*buf);
    *buf = NULL;
    return usage_error(cmd, "%s %s: the file is empty", what, path);
  }
  return 0;
}

int write_output(const char *cmd, const char *path, const uint8_t *data, size_t len,
                 unsigned mode, int exclusive) {
  hpmh_status e;
  if (hpmh_write_file(path, data, len, mode, exclusive ? HPMH_WRITE_EXCLUSIVE : 0, &e)) {
    msg(cmd, "cannot write %s; nothing was written there", e.detail);
    return EXIT_IOERR;
  }
  return 0;
}

int write_with_payloads(const char *cmd, const char *out, const uint8_t *buf, size_t len,
                        const hpmw_payload *pl, size_t n) {
  char dir[PATH_MAX], path[PATH_MAX + HPM_FILE_MAX + 2];
  bool created[HPM_MAX_PAYLOADS] = {false};
  int rc = 0;
  size_t i;
  hpmh_dir_of(out, dir, sizeof dir);
  for (i = 0; i < n && !rc; i++) {
    struct stat st;
    if (!pl[i].file) continue;
    snprintf(path, sizeof path, "%s/%s", dir, pl[i].file);
    created[i] = lstat(path, &st) != 0;
    rc = write_output(cmd, path, pl[i].data, pl[i].size, 0644, 0);
    if (rc) created[i] = false;
  }
  if (!rc) rc = write_output(cmd, out, buf, len, 0644, 0);
  if (rc) {
    for (i = 0; i < n; i++)
      if (created[i]) {
        snprintf(path, sizeof path, "%s/%s", dir, pl[i].file);
        unlink(path);
      }
  }
  return rc;
}

bool same_file(const char *a, const char *b) {
  struct stat sa, sb;
  if (!a || !b || stat(a, &sa) != 0 || stat(b, &sb) != 0) return false;
  return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

unsigned mode_of(const char *path) {
  struct stat st;
  if (stat(path, &st) == 0) return (unsigned)(st.st_mode & 07777);
  return 0644;
}
