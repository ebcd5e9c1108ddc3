/* SPDX-License-Identifier: MIT */
/* UEFI variables through efivarfs: see efivar.h. */
#include "boot/efivar.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static const char *efivar_dir = "/sys/firmware/efi/efivars";

void hpm_efivar_set_dir(const char *dir) { efivar_dir = dir; }

const char *hpm_efivar_dir(void) { return efivar_dir; }

void hpm_efivar_path(const char *name, char *out, size_t cap) {
  snprintf(out, cap, "%s/%s-%s", hpm_efivar_dir(), name, HPM_EFIVAR_GUID);
}

const char *hpm_efivar_result_to_string(hpm_efivar_result r) {
  switch (r) {
  case HPM_EFIVAR_OK: return "ok";
  case HPM_EFIVAR_ABSENT: return "absent";
  case HPM_EFIVAR_TOO_BIG: return "too big";
  case HPM_EFIVAR_SHORT: return "shorter than its attribute word";
  case HPM_EFIVAR_IO: return "I/O error";
  }
  return "unknown";
}

hpm_efivar_result hpm_efivar_read(const char *name, uint32_t *attr, uint8_t *val, size_t cap,
                                  size_t *len) {
  char path[512];
  hpm_efivar_path(name, path, sizeof path);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? HPM_EFIVAR_ABSENT : HPM_EFIVAR_IO;
  /* efivarfs wants the whole variable in one read: read into a buffer one
   * byte larger than allowed so an oversized variable is noticed. */
  size_t want = cap + 5;
  uint8_t *buf = malloc(want);
  if (!buf) { close(fd); return HPM_EFIVAR_IO; }
  size_t got = 0;
  for (;;) {
    ssize_t r = read(fd, buf + got, want - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) { int e = errno; free(buf); close(fd); errno = e; return HPM_EFIVAR_IO; }
    if (r == 0) break;
    got += (size_t)r;
    if (got == want) break;
  }
  close(fd);
  hpm_efivar_result res = HPM_EFIVAR_OK;
  if (got < 4) res = got == 0 ? HPM_EFIVAR_ABSENT : HPM_EFIVAR_SHORT; /* efivarfs: deleted */
  else if (got - 4 > cap) res = HPM_EFIVAR_TOO_BIG;
  else {
    *attr = (uint32_t)buf[0] | (uint32_t)buf[1] << 8 | (uint32_t)buf[2] << 16 | (uint32_t)buf[3] << 24;
    memcpy(val, buf + 4, got - 4);
    *len = got - 4;
  }
  free(buf);
  return res;
}

hpm_efivar_result hpm_efivar_read_text(const char *name, uint32_t want_attr, char *out,
                                       size_t cap) {
  uint32_t attr = 0;
  size_t len = 0;
  if (!cap) return HPM_EFIVAR_TOO_BIG;
  hpm_efivar_result r = hpm_efivar_read(name, &attr, (uint8_t *)out, cap - 1, &len);
  if (r != HPM_EFIVAR_OK) return r;
  if (attr != want_attr || memchr(out, 0, len)) { errno = EPROTO; return HPM_EFIVAR_IO; }
  out[len] = 0;
  return HPM_EFIVAR_OK;
}

/* efivarfs marks most existing variables immutable (chattr +i). */
static void clear_immutable(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return;
  int flags = 0;
  if (ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0 && (flags & FS_IMMUTABLE_FL)) {
    flags &= ~FS_IMMUTABLE_FL;
    (void)ioctl(fd, FS_IOC_SETFLAGS, &flags);
  }
  close(fd);
}

int hpm_efivar_write(const char *name, uint32_t attr, const uint8_t *val, size_t len) {
  if (len > HPM_EFIVAR_MAX) { errno = EFBIG; return -1; }
  char path[512];
  hpm_efivar_path(name, path, sizeof path);
  clear_immutable(path);
  uint8_t buf[4 + HPM_EFIVAR_MAX];
  buf[0] = (uint8_t)attr;
  buf[1] = (uint8_t)(attr >> 8);
  buf[2] = (uint8_t)(attr >> 16);
  buf[3] = (uint8_t)(attr >> 24);
  if (len) memcpy(buf + 4, val, len);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return -1;
  ssize_t w = write(fd, buf, 4 + len); /* one write: efivarfs sets the variable per write() */
  int e = errno;
  if (close(fd) && w >= 0) { e = errno; w = -1; }
  if (w != (ssize_t)(4 + len)) { errno = w < 0 ? e : EIO; return -1; }
  return 0;
}

int hpm_efivar_delete(const char *name) {
  char path[512];
  hpm_efivar_path(name, path, sizeof path);
  clear_immutable(path);
  if (unlink(path) && errno != ENOENT) return -1;
  return 0;
}
