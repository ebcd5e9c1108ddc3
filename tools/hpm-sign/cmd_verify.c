/* SPDX-License-Identifier: MIT */
/* hpm-sign verify, hpm-sign inspect. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hpm-sign.h"

typedef struct {
  hpm_result r;
  hpm_diag d;
  hpm_manifest *m;
  hpm_kind kind;
  bool kind_from_header;
  unsigned threshold;
  char why[1200];
} vresult;

enum { O_TRUST = 256, O_THRESHOLD, O_KIND, O_JSON, O_AT };

static bool digest_of(const uint8_t *buf, size_t len, uint8_t out[HPM_DIGEST_LEN], size_t *tbs) {
  size_t tbs_len, sig_off;
  hpm_diag d;
  if (hpm_container_layout(buf, len, &tbs_len, &sig_off, &d) != HPM_OK) return false;
  if (hpm_sha256(buf, tbs_len, out) != HPM_OK) return false;
  if (tbs) *tbs = tbs_len;
  return true;
}

/* Verify buf with the trust set; detached payloads come from ld. */
static int run_verify(const uint8_t *buf, size_t len, hpm_kind kind, const trust_set *t,
                      unsigned threshold, file_loader *ld, vresult *v) {
  hpm_trust trust = {.keys = t->keys, .count = t->count, .threshold = threshold};
  hpm_ops ops = loader_ops(ld);
  memset(v, 0, sizeof *v);
  v->m = calloc(1, sizeof *v->m);
  if (!v->m) return EXIT_IOERR;
  v->threshold = threshold;
  v->kind_from_header = kind == HPM_KIND_NONE;
  if (kind == HPM_KIND_NONE) kind = header_kind(buf, len);
  v->kind = kind;
  /* An unreadable header kind: core reports the header problem itself. */
  v->r = hpm_container_verify(buf, len, kind == HPM_KIND_NONE ? HPM_KIND_BASELINE : kind, &trust,
                              &ops, v->m, &v->d);
  if (v->r != HPM_OK) explain(v->m, v->r, &v->d, ld, t, threshold, v->why, sizeof v->why);
  return 0;
}

static void json_signature(json *j, size_t i, const hpm_signature_info *s) {
  json_begin_object(j, NULL);
  json_u64(j, "index", i);
  json_string(j, "alg", hpm_alg_to_string(s->alg));
  json_hex(j, "key_id", s->key_id, HPM_DIGEST_LEN);
  json_string(j, "status", sig_status_id(s->status));
  json_end_object(j);
}

static void json_verification_fields(json *j, const vresult *v, const trust_set *t) {
  json_bool(j, "valid", v->r == HPM_OK);
  json_string(j, "kind", v->kind == HPM_KIND_NONE ? NULL : hpm_kind_to_string(v->kind));
  json_string(j, "kind_source", v->kind_from_header ? "header" : "option");
  json_string(j, "result", result_id(v->r));
  json_string(j, "message", v->r == HPM_OK ? "valid" : v->why);
  json_string(j, "field", v->r == HPM_OK || !v->d.field[0] ? NULL : v->d.field);
  json_string(j, "detail", v->r == HPM_OK || !v->d.detail[0] ? NULL : v->d.detail);
  json_u64(j, "threshold", v->threshold);
  json_u64(j, "trusted_signers", v->m->trusted_signers);
  json_begin_array(j, "trusted_keys");
  for (size_t i = 0; i < t->count; i++) json_hex(j, NULL, t->keys[i].key_id, HPM_DIGEST_LEN);
  json_end_array(j);
}


/* Common option handling for --trust/--threshold. */
static int finish_trust(const char *cmd, trust_set *t, const char *const *paths, size_t n,
                        const char *threshold_s, unsigned *threshold) {
  uint32_t th = 1;
  int rc;
  if (threshold_s && (!parse_u32(threshold_s, &th) || th == 0))
    return usage_error(cmd, "--threshold '%s': expected a number of signers, at least 1", threshold_s);
  for (size_t i = 0; i < n; i++) {
    rc = trust_add(cmd, t, paths[i]);
    if (rc) return rc;
  }
  if (n && th > t->count)
    return usage_error(cmd, "--threshold %u is more than the %zu distinct --trust key(s) given", th, t->count);
  *threshold = th;
  return 0;
}

/* ---- verify ------------------------------------------------------------ */

static const char verify_help[] =
    "Usage: hpm-sign verify --trust PUB [--trust PUB]... [--threshold N]\n"
    "                       [--kind baseline|hotpatch|catalog] [--at TIME] [--json] FILE\n"
    "Verify FILE exactly as the boot stage and the host do (core/): header, signatures\n"
    "over header and manifest, the manifest schema, and every payload's size and SHA-256.\n"
    "Detached payloads are read from FILE's directory.\n"
    "\n"
    "  --trust PUB      a trusted public key (PEM or DER; repeatable, at most 16)\n"
    "  --threshold N    distinct trusted signers required (default 1)\n"
    "  --kind KIND      require a baseline, a hotpatch or a catalog (default: the\n"
    "                   kind in the header, which is printed)\n"
    "  --at TIME        catalogs: judge the expiry at TIME (seconds since 1970,\n"
    "                   YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ) instead of now\n"
    "  --json           machine-readable output (see docs/hpm-sign.md)\n"
    "  -h, --help       show this help\n"
    "\n"
    "Exit status: 0 valid, 1 not valid, 2 usage error, 3 I/O error.\n"
    "\n"
    "Example:\n"
    "  hpm-sign verify --trust release-a.pub --trust release-b.pub --threshold 2 slot-a.hpm\n";

int cmd_verify(int argc, char **argv) {
  static const struct option opts[] = {
      {"trust", required_argument, NULL, O_TRUST},
      {"threshold", required_argument, NULL, O_THRESHOLD},
      {"kind", required_argument, NULL, O_KIND},
      {"json", no_argument, NULL, O_JSON},
      {"at", required_argument, NULL, O_AT},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  const char *cmd = "verify", *threshold_s = NULL, *kind_s = NULL, *file, *at_s = NULL;
  uint64_t at = (uint64_t)time(NULL);
  const char *paths[64];
  size_t npaths = 0;
  bool as_json = false;
  hpm_kind kind = HPM_KIND_NONE;
  trust_set *t = NULL;
  unsigned threshold = 1;
  uint8_t *buf = NULL;
  size_t len = 0;
  file_loader *ld = NULL;
  vresult v;
  char hex[HEX_DIGEST];
  uint8_t digest[HPM_DIGEST_LEN];
  bool have_digest;
  int c, rc;

  memset(&v, 0, sizeof v);
  while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
    switch (c) {
      case O_TRUST:
        if (npaths == sizeof paths / sizeof paths[0]) return usage_error(cmd, "too many --trust keys");
        paths[npaths++] = optarg;
        break;
      case O_THRESHOLD:
        if (threshold_s) return twice(cmd, "--threshold");
        threshold_s = optarg;
        break;
      case O_KIND:
        if (kind_s) return twice(cmd, "--kind");
        kind_s = optarg;
        break;
      case O_JSON: as_json = true; break;
      case O_AT:
        if (at_s) return twice(cmd, "--at");
        at_s = optarg;
        break;
      case 'h': fputs(verify_help, stdout); return EXIT_VALID;
      default: return bad_option(cmd, c, argv);
    }
  }
  if (optind >= argc) return usage_error(cmd, "missing FILE (the container to verify)");
  if (argc - optind > 1) return usage_error(cmd, "unexpected argument '%s' (one FILE at a time)", argv[optind + 1]);
  file = argv[optind];
  if (!npaths) return usage_error(cmd, "missing --trust PUB: verification needs at least one trusted public key");
  if (kind_s) {
    if (!strcmp(kind_s, "baseline"))
      kind = HPM_KIND_BASELINE;
    else if (!strcmp(kind_s, "hotpatch"))
      kind = HPM_KIND_HOTPATCH;
    else if (!strcmp(kind_s, "catalog"))
      kind = HPM_KIND_CATALOG;
    else
      return usage_error(cmd, "--kind '%s': expected baseline, hotpatch or catalog", kind_s);
  }
  if (at_s && !parse_time(at_s, &at))
    return usage_error(cmd, "--at '%s': expected seconds since 1970, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ", at_s);
  t = calloc(1, sizeof *t);
  ld = calloc(1, sizeof *ld);
  if (!t || !ld) {
    msg(cmd, "out of memory");
    rc = EXIT_IOERR;
    goto done;
  }
  rc = finish_trust(cmd, t, paths, npaths, threshold_s, &threshold);
  if (rc) goto done;
  rc = read_container(cmd, file, &buf, &len);
  if (rc) goto done;
  if (kind == HPM_KIND_CATALOG || (kind == HPM_KIND_NONE && header_kind(buf, len) == HPM_KIND_CATALOG)) {
    rc = catalog_show(cmd, file, buf, len, t, threshold, at, as_json);
    goto done;
  }
  loader_init(ld, file);
  rc = run_verify(buf, len, kind, t, threshold, ld, &v);
  if (rc) {
    msg(cmd, "out of memory");
    goto done;
  }
  have_digest = digest_of(buf, len, digest, NULL);

  if (as_json) {
    json j;
    json_init(&j, stdout);
    json_begin_object(&j, NULL);
    json_string(&j, "file", file);
    json_verification_fields(&j, &v, t);
    if (have_digest)
      json_hex(&j, "digest", digest, HPM_DIGEST_LEN);
    else
      json_null(&j, "digest");
    json_begin_array(&j, "signatures");
    for (size_t i = 0; i < v.m->signature_count && i < HPM_MAX_SIGNATURES; i++)
      json_signature(&j, i, &v.m->signatures[i]);
    json_end_array(&j);
    json_end_object(&j);
    json_finish(&j);
  } else {
    printf("%s: kind %s (%s)\n", file, v.kind == HPM_KIND_NONE ? "unknown" : hpm_kind_to_string(v.kind),
           v.kind_from_header ? "from the header; use --kind to require one" : "required by --kind");
    if (have_digest) printf("digest: %s\n", hex32(digest, hex));
    for (size_t i = 0; i < v.m->signature_count && i < HPM_MAX_SIGNATURES; i++)
      printf("signature %zu: %s key %s: %s\n", i, hpm_alg_to_string(v.m->signatures[i].alg),
             hex32(v.m->signatures[i].key_id, hex), sig_status_text(v.m->signatures[i].status));
    if (v.r == HPM_OK)
      printf("%s: OK: valid %s, %u distinct trusted signer(s), threshold %u\n", file,
             hpm_kind_to_string(v.kind), v.m->trusted_signers, threshold);
    else
      printf("%s: FAILED (%s)\n", file, result_id(v.r));
  }
  if (v.r != HPM_OK) msg(cmd, "%s: %s", file, v.why);
  rc = exit_for(v.r);
done:
  if (ld) loader_free(ld);
  free(ld);
  free(t);
  free(v.m);
  free(buf);
  return rc;
}

/* ---- inspect ----------------------------------------------------------- */

static const char inspect_help[] =
    "Usage: hpm-sign inspect [--json] [--trust PUB]... [--threshold N] FILE\n"
    "Show every field of FILE: header, manifest, digest, payloads and signatures\n"
    "(for a catalog: serial, issue and expiry times, and every entry).\n"
    "Without --trust nothing is verified (signatures show 'not checked') and the\n"
    "output must not be used for a decision; with --trust FILE is also verified\n"
    "(as 'verify' does, kind from the header) and each signature gets its status.\n"
    "\n"
    "  --json           machine-readable output (see docs/hpm-sign.md)\n"
    "  --trust PUB      a trusted public key (repeatable)\n"
    "  --threshold N    distinct trusted signers required (default 1)\n"
    "  -h, --help       show this help\n"
    "\n"
    "Exit status: 0 parsed (and, with --trust, valid), 1 malformed or not valid,\n"
    "2 usage error, 3 I/O error.\n";

typedef struct {
  bool ok;
  uint32_t format_version, kind, header_size, flags, manifest_size;
  uint64_t payload_area_size;
} raw_header;

static uint32_t le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static raw_header read_header(const uint8_t *buf, size_t len) {
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

static const char *kind_name(uint32_t k) {
  return k >= HPM_KIND_BASELINE && k <= HPM_KIND_CATALOG ? hpm_kind_to_string((hpm_kind)k) : NULL;
}

static void inspect_json(const char *file, size_t len, const raw_header *h, bool have_digest,
                         const uint8_t *digest, size_t tbs, hpm_result pr, const hpm_diag *pd,
                         const char *pwhy, const hpm_manifest *m, const vresult *v,
                         const trust_set *t) {
  json j;
  char ts[32];
  const hpm_manifest *sigs = v && v->m->signature_count == m->signature_count ? v->m : m;
  bool ok = pr == HPM_OK;
  json_init(&j, stdout);
  json_begin_object(&j, NULL);
  json_string(&j, "file", file);
  json_u64(&j, "size", len);
  if (h->ok) {
    json_begin_object(&j, "header");
    json_u64(&j, "format_version", h->format_version);
    json_string(&j, "kind", kind_name(h->kind));
    json_u64(&j, "kind_code", h->kind);
    json_u64(&j, "header_size", h->header_size);
    json_u64(&j, "flags", h->flags);
    json_u64(&j, "manifest_size", h->manifest_size);
    json_u64(&j, "payload_area_size", h->payload_area_size);
    json_end_object(&j);
  } else {
    json_null(&j, "header");
  }
  if (have_digest) {
    json_u64(&j, "tbs_size", tbs);
    json_hex(&j, "digest", digest, HPM_DIGEST_LEN);
  } else {
    json_null(&j, "tbs_size");
    json_null(&j, "digest");
  }
  json_begin_object(&j, "parse");
  json_bool(&j, "ok", ok);
  json_string(&j, "result", result_id(pr));
  json_string(&j, "message", ok ? "parsed (not verified)" : pwhy);
  json_string(&j, "field", ok || !pd->field[0] ? NULL : pd->field);
  json_string(&j, "detail", ok || !pd->detail[0] ? NULL : pd->detail);
  json_end_object(&j);
  if (ok) {
    bool base = m->kind == HPM_KIND_BASELINE, hot = m->kind == HPM_KIND_HOTPATCH;
    json_begin_object(&j, "manifest");
    json_u64(&j, "format", m->format_version);
    json_string(&j, "kind", hpm_kind_to_string(m->kind));
    json_string(&j, "compat", m->compat);
    json_string(&j, "version", m->version);
    json_u64(&j, "svn", m->svn);
    json_u64(&j, "timestamp", m->timestamp);
    utc_string(m->timestamp, ts);
    json_string(&j, "timestamp_utc", ts[0] ? ts : NULL);
    json_string(&j, "release", base ? hpm_release_to_string(m->release) : NULL);
    json_string(&j, "classification", hot ? hpm_classification_to_string(m->classification) : NULL);
    json_string(&j, "id", hot ? m->id : NULL);
    if (hot)
      json_hex(&j, "target_baseline", m->target_baseline, HPM_DIGEST_LEN);
    else
      json_null(&j, "target_baseline");
    if (hot)
      json_u64(&j, "sequence", m->sequence);
    else
      json_null(&j, "sequence");
    json_u64(&j, "info_count", m->info_count);
    json_end_object(&j);
  } else {
    json_null(&j, "manifest");
  }
  json_begin_array(&j, "payloads");
  for (size_t i = 0; ok && i < m->payload_count; i++) {
    const hpm_payload *p = &m->payloads[i];
    json_begin_object(&j, NULL);
    json_string(&j, "name", p->name);
    json_string(&j, "type", hpm_payload_type_to_string(p->type));
    json_u64(&j, "size", p->size);
    json_hex(&j, "sha256", p->sha256, HPM_DIGEST_LEN);
    json_bool(&j, "embedded", p->embedded);
    if (p->embedded)
      json_u64(&j, "offset", p->offset);
    else
      json_null(&j, "offset");
    json_string(&j, "file", p->embedded ? NULL : p->file);
    json_end_object(&j);
  }
  json_end_array(&j);
  json_begin_array(&j, "signatures");
  for (size_t i = 0; ok && i < sigs->signature_count && i < HPM_MAX_SIGNATURES; i++)
    json_signature(&j, i, &sigs->signatures[i]);
  json_end_array(&j);
  if (v) {
    json_begin_object(&j, "verification");
    json_verification_fields(&j, v, t);
    json_end_object(&j);
  } else {
    json_null(&j, "verification");
  }
  json_end_object(&j);
  json_finish(&j);
}

static void inspect_text(const char *file, size_t len, const raw_header *h, bool have_digest,
                         const uint8_t *digest, size_t tbs, hpm_result pr, const char *pwhy,
                         const hpm_manifest *m, const vresult *v) {
  char hex[HEX_DIGEST], ts[32];
  const hpm_manifest *sigs = v && v->m->signature_count == m->signature_count ? v->m : m;
  printf("file:               %s (%zu bytes)\n", file, len);
  if (h->ok) {
    const char *k = kind_name(h->kind);
    printf("kind:               %s\n", k ? k : "unknown");
    printf("format version:     %u\n", h->format_version);
    printf("header:             %u bytes, flags %u\n", h->header_size, h->flags);
    printf("manifest:           %u bytes\n", h->manifest_size);
    printf("payload area:       %llu bytes\n", (unsigned long long)h->payload_area_size);
  }
  if (have_digest) {
    printf("signed bytes (TBS): %zu bytes (header and manifest)\n", tbs);
    printf("digest:             %s\n", hex32(digest, hex));
  }
  if (pr != HPM_OK) {
    printf("parse:              FAILED: %s\n", pwhy);
  } else {
    printf("compat:             %s\n", m->compat);
    printf("version:            %s\n", m->version);
    printf("svn:                %u\n", m->svn);
    utc_string(m->timestamp, ts);
    printf("timestamp:          %llu%s%s%s\n", (unsigned long long)m->timestamp, ts[0] ? " (" : "",
           ts, ts[0] ? ")" : "");
    if (m->kind == HPM_KIND_BASELINE) {
      printf("release:            %s\n", hpm_release_to_string(m->release));
    } else {
      printf("classification:     %s\n", hpm_classification_to_string(m->classification));
      printf("id:                 %s\n", m->id);
      printf("target baseline:    %s\n", hex32(m->target_baseline, hex));
      printf("sequence:           %u\n", m->sequence);
    }
    if (m->info_count) printf("info properties:    %zu (informational, ignored by verifiers)\n", m->info_count);
    printf("payloads:           %zu\n", m->payload_count);
    for (size_t i = 0; i < m->payload_count; i++) {
      const hpm_payload *p = &m->payloads[i];
      printf("  %-16s %-8s %10llu bytes  sha256 %s  ", p->name, hpm_payload_type_to_string(p->type),
             (unsigned long long)p->size, hex32(p->sha256, hex));
      if (p->embedded)
        printf("embedded at offset %llu\n", (unsigned long long)p->offset);
      else
        printf("detached file %s\n", p->file);
    }
    printf("signatures:         %zu\n", m->signature_count);
    for (size_t i = 0; i < sigs->signature_count && i < HPM_MAX_SIGNATURES; i++)
      printf("  [%zu] %s key %s: %s\n", i, hpm_alg_to_string(sigs->signatures[i].alg),
             hex32(sigs->signatures[i].key_id, hex), sig_status_text(sigs->signatures[i].status));
  }
  if (!v)
    printf("verification:       not performed (pass --trust PUB to verify)\n");
  else if (v->r == HPM_OK)
    printf("verification:       OK: %u distinct trusted signer(s), threshold %u\n", v->m->trusted_signers,
           v->threshold);
  else
    printf("verification:       FAILED: %s\n", v->why);
}

int cmd_inspect(int argc, char **argv) {
  static const struct option opts[] = {
      {"trust", required_argument, NULL, O_TRUST},
      {"threshold", required_argument, NULL, O_THRESHOLD},
      {"json", no_argument, NULL, O_JSON},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  const char *cmd = "inspect", *threshold_s = NULL, *file;
  const char *paths[64];
  size_t npaths = 0, len = 0, tbs = 0;
  bool as_json = false, have_digest;
  trust_set *t = NULL;
  unsigned threshold = 1;
  uint8_t *buf = NULL, digest[HPM_DIGEST_LEN];
  file_loader *ld = NULL;
  hpm_manifest *m = NULL;
  hpm_diag pd;
  hpm_result pr;
  vresult v;
  char pwhy[1200] = "";
  raw_header h;
  int c, rc;

  memset(&v, 0, sizeof v);
  while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
    switch (c) {
      case O_TRUST:
        if (npaths == sizeof paths / sizeof paths[0]) return usage_error(cmd, "too many --trust keys");
        paths[npaths++] = optarg;
        break;
      case O_THRESHOLD:
        if (threshold_s) return twice(cmd, "--threshold");
        threshold_s = optarg;
        break;
      case O_JSON: as_json = true; break;
      case 'h': fputs(inspect_help, stdout); return EXIT_VALID;
      default: return bad_option(cmd, c, argv);
    }
  }
  if (optind >= argc) return usage_error(cmd, "missing FILE (the container to inspect)");
  if (argc - optind > 1) return usage_error(cmd, "unexpected argument '%s' (one FILE at a time)", argv[optind + 1]);
  file = argv[optind];
  if (threshold_s && !npaths) return usage_error(cmd, "--threshold needs --trust");
  t = calloc(1, sizeof *t);
  ld = calloc(1, sizeof *ld);
  m = calloc(1, sizeof *m);
  if (!t || !ld || !m) {
    msg(cmd, "out of memory");
    rc = EXIT_IOERR;
    goto done;
  }
  rc = finish_trust(cmd, t, paths, npaths, threshold_s, &threshold);
  if (rc) goto done;
  rc = read_container(cmd, file, &buf, &len);
  if (rc) goto done;
  if (header_kind(buf, len) == HPM_KIND_CATALOG) {
    rc = catalog_show(cmd, file, buf, len, npaths ? t : NULL, threshold, (uint64_t)time(NULL), as_json);
    goto done;
  }
  h = read_header(buf, len);
  have_digest = digest_of(buf, len, digest, &tbs);
  pr = hpm_container_parse_unverified(buf, len, m, &pd);
  if (pr != HPM_OK) explain(NULL, pr, &pd, NULL, NULL, 0, pwhy, sizeof pwhy);
  loader_init(ld, file);
  if (npaths) {
    rc = run_verify(buf, len, HPM_KIND_NONE, t, threshold, ld, &v);
    if (rc) {
      msg(cmd, "out of memory");
      goto done;
    }
  }
  if (as_json)
    inspect_json(file, len, &h, have_digest, digest, tbs, pr, &pd, pwhy, m, npaths ? &v : NULL, t);
  else
    inspect_text(file, len, &h, have_digest, digest, tbs, pr, pwhy, m, npaths ? &v : NULL);
  if (pr != HPM_OK) {
    msg(cmd, "%s: not a valid container: %s", file, pwhy);
    rc = exit_for(pr);
  } else if (npaths && v.r != HPM_OK) {
    msg(cmd, "%s: verification failed: %s", file, v.why);
    rc = exit_for(v.r);
  } else {
    rc = EXIT_VALID;
  }
done:
  if (ld) loader_free(ld);
  free(ld);
  free(t);
  free(m);
  free(v.m);
  free(buf);
  return rc;
}
