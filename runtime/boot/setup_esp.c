/* SPDX-License-Identifier: MIT */
/*
 * hpm setup (setup.c): where the ESP is and which partition it is, whether
 * the host booted through UEFI, and the firmware's boot entries through
 * efibootmgr (run directly, never through a shell).  See setup.h.
 */
#include <blkid/blkid.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "boot/boot.h"
#include "boot/efivar.h"
#include "boot/setup.h"

static const char *const esp_candidates[] = {"/efi", "/boot/efi", "/boot"};

void setup_say(char *out, size_t cap, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(out, cap, fmt, ap);
  va_end(ap);
}

/* ---- efibootmgr ----------------------------------------------------------- */

/* Run efibootmgr with args (no shell), its output (stdout and stderr) into
 * out.  0, or the exit code with st saying why. */
int setup_efibootmgr(const char *const *args, char *out, size_t cap, hpmh_status *st) {
  const char *argv[16] = {"efibootmgr"};
  size_t n = 1;
  for (; args[n - 1] && n < 15; n++) argv[n] = args[n - 1];
  argv[n] = NULL;
  int p[2];
  if (pipe2(p, O_CLOEXEC)) return hpmh_fail(st, HPMH_E_IO, "efibootmgr", "pipe: %s", strerror(errno)), HPM_BOOT_EXIT_IO;
  pid_t pid = fork();
  if (pid < 0) {
    close(p[0]);
    close(p[1]);
    hpmh_fail(st, HPMH_E_IO, "efibootmgr", "fork: %s", strerror(errno));
    return HPM_BOOT_EXIT_IO;
  }
  if (pid == 0) {
    dup2(p[1], 1);
    dup2(p[1], 2);
    execvp(argv[0], (char *const *)argv);
    _exit(127);
  }
  close(p[1]);
  size_t len = 0;
  ssize_t k;
  char sink[4096];
  while ((k = read(p[0], len + 1 < cap ? out + len : sink, len + 1 < cap ? cap - 1 - len : sizeof sink)) != 0) {
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) break;
    if (len + 1 < cap) len += (size_t)k;
  }
  out[len] = 0;
  close(p[0]);
  int ws;
  while (waitpid(pid, &ws, 0) < 0 && errno == EINTR) {}
  int code = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
  if (code == 127) {
    hpmh_fail(st, HPMH_E_IO, "efibootmgr",
              "efibootmgr: not found on PATH: install the efibootmgr package, or use --no-bootentry and create the "
              "boot entry yourself (loader %s)", SETUP_IMAGE_FW);
    return HPM_BOOT_EXIT_IO;
  }
  if (code) {
    char *last = out + len;
    while (last > out && (last[-1] == '\n')) *--last = 0;
    while (last > out && last[-1] != '\n') last--;
    hpmh_fail(st, HPMH_E_IO, "efibootmgr", "efibootmgr %s%s%s: exit %d: %.300s", args[0] ? args[0] : "",
              args[0] && args[1] ? " " : "", args[0] && args[1] ? args[1] : "", code, last);
    return HPM_BOOT_EXIT_IO;
  }
  return 0;
}

int setup_list_entries(const esp_loc *e, setup_bootlist *b, hpmh_status *st) {
  static char out[1 << 16];
  static const char *const args[] = {"--verbose", NULL};
  int rc = setup_efibootmgr(args, out, sizeof out, st);
  if (rc) return rc;
  if (setup_bootlist_parse(out, strlen(out), SETUP_IMAGE_FW, e->have_part ? e->partuuid : "", b)) {
    hpmh_fail(st, HPMH_E_IO, "efibootmgr", "efibootmgr --verbose: no BootOrder or Boot#### line in its output: %.200s",
              out);
    return HPM_BOOT_EXIT_IO;
  }
  return 0;
}

bool setup_entry_first(const setup_bootlist *b, const char *num) {
  return b->norder && !strcasecmp(b->order[0], num);
}

/* Put num first in BootOrder, the others after it in their order. */
int setup_order_first(const setup_bootlist *b, const char *num, hpmh_status *st) {
  char order[SETUP_MAX_ORDER * 5 + 8];
  size_t n = (size_t)snprintf(order, sizeof order, "%s", num);
  for (size_t i = 0; i < b->norder; i++)
    if (strcasecmp(b->order[i], num)) n += (size_t)snprintf(order + n, sizeof order - n, ",%s", b->order[i]);
  static char out[1 << 16];
  const char *args[] = {"--bootorder", order, NULL};
  return setup_efibootmgr(args, out, sizeof out, st);
}

/* ---- the ESP ---------------------------------------------------------------- */

/* The device number and file system type of the mount at dir (a mount
 * point, per /proc/self/mountinfo).  false when dir is not one. */
static bool mount_of(const char *dir, dev_t *devno, char *fstype, size_t cap) {
  FILE *f = fopen("/proc/self/mountinfo", "re");
  if (!f) return false;
  char line[4096];
  bool found = false;
  while (fgets(line, sizeof line, f)) {
    unsigned maj, min;
    char mnt[PATH_MAX], fs[64];
    char *sep = strstr(line, " - ");
    if (!sep || sscanf(line, "%*u %*u %u:%u %*s %4095s", &maj, &min, mnt) != 3 || sscanf(sep + 3, "%63s", fs) != 1)
      continue;
    if (strcmp(mnt, dir)) continue; /* (mount points with spaces are octal-escaped: not ours to match) */
    *devno = makedev(maj, min);
    snprintf(fstype, cap, "%s", fs);
    found = true; /* the last mount on dir is the visible one: keep reading */
  }
  fclose(f);
  return found;
}

/* Partition facts of the block device devno: number, device and disk
 * names (sysfs), partition type and UUID (libblkid).  false with why. */
static bool partition_of(dev_t devno, esp_loc *e, char *why, size_t cap) {
  char p[128], real[PATH_MAX], buf[32];
  snprintf(p, sizeof p, "/sys/dev/block/%u:%u/partition", major(devno), minor(devno));
  FILE *f = fopen(p, "re");
  if (!f) {
    snprintf(why, cap, "device %u:%u is not a disk partition (no %s)", major(devno), minor(devno), p);
    return false;
  }
  bool ok = fgets(buf, sizeof buf, f) && (e->part = (unsigned)strtoul(buf, NULL, 10)) > 0;
  fclose(f);
  snprintf(p, sizeof p, "/sys/dev/block/%u:%u", major(devno), minor(devno));
  if (!ok || !realpath(p, real)) {
    snprintf(why, cap, "%s: cannot read the partition number or device", p);
    return false;
  }
  char *name = strrchr(real, '/');
  *name++ = 0;
  const char *disk = strrchr(real, '/');
  setup_say(e->dev, sizeof e->dev, "/dev/%s", name);
  setup_say(e->disk, sizeof e->disk, "/dev/%s", disk ? disk + 1 : real);
  blkid_probe pr = blkid_new_probe_from_filename(e->dev);
  if (!pr) {
    snprintf(why, cap, "%s: cannot probe it (libblkid): %s", e->dev, strerror(errno));
    return false;
  }
  blkid_probe_enable_partitions(pr, 1);
  blkid_probe_set_partitions_flags(pr, BLKID_PARTS_ENTRY_DETAILS);
  const char *v;
  if (blkid_do_safeprobe(pr) == 0) {
    if (!blkid_probe_lookup_value(pr, "PART_ENTRY_TYPE", &v, NULL)) snprintf(e->type, sizeof e->type, "%s", v);
    if (!blkid_probe_lookup_value(pr, "PART_ENTRY_UUID", &v, NULL)) snprintf(e->partuuid, sizeof e->partuuid, "%s", v);
  }
  blkid_free_probe(pr);
  if (strcasecmp(e->type, ESP_TYPE_GUID)) {
    snprintf(why, cap, "%s (partition %u of %s) has partition type %s, not an EFI system partition (%s)", e->dev,
             e->part, e->disk, e->type[0] ? e->type : "(none found)", ESP_TYPE_GUID);
    return false;
  }
  e->have_part = true;
  return true;
}

/* The partition of the ESP mounted at e->dir; false with why.  Test hook:
 * HPM_TEST_ESP_PARTITION=DISK:N:PARTUUID stands for it (tests/lifecycle,
 * whose fake ESP is a folder). */
bool setup_locate_partition(esp_loc *e, char *why, size_t cap) {
  const char *hook = getenv("HPM_TEST_ESP_PARTITION");
  if (hook && *hook) {
    if (sscanf(hook, "%95[^:]:%u:%63s", e->disk, &e->part, e->partuuid) < 2) {
      snprintf(why, cap, "HPM_TEST_ESP_PARTITION '%s': expected DISK:N[:PARTUUID]", hook);
      return false;
    }
    snprintf(e->type, sizeof e->type, "%s", ESP_TYPE_GUID);
    e->have_part = true;
    return true;
  }
  dev_t devno;
  char fs[64];
  if (!mount_of(e->dir, &devno, fs, sizeof fs)) {
    setup_say(why, cap, "%s is not a mount point", e->dir);
    return false;
  }
  if (strcmp(fs, "vfat")) {
    setup_say(why, cap, "%s is a %s file system, not FAT (vfat)", e->dir, fs);
    return false;
  }
  return partition_of(devno, e, why, cap);
}

/* Where the ESP is: --esp/HPM_ESP/[paths] esp when given, else the first
 * candidate mount point that is an EFI system partition.  The exit code. */
int setup_find_esp(hpm_ctx *ctx, bool need_part, esp_loc *e, hpmh_status *st) {
  memset(e, 0, sizeof *e);
  char why[600] = "";
  if (ctx->esp_set || strcmp(ctx->esp, "/boot/efi")) {
    struct stat sb;
    if (!realpath(ctx->esp, e->dir) || stat(e->dir, &sb) || !S_ISDIR(sb.st_mode)) {
      hpmh_fail(st, HPMH_E_REFUSED, ctx->esp, "%s: no such folder: mount the ESP there, or name it with --esp",
                ctx->esp);
      return HPM_BOOT_EXIT_REFUSED;
    }
    if (strlen(e->dir) >= ESP_DIR_MAX) {
      hpmh_fail(st, HPMH_E_REFUSED, ctx->esp, "%.200s...: path longer than %d bytes", ctx->esp, ESP_DIR_MAX);
      return HPM_BOOT_EXIT_REFUSED;
    }
    if (need_part && !setup_locate_partition(e, why, sizeof why)) {
      hpmh_fail(st, HPMH_E_REFUSED, ctx->esp,
                "ESP %s: %s: the firmware boot entry needs the ESP's partition; mount the ESP there, or use "
                "--no-bootentry and create the entry yourself (loader %s)", e->dir, why, SETUP_IMAGE_FW);
      return HPM_BOOT_EXIT_REFUSED;
    }
    return 0;
  }
  char tried[1200] = "";
  size_t tn = 0;
  for (size_t i = 0; i < sizeof esp_candidates / sizeof esp_candidates[0]; i++) {
    memset(e, 0, sizeof *e);
    snprintf(e->dir, sizeof e->dir, "%s", esp_candidates[i]);
    if (setup_locate_partition(e, why, sizeof why)) {
      e->detected = true;
      return 0;
    }
    tn += (size_t)snprintf(tried + tn, tn < sizeof tried ? sizeof tried - tn : 0, "%s%s", tn ? "; " : "", why);
    if (tn >= sizeof tried) tn = sizeof tried - 1;
  }
  memset(e, 0, sizeof *e);
  hpmh_fail(st, HPMH_E_REFUSED, "--esp",
            "no ESP found (%s): mount the EFI system partition (type %s) at /boot/efi or /efi, or name its mount "
            "point with --esp", tried, ESP_TYPE_GUID);
  return HPM_BOOT_EXIT_REFUSED;
}

int setup_need_uefi(hpmh_status *st) {
  struct stat sb;
  const char *d = hpm_efivar_dir();
  if (stat(d, &sb) || !S_ISDIR(sb.st_mode)) {
    hpmh_fail(st, HPMH_E_REFUSED, d,
              "%s: not found: this host did not boot through UEFI, or efivarfs is not mounted (mount -t efivarfs "
              "efivarfs %s); hpmboot.efi needs UEFI", d, d);
    return HPM_BOOT_EXIT_REFUSED;
  }
  return 0;
}
