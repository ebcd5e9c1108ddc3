/* SPDX-License-Identifier: MIT */
/*
 * hpm-sign: the release description file (docs/hpm-sign.md "Release
 * files"): one reviewed INI file (inih) that says what `hpm-sign build
 * --from` builds.  This file parses and checks it from memory, every field
 * and every combination, with messages "FILE:LINE: [section] key: problem;
 * fix"; cmd_release.c turns the result into a builder's options.  No I/O
 * here: tests/fuzz/fuzz_release_file.c runs it on arbitrary bytes.
 */
#include <ini.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "hpm-sign.h"

#define RF_MAX_LINE 8192 /* a line; a --cmdline is at most 4096 bytes */

typedef const char *(*rf_check)(const char *v, char *why, size_t cap);

/* One key of the file: where it is allowed, where its value goes. */
typedef struct {
  const char *section, *key;
  size_t off;     /* offsetof(release_spec, field or list) */
  size_t max;     /* 0: a single value; else a list of at most max */
  rf_check check; /* NULL: any non-empty value */
} rf_key;

/* ---- the checks of single values: NULL or the problem and its fix ------ */

static const char *say(char *why, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static const char *say(char *why, size_t cap, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, cap, fmt, ap);
  va_end(ap);
  return why;
}

static const char *c_kind(const char *v, char *why, size_t cap) {
  static const char *const k[] = {"baseline", "hotpatch", "catalog"};
  return word_index(v, k, 3) < 0 ? say(why, cap, "expected baseline, hotpatch or catalog") : NULL;
}
static const char *c_path(const char *v, char *why, size_t cap) {
  return strlen(v) >= 4096 ? say(why, cap, "a path of at most 4095 characters") : NULL;
}
static const char *c_compat(const char *v, char *why, size_t cap) {
  const char *w = check_printable(v, HPM_COMPAT_MAX);
  return w ? say(why, cap, "%s", w) : NULL;
}
static const char *c_version(const char *v, char *why, size_t cap) {
  const char *w = check_printable(v, HPM_VERSION_MAX);
  return w ? say(why, cap, "%s", w) : NULL;
}
static const char *c_u32(const char *v, char *why, size_t cap) {
  uint32_t n;
  return hpmh_parse_u32(v, &n) ? say(why, cap, "expected an unsigned decimal number 0..4294967295") : NULL;
}
static const char *c_pos32(const char *v, char *why, size_t cap) {
  uint32_t n;
  return hpmh_parse_u32(v, &n) || n == 0 ? say(why, cap, "expected a decimal number 1..4294967295") : NULL;
}
static const char *c_serial(const char *v, char *why, size_t cap) {
  uint64_t n;
  return !parse_u64(v, &n) || n == 0 ? say(why, cap, "expected a number 1..18446744073709551615, higher than the "
                                                    "last catalog's")
                                     : NULL;
}
static const char *c_time(const char *v, char *why, size_t cap) {
  uint64_t t;
  return parse_time(v, &t) ? NULL : say(why, cap, "expected seconds since 1970, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ");
}
static const char *c_expires(const char *v, char *why, size_t cap) {
  uint64_t t;
  if (v[0] == '+' && parse_u64(v + 1, &t) && t > 0 && t <= 36500) return NULL;
  return parse_time(v, &t) ? NULL : say(why, cap, "expected a time (as for timestamp) or +DAYS (1..36500)");
}
static const char *c_cmdline(const char *v, char *why, size_t cap) {
  size_t n = strlen(v);
  if (n > CMDLINE_MAX) return say(why, cap, "is %zu bytes; the limit is 4096", n);
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] > 0x7e)
      return say(why, cap, "character %zu is not printable ASCII (0x20-0x7e)", i + 1);
  return NULL;
}
static const char *c_release(const char *v, char *why, size_t cap) {
  static const char *const k[] = {"planned", "unplanned"};
  return word_index(v, k, 2) < 0 ? say(why, cap, "expected planned or unplanned") : NULL;
}
static const char *c_bool(const char *v, char *why, size_t cap) {
  static const char *const k[] = {"yes", "no", "true", "false"};
  return word_index(v, k, 4) < 0 ? say(why, cap, "expected yes or no") : NULL;
}
static const char *c_class(const char *v, char *why, size_t cap) {
  return word_index(v, classification_words, 3) < 0 ? say(why, cap, "expected critical, security or other") : NULL;
}
static const char *c_id(const char *v, char *why, size_t cap) {
  const char *w = check_id(v);
  return w ? say(why, cap, "%s", w) : NULL;
}
/* [NAME=]FILE, the rule of --payload. */
static const char *c_payload(const char *v, char *why, size_t cap) {
  const char *eq = strchr(v, '='), *w;
  char name[HPM_NAME_MAX + 1];
  if (eq && eq != v && !memchr(v, '/', (size_t)(eq - v))) {
    size_t n = (size_t)(eq - v);
    if (n > HPM_NAME_MAX) return say(why, cap, "payload name is longer than 31 characters");
    memcpy(name, v, n);
    name[n] = '\0';
    if ((w = check_node_name(name))) return say(why, cap, "payload name '%s' %s", name, w);
    if (!eq[1]) return say(why, cap, "no file after '%s='", name);
    return c_path(eq + 1, why, cap);
  }
  return c_path(v, why, cap);
}
static const char *c_key(const char *v, char *why, size_t cap) {
  if (!strncmp(v, "pkcs11:", 7)) return strlen(v) >= 1024 ? say(why, cap, "a URI of at most 1023 characters") : NULL;
  return c_path(v, why, cap);
}
static const char *c_threshold(const char *v, char *why, size_t cap) {
  uint32_t n;
  return hpmh_parse_u32(v, &n) || n == 0 || n > HPM_MAX_SIGNATURES
             ? say(why, cap, "expected a number of signers, 1..%u", HPM_MAX_SIGNATURES)
             : NULL;
}

static const char *c_build_id(const char *v, char *why, size_t cap) {
  size_t n = strlen(v);
  uint8_t b[HPM_KBUILD_ID_MAX];
  return n == 0 || n % 2 || n / 2 > HPM_KBUILD_ID_MAX || hpmh_parse_hex(v, b, n / 2)
             ? say(why, cap, "expected 2 to %u hex digits, the kernel's GNU build-id as /sys/kernel/notes shows it "
                             "(tools/kpatch-template/kernel-build-id reads it from the image)", 2 * HPM_KBUILD_ID_MAX)
             : NULL;
}
static const char *c_krelease(const char *v, char *why, size_t cap) {
  const char *w = check_printable(v, HPM_KRELEASE_MAX);
  return w ? say(why, cap, "%s", w) : NULL;
}

#define F(field) offsetof(release_spec, field)
static const rf_key keys[] = {
    {"release", "kind", F(kind_s), 0, c_kind},
    {"release", "out", F(out), 0, c_path},
    {"release", "compat", F(compat), 0, c_compat},
    {"release", "timestamp", F(timestamp), 0, c_time},
    {"baseline", "kernel", F(kernel), 0, c_path},
    {"baseline", "initrd", F(initrd), 0, c_path},
    {"baseline", "cmdline", F(cmdline), 0, c_cmdline},
    {"baseline", "version", F(version), 0, c_version},
    {"baseline", "svn", F(svn), 0, c_u32},
    {"baseline", "release", F(release), 0, c_release},
    {"baseline", "detached", F(detached), 0, c_bool},
    {"hotpatch", "baseline", F(baseline), 0, c_path},
    {"hotpatch", "seq", F(seq), 0, c_pos32},
    {"hotpatch", "classification", F(classification), 0, c_class},
    {"hotpatch", "id", F(id), 0, c_id},
    {"hotpatch", "payload", F(payload), HPM_MAX_PAYLOADS, c_payload},
    {"hotpatch", "version", F(version), 0, c_version},
    {"hotpatch", "svn", F(svn), 0, c_u32},
    {"hotpatch", "kernel-module", F(kernel_module), 0, c_path},
    {"hotpatch", "kernel-build-id", F(kernel_build_id), 0, c_build_id},
    {"hotpatch", "kernel-release", F(kernel_release), 0, c_krelease},
    {"catalog", "serial", F(serial), 0, c_serial},
    {"catalog", "expires", F(expires), 0, c_expires},
    {"catalog", "entry", F(entry), RF_MAX_ENTRIES, c_path},
    {"catalog", "trust", F(trust), HPM_MAX_SIGNATURES, c_path},
    {"catalog", "allow-expired", F(allow_expired), 0, c_bool},
    {"signing", "key", F(key), HPM_MAX_SIGNATURES, c_key},
    {"signing", "threshold", F(threshold), 0, c_threshold},
};
#undef F

static const char *const sections[] = {"release", "baseline", "hotpatch", "catalog", "signing"};
#define NSECTIONS (sizeof sections / sizeof sections[0])

/* ---- parsing ------------------------------------------------------------- */

typedef struct {
  release_spec *s;
  const char *file;
  const char *text, *end, *pos;
  int line;         /* of the line being parsed */
  bool at_start;    /* the next chunk starts a line */
  bool failed;
  char *err;
  size_t cap;
} rf_ctx;

static int fail(rf_ctx *c, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(rf_ctx *c, int line, const char *fmt, ...) {
  va_list ap;
  size_t n;
  if (c->failed) return 0;
  c->failed = true;
  n = (size_t)snprintf(c->err, c->cap, line > 0 ? "%s:%d: " : "%s: ", c->file, line);
  if (n < c->cap) {
    va_start(ap, fmt);
    vsnprintf(c->err + n, c->cap - n, fmt, ap);
    va_end(ap);
  }
  return 0;
}

/* inih's line reader over the text: fgets-like, and it counts lines. */
static char *read_chunk(char *str, int num, void *stream) {
  rf_ctx *c = stream;
  size_t n = 0;
  if (c->pos >= c->end || num < 2) return NULL;
  if (c->at_start) c->line++;
  while (c->pos < c->end && n + 1 < (size_t)num) {
    char ch = *c->pos++;
    str[n++] = ch;
    if (ch == '\n') break;
  }
  str[n] = '\0';
  c->at_start = str[n - 1] == '\n';
  return str;
}

static rf_field *slot_of(release_spec *s, const rf_key *k, int line, rf_ctx *c) {
  char *base = (char *)s + k->off;
  if (!k->max) {
    rf_field *f = (rf_field *)base;
    if (f->v) {
      fail(c, line, "[%s] %s: set twice (first on line %d); keep one (an indented line does not continue a value)",
           k->section, k->key, f->line);
      return NULL;
    }
    return f;
  }
  rf_list *l = (rf_list *)base;
  if (l->n == k->max) {
    fail(c, line, "[%s] %s: at most %zu", k->section, k->key, k->max);
    return NULL;
  }
  if (!l->v) {
    l->v = calloc(k->max, sizeof *l->v);
    if (!l->v) {
      fail(c, line, "out of memory");
      return NULL;
    }
  }
  return &l->v[l->n++];
}

static int handler(void *user, const char *section, const char *name, const char *value) {
  rf_ctx *c = user;
  const rf_key *k = NULL;
  size_t si;
  char why[300];
  const char *w;
  rf_field *f;

  if (c->failed) return 0;
  for (si = 0; si < NSECTIONS; si++)
    if (!strcmp(section, sections[si])) break;
  if (si == NSECTIONS)
    return section[0] ? fail(c, c->line, "[%s]: unknown section; the sections are [release], [baseline], "
                                         "[hotpatch], [catalog] and [signing]", section)
                      : fail(c, c->line, "%s: a key before any section; put it under [release], [baseline], "
                                         "[hotpatch], [catalog] or [signing]", name);
  if (!c->s->section_line[si]) c->s->section_line[si] = c->line;
  for (size_t i = 0; i < sizeof keys / sizeof keys[0] && !k; i++)
    if (!strcmp(keys[i].section, section) && !strcmp(keys[i].key, name)) k = &keys[i];
  if (!k) {
    char list[300];
    size_t n = 0;
    list[0] = '\0';
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
      if (!strcmp(keys[i].section, section) && n < sizeof list)
        n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", n ? ", " : "", keys[i].key);
    return fail(c, c->line, "[%s] %s: unknown key; the keys of [%s] are %s", section, name, section, list);
  }
  if (!value[0]) return fail(c, c->line, "[%s] %s: empty value; give one or remove the line", section, name);
  if ((w = k->check(value, why, sizeof why))) return fail(c, c->line, "[%s] %s = %s: %s", section, name, value, w);
  if (!(f = slot_of(c->s, k, c->line, c))) return 0;
  f->v = strdup(value);
  f->line = c->line;
  if (!f->v) return fail(c, c->line, "out of memory");
  return 1;
}

/* ---- the combination of fields ------------------------------------------ */

int rf_section_line(const release_spec *s, const char *section) {
  for (size_t i = 0; i < NSECTIONS; i++)
    if (!strcmp(sections[i], section)) return s->section_line[i];
  return 0;
}

static int check_whole(rf_ctx *c) {
  release_spec *s = c->s;
  static const char *const kinds[] = {"baseline", "hotpatch", "catalog"};
  int kind_bit;
  if (!s->kind_s.v)
    return fail(c, rf_section_line(s, "release"), "[release] kind: missing; say what this file builds: "
                                                  "kind = baseline, hotpatch or catalog");
  s->kind = (hpm_kind)(word_index(s->kind_s.v, kinds, 3) + 1);
  kind_bit = 1 << (word_index(s->kind_s.v, kinds, 3));
  if (!s->out.v) return fail(c, rf_section_line(s, "release"), "[release] out: missing; name the file to write "
                                                               "(relative to this file), e.g. out = slot-a.hpm");
  /* sections of another kind are a mistake, not something to ignore */
  for (size_t i = 1; i <= 3; i++)
    if (s->section_line[i] && !((kind_bit >> (i - 1)) & 1))
      return fail(c, s->section_line[i], "[%s]: does not apply to kind = %s (line %d); remove the section or change "
                                         "the kind", sections[i], s->kind_s.v, s->kind_s.line);
  if (s->timestamp.v && s->kind != HPM_KIND_CATALOG) {
    uint64_t t;
    if (!parse_u64(s->timestamp.v, &t))
      return fail(c, s->timestamp.line, "[release] timestamp = %s: a %s's timestamp is seconds since 1970 (digits)",
                  s->timestamp.v, s->kind_s.v);
  }
  switch (s->kind) {
    case HPM_KIND_BASELINE:
      if (!s->kernel.v)
        return fail(c, rf_section_line(s, "baseline"), "[baseline] kernel: missing; name the kernel image, e.g. "
                                                       "kernel = vmlinuz");
      if (!s->version.v) return fail(c, rf_section_line(s, "baseline"), "[baseline] version: missing; e.g. version = 2026.1");
      if (!s->svn.v)
        return fail(c, rf_section_line(s, "baseline"), "[baseline] svn: missing; the security version, e.g. svn = 1");
      break;
    case HPM_KIND_HOTPATCH: {
      static const char *const req[] = {"baseline", "seq", "classification", "id"};
      const rf_field *f[] = {&s->baseline, &s->seq, &s->classification, &s->id};
      for (int i = 0; i < 4; i++)
        if (!f[i]->v) return fail(c, rf_section_line(s, "hotpatch"), "[hotpatch] %s: missing; see the example in "
                                                                     "docs/examples/release-hotpatch.ini", req[i]);
      if (!s->payload.n && !s->kernel_module.v)
        return fail(c, rf_section_line(s, "hotpatch"), "[hotpatch] payload: missing; a hotpatch carries at least one "
                                                       "payload made by hpm-patchgen, e.g. payload = fix.bin, or a "
                                                       "kernel part, kernel-module = livepatch.ko");
      if (s->kernel_module.v && !s->kernel_build_id.v)
        return fail(c, s->kernel_module.line, "[hotpatch] kernel-build-id: missing; the kernel-module is for one "
                                              "kernel build: give its GNU build-id, e.g. kernel-build-id = 6a2b4ac7...");
      if (!s->kernel_module.v && (s->kernel_build_id.v || s->kernel_release.v)) {
        const rf_field *extra = s->kernel_build_id.v ? &s->kernel_build_id : &s->kernel_release;
        return fail(c, extra->line, "[hotpatch] %s: describes a kernel-module; give kernel-module = FILE.ko or remove "
                                "the line", s->kernel_build_id.v ? "kernel-build-id" : "kernel-release");
      }
      if (s->kernel_module.v && s->payload.n >= HPM_MAX_PAYLOADS)
        return fail(c, s->kernel_module.line, "[hotpatch] kernel-module: %zu payloads and a kernel part are more than "
                                              "%u payloads", s->payload.n, HPM_MAX_PAYLOADS);
      break;
    }
    default:
      if (!s->serial.v)
        return fail(c, rf_section_line(s, "catalog"), "[catalog] serial: missing; higher than the last catalog's, "
                                                      "e.g. serial = 12");
      if (!s->expires.v)
        return fail(c, rf_section_line(s, "catalog"), "[catalog] expires: missing; e.g. expires = +30 (days) or "
                                                      "expires = 2027-01-01");
      if (!s->entry.n)
        return fail(c, rf_section_line(s, "catalog"), "[catalog] entry: missing; list each release, e.g. "
                                                      "entry = base-2026.1.hpm:class=security");
      break;
  }
  if (!s->key.n)
    return fail(c, rf_section_line(s, "signing"), "[signing] key: missing; name each signing key: a private key "
                                                  "file or a pkcs11: URI");
  if (s->threshold.v) {
    uint32_t th = 0;
    (void)hpmh_parse_u32(s->threshold.v, &th);
    if (th > s->key.n)
      return fail(c, s->threshold.line, "[signing] threshold = %u: only %zu key(s) sign; add keys, or sign with "
                                        "the others later (hpm-sign countersign) and lower the threshold here",
                  th, s->key.n);
  }
  return 1;
}

int rf_parse(const char *text, size_t len, const char *file, release_spec *s, char *err, size_t cap) {
  rf_ctx c = {.s = s, .file = file, .text = text, .end = text + len, .pos = text, .at_start = true,
              .err = err, .cap = cap};
  const char *nul = memchr(text, '\0', len);
  int line;
  memset(s, 0, sizeof *s);
  err[0] = '\0';
  if (nul) {
    fail(&c, 0, "a NUL byte at offset %zu: not a text file", (size_t)(nul - text));
    return -1;
  }
  /* inih's settings (Debian builds them as variables): long lines (a
   * command line), no continuation lines (an indented line is an error,
   * not a silent extension of the value above). */
  ini_allow_multiline = false;
  ini_use_stack = false;
  ini_allow_realloc = true;
  ini_max_line = RF_MAX_LINE;
  line = ini_parse_stream(read_chunk, &c, handler, &c);
  if (line > 0 && !c.failed)
    fail(&c, line, "not an INI line; write [section] or key = value (comments start with ; or #), at most %d "
                   "characters", RF_MAX_LINE - 2);
  if (line < 0 && !c.failed) fail(&c, 0, "out of memory");
  if (!c.failed) check_whole(&c);
  return c.failed ? -1 : 0;
}

void rf_free(release_spec *s) {
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
    char *base = (char *)s + keys[i].off;
    if (!keys[i].max) {
      rf_field *f = (rf_field *)base;
      free((char *)f->v);
      f->v = NULL;
    } else {
      rf_list *l = (rf_list *)base;
      for (size_t j = 0; j < l->n; j++) free((char *)l->v[j].v);
      free(l->v);
      l->v = NULL;
      l->n = 0;
    }
  }
}
