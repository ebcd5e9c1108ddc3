/* SPDX-License-Identifier: MIT */
/*
 * Catalogs (container kind 3, docs/format.md "Catalogs"): the signed list of
 * releases a host may download.  Authenticated exactly like every other
 * kind (container.c), then parsed with the same strict FDT rules
 * (manifest.c's helpers) and a schema of its own.
 */
#include <libfdt.h>

#include "hpm/catalog.h"
#include "internal.h"

#define INFO_PREFIX "info,"
#define MAX_INFO_NODES 40

static const char *const root_known[] = {"hpm,format", "hpm,kind", "compat",
                                         "timestamp",  "serial",   "expires"};
static const char *const entry_known[] = {
    "id",      "kind", "release", "classification", "released", "version", "svn",
    "digest",  "target-baseline", "sequence", "size", "sha256", "url"};

static bool known(const char *name, const char *const *list, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (hpm_str_eq(name, list[i])) return true;
  return false;
}

static bool url_char_ok(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         c == '.' || c == '_' || c == '-' || c == '~' || c == '+';
}

const char *hpm_catalog_url_problem(const char *url) {
  size_t n = hpm_strnlen(url, HPM_CATALOG_URL_MAX + 1), seg = 0;
  if (n == 0) return "is empty";
  if (n > HPM_CATALOG_URL_MAX) return "is longer than 255 characters";
  if (url[0] == '/') return "must be relative (no leading '/')";
  for (size_t i = 0; i <= n; i++) {
    char c = url[i];
    if (c == '/' || c == '\0') {
      if (seg == 0) return c ? "has an empty path segment (\"//\")" : "ends with '/'";
      if ((seg == 1 && url[i - 1] == '.') || (seg == 2 && url[i - 1] == '.' && url[i - 2] == '.'))
        return "has a \".\" or \"..\" segment";
      seg = 0;
    } else if (c == ':') {
      return "must not name a scheme or host (no ':')";
    } else if (!url_char_ok(c)) {
      return "may contain only A-Z a-z 0-9 . _ ~ + - and '/' between segments";
    } else {
      seg++;
    }
  }
  return NULL;
}

static hpm_result unknown_props(const hpm_fdt_props *ps, const char *where,
                                const char *const *list, size_t n, size_t *info,
                                hpm_diag *diag) {
  char f[64];
  for (int i = 0; i < ps->n; i++) {
    if (hpm_has_prefix(ps->p[i].name, INFO_PREFIX)) {
      if (info) (*info)++;
      continue;
    }
    if (!known(ps->p[i].name, list, n))
      return hpm_fail(diag, HPM_E_UNKNOWN_CRITICAL,
                      where[0] ? hpm_path2(f, sizeof f, where, ps->p[i].name) : ps->p[i].name,
                      "unknown critical property (non-critical ones start with \"info,\")", 0, 0);
  }
  return HPM_OK;
}

static hpm_result parse_entry(const void *fdt, int node, const char *where, hpm_catalog_entry *e,
                              hpm_diag *diag) {
  static const char *const kinds[] = {"baseline", "hotpatch"};
  static const char *const releases[] = {"planned", "unplanned"};
  static const char *const classes[] = {"critical", "security", "other"};
  hpm_fdt_props ps;
  const hpm_fdt_prop *p;
  char f[64];
  const char *why;
  int idx = -1;
  hpm_result r;

  if ((r = hpm_fdt_check_tree(fdt, node, where, 2, NULL, diag)) != HPM_OK) return r;
  if ((r = hpm_fdt_collect(fdt, node, where, &ps, diag)) != HPM_OK) return r;
  r = unknown_props(&ps, where, entry_known, sizeof entry_known / sizeof entry_known[0], NULL, diag);
  if (r != HPM_OK) return r;

  if ((r = hpm_fdt_need(&ps, "id", where, &p, diag)) != HPM_OK) return r;
  if ((r = hpm_fdt_id(p, where, HPM_ID_MAX, e->id, diag)) != HPM_OK) return r;
  if ((r = hpm_fdt_need(&ps, "kind", where, &p, diag)) != HPM_OK) return r;
  if ((r = hpm_fdt_word(p, where, kinds, 2, &idx, diag)) != HPM_OK) return r;
  e->kind = (hpm_kind)(idx + 1);
  if ((r = hpm_fdt_need(&ps, "release", where, &p, diag)) != HPM_OK) return r;
  if ((r = hpm_fdt_word(p, where, releases, 2, &idx, diag)) != HPM_OK) return r;
  e->release = (hpm_release)(idx + 1);
  if ((r = hpm_fdt_need(&ps, "classification", where, &p, diag)) != HPM_OK) return r;
  if ((r = hpm_fdt_word(p, where, classes, 3, &idx, diag)) != HPM_OK) return r;
  e->classification = (hpm_classification)(idx + 1);
  if ((r = hpm_fdt_need(&ps, "released", where, &p, diag)) != HPM_OK) return r;
  if ((r = hpm_fdt_u64(p, where, &e->release_time, diag)) != HPM_OK) return r;
  if ((r = hpm_fdt_need(&ps, "version", where, &p, diag)) != HPM_OK) return r;
  if ((r = hpm_fdt_printable(p, where, HPM_VERSION_MAX, e->version, diag)) != HPM_OK) return r;
  if ((r = hpm_fdt_need(&ps, "svn", where, &p, diag)) != HPM_OK) return r;
  if ((r = hpm_fdt_u32(p, where, &e->svn, diag)) != HPM_OK) return r;
  if ((r = hpm_fdt_need(&ps, "digest", where, &p, diag)) != HPM_OK) return r;
  if ((r = hpm_fdt_digest(p, where, e->digest, diag)) != HPM_OK) return r;

  if (e->kind == HPM_KIND_HOTPATCH) {
    if ((r = hpm_fdt_need(&ps, "target-baseline", where, &p, diag)) != HPM_OK) return r;
    if ((r = hpm_fdt_digest(p, where, e->target_baseline, diag)) != HPM_OK) return r;
    if ((r = hpm_fdt_need(&ps, "sequence", where, &p, diag)) != HPM_OK) return r;
    if ((r = hpm_fdt_u32(p, where, &e->sequence, diag)) != HPM_OK) return r;
    if (e->sequence == 0)
      return hpm_fail(diag, HPM_E_BAD_FIELD, hpm_path2(f, sizeof f, where, "sequence"),
                      "hotpatch sequence numbers start at 1", 0, 0);
  } else {
    const char *extra = hpm_fdt_find(&ps, "target-baseline") ? "target-baseline"
                        : hpm_fdt_find(&ps, "sequence")      ? "sequence"
                                                             : NULL;
    if (extra)
      return hpm_fail(diag, HPM_E_BAD_FIELD, hpm_path2(f, sizeof f, where, extra),
                      "not allowed in a baseline entry", 0, 0);
  }

  if ((r = hpm_fdt_need(&ps, "size", where, &p, diag)) != HPM_OK) return r;
  if ((r = hpm_fdt_u64(p, where, &e->size, diag)) != HPM_OK) return r;
  if (e->size < HPM_CATALOG_ENTRY_SIZE_MIN || e->size > HPM_CATALOG_ENTRY_SIZE_MAX)
    return hpm_fail(diag, HPM_E_BAD_FIELD, hpm_path2(f, sizeof f, where, "size"),
                    "outside the sizes a signed container can have", 0, 0);
  if ((r = hpm_fdt_need(&ps, "sha256", where, &p, diag)) != HPM_OK) return r;
  if ((r = hpm_fdt_digest(p, where, e->file_sha256, diag)) != HPM_OK) return r;

  if ((r = hpm_fdt_need(&ps, "url", where, &p, diag)) != HPM_OK) return r;
  hpm_path2(f, sizeof f, where, "url");
  if (p->len < 2 || (size_t)p->len > HPM_CATALOG_URL_MAX + 1 ||
      ((const char *)p->val)[p->len - 1] != '\0' ||
      hpm_strnlen((const char *)p->val, (size_t)p->len) != (size_t)p->len - 1)
    return hpm_fail(diag, HPM_E_BAD_FIELD, f, "must be one non-empty string of at most 255 characters", 0, 0);
  /* p->val is now one NUL-terminated string of at most 255 characters. */
  why = hpm_catalog_url_problem((const char *)p->val);
  if (why) return hpm_fail(diag, HPM_E_BAD_FIELD, f, "relative URL ", why, 0);
  memcpy(e->url, p->val, (size_t)p->len);
  return HPM_OK;
}

/* What no two entries may share: the ID, the release, the file it names and,
 * for hotpatches, the (target baseline, sequence) slot. */
static hpm_result check_unique(const hpm_catalog *c, size_t i, const char *where, hpm_diag *diag) {
  const hpm_catalog_entry *e = &c->entries[i];
  char f[64];
  for (size_t j = 0; j < i; j++) {
    const hpm_catalog_entry *o = &c->entries[j];
    const char *what = NULL, *field = NULL;
    if (hpm_str_eq(o->id, e->id)) {
      what = "the same id as entry ";
      field = "id";
    } else if (memcmp(o->digest, e->digest, HPM_DIGEST_LEN) == 0) {
      what = "the same digest as entry ";
      field = "digest";
    } else if (hpm_str_eq(o->url, e->url)) {
      what = "the same url as entry ";
      field = "url";
    } else if (e->kind == HPM_KIND_HOTPATCH && o->kind == HPM_KIND_HOTPATCH &&
               o->sequence == e->sequence &&
               memcmp(o->target_baseline, e->target_baseline, HPM_DIGEST_LEN) == 0) {
      what = "the same target-baseline and sequence as entry ";
      field = "sequence";
    }
    if (what) {
      char n1[24];
      return hpm_fail(diag, HPM_E_DUPLICATE, hpm_path2(f, sizeof f, where, field), what,
                      hpm_fmt_u64(j, n1), 0);
    }
  }
  return HPM_OK;
}

/* Entry nodes are named by their index ("0", "1", ...) in order, so their
 * names can neither collide nor be reordered silently. */
static bool index_name(const char *name, int len, size_t i) {
  char n1[24];
  const char *want = hpm_fmt_u64(i, n1);
  return hpm_strnlen(want, 24) == (size_t)len && memcmp(want, name, (size_t)len) == 0;
}

static hpm_result parse_entries(const void *fdt, int node, hpm_catalog *c, hpm_diag *diag) {
  hpm_fdt_props ps;
  int child;
  size_t n = 0;
  char where[64], n1[24];
  hpm_result r = hpm_fdt_collect(fdt, node, "entries", &ps, diag);
  if (r != HPM_OK) return r;
  r = unknown_props(&ps, "entries", NULL, 0, NULL, diag);
  if (r != HPM_OK) return r;

  /* Count and name-check first, then allocate once. */
  fdt_for_each_subnode(child, fdt, node) {
    int len;
    const char *name = fdt_get_name(fdt, child, &len);
    if (!name) return hpm_fdt_fail(diag, "entries", len);
    if (hpm_has_prefix(name, INFO_PREFIX)) continue;
    hpm_path2(where, sizeof where, "entries", hpm_fmt_u64(n, n1));
    if (n == HPM_CATALOG_MAX_ENTRIES)
      return hpm_fail(diag, HPM_E_TOO_LARGE, "entries", "more than 4096 entries", 0, 0);
    if (!index_name(name, len, n))
      return hpm_fail(diag, HPM_E_BAD_NAME, where,
                      "entry nodes must be named 0, 1, 2, ... in order; this one should be ", n1, 0);
    n++;
  }
  if (child != -FDT_ERR_NOTFOUND) return hpm_fdt_fail(diag, "entries", child);
  /* The info,* children of entries get the generic checks too: names,
   * duplicates (among themselves; entry names are unique by index), depth. */
  {
    const char *names[MAX_INFO_NODES];
    int lens[MAX_INFO_NODES], ninfo = 0;
    fdt_for_each_subnode(child, fdt, node) {
      int len;
      const char *name = fdt_get_name(fdt, child, &len);
      if (!name) return hpm_fdt_fail(diag, "entries", len);
      if (!hpm_has_prefix(name, INFO_PREFIX)) continue;
      hpm_path2(where, sizeof where, "entries", name);
      if (ninfo == MAX_INFO_NODES)
        return hpm_fail(diag, HPM_E_TOO_LARGE, "entries", "more than 40 info, nodes", 0, 0);
      for (int i = 0; i < ninfo; i++)
        if (lens[i] == len && memcmp(names[i], name, (size_t)len) == 0)
          return hpm_fail(diag, HPM_E_DUPLICATE, where, "node appears twice", 0, 0);
      names[ninfo] = name;
      lens[ninfo++] = len;
      r = hpm_fdt_check_tree(fdt, child, where, 2, NULL, diag);
      if (r != HPM_OK) return r;
    }
  }

  if (n == 0) return HPM_OK;
  c->entries = hpm_sys_calloc(n, sizeof *c->entries);
  if (!c->entries) return hpm_fail(diag, HPM_E_OUT_OF_MEMORY, "entries", "no memory for the entries", 0, 0);
  fdt_for_each_subnode(child, fdt, node) {
    int len;
    const char *name = fdt_get_name(fdt, child, &len);
    if (!name) return hpm_fdt_fail(diag, "entries", len);
    if (hpm_has_prefix(name, INFO_PREFIX)) continue;
    if (c->count == n) return hpm_fail(diag, HPM_E_BAD_MANIFEST, "entries", "entry count changed", 0, 0);
    hpm_path2(where, sizeof where, "entries", hpm_fmt_u64(c->count, n1));
    r = parse_entry(fdt, child, where, &c->entries[c->count], diag);
    if (r != HPM_OK) return r;
    r = check_unique(c, c->count, where, diag);
    if (r != HPM_OK) return r;
    c->count++;
  }
  if (child != -FDT_ERR_NOTFOUND) return hpm_fdt_fail(diag, "entries", child);
  if (c->count != n) return hpm_fail(diag, HPM_E_BAD_MANIFEST, "entries", "entry count changed", 0, 0);
  return HPM_OK;
}

static hpm_result parse_catalog_manifest(const uint8_t *fdt, size_t size, hpm_catalog *c,
                                         hpm_diag *diag) {
  static const char *const kinds[] = {"baseline", "hotpatch", "catalog"};
  hpm_fdt_props ps;
  const hpm_fdt_prop *p;
  uint32_t format;
  int idx = -1, entries = -1, child;
  hpm_result r;

  if ((r = hpm_fdt_structure(fdt, size, diag)) != HPM_OK) return r;
  /* Root and info,* subtrees: the manifest rules; entries: checked below. */
  if ((r = hpm_fdt_check_tree(fdt, 0, "", 0, "entries", diag)) != HPM_OK) return r;
  if ((r = hpm_fdt_collect(fdt, 0, "/", &ps, diag)) != HPM_OK) return r;

  if ((r = hpm_fdt_need(&ps, "hpm,kind", "", &p, diag)) != HPM_OK) return r;
  if ((r = hpm_fdt_word(p, "", kinds, 3, &idx, diag)) != HPM_OK) return r;
  if (idx + 1 != HPM_KIND_CATALOG)
    return hpm_fail(diag, HPM_E_BAD_FIELD, "hpm,kind", "differs from the header's kind", 0, 0);
  r = unknown_props(&ps, "", root_known, sizeof root_known / sizeof root_known[0], &c->info_count,
                    diag);
  if (r != HPM_OK) return r;
  if ((r = hpm_fdt_need(&ps, "hpm,format", "", &p, diag)) != HPM_OK) return r;
  if ((r = hpm_fdt_u32(p, "", &format, diag)) != HPM_OK) return r;
  if (format != HPM_FORMAT_VERSION)
    return hpm_fail(diag, HPM_E_BAD_FIELD, "hpm,format", "differs from the header's format version", 0, 0);
  if ((r = hpm_fdt_need(&ps, "compat", "", &p, diag)) != HPM_OK) return r;
  if ((r = hpm_fdt_printable(p, "", HPM_COMPAT_MAX, c->compat, diag)) != HPM_OK) return r;
  if ((r = hpm_fdt_need(&ps, "timestamp", "", &p, diag)) != HPM_OK) return r;
  if ((r = hpm_fdt_u64(p, "", &c->issued, diag)) != HPM_OK) return r;
  if ((r = hpm_fdt_need(&ps, "serial", "", &p, diag)) != HPM_OK) return r;
  if ((r = hpm_fdt_u64(p, "", &c->serial, diag)) != HPM_OK) return r;
  if (c->serial == 0)
    return hpm_fail(diag, HPM_E_BAD_FIELD, "serial", "catalog serials start at 1", 0, 0);
  if ((r = hpm_fdt_need(&ps, "expires", "", &p, diag)) != HPM_OK) return r;
  if ((r = hpm_fdt_u64(p, "", &c->expires, diag)) != HPM_OK) return r;
  if (c->expires <= c->issued)
    return hpm_fail(diag, HPM_E_BAD_FIELD, "expires", "must be later than timestamp", 0, 0);

  fdt_for_each_subnode(child, fdt, 0) {
    int len;
    const char *name = fdt_get_name(fdt, child, &len);
    if (!name) return hpm_fdt_fail(diag, "/", len);
    if (hpm_str_eq(name, "entries"))
      entries = child;
    else if (!hpm_has_prefix(name, INFO_PREFIX))
      return hpm_fail(diag, HPM_E_UNKNOWN_CRITICAL, name, "unknown critical node", 0, 0);
  }
  if (child != -FDT_ERR_NOTFOUND) return hpm_fdt_fail(diag, "/", child);
  if (entries < 0) return hpm_fail(diag, HPM_E_BAD_FIELD, "entries", "required node is missing", 0, 0);
  return parse_entries(fdt, entries, c, diag);
}

static void copy_container(hpm_catalog *c, const hpm_manifest *m) {
  memcpy(c->digest, m->digest, HPM_DIGEST_LEN);
  c->signature_count = m->signature_count;
  for (size_t i = 0; i < m->signature_count && i < HPM_MAX_SIGNATURES; i++)
    c->signatures[i] = m->signatures[i];
  c->trusted_signers = m->trusted_signers;
}

static hpm_result catalog_load(const uint8_t *buf, size_t len, const hpm_trust *trust,
                               hpm_catalog *out, hpm_diag *diag) {
  /* hpm_manifest is large; it only carries the container part here. */
  hpm_manifest *m;
  const uint8_t *fdt = NULL;
  size_t size = 0;
  hpm_result r;

  if (diag) hpm_fail(diag, HPM_OK, "", 0, 0, 0);
  if (!out) return hpm_fail(diag, HPM_E_INVALID_ARGUMENT, "catalog", "no output catalog", 0, 0);
  memset(out, 0, sizeof *out);
  if (!buf) return hpm_fail(diag, HPM_E_INVALID_ARGUMENT, "catalog", "no buffer", 0, 0);
  m = hpm_sys_calloc(1, sizeof *m);
  if (!m) return hpm_fail(diag, HPM_E_OUT_OF_MEMORY, "catalog", "no memory", 0, 0);
  r = hpm_container_authenticate(buf, len, HPM_KIND_CATALOG, trust, m, &fdt, &size, diag);
  copy_container(out, m);
  hpm_sys_free(m);
  if (r != HPM_OK) return r;
  return parse_catalog_manifest(fdt, size, out, diag);
}

static void drop_entries(hpm_catalog *c) {
  if (c->entries) {
    memset(c->entries, 0, c->count * sizeof *c->entries);
    hpm_sys_free(c->entries);
  }
  c->entries = NULL;
  c->count = 0;
}

hpm_result hpm_catalog_verify(const uint8_t *buf, size_t len, const hpm_trust *trust,
                              uint64_t now, hpm_catalog *out, hpm_diag *diag) {
  hpm_result r;
  if (!trust) {
    if (out) memset(out, 0, sizeof *out);
    return hpm_fail(diag, HPM_E_INVALID_ARGUMENT, "trust", "the trust set is empty", 0, 0);
  }
  r = catalog_load(buf, len, trust, out, diag);
  if (r == HPM_OK && now >= out->expires) {
    char n1[24], n2[24];
    r = hpm_fail(diag, HPM_E_EXPIRED, "expires", hpm_fmt_u64(out->expires, n1),
                 " (seconds since 1970 UTC) is not after now, ", hpm_fmt_u64(now, n2));
  }
  if (r != HPM_OK && out) drop_entries(out);
  return r;
}

hpm_result hpm_catalog_parse_unverified(const uint8_t *buf, size_t len, hpm_catalog *out,
                                        hpm_diag *diag) {
  hpm_result r = catalog_load(buf, len, NULL, out, diag);
  if (r != HPM_OK && out) drop_entries(out);
  return r;
}

void hpm_catalog_free(hpm_catalog *cat) {
  if (!cat) return;
  drop_entries(cat);
  memset(cat, 0, sizeof *cat);
}

const hpm_catalog_entry *hpm_catalog_find(const hpm_catalog *cat, const char *id) {
  if (!cat || !id) return NULL;
  for (size_t i = 0; i < cat->count; i++)
    if (hpm_str_eq(cat->entries[i].id, id)) return &cat->entries[i];
  return NULL;
}
