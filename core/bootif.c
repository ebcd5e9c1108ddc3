/* SPDX-License-Identifier: MIT */
/* The boot-loader interface's text records: writers beside parsers
 * (hpm/bootif.h, docs/boot-interface.md "Variables"). */
#include "hpm/bootif.h"

#include "internal.h"

/* ---- files on the ESP ------------------------------------------------------ */

static char fold(char c) { return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c; }

bool hpm_bootif_same_file(const char *a, const char *b) {
  if (!a || !b) return false;
  for (; *a && fold(*a) == fold(*b); a++, b++) {
  }
  return fold(*a) == fold(*b);
}

int hpm_bootif_slot_of_file(const char *name) {
  char want[] = "slot-?.hpm";
  for (unsigned i = 0; i < HPM_BS_MAX_SLOTS; i++) {
    want[5] = hpm_bs_slot_letter(i);
    if (hpm_bootif_same_file(name, want)) return (int)i;
  }
  return -1;
}

/* ---- fields --------------------------------------------------------------- */

hpm_bs_result hpm_bootif_parse_u64(const char *s, size_t len, uint64_t max, uint64_t *out) {
  if (!s || !out || len == 0 || len > 20) return HPM_BS_E_FIELD;
  uint64_t v = 0;
  for (size_t i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9') return HPM_BS_E_FIELD;
    unsigned d = (unsigned)(s[i] - '0');
    if (v > (UINT64_MAX - d) / 10) return HPM_BS_E_FIELD;
    v = v * 10 + d;
  }
  if (v > max) return HPM_BS_E_FIELD;
  *out = v;
  return HPM_BS_OK;
}

static int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1; /* lower case only, as published */
}

hpm_bs_result hpm_bootif_parse_digest(const char *s, size_t len, uint8_t out[HPM_DIGEST_LEN]) {
  uint8_t d[HPM_DIGEST_LEN];
  if (!s || !out || len != 2 * HPM_DIGEST_LEN) return HPM_BS_E_FIELD;
  for (unsigned i = 0; i < HPM_DIGEST_LEN; i++) {
    int hi = hex_digit(s[2 * i]), lo = hex_digit(s[2 * i + 1]);
    if (hi < 0 || lo < 0) return HPM_BS_E_FIELD;
    d[i] = (uint8_t)(hi << 4 | lo);
  }
  memcpy(out, d, HPM_DIGEST_LEN);
  return HPM_BS_OK;
}

/* ---- identity ------------------------------------------------------------- */

void hpm_bootif_write_identity(hpm_text *t, unsigned slot, const uint8_t digest[HPM_DIGEST_LEN]) {
  hpm_text_add(t, HPM_CMDLINE_SLOT);
  hpm_text_char(t, hpm_bs_slot_letter(slot));
  hpm_text_char(t, ' ');
  hpm_text_add(t, HPM_CMDLINE_BASELINE);
  hpm_text_hex(t, digest, HPM_DIGEST_LEN);
}

hpm_bs_result hpm_bootif_parse_identity(const uint8_t *text, size_t len, unsigned *slot,
                                        uint8_t digest[HPM_DIGEST_LEN]) {
  static const char k1[] = HPM_CMDLINE_SLOT, k2[] = " " HPM_CMDLINE_BASELINE;
  if (!text || !slot || !digest) return HPM_BS_E_FIELD;
  if (len == HPM_BOOTIF_IDENTITY_LEN + 1 && text[HPM_BOOTIF_IDENTITY_LEN] == '\n') len--;
  if (len != HPM_BOOTIF_IDENTITY_LEN || memcmp(text, k1, sizeof k1 - 1) != 0)
    return HPM_BS_E_FIELD;
  int s = hpm_bs_slot_from_letter((char)text[sizeof k1 - 1]);
  const char *p = (const char *)text + sizeof k1;
  if (s < 0 || memcmp(p, k2, sizeof k2 - 1) != 0) return HPM_BS_E_FIELD;
  p += sizeof k2 - 1;
  if (hpm_bootif_parse_digest(p, 2 * HPM_DIGEST_LEN, digest) != HPM_BS_OK) return HPM_BS_E_FIELD;
  *slot = (unsigned)s;
  return HPM_BS_OK;
}

/* ---- the slot table ---------------------------------------------------------- */

/* The fields of a line, in the order written; the parser needs all of them. */
enum { F_PRIORITY, F_TRIES, F_SUCCESSFUL, F_SVN, F_REASON, F_BASELINE, F_COUNT };
static const char *const field_names[F_COUNT] = {"priority", "tries",  "successful",
                                                 "svn",      "reason", "baseline"};
#define DETAIL_FIELD "detail"

static void add_field(hpm_text *t, const char *name) {
  hpm_text_char(t, ' ');
  hpm_text_add(t, name);
  hpm_text_char(t, '=');
}

void hpm_bootif_write_slots(hpm_text *t, const hpm_bootstate *st) {
  for (unsigned i = 0; i < HPM_BS_MAX_SLOTS; i++) {
    const hpm_bs_slot *s = &st->slots[i];
    const uint64_t num[] = {s->priority, s->tries, s->successful, s->svn};
    hpm_text_char(t, hpm_bs_slot_letter(i));
    for (unsigned f = F_PRIORITY; f <= F_SVN; f++) {
      add_field(t, field_names[f]);
      hpm_text_u64(t, num[f]);
    }
    add_field(t, field_names[F_REASON]);
    hpm_text_add(t, hpm_bs_reason_to_string(s->reason));
    if (s->reason == HPM_BS_REASON_VERIFY_FAILED) {
      /* One word per field: "payload hash mismatch" -> payload-hash-mismatch */
      add_field(t, DETAIL_FIELD);
      for (const char *p = hpm_result_to_string((hpm_result)s->detail); *p; p++)
        hpm_text_char(t, *p == ' ' ? '-' : *p);
    }
    add_field(t, field_names[F_BASELINE]);
    hpm_text_hex(t, s->digest, HPM_DIGEST_LEN);
    hpm_text_char(t, '\n');
  }
}

typedef struct {
  const char *p;
  size_t n;
} span;

/* The next run of characters other than sep in [*pos, end), runs of sep
 * skipped (as strtok does); false when none is left. */
static bool next_piece(const char **pos, const char *end, char sep, span *out) {
  const char *p = *pos;
  while (p < end && *p == sep) p++;
  const char *q = p;
  while (q < end && *q != sep) q++;
  *pos = q;
  out->p = p;
  out->n = (size_t)(q - p);
  return q != p;
}

/* The first c in s, or NULL. */
static const char *find_char(span s, char c) {
  for (size_t i = 0; i < s.n; i++)
    if (s.p[i] == c) return s.p + i;
  return NULL;
}

static bool span_is(span s, const char *word) {
  return hpm_strnlen(word, s.n + 1) == s.n && memcmp(s.p, word, s.n) == 0;
}

/* The detail word of hpm_result r: its text with '-' for ' '. */
static bool is_detail_word(span w, unsigned r) {
  const char *t = hpm_result_to_string((hpm_result)r);
  if (hpm_strnlen(t, w.n + 1) != w.n) return false;
  for (size_t i = 0; i < w.n; i++)
    if (w.p[i] != (t[i] == ' ' ? '-' : t[i])) return false;
  return true;
}

static void copy_word(char *out, size_t cap, span w) {
  hpm_text t = hpm_text_start(out, cap);
  for (size_t i = 0; i < w.n; i++) hpm_text_char(&t, w.p[i]);
}

/* why: "HpmBootSlots: " + a + b + c (each may be NULL). */
static hpm_bs_result refuse(char *why, size_t cap, const char *a, const char *b, const char *c) {
  if (why && cap) {
    hpm_text t = hpm_text_start(why, cap);
    hpm_text_add(&t, HPM_VAR_BOOT_SLOTS ": ");
    hpm_text_add(&t, a);
    hpm_text_add(&t, b);
    hpm_text_add(&t, c);
  }
  return HPM_BS_E_FIELD;
}

/* One field's value into s; false when out of range. */
static bool parse_field(unsigned f, span v, hpm_bs_slot *s) {
  static const uint64_t max[] = {HPM_BS_PRIORITY_MAX, HPM_BS_TRIES_MAX, 1, UINT32_MAX};
  uint64_t n = 0;
  switch (f) {
    case F_REASON:
      for (unsigned r = 0; r < HPM_BS_REASON_COUNT_; r++)
        if (span_is(v, hpm_bs_reason_to_string((hpm_bs_reason)r))) {
          s->reason = (hpm_bs_reason)r;
          return true;
        }
      return false;
    case F_BASELINE:
      return hpm_bootif_parse_digest(v.p, v.n, s->digest) == HPM_BS_OK;
    default:
      if (hpm_bootif_parse_u64(v.p, v.n, max[f], &n) != HPM_BS_OK) return false;
      if (f == F_PRIORITY) s->priority = (uint8_t)n;
      else if (f == F_TRIES) s->tries = (uint8_t)n;
      else if (f == F_SUCCESSFUL) s->successful = n == 1;
      else s->svn = (uint32_t)n;
      return true;
  }
}

/* One line: its slot's fields into slots[] and detail[]; *seen gains it. */
static hpm_bs_result parse_line(span line, hpm_bs_slot *slots,
                                char detail[][HPM_BOOTIF_DETAIL_MAX], unsigned *seen, char *why,
                                size_t cap) {
  const char *pos = line.p, *end = line.p + line.n;
  char word[48], letter[2] = {0, 0};
  span tok = {pos, 0};
  bool any = next_piece(&pos, end, ' ', &tok);
  int i = any && tok.n == 1 ? hpm_bs_slot_from_letter(tok.p[0]) : -1;
  if (i < 0 || (*seen & (1u << i))) {
    copy_word(word, sizeof word, any ? tok : (span){"", 0});
    return refuse(why, cap, "bad or repeated slot '", word, "'");
  }
  *seen |= 1u << i;
  letter[0] = tok.p[0];
  hpm_bs_slot *s = &slots[i];
  unsigned have = 0;
  detail[i][0] = '\0';
  s->detail = 0;
  while (next_piece(&pos, end, ' ', &tok)) {
    const char *eq = find_char(tok, '=');
    if (!eq) continue;
    span k = {tok.p, (size_t)(eq - tok.p)}, v = {eq + 1, tok.n - k.n - 1};
    if (span_is(k, DETAIL_FIELD)) {
      copy_word(detail[i], HPM_BOOTIF_DETAIL_MAX, v);
      s->detail = 0;
      for (unsigned r = 0; r < HPM_RESULT_COUNT_; r++)
        if (is_detail_word(v, r)) s->detail = (uint8_t)r;
      continue;
    }
    for (unsigned f = 0; f < F_COUNT; f++) {
      if (!span_is(k, field_names[f])) continue;
      if (!parse_field(f, v, s)) {
        char bad[sizeof word + 32];
        hpm_text t = hpm_text_start(bad, sizeof bad);
        hpm_text_add(&t, ": bad ");
        hpm_text_add(&t, field_names[f]);
        hpm_text_add(&t, " '");
        copy_word(word, sizeof word, v);
        hpm_text_add(&t, word);
        hpm_text_char(&t, '\'');
        return refuse(why, cap, "slot ", letter, bad);
      }
      have |= 1u << f;
    }
  }
  if (have != (1u << F_COUNT) - 1) return refuse(why, cap, "slot ", letter, ": a field is missing");
  if (s->successful && hpm_all_zero(s->digest, HPM_DIGEST_LEN))
    return refuse(why, cap, "slot ", letter, ": marked good without a baseline");
  return HPM_BS_OK;
}

hpm_bs_result hpm_bootif_parse_slots(const char *text, size_t len, hpm_bootstate *st,
                                     char detail[][HPM_BOOTIF_DETAIL_MAX], char *why,
                                     size_t why_cap) {
  if (!text || !st) return HPM_BS_E_INVALID_ARGUMENT;
  if (find_char((span){text, len}, '\0'))
    return refuse(why, why_cap, "holds a NUL byte", NULL, NULL);
  hpm_bs_slot slots[HPM_BS_MAX_SLOTS];
  char words[HPM_BS_MAX_SLOTS][HPM_BOOTIF_DETAIL_MAX];
  memcpy(slots, st->slots, sizeof slots);
  unsigned seen = 0;
  const char *pos = text, *end = text + len;
  span line;
  while (next_piece(&pos, end, '\n', &line)) {
    hpm_bs_result r = parse_line(line, slots, words, &seen, why, why_cap);
    if (r != HPM_BS_OK) return r;
  }
  if (seen != (1u << HPM_BS_MAX_SLOTS) - 1)
    return refuse(why, why_cap, "not every slot a-d is listed", NULL, NULL);
  memcpy(st->slots, slots, sizeof slots);
  if (detail) memcpy(detail, words, sizeof words);
  return HPM_BS_OK;
}
