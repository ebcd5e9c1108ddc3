/* SPDX-License-Identifier: MIT */
/* hpm-sign verify, hpm-sign inspect. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hpm-sign.h"
#include "kmod.h"

/* What verify and inspect --trust found. */
typedef struct {
  hpm_result r;
  hpm_diag d;
  hpm_manifest *m;
  hpm_kind kind;
  bool kind_from_header;
  unsigned threshold;
  char why[WHY_MAX];
} vresult;

/* What both commands take: the file, the trust set, the loader beside it. */
typedef struct {
  const char *cmd, *file, *threshold_s;
  const char *paths[64];
  opt_list trust_paths;
  bool as_json;
  trust_set *t;
  unsigned threshold;
  uint8_t *buf;
  size_t len;
  hpmh_loader *ld;
  vresult v;
} job;

static void job_init(job *j, const char *cmd) {
  memset(j, 0, sizeof *j);
  j->cmd = cmd;
  j->trust_paths = (opt_list){j->paths, 0, 64, "too many --trust keys"};
}

/* Load the trust set and read the container: 0 or an exit code. */
static int job_load(job *j) {
  j->t = calloc(1, sizeof *j->t);
  j->ld = calloc(1, sizeof *j->ld);
  if (!j->t || !j->ld) return out_of_memory(j->cmd);
  hpmh_loader_init(j->ld, j->file, HPMH_LOAD_ANY_SIZE);
  int rc = trust_load(j->cmd, j->t, &j->trust_paths, j->threshold_s, &j->threshold);
  return rc ? rc : read_container(j->cmd, j->file, &j->buf, &j->len);
}

static void job_free(job *j) {
  if (j->ld) hpmh_loader_free(j->ld);
  free(j->ld);
  free(j->t);
  free(j->v.m);
  free(j->buf);
}

static bool digest_of(const uint8_t *buf, size_t len, uint8_t out[HPM_DIGEST_LEN], size_t *tbs) {
  size_t tbs_len, sig_off;
  hpm_diag d;
  if (hpm_container_layout(buf, len, &tbs_len, &sig_off, &d) != HPM_OK) return false;
  if (hpm_sha256(buf, tbs_len, out) != HPM_OK) return false;
  if (tbs) *tbs = tbs_len;
  return true;
}

/* Verify the container with the trust set (kind NONE: the header's);
 * detached payloads come from the loader.  0 or an exit code. */
static int run_verify(job *j, hpm_kind kind) {
  hpm_trust trust = trust_of(j->t, j->threshold);
  hpm_ops ops = hpmh_loader_ops(j->ld);
  vresult *v = &j->v;
  v->m = calloc(1, sizeof *v->m);
  if (!v->m) return out_of_memory(j->cmd);
  v->threshold = j->threshold;
  v->kind_from_header = kind == HPM_KIND_NONE;
  if (kind == HPM_KIND_NONE) kind = header_kind(j->buf, j->len);
  v->kind = kind;
  /* An unreadable header kind: core reports the header problem itself. */
  v->r = hpm_container_verify(j->buf, j->len, kind == HPM_KIND_NONE ? HPM_KIND_BASELINE : kind, &trust,
                              &ops, v->m, &v->d);
  if (v->r != HPM_OK) explain(v->m, v->r, &v->d, j->ld, j->threshold, v->why, sizeof v->why);
  return 0;
}

static void json_verification_fields(cJSON *o, const vresult *v, const trust_set *t) {
  cJSON *keys;
  hpmh_json_add_bool(o, "valid", v->r == HPM_OK);
  hpmh_json_add_str(o, "kind", v->kind == HPM_KIND_NONE ? NULL : hpm_kind_to_string(v->kind));
  hpmh_json_add_str(o, "kind_source", v->kind_from_header ? "header" : "option");
  json_result(o, v->r, "valid", v->why, &v->d);
  hpmh_json_add_u64(o, "threshold", v->threshold);
  hpmh_json_add_u64(o, "trusted_signers", v->m->trusted_signers);
  keys = hpmh_json_add(o, "trusted_keys", cJSON_CreateArray());
  for (size_t i = 0; i < t->count; i++) hpmh_json_add_hex(keys, NULL, t->keys[i].key_id, HPM_DIGEST_LEN);
}

static void json_digest(cJSON *o, const char *key, bool have, const uint8_t *digest) {
  if (have)
    hpmh_json_add_hex(o, key, digest, HPM_DIGEST_LEN);
  else
    hpmh_json_add_null(o, key);
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

static void verify_print(const job *j, bool have_digest, const uint8_t *digest) {
  const vresult *v = &j->v;
  size_t nsig = v->m->signature_count;
  char hex[HEX_DIGEST];
  if (j->as_json) {
    cJSON *o = cJSON_CreateObject();
    hpmh_json_add_str(o, "file", j->file);
    json_verification_fields(o, v, j->t);
    json_digest(o, "digest", have_digest, digest);
    json_signatures(o, v->m->signatures, nsig);
    hpmh_json_print(stdout, o);
    cJSON_Delete(o);
    return;
  }
  printf("%s: kind %s (%s)\n", j->file, v->kind == HPM_KIND_NONE ? "unknown" : hpm_kind_to_string(v->kind),
         v->kind_from_header ? "from the header; use --kind to require one" : "required by --kind");
  if (have_digest) printf("digest: %s\n", hex32(digest, hex));
  print_signatures(v->m->signatures, nsig);
  if (v->r == HPM_OK)
    printf("%s: OK: valid %s, %u distinct trusted signer(s), threshold %u\n", j->file,
           hpm_kind_to_string(v->kind), v->m->trusted_signers, j->threshold);
  else
    printf("%s: FAILED (%s)\n", j->file, result_id(v->r));
}

int cmd_verify(int argc, char **argv) {
  static const char *const kinds[] = {"baseline", "hotpatch", "catalog"};
  const char *kind_s = NULL, *at_s = NULL;
  job j;
  const opt_spec opts[] = {
      {"trust", 0, OPT_LIST, .dest = &j.trust_paths},
      {"threshold", 0, OPT_VALUE, .dest = &j.threshold_s},
      {"kind", 0, OPT_VALUE, .dest = &kind_s},
      {"json", 0, OPT_FLAG, .dest = &j.as_json},
      {"at", 0, OPT_VALUE, .dest = &at_s},
      {0},
  };
  const cmd_spec spec = {.cmd = "verify", .help = verify_help, .opts = opts, .operand = "missing FILE (the container to verify)", .extra = " (one FILE at a time)", .file = &j.file};
  uint64_t at = (uint64_t)time(NULL);
  hpm_kind kind = HPM_KIND_NONE;
  uint8_t digest[HPM_DIGEST_LEN];
  int k, rc;

  job_init(&j, "verify");
  if ((rc = parse_args(&spec, argc, argv)) != GO_ON) return rc;
  if (!j.trust_paths.n)
    return usage_error(j.cmd, "missing --trust PUB: verification needs at least one trusted public key");
  if (kind_s) {
    if ((k = word_index(kind_s, kinds, 3)) < 0)
      return usage_error(j.cmd, "--kind '%s': expected baseline, hotpatch or catalog", kind_s);
    kind = (hpm_kind)(HPM_KIND_BASELINE + k);
  }
  if (at_s && !parse_time(at_s, &at))
    return usage_error(j.cmd, "--at '%s': expected seconds since 1970, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ", at_s);
  if ((rc = job_load(&j))) goto done;
  if (kind == HPM_KIND_CATALOG || (kind == HPM_KIND_NONE && header_kind(j.buf, j.len) == HPM_KIND_CATALOG)) {
    rc = catalog_show(j.cmd, j.file, j.buf, j.len, j.t, j.threshold, at, j.as_json);
    goto done;
  }
  if ((rc = run_verify(&j, kind))) goto done;
  verify_print(&j, digest_of(j.buf, j.len, digest, NULL), digest);
  if (j.v.r != HPM_OK) msg(j.cmd, "%s: %s", j.file, j.v.why);
  rc = exit_for(j.v.r);
done:
  job_free(&j);
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

/* What inspect found, for printing. */
typedef struct {
  raw_header h;
  bool have_digest;
  uint8_t digest[HPM_DIGEST_LEN];
  size_t tbs;
  hpm_result pr;
  hpm_diag pd;
  char pwhy[WHY_MAX];
  hpm_manifest *m;
} inspected;

static const char *kind_name(uint32_t k) {
  return k >= HPM_KIND_BASELINE && k <= HPM_KIND_CATALOG ? hpm_kind_to_string((hpm_kind)k) : NULL;
}

static void json_header(cJSON *o, const raw_header *h) {
  const struct {
    const char *key;
    uint64_t v;
  } nums[] = {{"kind_code", h->kind},         {"header_size", h->header_size},
              {"flags", h->flags},            {"manifest_size", h->manifest_size},
              {"payload_area_size", h->payload_area_size}};
  cJSON *x;
  if (!h->ok) {
    hpmh_json_add_null(o, "header");
    return;
  }
  x = hpmh_json_add(o, "header", cJSON_CreateObject());
  hpmh_json_add_u64(x, "format_version", h->format_version);
  hpmh_json_add_str(x, "kind", kind_name(h->kind));
  for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) hpmh_json_add_u64(x, nums[i].key, nums[i].v);
}

static void json_manifest(cJSON *o, const hpm_manifest *m) {
  bool base = m->kind == HPM_KIND_BASELINE, hot = m->kind == HPM_KIND_HOTPATCH;
  char ts[HPMH_UTC_LEN];
  cJSON *x = hpmh_json_add(o, "manifest", cJSON_CreateObject());
  hpmh_json_add_u64(x, "format", m->format_version);
  hpmh_json_add_str(x, "kind", hpm_kind_to_string(m->kind));
  hpmh_json_add_str(x, "compat", m->compat);
  hpmh_json_add_str(x, "version", m->version);
  hpmh_json_add_u64(x, "svn", m->svn);
  hpmh_json_add_u64(x, "timestamp", m->timestamp);
  hpmh_json_add_str(x, "timestamp_utc", hpmh_utc(m->timestamp, ts)[0] ? ts : NULL);
  hpmh_json_add_str(x, "release", base ? hpm_release_to_string(m->release) : NULL);
  hpmh_json_add_str(x, "classification", hot ? hpm_classification_to_string(m->classification) : NULL);
  hpmh_json_add_str(x, "id", hot ? m->id : NULL);
  json_digest(x, "target_baseline", hot, m->target_baseline);
  hpmh_json_add(x, "sequence", hot ? hpmh_json_u64(m->sequence) : cJSON_CreateNull());
  hpmh_json_add_u64(x, "info_count", m->info_count);
}

/* Bytes of the kernel's module signature appended to an embedded livepatch
 * module (0: unsigned), or -1 when the bytes are not at hand or not a
 * module. */
static long long module_signature_size(const job *j, const inspected *in, const hpm_payload *p) {
  hpmh_kmod_info info;
  char why[200];
  if (!p->embedded || !in->have_digest || in->tbs > j->len || p->offset > j->len - in->tbs ||
      p->size > j->len - in->tbs - p->offset)
    return -1;
  if (hpmh_kmod_parse(j->buf + in->tbs + p->offset, (size_t)p->size, &info, why, sizeof why)) return -1;
  return (long long)(p->size - info.elf_len);
}

static void json_payloads(cJSON *o, const job *j, const inspected *in, bool ok) {
  const hpm_manifest *m = in->m;
  cJSON *arr = hpmh_json_add(o, "payloads", cJSON_CreateArray());
  for (size_t i = 0; ok && i < m->payload_count; i++) {
    const hpm_payload *p = &m->payloads[i];
    cJSON *x = hpmh_json_add(arr, NULL, cJSON_CreateObject());
    hpmh_json_add_str(x, "name", p->name);
    hpmh_json_add_str(x, "type", hpm_payload_type_to_string(p->type));
    hpmh_json_add_u64(x, "size", p->size);
    hpmh_json_add_hex(x, "sha256", p->sha256, HPM_DIGEST_LEN);
    hpmh_json_add_bool(x, "embedded", p->embedded);
    hpmh_json_add(x, "offset", p->embedded ? hpmh_json_u64(p->offset) : cJSON_CreateNull());
    hpmh_json_add_str(x, "file", p->embedded ? NULL : p->file);
    if (p->type == HPM_PAYLOAD_LIVEPATCH && m->kernel.present) {
      cJSON *k = hpmh_json_add(x, "kernel", cJSON_CreateObject());
      hpmh_json_add_str(k, "module", m->kernel.module);
      hpmh_json_add_str(k, "release", m->kernel.release);
      hpmh_json_add_hex(k, "build_id", m->kernel.build_id, m->kernel.build_id_len);
      hpmh_json_add_str(k, "vermagic", m->kernel.vermagic);
      long long sig = module_signature_size(j, in, p);
      hpmh_json_add(k, "module_signature_size", sig < 0 ? cJSON_CreateNull() : hpmh_json_u64((uint64_t)sig));
    } else {
      hpmh_json_add_null(x, "kernel");
    }
  }
}

static void inspect_json(const job *j, const inspected *in, const vresult *v) {
  const hpm_manifest *m = in->m;
  const hpm_manifest *sigs = v && v->m->signature_count == m->signature_count ? v->m : m;
  bool ok = in->pr == HPM_OK;
  cJSON *o = cJSON_CreateObject(), *x;
  hpmh_json_add_str(o, "file", j->file);
  hpmh_json_add_u64(o, "size", j->len);
  json_header(o, &in->h);
  hpmh_json_add(o, "tbs_size", in->have_digest ? hpmh_json_u64(in->tbs) : cJSON_CreateNull());
  json_digest(o, "digest", in->have_digest, in->digest);
  x = hpmh_json_add(o, "parse", cJSON_CreateObject());
  hpmh_json_add_bool(x, "ok", ok);
  json_result(x, in->pr, "parsed (not verified)", in->pwhy, &in->pd);
  if (ok)
    json_manifest(o, m);
  else
    hpmh_json_add_null(o, "manifest");
  json_payloads(o, j, in, ok);
  json_signatures(o, sigs->signatures, ok ? sigs->signature_count : 0);
  if (v) {
    x = hpmh_json_add(o, "verification", cJSON_CreateObject());
    json_verification_fields(x, v, j->t);
  } else {
    hpmh_json_add_null(o, "verification");
  }
  hpmh_json_print(stdout, o);
  cJSON_Delete(o);
}

static void inspect_text(const job *j, const inspected *in, const vresult *v) {
  const char *file = j->file, *pwhy = in->pwhy;
  const raw_header *h = &in->h;
  const hpm_manifest *m = in->m;
  size_t len = j->len, tbs = in->tbs;
  hpm_result pr = in->pr;
  bool have_digest = in->have_digest;
  const uint8_t *digest = in->digest;
  char hex[HEX_DIGEST], ts[HPMH_UTC_LEN];
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
    hpmh_utc(m->timestamp, ts);
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
      if (p->type == HPM_PAYLOAD_LIVEPATCH && m->kernel.present) {
        char bid[2 * HPM_KBUILD_ID_MAX + 1];
        hpm_fmt_hex(m->kernel.build_id, m->kernel.build_id_len, bid, sizeof bid);
        printf("    kernel part:    livepatch module %s for kernel %s, build-id %s\n", m->kernel.module,
               m->kernel.release, bid);
        printf("    vermagic:       %s\n", m->kernel.vermagic);
        long long sig = module_signature_size(j, in, p);
        if (sig > 0)
          printf("    module sig:     %lld bytes appended (PKCS#7, the kernel's module-signature format)\n", sig);
        else if (sig == 0)
          printf("    module sig:     none (a kernel in lockdown refuses the module)\n");
      }
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
  job j;
  const opt_spec opts[] = {
      {"trust", 0, OPT_LIST, .dest = &j.trust_paths},
      {"threshold", 0, OPT_VALUE, .dest = &j.threshold_s},
      {"json", 0, OPT_FLAG, .dest = &j.as_json},
      {0},
  };
  const cmd_spec spec = {.cmd = "inspect", .help = inspect_help, .opts = opts, .operand = "missing FILE (the container to inspect)", .extra = " (one FILE at a time)", .file = &j.file};
  bool trusted;
  inspected in;
  int rc;

  job_init(&j, "inspect");
  memset(&in, 0, sizeof in);
  if ((rc = parse_args(&spec, argc, argv)) != GO_ON) return rc;
  trusted = j.trust_paths.n > 0;
  if (j.threshold_s && !trusted) return usage_error(j.cmd, "--threshold needs --trust");
  in.m = calloc(1, sizeof *in.m);
  if (!in.m) return out_of_memory(j.cmd);
  if ((rc = job_load(&j))) goto done;
  if (header_kind(j.buf, j.len) == HPM_KIND_CATALOG) {
    rc = catalog_show(j.cmd, j.file, j.buf, j.len, trusted ? j.t : NULL, j.threshold, (uint64_t)time(NULL), j.as_json);
    goto done;
  }
  in.h = read_header(j.buf, j.len);
  in.have_digest = digest_of(j.buf, j.len, in.digest, &in.tbs);
  in.pr = hpm_container_parse_unverified(j.buf, j.len, in.m, &in.pd);
  if (in.pr != HPM_OK) explain(NULL, in.pr, &in.pd, NULL, 0, in.pwhy, sizeof in.pwhy);
  if (trusted && (rc = run_verify(&j, HPM_KIND_NONE))) goto done;
  if (j.as_json)
    inspect_json(&j, &in, trusted ? &j.v : NULL);
  else
    inspect_text(&j, &in, trusted ? &j.v : NULL);
  if (in.pr != HPM_OK) {
    msg(j.cmd, "%s: not a valid container: %s", j.file, in.pwhy);
    rc = exit_for(in.pr);
  } else if (trusted && j.v.r != HPM_OK) {
    msg(j.cmd, "%s: verification failed: %s", j.file, j.v.why);
    rc = exit_for(j.v.r);
  } else {
    rc = EXIT_VALID;
  }
done:
  free(in.m);
  job_free(&j);
  return rc;
}
