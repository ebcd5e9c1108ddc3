/* SPDX-License-Identifier: MIT */
/*
 * Boot state: the slot table hpmboot.efi keeps in UEFI variables, and the
 * slot-selection rules (docs/boot-interface.md is the specification).
 *
 * Freestanding like the rest of core/: variable I/O goes through an ops
 * table, slot verification through a callback, so the same code runs in
 * the boot stage and under unit tests and fuzzers with fakes.
 *
 * Power-loss safety: the record is kept in two copies ("HpmState0",
 * "HpmState1"), each with a version, a 64-bit sequence number and a CRC32.
 * A store writes only the copy that does not hold the current state, so a
 * write torn at any instant leaves the old state readable in the other copy.
 * If neither copy is valid the state is the documented safe default
 * (hpm_bs_default): never "every slot bootable".
 */
#ifndef HPM_BOOTSTATE_H
#define HPM_BOOTSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hpm/core.h"

#define HPM_BS_MAX_SLOTS 4u
#define HPM_BS_COPIES 2u
#define HPM_BS_RECORD_VERSION 1u
#define HPM_BS_PRIORITY_MAX 15u
#define HPM_BS_TRIES_MAX 15u
/* Tries a slot gets when it starts a trial (fresh state, new baseline). */
#define HPM_BS_DEFAULT_TRIES 3u

/* Record layout (little-endian), docs/boot-interface.md "State record". */
#define HPM_BS_MAGIC "HPMB"
#define HPM_BS_HDR_SIZE 24u
#define HPM_BS_SLOT_SIZE 48u
#define HPM_BS_RECORD_SIZE (HPM_BS_HDR_SIZE + HPM_BS_MAX_SLOTS * HPM_BS_SLOT_SIZE + 4u) /* 220 */

/* Why a slot was last refused (stored in the record: values are ABI). */
typedef enum {
  HPM_BS_REASON_NONE = 0,
  HPM_BS_REASON_NO_CONTAINER = 1,   /* slot file missing on the ESP */
  HPM_BS_REASON_READ_ERROR = 2,     /* firmware I/O error reading it */
  HPM_BS_REASON_VERIFY_FAILED = 3,  /* core refused the container (detail: hpm_result) */
  HPM_BS_REASON_ROLLBACK = 4,       /* SVN below the rollback floor */
  HPM_BS_REASON_TRIES_EXHAUSTED = 5,/* never marked good within its tries */
  HPM_BS_REASON_LOAD_FAILED = 6,    /* the firmware refused to load the kernel */
  HPM_BS_REASON_COUNT_
} hpm_bs_reason;

const char *hpm_bs_reason_to_string(hpm_bs_reason r);

typedef struct {
  uint8_t priority;       /* 0 = disabled, 1..15, higher wins */
  uint8_t tries;          /* boots left to prove itself, 0..15 */
  bool successful;        /* marked good by the OS for `digest` */
  hpm_bs_reason reason;   /* last refusal */
  uint8_t detail;         /* hpm_result of a VERIFY_FAILED refusal, else 0 */
  uint8_t attempts;       /* trial boots of `digest` so far (0..255, saturating) */
  uint32_t svn;           /* SVN of `digest` */
  uint8_t digest[HPM_DIGEST_LEN]; /* last baseline verified in this slot, 0 = none */
} hpm_bs_slot;

/* Where the in-memory state came from. */
typedef enum {
  HPM_BS_ORIGIN_LOADED = 0,   /* a valid copy */
  HPM_BS_ORIGIN_FRESH = 1,    /* no copy exists: first boot */
  HPM_BS_ORIGIN_CORRUPT = 2,  /* copies exist but none is valid: safe default */
} hpm_bs_origin;

const char *hpm_bs_origin_to_string(hpm_bs_origin o);

/* Result of parsing or reading one copy. */
typedef enum {
  HPM_BS_OK = 0,
  HPM_BS_E_ABSENT,         /* the variable does not exist */
  HPM_BS_E_IO,             /* read/write failed */
  HPM_BS_E_SIZE,           /* not HPM_BS_RECORD_SIZE bytes */
  HPM_BS_E_MAGIC,
  HPM_BS_E_VERSION,
  HPM_BS_E_CRC,
  HPM_BS_E_FIELD,          /* a field out of range or a reserved byte not 0 */
  HPM_BS_E_ATTRIBUTES,     /* the variable has attributes other than ours */
  HPM_BS_E_INVALID_ARGUMENT,
  HPM_BS_RESULT_COUNT_
} hpm_bs_result;

const char *hpm_bs_result_to_string(hpm_bs_result r);

typedef struct {
  uint64_t sequence;
  uint32_t floor;             /* rollback floor: minimum SVN that may boot */
  hpm_bs_slot slots[HPM_BS_MAX_SLOTS];

  /* Bookkeeping of the load, never serialized. */
  hpm_bs_origin origin;
  int current_copy;           /* copy holding this state, -1 if none */
  bool floor_unknown;         /* corrupt default: floor to be re-derived */
  hpm_bs_result copy_status[HPM_BS_COPIES];
} hpm_bootstate;

/*
 * Variable I/O.  read(): copy `copy` (0 or 1) into buf (capacity *len; set
 * *len to its size); HPM_BS_E_ABSENT if it does not exist, HPM_BS_E_SIZE if
 * it is larger than the capacity, HPM_BS_E_ATTRIBUTES if it exists with
 * attributes other than the boot stage's own, HPM_BS_E_IO otherwise.
 * write(): replace copy `copy` with exactly these bytes.
 */
typedef struct {
  void *ctx;
  hpm_bs_result (*read)(void *ctx, unsigned copy, uint8_t *buf, size_t *len);
  hpm_bs_result (*write)(void *ctx, unsigned copy, const uint8_t *buf, size_t len);
} hpm_bs_ops;

/* CRC-32 (IEEE 802.3, as zlib's crc32()). */
uint32_t hpm_crc32(const uint8_t *p, size_t n);

/* Slot index <-> letter ('a'..'d'); -1 / '?' when out of range. */
int hpm_bs_slot_from_letter(char c);
char hpm_bs_slot_letter(unsigned slot);

/*
 * The documented defaults.  FRESH (no state yet): slot a priority 2, slot b
 * priority 1, each HPM_BS_DEFAULT_TRIES tries, floor 0.  CORRUPT: the same
 * priorities with one try each, nothing marked good, and floor_unknown set
 * (the boot stage raises the floor to the highest SVN among the slots that
 * verify before choosing), so corruption can never roll back or make a slot
 * bootable forever.
 */
void hpm_bs_default(hpm_bootstate *st, hpm_bs_origin origin);

/* Parse one record strictly (fuzzed).  *out is written only on HPM_BS_OK. */
HPM_MUST_CHECK hpm_bs_result hpm_bs_parse(const uint8_t *buf, size_t len, hpm_bootstate *out);

/* Serialize st (sequence as in st) into exactly HPM_BS_RECORD_SIZE bytes. */
void hpm_bs_serialize(const hpm_bootstate *st, uint8_t out[HPM_BS_RECORD_SIZE]);

/* True when the persistent fields (everything but sequence and bookkeeping)
 * are equal: then there is nothing to write. */
bool hpm_bs_same(const hpm_bootstate *a, const hpm_bootstate *b);

/*
 * Read both copies; take the valid one with the higher sequence number.
 * Never fails: without a valid copy *st is the FRESH (no copy exists) or
 * CORRUPT default.  copy_status[] tells what each copy was.
 */
void hpm_bs_load(const hpm_bs_ops *ops, hpm_bootstate *st);

/*
 * Persist st: sequence + 1, written to the copy that does not hold the
 * current state, read back and compared.  On success st->current_copy and
 * st->sequence name the new record; on failure st is unchanged.
 */
HPM_MUST_CHECK hpm_bs_result hpm_bs_store(const hpm_bs_ops *ops, hpm_bootstate *st);

/* ---- requests from the OS (docs/boot-interface.md) ------------------- */

typedef enum {
  HPM_BS_MARK_APPLIED = 0,   /* slot marked good, floor raised to its SVN */
  HPM_BS_MARK_ALREADY,       /* it already was: nothing changed */
  HPM_BS_MARK_MALFORMED,     /* not "hpm.slot=<a-d> hpm.baseline=<64 hex>" */
  HPM_BS_MARK_STALE,         /* the slot holds another baseline now: ignored */
} hpm_bs_mark;

const char *hpm_bs_mark_to_string(hpm_bs_mark m);

/* Apply a mark-good request (the HpmMarkGood variable's bytes). */
HPM_MUST_CHECK hpm_bs_mark hpm_bs_apply_mark_good(hpm_bootstate *st, const uint8_t *req,
                                                  size_t len);

/* Parse a one-shot request ("a".."d", optionally followed by "\n"):
 * slot index, or -1 if malformed. */
int hpm_bs_parse_oneshot(const uint8_t *req, size_t len);

/*
 * Slot request (HpmSlotRequest, docs/boot-interface.md "Slot request"): the
 * OS asks the boot stage to change the slot table at the next boot.  A small
 * versioned, CRC-protected record bound to the state sequence it was made
 * against (HpmBootStateSeq), so it applies to that state only, and once:
 * after it is stored the sequence has moved on and a leftover copy of the
 * request is stale.  It can set priorities and tries and clear flags; it
 * cannot mark a slot good, touch the floor, or skip verification.
 *
 *   0  4  magic "HPMR"
 *   4  2  version 1
 *   6  1  entry count, 1..HPM_BS_REQ_MAX_ENTRIES
 *   7  1  reserved, 0
 *   8  8  state sequence the request was made against
 *  16  8n entries: op, slot (0..3), priority, tries, flags, 3 reserved (0)
 *  16+8n 4 crc32 of everything before it
 */
#define HPM_BS_REQ_MAGIC "HPMR"
#define HPM_BS_REQ_VERSION 1u
#define HPM_BS_REQ_MAX_ENTRIES 4u
#define HPM_BS_REQ_HDR_SIZE 16u
#define HPM_BS_REQ_ENTRY_SIZE 8u
#define HPM_BS_REQ_SIZE(n) (HPM_BS_REQ_HDR_SIZE + (n) * HPM_BS_REQ_ENTRY_SIZE + 4u)
#define HPM_BS_REQ_MAX_SIZE HPM_BS_REQ_SIZE(HPM_BS_REQ_MAX_ENTRIES) /* 52 */

typedef enum {
  HPM_BS_REQ_OP_SET = 1,      /* priority = P, tries = T */
  HPM_BS_REQ_OP_ACTIVATE = 2, /* move to the top of the priority order, tries = T (P must be 0) */
} hpm_bs_req_op;

#define HPM_BS_REQ_CLEAR_SUCCESSFUL 0x01u /* forget the mark-good (a new baseline is staged) */
#define HPM_BS_REQ_CLEAR_REFUSAL 0x02u    /* reason and detail back to none */
#define HPM_BS_REQ_FLAGS_ALL 0x03u

typedef struct {
  uint8_t op;       /* hpm_bs_req_op */
  uint8_t slot;     /* 0..HPM_BS_MAX_SLOTS-1 */
  uint8_t priority; /* SET: 0..15; ACTIVATE: 0 */
  uint8_t tries;    /* 0..15; the attempt count restarts */
  uint8_t flags;    /* HPM_BS_REQ_* */
} hpm_bs_req_entry;

typedef struct {
  uint64_t sequence;          /* state sequence it was made against */
  unsigned count;             /* 1..HPM_BS_REQ_MAX_ENTRIES, applied in order */
  hpm_bs_req_entry entries[HPM_BS_REQ_MAX_ENTRIES];
} hpm_bs_request;

/* Parse strictly (fuzzed): exact size for the count, magic, version, CRC
 * (checked before any other field), every field in range, reserved zero.
 * *out is written only on HPM_BS_OK. */
HPM_MUST_CHECK hpm_bs_result hpm_bs_parse_request(const uint8_t *buf, size_t len,
                                                  hpm_bs_request *out);

/* Serialize a request (for the OS side and tests).  Returns its size, or 0
 * if req is not one hpm_bs_parse_request accepts. */
size_t hpm_bs_serialize_request(const hpm_bs_request *req, uint8_t out[HPM_BS_REQ_MAX_SIZE]);

typedef enum {
  HPM_BS_REQ_APPLIED = 0,     /* every entry applied (the caller stores the state) */
  HPM_BS_REQ_STALE,           /* made against another state sequence (or a default): ignored */
  HPM_BS_REQ_NO_CANDIDATE,    /* it would leave no slot that may be tried: ignored */
} hpm_bs_req_status;

const char *hpm_bs_req_status_to_string(hpm_bs_req_status s);

/*
 * Apply a parsed request to st, all entries or none: on anything but
 * HPM_BS_REQ_APPLIED st is unchanged.  Applies only to a loaded state whose
 * sequence is req->sequence.  Never changes the floor, the digests, SVNs or
 * marks a slot good; every slot is still verified by hpm_bs_select.
 */
HPM_MUST_CHECK hpm_bs_req_status hpm_bs_apply_request(hpm_bootstate *st,
                                                      const hpm_bs_request *req);

/* ---- selection ----------------------------------------------------------- */

typedef enum {
  HPM_BS_BOOT_ONESHOT = 0,    /* the one-shot slot the OS asked for */
  HPM_BS_BOOT_GOOD,           /* highest-priority candidate, marked good */
  HPM_BS_BOOT_TRIAL,          /* highest-priority candidate, on trial */
  HPM_BS_BOOT_FALLBACK,       /* a higher-priority slot was refused or used up its tries */
  HPM_BS_NOTHING_BOOTABLE,
} hpm_bs_decision;

const char *hpm_bs_decision_to_string(hpm_bs_decision d);

/*
 * Load and verify one slot's baseline (the boot stage reads the ESP and calls
 * hpm_container_verify).  Return HPM_BS_REASON_NONE and fill svn and digest
 * when it verified; otherwise the refusal reason (and *detail, an hpm_result
 * for VERIFY_FAILED).  Called at most once per slot per selection.
 */
typedef struct {
  void *ctx;
  hpm_bs_reason (*check)(void *ctx, unsigned slot, uint32_t *svn,
                         uint8_t digest[HPM_DIGEST_LEN], uint8_t *detail);
} hpm_bs_checker;

typedef struct {
  hpm_bs_decision decision;
  int slot;                   /* -1 when nothing is bootable */
  unsigned attempt;           /* trial boots of this baseline so far, this one included; 0 if good */
  bool floor_raised;          /* floor derived after a corrupt state */
  bool oneshot_refused;       /* a one-shot was asked and refused */
} hpm_bs_selection;

/*
 * Choose the slot to boot and update st accordingly (the caller persists it
 * with hpm_bs_store before handing over):
 *   - a one-shot slot (oneshot >= 0) is tried first, still verified and
 *     floor-checked, whatever its priority and tries;
 *   - then candidates: priority > 0 and (successful or tries > 0), highest
 *     priority first, lower index on ties;
 *   - a candidate that fails check() or whose SVN is below the floor gets its
 *     reason recorded and becomes unbootable (tries 0, not successful);
 *   - a slot whose verified digest differs from the one it recorded holds
 *     a new baseline: no longer marked good, it starts a trial with the
 *     tries it has (set by a slot request) or HPM_BS_DEFAULT_TRIES;
 *   - the chosen slot, if on trial, has one try consumed.
 */
hpm_bs_decision hpm_bs_select(hpm_bootstate *st, int oneshot, const hpm_bs_checker *chk,
                              hpm_bs_selection *out);

#endif
