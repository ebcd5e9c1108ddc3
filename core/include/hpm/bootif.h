/* SPDX-License-Identifier: MIT */
/*
 * The boot-loader interface (docs/boot-interface.md) as code, compiled into
 * both hpmboot.efi and hpm: the vendor GUID, the variable names and
 * attributes, the kernel command-line keys, and the text records the boot
 * stage publishes for the OS, each writer (used by efi/hpmboot.c) beside its
 * parser (used by hpm, runtime/boot/).  The binary records (the state
 * record, the slot request) are in hpm/bootstate.h.
 */
#ifndef HPM_BOOTIF_H
#define HPM_BOOTIF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hpm/bootstate.h"
#include "hpm/core.h"
#include "hpm/text.h"

/* ---- vendor GUID ----------------------------------------------------------
 * 28b3057a-0599-4bcf-861b-d81782718919, written once, as its fields; both
 * forms are made from them, so they cannot disagree. */
#define HPM_VENDOR_GUID_FIELDS(X) X(28b3057a, 0599, 4bcf, 86, 1b, d8, 17, 82, 71, 89, 19)
#define HPM_GUID_STR_(a, b, c, d0, d1, d2, d3, d4, d5, d6, d7) \
  #a "-" #b "-" #c "-" #d0 #d1 "-" #d2 #d3 #d4 #d5 #d6 #d7
#define HPM_GUID_INIT_(a, b, c, d0, d1, d2, d3, d4, d5, d6, d7) \
  {0x##a, 0x##b, 0x##c, {0x##d0, 0x##d1, 0x##d2, 0x##d3, 0x##d4, 0x##d5, 0x##d6, 0x##d7}}
/* The string form, as in efivarfs file names (<Name>-<GUID>). */
#define HPM_VENDOR_GUID_STR HPM_VENDOR_GUID_FIELDS(HPM_GUID_STR_)
/* An initializer for an EFI_GUID {Data1, Data2, Data3, Data4[8]}. */
#define HPM_VENDOR_GUID_INIT HPM_VENDOR_GUID_FIELDS(HPM_GUID_INIT_)

/* ---- variables (docs/boot-interface.md "Variables") -------------------------
 * String literals, so the boot stage can make them UCS-2 (L"" name). */
/* The state record's two copies (hpm/bootstate.h), NV+BS only. */
#define HPM_VAR_STATE0 "HpmState0"
#define HPM_VAR_STATE1 "HpmState1"
/* Requests the OS writes, NV+BS+RT. */
#define HPM_VAR_MARK_GOOD "HpmMarkGood"       /* the identity text, below */
#define HPM_VAR_ONESHOT "HpmOneShot"          /* one slot letter */
#define HPM_VAR_SLOT_REQUEST "HpmSlotRequest" /* hpm_bs_request record */
/* What the boot stage publishes for the OS, BS+RT (volatile), ASCII. */
#define HPM_VAR_BOOT_SLOT "HpmBootSlot"             /* letter of the slot booted */
#define HPM_VAR_BOOT_BASELINE "HpmBootBaseline"     /* its container digest, 64 hex */
#define HPM_VAR_BOOT_VERSION "HpmBootVersion"       /* the baseline's version */
#define HPM_VAR_BOOT_SVN "HpmBootSvn"               /* decimal */
#define HPM_VAR_BOOT_ATTEMPT "HpmBootAttempt"       /* decimal */
#define HPM_VAR_BOOT_REASON "HpmBootReason"         /* hpm_bs_decision_to_string */
#define HPM_VAR_BOOT_FLOOR "HpmBootFloor"           /* decimal */
#define HPM_VAR_BOOT_STATE_SEQ "HpmBootStateSeq"    /* decimal */
#define HPM_VAR_BOOT_REQUEST "HpmBootRequest"       /* outcome of a slot request */
#define HPM_VAR_BOOT_SECURE_BOOT "HpmBootSecureBoot" /* on, off, setup-mode */
#define HPM_VAR_BOOT_TPM "HpmBootTpm"               /* the measurement outcome */
#define HPM_VAR_BOOT_SLOTS "HpmBootSlots"           /* the slot table text, below */
#define HPM_VAR_BOOT_IMAGE "HpmBootImage"           /* which build of hpmboot.efi: below */

/* HpmBootImage: a development image (plain `make`: hpmboot-dev.efi, trusting
 * the throwaway key of a build tree) or a release image (`make
 * hpmboot-release` with named keys).  The boot stage's compile-time flag
 * HPMBOOT_DEV_IMAGE chooses. */
#define HPM_BOOT_IMAGE_DEVELOPMENT "development"
#define HPM_BOOT_IMAGE_RELEASE "release"

/* Attribute bits (the UEFI values) and the three sets the interface uses. */
#define HPM_VAR_ATTR_NV 0x1u
#define HPM_VAR_ATTR_BS 0x2u
#define HPM_VAR_ATTR_RT 0x4u
#define HPM_VAR_ATTR_STATE (HPM_VAR_ATTR_NV | HPM_VAR_ATTR_BS)
#define HPM_VAR_ATTR_PUBLISHED (HPM_VAR_ATTR_BS | HPM_VAR_ATTR_RT)
#define HPM_VAR_ATTR_REQUEST (HPM_VAR_ATTR_NV | HPM_VAR_ATTR_BS | HPM_VAR_ATTR_RT)

/* ---- files on the ESP (docs/boot-interface.md "Files on the ESP") --------
 * \EFI\hpm\ holds each slot's container, slot-a.hpm ... slot-d.hpm, and the
 * detached payloads the containers name.  The ESP is FAT, which compares
 * names without regard to case, so these functions do too (ASCII). */

/* Do a and b name the same file on FAT? */
bool hpm_bootif_same_file(const char *a, const char *b);
/* The slot (0 .. HPM_BS_MAX_SLOTS - 1) whose container the file name is
 * ("slot-a.hpm", "SLOT-A.HPM", ...), else -1.  The format reserves these
 * names: no detached payload may have one (docs/format.md). */
int hpm_bootif_slot_of_file(const char *name);

/* ---- decimal and digest fields ------------------------------------------ */

/* Decimal digits only (no sign, no spaces, at most 20), value <= max:
 * HPM_BS_OK with *out set, else HPM_BS_E_FIELD with *out untouched. */
HPM_MUST_CHECK hpm_bs_result hpm_bootif_parse_u64(const char *s, size_t len, uint64_t max,
                                                  uint64_t *out);

/* Exactly 2 * HPM_DIGEST_LEN lower-case hex digits (as published):
 * HPM_BS_OK with out set, else HPM_BS_E_FIELD with out untouched. */
HPM_MUST_CHECK hpm_bs_result hpm_bootif_parse_digest(const char *s, size_t len,
                                                     uint8_t out[HPM_DIGEST_LEN]);

/* ---- identity: "hpm.slot=<a-d> hpm.baseline=<64 lower-case hex>" --------------
 * Appended to the kernel command line by the boot stage, and the mark-good
 * request (HpmMarkGood) the OS writes for the running slot and baseline. */
#define HPM_CMDLINE_SLOT "hpm.slot="
#define HPM_CMDLINE_BASELINE "hpm.baseline="
#define HPM_BOOTIF_IDENTITY_LEN \
  (sizeof HPM_CMDLINE_SLOT - 1 + 2 + sizeof HPM_CMDLINE_BASELINE - 1 + 2 * HPM_DIGEST_LEN)

void hpm_bootif_write_identity(hpm_text *t, unsigned slot, const uint8_t digest[HPM_DIGEST_LEN]);

/* Exactly that text, optionally followed by one "\n" (as echo writes it):
 * HPM_BS_OK with *slot and digest set, else HPM_BS_E_FIELD. */
HPM_MUST_CHECK hpm_bs_result hpm_bootif_parse_identity(const uint8_t *text, size_t len,
                                                       unsigned *slot,
                                                       uint8_t digest[HPM_DIGEST_LEN]);

/* ---- the slot table (HpmBootSlots) ----------------------------------------
 * One line per slot a-d:
 *   "a priority=2 tries=2 successful=0 svn=5 reason=none baseline=<hex>\n"
 * with " detail=<word>" before baseline when reason is verify-failed: the
 * slot's hpm_result text with '-' for each space ("payload-hash-mismatch"). */
#define HPM_BOOTIF_DETAIL_MAX 64  /* a detail word as parsed, the NUL included */
#define HPM_BOOTIF_SLOTS_MAX 1024 /* room for any slot table the writer makes */

/* Append the table of st->slots; the caller checks t->truncated. */
void hpm_bootif_write_slots(hpm_text *t, const hpm_bootstate *st);

/*
 * Parse a slot table of len bytes (no NUL needed) into st->slots[] (the
 * fields the text carries; attempts is left as it was) and, unless detail
 * is NULL, detail[] (each slot's detail word, truncated to fit; "" when
 * absent).  A detail word that names an hpm_result also sets the slot's
 * detail code, else it is 0.  Strict: every slot a-d exactly once, every
 * field present and in range, successful only with a baseline, no NUL
 * byte; empty lines and repeated spaces are skipped, unknown fields (and
 * words without '=') ignored.  HPM_BS_OK, or HPM_BS_E_FIELD with why
 * (may be NULL) naming the slot and field; st and detail are written only
 * on HPM_BS_OK.
 */
HPM_MUST_CHECK hpm_bs_result hpm_bootif_parse_slots(const char *text, size_t len,
                                                    hpm_bootstate *st,
                                                    char detail[][HPM_BOOTIF_DETAIL_MAX],
                                                    char *why, size_t why_cap);

#endif
