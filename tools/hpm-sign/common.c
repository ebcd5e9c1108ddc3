/* SPDX-License-Identifier: MIT */
/* hpm-sign: helpers shared by the subcommands. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "hpm-sign.h"

/* ---- messages ---------------------------------------------------------- */

static void vmsg(const char *cmd, const char *fmt, va_list ap) {
  fprintf(stderr, "hpm-sign%s%s: ", cmd ? " " : "", cmd ? cmd : "");
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
}

void msg(const char *cmd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vmsg(cmd, fmt, ap);
  va_end(ap);
}

int usage_error(const char *cmd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vmsg(cmd, fmt, ap);
  va_end(ap);
  if (cmd)
    fprintf(stderr, "Try 'hpm-sign %s --help'.\n", cmd);
  else
    fprintf(stderr, "Try 'hpm-sign --help'.\n");
  return EXIT_USAGE;
}

int bad_option(const char *cmd, int c, char **argv) {
  const char *arg = optind > 0 && argv[optind - 1] ? argv[optind - 1] : "";
  if (c == ':') return usage_error(cmd, "option %s needs a value", arg);
  if (strncmp(arg, "--", 2) == 0) {
    if (strchr(arg, '='))
      return usage_error(cmd, "%s: unknown option, or an option that takes no value", arg);
    return usage_error(cmd, "unknown option %s", arg);
  }
  if (optopt > 0x20 && optopt < 0x7f) return usage_error(cmd, "unknown option -%c", optopt);
  return usage_error(cmd, "unknown option %s", arg);
}

int twice(const char *cmd, const char *opt) {
  return usage_error(cmd, "%s given twice; give it once", opt);
}

void getopt_reset(void) {
  optind = 0; /* glibc: full re-initialisation */
  opterr = 0;
  optopt = 0;
}

/* ---- values ------------------------------------------------------------ */

bool parse_u64(const char *s, uint64_t *out) {
  uint64_t v = 0;
  if (!s || !*s) return false;
  for (const char *p = s; *p; p++) {
    unsigned d;
    if (*p < '0' || *p > '9') return false;
    d = (unsigned)(*p - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

bool parse_u32(const char *s, uint32_t *out) {
  uint64_t v;
  if (!parse_u64(s, &v) || v > UINT32_MAX) return false;
  *out = (uint32_t)v;
  return true;
}

const char *check_printable(const char *s, size_t max) {
  size_t n = strlen(s);
  if (n == 0) return "must not be empty";
  if (n > max) return max == HPM_VERSION_MAX ? "is longer than 63 characters"
                                             : "is longer than 127 characters";
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == ' ') return "must not contain spaces";
    if (c < 0x21 || c > 0x7e) return "must be printable ASCII (no spaces or control characters)";
  }
  return NULL;
}

const char *check_id(const char *s) {
  size_t n = strlen(s);
  if (n == 0) return "must not be empty";
  if (n > HPM_ID_MAX) return "is longer than 63 characters";
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
          c == '.' || c == '_' || c == '-'))
      return "may contain only A-Z a-z 0-9 . _ - (e.g. KB5031234)";
  }
  return NULL;
}

const char *check_node_name(const char *s) {
  size_t n = strlen(s);
  if (n == 0) return "must not be empty";
  if (n > HPM_NAME_MAX) return "is longer than 31 characters";
  if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
    return "must start with a-z or 0-9";
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
      return "may contain only a-z 0-9 . _ -";
  }
  return NULL;
}

const char *check_file_name(const char *s) {
  size_t n = strlen(s);
  if (n == 0) return "must not be empty";
  if (n > HPM_FILE_MAX) return "is longer than 63 characters";
  if (s[0] == '.') return "must not start with a dot";
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
          c == '.' || c == '_' || c == '-'))
      return "may contain only A-Z a-z 0-9 . _ -";
  }
  return NULL;
}

int release_timestamp(const char *cmd, const char *opt, uint64_t *ts) {
  const char *env;
  if (opt) {
    if (!parse_u64(opt, ts))
      return usage_error(cmd, "--timestamp '%s': expected seconds since 1970-01-01 UTC as an unsigned decimal number", opt);
    return 0;
  }
  env = getenv("SOURCE_DATE_EPOCH");
  if (env) {
    if (!parse_u64(env, ts))
      return usage_error(cmd, "SOURCE_DATE_EPOCH='%s' is malformed: expected seconds since 1970-01-01 UTC as an unsigned decimal number (unset it or fix it)", env);
    return 0;
  }
  time_t now = time(NULL);
  if (now < 0) {
    msg(cmd, "cannot read the clock; pass --timestamp");
    return EXIT_IOERR;
  }
  *ts = (uint64_t)now;
  msg(cmd, "note: no --timestamp and no SOURCE_DATE_EPOCH: using the current time %llu; the output is not reproducible",
      (unsigned long long)*ts);
  return 0;
}

const char *utc_string(uint64_t ts, char buf[32]) {
  struct tm tm;
  time_t t;
  buf[0] = '\0';
  /* Years beyond 9999 do not fit the format. */
  if (ts > 253402300799ull) return buf;
  t = (time_t)ts;
  if (!gmtime_r(&t, &tm)) return buf;
  strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

const char *hex32(const uint8_t d[HPM_DIGEST_LEN], char out[HEX_DIGEST]) {
  hpm_fmt_hex(d, HPM_DIGEST_LEN, out, HEX_DIGEST);
  return out;
}

/* ---- keys and trust ---------------------------------------------------- */

static int check_readable(const char *cmd, const char *path, const char *what) {
  struct stat st;
  if (stat(path, &st) != 0) {
    msg(cmd, "%s: cannot read the %s: %s", path, what, strerror(errno));
    return EXIT_IOERR;
  }
  if (!S_ISREG(st.st_mode)) {
    msg(cmd, "%s: the %s is not a regular file", path, what);
    return EXIT_IOERR;
  }
  return 0;
}

int load_private_key(const char *cmd, const char *path, mbedtls_pk_context *pk, hpm_pubkey *pub) {
  hpmh_status e;
  int rc = check_readable(cmd, path, "private key");
  if (rc) return rc;
  if (hpmw_load_private(path, pk, &e) || hpmh_public_of(pk, pub, &e)) {
    msg(cmd, "%s; --key needs an unencrypted PEM or DER EC private key on P-256 or P-384 "
             "(hpm-sign keygen makes one)", e.detail);
    return EXIT_IOERR;
  }
  return 0;
}

int load_public_key(const char *cmd, const char *path, hpm_pubkey *pub) {
  hpmh_status e;
  int rc = check_readable(cmd, path, "public key");
  if (rc) return rc;
  if (hpmh_load_public(path, pub, &e)) {
    msg(cmd, "%s; expected a PEM or DER SubjectPublicKeyInfo of a P-256 or P-384 key "
             "(e.g. the .pub file written by hpm-sign keygen)", e.detail);
    return EXIT_IOERR;
  }
  return 0;
}

int trust_find(const trust_set *t, const uint8_t key_id[HPM_DIGEST_LEN]) {
  for (size_t i = 0; i < t->count; i++)
    if (memcmp(t->keys[i].key_id, key_id, HPM_DIGEST_LEN) == 0) return (int)i;
  return -1;
}

int trust_add(const char *cmd, trust_set *t, const char *path) {
  hpm_pubkey k;
  int rc, dup;
  if (t->count == HPM_MAX_SIGNATURES)
    return usage_error(cmd, "at most %u --trust keys", HPM_MAX_SIGNATURES);
  rc = load_public_key(cmd, path, &k);
  if (rc) return rc;
  dup = trust_find(t, k.key_id);
  if (dup >= 0) {
    msg(cmd, "note: --trust %s is the same key as --trust %s; it counts once", path, t->paths[dup]);
    return 0;
  }
  t->keys[t->count] = k;
  t->paths[t->count] = path;
  t->count++;
  return 0;
}

/* ---- files ------------------------------------------------------------- */

int read_container(const char *cmd, const char *path, uint8_t **buf, size_t *len) {
  hpmh_status e;
  if (hpmh_read_file(path, CONTAINER_MAX, buf, len, &e)) {
    msg(cmd, "%s", e.detail);
    return EXIT_IOERR;
  }
  return 0;
}

int read_input(const char *cmd, const char *what, const char *path, uint8_t **buf, size_t *len) {
  hpmh_status e;
  if (hpmh_read_file(path, HPM_PAYLOAD_MAX, buf, len, &e)) {
    msg(cmd, "%s: %s", what, e.detail);
    return EXIT_IOERR;
  }
  if (*len == 0) {
    free(*buf);
    *buf = NULL;
    return usage_error(cmd, "%s %s: the file is empty", what, path);
  }
  return 0;
}

int write_output(const char *cmd, const char *path, const uint8_t *data, size_t len,
                 unsigned mode, int exclusive) {
  hpmh_status e;
  if (hpmh_write_file(path, data, len, mode, exclusive, &e)) {
    msg(cmd, "cannot write %s; nothing was written there", e.detail);
    return EXIT_IOERR;
  }
  return 0;
}

bool same_file(const char *a, const char *b) {
  struct stat sa, sb;
  if (!a || !b || stat(a, &sa) != 0 || stat(b, &sb) != 0) return false;
  return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

void dir_of(const char *path, char *out, size_t cap) {
  const char *slash = strrchr(path, '/');
  if (!slash) {
    snprintf(out, cap, ".");
  } else if (slash == path) {
    snprintf(out, cap, "/");
  } else {
    snprintf(out, cap, "%.*s", (int)(slash - path), path);
  }
}

/* ---- detached payload loaders ------------------------------------------ */

static hpm_result loader_load(void *ctx, const char *file, uint64_t expected_size,
                              const uint8_t **data, size_t *len) {
  file_loader *ld = ctx;
  hpmh_status e;
  uint8_t *b = NULL;
  size_t n = 0;
  (void)expected_size; /* core compares the size and reports a mismatch */
  snprintf(ld->last_path, sizeof ld->last_path, "%s/%s", ld->dir, file);
  ld->last_error[0] = '\0';
  if (ld->nbufs == HPM_MAX_PAYLOADS) {
    snprintf(ld->last_error, sizeof ld->last_error, "too many detached payloads");
    return HPM_E_IO;
  }
  if (hpmh_read_file(ld->last_path, HPM_PAYLOAD_MAX, &b, &n, &e)) {
    snprintf(ld->last_error, sizeof ld->last_error, "%s", e.detail);
    return HPM_E_IO;
  }
  ld->bufs[ld->nbufs++] = b;
  *data = b;
  *len = n;
  return HPM_OK;
}

void loader_init(file_loader *ld, const char *container_path) {
  memset(ld, 0, sizeof *ld);
  dir_of(container_path, ld->dir, sizeof ld->dir);
}

hpm_ops loader_ops(file_loader *ld) {
  hpm_ops ops = {.ctx = ld, .load = loader_load};
  return ops;
}

void loader_free(file_loader *ld) {
  for (size_t i = 0; i < ld->nbufs; i++) free(ld->bufs[i]);
  ld->nbufs = 0;
}

static hpm_result mem_load(void *ctx, const char *file, uint64_t expected_size,
                           const uint8_t **data, size_t *len) {
  mem_loader *ml = ctx;
  (void)expected_size;
  for (size_t i = 0; i < ml->count; i++)
    if (ml->payloads[i].file && strcmp(ml->payloads[i].file, file) == 0) {
      *data = ml->payloads[i].data;
      *len = ml->payloads[i].size;
      return HPM_OK;
    }
  return HPM_E_IO;
}

hpm_ops mem_ops(mem_loader *ml) {
  hpm_ops ops = {.ctx = ml, .load = mem_load};
  return ops;
}

/* ---- verification ------------------------------------------------------ */

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

const char *result_id(hpm_result r) {
  switch (r) {
    case HPM_OK: return "ok";
    case HPM_E_INVALID_ARGUMENT: return "invalid_argument";
    case HPM_E_OUT_OF_MEMORY: return "out_of_memory";
    case HPM_E_IO: return "io";
    case HPM_E_TRUNCATED: return "truncated";
    case HPM_E_BAD_MAGIC: return "bad_magic";
    case HPM_E_UNSUPPORTED_VERSION: return "unsupported_version";
    case HPM_E_BAD_HEADER: return "bad_header";
    case HPM_E_TOO_LARGE: return "too_large";
    case HPM_E_TRAILING_DATA: return "trailing_data";
    case HPM_E_WRONG_KIND: return "wrong_kind";
    case HPM_E_BAD_SIGNATURE_BLOCK: return "bad_signature_block";
    case HPM_E_NO_SIGNATURE: return "no_signature";
    case HPM_E_UNTRUSTED_KEY: return "untrusted_key";
    case HPM_E_SIGNATURE_INVALID: return "signature_invalid";
    case HPM_E_THRESHOLD_NOT_MET: return "threshold_not_met";
    case HPM_E_BAD_MANIFEST: return "bad_manifest";
    case HPM_E_BAD_FIELD: return "bad_field";
    case HPM_E_UNKNOWN_CRITICAL: return "unknown_critical";
    case HPM_E_DUPLICATE: return "duplicate";
    case HPM_E_BAD_NAME: return "bad_name";
    case HPM_E_PAYLOAD_MISSING: return "payload_missing";
    case HPM_E_PAYLOAD_SIZE: return "payload_size";
    case HPM_E_PAYLOAD_HASH: return "payload_hash";
    case HPM_E_CRYPTO: return "crypto";
    case HPM_E_BAD_KEY: return "bad_key";
    case HPM_E_EXPIRED: return "expired";
    case HPM_RESULT_COUNT_: break;
  }
  return "unknown";
}

const char *sig_status_id(hpm_sig_status s) {
  switch (s) {
    case HPM_SIG_NOT_CHECKED: return "not_checked";
    case HPM_SIG_VALID: return "valid";
    case HPM_SIG_UNKNOWN_KEY: return "unknown_key";
    case HPM_SIG_INVALID: return "invalid";
    case HPM_SIG_DUPLICATE: return "duplicate";
  }
  return "unknown";
}

hpm_kind header_kind(const uint8_t *buf, size_t len) {
  uint32_t k;
  if (len < HPM_HEADER_SIZE || memcmp(buf, HPM_MAGIC, HPM_MAGIC_LEN) != 0) return HPM_KIND_NONE;
  k = (uint32_t)buf[HPM_HDR_OFF_KIND] | (uint32_t)buf[HPM_HDR_OFF_KIND + 1] << 8 |
      (uint32_t)buf[HPM_HDR_OFF_KIND + 2] << 16 | (uint32_t)buf[HPM_HDR_OFF_KIND + 3] << 24;
  if (k < HPM_KIND_BASELINE || k > HPM_KIND_CATALOG) return HPM_KIND_NONE;
  return (hpm_kind)k;
}

static const hpm_payload *payload_of_field(const hpm_manifest *m, const char *field) {
  const char *prefix = "payloads/";
  size_t pl = strlen(prefix);
  if (!m || strncmp(field, prefix, pl) != 0) return NULL;
  for (size_t i = 0; i < m->payload_count && i < HPM_MAX_PAYLOADS; i++)
    if (strcmp(m->payloads[i].name, field + pl) == 0) return &m->payloads[i];
  return NULL;
}

void explain(const hpm_manifest *m, hpm_result r, const hpm_diag *d, const file_loader *ld,
             const trust_set *t, unsigned threshold, char *out, size_t cap) {
  char where[200] = "";
  const hpm_payload *p = payload_of_field(m, d->field);
  (void)t;
  if (d->field[0]) snprintf(where, sizeof where, "%s: ", d->field);

  switch (r) {
    case HPM_E_UNTRUSTED_KEY: {
      size_t pos = 0;
      char hex[HEX_DIGEST];
      if (m && m->signature_count == 1) {
        snprintf(out, cap, "signed by key %s which is not in the trust set (--trust); pass that "
                 "key's public key with --trust if it is a release key",
                 hex32(m->signatures[0].key_id, hex));
        return;
      }
      pos += (size_t)snprintf(out + pos, cap - pos, "signed only by keys that are not in the trust set (--trust):");
      for (size_t i = 0; m && i < m->signature_count && pos < cap; i++)
        pos += (size_t)snprintf(out + pos, cap - pos, "%s %s", i ? "," : "",
                                hex32(m->signatures[i].key_id, hex));
      return;
    }
    case HPM_E_SIGNATURE_INVALID:
      snprintf(out, cap, "%s%s (signature does not verify): the header or manifest changed "
               "after signing, or the signature entry is corrupt; do not use this file",
               where, d->detail);
      return;
    case HPM_E_THRESHOLD_NOT_MET:
      snprintf(out, cap, "%s%s (--threshold %u); add signatures by other trusted keys with "
               "'hpm-sign countersign' or 'hpm-sign attach'",
               where, d->detail, threshold);
      return;
    case HPM_E_NO_SIGNATURE:
      snprintf(out, cap, "the container has no signature; sign it with 'hpm-sign countersign "
               "--key KEY' or 'hpm-sign attach'");
      return;
    case HPM_E_WRONG_KIND:
      snprintf(out, cap, "%s%s (--kind)", where, d->detail);
      return;
    case HPM_E_PAYLOAD_MISSING:
      snprintf(out, cap, "%s%s (%s); detached payloads must be stored beside the container, in %s",
               where, d->detail, ld && ld->last_error[0] ? ld->last_error : "not provided",
               ld ? ld->dir : ".");
      return;
    case HPM_E_PAYLOAD_HASH:
    case HPM_E_PAYLOAD_SIZE:
      if (p && !p->embedded) {
        snprintf(out, cap, "%s%s: detached file %s/%s was changed or replaced after signing",
                 where, d->detail, ld ? ld->dir : ".", p->file);
      } else {
        snprintf(out, cap, "%s%s: the embedded payload bytes were changed after signing",
                 where, d->detail);
      }
      return;
    case HPM_E_BAD_MAGIC:
    case HPM_E_UNSUPPORTED_VERSION:
    case HPM_E_BAD_HEADER:
    case HPM_E_TRUNCATED:
    case HPM_E_TRAILING_DATA:
    case HPM_E_TOO_LARGE:
    case HPM_E_BAD_SIGNATURE_BLOCK:
      snprintf(out, cap, "%s%s: the file is damaged, truncated or not an hpm container",
               where, d->detail);
      return;
    default:
      snprintf(out, cap, "%s%s (%s)", where, d->detail[0] ? d->detail : hpm_result_to_string(r),
               hpm_result_to_string(r));
      return;
  }
}

int self_check(const char *cmd, const uint8_t *buf, size_t len, hpm_kind kind,
               const hpm_pubkey *pub, const hpm_ops *ops) {
  hpm_trust t = {.keys = pub, .count = 1, .threshold = 1};
  hpm_manifest *m = calloc(1, sizeof *m);
  hpm_diag d;
  hpm_result r;
  if (!m) {
    msg(cmd, "out of memory");
    return EXIT_IOERR;
  }
  r = hpm_container_verify(buf, len, kind, &t, ops, m, &d);
  free(m);
  if (r != HPM_OK) {
    msg(cmd, "internal error: the container just built does not verify (%s: %s: %s); nothing "
             "was written; please report this", d.field, d.detail, hpm_result_to_string(r));
    return EXIT_IOERR;
  }
  return 0;
}

/* ---- JSON -------------------------------------------------------------- */

void json_init(json *j, FILE *f) {
  memset(j, 0, sizeof *j);
  j->f = f;
}

/* Length of a valid UTF-8 sequence at s, or 0. */
static size_t utf8_len(const unsigned char *s) {
  unsigned c = s[0];
  size_t n;
  unsigned min;
  uint32_t cp;
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
    cp = c & 0x1f;
    min = 0x80;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    cp = c & 0x0f;
    min = 0x800;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    cp = c & 0x07;
    min = 0x10000;
  } else {
    return 0;
  }
  for (size_t i = 1; i < n; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0;
    cp = cp << 6 | (s[i] & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

static void json_quote(FILE *f, const char *s) {
  const unsigned char *p = (const unsigned char *)s;
  fputc('"', f);
  while (*p) {
    unsigned char c = *p;
    if (c == '"' || c == '\\') {
      fputc('\\', f);
      fputc(c, f);
      p++;
    } else if (c == '\n') {
      fputs("\\n", f);
      p++;
    } else if (c == '\t') {
      fputs("\\t", f);
      p++;
    } else if (c == '\r') {
      fputs("\\r", f);
      p++;
    } else if (c < 0x20 || c == 0x7f) {
      fprintf(f, "\\u%04x", c);
      p++;
    } else if (c < 0x80) {
      fputc(c, f);
      p++;
    } else {
      size_t n = utf8_len(p);
      if (n) {
        fwrite(p, 1, n, f);
        p += n;
      } else {
        fputs("\\ufffd", f); /* not UTF-8: replacement character */
        p++;
      }
    }
  }
  fputc('"', f);
}

static void json_key(json *j, const char *key) {
  if (j->need_comma[j->depth]) fputc(',', j->f);
  if (j->depth) {
    fputc('\n', j->f);
    for (int i = 0; i < j->depth; i++) fputs("  ", j->f);
  }
  j->need_comma[j->depth] = true;
  if (key) {
    json_quote(j->f, key);
    fputs(": ", j->f);
  }
}

static void json_open(json *j, const char *key, char c) {
  json_key(j, key);
  fputc(c, j->f);
  if (j->depth < 15) j->depth++;
  j->need_comma[j->depth] = false;
}

static void json_close(json *j, char c) {
  bool had = j->need_comma[j->depth];
  if (j->depth > 0) j->depth--;
  if (had) {
    fputc('\n', j->f);
    for (int i = 0; i < j->depth; i++) fputs("  ", j->f);
  }
  fputc(c, j->f);
}

void json_begin_object(json *j, const char *key) { json_open(j, key, '{'); }
void json_end_object(json *j) { json_close(j, '}'); }
void json_begin_array(json *j, const char *key) { json_open(j, key, '['); }
void json_end_array(json *j) { json_close(j, ']'); }

void json_string(json *j, const char *key, const char *val) {
  json_key(j, key);
  if (val)
    json_quote(j->f, val);
  else
    fputs("null", j->f);
}

void json_u64(json *j, const char *key, uint64_t v) {
  json_key(j, key);
  fprintf(j->f, "%llu", (unsigned long long)v);
}

void json_bool(json *j, const char *key, bool v) {
  json_key(j, key);
  fputs(v ? "true" : "false", j->f);
}

void json_null(json *j, const char *key) {
  json_key(j, key);
  fputs("null", j->f);
}

void json_hex(json *j, const char *key, const uint8_t *p, size_t n) {
  json_key(j, key);
  fputc('"', j->f);
  for (size_t i = 0; i < n; i++) fprintf(j->f, "%02x", p[i]);
  fputc('"', j->f);
}

void json_finish(json *j) {
  fputc('\n', j->f);
  fflush(j->f);
}

const char *sig_status_text(hpm_sig_status s) {
  switch (s) {
    case HPM_SIG_VALID: return "valid";
    case HPM_SIG_UNKNOWN_KEY: return "unknown key (not in the trust set; ignored)";
    case HPM_SIG_INVALID: return "INVALID (does not verify)";
    case HPM_SIG_DUPLICATE: return "duplicate signer (counted once)";
    case HPM_SIG_NOT_CHECKED: return "not checked";
  }
  return "unknown";
}
