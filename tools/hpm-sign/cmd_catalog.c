/* SPDX-License-Identifier: MIT */
/*
 * hpm-sign catalog: build and sign a catalog from the real containers, so
 * that kind, version, SVN, digests, target, sequence, size and file hash are
 * read from each container and cannot be mistyped.  Also the catalog views
 * of 'verify' and 'inspect' (catalog_show).
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hpm-sign.h"
#include "hpm/catalog.h"
#include "hpmw_catalog.h"

#define DEFAULT_COMPAT "hpm-generic-x86_64"

/* ---- time values ------------------------------------------------------- */

/* Seconds since 1970 (digits), YYYY-MM-DD (midnight UTC) or
 * YYYY-MM-DDTHH:MM:SSZ. */
bool parse_time(const char *s, uint64_t *out) {
  struct tm tm;
  const char *end;
  time_t t;
  if (parse_u64(s, out)) return true;
  memset(&tm, 0, sizeof tm);
  end = strptime(s, "%Y-%m-%d", &tm);
  if (!end) return false;
  if (*end == 'T') {
    end = strptime(end + 1, "%H:%M:%S", &tm);
    if (!end || strcmp(end, "Z") != 0) return false;
  } else if (*end) {
    return false;
  }
  if (tm.tm_year < 70) return false;
  t = timegm(&tm);
  if (t < 0) return false;
  *out = (uint64_t)t;
  return true;
}

/* ---- any kind (digest, attach, countersign) ----------------------------- */

static void copy_sigs(hpm_manifest *m, const hpm_catalog *c) {
  m->signature_count = c->signature_count;
  memcpy(m->signatures, c->signatures, sizeof m->signatures);
  m->trusted_signers = c->trusted_signers;
  memcpy(m->digest, c->digest, HPM_DIGEST_LEN);
  m->kind = HPM_KIND_CATALOG;
}

hpm_result parse_any_unverified(const uint8_t *buf, size_t len, hpm_manifest *m, hpm_diag *d) {
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

/* ---- the catalog view (verify, inspect) --------------------------------- */

static void json_time(json *j, const char *key, uint64_t ts) {
  char k[48], buf[32];
  json_u64(j, key, ts);
  snprintf(k, sizeof k, "%s_utc", key);
  json_string(j, k, utc_string(ts, buf));
}

static void entry_json(json *j, const hpm_catalog_entry *e) {
  json_begin_object(j, NULL);
  json_string(j, "id", e->id);
  json_string(j, "kind", hpm_kind_to_string(e->kind));
  json_string(j, "release", hpm_release_to_string(e->release));
  json_string(j, "classification", hpm_classification_to_string(e->classification));
  json_time(j, "released", e->release_time);
  json_string(j, "version", e->version);
  json_u64(j, "svn", e->svn);
  json_hex(j, "digest", e->digest, HPM_DIGEST_LEN);
  if (e->kind == HPM_KIND_HOTPATCH) {
    json_hex(j, "target_baseline", e->target_baseline, HPM_DIGEST_LEN);
    json_u64(j, "sequence", e->sequence);
  } else {
    json_null(j, "target_baseline");
    json_null(j, "sequence");
  }
  json_u64(j, "size", e->size);
  json_hex(j, "sha256", e->file_sha256, HPM_DIGEST_LEN);
  json_string(j, "url", e->url);
  json_end_object(j);
}

void catalog_json_body(json *j, const hpm_catalog *c) {
  json_u64(j, "serial", c->serial);
  json_time(j, "issued", c->issued);
  json_time(j, "expires", c->expires);
  json_string(j, "compat", c->compat);
  json_hex(j, "digest", c->digest, HPM_DIGEST_LEN);
  json_begin_array(j, "entries");
  for (size_t i = 0; i < c->count; i++) entry_json(j, &c->entries[i]);
  json_end_array(j);
}

static void entry_text(size_t i, const hpm_catalog_entry *e) {
  char hex[HEX_DIGEST], ts[32];
  printf("entry %zu: %s: %s %s, %s, %s, svn %u, released %s\n", i, e->id,
         hpm_release_to_string(e->release), hpm_kind_to_string(e->kind),
         hpm_classification_to_string(e->classification), e->version, e->svn,
         utc_string(e->release_time, ts));
  printf("  url %s, %llu bytes, sha256 %s\n", e->url, (unsigned long long)e->size,
         hex32(e->file_sha256, hex));
  printf("  digest %s\n", hex32(e->digest, hex));
  if (e->kind == HPM_KIND_HOTPATCH)
    printf("  target-baseline %s, sequence %u\n", hex32(e->target_baseline, hex), e->sequence);
}


static void why_text(hpm_result r, const hpm_diag *d, const hpm_catalog *c, uint64_t at,
                     char *out, size_t cap) {
  char a[32], b[32];
  if (r == HPM_E_EXPIRED) {
    snprintf(out, cap, "the catalog expired at %s (checked at %s); publish a new catalog with a "
             "higher --serial and a later --expires", utc_string(c->expires, a), utc_string(at, b));
  } else if (r == HPM_E_UNTRUSTED_KEY || r == HPM_E_NO_SIGNATURE) {
    snprintf(out, cap, "%s: %s (sign it with a key given to --trust)", d->field,
             d->detail[0] ? d->detail : hpm_result_to_string(r));
  } else {
    snprintf(out, cap, "%s: %s (%s)", d->field[0] ? d->field : "catalog",
             d->detail[0] ? d->detail : hpm_result_to_string(r), hpm_result_to_string(r));
  }
}

int catalog_show(const char *cmd, const char *file, const uint8_t *buf, size_t len,
                 const trust_set *t, unsigned threshold, uint64_t at, bool as_json) {
  hpm_catalog c, shown;
  hpm_diag d, pd;
  hpm_result r = HPM_OK, pr;
  bool verify = t && t->count > 0;
  char why[600] = "", pwhy[600] = "", hex[HEX_DIGEST], ts[32], ts2[32];
  const hpm_catalog *sigs;
  int rc;

  memset(&c, 0, sizeof c);
  pr = hpm_catalog_parse_unverified(buf, len, &shown, &pd);
  if (pr != HPM_OK) why_text(pr, &pd, &shown, at, pwhy, sizeof pwhy);
  if (verify) {
    hpm_trust trust = {.keys = t->keys, .count = t->count, .threshold = threshold};
    r = hpm_catalog_verify(buf, len, &trust, at, &c, &d);
    if (r != HPM_OK) why_text(r, &d, &c, at, why, sizeof why);
  }
  sigs = verify ? &c : &shown;

  if (as_json) {
    json j;
    json_init(&j, stdout);
    json_begin_object(&j, NULL);
    json_string(&j, "file", file);
    json_u64(&j, "size", len);
    json_string(&j, "kind", "catalog");
    json_bool(&j, "parsed", pr == HPM_OK);
    if (verify) {
      json_bool(&j, "valid", r == HPM_OK);
      json_string(&j, "result", result_id(r));
      json_string(&j, "message", r == HPM_OK ? "valid" : why);
      json_string(&j, "field", r == HPM_OK || !d.field[0] ? NULL : d.field);
      json_string(&j, "detail", r == HPM_OK || !d.detail[0] ? NULL : d.detail);
      json_time(&j, "checked_at", at);
      json_u64(&j, "threshold", threshold);
      json_u64(&j, "trusted_signers", c.trusted_signers);
    } else {
      json_null(&j, "valid");
      json_string(&j, "result", result_id(pr));
      json_string(&j, "message", pr == HPM_OK ? "parsed, not verified (no --trust)" : pwhy);
    }
    json_begin_array(&j, "signatures");
    for (size_t i = 0; i < sigs->signature_count && i < HPM_MAX_SIGNATURES; i++) {
      json_begin_object(&j, NULL);
      json_u64(&j, "index", i);
      json_string(&j, "alg", hpm_alg_to_string(sigs->signatures[i].alg));
      json_hex(&j, "key_id", sigs->signatures[i].key_id, HPM_DIGEST_LEN);
      json_string(&j, "status", sig_status_id(sigs->signatures[i].status));
      json_end_object(&j);
    }
    json_end_array(&j);
    if (pr == HPM_OK) {
      json_begin_object(&j, "catalog");
      catalog_json_body(&j, &shown);
      json_end_object(&j);
    } else {
      json_null(&j, "catalog");
    }
    json_end_object(&j);
    json_finish(&j);
  } else {
    if (pr == HPM_OK) {
      printf("%s: catalog, serial %llu, %zu entr%s\n", file, (unsigned long long)shown.serial,
             shown.count, shown.count == 1 ? "y" : "ies");
      printf("issued %s, expires %s, compat %s\n", utc_string(shown.issued, ts),
             utc_string(shown.expires, ts2), shown.compat);
      printf("digest: %s\n", hex32(shown.digest, hex));
    } else {
      printf("%s: catalog (malformed)\n", file);
    }
    for (size_t i = 0; i < sigs->signature_count && i < HPM_MAX_SIGNATURES; i++)
      printf("signature %zu: %s key %s: %s\n", i, hpm_alg_to_string(sigs->signatures[i].alg),
             hex32(sigs->signatures[i].key_id, hex), sig_status_text(sigs->signatures[i].status));
    for (size_t i = 0; i < shown.count; i++) entry_text(i, &shown.entries[i]);
    if (verify && r == HPM_OK)
      printf("%s: OK: valid catalog, %u distinct trusted signer(s), threshold %u, not expired at %s\n",
             file, c.trusted_signers, threshold, utc_string(at, ts));
    else if (verify)
      printf("%s: FAILED (%s)\n", file, result_id(r));
    else if (pr == HPM_OK)
      printf("not verified: pass --trust PUB to check the signatures and the expiry\n");
  }
  if (pr != HPM_OK) {
    msg(cmd, "%s: not a valid catalog: %s", file, pwhy);
    rc = exit_for(pr);
  } else if (verify && r != HPM_OK) {
    msg(cmd, "%s: %s", file, why);
    rc = exit_for(r);
  } else {
    rc = EXIT_VALID;
  }
  hpm_catalog_free(&c);
  hpm_catalog_free(&shown);
  return rc;
}

/* ---- hpm-sign catalog --------------------------------------------------- */

static const char catalog_help[] =
    "Usage: hpm-sign catalog --key KEY.pem|--unsigned --serial N --expires TIME\n"
    "                        [--timestamp TIME] [--compat STR] [--trust PUB]...\n"
    "                        --entry FILE.hpm[:KEY=VALUE,...]... --out FILE [--json]\n"
    "Build and sign a catalog (container kind 3) listing the given baselines and\n"
    "hotpatches.  Kind, version, SVN, digest, target baseline, sequence, size and the\n"
    "file's SHA-256 are read from each container; only what a container does not say\n"
    "is given after the colon:\n"
    "\n"
    "  class=critical|security|other   classification (required for baselines; a\n"
    "                                  hotpatch's own classification must match if given)\n"
    "  released=TIME                   release time (default: the container's timestamp)\n"
    "  url=PATH                        download path relative to the catalog (default:\n"
    "                                  the file name of FILE); no scheme, no '..'\n"
    "  id=ID                           release ID (hotpatch: its own ID, must match if\n"
    "                                  given; baseline: default its version)\n"
    "  release=planned|unplanned       hotpatches only (default planned); a baseline's\n"
    "                                  own release must match if given\n"
    "\n"
    "  -k, --key KEY.pem      private signing key (P-256 or P-384)\n"
    "      --unsigned         write it unsigned (sign with 'digest' + 'attach')\n"
    "      --serial N         catalog serial, 1..2^64-1; hosts refuse a serial lower than\n"
    "                         the highest they have seen: always increase it\n"
    "      --expires TIME     hosts refuse the catalog from this instant on; or +DAYS\n"
    "                         after --timestamp (e.g. +30)\n"
    "      --timestamp TIME   issue time (default: $SOURCE_DATE_EPOCH, else now)\n"
    "      --compat STR       compatibility string (default " DEFAULT_COMPAT ")\n"
    "      --trust PUB        verify every entry's container with this key first\n"
    "                         (repeatable); without it entries are only parsed\n"
    "      --entry SPEC       one release (repeatable, at most 4096)\n"
    "  -o, --out FILE         catalog to write (replaced atomically)\n"
    "      --json             print the catalog written as JSON\n"
    "  -h, --help             show this help\n"
    "\n"
    "TIME is seconds since 1970-01-01 UTC, YYYY-MM-DD (midnight UTC) or\n"
    "YYYY-MM-DDTHH:MM:SSZ.\n"
    "\n"
    "Exit status: 0 written, 1 refused (an entry does not verify, duplicates),\n"
    "2 usage error, 3 I/O error.\n"
    "\n"
    "Example:\n"
    "  hpm-sign catalog --key release.pem --serial 12 --expires 2027-01-01 \\\n"
    "      --entry base-2026.1.hpm:class=security,released=2026-01-10,url=baselines/base-2026.1.hpm \\\n"
    "      --entry hp-2026.1-1.hpm:released=2026-02-10,url=hotpatches/hp-2026.1-1.hpm \\\n"
    "      --out catalog.hpm\n";

enum { O_SERIAL = 256, O_EXPIRES, O_TIMESTAMP, O_COMPAT, O_TRUST, O_ENTRY, O_UNSIGNED, O_JSON };

/* "FILE[:k=v,...]": the options start at the first ':' followed by a
 * lower-case word and '=' (a time value's own ':' never is). */
static const char *spec_options(const char *spec) {
  for (const char *p = strchr(spec, ':'); p; p = strchr(p + 1, ':')) {
    const char *q = p + 1;
    while (*q >= 'a' && *q <= 'z') q++;
    if (q > p + 1 && *q == '=') return p;
  }
  return NULL;
}

static int word_index(const char *v, const char *const *words, int n) {
  for (int i = 0; i < n; i++)
    if (!strcmp(v, words[i])) return i;
  return -1;
}

/* Fill e from the container at spec's file and spec's options. */
static int make_entry(const char *cmd, const char *spec, const trust_set *t, unsigned threshold,
                      hpm_catalog_entry *e) {
  static const char *const classes[] = {"critical", "security", "other"};
  static const char *const releases[] = {"planned", "unplanned"};
  const char *opts = spec_options(spec), *why;
  char file[4096], *o = NULL, *save = NULL, *kv;
  const char *class_s = NULL, *released_s = NULL, *url_s = NULL, *id_s = NULL, *release_s = NULL;
  uint8_t *buf = NULL;
  size_t len = 0, flen = opts ? (size_t)(opts - spec) : strlen(spec);
  hpm_manifest *m = NULL;
  hpm_diag d;
  hpm_result r;
  int rc = 0;

  memset(e, 0, sizeof *e);
  if (flen == 0 || flen >= sizeof file) return usage_error(cmd, "--entry '%s': expected FILE.hpm[:KEY=VALUE,...]", spec);
  memcpy(file, spec, flen);
  file[flen] = '\0';
  if (opts) {
    o = strdup(opts + 1);
    if (!o) {
      msg(cmd, "out of memory");
      return EXIT_IOERR;
    }
    for (kv = strtok_r(o, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
      char *eq = strchr(kv, '=');
      const char **slot = NULL;
      if (eq) {
        *eq = '\0';
        if (!strcmp(kv, "class")) slot = &class_s;
        else if (!strcmp(kv, "released")) slot = &released_s;
        else if (!strcmp(kv, "url")) slot = &url_s;
        else if (!strcmp(kv, "id")) slot = &id_s;
        else if (!strcmp(kv, "release")) slot = &release_s;
      }
      if (!slot) {
        rc = usage_error(cmd, "--entry %s: unknown option '%s' (known: class, released, url, id, release)", file, kv);
        goto done;
      }
      if (*slot) {
        rc = usage_error(cmd, "--entry %s: %s= given twice", file, kv);
        goto done;
      }
      *slot = eq + 1;
    }
  }

  rc = read_container(cmd, file, &buf, &len);
  if (rc) goto done;
  m = calloc(1, sizeof *m);
  if (!m) {
    msg(cmd, "out of memory");
    rc = EXIT_IOERR;
    goto done;
  }
  if (t->count) {
    hpm_trust trust = {.keys = t->keys, .count = t->count, .threshold = threshold};
    file_loader ld;
    hpm_ops ops;
    hpm_kind k = header_kind(buf, len);
    loader_init(&ld, file);
    ops = loader_ops(&ld);
    r = hpm_container_verify(buf, len, k == HPM_KIND_HOTPATCH ? k : HPM_KIND_BASELINE, &trust, &ops, m, &d);
    loader_free(&ld);
  } else {
    r = hpm_container_parse_unverified(buf, len, m, &d);
  }
  if (r != HPM_OK) {
    msg(cmd, "--entry %s: not a valid baseline or hotpatch: %s: %s (%s)", file, d.field,
        d.detail[0] ? d.detail : hpm_result_to_string(r), hpm_result_to_string(r));
    rc = EXIT_REFUSED;
    goto done;
  }

  e->kind = m->kind;
  memcpy(e->version, m->version, sizeof e->version);
  e->svn = m->svn;
  memcpy(e->digest, m->digest, HPM_DIGEST_LEN);
  e->size = len;
  if (hpm_sha256(buf, len, e->file_sha256) != HPM_OK) {
    msg(cmd, "--entry %s: hashing failed", file);
    rc = EXIT_IOERR;
    goto done;
  }
  e->release_time = m->timestamp;
  if (released_s && !parse_time(released_s, &e->release_time)) {
    rc = usage_error(cmd, "--entry %s: released='%s': expected seconds since 1970, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ",
                     file, released_s);
    goto done;
  }
  if (m->kind == HPM_KIND_HOTPATCH) {
    memcpy(e->target_baseline, m->target_baseline, HPM_DIGEST_LEN);
    e->sequence = m->sequence;
    e->classification = m->classification;
    memcpy(e->id, m->id, sizeof e->id);
    if (class_s && word_index(class_s, classes, 3) + 1 != (int)m->classification) {
      rc = usage_error(cmd, "--entry %s: class=%s, but the hotpatch says %s; drop class= or fix it",
                       file, class_s, hpm_classification_to_string(m->classification));
      goto done;
    }
    if (id_s && strcmp(id_s, m->id)) {
      rc = usage_error(cmd, "--entry %s: id=%s, but the hotpatch's ID is %s; drop id= or fix it", file, id_s, m->id);
      goto done;
    }
    e->release = HPM_RELEASE_PLANNED;
    if (release_s) {
      int i = word_index(release_s, releases, 2);
      if (i < 0) {
        rc = usage_error(cmd, "--entry %s: release='%s': expected planned or unplanned", file, release_s);
        goto done;
      }
      e->release = (hpm_release)(i + 1);
    }
  } else {
    int i;
    e->release = m->release;
    if (release_s && word_index(release_s, releases, 2) + 1 != (int)m->release) {
      rc = usage_error(cmd, "--entry %s: release=%s, but the baseline says %s; drop release= or fix it",
                       file, release_s, hpm_release_to_string(m->release));
      goto done;
    }
    if (!class_s) {
      rc = usage_error(cmd, "--entry %s: a baseline needs class=critical|security|other", file);
      goto done;
    }
    i = word_index(class_s, classes, 3);
    if (i < 0) {
      rc = usage_error(cmd, "--entry %s: class='%s': expected critical, security or other", file, class_s);
      goto done;
    }
    e->classification = (hpm_classification)(i + 1);
    if (!id_s) id_s = m->version;
    if ((why = check_id(id_s))) {
      rc = usage_error(cmd, "--entry %s: release ID '%s' %s; give id=", file, id_s, why);
      goto done;
    }
    snprintf(e->id, sizeof e->id, "%s", id_s);
  }
  if (!url_s) {
    const char *slash = strrchr(file, '/');
    url_s = slash ? slash + 1 : file;
  }
  if ((why = hpm_catalog_url_problem(url_s))) {
    rc = usage_error(cmd, "--entry %s: url '%s' %s", file, url_s, why);
    goto done;
  }
  snprintf(e->url, sizeof e->url, "%s", url_s);
done:
  free(o);
  free(m);
  free(buf);
  return rc;
}

int cmd_catalog(int argc, char **argv) {
  static const struct option opts[] = {
      {"key", required_argument, NULL, 'k'},
      {"unsigned", no_argument, NULL, O_UNSIGNED},
      {"serial", required_argument, NULL, O_SERIAL},
      {"expires", required_argument, NULL, O_EXPIRES},
      {"timestamp", required_argument, NULL, O_TIMESTAMP},
      {"compat", required_argument, NULL, O_COMPAT},
      {"trust", required_argument, NULL, O_TRUST},
      {"entry", required_argument, NULL, O_ENTRY},
      {"out", required_argument, NULL, 'o'},
      {"json", no_argument, NULL, O_JSON},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  const char *cmd = "catalog", *key = NULL, *serial_s = NULL, *expires_s = NULL, *ts_s = NULL;
  const char *compat = NULL, *out = NULL, *why, *trust_paths[HPM_MAX_SIGNATURES];
  const char **specs = NULL;
  size_t nspecs = 0, ntrust = 0;
  bool unsigned_ = false, as_json = false;
  hpm_catalog cat;
  trust_set *t = NULL;
  mbedtls_pk_context pk;
  hpm_pubkey pub;
  uint8_t *buf = NULL;
  size_t len = 0;
  hpmh_status e;
  int c, rc;

  memset(&cat, 0, sizeof cat);
  specs = calloc(HPM_CATALOG_MAX_ENTRIES + 1, sizeof *specs);
  if (!specs) {
    msg(cmd, "out of memory");
    return EXIT_IOERR;
  }
  while ((c = getopt_long(argc, argv, ":k:o:h", opts, NULL)) != -1) {
    switch (c) {
#define ONCE(var, name)                                 \
  if (var) { free(specs); return twice(cmd, name); }    \
  var = optarg;                                         \
  break
      case 'k': ONCE(key, "--key");
      case O_SERIAL: ONCE(serial_s, "--serial");
      case O_EXPIRES: ONCE(expires_s, "--expires");
      case O_TIMESTAMP: ONCE(ts_s, "--timestamp");
      case O_COMPAT: ONCE(compat, "--compat");
      case 'o': ONCE(out, "--out");
#undef ONCE
      case O_UNSIGNED: unsigned_ = true; break;
      case O_JSON: as_json = true; break;
      case O_TRUST:
        if (ntrust == HPM_MAX_SIGNATURES) {
          free(specs);
          return usage_error(cmd, "too many --trust keys (at most 16)");
        }
        trust_paths[ntrust++] = optarg;
        break;
      case O_ENTRY:
        if (nspecs == HPM_CATALOG_MAX_ENTRIES) {
          free(specs);
          return usage_error(cmd, "too many --entry (a catalog lists at most 4096)");
        }
        specs[nspecs++] = optarg;
        break;
      case 'h': free(specs); fputs(catalog_help, stdout); return EXIT_VALID;
      default: free(specs); return bad_option(cmd, c, argv);
    }
  }
  mbedtls_pk_init(&pk);
  rc = EXIT_USAGE;
  if (optind < argc) { rc = usage_error(cmd, "unexpected argument '%s' (releases are given with --entry)", argv[optind]); goto done; }
  if (!key && !unsigned_) { rc = usage_error(cmd, "missing --key KEY.pem (the private signing key), or --unsigned to sign later"); goto done; }
  if (key && unsigned_) { rc = usage_error(cmd, "--key and --unsigned exclude each other"); goto done; }
  if (!serial_s) { rc = usage_error(cmd, "missing --serial N (higher than the last catalog's)"); goto done; }
  if (!parse_u64(serial_s, &cat.serial) || cat.serial == 0) { rc = usage_error(cmd, "--serial '%s': expected a number 1..18446744073709551615", serial_s); goto done; }
  if (!expires_s) { rc = usage_error(cmd, "missing --expires TIME (e.g. --expires 2027-01-01 or --expires +30)"); goto done; }
  if (!out) { rc = usage_error(cmd, "missing --out FILE (the catalog to write)"); goto done; }
  if (!*out) { rc = usage_error(cmd, "--out: empty file name"); goto done; }
  if (!compat) compat = DEFAULT_COMPAT;
  if ((why = check_printable(compat, HPM_COMPAT_MAX))) { rc = usage_error(cmd, "--compat '%s' %s", compat, why); goto done; }
  snprintf(cat.compat, sizeof cat.compat, "%s", compat);
  if (ts_s) {
    if (!parse_time(ts_s, &cat.issued)) { rc = usage_error(cmd, "--timestamp '%s': expected seconds since 1970, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ", ts_s); goto done; }
  } else {
    rc = release_timestamp(cmd, NULL, &cat.issued);
    if (rc) goto done;
    rc = EXIT_USAGE;
  }
  if (expires_s[0] == '+') {
    uint64_t days;
    if (!parse_u64(expires_s + 1, &days) || days == 0 || days > 36500) { rc = usage_error(cmd, "--expires '%s': +DAYS must be 1..36500", expires_s); goto done; }
    cat.expires = cat.issued + days * 86400;
  } else if (!parse_time(expires_s, &cat.expires)) {
    rc = usage_error(cmd, "--expires '%s': expected seconds since 1970, YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or +DAYS", expires_s);
    goto done;
  }
  if (cat.expires <= cat.issued) {
    char a[32], b[32];
    rc = usage_error(cmd, "--expires %s is not after the issue time %s", utc_string(cat.expires, a), utc_string(cat.issued, b));
    goto done;
  }
  for (size_t i = 0; i < nspecs; i++) {
    const char *o = spec_options(specs[i]);
    size_t n = o ? (size_t)(o - specs[i]) : strlen(specs[i]);
    if (strlen(out) == n && !strncmp(out, specs[i], n)) { rc = usage_error(cmd, "--out %s is also an --entry; choose another --out", out); goto done; }
  }

  t = calloc(1, sizeof *t);
  cat.entries = calloc(nspecs ? nspecs : 1, sizeof *cat.entries);
  if (!t || !cat.entries) {
    msg(cmd, "out of memory");
    rc = EXIT_IOERR;
    goto done;
  }
  for (size_t i = 0; i < ntrust; i++) {
    rc = trust_add(cmd, t, trust_paths[i]);
    if (rc) goto done;
  }
  if (key) {
    rc = load_private_key(cmd, key, &pk, &pub);
    if (rc) goto done;
  }
  for (size_t i = 0; i < nspecs; i++) {
    hpm_catalog_entry *en = &cat.entries[i];
    rc = make_entry(cmd, specs[i], t, 1, en);
    if (rc) goto done;
    /* What core would refuse, said in terms of the command line. */
    for (size_t j = 0; j < i; j++) {
      const hpm_catalog_entry *o = &cat.entries[j];
      const char *what = !strcmp(o->id, en->id)                                ? "the same ID"
                         : !memcmp(o->digest, en->digest, HPM_DIGEST_LEN)        ? "the same container"
                         : !strcmp(o->url, en->url)                              ? "the same url"
                         : en->kind == HPM_KIND_HOTPATCH && o->kind == en->kind &&
                                   o->sequence == en->sequence &&
                                   !memcmp(o->target_baseline, en->target_baseline, HPM_DIGEST_LEN)
                             ? "the same target baseline and sequence"
                             : NULL;
      if (what) {
        msg(cmd, "--entry %s and --entry %s have %s (%s); list each release once", specs[j], specs[i], what,
            en->id);
        rc = EXIT_REFUSED;
        goto done;
      }
    }
    cat.count = i + 1;
  }
  if (hpmw_catalog_build(&cat, &buf, &len, &e)) {
    msg(cmd, "%s", e.detail);
    rc = EXIT_REFUSED;
    goto done;
  }
  if (key) {
    hpm_trust self = {.keys = &pub, .count = 1, .threshold = 1};
    hpm_catalog check;
    hpm_diag d;
    hpm_result r;
    if (hpmw_sign_container(&buf, &len, &pk, &e)) {
      msg(cmd, "signing failed: %s", e.detail);
      rc = EXIT_IOERR;
      goto done;
    }
    r = hpm_catalog_verify(buf, len, &self, cat.issued, &check, &d);
    hpm_catalog_free(&check);
    if (r != HPM_OK) {
      msg(cmd, "the catalog just built does not verify (%s: %s: %s); nothing was written", d.field,
          d.detail, hpm_result_to_string(r));
      rc = EXIT_REFUSED;
      goto done;
    }
  }
  rc = write_output(cmd, out, buf, len, 0644, 0);
  if (rc) goto done;
  {
    hpm_catalog shown;
    hpm_diag d;
    char hex[HEX_DIGEST], a[32];
    if (hpm_catalog_parse_unverified(buf, len, &shown, &d) == HPM_OK) {
      if (as_json) {
        json j;
        json_init(&j, stdout);
        json_begin_object(&j, NULL);
        json_string(&j, "file", out);
        json_u64(&j, "size", len);
        json_bool(&j, "signed", key != NULL);
        if (key)
          json_hex(&j, "key_id", pub.key_id, HPM_DIGEST_LEN);
        else
          json_null(&j, "key_id");
        json_begin_object(&j, "catalog");
        catalog_json_body(&j, &shown);
        json_end_object(&j);
        json_end_object(&j);
        json_finish(&j);
      } else {
        printf("wrote %s: catalog serial %llu, %zu entr%s, expires %s, %zu bytes\n", out,
               (unsigned long long)shown.serial, shown.count, shown.count == 1 ? "y" : "ies",
               utc_string(shown.expires, a), len);
        printf("digest: %s\n", hex32(shown.digest, hex));
        if (key)
          printf("signed by key %s (%s)\n", hex32(pub.key_id, hex), hpm_alg_to_string(pub.alg));
        else
          printf("unsigned: sign it with 'hpm-sign digest' + 'hpm-sign attach'\n");
      }
      hpm_catalog_free(&shown);
    }
  }
done:
  mbedtls_pk_free(&pk);
  free(cat.entries);
  free(t);
  free(buf);
  free(specs);
  return rc;
}
