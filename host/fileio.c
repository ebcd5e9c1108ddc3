/* SPDX-License-Identifier: MIT */
/* Durable file I/O: see fileio.h. */
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/sha256.h>

static hpmh_write_hook write_hook;

void hpmh_set_write_hook(hpmh_write_hook hook) { write_hook = hook; }

/* dir and base name of path (dir "." for a bare name); false if too long. */
static bool split_path(const char *path, char *dir, size_t dcap, const char **base) {
  const char *sl = strrchr(path, '/');
  *base = sl ? sl + 1 : path;
  if (!sl) return snprintf(dir, dcap, ".") < (int)dcap;
  size_t n = sl == path ? 1 : (size_t)(sl - path);
  if (n >= dcap) return false;
  memcpy(dir, path, n);
  dir[n] = 0;
  return true;
}

/* Create DIR/.hpm-tmp.NAME.XXXXXX (O_EXCL: never someone else's file). */
static int create_temp(const char *dir, const char *base, unsigned mode, char *tmp, size_t cap) {
  static const char digits[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  for (int attempt = 0; attempt < 100; attempt++) {
    uint8_t r[6];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) return -1;
    char sfx[7];
    for (int i = 0; i < 6; i++) sfx[i] = digits[r[i] % 36];
    sfx[6] = 0;
    if (snprintf(tmp, cap, "%s/" HPMH_TEMP_PREFIX "%s.%s", dir, base, sfx) >= (int)cap) {
      errno = ENAMETOOLONG;
      return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd >= 0 || errno != EEXIST) return fd;
  }
  errno = EEXIST;
  return -1;
}

int hpmh_write_file(const char *path, const uint8_t *data, size_t len, unsigned mode, unsigned flags,
                    hpmh_status *e) {
  bool exclusive = flags & HPMH_WRITE_EXCLUSIVE, sync = !(flags & HPMH_WRITE_NO_SYNC);
  char tmp[PATH_MAX], dir[PATH_MAX];
  const char *base;
  int fd, dfd, saved;
  size_t done = 0;

  if (!split_path(path, dir, sizeof dir, &base) || !*base)
    return hpmh_fail(e, HPMH_E_IO, path, "%s: not a file path (too long, or ends in '/')", path);
  if (exclusive && access(path, F_OK) == 0)
    return hpmh_fail(e, HPMH_E_IO, path, "%s: already exists; refusing to overwrite it", path);
  fd = create_temp(dir, base, mode, tmp, sizeof tmp);
  if (fd < 0) {
    saved = errno;
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
      return hpmh_fail(e, HPMH_E_IO, path, "%s: the directory %s does not exist; create it first", path, dir);
    return hpmh_fail(e, HPMH_E_IO, path, "%s: cannot create a file in %s: %s", path, dir, strerror(saved));
  }
  /* the exact mode, whatever the umask (a FAT ESP keeps its own: EPERM) */
  if (fchmod(fd, mode) != 0 && errno != EPERM) goto io_error;
  while (done < len) {
    ssize_t n = write_hook ? write_hook(fd, data + done, len - done) : write(fd, data + done, len - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) errno = EIO;
      goto io_error;
    }
    done += (size_t)n;
  }
  if (sync && fsync(fd) != 0) goto io_error;
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
  if (!sync) return 0;
  dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0 || fsync(dfd) != 0) {
    saved = errno;
    if (dfd >= 0) close(dfd);
    return hpmh_fail(e, HPMH_E_IO, path, "%s: written, but the directory %s could not be synced: %s", path, dir,
                     strerror(saved));
  }
  close(dfd);
  return 0;

io_error:
  saved = errno;
  if (fd >= 0) close(fd);
  unlink(tmp);
  hpmh_fail(e, HPMH_E_IO, path, "%s: %s (left as it was)", path,
            saved == EEXIST ? "already exists; refusing to overwrite it" : strerror(saved));
  errno = saved; /* for callers that report errno themselves */
  return -1;
}

int hpmh_remove_stale_temps(const char *dir, void (*removed)(const char *path)) {
  DIR *d = opendir(dir);
  if (!d) return -1;
  struct dirent *ent;
  while ((ent = readdir(d))) {
    if (strncmp(ent->d_name, HPMH_TEMP_PREFIX, strlen(HPMH_TEMP_PREFIX))) continue;
    char p[PATH_MAX];
    if (snprintf(p, sizeof p, "%s/%s", dir, ent->d_name) < (int)sizeof p && !unlink(p) && removed) removed(p);
  }
  closedir(d);
  return 0;
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

int hpmh_sha256_file(const char *path, uint8_t out[32], uint64_t *size) {
  mbedtls_sha256_context ctx;
  uint8_t *chunk;
  int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;
  if (fd < 0) return -1;
  chunk = malloc(1 << 16);
  if (!chunk) {
    close(fd);
    return -1;
  }
  *size = 0;
  mbedtls_sha256_init(&ctx);
  mbedtls_sha256_starts_ret(&ctx, 0);
  for (;;) {
    ssize_t n = read(fd, chunk, 1 << 16);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      rc = -1;
      break;
    }
    if (n == 0) break;
    mbedtls_sha256_update_ret(&ctx, chunk, (size_t)n);
    *size += (uint64_t)n;
  }
  mbedtls_sha256_finish_ret(&ctx, out);
  mbedtls_sha256_free(&ctx);
  free(chunk);
  close(fd);
  return rc;
}
