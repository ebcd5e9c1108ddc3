/* SPDX-License-Identifier: MIT */
/* hpm-sign: the catalog view of verify and inspect. */
#include <string.h>

#include "hpm-sign.h"
#include "hpm/catalog.h"

static void entry_json(cJSON *arr, const hpm_catalog_entry *e) {
  cJSON *o = hpmh_json_add(arr, NULL, cJSON_CreateObject());
  bool hot = e->kind == HPM_KIND_HOTPATCH;
  hpmh_json_add_str(o, "id", e->id);
  hpmh_json_add_str(o, "kind", hpm_kind_to_string(e->kind));
  hpmh_json_add_str(o, "release", hpm_release_to_string(e->release));
  hpmh_json_add_str(o, "classification", hpm_classification_to_string(e->classification));
  json_time(o, "released", e->release_time);
  hpmh_json_add_str(o, "version", e->version);
  hpmh_json_add_u64(o, "svn", e->svn);
  hpmh_json_add_hex(o, "digest", e->digest, HPM_DIGEST_LEN);
  hpmh_json_add(o, "target_baseline", hot ? hpmh_json_hex(e->target_baseline, HPM_DIGEST_LEN) : cJSON_CreateNull());
  hpmh_json_add(o, "sequence", hot ? hpmh_json_u64(e->sequence) : cJSON_CreateNull());
  hpmh_json_add_u64(o, "size", e->size);
  hpmh_json_add_hex(o, "sha256", e->file_sha256, HPM_DIGEST_LEN);
  hpmh_json_add_str(o, "url", e->url);
}

void catalog_json_body(cJSON *obj, const hpm_catalog *c) {
  cJSON *arr;
  hpmh_json_add_u64(obj, "serial", c->serial);
  json_time(obj, "issued", c->issued);
  json_time(obj, "expires", c->expires);
  hpmh_json_add_str(obj, "compat", c->compat);
  hpmh_json_add_hex(obj, "digest", c->digest, HPM_DIGEST_LEN);
  arr = hpmh_json_add(obj, "entries", cJSON_CreateArray());
  for (size_t i = 0; i < c->count; i++) entry_json(arr, &c->entries[i]);
}

static void entry_text(size_t i, const hpm_catalog_entry *e) {
  char hex[HEX_DIGEST], ts[HPMH_UTC_LEN];
  printf("entry %zu: %s: %s %s, %s, %s, svn %u, released %s\n", i, e->id,
         hpm_release_to_string(e->release), hpm_kind_to_string(e->kind),
         hpm_classification_to_string(e->classification), e->version, e->svn,
         hpmh_utc(e->release_time, ts));
  printf("  url %s, %llu bytes, sha256 %s\n", e->url, (unsigned long long)e->size,
         hex32(e->file_sha256, hex));
  printf("  digest %s\n", hex32(e->digest, hex));
  if (e->kind == HPM_KIND_HOTPATCH)
    printf("  target-baseline %s, sequence %u\n", hex32(e->target_baseline, hex), e->sequence);
}

static void why_text(hpm_result r, const hpm_diag *d, const hpm_catalog *c, uint64_t at,
                     char *out, size_t cap) {
  char a[HPMH_UTC_LEN], b[HPMH_UTC_LEN];
  if (r == HPM_E_EXPIRED) {
    snprintf(out, cap, "the catalog expired at %s (checked at %s); publish a new catalog with a "
             "higher --serial and a later --expires", hpmh_utc(c->expires, a), hpmh_utc(at, b));
  } else if (r == HPM_E_UNTRUSTED_KEY || r == HPM_E_NO_SIGNATURE) {
    snprintf(out, cap, "%s: %s (sign it with a key given to --trust)", d->field,
             d->detail[0] ? d->detail : hpm_result_to_string(r));
  } else {
    snprintf(out, cap, "%s: %s (%s)", d->field[0] ? d->field : "catalog",
             d->detail[0] ? d->detail : hpm_result_to_string(r), hpm_result_to_string(r));
  }
}

/* What catalog_show found. */
typedef struct {
  const char *file;
  size_t len;
  bool verify;
  hpm_catalog c, shown; /* verified; parsed for display */
  hpm_diag d, pd;
  hpm_result r, pr;
  char why[600], pwhy[600];
  unsigned threshold;
  uint64_t at;
} catalog_view;

static void show_json(const catalog_view *v) {
  const hpm_catalog *sigs = v->verify ? &v->c : &v->shown;
  cJSON *o = cJSON_CreateObject();
  hpmh_json_add_str(o, "file", v->file);
  hpmh_json_add_u64(o, "size", v->len);
  hpmh_json_add_str(o, "kind", "catalog");
  hpmh_json_add_bool(o, "parsed", v->pr == HPM_OK);
  if (v->verify) {
    hpmh_json_add_bool(o, "valid", v->r == HPM_OK);
    json_result(o, v->r, "valid", v->why, &v->d);
    json_time(o, "checked_at", v->at);
    hpmh_json_add_u64(o, "threshold", v->threshold);
    hpmh_json_add_u64(o, "trusted_signers", v->c.trusted_signers);
  } else {
    hpmh_json_add_null(o, "valid");
    hpmh_json_add_str(o, "result", result_id(v->pr));
    hpmh_json_add_str(o, "message", v->pr == HPM_OK ? "parsed, not verified (no --trust)" : v->pwhy);
  }
  json_signatures(o, sigs->signatures, sigs->signature_count);
  if (v->pr == HPM_OK)
    catalog_json_body(hpmh_json_add(o, "catalog", cJSON_CreateObject()), &v->shown);
  else
    hpmh_json_add_null(o, "catalog");
  hpmh_json_print(stdout, o);
  cJSON_Delete(o);
}

static void show_text(const catalog_view *v) {
  const hpm_catalog *sigs = v->verify ? &v->c : &v->shown, *s = &v->shown;
  char hex[HEX_DIGEST], ts[HPMH_UTC_LEN], ts2[HPMH_UTC_LEN];
  if (v->pr == HPM_OK) {
    printf("%s: catalog, serial %llu, %zu entr%s\n", v->file, (unsigned long long)s->serial, s->count,
           s->count == 1 ? "y" : "ies");
    printf("issued %s, expires %s, compat %s\n", hpmh_utc(s->issued, ts), hpmh_utc(s->expires, ts2), s->compat);
    printf("digest: %s\n", hex32(s->digest, hex));
  } else {
    printf("%s: catalog (malformed)\n", v->file);
  }
  print_signatures(sigs->signatures, sigs->signature_count);
  for (size_t i = 0; i < s->count; i++) entry_text(i, &s->entries[i]);
  if (v->verify && v->r == HPM_OK)
    printf("%s: OK: valid catalog, %u distinct trusted signer(s), threshold %u, not expired at %s\n",
           v->file, v->c.trusted_signers, v->threshold, hpmh_utc(v->at, ts));
  else if (v->verify)
    printf("%s: FAILED (%s)\n", v->file, result_id(v->r));
  else if (v->pr == HPM_OK)
    printf("not verified: pass --trust PUB to check the signatures and the expiry\n");
}

int catalog_show(const char *cmd, const char *file, const uint8_t *buf, size_t len,
                 const trust_set *t, unsigned threshold, uint64_t at, bool as_json) {
  catalog_view v;
  int rc;

  memset(&v, 0, sizeof v);
  v.file = file;
  v.len = len;
  v.verify = t && t->count > 0;
  v.threshold = threshold;
  v.at = at;
  v.pr = hpm_catalog_parse_unverified(buf, len, &v.shown, &v.pd);
  if (v.pr != HPM_OK) why_text(v.pr, &v.pd, &v.shown, at, v.pwhy, sizeof v.pwhy);
  if (v.verify) {
    hpm_trust trust = trust_of(t, threshold);
    v.r = hpm_catalog_verify(buf, len, &trust, at, &v.c, &v.d);
    if (v.r != HPM_OK) why_text(v.r, &v.d, &v.c, at, v.why, sizeof v.why);
  }
  if (as_json)
    show_json(&v);
  else
    show_text(&v);
  if (v.pr != HPM_OK) {
    msg(cmd, "%s: not a valid catalog: %s", file, v.pwhy);
    rc = exit_for(v.pr);
  } else if (v.verify && v.r != HPM_OK) {
    msg(cmd, "%s: %s", file, v.why);
    rc = exit_for(v.r);
  } else {
    rc = EXIT_VALID;
  }
  hpm_catalog_free(&v.c);
  hpm_catalog_free(&v.shown);
  return rc;
}
