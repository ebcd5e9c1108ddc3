/* SPDX-License-Identifier: MIT */
/*
 * `hpm setup` (setup.c) and its two parsers (setup_parse.c, fuzzed by
 * tests/fuzz/fuzz_setup.c): the record of what a setup created on the ESP,
 * and the firmware's boot entries as `efibootmgr --verbose` lists them.
 * Not an API outside the boot room and its tests.
 */
#ifndef HPM_RT_BOOT_SETUP_H
#define HPM_RT_BOOT_SETUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hpm/format.h"
#include "status.h"

/* Where `hpm setup` puts things, relative to the ESP (docs/operations.md
 * "First install"): the boot image in a folder of its own, beside
 * \EFI\hpm (the slots), so no baseline's detached payload can take its
 * name and `hpm clean` never counts it as a leftover. */
#define SETUP_DIR "EFI/hpmboot"
#define SETUP_IMAGE SETUP_DIR "/hpmboot.efi"
#define SETUP_IMAGE_FW "\\EFI\\hpmboot\\hpmboot.efi" /* the same, as the firmware names it */
#define SETUP_RECORD SETUP_DIR "/setup.txt"
#define SETUP_LABEL "hpm"
#define SETUP_MAGIC "hpm-setup 1"

#define SETUP_MAX_FILES (HPM_MAX_PAYLOADS + 2)
#define SETUP_MAX_DIRS 3
#define SETUP_PATH_MAX 96
#define SETUP_RECORD_MAX 16384u

/* What a setup created: only files and folders that did not exist before
 * it (never one it found), each file with the SHA-256 it wrote, so that
 * `hpm setup --remove` deletes a file only while it still holds those
 * bytes.  Paths are relative to the ESP. */
typedef struct {
  char path[SETUP_PATH_MAX];
  uint8_t sha256[32];
} setup_file;

typedef struct {
  char entry[5];                       /* Boot#### it created: 4 hex digits, "" none */
  bool has_baseline;
  uint32_t svn;
  uint8_t digest[HPM_DIGEST_LEN];
  char version[HPM_VERSION_MAX + 1];
  size_t nfiles, ndirs;
  setup_file files[SETUP_MAX_FILES];
  char dirs[SETUP_MAX_DIRS][SETUP_PATH_MAX]; /* deepest first */
} setup_record;

/* The record as text (SETUP_MAGIC, then one line per fact); its length,
 * 0 when it does not fit. */
size_t setup_record_write(const setup_record *r, char *out, size_t cap);
/* Parse a record (untrusted: the ESP is FAT, anyone with root or the disk
 * writes it).  Paths must stay under EFI/hpm/ or SETUP_DIR/, the only
 * places a setup writes; anything else refuses the whole record.  0, or -1
 * with st naming the line. */
int setup_record_parse(const char *buf, size_t len, setup_record *r, hpmh_status *st);

#define SETUP_MAX_ORDER 128
/* The boot entries (efibootmgr --verbose): BootOrder, and the entries
 * whose device path names loader (case-insensitive, as FAT) on the
 * partition partuuid ("" any). */
typedef struct {
  size_t norder;
  char order[SETUP_MAX_ORDER][5];
  size_t nfound;
  char found[8][5];
} setup_bootlist;

/* 0, or -1 when the text has no BootOrder line nor any Boot#### line (not
 * efibootmgr's listing). */
int setup_bootlist_parse(const char *buf, size_t len, const char *loader, const char *partuuid, setup_bootlist *b);

/* The keys an hpmboot.efi image trusts, read out of the file: its
 * `.hpmkeys` PE section (written by scripts/hpmboot-trust.sh from the same
 * keys the image is built with; docs/format.md "The boot image's key
 * record").  `der` points into the image buffer given to the parser. */
#define SETUP_IMAGE_MAX_KEYS 16
#define SETUP_IMAGE_KEY_NAME 64
typedef struct {
  unsigned threshold;
  size_t count;
  bool development;
  struct {
    const uint8_t *der;
    size_t len;
    char name[SETUP_IMAGE_KEY_NAME + 1];
  } keys[SETUP_IMAGE_MAX_KEYS];
} setup_image_keys;

/* Parse the PE image (untrusted: any file the operator names) and its key
 * record.  0, or -1 with st saying what is wrong (not a PE file, no or two
 * .hpmkeys sections, a malformed record). */
int setup_image_keys_parse(const uint8_t *img, size_t len, setup_image_keys *k, hpmh_status *st);

/* ---- setup_esp.c ---------------------------------------------------------- */
#include <limits.h>
#include "ctx.h"

#define ESP_TYPE_GUID "c12a7328-f81f-11d2-ba4b-00a0c93ec93b"
#define ESP_DIR_MAX 1024 /* longest ESP mount path (setup.c's esp_path) */

/* The ESP: where it is mounted and, when it is a disk partition, which. */
typedef struct {
  char dir[PATH_MAX];
  bool detected;
  bool have_part;
  char disk[96], dev[96];
  unsigned part;
  char partuuid[64], type[64];
} esp_loc;

/* Text for a message (truncated if it must be; never a path that is used). */
void setup_say(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Run efibootmgr with args (NULL-terminated; no shell), its output (stdout
 * and stderr) into out.  0, or the exit code with st saying why. */
int setup_efibootmgr(const char *const *args, char *out, size_t cap, hpmh_status *st);
/* efibootmgr --verbose, parsed: entries naming SETUP_IMAGE_FW on e's partition. */
int setup_list_entries(const esp_loc *e, setup_bootlist *b, hpmh_status *st);
bool setup_entry_first(const setup_bootlist *b, const char *num);
/* Put num first in BootOrder, the others after it in their order. */
int setup_order_first(const setup_bootlist *b, const char *num, hpmh_status *st);
/* The partition of the ESP mounted at e->dir; false with why. */
bool setup_locate_partition(esp_loc *e, char *why, size_t cap);
/* Where the ESP is: --esp/HPM_ESP/[paths] esp when given, else the first
 * of /efi, /boot/efi, /boot that is an EFI system partition's mount; with
 * need_part its partition too.  The exit code. */
int setup_find_esp(hpm_ctx *ctx, bool need_part, esp_loc *e, hpmh_status *st);
/* Refuses unless efivarfs is there. */
int setup_need_uefi(hpmh_status *st);

#endif
