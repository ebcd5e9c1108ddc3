/* SPDX-License-Identifier: MIT */
/* Durable file I/O: see fileio.h. */
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int hpmh_write_file(const char *path, const uint8_t *data, size_t len, unsigned mode,
                    int exclusive, hpmh_status *e) {
  char tmp[PATH_MAX], dir[PATH_MAX];
  int fd, dfd, saved;
  size_t done = 0;

  if (snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path) >= (int)sizeof tmp)
    return hpmh_fail(e, HPMH_E_IO, path, "%s: path too long", path);
  if (exclusive && access(path, F_OK) == 0)
    return hpmh_fail(e, HPMH_E_IO, path, "%s: already exists; refusing to overwrite it", path);
  fd = mkstemp(tmp);
  if (fd < 0) return hpmh_fail(e, HPMH_E_IO, path, "%s: cannot create a file beside it: %s", path, strerror(errno));
  if (fchmod(fd, mode) != 0) goto io_error;
  while (done < len) {
    ssize_t n = write(fd, data + done, len - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) goto io_error;
    done += (size_t)n;
  }
  if (fsync(fd) != 0) goto io_error;
  if (close(fd) != 0) {
    fd = -1;
    goto io_error;
  }
  fd = -1;
  if (exclusive) {
    /* link() fails if path appeared meanwhile: never replace a key. */
    if (link(tmp, path) != 0) goto io_error;
    unlink(tmp);
  } else if (rename(tmp, path) != 0) {
    goto io_error;
  }
  snprintf(dir, sizeof dir, "%s", path);
  dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  return 0;

io_error:
  saved = errno;
  if (fd >= 0) close(fd);
  unlink(tmp);
  return hpmh_fail(e, HPMH_E_IO, path, "%s: %s", path, saved == EEXIST ? "already exists; refusing to overwrite it" : strerror(saved));
}

int hpmh_read_file(const char *path, uint64_t limit, uint8_t **out, size_t *len, hpmh_status *e) {
  struct stat st;
  uint8_t *b;
  size_t done = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return hpmh_fail(e, HPMH_E_IO, path, "%s: %s", path, strerror(errno));
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return hpmh_fail(e, HPMH_E_IO, path, "%s: not a regular file", path);
  }
  if ((uint64_t)st.st_size > limit) {
    close(fd);
    return hpmh_fail(e, HPMH_E_IO, path, "%s: %lld bytes is over the limit of %llu", path, (long long)st.st_size,
                (unsigned long long)limit);
  }
  b = malloc(st.st_size ? (size_t)st.st_size : 1);
  if (!b) {
    close(fd);
    return hpmh_fail(e, HPMH_E_IO, path, "%s: out of memory", path);
  }
  while (done < (size_t)st.st_size) {
    ssize_t n = read(fd, b + done, (size_t)st.st_size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int saved = n < 0 ? errno : EIO;
      free(b);
      close(fd);
      return hpmh_fail(e, HPMH_E_IO, path, "%s: read failed: %s", path, n == 0 ? "file shrank while reading" : strerror(saved));
    }
    done += (size_t)n;
  }
  close(fd);
  *out = b;
  *len = done;
  return 0;
}
