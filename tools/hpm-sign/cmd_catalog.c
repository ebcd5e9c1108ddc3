/* SPDX-License-Identifier: MIT */
/*
 * hpm-sign catalog: build and sign a catalog from the real containers, so
 * that kind, version, SVN, digests, target, sequence, size and file hash are
 * read from each container and cannot be mistyped.  (The catalog view of
 * 'verify' and 'inspect' is show_catalog.c.)
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hpm-sign.h"
#include "hpm/catalog.h"
#include "hpmw_catalog.h"

/* ---- hpm-sign catalog --------------------------------------------------- */

static const char catalog_help[] =
    "Usage: hpm-sign catalog --key KEY.pem|URI|--unsigned --serial N --expires TIME\n"
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
    "                                  FILE's path relative to the directory of --out,\n"
    "                                  which FILE must then be inside); no scheme, no '..'\n"
    "  id=ID                           release ID (hotpatch: its own ID, must match if\n"
    "                                  given; baseline: default its version)\n"
    "  release=planned|unplanned       hotpatches only (default planned); a baseline's\n"
    "                                  own release must match if given\n"
    "\n"
    "  -k, --key KEY.pem|URI  private signing key (P-256 or P-384): a file or a\n"
    "                         pkcs11: URI (as for 'baseline'); repeatable\n"
    "      --unsigned         write it unsigned (sign with 'digest' + 'attach')\n"
    "      --serial N         catalog serial, 1..2^64-1; hosts refuse a serial lower than\n"
    "                         the highest they have seen: always increase it\n"
    "      --expires TIME     hosts refuse the catalog from this instant on; or +DAYS\n"
    "                         after --timestamp (e.g. +30); a time already past is\n"
    "                         refused\n"
    "      --allow-expired    write it even when --expires is already past (warns)\n"
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

/* The KEY=VALUE options of one --entry. */
typedef struct {
  char file[4096];
  const char *class_s, *released_s, *url_s, *id_s, *release_s;
  char *opts; /* the copy they point into */
} entry_spec;

static const char *const entry_keys[] = {"class", "released", "url", "id", "release"};
static const char *const release_words[] = {"planned", "unplanned"};

static int parse_entry_spec(const char *cmd, const char *spec, entry_spec *es) {
  const char *opts = spec_options(spec), **slots[] = {&es->class_s, &es->released_s, &es->url_s, &es->id_s,
                                                      &es->release_s};
  size_t flen = opts ? (size_t)(opts - spec) : strlen(spec);
  char *save = NULL, *kv;
  memset(es, 0, sizeof *es);
  if (flen == 0 || flen >= sizeof es->file) return usage_error(cmd, "--entry '%s': expected FILE.hpm[:KEY=VALUE,...]", spec);
  memcpy(es->file, spec, flen);
  if (!opts) return 0;
  if (!(es->opts = strdup(opts + 1))) return out_of_memory(cmd);
  for (kv = strtok_r(es->opts, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
    char *eq = strchr(kv, '=');
    int k = -1;
    if (eq) {
      *eq = '\0';
      k = word_index(kv, entry_keys, 5);
    }
    if (k < 0)
      return usage_error(cmd, "--entry %s: unknown option '%s' (known: class, released, url, id, release)", es->file, kv);
    if (*slots[k]) return usage_error(cmd, "--entry %s: %s= given twice", es->file, kv);
    *slots[k] = eq + 1;
  }
  return 0;
}

/* Read the container of an entry: verified with the --trust keys, else
 * only parsed.  *m gets the manifest. */
static int read_entry(const char *cmd, const char *file, const trust_set *t, uint8_t **buf, size_t *len,
                      hpm_manifest *m) {
  hpm_diag d;
  hpm_result r;
  int rc = read_container(cmd, file, buf, len);
  if (rc) return rc;
  if (t->count) {
    hpm_trust trust = trust_of(t, 1);
    hpmh_loader *ld = calloc(1, sizeof *ld);
    hpm_ops ops;
    hpm_kind k = header_kind(*buf, *len);
    if (!ld) return out_of_memory(cmd);
    hpmh_loader_init(ld, file, HPMH_LOAD_ANY_SIZE);
    ops = hpmh_loader_ops(ld);
    r = hpm_container_verify(*buf, *len, k == HPM_KIND_HOTPATCH ? k : HPM_KIND_BASELINE, &trust, &ops, m, &d);
    hpmh_loader_free(ld);
    free(ld);
  } else {
    r = hpm_container_parse_unverified(*buf, *len, m, &d);
  }
  if (r != HPM_OK) {
    msg(cmd, "--entry %s: not a valid baseline or hotpatch: %s: %s (%s)", file, d.field,
        d.detail[0] ? d.detail : hpm_result_to_string(r), hpm_result_to_string(r));
    return EXIT_REFUSED;
  }
  return 0;
}

/* A hotpatch says its classification and ID; class= and id= may only
 * repeat them.  release= is the catalog's word. */
static int hotpatch_entry(const char *cmd, const entry_spec *es, const hpm_manifest *m, hpm_catalog_entry *e) {
  int i;
  memcpy(e->target_baseline, m->target_baseline, HPM_DIGEST_LEN);
  e->sequence = m->sequence;
  e->classification = m->classification;
  memcpy(e->id, m->id, sizeof e->id);
  if (es->class_s && word_index(es->class_s, classification_words, 3) + 1 != (int)m->classification)
    return usage_error(cmd, "--entry %s: class=%s, but the hotpatch says %s; drop class= or fix it", es->file,
                       es->class_s, hpm_classification_to_string(m->classification));
  if (es->id_s && strcmp(es->id_s, m->id))
    return usage_error(cmd, "--entry %s: id=%s, but the hotpatch's ID is %s; drop id= or fix it", es->file,
                       es->id_s, m->id);
  e->release = HPM_RELEASE_PLANNED;
  if (!es->release_s) return 0;
  if ((i = word_index(es->release_s, release_words, 2)) < 0)
    return usage_error(cmd, "--entry %s: release='%s': expected planned or unplanned", es->file, es->release_s);
  e->release = (hpm_release)(i + 1);
  return 0;
}

/* A baseline says its release; class= is the catalog's word, id= defaults
 * to its version. */
static int baseline_entry(const char *cmd, const entry_spec *es, const hpm_manifest *m, hpm_catalog_entry *e) {
  const char *id_s = es->id_s ? es->id_s : m->version, *why;
  int i;
  e->release = m->release;
  if (es->release_s && word_index(es->release_s, release_words, 2) + 1 != (int)m->release)
    return usage_error(cmd, "--entry %s: release=%s, but the baseline says %s; drop release= or fix it", es->file,
                       es->release_s, hpm_release_to_string(m->release));
  if (!es->class_s) return usage_error(cmd, "--entry %s: a baseline needs class=critical|security|other", es->file);
  if ((i = word_index(es->class_s, classification_words, 3)) < 0)
    return usage_error(cmd, "--entry %s: class='%s': expected critical, security or other", es->file, es->class_s);
  e->classification = (hpm_classification)(i + 1);
  if ((why = check_id(id_s))) return usage_error(cmd, "--entry %s: release ID '%s' %s; give id=", es->file, id_s, why);
  snprintf(e->id, sizeof e->id, "%s", id_s);
  return 0;
}

/* Fill e from the container at spec's file and spec's options. */
/* The default url of an entry: its path relative to the catalog's
 * directory out_dir (a real path), where hosts resolve urls.  NULL with a
 * message when the file is not inside it. */
static const char *default_url(const char *cmd, const char *file, const char *out_dir, char *buf, size_t n) {
  char real[PATH_MAX];
  size_t dl = strlen(out_dir);
  if (!realpath(file, real)) {
    msg(cmd, "--entry %s: %s", file, strerror(errno));
    return NULL;
  }
  if (strncmp(real, out_dir, dl) || (dl > 1 && real[dl] != '/')) {
    usage_error(cmd,
                "--entry %s is not inside the catalog's directory %s, where hosts look for it; give "
                "url=PATH (relative to the catalog) or write the catalog beside the release files",
                file, out_dir);
    return NULL;
  }
  snprintf(buf, n, "%s", real + dl + (dl > 1));
  return buf;
}

static int make_entry(const char *cmd, const char *spec, const trust_set *t, const char *out_dir,
                      hpm_catalog_entry *e) {
  entry_spec es;
  const char *url_s, *why;
  char url_buf[PATH_MAX];
  uint8_t *buf = NULL;
  size_t len = 0;
  hpm_manifest *m = NULL;
  int rc;

  memset(e, 0, sizeof *e);
  if ((rc = parse_entry_spec(cmd, spec, &es))) goto done;
  if (!(m = calloc(1, sizeof *m))) {
    rc = out_of_memory(cmd);
    goto done;
  }
  if ((rc = read_entry(cmd, es.file, t, &buf, &len, m))) goto done;
  e->kind = m->kind;
  memcpy(e->version, m->version, sizeof e->version);
  e->svn = m->svn;
  memcpy(e->digest, m->digest, HPM_DIGEST_LEN);
  e->size = len;
  if (hpm_sha256(buf, len, e->file_sha256) != HPM_OK) {
    msg(cmd, "--entry %s: hashing failed", es.file);
    rc = EXIT_IOERR;
    goto done;
  }
  e->release_time = m->timestamp;
  if (es.released_s && !parse_time(es.released_s, &e->release_time)) {
    rc = usage_error(cmd, "--entry %s: released='%s': expected seconds since 1970, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ",
                     es.file, es.released_s);
    goto done;
  }
  rc = m->kind == HPM_KIND_HOTPATCH ? hotpatch_entry(cmd, &es, m, e) : baseline_entry(cmd, &es, m, e);
  if (rc) goto done;
  url_s = es.url_s;
  if (!url_s && !(url_s = default_url(cmd, es.file, out_dir, url_buf, sizeof url_buf))) {
    rc = EXIT_USAGE;
    goto done;
  }
  if ((why = hpm_catalog_url_problem(url_s))) {
    rc = usage_error(cmd, "--entry %s: url '%s' %s", es.file, url_s, why);
    goto done;
  }
  snprintf(e->url, sizeof e->url, "%.*s", (int)sizeof e->url - 1, url_s); /* checked: it fits */
done:
  free(es.opts);
  free(m);
  free(buf);
  return rc;
}

/* What core would refuse, said in terms of the command line: entry i
 * repeats an earlier one. */
static int check_unique(const char *cmd, const hpm_catalog *cat, size_t i, const char *const *specs) {
  const hpm_catalog_entry *en = &cat->entries[i];
  for (size_t j = 0; j < i; j++) {
    const hpm_catalog_entry *o = &cat->entries[j];
    const char *what = !strcmp(o->id, en->id)                                ? "the same ID"
                       : !memcmp(o->digest, en->digest, HPM_DIGEST_LEN)        ? "the same container"
                       : !strcmp(o->url, en->url)                              ? "the same url"
                       : en->kind == HPM_KIND_HOTPATCH && o->kind == en->kind &&
                                 o->sequence == en->sequence &&
                                 !memcmp(o->target_baseline, en->target_baseline, HPM_DIGEST_LEN)
                           ? "the same target baseline and sequence"
                           : NULL;
    if (what) {
      msg(cmd, "--entry %s and --entry %s have %s (%s); list each release once", specs[j], specs[i], what, en->id);
      return EXIT_REFUSED;
    }
  }
  return 0;
}

/* --timestamp, --expires (or +DAYS after it), and that one follows the other. */
static int catalog_times(const char *cmd, const char *ts_s, const char *expires_s, bool allow_expired,
                         hpm_catalog *cat) {
  char a[HPMH_UTC_LEN], b[HPMH_UTC_LEN];
  int rc;
  if (ts_s && !parse_time(ts_s, &cat->issued))
    return usage_error(cmd, "--timestamp '%s': expected seconds since 1970, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ", ts_s);
  if (!ts_s && (rc = release_timestamp(cmd, NULL, &cat->issued))) return rc;
  if (expires_s[0] == '+') {
    uint64_t days;
    if (!parse_u64(expires_s + 1, &days) || days == 0 || days > 36500)
      return usage_error(cmd, "--expires '%s': +DAYS must be 1..36500", expires_s);
    cat->expires = cat->issued + days * 86400;
  } else if (!parse_time(expires_s, &cat->expires)) {
    return usage_error(cmd, "--expires '%s': expected seconds since 1970, YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or +DAYS", expires_s);
  }
  if (cat->expires <= cat->issued)
    return usage_error(cmd, "--expires %s is not after the issue time %s", hpmh_utc(cat->expires, a), hpmh_utc(cat->issued, b));
  /* the real clock, not SOURCE_DATE_EPOCH: what hosts will compare with */
  uint64_t now = (uint64_t)time(NULL);
  if (cat->expires <= now) {
    if (!allow_expired)
      return usage_error(cmd,
                         "--expires %s is already past (now %s): every host would refuse this catalog; give a later "
                         "--expires (+DAYS counts from --timestamp/SOURCE_DATE_EPOCH), or --allow-expired to write it "
                         "anyway",
                         hpmh_utc(cat->expires, a), hpmh_utc(now, b));
    msg(cmd, "warning: the catalog expired at %s (now %s); hosts will refuse it (--allow-expired)",
        hpmh_utc(cat->expires, a), hpmh_utc(now, b));
  }
  return 0;
}

/* Sign the catalog built in *buf and check it verifies with pub. */
static int sign_catalog(const char *cmd, uint8_t **buf, size_t *len, signer_set *s, uint64_t issued) {
  hpm_trust self = signers_trust(s);
  hpm_catalog check;
  hpm_diag d;
  hpm_result r;
  hpmh_status e;
  if (signers_sign(s, buf, len, &e)) {
    msg(cmd, "signing failed: %s", e.detail);
    return EXIT_IOERR;
  }
  r = hpm_catalog_verify(*buf, *len, &self, issued, &check, &d);
  hpm_catalog_free(&check);
  if (r != HPM_OK) {
    msg(cmd, "the catalog just built does not verify (%s: %s: %s); nothing was written", d.field, d.detail,
        hpm_result_to_string(r));
    return EXIT_REFUSED;
  }
  return 0;
}

/* What was written, as text or JSON. */
static void print_written(const char *out, const uint8_t *buf, size_t len, const signer_set *s, bool as_json) {
  hpm_catalog shown;
  hpm_diag d;
  char hex[HEX_DIGEST], a[HPMH_UTC_LEN];
  if (hpm_catalog_parse_unverified(buf, len, &shown, &d) != HPM_OK) return;
  if (as_json) {
    cJSON *o = cJSON_CreateObject();
    hpmh_json_add_str(o, "file", out);
    hpmh_json_add_u64(o, "size", len);
    cJSON *ids = cJSON_CreateArray();
    hpmh_json_add_bool(o, "signed", s->n > 0);
    hpmh_json_add(o, "key_id", s->n ? hpmh_json_hex(s->pubs[0].key_id, HPM_DIGEST_LEN) : cJSON_CreateNull());
    for (size_t i = 0; i < s->n; i++) cJSON_AddItemToArray(ids, hpmh_json_hex(s->pubs[i].key_id, HPM_DIGEST_LEN));
    hpmh_json_add(o, "key_ids", ids);
    catalog_json_body(hpmh_json_add(o, "catalog", cJSON_CreateObject()), &shown);
    hpmh_json_print(stdout, o);
    cJSON_Delete(o);
  } else {
    printf("wrote %s: catalog serial %llu, %zu entr%s, expires %s, %zu bytes\n", out,
           (unsigned long long)shown.serial, shown.count, shown.count == 1 ? "y" : "ies",
           hpmh_utc(shown.expires, a), len);
    printf("digest: %s\n", hex32(shown.digest, hex));
    for (size_t i = 0; i < s->n; i++)
      printf("signed by key %s (%s)\n", hex32(s->pubs[i].key_id, hex), hpm_alg_to_string(s->pubs[i].alg));
    if (!s->n)
      printf("unsigned: sign it with 'hpm-sign digest' + 'hpm-sign attach'\n");
  }
  hpm_catalog_free(&shown);
}

int cmd_catalog(int argc, char **argv) {
  const char *cmd = "catalog", *serial_s = NULL, *expires_s = NULL, *why, *trust_v[HPM_MAX_SIGNATURES];
  char out_dir[PATH_MAX];
  const char **specs = calloc(HPM_CATALOG_MAX_ENTRIES + 1, sizeof *specs);
  opt_list trust_paths = {trust_v, 0, HPM_MAX_SIGNATURES, "too many --trust keys (at most 16)"};
  opt_list entries = {specs, 0, HPM_CATALOG_MAX_ENTRIES, "too many --entry (a catalog lists at most 4096)"};
  bool as_json = false, allow_expired = false;
  release_args r = RELEASE_ARGS_INIT(r);
  const opt_spec opts[] = {
      RELEASE_OPTS(r),
      {"serial", 0, OPT_VALUE, .dest = &serial_s},
      {"expires", 0, OPT_VALUE, .dest = &expires_s,
       .missing = "missing --expires TIME (e.g. --expires 2027-01-01 or --expires +30)"},
      {"trust", 0, OPT_LIST, .dest = &trust_paths},
      {"entry", 0, OPT_LIST, .dest = &entries},
      {"out", 'o', OPT_VALUE, .dest = &r.out, .missing = "missing --out FILE (the catalog to write)", .nonempty = true},
      {"json", 0, OPT_FLAG, .dest = &as_json},
      {"allow-expired", 0, OPT_FLAG, .dest = &allow_expired},
      {0},
  };
  const cmd_spec spec = {.cmd = cmd, .help = catalog_help, .opts = opts, .extra = " (releases are given with --entry)"};
  hpm_catalog cat;
  trust_set *t = NULL;
  unsigned threshold;
  signer_set *ss = calloc(1, sizeof *ss);
  uint8_t *buf = NULL;
  size_t len = 0;
  hpmh_status e;
  int rc;

  memset(&cat, 0, sizeof cat);
  if (ss) signers_init(ss);
  if (!specs || !ss) return out_of_memory(cmd);
  if ((rc = parse_args(&spec, argc, argv)) != GO_ON || (rc = check_signing(cmd, &r)) ||
      (rc = check_out_not_key(cmd, &r)))
    goto done;
  rc = EXIT_USAGE;
  if (!serial_s) {
    usage_error(cmd, "missing --serial N (higher than the last catalog's)");
    goto done;
  }
  if (!parse_u64(serial_s, &cat.serial) || cat.serial == 0) {
    usage_error(cmd, "--serial '%s': expected a number 1..18446744073709551615", serial_s);
    goto done;
  }
  if ((rc = check_required(&spec))) goto done;
  if (!r.compat) r.compat = DEFAULT_COMPAT;
  if ((why = check_printable(r.compat, HPM_COMPAT_MAX))) {
    rc = usage_error(cmd, "--compat '%s' %s", r.compat, why);
    goto done;
  }
  snprintf(cat.compat, sizeof cat.compat, "%s", r.compat);
  if ((rc = catalog_times(cmd, r.ts_s, expires_s, allow_expired, &cat))) goto done;
  for (size_t i = 0; i < entries.n; i++) {
    const char *o = spec_options(specs[i]);
    size_t n = o ? (size_t)(o - specs[i]) : strlen(specs[i]);
    if (strlen(r.out) == n && !strncmp(r.out, specs[i], n)) {
      rc = usage_error(cmd, "--out %s is also an --entry; choose another --out", r.out);
      goto done;
    }
  }

  {
    /* the catalog's directory, as a real path: default entry urls are relative to it */
    char *o = strdup(r.out);
    if (!o || !realpath(dirname(o), out_dir)) {
      msg(cmd, "--out %s: its directory: %s", r.out, o ? strerror(errno) : "out of memory");
      free(o);
      rc = EXIT_IOERR;
      goto done;
    }
    free(o);
  }
  t = calloc(1, sizeof *t);
  cat.entries = calloc(entries.n ? entries.n : 1, sizeof *cat.entries);
  if (!t || !cat.entries) {
    rc = out_of_memory(cmd);
    goto done;
  }
  if ((rc = trust_load(cmd, t, &trust_paths, NULL, &threshold)) ||
      (rc = signers_load(cmd, ss, &r.keys)))
    goto done;
  for (size_t i = 0; i < entries.n; i++) {
    if ((rc = make_entry(cmd, specs[i], t, out_dir, &cat.entries[i])) || (rc = check_unique(cmd, &cat, i, specs)))
      goto done;
    cat.count = i + 1;
  }
  if (hpmw_catalog_build(&cat, &buf, &len, &e)) {
    msg(cmd, "%s", e.detail);
    rc = EXIT_REFUSED;
    goto done;
  }
  if ((ss->n && (rc = sign_catalog(cmd, &buf, &len, ss, cat.issued))) ||
      (rc = write_output(cmd, r.out, buf, len, 0644, 0)))
    goto done;
  print_written(r.out, buf, len, ss, as_json);
done:
  if (ss) signers_free(ss);
  free(ss);
  free(cat.entries);
  free(t);
  free(buf);
  free(specs);
  return rc;
}
