/* SPDX-License-Identifier: MIT */
/*
 * hpm setup: the first install on a host booted some other way, like
 * `bootctl install` (docs/operations.md "First install"): the boot image
 * to the ESP, a firmware boot entry for it first in BootOrder (efibootmgr),
 * a verified baseline into slot a; and `hpm setup --remove`, which undoes
 * exactly what a setup created (setup.h: the record on the ESP).  Finding
 * the ESP and running efibootmgr: setup_esp.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <mbedtls/sha256.h>

#include "boot/boot.h"
#include "boot/efivar.h"
#include "boot/internal.h"
#include "boot/setup.h"
#include "cli.h"
#include "fileio.h"
#include "json.h"
#include "jsonout.h"
#include "msg.h"

#define IMAGE_MAX (32u * 1024 * 1024)
#define CONTAINER_MAX (64u * 1024 * 1024)
#define SPACE_SLACK (64u * 1024) /* folder entries and FAT clusters beyond the bytes */

/* The boot images `make install` puts under PREFIX/lib/hpm/efi (PREFIX:
 * two levels above this program, PREFIX/sbin/hpm), in order of preference;
 * the development images (throwaway key) come last, with a warning. */
static const char *const default_images[] = {"hpmboot.signed.efi", "hpmboot.efi", "hpmboot-dev.signed.efi",
                                             "hpmboot-dev.efi"};

static const char setup_usage[] =
    "usage: hpm setup [--efi PATH] [--no-bootentry] [--dry-run] [--json] BASELINE.hpm\n"
    "       hpm setup --remove [--no-bootentry] [--dry-run] [--json]\n"
    "  First install on a host booted some other way: verify the signed\n"
    "  baseline against the trust store and against the keys built into the\n"
    "  boot image (before anything is touched), copy it\n"
    "  into slot a (\\EFI\\hpm\\slot-a.hpm), copy the boot image to\n"
    "  \\" "EFI\\hpmboot\\hpmboot.efi, and create the firmware boot entry \"" SETUP_LABEL "\" first\n"
    "  in BootOrder (efibootmgr).  A reboot then starts hpmboot.efi on slot a.\n"
    "  Running it again changes nothing.  What it created is recorded in\n"
    "  \\EFI\\hpmboot\\setup.txt; --remove deletes exactly that (a file only while\n"
    "  it holds the bytes setup wrote) and the boot entry.\n"
    "  --efi PATH     the boot image (default: PREFIX/lib/hpm/efi/hpmboot.signed.efi,\n"
    "                 else hpmboot.efi; a development image only with a warning)\n"
    "  --no-bootentry leave the firmware's boot entries alone\n"
    "  --remove       undo a setup\n"
    "  --dry-run, -n  check everything and say what it would do; change nothing\n"
    "  --esp DIR      the mounted ESP (global option; HPM_ESP, [paths] esp); without\n"
    "                 one, the first of /efi, /boot/efi, /boot that is the mount of a\n"
    "                 partition of type " ESP_TYPE_GUID "\n"
    "  --trust-dir D  trust store the baseline must verify with (global option)\n"
    "exit: 0 done or nothing to do, 1 refused, 2 usage, 3 I/O or efibootmgr error\n";

typedef struct {
  const char *file, *efi;
  bool remove, no_entry, dry_run, help;
} setup_opts;


#define MAX_LINES 48
typedef struct {
  bool remove, dry_run, changed, dev_image;
  char esp[PATH_MAX];
  char image[PATH_MAX]; /* the source image */
  char entry[5];        /* the boot entry (ours), "" none */
  bool has_baseline;
  char version[HPM_VERSION_MAX + 1];
  uint32_t svn;
  char digest_hex[2 * HPM_DIGEST_LEN + 1];
  size_t nact, nkept;
  char act[MAX_LINES][320];  /* what it did (or would do) */
  char kept[MAX_LINES][320]; /* --remove: what it left, and why */
  char next[320];
  hpmh_status st;
} setup_report;


static void add_line(char (*lines)[320], size_t *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void add_line(char (*lines)[320], size_t *n, const char *fmt, ...) {
  if (*n == MAX_LINES) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(lines[(*n)++], 320, fmt, ap);
  va_end(ap);
}
#define ACT(r, ...) add_line((r)->act, &(r)->nact, __VA_ARGS__)
#define KEPT(r, ...) add_line((r)->kept, &(r)->nkept, __VA_ARGS__)

/* ---- files ------------------------------------------------------------------- */

typedef struct {
  char rel[SETUP_PATH_MAX]; /* relative to the ESP */
  const uint8_t *data;
  size_t len;
  uint8_t sha256[32];
  bool present; /* already there with these bytes */
} planned_file;

static void sha256(const uint8_t *p, size_t n, uint8_t out[32]) { mbedtls_sha256_ret(p, n, out, 0); }

/* ESP/rel into out (PATH_MAX + 64 bytes: find_esp keeps e->dir under
 * ESP_DIR_MAX and rel is under SETUP_PATH_MAX, so it always fits). */
static void esp_path(const esp_loc *e, const char *rel, char *out, size_t cap) {
  setup_say(out, cap, "%s/%.*s", e->dir, SETUP_PATH_MAX - 1, rel);
}

/* Is the file at path there, and does it hold sha?  1 same, 0 absent, -1
 * other bytes (*have: its SHA-256). */
static int file_state(const char *path, const uint8_t sha[32], uint8_t have[32]) {
  uint64_t size;
  if (hpmh_sha256_file(path, have, &size)) return errno == ENOENT ? 0 : -1;
  return memcmp(have, sha, 32) ? -1 : 1;
}

static int read_record(const esp_loc *e, setup_record *rec, bool *exists, hpmh_status *st) {
  char p[PATH_MAX + 64];
  esp_path(e, SETUP_RECORD, p, sizeof p);
  *exists = false;
  memset(rec, 0, sizeof *rec);
  if (access(p, F_OK)) return 0;
  uint8_t *b = NULL;
  size_t n = 0;
  if (hpmh_read_file(p, SETUP_RECORD_MAX, &b, &n, st)) return HPM_BOOT_EXIT_IO;
  hpmh_status ps;
  int r = setup_record_parse((const char *)b, n, rec, &ps);
  free(b);
  if (r) {
    hpmh_fail(st, HPMH_E_REFUSED, p, "%s: %s: not a record of hpm setup; move it away if nothing else wrote it", p,
              ps.detail);
    return HPM_BOOT_EXIT_REFUSED;
  }
  *exists = true;
  return 0;
}

static int write_record(const esp_loc *e, const setup_record *rec, hpmh_status *st) {
  static char text[SETUP_RECORD_MAX];
  char p[PATH_MAX + 64];
  esp_path(e, SETUP_RECORD, p, sizeof p);
  size_t n = setup_record_write(rec, text, sizeof text);
  if (!n) return hpmh_fail(st, HPMH_E_IO, p, "%s: the record does not fit %u bytes", p, SETUP_RECORD_MAX), HPM_BOOT_EXIT_IO;
  return hpmh_write_file(p, (const uint8_t *)text, n, 0644, 0, st) ? HPM_BOOT_EXIT_IO : 0;
}

static bool recorded_file(const setup_record *rec, const char *rel) {
  for (size_t i = 0; i < rec->nfiles; i++)
    if (!strcasecmp(rec->files[i].path, rel)) return true;
  return false;
}

/* The boot image: --efi, else the first default that exists. */
static int load_image(const char *opt, char *path, size_t cap, uint8_t **buf, size_t *len, bool *dev,
                      setup_image_keys *keys, hpmh_status *st) {
  if (opt) {
    snprintf(path, cap, "%s", opt);
  } else {
    char exe[PATH_MAX], dir[PATH_MAX + 32];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = 0;
    for (int up = 0; up < 2; up++) {
      char *s = strrchr(exe, '/');
      if (s) *s = 0;
    }
    snprintf(dir, sizeof dir, "%s/lib/hpm/efi", exe);
    path[0] = 0;
    for (size_t i = 0; i < sizeof default_images / sizeof default_images[0] && !path[0]; i++) {
      int w = snprintf(path, cap, "%s/%s", dir, default_images[i]);
      if (w < 0 || (size_t)w >= cap || access(path, F_OK)) path[0] = 0;
    }
    if (!path[0]) {
      hpmh_fail(st, HPMH_E_REFUSED, "--efi", "no boot image in %s (hpmboot.signed.efi or hpmboot.efi): install the "
                "hpm boot package, or name the image with --efi PATH", dir);
      return HPM_BOOT_EXIT_REFUSED;
    }
  }
  if (hpmh_read_file(path, IMAGE_MAX, buf, len, st)) return HPM_BOOT_EXIT_REFUSED;
  if (setup_image_keys_parse(*buf, *len, keys, st)) {
    char why[sizeof st->detail];
    snprintf(why, sizeof why, "%s", st->detail);
    hpmh_fail(st, HPMH_E_REFUSED, path, "%s: %s: give the hpmboot.efi image with --efi", path, why);
    return HPM_BOOT_EXIT_REFUSED;
  }
  *dev = keys->development;
  return 0;
}

/* The baseline must verify with the keys built into the image as well:
 * those are the ones hpmboot.efi checks slot a with at the next boot, and
 * they may differ from the host's trust store. */
static int verify_with_image_keys(const char *image, const setup_image_keys *k,
                                  const char *file, const uint8_t *buf, size_t len, hpmh_status *st) {
  static hpm_pubkey keys[SETUP_IMAGE_MAX_KEYS];
  static hpm_manifest m;
  for (size_t i = 0; i < k->count; i++) {
    hpm_result r = hpm_pubkey_from_spki(k->keys[i].der, k->keys[i].len, &keys[i]);
    if (r != HPM_OK) {
      hpmh_fail(st, HPMH_E_REFUSED, image, "%s: its built-in key %zu (%s): %s: rebuild the image", image, i + 1,
                k->keys[i].name, hpm_result_to_string(r));
      return HPM_BOOT_EXIT_REFUSED;
    }
  }
  hpm_trust trust = {keys, k->count, k->threshold};
  hpmh_loader l;
  hpmh_loader_init(&l, file, HPMH_LOAD_MANIFEST_SIZE);
  hpm_ops ops = hpmh_loader_ops(&l);
  hpm_diag d;
  memset(&d, 0, sizeof d);
  hpm_result r = hpm_container_verify(buf, len, HPM_KIND_BASELINE, &trust, &ops, &m, &d);
  int rc = 0;
  if (r != HPM_OK) {
    char names[SETUP_IMAGE_MAX_KEYS * (SETUP_IMAGE_KEY_NAME + 2) + 1];
    size_t at = 0;
    names[0] = 0;
    for (size_t i = 0; i < k->count; i++)
      at += (size_t)snprintf(names + at, sizeof names - at, "%s%s", i ? ", " : "", k->keys[i].name);
    hpmh_fail(st, HPMH_E_REFUSED, file,
              "%s: the boot image %s would refuse it at boot: %s (signed by %u of the %zu keys it trusts, %u needed: "
              "%s); sign the baseline with the image's keys, or give the image built with the baseline's keys "
              "with --efi",
              file, image, hpm_result_to_string(r), m.trusted_signers, k->count, k->threshold, names);
    rc = HPM_BOOT_EXIT_REFUSED;
  }
  hpmh_loader_free(&l);
  return rc;
}

/* mkdir rel under the ESP unless it exists; created ones are recorded. */
static int make_dir(const esp_loc *e, const char *rel, setup_record *rec, setup_report *r, hpmh_status *st) {
  char p[PATH_MAX + 64];
  esp_path(e, rel, p, sizeof p);
  if (!mkdir(p, 0755)) {
    if (rec->ndirs < SETUP_MAX_DIRS) {
      /* deepest first, so that --remove empties them in order */
      memmove(rec->dirs[1], rec->dirs[0], rec->ndirs * sizeof rec->dirs[0]);
      snprintf(rec->dirs[0], SETUP_PATH_MAX, "%s", rel);
      rec->ndirs++;
    }
    ACT(r, "created %s", p);
    return 0;
  }
  if (errno == EEXIST) return 0;
  hpmh_fail(st, HPMH_E_IO, p, "%s: %s", p, strerror(errno));
  return HPM_BOOT_EXIT_IO;
}

/* ---- setup ------------------------------------------------------------------ */

static int do_setup(hpm_ctx *ctx, const setup_opts *o, setup_report *r) {
  hpmh_status *st = &r->st;
  esp_loc e;
  int rc;
  if ((rc = setup_find_esp(ctx, !o->no_entry, &e, st))) return rc;
  snprintf(r->esp, sizeof r->esp, "%s", e.dir);
  if ((rc = setup_need_uefi(st))) return rc;

  /* The baseline first: nothing is touched unless it verifies. */
  hpm_trust trust;
  if (hpm_ctx_trust_for(ctx, HPM_KIND_BASELINE, &trust, st))
    return st->code == HPMH_E_INVALID ? HPM_BOOT_EXIT_USAGE : HPM_BOOT_EXIT_REFUSED;
  static hpm_manifest m, m2;
  static hpmh_loader src, back;
  static setup_record rec;
  static planned_file plan[SETUP_MAX_FILES];
  uint8_t *buf = NULL, *img = NULL, *buf2 = NULL;
  size_t len = 0, ilen = 0, len2 = 0, np = 0;
  memset(&src, 0, sizeof src);
  memset(&back, 0, sizeof back);
  if ((rc = boot_verify_baseline(ctx, o->file, &trust, &buf, &len, &src, &m, st))) goto out;
  r->has_baseline = true;
  snprintf(r->version, sizeof r->version, "%s", m.version);
  r->svn = m.svn;
  hpm_fmt_hex(m.digest, HPM_DIGEST_LEN, r->digest_hex, sizeof r->digest_hex);
  static setup_image_keys ikeys;
  if ((rc = load_image(o->efi, r->image, sizeof r->image, &img, &ilen, &r->dev_image, &ikeys, st)) ||
      (rc = verify_with_image_keys(r->image, &ikeys, o->file, buf, len, st)))
    goto out;
  bool have_rec;
  if ((rc = read_record(&e, &rec, &have_rec, st))) goto out;

  /* The plan: detached payloads, the container as slot a, the image. */
  for (unsigned i = 0; i < src.n; i++, np++) {
    snprintf(plan[np].rel, SETUP_PATH_MAX, "EFI/hpm/%s", src.files[i].name);
    plan[np].data = src.files[i].buf;
    plan[np].len = src.files[i].len;
  }
  snprintf(plan[np].rel, SETUP_PATH_MAX, "EFI/hpm/slot-a.hpm");
  plan[np].data = buf, plan[np++].len = len;
  snprintf(plan[np].rel, SETUP_PATH_MAX, "%s", SETUP_IMAGE);
  plan[np].data = img, plan[np++].len = ilen;
  uint64_t need = 0;
  rc = HPM_BOOT_EXIT_REFUSED;
  for (size_t i = 0; i < np; i++) {
    planned_file *f = &plan[i];
    char p[PATH_MAX + 64], hx[65];
    uint8_t have[32];
    sha256(f->data, f->len, f->sha256);
    esp_path(&e, f->rel, p, sizeof p);
    int s = file_state(p, f->sha256, have);
    hpm_fmt_hex(have, 32, hx, sizeof hx);
    if (s > 0) {
      f->present = true;
      continue;
    }
    if (s < 0 && f->data == img) {
      hpmh_fail(st, HPMH_E_REFUSED, p,
                "%s: holds another boot image (sha256 %.16s...), not %s: this ESP was set up with a different image; "
                "run `hpm setup --remove` (it removes only what setup created), then `hpm setup` again", p, hx,
                r->image);
      goto out;
    }
    if (s < 0 && f->data == buf) {
      hpmh_fail(st, HPMH_E_REFUSED, p,
                "%s: slot a already holds another baseline (sha256 %.16s...): this ESP was set up before; boot "
                "through hpmboot.efi and use `hpm stage`, or run `hpm setup --remove` first", p, hx);
      goto out;
    }
    if (s < 0) {
      hpmh_fail(st, HPMH_E_REFUSED, p,
                "%s: exists with other bytes than %s's detached payload of that name: move it away, or give the "
                "baseline's payloads other file names", p, o->file);
      goto out;
    }
    need += f->len;
  }
  /* Room on the ESP for what is not there yet (HPM_TEST_ESP_FREE: tests). */
  struct statvfs vs;
  const char *hook = getenv("HPM_TEST_ESP_FREE");
  uint64_t avail = 0;
  if (hook && *hook) avail = strtoull(hook, NULL, 10);
  else if (!statvfs(e.dir, &vs)) avail = (uint64_t)vs.f_bavail * vs.f_frsize;
  else {
    hpmh_fail(st, HPMH_E_IO, e.dir, "%s: %s", e.dir, strerror(errno));
    rc = HPM_BOOT_EXIT_IO;
    goto out;
  }
  if (need && need + SPACE_SLACK > avail) {
    hpmh_fail(st, HPMH_E_REFUSED, e.dir,
              "ESP %s: %llu bytes free, setup needs %llu (boot image and baseline): free space on the ESP (old kernels, "
              "other loaders) or make it bigger", e.dir, (unsigned long long)avail,
              (unsigned long long)(need + SPACE_SLACK));
    goto out;
  }
  /* The boot entry: is one there for our image, first in BootOrder? */
  static setup_bootlist bl;
  char ours[5] = "";
  bool first = false;
  if (!o->no_entry) {
    if ((rc = setup_list_entries(&e, &bl, st))) goto out;
    if (bl.nfound) {
      memcpy(ours, bl.found[0], 5);
      first = setup_entry_first(&bl, ours);
    }
  }
  bool files_todo = false;
  for (size_t i = 0; i < np; i++) files_todo |= !plan[i].present;
  bool entry_todo = !o->no_entry && (!ours[0] || !first);
  if (!files_todo && !entry_todo) {
    snprintf(r->entry, sizeof r->entry, "%s", ours);
    rc = 0;
    goto out;
  }
  r->changed = true;
  if (o->dry_run) {
    for (size_t i = 0; i < np; i++)
      if (!plan[i].present) ACT(r, "would copy %llu bytes to %s/%s", (unsigned long long)plan[i].len, e.dir, plan[i].rel);
    if (!o->no_entry && !ours[0])
      ACT(r, "would create the boot entry \"%s\" (%s on %s partition %u) first in BootOrder", SETUP_LABEL,
          SETUP_IMAGE_FW, e.disk, e.part);
    else if (!o->no_entry && !first)
      ACT(r, "would put boot entry Boot%s first in BootOrder", ours);
    snprintf(r->entry, sizeof r->entry, "%s", ours);
    rc = 0;
    goto out;
  }

  /* Write: folders, the record of what will be created (so that an
   * interrupted setup can be removed too), the files, the entry. */
  rc = 0;
  if (!rc) rc = make_dir(&e, "EFI", &rec, r, st);
  if (!rc) rc = make_dir(&e, "EFI/hpm", &rec, r, st);
  if (!rc) rc = make_dir(&e, SETUP_DIR, &rec, r, st);
  if (rc) goto out;
  for (size_t i = 0; i < np; i++)
    if (!plan[i].present && !recorded_file(&rec, plan[i].rel) && rec.nfiles < SETUP_MAX_FILES) {
      memcpy(rec.files[rec.nfiles].path, plan[i].rel, SETUP_PATH_MAX);
      memcpy(rec.files[rec.nfiles++].sha256, plan[i].sha256, 32);
    }
  rec.has_baseline = true;
  rec.svn = m.svn;
  memcpy(rec.digest, m.digest, HPM_DIGEST_LEN);
  snprintf(rec.version, sizeof rec.version, "%s", m.version);
  if ((rc = write_record(&e, &rec, st))) goto out;
  for (size_t i = 0; i < np; i++) {
    if (plan[i].present) continue;
    char p[PATH_MAX + 64];
    esp_path(&e, plan[i].rel, p, sizeof p);
    if (hpmh_write_file(p, plan[i].data, plan[i].len, 0644, 0, st)) {
      rc = HPM_BOOT_EXIT_IO;
      goto out;
    }
    ACT(r, "copied %s (%llu bytes)", p, (unsigned long long)plan[i].len);
  }
  /* What is on the ESP now must verify as what was checked. */
  char slot_a[PATH_MAX + 64];
  esp_path(&e, "EFI/hpm/slot-a.hpm", slot_a, sizeof slot_a);
  if ((rc = boot_verify_baseline(ctx, slot_a, &trust, &buf2, &len2, &back, &m2, st)) ||
      memcmp(m2.digest, m.digest, HPM_DIGEST_LEN)) {
    hpmh_fail(st, HPMH_E_IO, slot_a, "%s: the written copy does not verify as %s: check the ESP", slot_a, o->file);
    rc = HPM_BOOT_EXIT_IO;
    goto out;
  }
  if (!o->no_entry && !ours[0]) {
    char part[16];
    snprintf(part, sizeof part, "%u", e.part);
    static char out[1 << 16];
    const char *args[] = {"--create", "--disk", e.disk, "--part", part, "--loader", SETUP_IMAGE_FW,
                          "--label", SETUP_LABEL, NULL};
    if ((rc = setup_efibootmgr(args, out, sizeof out, st))) goto out;
    if ((rc = setup_list_entries(&e, &bl, st))) goto out;
    if (!bl.nfound) {
      hpmh_fail(st, HPMH_E_IO, "efibootmgr", "efibootmgr --create succeeded, but no boot entry names %s afterwards",
                SETUP_IMAGE_FW);
      rc = HPM_BOOT_EXIT_IO;
      goto out;
    }
    memcpy(ours, bl.found[0], 5);
    memcpy(rec.entry, ours, 5);
    if ((rc = write_record(&e, &rec, st))) goto out;
    ACT(r, "created boot entry Boot%s \"%s\" (%s on %s partition %u)", ours, SETUP_LABEL, SETUP_IMAGE_FW, e.disk,
        e.part);
    first = setup_entry_first(&bl, ours);
  }
  if (!o->no_entry && !first) {
    if ((rc = setup_order_first(&bl, ours, st))) goto out;
    ACT(r, "put Boot%s first in BootOrder", ours);
  }
  snprintf(r->entry, sizeof r->entry, "%s", ours);
  rc = 0;
out:
  free(buf);
  free(buf2);
  free(img);
  hpmh_loader_free(&src);
  hpmh_loader_free(&back);
  if (!rc && !o->dry_run && r->changed)
    snprintf(r->next, sizeof r->next,
             "reboot: the firmware starts %s%s%s%s, which boots slot a (%s) on trial; run `hpm mark-good` in that "
             "boot once the host is healthy", SETUP_IMAGE_FW, r->entry[0] ? " (boot entry Boot" : "",
             r->entry[0] ? r->entry : "", r->entry[0] ? ")" : "", r->version);
  return rc;
}

/* ---- remove ------------------------------------------------------------------ */

static int do_remove(hpm_ctx *ctx, const setup_opts *o, setup_report *r) {
  hpmh_status *st = &r->st;
  esp_loc e;
  static setup_record rec;
  bool have;
  int rc;
  if ((rc = setup_find_esp(ctx, false, &e, st))) return rc;
  snprintf(r->esp, sizeof r->esp, "%s", e.dir);
  if ((rc = read_record(&e, &rec, &have, st))) return rc;
  if (!have) {
    setup_say(r->next, sizeof r->next, "nothing to remove: %s/%s does not exist (hpm setup did not set up this ESP)",
             e.dir, SETUP_RECORD);
    return 0;
  }
  r->has_baseline = rec.has_baseline;
  snprintf(r->version, sizeof r->version, "%s", rec.version);
  r->svn = rec.svn;
  hpm_fmt_hex(rec.digest, HPM_DIGEST_LEN, r->digest_hex, sizeof r->digest_hex);
  r->changed = true;
  const char *would = o->dry_run ? "would remove" : "removed";
  /* The boot entry first: the firmware never points at a missing file. */
  bool entry_left = false;
  if (rec.entry[0] && o->no_entry) {
    KEPT(r, "boot entry Boot%s: --no-bootentry", rec.entry);
    entry_left = true;
  } else if (rec.entry[0]) {
    if ((rc = setup_need_uefi(st))) return rc;
    (void)setup_locate_partition(&e, r->next, sizeof r->next); /* its PARTUUID, when it can be found */
    r->next[0] = 0;
    static setup_bootlist bl;
    if ((rc = setup_list_entries(&e, &bl, st))) return rc;
    bool still = false;
    for (size_t i = 0; i < bl.nfound; i++) still |= !strcasecmp(bl.found[i], rec.entry);
    if (!still) {
      KEPT(r, "boot entry Boot%s: gone already, or no longer names %s", rec.entry, SETUP_IMAGE_FW);
    } else if (!o->dry_run) {
      static char out[1 << 16];
      const char *args[] = {"--bootnum", rec.entry, "--delete-bootnum", NULL};
      if ((rc = setup_efibootmgr(args, out, sizeof out, st))) return rc;
    }
    if (still) ACT(r, "%s boot entry Boot%s", would, rec.entry);
    snprintf(r->entry, sizeof r->entry, "%s", rec.entry);
  }
  for (size_t i = 0; i < rec.nfiles; i++) {
    char p[PATH_MAX + 64];
    uint8_t have_sha[32];
    esp_path(&e, rec.files[i].path, p, sizeof p);
    int s = file_state(p, rec.files[i].sha256, have_sha);
    if (s == 0) continue;
    if (s < 0) {
      KEPT(r, "%s: holds other bytes than setup wrote (replaced since, e.g. by `hpm stage`): left in place", p);
      continue;
    }
    if (!o->dry_run && unlink(p)) {
      hpmh_fail(st, HPMH_E_IO, p, "%s: %s", p, strerror(errno));
      return HPM_BOOT_EXIT_IO;
    }
    ACT(r, "%s %s", would, p);
  }
  char p[PATH_MAX + 64];
  esp_path(&e, SETUP_RECORD, p, sizeof p);
  if (entry_left) {
    /* keep the record of the entry, for a later --remove */
    setup_record keep = rec;
    keep.nfiles = 0;
    if (!o->dry_run && (rc = write_record(&e, &keep, st))) return rc;
  } else {
    if (!o->dry_run && unlink(p)) {
      hpmh_fail(st, HPMH_E_IO, p, "%s: %s", p, strerror(errno));
      return HPM_BOOT_EXIT_IO;
    }
    ACT(r, "%s %s", would, p);
    for (size_t i = 0; i < rec.ndirs; i++) {
      esp_path(&e, rec.dirs[i], p, sizeof p);
      if (o->dry_run) ACT(r, "would remove %s (if empty)", p);
      else if (!rmdir(p)) ACT(r, "removed %s", p);
      else if (errno == ENOTEMPTY || errno == EEXIST) KEPT(r, "%s: not empty: left in place", p);
    }
  }
  int fd = open(e.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    if (!o->dry_run) syncfs(fd);
    close(fd);
  }
  (void)ctx;
  return 0;
}

/* ---- output -------------------------------------------------------------------- */

static void add_lines(cJSON *d, const char *key, char (*lines)[320], size_t n) {
  cJSON *a = cJSON_AddArrayToObject(d, key);
  for (size_t i = 0; i < n; i++) hpmh_json_add(a, NULL, hpmh_json_string(lines[i]));
}

static void print_report(hpm_ctx *ctx, setup_report *r) {
  if (!r->changed && !r->next[0])
    snprintf(r->next, sizeof r->next, "already set up: nothing changed%s%s%s", r->entry[0] ? " (boot entry Boot" : "",
             r->entry, r->entry[0] ? " first in BootOrder)" : "");
  if (ctx->json) {
    cJSON *d = hpm_json_doc("setup");
    hpmh_json_add_str(d, "mode", r->remove ? "remove" : "install");
    hpmh_json_add_bool(d, "dry_run", r->dry_run);
    hpmh_json_add_bool(d, "changed", r->changed);
    hpmh_json_add_str(d, "esp", r->esp);
    hpm_json_add_opt(d, "image", r->remove ? "" : r->image);
    hpmh_json_add_bool(d, "development_image", r->dev_image);
    hpm_json_add_opt(d, "boot_entry", r->entry);
    if (r->has_baseline) {
      cJSON *b = cJSON_AddObjectToObject(d, "baseline");
      hpmh_json_add_str(b, "slot", "a");
      hpmh_json_add_str(b, "version", r->version);
      hpmh_json_add_u64(b, "svn", r->svn);
      hpmh_json_add_str(b, "digest", r->digest_hex);
    } else {
      hpmh_json_add_null(d, "baseline");
    }
    add_lines(d, "actions", r->act, r->nact);
    add_lines(d, "kept", r->kept, r->nkept);
    hpm_json_add_opt(d, "next", r->next);
    hpm_json_emit(d);
    return;
  }
  for (size_t i = 0; i < r->nact; i++) printf("%s\n", r->act[i]);
  for (size_t i = 0; i < r->nkept; i++) printf("kept %s\n", r->kept[i]);
  if (!r->remove && r->has_baseline)
    printf("slot a: baseline %s (svn %u, digest %.16s...), verified with the trust store %s\n", r->version, r->svn,
           r->digest_hex, ctx->trust_dir);
  if (r->next[0]) printf("%s\n", r->next);
  else if (r->dry_run) printf("dry run: nothing changed\n");
}

static int parse_opts(hpm_ctx *ctx, int argc, char **argv, setup_opts *o) {
  static const struct option lo[] = {{"json", 0, 0, 'j'},   {"help", 0, 0, 'h'},         {"efi", 1, 0, 'e'},
                                     {"remove", 0, 0, 'r'}, {"no-bootentry", 0, 0, 'N'}, {"dry-run", 0, 0, 'n'},
                                     {0, 0, 0, 0}};
  memset(o, 0, sizeof *o);
  int c;
  while ((c = hpm_cli_next(argv[0], argc, argv, "n", lo)) != -1) {
    switch (c) {
    case 'j': ctx->json = true; break;
    case 'h': fputs(setup_usage, stdout); o->help = true; return 0;
    case 'e': o->efi = optarg; break;
    case 'r': o->remove = true; break;
    case 'N': o->no_entry = true; break;
    case 'n': o->dry_run = true; break;
    default: return HPM_BOOT_EXIT_USAGE;
    }
  }
  if (o->remove && o->efi) return hpm_cli_error(argv[0], "--efi: not with --remove (it removes what setup recorded)");
  int n = o->remove ? 0 : 1;
  if (hpm_cli_operands(argv[0], argc, argv, n, n, "one BASELINE file")) return HPM_BOOT_EXIT_USAGE;
  if (!o->remove) o->file = argv[optind];
  return 0;
}

int hpm_boot_cmd_setup(hpm_ctx *ctx, int argc, char **argv) {
  setup_opts o;
  int rc = parse_opts(ctx, argc, argv, &o);
  if (rc || o.help) return rc;
  static setup_report r;
  memset(&r, 0, sizeof r);
  r.remove = o.remove;
  r.dry_run = o.dry_run;
  rc = o.remove ? do_remove(ctx, &o, &r) : do_setup(ctx, &o, &r);
  if (r.version[0]) snprintf(ctx->record_ids, sizeof ctx->record_ids, "%s", r.version);
  if (r.dev_image)
    msg("WARNING: %s is a DEVELOPMENT boot image: it trusts a throwaway key from the build machine; never use it "
        "on a production host", r.image);
  if (rc) {
    msg("%s", r.st.detail);
    return rc;
  }
  print_report(ctx, &r);
  return 0;
}

/* ---- hpm status, before the first boot through hpmboot.efi ------------------- */

/* The record of a setup on esp, or false. */
static bool setup_found(const char *esp, setup_record *rec) {
  esp_loc e;
  memset(&e, 0, sizeof e);
  snprintf(e.dir, sizeof e.dir, "%s", esp);
  bool have = false;
  hpmh_status st;
  return !read_record(&e, rec, &have, &st) && have;
}

void hpm_boot_setup_print(FILE *out, const char *esp) {
  static setup_record rec;
  if (!setup_found(esp, &rec)) return;
  fprintf(out, "setup: `hpm setup` installed %s/%s%s%s%s and baseline %s (svn %u) in slot a\n", esp, SETUP_IMAGE,
          rec.entry[0] ? " (boot entry Boot" : "", rec.entry, rec.entry[0] ? ")" : "", rec.version, rec.svn);
  fprintf(out, "next: reboot; the host then comes up through hpmboot.efi on slot a, on trial: run `hpm mark-good` "
          "once healthy\n");
}

cJSON *hpm_boot_setup_json(const char *esp) {
  static setup_record rec;
  if (!setup_found(esp, &rec)) return cJSON_CreateNull();
  cJSON *o = cJSON_CreateObject();
  char path[PATH_MAX + 64];
  snprintf(path, sizeof path, "%s/%s", esp, SETUP_IMAGE);
  hpmh_json_add_str(o, "image", path);
  hpm_json_add_opt(o, "boot_entry", rec.entry);
  hpmh_json_add_str(o, "version", rec.version);
  hpmh_json_add_u64(o, "svn", rec.svn);
  hpmh_json_add_hex(o, "baseline", rec.digest, HPM_DIGEST_LEN);
  hpmh_json_add_str(o, "next", "reboot: hpmboot.efi boots slot a on trial");
  return o;
}
