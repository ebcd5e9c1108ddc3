/* SPDX-License-Identifier: MIT */
/* Boot-state records and slot selection (hpm/bootstate.h, docs/boot-interface.md). */
#include "hpm/bootstate.h"
#include "hpm/bootif.h"

#include "internal.h"

/* Header field offsets. */
#define OFF_MAGIC 0
#define OFF_VERSION 4   /* u16 */
#define OFF_SLOTS 6     /* u16 slot count, HPM_BS_MAX_SLOTS */
#define OFF_SEQUENCE 8  /* u64 */
#define OFF_FLOOR 16    /* u32 */
#define OFF_RESERVED 20 /* u32, 0 */
/* Slot field offsets (within one HPM_BS_SLOT_SIZE entry). */
#define SOFF_PRIORITY 0
#define SOFF_TRIES 1
#define SOFF_SUCCESSFUL 2
#define SOFF_REASON 3
#define SOFF_DETAIL 4
#define SOFF_ATTEMPTS 5
#define SOFF_RESERVED0 6 /* 2 bytes, 0 */
#define SOFF_SVN 8
#define SOFF_DIGEST 12
#define SOFF_RESERVED1 44 /* 4 bytes, 0 */
#define OFF_CRC (HPM_BS_RECORD_SIZE - 4u)

_Static_assert(HPM_BS_RECORD_SIZE == 220, "record size is ABI");
_Static_assert(SOFF_RESERVED1 + 4 == HPM_BS_SLOT_SIZE, "slot layout");

/* Store the low `bytes` bytes of v little-endian. */
static void put_le(uint8_t *p, uint64_t v, unsigned bytes) {
  for (unsigned i = 0; i < bytes; i++) p[i] = (uint8_t)(v >> (8 * i));
}

uint32_t hpm_crc32(const uint8_t *p, size_t n) {
  uint32_t crc = 0xffffffffu;
  for (size_t i = 0; i < n; i++) {
    crc ^= p[i];
    for (unsigned b = 0; b < 8; b++) crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

int hpm_bs_slot_from_letter(char c) {
  if (c >= 'a' && c < (char)('a' + HPM_BS_MAX_SLOTS)) return c - 'a';
  return -1;
}

char hpm_bs_slot_letter(unsigned slot) {
  return slot < HPM_BS_MAX_SLOTS ? (char)('a' + slot) : '?';
}

static const char *const reason_names[] = {"none", "no-container", "read-error",
                                           "verify-failed", "rollback", "tries-exhausted",
                                           "load-failed"};
_Static_assert(HPM_COUNT(reason_names) == HPM_BS_REASON_COUNT_, "a name for every reason");

const char *hpm_bs_reason_to_string(hpm_bs_reason r) {
  return hpm_name(reason_names, HPM_COUNT(reason_names), r, "unknown-reason");
}

static const char *const origin_names[] = {"loaded", "fresh-default", "corrupt-default"};
_Static_assert(HPM_COUNT(origin_names) == HPM_BS_ORIGIN_CORRUPT + 1, "a name for every origin");

const char *hpm_bs_origin_to_string(hpm_bs_origin o) {
  return hpm_name(origin_names, HPM_COUNT(origin_names), o, "unknown-origin");
}

static const char *const result_names[] = {
    "ok", "absent", "I/O error", "wrong size", "bad magic", "unsupported version", "CRC mismatch",
    "field out of range", "unexpected variable attributes", "invalid argument",
};
_Static_assert(HPM_COUNT(result_names) == HPM_BS_RESULT_COUNT_, "a name for every hpm_bs_result");

const char *hpm_bs_result_to_string(hpm_bs_result r) {
  return hpm_name(result_names, HPM_COUNT(result_names), r, "unknown result");
}

static const char *const mark_names[] = {"applied", "already marked", "malformed",
                                         "stale (slot holds another baseline)"};
_Static_assert(HPM_COUNT(mark_names) == HPM_BS_MARK_STALE + 1, "a name for every hpm_bs_mark");

const char *hpm_bs_mark_to_string(hpm_bs_mark m) {
  return hpm_name(mark_names, HPM_COUNT(mark_names), m, "unknown");
}

static const char *const decision_names[] = {
    "one-shot request", "highest-priority slot, marked good", "highest-priority slot, on trial",
    "fallback: a higher-priority slot was refused or used up its tries", "nothing bootable"};
_Static_assert(HPM_COUNT(decision_names) == HPM_BS_NOTHING_BOOTABLE + 1,
               "a name for every hpm_bs_decision");

const char *hpm_bs_decision_to_string(hpm_bs_decision d) {
  return hpm_name(decision_names, HPM_COUNT(decision_names), d, "unknown decision");
}

void hpm_bs_default(hpm_bootstate *st, hpm_bs_origin origin) {
  memset(st, 0, sizeof *st);
  st->origin = origin;
  st->current_copy = -1;
  uint8_t tries = origin == HPM_BS_ORIGIN_FRESH ? HPM_BS_DEFAULT_TRIES : 1;
  st->slots[0].priority = 2;
  st->slots[0].tries = tries;
  st->slots[1].priority = 1;
  st->slots[1].tries = tries;
  st->floor_unknown = origin == HPM_BS_ORIGIN_CORRUPT;
  for (unsigned i = 0; i < HPM_BS_COPIES; i++) st->copy_status[i] = HPM_BS_E_ABSENT;
}

hpm_bs_result hpm_bs_parse(const uint8_t *buf, size_t len, hpm_bootstate *out) {
  if (!buf || !out) return HPM_BS_E_INVALID_ARGUMENT;
  if (len != HPM_BS_RECORD_SIZE) return HPM_BS_E_SIZE;
  if (memcmp(buf + OFF_MAGIC, HPM_BS_MAGIC, 4) != 0) return HPM_BS_E_MAGIC;
  if (hpm_le16(buf + OFF_VERSION) != HPM_BS_RECORD_VERSION) return HPM_BS_E_VERSION;
  /* CRC before any other field: a torn record is reported as such. */
  if (hpm_crc32(buf, OFF_CRC) != hpm_le32(buf + OFF_CRC)) return HPM_BS_E_CRC;
  if (hpm_le16(buf + OFF_SLOTS) != HPM_BS_MAX_SLOTS) return HPM_BS_E_FIELD;
  if (hpm_le32(buf + OFF_RESERVED) != 0) return HPM_BS_E_FIELD;

  hpm_bootstate st;
  memset(&st, 0, sizeof st);
  st.sequence = hpm_le64(buf + OFF_SEQUENCE);
  st.floor = hpm_le32(buf + OFF_FLOOR);
  for (unsigned i = 0; i < HPM_BS_MAX_SLOTS; i++) {
    const uint8_t *s = buf + HPM_BS_HDR_SIZE + i * HPM_BS_SLOT_SIZE;
    hpm_bs_slot *sl = &st.slots[i];
    if (s[SOFF_PRIORITY] > HPM_BS_PRIORITY_MAX || s[SOFF_TRIES] > HPM_BS_TRIES_MAX ||
        s[SOFF_SUCCESSFUL] > 1 || s[SOFF_REASON] >= HPM_BS_REASON_COUNT_ ||
        s[SOFF_DETAIL] >= HPM_RESULT_COUNT_ || !hpm_all_zero(s + SOFF_RESERVED0, 2) ||
        !hpm_all_zero(s + SOFF_RESERVED1, 4))
      return HPM_BS_E_FIELD;
    sl->priority = s[SOFF_PRIORITY];
    sl->tries = s[SOFF_TRIES];
    sl->successful = s[SOFF_SUCCESSFUL] == 1;
    sl->reason = (hpm_bs_reason)s[SOFF_REASON];
    sl->detail = s[SOFF_DETAIL];
    sl->attempts = s[SOFF_ATTEMPTS];
    sl->svn = hpm_le32(s + SOFF_SVN);
    memcpy(sl->digest, s + SOFF_DIGEST, HPM_DIGEST_LEN);
    /* A slot marked good must name the baseline it was marked for. */
    if (sl->successful && hpm_all_zero(sl->digest, HPM_DIGEST_LEN)) return HPM_BS_E_FIELD;
  }
  st.origin = HPM_BS_ORIGIN_LOADED;
  st.current_copy = -1;
  for (unsigned i = 0; i < HPM_BS_COPIES; i++) st.copy_status[i] = HPM_BS_E_ABSENT;
  *out = st;
  return HPM_BS_OK;
}

void hpm_bs_serialize(const hpm_bootstate *st, uint8_t out[HPM_BS_RECORD_SIZE]) {
  memset(out, 0, HPM_BS_RECORD_SIZE);
  memcpy(out + OFF_MAGIC, HPM_BS_MAGIC, 4);
  put_le(out + OFF_VERSION, HPM_BS_RECORD_VERSION, 2);
  put_le(out + OFF_SLOTS, HPM_BS_MAX_SLOTS, 2);
  put_le(out + OFF_SEQUENCE, st->sequence, 8);
  put_le(out + OFF_FLOOR, st->floor, 4);
  for (unsigned i = 0; i < HPM_BS_MAX_SLOTS; i++) {
    uint8_t *s = out + HPM_BS_HDR_SIZE + i * HPM_BS_SLOT_SIZE;
    const hpm_bs_slot *sl = &st->slots[i];
    /* Clamp so a record we write always parses. */
    s[SOFF_PRIORITY] = sl->priority > HPM_BS_PRIORITY_MAX ? HPM_BS_PRIORITY_MAX : sl->priority;
    s[SOFF_TRIES] = sl->tries > HPM_BS_TRIES_MAX ? HPM_BS_TRIES_MAX : sl->tries;
    s[SOFF_SUCCESSFUL] = sl->successful ? 1 : 0;
    s[SOFF_REASON] = (uint8_t)(sl->reason < HPM_BS_REASON_COUNT_ ? sl->reason : HPM_BS_REASON_NONE);
    s[SOFF_DETAIL] = sl->detail < HPM_RESULT_COUNT_ ? sl->detail : 0;
    s[SOFF_ATTEMPTS] = sl->attempts;
    put_le(s + SOFF_SVN, sl->svn, 4);
    memcpy(s + SOFF_DIGEST, sl->digest, HPM_DIGEST_LEN);
  }
  put_le(out + OFF_CRC, hpm_crc32(out, OFF_CRC), 4);
}

bool hpm_bs_same(const hpm_bootstate *a, const hpm_bootstate *b) {
  uint8_t ra[HPM_BS_RECORD_SIZE], rb[HPM_BS_RECORD_SIZE];
  hpm_bootstate ta = *a, tb = *b;
  ta.sequence = tb.sequence = 0;
  hpm_bs_serialize(&ta, ra);
  hpm_bs_serialize(&tb, rb);
  return memcmp(ra, rb, sizeof ra) == 0;
}

static hpm_bs_result read_copy(const hpm_bs_ops *ops, unsigned copy, hpm_bootstate *out) {
  /* One byte more than a record, so an oversized variable is seen as such. */
  uint8_t buf[HPM_BS_RECORD_SIZE + 1];
  size_t len = sizeof buf;
  hpm_bs_result r = ops->read(ops->ctx, copy, buf, &len);
  if (r != HPM_BS_OK) return r;
  if (len > sizeof buf) return HPM_BS_E_SIZE;
  return hpm_bs_parse(buf, len, out);
}

void hpm_bs_load(const hpm_bs_ops *ops, hpm_bootstate *st) {
  hpm_bootstate c[HPM_BS_COPIES];
  hpm_bs_result r[HPM_BS_COPIES];
  int best = -1;
  for (unsigned i = 0; i < HPM_BS_COPIES; i++) {
    r[i] = (ops && ops->read) ? read_copy(ops, i, &c[i]) : HPM_BS_E_INVALID_ARGUMENT;
    if (r[i] == HPM_BS_OK && (best < 0 || c[i].sequence > c[best].sequence)) best = (int)i;
  }
  if (best >= 0) {
    *st = c[best];
    st->current_copy = best;
  } else {
    bool all_absent = true;
    for (unsigned i = 0; i < HPM_BS_COPIES; i++) all_absent = all_absent && r[i] == HPM_BS_E_ABSENT;
    hpm_bs_default(st, all_absent ? HPM_BS_ORIGIN_FRESH : HPM_BS_ORIGIN_CORRUPT);
  }
  for (unsigned i = 0; i < HPM_BS_COPIES; i++) st->copy_status[i] = r[i];
}

hpm_bs_result hpm_bs_store(const hpm_bs_ops *ops, hpm_bootstate *st) {
  if (!ops || !ops->write || !ops->read || !st) return HPM_BS_E_INVALID_ARGUMENT;
  if (st->sequence == UINT64_MAX) return HPM_BS_E_FIELD; /* never wraps in practice */
  /* The copy that does not hold the current state; after a default, the
   * copy after the one that looked newest, so a damaged copy is reused. */
  unsigned target = st->current_copy == 0 ? 1u : 0u;
  hpm_bootstate next = *st;
  next.sequence = st->sequence + 1;
  uint8_t rec[HPM_BS_RECORD_SIZE];
  hpm_bs_serialize(&next, rec);
  hpm_bs_result r = ops->write(ops->ctx, target, rec, sizeof rec);
  if (r != HPM_BS_OK) return r == HPM_BS_E_ABSENT ? HPM_BS_E_IO : r;
  /* Read back: a store only counts once the record is what we meant. */
  uint8_t back[HPM_BS_RECORD_SIZE + 1];
  size_t len = sizeof back;
  r = ops->read(ops->ctx, target, back, &len);
  if (r != HPM_BS_OK) return r == HPM_BS_E_ABSENT ? HPM_BS_E_IO : r;
  if (len != sizeof rec || memcmp(back, rec, sizeof rec) != 0) return HPM_BS_E_IO;
  next.current_copy = (int)target;
  next.origin = HPM_BS_ORIGIN_LOADED;
  next.copy_status[target] = HPM_BS_OK;
  *st = next;
  return HPM_BS_OK;
}

/* ---- requests ---------------------------------------------------------- */

hpm_bs_mark hpm_bs_apply_mark_good(hpm_bootstate *st, const uint8_t *req, size_t len) {
  unsigned slot;
  uint8_t digest[HPM_DIGEST_LEN];
  if (!st || hpm_bootif_parse_identity(req, len, &slot, digest) != HPM_BS_OK)
    return HPM_BS_MARK_MALFORMED;
  hpm_bs_slot *sl = &st->slots[slot];
  if (hpm_all_zero(digest, sizeof digest) || memcmp(sl->digest, digest, sizeof digest) != 0)
    return HPM_BS_MARK_STALE;
  bool floor_ok = st->floor_unknown || st->floor >= sl->svn;
  if (sl->successful && floor_ok) return HPM_BS_MARK_ALREADY;
  sl->successful = true;
  sl->tries = 0;
  sl->attempts = 0;
  sl->reason = HPM_BS_REASON_NONE;
  sl->detail = 0;
  /* Raise, never lower.  An unknown floor (corrupt default) is re-derived
   * by the next selection, which can only raise it further. */
  if (!st->floor_unknown && sl->svn > st->floor) st->floor = sl->svn;
  return HPM_BS_MARK_APPLIED;
}

int hpm_bs_parse_oneshot(const uint8_t *req, size_t len) {
  if (!req) return -1;
  if (len == 2 && req[1] == '\n') len = 1;
  if (len != 1) return -1;
  return hpm_bs_slot_from_letter((char)req[0]);
}

/* ---- selection ----------------------------------------------------------- */

typedef struct {
  bool checked;
  hpm_bs_reason reason;
  uint8_t detail;
  uint32_t svn;
  uint8_t digest[HPM_DIGEST_LEN];
} check_cache;

static hpm_bs_reason run_check(const hpm_bs_checker *chk, check_cache *cache, unsigned slot) {
  check_cache *c = &cache[slot];
  if (!c->checked) {
    c->checked = true;
    c->detail = 0;
    c->svn = 0;
    memset(c->digest, 0, sizeof c->digest);
    c->reason = chk->check(chk->ctx, slot, &c->svn, c->digest, &c->detail);
    if (c->reason >= HPM_BS_REASON_COUNT_) c->reason = HPM_BS_REASON_VERIFY_FAILED;
    /* A "success" without a digest is a checker bug: fail closed. */
    if (c->reason == HPM_BS_REASON_NONE && hpm_all_zero(c->digest, sizeof c->digest)) {
      c->reason = HPM_BS_REASON_VERIFY_FAILED;
      c->detail = HPM_E_INVALID_ARGUMENT;
    }
  }
  return c->reason;
}

static void refuse(hpm_bs_slot *sl, hpm_bs_reason reason, uint8_t detail) {
  sl->reason = reason;
  sl->detail = reason == HPM_BS_REASON_VERIFY_FAILED ? detail : 0;
  sl->tries = 0;
  sl->successful = false;
  sl->attempts = 0;
}

static bool is_candidate(const hpm_bs_slot *sl) {
  return sl->priority > 0 && (sl->successful || sl->tries > 0);
}

/* ---- slot request ---------------------------------------------------------- */

#define ROFF_MAGIC 0
#define ROFF_VERSION 4  /* u16 */
#define ROFF_COUNT 6    /* u8 */
#define ROFF_RESERVED 7 /* u8, 0 */
#define ROFF_SEQUENCE 8 /* u64 */
#define EOFF_OP 0
#define EOFF_SLOT 1
#define EOFF_PRIORITY 2
#define EOFF_TRIES 3
#define EOFF_FLAGS 4
#define EOFF_RESERVED 5 /* 3 bytes, 0 */

_Static_assert(HPM_BS_REQ_MAX_SIZE == 52, "request size is ABI");

static const char *const req_status_names[] = {"applied", "stale",
                                               "refused: it would leave no slot to boot"};
_Static_assert(HPM_COUNT(req_status_names) == HPM_BS_REQ_NO_CANDIDATE + 1,
               "a name for every hpm_bs_req_status");

const char *hpm_bs_req_status_to_string(hpm_bs_req_status s) {
  return hpm_name(req_status_names, HPM_COUNT(req_status_names), s, "unknown");
}

static bool req_entry_valid(const hpm_bs_req_entry *e) {
  if (e->slot >= HPM_BS_MAX_SLOTS || e->tries > HPM_BS_TRIES_MAX ||
      (e->flags & ~HPM_BS_REQ_FLAGS_ALL) != 0)
    return false;
  switch (e->op) {
  case HPM_BS_REQ_OP_SET: return e->priority <= HPM_BS_PRIORITY_MAX;
  case HPM_BS_REQ_OP_ACTIVATE: return e->priority == 0;
  default: return false;
  }
}

hpm_bs_result hpm_bs_parse_request(const uint8_t *buf, size_t len, hpm_bs_request *out) {
  if (!buf || !out) return HPM_BS_E_INVALID_ARGUMENT;
  if (len < HPM_BS_REQ_SIZE(1) || len > HPM_BS_REQ_MAX_SIZE) return HPM_BS_E_SIZE;
  if (memcmp(buf + ROFF_MAGIC, HPM_BS_REQ_MAGIC, 4) != 0) return HPM_BS_E_MAGIC;
  if (hpm_le16(buf + ROFF_VERSION) != HPM_BS_REQ_VERSION) return HPM_BS_E_VERSION;
  unsigned count = buf[ROFF_COUNT];
  if (count < 1 || count > HPM_BS_REQ_MAX_ENTRIES || len != HPM_BS_REQ_SIZE(count))
    return HPM_BS_E_SIZE;
  if (hpm_crc32(buf, len - 4) != hpm_le32(buf + len - 4)) return HPM_BS_E_CRC;
  if (buf[ROFF_RESERVED] != 0) return HPM_BS_E_FIELD;
  hpm_bs_request r;
  memset(&r, 0, sizeof r);
  r.sequence = hpm_le64(buf + ROFF_SEQUENCE);
  r.count = count;
  for (unsigned i = 0; i < count; i++) {
    const uint8_t *e = buf + HPM_BS_REQ_HDR_SIZE + i * HPM_BS_REQ_ENTRY_SIZE;
    hpm_bs_req_entry *x = &r.entries[i];
    x->op = e[EOFF_OP];
    x->slot = e[EOFF_SLOT];
    x->priority = e[EOFF_PRIORITY];
    x->tries = e[EOFF_TRIES];
    x->flags = e[EOFF_FLAGS];
    if (!req_entry_valid(x) || !hpm_all_zero(e + EOFF_RESERVED, 3)) return HPM_BS_E_FIELD;
  }
  *out = r;
  return HPM_BS_OK;
}

size_t hpm_bs_serialize_request(const hpm_bs_request *req, uint8_t out[HPM_BS_REQ_MAX_SIZE]) {
  if (!req || !out || req->count < 1 || req->count > HPM_BS_REQ_MAX_ENTRIES) return 0;
  for (unsigned i = 0; i < req->count; i++)
    if (!req_entry_valid(&req->entries[i])) return 0;
  size_t len = HPM_BS_REQ_SIZE(req->count);
  memset(out, 0, HPM_BS_REQ_MAX_SIZE);
  memcpy(out + ROFF_MAGIC, HPM_BS_REQ_MAGIC, 4);
  put_le(out + ROFF_VERSION, HPM_BS_REQ_VERSION, 2);
  out[ROFF_COUNT] = (uint8_t)req->count;
  put_le(out + ROFF_SEQUENCE, req->sequence, 8);
  for (unsigned i = 0; i < req->count; i++) {
    uint8_t *e = out + HPM_BS_REQ_HDR_SIZE + i * HPM_BS_REQ_ENTRY_SIZE;
    const hpm_bs_req_entry *x = &req->entries[i];
    e[EOFF_OP] = x->op;
    e[EOFF_SLOT] = x->slot;
    e[EOFF_PRIORITY] = x->priority;
    e[EOFF_TRIES] = x->tries;
    e[EOFF_FLAGS] = x->flags;
  }
  put_le(out + len - 4, hpm_crc32(out, len - 4), 4);
  return len;
}

/* ACTIVATE: the slot goes to the top; the other enabled slots keep their
 * order (priority, then lower letter) and are renumbered n..1 below it, so
 * priorities stay small however often the OS switches. */
static void activate(hpm_bootstate *st, unsigned slot) {
  int order[HPM_BS_MAX_SLOTS];
  unsigned n = 0;
  bool taken[HPM_BS_MAX_SLOTS] = {false};
  for (;;) {
    int best = -1;
    for (unsigned i = 0; i < HPM_BS_MAX_SLOTS; i++) {
      if (i == slot || taken[i] || st->slots[i].priority == 0) continue;
      if (best < 0 || st->slots[i].priority > st->slots[best].priority) best = (int)i;
    }
    if (best < 0) break;
    taken[best] = true;
    order[n++] = best;
  }
  for (unsigned k = 0; k < n; k++) st->slots[order[k]].priority = (uint8_t)(n - k);
  st->slots[slot].priority = (uint8_t)(n + 1); /* n <= 3: at most 4 */
}

hpm_bs_req_status hpm_bs_apply_request(hpm_bootstate *st, const hpm_bs_request *req) {
  if (!st || !req || st->origin != HPM_BS_ORIGIN_LOADED || st->floor_unknown ||
      req->sequence != st->sequence)
    return HPM_BS_REQ_STALE;
  hpm_bootstate next = *st;
  for (unsigned i = 0; i < req->count && i < HPM_BS_REQ_MAX_ENTRIES; i++) {
    const hpm_bs_req_entry *e = &req->entries[i];
    if (!req_entry_valid(e)) return HPM_BS_REQ_STALE; /* not from the parser: fail closed */
    hpm_bs_slot *sl = &next.slots[e->slot];
    if (e->op == HPM_BS_REQ_OP_ACTIVATE)
      activate(&next, e->slot);
    else
      sl->priority = e->priority;
    sl->tries = e->tries;
    sl->attempts = 0;
    if (e->flags & HPM_BS_REQ_CLEAR_SUCCESSFUL) sl->successful = false;
    if (e->flags & HPM_BS_REQ_CLEAR_REFUSAL) {
      sl->reason = HPM_BS_REASON_NONE;
      sl->detail = 0;
    }
  }
  bool candidate = false;
  for (unsigned i = 0; i < HPM_BS_MAX_SLOTS; i++) candidate = candidate || is_candidate(&next.slots[i]);
  if (!candidate) return HPM_BS_REQ_NO_CANDIDATE;
  *st = next;
  return HPM_BS_REQ_APPLIED;
}

/* Verify slot and check its SVN; on success update the slot's baseline
 * identity (a new baseline in a slot marked good starts a trial). */
static bool try_slot(hpm_bootstate *st, const hpm_bs_checker *chk, check_cache *cache,
                     unsigned i) {
  hpm_bs_slot *sl = &st->slots[i];
  hpm_bs_reason r = run_check(chk, cache, i);
  if (r != HPM_BS_REASON_NONE) {
    refuse(sl, r, cache[i].detail);
    return false;
  }
  if (cache[i].svn < st->floor) {
    refuse(sl, HPM_BS_REASON_ROLLBACK, 0);
    return false;
  }
  if (memcmp(sl->digest, cache[i].digest, HPM_DIGEST_LEN) != 0) {
    /* Tries the OS set for this slot (slot request) are kept. */
    if (sl->tries == 0) sl->tries = HPM_BS_DEFAULT_TRIES;
    sl->successful = false;
    sl->attempts = 0;
    memcpy(sl->digest, cache[i].digest, HPM_DIGEST_LEN);
  }
  sl->svn = cache[i].svn;
  return true;
}

static void consume_try(hpm_bs_slot *sl, hpm_bs_selection *out) {
  sl->reason = HPM_BS_REASON_NONE;
  sl->detail = 0;
  if (sl->successful) {
    out->attempt = 0;
    return;
  }
  if (sl->tries > 0) sl->tries--;
  if (sl->attempts < 255) sl->attempts++;
  out->attempt = sl->attempts;
}

hpm_bs_decision hpm_bs_select(hpm_bootstate *st, int oneshot, const hpm_bs_checker *chk,
                              hpm_bs_selection *out) {
  hpm_bs_selection sel = {HPM_BS_NOTHING_BOOTABLE, -1, 0, false, false};
  check_cache cache[HPM_BS_MAX_SLOTS];
  memset(cache, 0, sizeof cache);
  if (!st || !chk || !chk->check) {
    if (out) *out = sel;
    return HPM_BS_NOTHING_BOOTABLE;
  }

  /* A slot on trial with no tries left was never marked good. */
  for (unsigned i = 0; i < HPM_BS_MAX_SLOTS; i++) {
    hpm_bs_slot *sl = &st->slots[i];
    if (sl->priority > 0 && !sl->successful && sl->tries == 0 &&
        sl->reason == HPM_BS_REASON_NONE && !hpm_all_zero(sl->digest, HPM_DIGEST_LEN))
      sl->reason = HPM_BS_REASON_TRIES_EXHAUSTED;
  }

  /* Corrupt-state default: the floor becomes the highest SVN among the
   * enabled slots that verify, so the loss of the record cannot roll back. */
  if (st->floor_unknown) {
    uint32_t max = 0;
    for (unsigned i = 0; i < HPM_BS_MAX_SLOTS; i++) {
      if (st->slots[i].priority == 0) continue;
      if (run_check(chk, cache, i) == HPM_BS_REASON_NONE && cache[i].svn > max)
        max = cache[i].svn;
    }
    if (max > st->floor) st->floor = max;
    st->floor_unknown = false;
    sel.floor_raised = true;
  }

  if (oneshot >= 0 && oneshot < (int)HPM_BS_MAX_SLOTS) {
    if (try_slot(st, chk, cache, (unsigned)oneshot)) {
      sel.decision = HPM_BS_BOOT_ONESHOT;
      sel.slot = oneshot;
      consume_try(&st->slots[oneshot], &sel);
      if (out) *out = sel;
      return sel.decision;
    }
    sel.oneshot_refused = true;
  }

  /* Candidates in priority order (lower index on ties); a refused one is
   * no longer a candidate, so the loop ends. */
  for (;;) {
    int best = -1;
    for (unsigned i = 0; i < HPM_BS_MAX_SLOTS; i++) {
      const hpm_bs_slot *sl = &st->slots[i];
      if (!is_candidate(sl)) continue;
      if (best < 0 || sl->priority > st->slots[best].priority) best = (int)i;
    }
    if (best < 0) break;
    if (!try_slot(st, chk, cache, (unsigned)best)) continue;
    hpm_bs_slot *sl = &st->slots[best];
    /* Fallback: an enabled slot that ranks above the chosen one. */
    bool passed_over = false;
    for (unsigned i = 0; i < HPM_BS_MAX_SLOTS; i++) {
      const hpm_bs_slot *o = &st->slots[i];
      if ((int)i != best && o->priority > 0 &&
          (o->priority > sl->priority || (o->priority == sl->priority && (int)i < best)))
        passed_over = true;
    }
    sel.slot = best;
    sel.decision = passed_over      ? HPM_BS_BOOT_FALLBACK
                   : sl->successful ? HPM_BS_BOOT_GOOD
                                    : HPM_BS_BOOT_TRIAL;
    consume_try(sl, &sel);
    break;
  }
  if (out) *out = sel;
  return sel.decision;
}
