/* SPDX-License-Identifier: MIT */
/*
 * The strict manifest schema (docs/format.md, "Manifest").  Runs only on
 * authenticated bytes during verification, but is written as if the bytes
 * were hostile: it is also the fuzzing target for the unverified parse.
 */
#include <libfdt.h>

#include "hpm/bootif.h"
#include "internal.h"

#define MAX_PROPS 32
#define MAX_CHILDREN 40
#define MAX_DEPTH 3 /* root, payloads, one payload */
#define MAX_TREE_DEPTH 6 /* info,* subtrees may nest deeper */
#define INFO_PREFIX "info,"
#define HPM_CMDLINE_MAX 4096u

enum { K_BASELINE = 1 << HPM_KIND_BASELINE, K_HOTPATCH = 1 << HPM_KIND_HOTPATCH,
       K_CATALOG = 1 << HPM_KIND_CATALOG, K_ALL = K_BASELINE | K_HOTPATCH | K_CATALOG };

typedef hpm_fdt_prop prop;
typedef hpm_fdt_props props;
_Static_assert(HPM_FDT_MAX_PROPS == MAX_PROPS, "one property limit");

/* Known properties of the root node and the kinds they belong to. */
static const struct {
  const char *name;
  unsigned kinds;
} root_known[] = {
    {"hpm,format", K_ALL},       {"hpm,kind", K_ALL},           {"compat", K_ALL},
    {"version", K_ALL},          {"svn", K_ALL},                {"timestamp", K_ALL},
    {"release", K_BASELINE},     {"classification", K_HOTPATCH}, {"id", K_HOTPATCH},
    {"target-baseline", K_HOTPATCH}, {"sequence", K_HOTPATCH},
};
/* Catalogs (catalog.c) have their own root schema: version and svn belong
 * to releases, not to the list of them. */

static const char *const payload_known[] = {"type",           "size",            "sha256",   "offset",
                                            "file",           "kernel-release",  "kernel-build-id",
                                            "vermagic",       "module"};
/* The kernel-* properties, vermagic and module belong to livepatch payloads only. */
#define PAYLOAD_KERNEL_PROPS 4 /* the last four of payload_known */

static hpm_result fdt_fail(hpm_diag *diag, const char *field, int err) {
  return hpm_fail(diag, HPM_E_BAD_MANIFEST, field, "FDT: ", fdt_strerror(err), 0);
}

bool hpm_name_char_ok(char c, bool first, hpm_name_form form) {
  bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
  if (form == HPM_NAME_PAYLOAD)
    return alnum || (!first && (c == '-' || c == '_' || c == '.'));
  return alnum || c == '-' || c == '_' || c == '.' || c == ',' || c == '+';
}

hpm_name_problem hpm_name_check(const char *name, size_t len, hpm_name_form form) {
  if (len == 0) return HPM_NAME_EMPTY;
  if (len > HPM_NAME_MAX) return HPM_NAME_TOO_LONG;
  if (form == HPM_NAME_PAYLOAD && !hpm_name_char_ok(name[0], true, form)) return HPM_NAME_FIRST;
  for (size_t i = 0; i < len; i++) {
    if (name[i] == '@') return HPM_NAME_AT;
    if (!hpm_name_char_ok(name[i], i == 0, form)) return HPM_NAME_CHAR;
  }
  return HPM_NAME_OK;
}

/* Every node below the root (hpm_name_check, node form). */
static hpm_result check_node_name(const char *name, int len, const char *where, hpm_diag *diag) {
  switch (hpm_name_check(name, len < 0 ? 0 : (size_t)len, HPM_NAME_NODE)) {
    case HPM_NAME_OK: return HPM_OK;
    case HPM_NAME_AT:
      return hpm_fail(diag, HPM_E_BAD_NAME, where, "node name contains '@' (unit addresses are not allowed)", 0, 0);
    case HPM_NAME_CHAR:
    case HPM_NAME_FIRST:
      return hpm_fail(diag, HPM_E_BAD_NAME, where, "node name has a character outside [a-z0-9,._+-]", 0, 0);
    case HPM_NAME_EMPTY:
    case HPM_NAME_TOO_LONG: break;
  }
  return hpm_fail(diag, HPM_E_BAD_NAME, where, "node name must be 1 to 31 characters", 0, 0);
}

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The FDT header and the tag stream, checked with bounded arithmetic before
 * any libfdt function sees the bytes: libfdt dereferences NULL on old
 * versions and loops forever on a property length near 2^32 (its offsets are
 * int), so those shapes must never reach it. */
static hpm_result fdt_precheck(const uint8_t *b, size_t size, hpm_diag *diag) {
  uint64_t off_struct, size_struct, off_strings, size_strings, off_rsv, pos, end;
  int depth = 0;
  /* props_ok: no child of the current node has begun yet.  libfdt's
   * property iterator stops at the first child, so a property after one is
   * signed yet never seen by the schema (while other FDT readers see it). */
  bool root_seen = false, props_ok = false;

  if (size < 40 || be32(b) != FDT_MAGIC)
    return hpm_fail(diag, HPM_E_BAD_MANIFEST, "manifest", "not a flattened device tree (bad magic)", 0, 0);
  /* Blocks are checked against totalsize; bytes beyond it are refused as
   * trailing data once the structure is known to be sound. */
  if (be32(b + 4) > size || be32(b + 4) < 40)
    return hpm_fail(diag, HPM_E_BAD_MANIFEST, "manifest", "FDT totalsize exceeds header.manifest_size", 0, 0);
  size = be32(b + 4);
  if (be32(b + 20) != 17 || be32(b + 24) != 16)
    return hpm_fail(diag, HPM_E_BAD_MANIFEST, "manifest", "FDT must be version 17 (compatible 16)", 0, 0);
  off_struct = be32(b + 8);
  off_strings = be32(b + 12);
  off_rsv = be32(b + 16);
  size_strings = be32(b + 32);
  size_struct = be32(b + 36);
  if (off_rsv < 40 || off_rsv % 8 || off_rsv + 16 > size || off_struct % 4 ||
      off_struct + size_struct > size || off_strings + size_strings > size || off_struct < off_rsv + 16)
    return hpm_fail(diag, HPM_E_BAD_MANIFEST, "manifest", "FDT blocks lie outside the manifest", 0, 0);

  pos = off_struct;
  end = off_struct + size_struct;
  for (;;) {
    uint32_t tag;
    if (end - pos < 4) return hpm_fail(diag, HPM_E_BAD_MANIFEST, "manifest", "FDT structure block ends without FDT_END", 0, 0);
    tag = be32(b + pos);
    pos += 4;
    if (tag == FDT_BEGIN_NODE) {
      uint64_t n = pos;
      while (n < end && b[n]) n++;
      if (n == end) return hpm_fail(diag, HPM_E_BAD_MANIFEST, "manifest", "FDT node name runs past the structure block", 0, 0);
      if (depth == 0 && root_seen)
        return hpm_fail(diag, HPM_E_BAD_MANIFEST, "manifest", "FDT has more than one root node", 0, 0);
      root_seen = true;
      props_ok = true;
      if (++depth > 8) return hpm_fail(diag, HPM_E_BAD_MANIFEST, "manifest", "FDT nodes nested too deep", 0, 0);
      pos = (n + 1 + 3) & ~(uint64_t)3;
    } else if (tag == FDT_END_NODE) {
      if (--depth < 0) return hpm_fail(diag, HPM_E_BAD_MANIFEST, "manifest", "FDT closes more nodes than it opens", 0, 0);
      props_ok = false; /* back in the parent, after one of its children */
    } else if (tag == FDT_PROP) {
      uint32_t len, nameoff;
      if (end - pos < 8 || depth == 0) return hpm_fail(diag, HPM_E_BAD_MANIFEST, "manifest", "FDT property outside a node or truncated", 0, 0);
      if (!props_ok)
        return hpm_fail(diag, HPM_E_BAD_MANIFEST, "manifest",
                        "FDT property after a child node (a node's properties must come before its children)", 0, 0);
      len = be32(b + pos);
      nameoff = be32(b + pos + 4);
      if (len > end - pos - 8) return hpm_fail(diag, HPM_E_BAD_MANIFEST, "manifest", "FDT property length runs past the structure block", 0, 0);
      if (nameoff >= size_strings) return hpm_fail(diag, HPM_E_BAD_MANIFEST, "manifest", "FDT property name lies outside the strings block", 0, 0);
      pos = (pos + 8 + len + 3) & ~(uint64_t)3;
    } else if (tag == FDT_NOP) {
      /* nothing */
    } else if (tag == FDT_END) {
      if (depth != 0 || !root_seen) return hpm_fail(diag, HPM_E_BAD_MANIFEST, "manifest", "FDT ends inside a node or has no root", 0, 0);
      if (pos != end) return hpm_fail(diag, HPM_E_BAD_MANIFEST, "manifest", "bytes follow FDT_END in the structure block", 0, 0);
      return HPM_OK;
    } else {
      return hpm_fail(diag, HPM_E_BAD_MANIFEST, "manifest", "unknown FDT tag", 0, 0);
    }
    if (pos > end) return hpm_fail(diag, HPM_E_BAD_MANIFEST, "manifest", "FDT structure block is truncated", 0, 0);
  }
}

static hpm_result collect_props(const void *fdt, int node, const char *where, props *ps,
                                hpm_diag *diag) {
  int off;
  ps->n = 0;
  fdt_for_each_property_offset(off, fdt, node) {
    const char *name;
    int len;
    const void *val = fdt_getprop_by_offset(fdt, off, &name, &len);
    if (!val || !name) return fdt_fail(diag, where, len < 0 ? len : -FDT_ERR_BADSTRUCTURE);
    if (ps->n == MAX_PROPS)
      return hpm_fail(diag, HPM_E_TOO_LARGE, where, "more than 32 properties in one node", 0, 0);
    for (int i = 0; i < ps->n; i++)
      if (hpm_str_eq(ps->p[i].name, name)) {
        char f[64];
        return hpm_fail(diag, HPM_E_DUPLICATE, hpm_path2(f, sizeof f, where, name),
                        "property appears twice", 0, 0);
      }
    ps->p[ps->n].name = name;
    ps->p[ps->n].val = val;
    ps->p[ps->n].len = len;
    ps->n++;
  }
  if (off != -FDT_ERR_NOTFOUND) return fdt_fail(diag, where, off);
  return HPM_OK;
}

static const prop *find(const props *ps, const char *name) {
  for (int i = 0; i < ps->n; i++)
    if (hpm_str_eq(ps->p[i].name, name)) return &ps->p[i];
  return NULL;
}

static hpm_result need(const props *ps, const char *name, const char *where, const prop **out,
                       hpm_diag *diag) {
  char f[64];
  *out = find(ps, name);
  if (!*out)
    return hpm_fail(diag, HPM_E_BAD_FIELD, hpm_path2(f, sizeof f, where, name),
                    "required property is missing", 0, 0);
  return HPM_OK;
}

/* A fixed-size property: HPM_OK when it is len bytes, else the rule it breaks. */
static hpm_result need_len(const prop *p, const char *where, int len, const char *rule,
                           hpm_diag *diag) {
  char f[64];
  if (p->len == len) return HPM_OK;
  return hpm_fail(diag, HPM_E_BAD_FIELD, hpm_path2(f, sizeof f, where, p->name), rule, 0, 0);
}

static hpm_result get_u32(const prop *p, const char *where, uint32_t *v, hpm_diag *diag) {
  hpm_result r = need_len(p, where, 4, "must be one 32-bit cell", diag);
  if (r == HPM_OK) *v = fdt32_ld((const fdt32_t *)p->val);
  return r;
}

static hpm_result get_u64(const prop *p, const char *where, uint64_t *v, hpm_diag *diag) {
  hpm_result r = need_len(p, where, 8, "must be a 64-bit value (two cells)", diag);
  if (r == HPM_OK) *v = fdt64_ld((const fdt64_t *)p->val);
  return r;
}

static hpm_result get_digest(const prop *p, const char *where, uint8_t out[HPM_DIGEST_LEN],
                             hpm_diag *diag) {
  hpm_result r = need_len(p, where, HPM_DIGEST_LEN, "must be exactly 32 bytes", diag);
  if (r == HPM_OK) memcpy(out, p->val, HPM_DIGEST_LEN);
  return r;
}

enum str_class { S_PRINTABLE, S_ID, S_FILE, S_TEXT, S_MODULE };

static bool str_char_ok(enum str_class cls, char c, bool first) {
  switch (cls) {
    case S_PRINTABLE: return c >= 0x21 && c <= 0x7e;
    case S_ID:
      return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
             c == '-' || c == '_' || c == '.';
    case S_FILE:
      return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
             c == '-' || c == '_' || (c == '.' && !first);
    case S_TEXT: return c >= 0x20 && c <= 0x7e;
    case S_MODULE: return (c >= 'a' && c <= 'z') || c == '_' || (!first && c >= '0' && c <= '9');
  }
  return false;
}

/* A single NUL-terminated string of 1..max characters of class cls. */
static hpm_result get_str(const prop *p, const char *where, size_t max, enum str_class cls,
                          char *out, hpm_diag *diag) {
  char f[64];
  const char *s = (const char *)p->val;
  hpm_path2(f, sizeof f, where, p->name);
  if (p->len < 2 || (size_t)p->len > max + 1 || s[p->len - 1] != '\0')
    return hpm_fail(diag, HPM_E_BAD_FIELD, f, "must be one non-empty string within the length limit", 0, 0);
  for (int i = 0; i < p->len - 1; i++)
    if (!str_char_ok(cls, s[i], i == 0))
      return hpm_fail(diag, HPM_E_BAD_FIELD, f,
                      cls == S_PRINTABLE ? "must be printable ASCII without spaces"
                      : cls == S_ID      ? "may contain only A-Z a-z 0-9 . _ -"
                      : cls == S_TEXT    ? "must be printable ASCII"
                      : cls == S_MODULE  ? "must be a module name: a-z _ then a-z 0-9 _"
                                         : "must be a plain file name (A-Z a-z 0-9 . _ -, no leading dot)",
                      0, 0);
  memcpy(out, s, (size_t)p->len);
  return HPM_OK;
}

/* Map a string property onto one of a fixed set of words. */
static hpm_result get_word(const prop *p, const char *where, const char *const *words, int nwords,
                           int *idx, hpm_diag *diag) {
  char buf[32], f[64];
  hpm_result r = get_str(p, where, sizeof buf - 1, S_PRINTABLE, buf, diag);
  if (r != HPM_OK) return r;
  for (int i = 0; i < nwords; i++)
    if (hpm_str_eq(buf, words[i])) {
      *idx = i;
      return HPM_OK;
    }
  return hpm_fail(diag, HPM_E_BAD_FIELD, hpm_path2(f, sizeof f, where, p->name),
                  "unknown value \"", buf, "\"");
}

/* Every node, info,* subtrees included: valid names, no duplicate siblings
 * or properties, bounded counts and depth.  Outside info,* subtrees the
 * schema has no node below a payload. */
static hpm_result check_node(const void *fdt, int node, const char *where, int depth,
                             bool in_info, const char *skip, hpm_diag *diag) {
  const char *names[MAX_CHILDREN];
  int lens[MAX_CHILDREN];
  int n = 0, child;
  char f[64];
  props ps;
  hpm_result r = collect_props(fdt, node, where[0] ? where : "/", &ps, diag);
  if (r != HPM_OK) return r;

  fdt_for_each_subnode(child, fdt, node) {
    int len;
    bool info;
    const char *name = fdt_get_name(fdt, child, &len);
    if (!name) return fdt_fail(diag, where, len);
    if (where[0])
      hpm_path2(f, sizeof f, where, name);
    else
      hpm_path2(f, sizeof f, name, NULL);
    r = check_node_name(name, len, f, diag);
    if (r != HPM_OK) return r;
    info = in_info || hpm_has_prefix(name, INFO_PREFIX);
    if (depth + 1 >= MAX_DEPTH && !info)
      return hpm_fail(diag, HPM_E_UNKNOWN_CRITICAL, f, "unexpected node", 0, 0);
    if (depth + 1 > MAX_TREE_DEPTH)
      return hpm_fail(diag, HPM_E_BAD_MANIFEST, f, "nodes nested deeper than 6 levels", 0, 0);
    if (n == MAX_CHILDREN)
      return hpm_fail(diag, HPM_E_TOO_LARGE, where[0] ? where : "/", "more than 40 child nodes", 0, 0);
    for (int i = 0; i < n; i++)
      if (lens[i] == len && memcmp(names[i], name, (size_t)len) == 0)
        return hpm_fail(diag, HPM_E_DUPLICATE, f, "node appears twice", 0, 0);
    names[n] = name;
    lens[n] = len;
    n++;
    /* skip: a child its caller checks itself (a catalog's entries). */
    if (skip && depth == 0 && hpm_str_eq(name, skip)) continue;
    r = check_node(fdt, child, f, depth + 1, info, NULL, diag);
    if (r != HPM_OK) return r;
  }
  if (child != -FDT_ERR_NOTFOUND) return fdt_fail(diag, where, child);
  return HPM_OK;
}

/* The kernel a livepatch payload is for (docs/format.md, "The kernel part"). */
static hpm_result parse_kernel_part(const props *ps, const char *where, hpm_kernel_part *k,
                                    hpm_diag *diag) {
  const prop *pr;
  char f[64];
  hpm_result r;
  if ((r = need(ps, "kernel-release", where, &pr, diag)) != HPM_OK) return r;
  if ((r = get_str(pr, where, HPM_KRELEASE_MAX, S_PRINTABLE, k->release, diag)) != HPM_OK) return r;
  if ((r = need(ps, "kernel-build-id", where, &pr, diag)) != HPM_OK) return r;
  if (pr->len < 1 || (size_t)pr->len > HPM_KBUILD_ID_MAX)
    return hpm_fail(diag, HPM_E_BAD_FIELD, hpm_path2(f, sizeof f, where, pr->name),
                    "must be 1 to 64 bytes (the kernel's GNU build-id)", 0, 0);
  memcpy(k->build_id, pr->val, (size_t)pr->len);
  k->build_id_len = (size_t)pr->len;
  if ((r = need(ps, "vermagic", where, &pr, diag)) != HPM_OK) return r;
  if ((r = get_str(pr, where, HPM_VERMAGIC_MAX, S_TEXT, k->vermagic, diag)) != HPM_OK) return r;
  if ((r = need(ps, "module", where, &pr, diag)) != HPM_OK) return r;
  return get_str(pr, where, HPM_KMODULE_MAX, S_MODULE, k->module, diag);
}

static hpm_result parse_payload(const void *fdt, int node, hpm_kind kind, hpm_payload *p,
                                hpm_kernel_part *kp, hpm_diag *diag) {
  static const char *const types[] = {"kernel", "initrd", "cmdline", "patch", "livepatch"};
  char where[64];
  props ps;
  const prop *pr;
  int len, t = -1;
  hpm_result r;
  const char *name = fdt_get_name(fdt, node, &len);

  if (!name) return fdt_fail(diag, "payloads", len);
  hpm_path2(where, sizeof where, "payloads", name);
  memcpy(p->name, name, (size_t)len);
  p->name[len] = '\0';
  r = collect_props(fdt, node, where, &ps, diag);
  if (r != HPM_OK) return r;
  for (int i = 0; i < ps.n; i++) {
    bool known = hpm_has_prefix(ps.p[i].name, INFO_PREFIX);
    for (size_t k = 0; k < sizeof payload_known / sizeof payload_known[0]; k++)
      if (hpm_str_eq(ps.p[i].name, payload_known[k])) known = true;
    if (!known) {
      char f[64];
      return hpm_fail(diag, HPM_E_UNKNOWN_CRITICAL, hpm_path2(f, sizeof f, where, ps.p[i].name),
                      "unknown critical property (non-critical ones start with \"info,\")", 0, 0);
    }
  }
  if ((r = need(&ps, "type", where, &pr, diag)) != HPM_OK) return r;
  if ((r = get_word(pr, where, types, 5, &t, diag)) != HPM_OK) return r;
  p->type = (hpm_payload_type)(t + 1);
  bool hotpatch_type = p->type == HPM_PAYLOAD_PATCH || p->type == HPM_PAYLOAD_LIVEPATCH;
  if (hotpatch_type != (kind == HPM_KIND_HOTPATCH))
    return hpm_fail(diag, HPM_E_BAD_FIELD, where, "payload type ", hpm_payload_type_to_string(p->type),
                    kind == HPM_KIND_HOTPATCH ? " is not allowed in a hotpatch"
                                              : " is not allowed in a baseline");
  if ((r = need(&ps, "size", where, &pr, diag)) != HPM_OK) return r;
  if ((r = get_u64(pr, where, &p->size, diag)) != HPM_OK) return r;
  if (p->size == 0)
    return hpm_fail(diag, HPM_E_BAD_FIELD, where, "payload is empty", 0, 0);
  if (p->size > HPM_PAYLOAD_MAX)
    return hpm_fail(diag, HPM_E_TOO_LARGE, where, "payload larger than 1 GiB", 0, 0);
  if (p->type == HPM_PAYLOAD_CMDLINE && p->size > HPM_CMDLINE_MAX)
    return hpm_fail(diag, HPM_E_TOO_LARGE, where, "command line longer than 4096 bytes", 0, 0);
  if ((r = need(&ps, "sha256", where, &pr, diag)) != HPM_OK) return r;
  if ((r = get_digest(pr, where, p->sha256, diag)) != HPM_OK) return r;
  if (p->type == HPM_PAYLOAD_LIVEPATCH) {
    if (kp->present)
      return hpm_fail(diag, HPM_E_DUPLICATE, where, "a hotpatch carries at most one livepatch payload", 0, 0);
    if ((r = parse_kernel_part(&ps, where, kp, diag)) != HPM_OK) return r;
    kp->present = true;
  } else {
    size_t nk = sizeof payload_known / sizeof payload_known[0];
    for (size_t i = nk - PAYLOAD_KERNEL_PROPS; i < nk; i++)
      if (find(&ps, payload_known[i])) {
        char f[64];
        return hpm_fail(diag, HPM_E_BAD_FIELD, hpm_path2(f, sizeof f, where, payload_known[i]),
                        "belongs to livepatch payloads only", 0, 0);
      }
  }

  const prop *off = find(&ps, "offset"), *file = find(&ps, "file");
  if ((off != NULL) == (file != NULL))
    return hpm_fail(diag, HPM_E_BAD_FIELD, where,
                    "needs exactly one of \"offset\" (embedded) or \"file\" (detached)", 0, 0);
  if (off) {
    p->embedded = true;
    return get_u64(off, where, &p->offset, diag);
  }
  p->embedded = false;
  r = get_str(file, where, HPM_FILE_MAX, S_FILE, p->file, diag);
  if (r == HPM_OK && hpm_bootif_slot_of_file(p->file) >= 0) {
    char f[64];
    return hpm_fail(diag, HPM_E_BAD_FIELD, hpm_path2(f, sizeof f, where, "file"), p->file,
                    " is reserved: slot-a.hpm ... slot-d.hpm (in any case) are the slot containers", 0);
  }
  return r;
}

static hpm_result parse_payloads(const void *fdt, int node, hpm_manifest *m, hpm_diag *diag) {
  props ps;
  int child, counts[HPM_PAYLOAD_LIVEPATCH + 1] = {0};
  uint64_t next = 0;
  hpm_result r = collect_props(fdt, node, "payloads", &ps, diag);
  if (r != HPM_OK) return r;
  for (int i = 0; i < ps.n; i++)
    if (!hpm_has_prefix(ps.p[i].name, INFO_PREFIX)) {
      char f[64];
      return hpm_fail(diag, HPM_E_UNKNOWN_CRITICAL, hpm_path2(f, sizeof f, "payloads", ps.p[i].name),
                      "unknown critical property", 0, 0);
    }
  fdt_for_each_subnode(child, fdt, node) {
    int len;
    const char *name = fdt_get_name(fdt, child, &len);
    if (name && hpm_has_prefix(name, INFO_PREFIX)) continue;
    if (m->payload_count == HPM_MAX_PAYLOADS)
      return hpm_fail(diag, HPM_E_TOO_LARGE, "payloads", "more than 32 payloads", 0, 0);
    hpm_payload *p = &m->payloads[m->payload_count];
    bool had_kernel = m->kernel.present;
    r = parse_payload(fdt, child, m->kind, p, &m->kernel, diag);
    if (r != HPM_OK) return r;
    if (m->kernel.present && !had_kernel) m->kernel.payload = m->payload_count;
    counts[p->type]++;
    /* Embedded payloads tile the payload area in manifest order: no gaps,
     * no overlaps, nothing unaccounted for. */
    if (p->embedded) {
      char f[64];
      hpm_path2(f, sizeof f, "payloads", p->name);
      if (p->offset != next)
        return hpm_fail(diag, HPM_E_BAD_FIELD, f, "offset leaves a gap or overlaps: embedded payloads must be contiguous in manifest order", 0, 0);
      if (!hpm_add_u64(next, p->size, &next))
        return hpm_fail(diag, HPM_E_TOO_LARGE, f, "offset + size overflows", 0, 0);
    } else {
      for (size_t j = 0; j < m->payload_count; j++)
        if (!m->payloads[j].embedded && hpm_bootif_same_file(m->payloads[j].file, p->file)) {
          char f[64];
          return hpm_fail(diag, HPM_E_DUPLICATE, hpm_path2(f, sizeof f, "payloads", p->name),
                          "two payloads name the same file ", p->file, 0);
        }
    }
    m->payload_count++;
  }
  if (child != -FDT_ERR_NOTFOUND) return fdt_fail(diag, "payloads", child);
  if (next != m->payload_area_size)
    return hpm_fail(diag, HPM_E_BAD_FIELD, "payloads",
                    "embedded payload sizes do not add up to the header's payload area", 0, 0);
  if (m->kind == HPM_KIND_BASELINE) {
    if (counts[HPM_PAYLOAD_KERNEL] != 1)
      return hpm_fail(diag, HPM_E_BAD_FIELD, "payloads", "a baseline needs exactly one kernel", 0, 0);
    if (counts[HPM_PAYLOAD_INITRD] > 1 || counts[HPM_PAYLOAD_CMDLINE] > 1)
      return hpm_fail(diag, HPM_E_DUPLICATE, "payloads", "more than one initrd or command line", 0, 0);
  }
  return HPM_OK;
}

hpm_result hpm_manifest_parse(const uint8_t *fdt, size_t size, hpm_manifest *m, hpm_diag *diag) {
  static const char *const kinds[] = {"baseline", "hotpatch", "catalog"};
  static const char *const releases[] = {"planned", "unplanned"};
  static const char *const classes[] = {"critical", "security", "other"};
  props ps;
  const prop *p;
  int idx = -1, payloads = -1, child;
  hpm_result r;
  uint64_t area = m->payload_area_size;

  r = hpm_fdt_structure(fdt, size, diag);
  if (r != HPM_OK) return r;
  r = check_node(fdt, 0, "", 0, false, NULL, diag);
  if (r != HPM_OK) return r;

  r = collect_props(fdt, 0, "/", &ps, diag);
  if (r != HPM_OK) return r;

  /* Kind first: it decides which other properties are allowed. */
  if ((r = need(&ps, "hpm,kind", "", &p, diag)) != HPM_OK) return r;
  if ((r = get_word(p, "", kinds, 3, &idx, diag)) != HPM_OK) return r;
  m->kind = (hpm_kind)(idx + 1);
  if (m->kind == HPM_KIND_CATALOG)
    return hpm_fail(diag, HPM_E_BAD_FIELD, "hpm,kind", "a catalog manifest under a baseline or hotpatch header", 0, 0);

  for (int i = 0; i < ps.n; i++) {
    const char *name = ps.p[i].name;
    bool known = false;
    if (hpm_has_prefix(name, INFO_PREFIX)) {
      m->info_count++;
      continue;
    }
    for (size_t k = 0; k < sizeof root_known / sizeof root_known[0]; k++) {
      if (!hpm_str_eq(name, root_known[k].name)) continue;
      known = true;
      if (!(root_known[k].kinds & (1u << m->kind)))
        return hpm_fail(diag, HPM_E_BAD_FIELD, name, "not allowed in a ",
                        hpm_kind_to_string(m->kind), " manifest");
    }
    if (!known)
      return hpm_fail(diag, HPM_E_UNKNOWN_CRITICAL, name,
                      "unknown critical property (non-critical ones start with \"info,\")", 0, 0);
  }

  if ((r = need(&ps, "hpm,format", "", &p, diag)) != HPM_OK) return r;
  if ((r = get_u32(p, "", &m->format_version, diag)) != HPM_OK) return r;
  if ((r = need(&ps, "compat", "", &p, diag)) != HPM_OK) return r;
  if ((r = get_str(p, "", HPM_COMPAT_MAX, S_PRINTABLE, m->compat, diag)) != HPM_OK) return r;
  if ((r = need(&ps, "version", "", &p, diag)) != HPM_OK) return r;
  if ((r = get_str(p, "", HPM_VERSION_MAX, S_PRINTABLE, m->version, diag)) != HPM_OK) return r;
  if ((r = need(&ps, "svn", "", &p, diag)) != HPM_OK) return r;
  if ((r = get_u32(p, "", &m->svn, diag)) != HPM_OK) return r;
  if ((r = need(&ps, "timestamp", "", &p, diag)) != HPM_OK) return r;
  if ((r = get_u64(p, "", &m->timestamp, diag)) != HPM_OK) return r;

  if (m->kind == HPM_KIND_BASELINE) {
    if ((r = need(&ps, "release", "", &p, diag)) != HPM_OK) return r;
    if ((r = get_word(p, "", releases, 2, &idx, diag)) != HPM_OK) return r;
    m->release = (hpm_release)(idx + 1);
  } else {
    if ((r = need(&ps, "classification", "", &p, diag)) != HPM_OK) return r;
    if ((r = get_word(p, "", classes, 3, &idx, diag)) != HPM_OK) return r;
    m->classification = (hpm_classification)(idx + 1);
    if ((r = need(&ps, "id", "", &p, diag)) != HPM_OK) return r;
    if ((r = get_str(p, "", HPM_ID_MAX, S_ID, m->id, diag)) != HPM_OK) return r;
    if ((r = need(&ps, "target-baseline", "", &p, diag)) != HPM_OK) return r;
    if ((r = get_digest(p, "", m->target_baseline, diag)) != HPM_OK) return r;
    if ((r = need(&ps, "sequence", "", &p, diag)) != HPM_OK) return r;
    if ((r = get_u32(p, "", &m->sequence, diag)) != HPM_OK) return r;
    if (m->sequence == 0)
      return hpm_fail(diag, HPM_E_BAD_FIELD, "sequence", "hotpatch sequence numbers start at 1", 0, 0);
  }

  fdt_for_each_subnode(child, fdt, 0) {
    int len;
    const char *name = fdt_get_name(fdt, child, &len);
    if (!name) return fdt_fail(diag, "/", len);
    if (hpm_str_eq(name, "payloads")) {
      payloads = child;
    } else if (!hpm_has_prefix(name, INFO_PREFIX)) {
      return hpm_fail(diag, HPM_E_UNKNOWN_CRITICAL, name, "unknown critical node", 0, 0);
    }
  }
  if (child != -FDT_ERR_NOTFOUND) return fdt_fail(diag, "/", child);
  if (payloads < 0) return hpm_fail(diag, HPM_E_BAD_FIELD, "payloads", "required node is missing", 0, 0);
  m->payload_area_size = area;
  return parse_payloads(fdt, payloads, m, diag);
}

/* ---- shared with catalog.c (internal.h) ---------------------------------- */

hpm_result hpm_fdt_structure(const uint8_t *fdt, size_t size, hpm_diag *diag) {
  int rc;
  /* Structure first: our own bounded pass, then libfdt's full check. */
  hpm_result r = fdt_precheck(fdt, size, diag);
  if (r != HPM_OK) return r;
  rc = fdt_check_full(fdt, fdt_totalsize(fdt));
  if (rc) return fdt_fail(diag, "manifest", rc);
  if (fdt_totalsize(fdt) != size)
    return hpm_fail(diag, HPM_E_TRAILING_DATA, "manifest", "FDT totalsize differs from header.manifest_size", 0, 0);
  if (fdt_num_mem_rsv(fdt) != 0 || fdt_boot_cpuid_phys(fdt) != 0)
    return hpm_fail(diag, HPM_E_BAD_MANIFEST, "manifest", "FDT memory reservations and boot CPU must be empty", 0, 0);
  return HPM_OK;
}

hpm_result hpm_fdt_check_tree(const void *fdt, int node, const char *where, int depth,
                              const char *skip, hpm_diag *diag) {
  int len = 0;
  const char *name = NULL;
  if (node != 0) { /* below the root: the node's own name too */
    hpm_result r;
    name = fdt_get_name(fdt, node, &len);
    if (!name) return fdt_fail(diag, where, len);
    if ((r = check_node_name(name, len, where, diag)) != HPM_OK) return r;
  }
  return check_node(fdt, node, where, depth, name && hpm_has_prefix(name, INFO_PREFIX), skip, diag);
}

hpm_result hpm_fdt_fail(hpm_diag *diag, const char *field, int err) {
  return fdt_fail(diag, field, err);
}

hpm_result hpm_fdt_collect(const void *fdt, int node, const char *where, hpm_fdt_props *ps,
                           hpm_diag *diag) {
  return collect_props(fdt, node, where, ps, diag);
}

const hpm_fdt_prop *hpm_fdt_find(const hpm_fdt_props *ps, const char *name) {
  return find(ps, name);
}

hpm_result hpm_fdt_need(const hpm_fdt_props *ps, const char *name, const char *where,
                        const hpm_fdt_prop **out, hpm_diag *diag) {
  return need(ps, name, where, out, diag);
}

hpm_result hpm_fdt_u32(const hpm_fdt_prop *p, const char *where, uint32_t *v, hpm_diag *diag) {
  return get_u32(p, where, v, diag);
}

hpm_result hpm_fdt_u64(const hpm_fdt_prop *p, const char *where, uint64_t *v, hpm_diag *diag) {
  return get_u64(p, where, v, diag);
}

hpm_result hpm_fdt_digest(const hpm_fdt_prop *p, const char *where,
                          uint8_t out[HPM_DIGEST_LEN], hpm_diag *diag) {
  return get_digest(p, where, out, diag);
}

hpm_result hpm_fdt_id(const hpm_fdt_prop *p, const char *where, size_t max, char *out,
                      hpm_diag *diag) {
  return get_str(p, where, max, S_ID, out, diag);
}

hpm_result hpm_fdt_printable(const hpm_fdt_prop *p, const char *where, size_t max, char *out,
                             hpm_diag *diag) {
  return get_str(p, where, max, S_PRINTABLE, out, diag);
}

hpm_result hpm_fdt_word(const hpm_fdt_prop *p, const char *where, const char *const *words,
                        int nwords, int *idx, hpm_diag *diag) {
  return get_word(p, where, words, nwords, idx, diag);
}
