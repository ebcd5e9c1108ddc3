/* SPDX-License-Identifier: MIT */
/*
 * The boot side of hpm, from the OS (docs/operations.md "Boot slots from the
 * OS"; docs/boot-interface.md is the contract with hpmboot.efi):
 *
 *   hpm status     the boot part: what hpmboot.efi published for this boot
 *   hpm mark-good  HpmMarkGood for the running slot and baseline
 *   hpm stage      verify a baseline, copy it atomically into the inactive
 *                  slot on the ESP, request that slot first with N tries
 *   hpm rollback   request that the previous good slot becomes active
 *
 * Everything is read from the volatile HpmBoot* variables of this boot
 * (efivar.h: $HPM_EFIVARS) and written as the documented requests; the ESP
 * is $HPM_ESP (default /boot/efi).  Record formats are core's
 * (hpm/bootstate.h): nothing here re-implements them.
 *
 * Exit codes of the commands:
 *   0 done; 1 refused (verification, rollback floor, no slot to roll back
 *   to, would replace the only good baseline); 2 usage; 3 I/O error (ESP,
 *   variables); 5 not booted through hpmboot.efi (no HpmBoot* variables);
 *   6 mark-good: already marked good or already requested (nothing to do).
 */
#ifndef HPM_RT_BOOT_H
#define HPM_RT_BOOT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "hpm/bootstate.h"
#include "hpm/format.h"
#include "ctx.h"
#include "status.h"

#define HPM_BOOT_EXIT_REFUSED 1
#define HPM_BOOT_EXIT_USAGE 2
#define HPM_BOOT_EXIT_IO 3
#define HPM_BOOT_EXIT_NOT_HPMBOOT 5
#define HPM_BOOT_EXIT_ALREADY 6

/* This boot, as hpmboot.efi published it, plus the OS requests pending. */
typedef struct {
  int active;                          /* booted slot index (HpmBootSlot) */
  uint8_t baseline[HPM_DIGEST_LEN];    /* HpmBootBaseline */
  char baseline_hex[2 * HPM_DIGEST_LEN + 1];
  char version[HPM_VERSION_MAX + 1];   /* HpmBootVersion */
  uint32_t svn;                        /* HpmBootSvn */
  uint32_t attempt;                    /* HpmBootAttempt: 0 = marked good */
  char reason[128];                    /* HpmBootReason */
  char request[192];                   /* HpmBootRequest, "" when absent */
  char secure_boot[32];                /* HpmBootSecureBoot: on, off, setup-mode; "" when absent */
  char tpm[128];                       /* HpmBootTpm: the measurement outcome; "" when absent */
  char image[32];                      /* HpmBootImage: development, release; "" when absent */
  /* The slot table (HpmBootSlots) with HpmBootFloor and HpmBootStateSeq, as
   * a loaded core state: sequence, floor, slots[].  detail_text[i] is the
   * published refusal detail (verify-failed), "" otherwise. */
  hpm_bootstate st;
  char detail_text[HPM_BS_MAX_SLOTS][64];

  /* Requests written by the OS this boot, applied at the next one. */
  bool markgood_present;               /* HpmMarkGood exists */
  char markgood[160];                  /* ... its text (NUL-terminated) */
  size_t markgood_len;
  bool markgood_for_running;           /* ... naming this slot and baseline */
  int oneshot;                         /* HpmOneShot slot, -1 when absent */
  bool slotreq_present;                /* HpmSlotRequest exists */
  bool slotreq_valid;                  /* ... and parses (core) */
  hpm_bs_request slotreq;

  /* Whether the next boot will start another slot, and why. */
  bool reboot_pending;
  int next_slot;                       /* slot the next boot tries first, -1 unknown */
  char reboot_why[160];
} hpm_boot_info;

/*
 * Read this boot's variables into *bi.  Returns 0, or HPM_BOOT_EXIT_NOT_HPMBOOT
 * (HpmBootSlot absent) / HPM_BOOT_EXIT_IO (a variable is unreadable or does
 * not parse) with `why` saying which variable and what is wrong.
 */
int hpm_boot_info_read(hpm_boot_info *bi, char *why, size_t why_cap);

/* Index of the slot normal selection would try first in st (priority > 0,
 * marked good or tries left; highest priority, lower letter on a tie), or -1. */
int hpm_boot_top_candidate(const hpm_bootstate *st);

/* The boot part of `hpm status`: bootctl-like text (esp: where the slot
 * containers are, for their versions). */
void hpm_boot_status_print(FILE *out, const char *esp);
/* ... as the "boot" object of `hpm status --json` (docs/json.md);
 * {"booted": false, "error": ...} off hpmboot.efi. */
cJSON *hpm_boot_status_json(const char *esp);

/* Staging as a library call (the `stage` command and `hpm install`). */
typedef struct {
  unsigned tries;  /* tries the staged slot gets (HPM_BS_DEFAULT_TRIES) */
  int slot;        /* target slot index, -1: the inactive one of the a/b pair */
  bool force;      /* replace the other slot's good baseline although the
                    * running slot is not marked good yet */
} hpm_stage_opts;

typedef struct {
  char slot, fallback;                  /* slot letters: staged, running */
  char path[1100];                      /* the container on the ESP */
  char version[HPM_VERSION_MAX + 1];
  uint32_t svn;
  char digest_hex[2 * HPM_DIGEST_LEN + 1];
  unsigned tries;
  uint64_t state_sequence;
  unsigned removed;                     /* the replaced baseline's detached files, removed */
  uint64_t removed_bytes;
  hpmh_status st;                       /* why, when it refused or failed */
} hpm_stage_report;

/* Verify the baseline `file` against the context's trust store, copy it
 * (and its detached payloads) atomically into the inactive slot on the ESP,
 * re-verify the copy and request that slot for the next boot; then remove
 * the detached files of the baseline it replaced that no slot uses any more.
 * Prints only notes (a replaced request, removed leftovers and orphans).
 * Returns the exit code. */
int hpm_boot_stage(hpm_ctx *ctx, const char *file, const hpm_stage_opts *o, hpm_stage_report *r);

/* What `hpm stage` prints for a staged baseline (text or one JSON line). */
void hpm_boot_stage_print(FILE *out, const hpm_stage_report *r, bool json);

/* Files of the ESP folder hpmdir (ESP/EFI/hpm) that no slot uses: not a
 * slot container, not `bench`, not a temp file, and named by no slot
 * container's detached payloads.  only (nonly names; NULL: any file)
 * restricts the candidates.  With remove they are deleted (then the folder
 * is synced).  fn(path, size, arg) is called for each.  Returns how many,
 * or -1 with st filled (a slot container that cannot be parsed makes every
 * file count as used: nothing is removed). */
typedef void (*hpm_boot_orphan_fn)(const char *path, uint64_t size, void *arg);
int hpm_boot_esp_orphans(const char *hpmdir, const char *const *only, size_t nonly, bool remove,
                         hpm_boot_orphan_fn fn, void *arg, hpmh_status *st);

/* The commands (argv[0] is the command name); exit codes above. */
int hpm_boot_cmd_mark_good(hpm_ctx *ctx, int argc, char **argv);
int hpm_boot_cmd_stage(hpm_ctx *ctx, int argc, char **argv);
int hpm_boot_cmd_rollback(hpm_ctx *ctx, int argc, char **argv);
/* hpm setup (setup.c): the first install on a host booted some other way;
 * exit 0 done or nothing to do, 1 refused, 2 usage, 3 I/O or efibootmgr. */
int hpm_boot_cmd_setup(hpm_ctx *ctx, int argc, char **argv);

/* What `hpm status` says off hpmboot.efi when `hpm setup` set this ESP up:
 * text (nothing when it did not), and the "setup" object of the boot
 * object (null when it did not). */
void hpm_boot_setup_print(FILE *out, const char *esp);
cJSON *hpm_boot_setup_json(const char *esp);

#define BOOT_USAGE                                                                                    \
  "  mark-good [--json]                           mark the running baseline good (next boot records it)\n" \
  "  stage [--tries N] [--slot X] [--force] [--json] BASELINE\n"                                       \
  "                                               verify and copy a baseline into the inactive slot\n"  \
  "  rollback [--json]                            make the previous good slot active at the next boot\n" \
  "  setup [--efi PATH] [--no-bootentry] [--remove] [--dry-run] [--json] [BASELINE]\n"                  \
  "                                               first install: boot image, boot entry, slot a\n"

#endif
