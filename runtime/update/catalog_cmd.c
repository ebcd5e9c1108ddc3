/* SPDX-License-Identifier: MIT */
/*
 * hpm catalog [--source URL|DIR] [--download ID]... [--json]
 *
 * Fetch <source>/catalog.hpm, verify it with the trust store, refuse it when
 * expired or rolled back, remember it, show it; optionally download
 * releases into the cache (resumable, size-capped, hash-checked).
 */
#include "update/catalog_cmd.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "json.h"
#include "cli.h"
#include "jsonout.h"
#include "msg.h"
#include "update/source.h"

static const char catalog_usage[] =
    "usage: hpm catalog [--source URL|DIR] [--download ID]... [--json]\n"
    "Fetch the signed update catalog from the source, verify it with the trust store,\n"
    "refuse it when it has expired or is older than the newest catalog this host has\n"
    "accepted, remember it, and list its releases.\n"
    "\n"
    "  --source URL|DIR   http://, https:// or a local directory holding catalog.hpm\n"
    "                     (default: $HPM_SOURCE, else [update] source of the policy file)\n"
    "  --download ID      also download that release into the cache (resumes an\n"
    "                     interrupted download; checks size and SHA-256); repeatable\n"
    "  --json             machine-readable output\n"
    "  -h, --help         show this help\n"
    "\n"
    "Environment: HPM_SOURCE, HPM_TRUST_DIR (default /etc/hpm/trust), HPM_STATE_DIR\n"
    "(default /var/lib/hpm: catalog.hpm), HPM_CACHE_DIR (downloads; default /var/cache/hpm,\n"
    "or STATE/cache when the state directory is moved), HPM_CONF (its [trust] catalog_signers:\n"
    "how many trusted keys must sign the catalog, default 1; [paths]), HPM_NOW (clock, for tests).\n"
    "Exit status: 0 ok, 1 refused (signature, too few signers, expiry, rollback, size,\n"
    "hash), 2 usage or policy file error, 3 I/O or network error.\n";



static const char *change_id(hpm_catalog_change c) {
  return c == HPM_CATALOG_NEW ? "new" : c == HPM_CATALOG_NEWER ? "newer" : "same";
}

int cmd_catalog(hpm_ctx *ctx, int argc, char **argv) {
  static const struct option opts[] = {
      {"source", required_argument, NULL, 's'},
      {"download", required_argument, NULL, 'd'},
      {"json", no_argument, NULL, 'j'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  const char *source_opt = NULL, *spec;
  const char *downloads[64];
  char paths[64][4200];
  size_t ndl = 0;
  int json = 0, c, rc = 0;
  hpm_source src;
  hpm_catalog cat;
  hpm_catalog_change change;
  uint64_t prev = 0, now = hpm_now();
  hpm_src_err err;
  hpm_src_result sr;

  while ((c = hpm_cli_next("catalog", argc, argv, "", opts)) != -1) {
    switch (c) {
      case 's':
        if (source_opt) return hpm_cli_error("catalog", "--source given twice");
        source_opt = optarg;
        break;
      case 'd':
        if (ndl == sizeof downloads / sizeof downloads[0])
          return hpm_cli_error("catalog", "at most 64 --download");
        downloads[ndl++] = optarg;
        break;
      case 'j': json = ctx->json = 1; break;
      case 'h': fputs(catalog_usage, stdout); return 0;
      default: return HPM_CLI_USAGE;
    }
  }
  if (hpm_cli_operands("catalog", argc, argv, 0, 0, "")) return HPM_CLI_USAGE;
  spec = hpm_ctx_source(ctx, source_opt);
  sr = hpm_source_parse(spec, &src, &err);
  if (sr != HPM_SRC_OK) {
    msg("catalog: %s", err.msg);
    return (int)sr;
  }
  sr = hpm_source_fetch_catalog(ctx, &src, now, &cat, &change, &prev, &err);
  if (sr != HPM_SRC_OK) {
    msg("catalog: %s", err.msg);
    return (int)sr;
  }
  for (size_t i = 0; i < ndl; i++) {
    const hpm_catalog_entry *e = hpm_catalog_find(&cat, downloads[i]);
    if (!e) {
      msg("catalog: --download %s: no such ID in catalog serial %llu (see 'hpm catalog')",
              downloads[i], (unsigned long long)cat.serial);
      rc = 2;
      goto done;
    }
    sr = hpm_source_fetch_entry(&src, e, ctx->cache_dir, paths[i], sizeof paths[i], &err);
    if (sr != HPM_SRC_OK) {
      msg("catalog: %s", err.msg);
      rc = (int)sr;
      goto done;
    }
  }

  if (json) {
    cJSON *d = hpm_json_doc("catalog");
    hpmh_json_add_str(d, "source", src.base);
    hpmh_json_add_u64(d, "serial", cat.serial);
    if (prev) hpmh_json_add_u64(d, "previous_serial", prev);
    else hpmh_json_add_null(d, "previous_serial");
    hpmh_json_add_str(d, "change", change_id(change));
    hpm_json_add_time(d, "issued", cat.issued);
    hpm_json_add_time(d, "expires", cat.expires);
    hpm_json_add_time(d, "checked_at", now);
    hpmh_json_add_str(d, "compat", cat.compat);
    hpmh_json_add_hex(d, "digest", cat.digest, HPM_DIGEST_LEN);
    cJSON *ea = cJSON_AddArrayToObject(d, "entries");
    for (size_t i = 0; i < cat.count; i++) {
      const hpm_catalog_entry *e = &cat.entries[i];
      cJSON *x = hpmh_json_add(ea, NULL, cJSON_CreateObject());
      hpmh_json_add_str(x, "id", e->id);
      hpmh_json_add_str(x, "kind", hpm_kind_to_string(e->kind));
      hpmh_json_add_str(x, "release", hpm_release_to_string(e->release));
      hpmh_json_add_str(x, "classification", hpm_classification_to_string(e->classification));
      hpm_json_add_time(x, "released", e->release_time);
      hpmh_json_add_str(x, "version", e->version);
      hpmh_json_add_u64(x, "svn", e->svn);
      hpmh_json_add_hex(x, "digest", e->digest, HPM_DIGEST_LEN);
      if (e->kind == HPM_KIND_HOTPATCH) {
        hpmh_json_add_hex(x, "target_baseline", e->target_baseline, HPM_DIGEST_LEN);
        hpmh_json_add_u64(x, "sequence", e->sequence);
      } else {
        hpmh_json_add_null(x, "target_baseline");
        hpmh_json_add_null(x, "sequence");
      }
      hpmh_json_add_u64(x, "size", e->size);
      hpmh_json_add_hex(x, "sha256", e->file_sha256, HPM_DIGEST_LEN);
      hpmh_json_add_str(x, "url", e->url);
    }
    cJSON *da = cJSON_AddArrayToObject(d, "downloaded");
    for (size_t i = 0; i < ndl; i++) {
      cJSON *x = hpmh_json_add(da, NULL, cJSON_CreateObject());
      hpmh_json_add_str(x, "id", downloads[i]);
      hpmh_json_add_str(x, "path", paths[i]);
    }
    hpm_json_emit(d);
  } else {
    char t1[32], t2[32];
    printf("catalog serial %llu from %s (%s%s)\n", (unsigned long long)cat.serial, src.base,
           change == HPM_CATALOG_NEW     ? "first catalog accepted"
           : change == HPM_CATALOG_SAME ? "unchanged"
                                        : "newer than serial ",
           change == HPM_CATALOG_NEWER ? hpm_fmt_u64(prev, t2) : "");
    printf("issued %s, expires %s, %zu release(s)\n", hpmh_utc(cat.issued, t1), hpmh_utc(cat.expires, t2), cat.count);
    for (size_t i = 0; i < cat.count; i++) {
      const hpm_catalog_entry *e = &cat.entries[i];
      printf("  %-20s %-8s %-9s %-8s %-16s svn %-5u released %s", e->id, hpm_kind_to_string(e->kind),
             hpm_release_to_string(e->release), hpm_classification_to_string(e->classification), e->version,
             e->svn, hpmh_utc(e->release_time, t1));
      if (e->kind == HPM_KIND_HOTPATCH) printf("  seq %u", e->sequence);
      printf("\n");
    }
    for (size_t i = 0; i < ndl; i++) printf("downloaded %s: %s\n", downloads[i], paths[i]);
  }
done:
  hpm_catalog_free(&cat);
  return rc;
}
