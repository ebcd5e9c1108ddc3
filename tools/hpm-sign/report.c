/* SPDX-License-Identifier: MIT */
/* hpm-sign: results as exit codes, identifiers and sentences, and the
 * pieces verify, inspect and catalog print alike. */
#include <stdlib.h>
#include <string.h>

#include "explain.h"
#include "hpm-sign.h"

/* ---- results ----------------------------------------------------------- */

int exit_for(hpm_result r) {
  switch (r) {
    case HPM_OK: return EXIT_VALID;
    case HPM_E_INVALID_ARGUMENT:
    case HPM_E_OUT_OF_MEMORY:
    case HPM_E_IO:
    case HPM_E_CRYPTO:
    case HPM_E_BAD_KEY: return EXIT_IOERR;
    default: return EXIT_REFUSED;
  }
}

/* The HPM_E_* names of docs/format.md, lower-cased (docs/hpm-sign.md). */
static const char *const result_ids[HPM_RESULT_COUNT_] = {
    [HPM_OK] = "ok", [HPM_E_INVALID_ARGUMENT] = "invalid_argument",
    [HPM_E_OUT_OF_MEMORY] = "out_of_memory", [HPM_E_IO] = "io", [HPM_E_TRUNCATED] = "truncated",
    [HPM_E_BAD_MAGIC] = "bad_magic", [HPM_E_UNSUPPORTED_VERSION] = "unsupported_version",
    [HPM_E_BAD_HEADER] = "bad_header", [HPM_E_TOO_LARGE] = "too_large",
    [HPM_E_TRAILING_DATA] = "trailing_data", [HPM_E_WRONG_KIND] = "wrong_kind",
    [HPM_E_BAD_SIGNATURE_BLOCK] = "bad_signature_block", [HPM_E_NO_SIGNATURE] = "no_signature",
    [HPM_E_UNTRUSTED_KEY] = "untrusted_key", [HPM_E_SIGNATURE_INVALID] = "signature_invalid",
    [HPM_E_THRESHOLD_NOT_MET] = "threshold_not_met", [HPM_E_BAD_MANIFEST] = "bad_manifest",
    [HPM_E_BAD_FIELD] = "bad_field", [HPM_E_UNKNOWN_CRITICAL] = "unknown_critical",
    [HPM_E_DUPLICATE] = "duplicate", [HPM_E_BAD_NAME] = "bad_name",
    [HPM_E_PAYLOAD_MISSING] = "payload_missing", [HPM_E_PAYLOAD_SIZE] = "payload_size",
    [HPM_E_PAYLOAD_HASH] = "payload_hash", [HPM_E_CRYPTO] = "crypto", [HPM_E_BAD_KEY] = "bad_key",
    [HPM_E_EXPIRED] = "expired",
};

const char *result_id(hpm_result r) {
  return (unsigned)r < HPM_RESULT_COUNT_ && result_ids[r] ? result_ids[r] : "unknown";
}

/* A signature entry's status: identifier for JSON, text for people. */
static const struct {
  const char *id, *text;
} sig_words[] = {
    [HPM_SIG_NOT_CHECKED] = {"not_checked", "not checked"},
    [HPM_SIG_VALID] = {"valid", "valid"},
    [HPM_SIG_UNKNOWN_KEY] = {"unknown_key", "unknown key (not in the trust set; ignored)"},
    [HPM_SIG_INVALID] = {"invalid", "INVALID (does not verify)"},
    [HPM_SIG_DUPLICATE] = {"duplicate", "duplicate signer (counted once)"},
};

static bool sig_known(hpm_sig_status s) {
  return (unsigned)s < sizeof sig_words / sizeof sig_words[0] && sig_words[s].id;
}
/* Stable identifier for JSON ("valid", "unknown_key", ...). */
static const char *sig_status_id(hpm_sig_status s) { return sig_known(s) ? sig_words[s].id : "unknown"; }
const char *sig_status_text(hpm_sig_status s) { return sig_known(s) ? sig_words[s].text : "unknown"; }

/* ---- the raw header ---------------------------------------------------- */

static uint32_t le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

raw_header read_header(const uint8_t *buf, size_t len) {
  raw_header h;
  memset(&h, 0, sizeof h);
  if (len < HPM_HEADER_SIZE || memcmp(buf, HPM_MAGIC, HPM_MAGIC_LEN) != 0) return h;
  h.ok = true;
  h.format_version = le32(buf + HPM_HDR_OFF_FORMAT);
  h.kind = le32(buf + HPM_HDR_OFF_KIND);
  h.header_size = le32(buf + HPM_HDR_OFF_HEADER_SIZE);
  h.flags = le32(buf + HPM_HDR_OFF_FLAGS);
  h.manifest_size = le32(buf + HPM_HDR_OFF_MANIFEST_SIZE);
  h.payload_area_size = (uint64_t)le32(buf + HPM_HDR_OFF_PAYLOAD_SIZE) |
                        (uint64_t)le32(buf + HPM_HDR_OFF_PAYLOAD_SIZE + 4) << 32;
  return h;
}

hpm_kind header_kind(const uint8_t *buf, size_t len) {
  raw_header h = read_header(buf, len);
  if (!h.ok || h.kind < HPM_KIND_BASELINE || h.kind > HPM_KIND_CATALOG) return HPM_KIND_NONE;
  return (hpm_kind)h.kind;
}

/* ---- sentences --------------------------------------------------------- */

void explain(const hpm_manifest *m, hpm_result r, const hpm_diag *d, const hpmh_loader *ld,
             unsigned threshold, char *out, size_t cap) {
  char th[32];
  snprintf(th, sizeof th, "(--threshold %u)", threshold);
  const hpmh_explain_words w = {"the trust set (--trust)", "pass that key's public key with --trust if it is a release key",
                                th};
  hpmh_explain(m, r, d, ld, &w, out, cap);
}

/* ---- checks ------------------------------------------------------------ */

void not_a_container(const char *cmd, const char *label, const char *file, hpm_result r, const hpm_diag *d) {
  char why[WHY_MAX];
  explain(NULL, r, d, NULL, 0, why, sizeof why);
  msg(cmd, "%s%s: not a valid container: %s", label, file, why);
}

int self_check(const char *cmd, const uint8_t *buf, size_t len, hpm_kind kind,
               const hpm_trust *trust, const hpm_ops *ops) {
  hpm_manifest *m = calloc(1, sizeof *m);
  hpm_diag d;
  hpm_result r;
  if (!m) return out_of_memory(cmd);
  r = hpm_container_verify(buf, len, kind, trust, ops, m, &d);
  free(m);
  if (r != HPM_OK) {
    msg(cmd, "internal error: the container just built does not verify (%s: %s: %s); nothing "
             "was written; please report this", d.field, d.detail, hpm_result_to_string(r));
    return EXIT_IOERR;
  }
  return 0;
}

static void copy_sigs(hpm_manifest *m, const hpm_catalog *c) {
  m->signature_count = c->signature_count;
  memcpy(m->signatures, c->signatures, sizeof m->signatures);
  m->trusted_signers = c->trusted_signers;
  memcpy(m->digest, c->digest, HPM_DIGEST_LEN);
  m->kind = HPM_KIND_CATALOG;
}

/* hpm_container_parse_unverified, or for a catalog hpm_catalog_parse_unverified
 * with its container fields (kind, digest, signatures) copied into m. */
static hpm_result parse_any_unverified(const uint8_t *buf, size_t len, hpm_manifest *m, hpm_diag *d) {
  hpm_catalog c;
  hpm_result r = hpm_container_parse_unverified(buf, len, m, d);
  if (r != HPM_E_WRONG_KIND || m->kind != HPM_KIND_CATALOG) return r;
  r = hpm_catalog_parse_unverified(buf, len, &c, d);
  copy_sigs(m, &c);
  hpm_catalog_free(&c);
  return r;
}

hpm_result verify_any(const uint8_t *buf, size_t len, hpm_kind kind, const hpm_trust *trust,
                      const hpm_ops *ops, hpm_manifest *m, hpm_diag *d) {
  hpm_catalog c;
  hpm_result r;
  if (kind != HPM_KIND_CATALOG) return hpm_container_verify(buf, len, kind, trust, ops, m, d);
  /* Signatures and schema only: expiry is the host's business. */
  r = hpm_catalog_verify(buf, len, trust, 0, &c, d);
  memset(m, 0, sizeof *m);
  copy_sigs(m, &c);
  hpm_catalog_free(&c);
  return r;
}

int load_parsed(const char *cmd, const char *file, uint8_t **buf, size_t *len, hpm_manifest *m,
                size_t *tbs_len) {
  hpm_diag d;
  size_t sig_off;
  int rc = read_container(cmd, file, buf, len);
  hpm_result r = rc ? HPM_OK : parse_any_unverified(*buf, *len, m, &d);
  if (!rc && r == HPM_OK) r = hpm_container_layout(*buf, *len, tbs_len, &sig_off, &d);
  if (r == HPM_OK) return rc;
  not_a_container(cmd, "", file, r, &d);
  return exit_for(r);
}

/* ---- printed alike ----------------------------------------------------- */

void print_signatures(const hpm_signature_info *s, size_t n) {
  char hex[HEX_DIGEST];
  for (size_t i = 0; i < n && i < HPM_MAX_SIGNATURES; i++)
    printf("signature %zu: %s key %s: %s\n", i, hpm_alg_to_string(s[i].alg), hex32(s[i].key_id, hex),
           sig_status_text(s[i].status));
}

void json_signatures(cJSON *obj, const hpm_signature_info *s, size_t n) {
  cJSON *arr = hpmh_json_add(obj, "signatures", cJSON_CreateArray());
  for (size_t i = 0; i < n && i < HPM_MAX_SIGNATURES; i++) {
    cJSON *o = hpmh_json_add(arr, NULL, cJSON_CreateObject());
    hpmh_json_add_u64(o, "index", i);
    hpmh_json_add_str(o, "alg", hpm_alg_to_string(s[i].alg));
    hpmh_json_add_hex(o, "key_id", s[i].key_id, HPM_DIGEST_LEN);
    hpmh_json_add_str(o, "status", sig_status_id(s[i].status));
  }
}

void json_result(cJSON *obj, hpm_result r, const char *ok_message, const char *why,
                 const hpm_diag *d) {
  bool ok = r == HPM_OK;
  hpmh_json_add_str(obj, "result", result_id(r));
  hpmh_json_add_str(obj, "message", ok ? ok_message : why);
  hpmh_json_add_str(obj, "field", ok || !d->field[0] ? NULL : d->field);
  hpmh_json_add_str(obj, "detail", ok || !d->detail[0] ? NULL : d->detail);
}

void json_time(cJSON *obj, const char *key, uint64_t ts) {
  char k[48], buf[HPMH_UTC_LEN];
  hpmh_json_add_u64(obj, key, ts);
  snprintf(k, sizeof k, "%s_utc", key);
  hpmh_json_add_str(obj, k, hpmh_utc(ts, buf));
}
