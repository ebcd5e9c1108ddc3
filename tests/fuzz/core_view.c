/* SPDX-License-Identifier: MIT */
/*
 * core_view FILE...: for each input, whether core accepts it and, if so,
 * what core read from its manifest: one JSON object per line.
 *
 *   {"file": F, "as": "baseline"|"hotpatch"|"catalog"|"fdt", "accepted": bool,
 *    "result": "...",
 *    "nodes": [{"path": [NAME...], "props": [[NAME, VALUE]...]}...],
 *    "fields": {...}}
 *
 * nodes (accepted inputs only) lists every node in the order core walks
 * them (libfdt's subnode iterator, depth first) with exactly the
 * properties core's schema gets for it (hpm_fdt_collect, the one helper
 * every schema reads properties through); names and values are hex.
 * fields are the values core parsed into hpm_manifest / hpm_catalog.
 * tests/cli/test_fdt_view.py compares both with its own FDT walker.
 *
 * Containers are parsed as hpm-sign inspect parses them (no trust set: the
 * same header and manifest checks as verification).  Other inputs are raw
 * FDTs (the fuzz_manifest corpus): accepted when they pass core's FDT rules
 * (hpm_fdt_structure, hpm_fdt_check_tree); the schema of a bare manifest
 * depends on a container header it does not have.
 */
#include <libfdt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/internal.h"
#include "hpm/catalog.h"

static void hex(const void *p, size_t n) {
  putchar('"');
  for (size_t i = 0; i < n; i++) printf("%02x", ((const uint8_t *)p)[i]);
  putchar('"');
}

static void hexstr(const char *s) { hex(s, strlen(s)); }

/* A node and its subtree; path holds the names from the root. */
static int walk(const void *fdt, int node, const char **path, int *lens, int depth, bool *first) {
  hpm_fdt_props ps;
  int child;
  if (depth > 8) return -1;
  if (hpm_fdt_collect(fdt, node, "view", &ps, NULL) != HPM_OK) return -1;
  printf("%s{\"path\": [", *first ? "" : ", ");
  *first = false;
  for (int i = 1; i <= depth; i++) {
    if (i > 1) printf(", ");
    hex(path[i], (size_t)lens[i]);
  }
  printf("], \"props\": [");
  for (int i = 0; i < ps.n; i++) {
    printf("%s[", i ? ", " : "");
    hexstr(ps.p[i].name);
    printf(", ");
    hex(ps.p[i].val, (size_t)ps.p[i].len);
    printf("]");
  }
  printf("]}");
  fdt_for_each_subnode(child, fdt, node) {
    if (depth + 1 > 8) return -1;
    path[depth + 1] = fdt_get_name(fdt, child, &lens[depth + 1]);
    if (!path[depth + 1] || walk(fdt, child, path, lens, depth + 1, first)) return -1;
  }
  return child == -FDT_ERR_NOTFOUND ? 0 : -1;
}

static void manifest_fields(const hpm_manifest *m) {
  printf(", \"fields\": {\"svn\": %u, \"timestamp\": %llu, \"version\": ", m->svn,
         (unsigned long long)m->timestamp);
  hexstr(m->version);
  printf(", \"compat\": ");
  hexstr(m->compat);
  if (m->kind == HPM_KIND_HOTPATCH) {
    printf(", \"sequence\": %u, \"id\": ", m->sequence);
    hexstr(m->id);
    printf(", \"target-baseline\": ");
    hex(m->target_baseline, HPM_DIGEST_LEN);
  }
  printf(", \"payloads\": [");
  for (size_t i = 0; i < m->payload_count; i++) {
    const hpm_payload *p = &m->payloads[i];
    printf("%s{\"name\": ", i ? ", " : "");
    hexstr(p->name);
    printf(", \"size\": %llu, \"sha256\": ", (unsigned long long)p->size);
    hex(p->sha256, HPM_DIGEST_LEN);
    if (p->embedded) {
      printf(", \"offset\": %llu}", (unsigned long long)p->offset);
    } else {
      printf(", \"file\": ");
      hexstr(p->file);
      printf("}");
    }
  }
  printf("]}");
}

static void catalog_fields(const hpm_catalog *c) {
  printf(", \"fields\": {\"serial\": %llu, \"timestamp\": %llu, \"expires\": %llu, \"entries\": [",
         (unsigned long long)c->serial, (unsigned long long)c->issued, (unsigned long long)c->expires);
  for (size_t i = 0; i < c->count; i++) {
    const hpm_catalog_entry *e = &c->entries[i];
    printf("%s{\"id\": ", i ? ", " : "");
    hexstr(e->id);
    printf(", \"svn\": %u, \"sequence\": %u, \"size\": %llu, \"digest\": ", e->svn, e->sequence,
           (unsigned long long)e->size);
    hex(e->digest, HPM_DIGEST_LEN);
    printf(", \"url\": ");
    hexstr(e->url);
    printf("}");
  }
  printf("]}");
}

static void view(const char *file, const uint8_t *buf, size_t len) {
  static hpm_manifest m;
  hpm_catalog c;
  const uint8_t *fdt = buf;
  const char *as = "fdt";
  hpm_result r;
  memset(&c, 0, sizeof c);
  if (len >= HPM_HEADER_SIZE && !memcmp(buf, HPM_MAGIC, HPM_MAGIC_LEN)) {
    hpm_kind kind = (hpm_kind)hpm_le32(buf + HPM_HDR_OFF_KIND);
    r = kind == HPM_KIND_CATALOG ? hpm_catalog_parse_unverified(buf, len, &c, NULL)
                                 : hpm_container_parse_unverified(buf, len, &m, NULL);
    as = hpm_kind_to_string(kind);
    fdt = buf + HPM_HEADER_SIZE;
  } else if (len < HPM_MANIFEST_MIN || len > HPM_MANIFEST_MAX) {
    r = HPM_E_TOO_LARGE;
  } else if ((r = hpm_fdt_structure(buf, len, NULL)) == HPM_OK) {
    r = hpm_fdt_check_tree(buf, 0, "", 0, NULL, NULL);
  }
  printf("{\"file\": ");
  hexstr(file);
  printf(", \"as\": \"%s\", \"accepted\": %s, \"result\": \"%s\"", as, r == HPM_OK ? "true" : "false",
         hpm_result_to_string(r));
  if (r == HPM_OK) {
    const char *path[10] = {""};
    int lens[10] = {0};
    bool first = true;
    printf(", \"nodes\": [");
    if (walk(fdt, 0, path, lens, 0, &first)) {
      fprintf(stderr, "core_view: %s: core accepted it but its tree cannot be walked again\n", file);
      exit(1);
    }
    printf("]");
    if (!strcmp(as, "catalog"))
      catalog_fields(&c);
    else if (strcmp(as, "fdt"))
      manifest_fields(&m);
  }
  printf("}\n");
  hpm_catalog_free(&c);
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    FILE *f = fopen(argv[i], "rb");
    uint8_t *buf = NULL;
    long len;
    if (!f || fseek(f, 0, SEEK_END) || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) ||
        !(buf = malloc((size_t)len + 1)) || fread(buf, 1, (size_t)len, f) != (size_t)len) {
      fprintf(stderr, "core_view: cannot read %s\n", argv[i]);
      return 2;
    }
    fclose(f);
    view(argv[i], buf, (size_t)len);
    free(buf);
  }
  return 0;
}
