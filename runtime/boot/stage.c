/* SPDX-License-Identifier: MIT */
/*
 * hpm stage: a verified, atomic copy of a signed baseline into the inactive
 * slot on the ESP, then a slot request for the next boot (boot.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boot/boot.h"
#include "boot/internal.h"
#include "fileio.h"
#include "hpm/bootif.h"
#include "json.h"
#include "jsonout.h"
#include "loader.h"
#include "msg.h"

#define CONTAINER_MAX (64u * 1024 * 1024) /* a baseline container without detached payloads */

static const char stage_usage[] =
    "usage: hpm stage [--tries N] [--slot X] [--force] [--json] BASELINE.hpm\n"
    "  Verify a signed baseline against the trust store, copy it (and its\n"
    "  detached payloads) atomically into the inactive slot on the ESP, and\n"
    "  ask hpmboot.efi to try that slot first at the next boot with N tries\n"
    "  (default 3).  A reboot activates it; unless `hpm mark-good` runs in\n"
    "  that boot, the boot stage falls back to the running slot.\n"
    "  --slot X      stage into slot X (a-d, not the running one)\n"
    "  --force       replace the other slot's good baseline although the\n"
    "                running slot is not marked good yet\n"
    "  --trust-dir D trust store (global option; HPM_TRUST_DIR, default /etc/hpm/trust);\n"
    "                [trust] baseline_signers in HPM_CONF: how many of its keys must\n"
    "                sign the baseline (default 1)\n"
    "  --esp DIR     mounted ESP (global option; HPM_ESP, default /boot/efi)\n"
    "exit: 0 staged, 1 refused, 2 usage, 3 I/O error, 5 not booted through hpmboot.efi\n";

int boot_verify_baseline(const hpm_ctx *ctx, const char *path, const hpm_trust *trust, uint8_t **buf,
                           size_t *len, hpmh_loader *l, hpm_manifest *m, hpmh_status *st) {
  if (hpmh_read_file(path, CONTAINER_MAX, buf, len, st)) return HPM_BOOT_EXIT_IO;
  hpmh_loader_init(l, path, HPMH_LOAD_MANIFEST_SIZE);
  hpm_ops ops = hpmh_loader_ops(l);
  hpm_diag d;
  memset(&d, 0, sizeof d);
  hpm_result r = hpm_container_verify(*buf, *len, HPM_KIND_BASELINE, trust, &ops, m, &d);
  if (r != HPM_OK) {
    char why[1200];
    hpm_ctx_refusal(ctx, HPM_KIND_BASELINE, m, m->trusted_signers, r, &d, l, why, sizeof why);
    hpmh_fail(st, HPMH_E_REFUSED, path, "%s: %s", path, why);
    return HPM_BOOT_EXIT_REFUSED;
  }
  return 0;
}

/* Test hooks for interrupted copies (tests/lifecycle): after this many bytes
 * written to the ESP in this run, HPM_TEST_ESP_FAULT makes the next write
 * fail with ENOSPC (a full ESP); HPM_TEST_ESP_CRASH ends the process at
 * once (a kill or power cut), leaving the temp file behind. */
static long long esp_written, esp_fault = -1, esp_crash = -1;

static long long env_ll(const char *n) {
  const char *v = getenv(n);
  return v && *v ? atoll(v) : -1;
}

static ssize_t esp_write(int fd, const uint8_t *p, size_t n) {
  size_t chunk = n > (1u << 20) ? (1u << 20) : n;
  if (esp_crash >= 0 && esp_written + (long long)chunk > esp_crash) {
    size_t k = (size_t)(esp_crash - esp_written);
    if (k && write(fd, p, k) < 0) _exit(99);
    _exit(99);
  }
  if (esp_fault >= 0 && esp_written + (long long)chunk > esp_fault) {
    size_t k = (size_t)(esp_fault - esp_written);
    if (k && write(fd, p, k) < 0) return -1;
    errno = ENOSPC;
    return -1;
  }
  ssize_t w = write(fd, p, chunk);
  if (w > 0) esp_written += w;
  return w;
}

static void note_removed(const char *path) { msg("removed %s (left by an interrupted stage)", path); }

/* How another slot uses a file of stage's. */
enum file_use { USE_NONE, USE_CONTAINER, USE_PAYLOAD };

/* Does a slot other than `except` use the file `f` (compared as FAT compares
 * names, without case): is it that slot's container, or a detached payload
 * its container names?  *who: that slot's letter.  A container that cannot
 * be read or parsed counts as naming every file that exists (fail safe),
 * except `except`'s own container: the format reserves the container names,
 * no container may name one. */
static enum file_use file_used_by_other_slot(const char *hpmdir, int except, const char *f, bool exists,
                                             char *who) {
  int owner = hpm_bootif_slot_of_file(f);
  if (owner >= 0 && owner != except) {
    *who = hpm_bs_slot_letter((unsigned)owner);
    return USE_CONTAINER;
  }
  bool unknown_names_it = exists && owner < 0;
  for (unsigned i = 0; i < HPM_BS_MAX_SLOTS; i++) {
    if ((int)i == except) continue;
    char p[1400], nm[16];
    *who = hpm_bs_slot_letter(i);
    snprintf(nm, sizeof nm, "slot-%c.hpm", *who);
    if (!boot_pjoin(p, sizeof p, hpmdir, nm)) return USE_PAYLOAD;
    uint8_t *b = NULL;
    size_t n = 0;
    hpmh_status e;
    if (access(p, F_OK)) continue;
    if (hpmh_read_file(p, CONTAINER_MAX, &b, &n, &e)) {
      if (unknown_names_it) return USE_PAYLOAD;
      continue;
    }
    static hpm_manifest m;
    hpm_result r = hpm_container_parse_unverified(b, n, &m, NULL);
    bool used = r != HPM_OK && unknown_names_it;
    for (size_t k = 0; r == HPM_OK && k < m.payload_count; k++)
      if (!m.payloads[k].embedded && hpm_bootif_same_file(m.payloads[k].file, f)) used = true;
    free(b);
    if (used) return USE_PAYLOAD;
  }
  return USE_NONE;
}

/* The detached file names of the container at path (none if it is missing
 * or does not parse), into names; ptrs point at them.  The count. */
static size_t old_detached_names(const char *path, char (*names)[HPM_FILE_MAX + 1], const char **ptrs) {
  uint8_t *b = NULL;
  size_t n = 0, k = 0;
  hpmh_status e;
  if (access(path, F_OK) || hpmh_read_file(path, CONTAINER_MAX, &b, &n, &e)) return 0;
  static hpm_manifest m;
  if (hpm_container_parse_unverified(b, n, &m, NULL) == HPM_OK)
    for (size_t i = 0; i < m.payload_count && k < HPM_MAX_PAYLOADS; i++)
      if (!m.payloads[i].embedded) {
        snprintf(names[k], HPM_FILE_MAX + 1, "%s", m.payloads[i].file);
        ptrs[k] = names[k];
        k++;
      }
  free(b);
  return k;
}

static void note_orphan(const char *path, uint64_t size, void *arg) {
  hpm_stage_report *r = arg;
  r->removed++;
  r->removed_bytes += size;
  msg("removed %s (%llu bytes): the replaced baseline's, no slot uses it", path, (unsigned long long)size);
}

static bool same_file(const char *p, const uint8_t *data, size_t len) {
  uint8_t *b = NULL;
  size_t n = 0;
  hpmh_status e;
  if (hpmh_read_file(p, len, &b, &n, &e)) return false;
  bool same = n == len && !memcmp(b, data, len);
  free(b);
  return same;
}

/* The checks before anything is written: target slot, floor, the last good
 * fallback.  Returns the target slot index, or -1 with st filled. */
static int choose_target(const hpm_boot_info *bi, const hpm_manifest *m, const char *file, const hpm_stage_opts *o,
                         hpmh_status *st) {
  if (m->svn < bi->st.floor) {
    hpmh_fail(st, HPMH_E_REFUSED, file,
              "%s: baseline %s has svn %u, below the rollback floor %u: the boot stage would refuse it; refusing",
              file, m->version, m->svn, bi->st.floor);
    return -1;
  }
  if (!memcmp(m->digest, bi->baseline, HPM_DIGEST_LEN)) {
    hpmh_fail(st, HPMH_E_REFUSED, file, "%s: baseline %s is the running baseline (slot %c): nothing to stage", file,
              m->version, hpm_bs_slot_letter((unsigned)bi->active));
    return -1;
  }
  /* The inactive slot: the other one of the a/b pair (or --slot). */
  int target = o->slot;
  if (target < 0) {
    if (bi->active == 0) target = 1;
    else if (bi->active == 1) target = 0;
    else target = bi->st.slots[0].priority <= bi->st.slots[1].priority ? 0 : 1;
  }
  char t = hpm_bs_slot_letter((unsigned)target), a = hpm_bs_slot_letter((unsigned)bi->active);
  if (target == bi->active) {
    hpmh_fail(st, HPMH_E_REFUSED, "--slot", "slot %c is the running slot: staging never replaces it", t);
    return -1;
  }
  const hpm_bs_slot *as = &bi->st.slots[bi->active], *ts = &bi->st.slots[target];
  if (ts->successful && !as->successful && !bi->markgood_for_running && !o->force) {
    hpmh_fail(st, HPMH_E_REFUSED, NULL,
              "slot %c holds the last good baseline and the running slot %c is not marked good yet: staging would "
              "leave nothing good to fall back to; run `hpm mark-good` first (or --force)", t, a);
    return -1;
  }
  return target;
}

/* Write one file into hpmdir, unless another slot uses a file of that name
 * (then refuse, unless it already holds exactly these bytes). */
static int copy_one(const char *hpmdir, int target, const char *name, const uint8_t *data, size_t len,
                    hpmh_status *st) {
  char p[1400], who = '?';
  if (!boot_pjoin(p, sizeof p, hpmdir, name)) {
    hpmh_fail(st, HPMH_E_IO, hpmdir, "%s: path too long", hpmdir);
    return HPM_BOOT_EXIT_IO;
  }
  bool exists = !access(p, F_OK);
  if (exists && same_file(p, data, len)) return 0;
  enum file_use use = file_used_by_other_slot(hpmdir, target, name, exists, &who);
  if (use != USE_NONE) {
    hpmh_fail(st, HPMH_E_REFUSED, p,
              "%s: %s slot %c's container%s (file names compared without case, as FAT does): staging would "
              "damage slot %c; give the new baseline's detached payloads other file names", p,
              use == USE_CONTAINER ? "is the name of" : "holds other bytes or is missing, and", who,
              use == USE_CONTAINER ? "" : " names it", who);
    return HPM_BOOT_EXIT_REFUSED;
  }
  return hpmh_write_file(p, data, len, 0644, 0, st) ? HPM_BOOT_EXIT_IO : 0;
}

/* Copies the detached payloads, then the container (named name), into
 * hpmdir: never over a file another slot uses. */
static int copy_to_esp(const char *hpmdir, int target, const hpmh_loader *src, const uint8_t *buf, size_t len,
                       const char *name, hpmh_status *st) {
  for (unsigned i = 0; i < src->n; i++) {
    int rc = copy_one(hpmdir, target, src->files[i].name, src->files[i].buf, src->files[i].len, st);
    if (rc) return rc;
  }
  return copy_one(hpmdir, target, name, buf, len, st);
}

int hpm_boot_stage(hpm_ctx *ctx, const char *file, const hpm_stage_opts *o, hpm_stage_report *rep) {
  memset(rep, 0, sizeof *rep);
  hpmh_status *st = &rep->st;
  hpm_boot_info bi;
  char why[600];
  int rc = hpm_boot_info_read(&bi, why, sizeof why);
  if (rc) {
    hpmh_fail(st, HPMH_E_IO, NULL, "%s", why);
    return rc;
  }
  hpm_trust trust;
  if (hpm_ctx_trust_for(ctx, HPM_KIND_BASELINE, &trust, st))
    return st->code == HPMH_E_INVALID ? HPM_BOOT_EXIT_USAGE : HPM_BOOT_EXIT_REFUSED;

  static hpm_manifest m, m2;
  static hpmh_loader src, back;
  uint8_t *buf = NULL, *buf2 = NULL;
  size_t len = 0, len2 = 0;
  int lockfd = -1;
  if ((rc = boot_verify_baseline(ctx, file, &trust, &buf, &len, &src, &m, st))) goto out;
  snprintf(rep->version, sizeof rep->version, "%s", m.version);
  int target = choose_target(&bi, &m, file, o, st);
  rc = HPM_BOOT_EXIT_REFUSED;
  if (target < 0) goto out;

  /* activate the slot with N tries, forgetting its old mark and refusal */
  hpm_bs_request req =
      boot_activate_request(&bi, target, o->tries, HPM_BS_REQ_CLEAR_SUCCESSFUL | HPM_BS_REQ_CLEAR_REFUSAL);
  if ((rc = boot_check_slot_request(&bi, &req, st))) goto out;

  char hpmdir[1024];
  snprintf(hpmdir, sizeof hpmdir, "%s/EFI/hpm", ctx->esp);
  struct stat sb;
  rc = HPM_BOOT_EXIT_IO;
  if (stat(hpmdir, &sb) || !S_ISDIR(sb.st_mode)) {
    hpmh_fail(st, HPMH_E_IO, hpmdir, "%s: not a directory: is the ESP mounted there? (--esp, HPM_ESP)", hpmdir);
    goto out;
  }
  /* One stage at a time: the folder itself is the lock. */
  lockfd = open(hpmdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (lockfd < 0 || flock(lockfd, LOCK_EX | LOCK_NB)) {
    hpmh_fail(st, HPMH_E_IO, hpmdir, "%s: %s", hpmdir,
              lockfd < 0 ? strerror(errno) : "another `hpm stage` is running: try again when it is done");
    goto out;
  }
  hpmh_remove_stale_temps(hpmdir, note_removed);

  char t = hpm_bs_slot_letter((unsigned)target), name[32];
  snprintf(name, sizeof name, "slot-%c.hpm", t);
  boot_pjoin(rep->path, sizeof rep->path, hpmdir, name);
  /* what the baseline being replaced named: removed afterwards, when no
   * slot uses it any more */
  static char old[HPM_MAX_PAYLOADS][HPM_FILE_MAX + 1];
  const char *oldp[HPM_MAX_PAYLOADS];
  size_t nold = old_detached_names(rep->path, old, oldp);
  /* Detached payloads first: never overwrite one another slot uses. */
  esp_fault = env_ll("HPM_TEST_ESP_FAULT");
  esp_crash = env_ll("HPM_TEST_ESP_CRASH");
  hpmh_set_write_hook(esp_write);
  rc = copy_to_esp(hpmdir, target, &src, buf, len, name, st);
  hpmh_set_write_hook(NULL);
  if (rc) goto out;

  /* Re-verify what is on the ESP now. */
  if ((rc = boot_verify_baseline(ctx, rep->path, &trust, &buf2, &len2, &back, &m2, st)) ||
      memcmp(m2.digest, m.digest, HPM_DIGEST_LEN)) {
    hpmh_fail(st, HPMH_E_IO, rep->path, "%s: the written copy does not verify as %s: not requesting the slot",
              rep->path, file);
    rc = HPM_BOOT_EXIT_IO;
    goto out;
  }
  if ((rc = boot_write_slot_request(&bi, &req, st))) goto out;
  if (nold) {
    hpmh_status ost;
    if (hpm_boot_esp_orphans(hpmdir, oldp, nold, true, note_orphan, rep, &ost) < 0) msg("note: %s", ost.detail);
  }
  rep->slot = t;
  rep->fallback = hpm_bs_slot_letter((unsigned)bi.active);
  rep->svn = m.svn;
  hpm_fmt_hex(m.digest, HPM_DIGEST_LEN, rep->digest_hex, sizeof rep->digest_hex);
  rep->tries = o->tries;
  rep->state_sequence = bi.st.sequence;
  rc = 0;
out:
  if (lockfd >= 0) close(lockfd);
  free(buf);
  free(buf2);
  hpmh_loader_free(&src);
  hpmh_loader_free(&back);
  return rc;
}

void hpm_boot_stage_print(FILE *out, const hpm_stage_report *r, bool json) {
  if (json) {
    cJSON *d = hpm_json_doc("stage");
    char sl[2] = {r->slot, 0}, fb[2] = {r->fallback, 0};
    hpmh_json_add_str(d, "slot", sl);
    hpmh_json_add_str(d, "path", r->path);
    hpmh_json_add_str(d, "version", r->version);
    hpmh_json_add_u64(d, "svn", r->svn);
    hpmh_json_add_str(d, "digest", r->digest_hex);
    hpmh_json_add_u64(d, "tries", r->tries);
    hpmh_json_add_u64(d, "state_sequence", r->state_sequence);
    hpmh_json_add_bool(d, "reboot_required", 1);
    hpmh_json_add_str(d, "fallback_slot", fb);
    hpmh_json_add_u64(d, "removed_files", r->removed);
    hpmh_json_add_u64(d, "removed_bytes", r->removed_bytes);
    hpm_json_emit(d);
  } else {
    fprintf(out, "staged baseline %s (svn %u, digest %.16s...) into slot %c (%s)\n", r->version, r->svn, r->digest_hex,
            r->slot, r->path);
    fprintf(out, "a reboot will activate it: slot %c is tried first with %u tries; unless `hpm mark-good` runs in "
            "that boot, the boot stage falls back to slot %c\n", r->slot, r->tries, r->fallback);
  }
}

int hpm_boot_cmd_stage(hpm_ctx *ctx, int argc, char **argv) {
  boot_opts o;
  int r = boot_parse_opts(ctx, argc, argv, stage_usage, true, &o);
  if (r || o.help) return r;
  hpm_stage_report rep;
  r = hpm_boot_stage(ctx, o.file, &o.stage, &rep);
  if (rep.version[0]) snprintf(ctx->record_ids, sizeof ctx->record_ids, "%s", rep.version);
  if (r) {
    msg("%s", rep.st.detail);
    return r;
  }
  hpm_boot_stage_print(stdout, &rep, ctx->json);
  return 0;
}
