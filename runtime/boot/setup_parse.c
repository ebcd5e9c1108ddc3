/* SPDX-License-Identifier: MIT */
/*
 * The two parsers of `hpm setup` (setup.h): its record on the ESP and
 * efibootmgr's listing.  Both read bounded lines out of a buffer that need
 * not end in a NUL; neither trusts a length or a field it did not check.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "boot/setup.h"
#include "hex.h"
#include "hpm/core.h"

/* The next line of buf[*pos..len) into line (without its newline, NUL
 * terminated); false at the end or when a line does not fit (*too_long). */
static bool next_line(const char *buf, size_t len, size_t *pos, char *line, size_t cap, bool *too_long) {
  if (*pos >= len) return false;
  size_t start = *pos, end = start;
  while (end < len && buf[end] != '\n') end++;
  *pos = end < len ? end + 1 : end;
  if (end - start >= cap) {
    *too_long = true;
    return false;
  }
  memcpy(line, buf + start, end - start);
  line[end - start] = 0;
  if (memchr(line, 0, end - start)) {
    *too_long = true; /* a NUL inside: not text */
    return false;
  }
  return true;
}

static bool hex4(const char *s) {
  for (int i = 0; i < 4; i++)
    if (!isxdigit((unsigned char)s[i])) return false;
  return true;
}

/* A path a setup may have written: EFI/hpm/NAME or SETUP_DIR/NAME with a
 * plain file name, or one of the folders. */
static bool path_ok(const char *p, bool dir) {
  if (dir) return !strcmp(p, "EFI") || !strcmp(p, "EFI/hpm") || !strcmp(p, SETUP_DIR);
  const char *name = NULL;
  if (!strncmp(p, "EFI/hpm/", 8)) name = p + 8;
  else if (!strncmp(p, SETUP_DIR "/", sizeof SETUP_DIR)) name = p + sizeof SETUP_DIR;
  if (!name || !*name || name[0] == '.' || strlen(name) > HPM_FILE_MAX) return false;
  for (const char *c = name; *c; c++)
    if (!isalnum((unsigned char)*c) && *c != '.' && *c != '_' && *c != '-') return false;
  return true;
}

int setup_record_parse(const char *buf, size_t len, setup_record *r, hpmh_status *st) {
  memset(r, 0, sizeof *r);
  if (len > SETUP_RECORD_MAX) return hpmh_fail(st, HPMH_E_INVALID, NULL, "larger than %u bytes", SETUP_RECORD_MAX);
  char line[256];
  size_t pos = 0;
  unsigned n = 0;
  bool too_long = false, magic = false;
  while (next_line(buf, len, &pos, line, sizeof line, &too_long)) {
    n++;
    char hex[65], rest[sizeof line];
    if (n == 1) {
      if (strcmp(line, SETUP_MAGIC)) return hpmh_fail(st, HPMH_E_INVALID, NULL, "line 1: not '" SETUP_MAGIC "'");
      magic = true;
    } else if (!strncmp(line, "entry ", 6)) {
      if (strlen(line) != 10 || !hex4(line + 6) || r->entry[0])
        return hpmh_fail(st, HPMH_E_INVALID, NULL, "line %u: entry: expected one 4-digit hex number", n);
      memcpy(r->entry, line + 6, 5);
    } else if (!strncmp(line, "baseline ", 9)) {
      /* "baseline SVN DIGEST VERSION": decimal, 64 hex digits, the rest */
      const char *p = line + 9, *sp = strchr(p, ' ');
      size_t nl = sp ? (size_t)(sp - p) : 0;
      char num[12];
      uint32_t svn = 0;
      bool ok = !r->has_baseline && nl && nl < sizeof num && strlen(sp) >= 67 && sp[65] == ' ';
      if (ok) {
        memcpy(num, p, nl);
        num[nl] = 0;
        memcpy(hex, sp + 1, 64);
        hex[64] = 0;
      }
      const char *ver = ok ? sp + 66 : "";
      if (!ok || hpmh_parse_u32(num, &svn) || hpmh_parse_hex(hex, r->digest, HPM_DIGEST_LEN) ||
          strlen(ver) > HPM_VERSION_MAX)
        return hpmh_fail(st, HPMH_E_INVALID, NULL, "line %u: baseline: expected SVN DIGEST VERSION", n);
      r->has_baseline = true;
      r->svn = svn;
      snprintf(r->version, sizeof r->version, "%s", ver);
    } else if (!strncmp(line, "dir ", 4)) {
      if (r->ndirs == SETUP_MAX_DIRS || !path_ok(line + 4, true))
        return hpmh_fail(st, HPMH_E_INVALID, NULL, "line %u: dir: not a folder hpm setup creates", n);
      snprintf(r->dirs[r->ndirs++], SETUP_PATH_MAX, "%.*s", SETUP_PATH_MAX - 1, line + 4); /* path_ok: short */
    } else if (!strncmp(line, "file ", 5)) {
      if (r->nfiles == SETUP_MAX_FILES || sscanf(line + 5, "%64[0-9a-f] %255s", hex, rest) != 2 || strlen(hex) != 64 ||
          strlen(line + 5) != 65 + strlen(rest) || !path_ok(rest, false))
        return hpmh_fail(st, HPMH_E_INVALID, NULL, "line %u: file: expected SHA256 PATH under EFI/hpm or " SETUP_DIR, n);
      setup_file *f = &r->files[r->nfiles++];
      hpmh_parse_hex(hex, f->sha256, 32);
      snprintf(f->path, sizeof f->path, "%.*s", SETUP_PATH_MAX - 1, rest); /* path_ok: short */
    } else {
      return hpmh_fail(st, HPMH_E_INVALID, NULL, "line %u: unknown line", n);
    }
  }
  if (too_long) return hpmh_fail(st, HPMH_E_INVALID, NULL, "line %u: too long or not text", n + 1);
  if (!magic) return hpmh_fail(st, HPMH_E_INVALID, NULL, "empty");
  return 0;
}

size_t setup_record_write(const setup_record *r, char *out, size_t cap) {
  size_t n = 0;
  int w;
#define PUT(...)                                                                                                     \
  do {                                                                                                               \
    w = snprintf(out + n, cap - n, __VA_ARGS__);                                                                     \
    if (w < 0 || (size_t)w >= cap - n) return 0;                                                                     \
    n += (size_t)w;                                                                                                  \
  } while (0)
  PUT("%s\n", SETUP_MAGIC);
  if (r->entry[0]) PUT("entry %s\n", r->entry);
  if (r->has_baseline) {
    char hx[2 * HPM_DIGEST_LEN + 1];
    hpm_fmt_hex(r->digest, HPM_DIGEST_LEN, hx, sizeof hx);
    PUT("baseline %u %s %s\n", r->svn, hx, r->version);
  }
  for (size_t i = 0; i < r->ndirs; i++) PUT("dir %s\n", r->dirs[i]);
  for (size_t i = 0; i < r->nfiles; i++) {
    char hx[65];
    hpm_fmt_hex(r->files[i].sha256, 32, hx, sizeof hx);
    PUT("file %s %s\n", hx, r->files[i].path);
  }
#undef PUT
  return n;
}

/* Case-insensitive substring (FAT names, GUID digits). */
static bool contains_nocase(const char *hay, const char *needle) {
  size_t n = strlen(needle);
  for (; *hay; hay++)
    if (!strncasecmp(hay, needle, n)) return true;
  return false;
}

int setup_bootlist_parse(const char *buf, size_t len, const char *loader, const char *partuuid, setup_bootlist *b) {
  memset(b, 0, sizeof *b);
  char line[4096];
  size_t pos = 0;
  bool too_long = false, any = false;
  for (;;) {
    too_long = false;
    if (!next_line(buf, len, &pos, line, sizeof line, &too_long)) {
      if (too_long) continue; /* a long entry is someone else's: skip it */
      break;
    }
    if (!strncmp(line, "BootOrder: ", 11)) {
      any = true;
      b->norder = 0;
      for (const char *p = line + 11; *p && b->norder < SETUP_MAX_ORDER;) {
        if (!hex4(p) || (p[4] && p[4] != ',')) break;
        memcpy(b->order[b->norder], p, 4);
        b->order[b->norder++][4] = 0;
        p += p[4] ? 5 : 4;
      }
    } else if (!strncmp(line, "Boot", 4) && strlen(line) >= 9 && hex4(line + 4) &&
               (line[8] == '*' || line[8] == ' ')) {
      any = true;
      bool ours = contains_nocase(line + 9, loader) && (!partuuid[0] || contains_nocase(line + 9, partuuid));
      if (ours && b->nfound < sizeof b->found / sizeof b->found[0]) {
        memcpy(b->found[b->nfound], line + 4, 4);
        b->found[b->nfound++][4] = 0;
      }
    }
  }
  return any ? 0 : -1;
}

/* ---- the boot image's key record ---------------------------------------- */

static uint32_t rd16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t rd32(const uint8_t *p) { return rd16(p) | rd16(p + 2) << 16; }

#define KEYREC_MAGIC "HPMKEYS"   /* and a NUL: 8 bytes */
#define KEYREC_HEAD 24u          /* magic, format, threshold, count, flags */
#define KEYREC_DER_MAX 1024u

static int keyrec_parse(const uint8_t *p, size_t n, setup_image_keys *k, hpmh_status *st) {
  if (n < KEYREC_HEAD || memcmp(p, KEYREC_MAGIC, 8))
    return hpmh_fail(st, HPMH_E_INVALID, ".hpmkeys", "its .hpmkeys section is not a key record");
  uint32_t format = rd32(p + 8), threshold = rd32(p + 12), count = rd32(p + 16), flags = rd32(p + 20);
  if (format != 1)
    return hpmh_fail(st, HPMH_E_INVALID, ".hpmkeys", "key record format %u (this hpm reads format 1): use the hpm "
                     "that came with the image", format);
  if (count < 1 || count > SETUP_IMAGE_MAX_KEYS || threshold < 1 || threshold > count)
    return hpmh_fail(st, HPMH_E_INVALID, ".hpmkeys", "key record: %u keys, threshold %u (1..16 keys, threshold "
                     "1..keys)", count, threshold);
  if (flags & ~1u)
    return hpmh_fail(st, HPMH_E_INVALID, ".hpmkeys", "key record: unknown flags 0x%x", flags);
  size_t pos = KEYREC_HEAD;
  for (uint32_t i = 0; i < count; i++) {
    if (n - pos < 3) return hpmh_fail(st, HPMH_E_INVALID, ".hpmkeys", "key record: key %u is cut short", i + 1);
    size_t dlen = rd16(p + pos), nlen = p[pos + 2];
    pos += 3;
    if (!dlen || dlen > KEYREC_DER_MAX || nlen > SETUP_IMAGE_KEY_NAME || n - pos < nlen + dlen)
      return hpmh_fail(st, HPMH_E_INVALID, ".hpmkeys", "key record: key %u has a bad length", i + 1);
    for (size_t j = 0; j < nlen; j++)
      if (!isalnum(p[pos + j]) && !strchr("._-", p[pos + j]))
        return hpmh_fail(st, HPMH_E_INVALID, ".hpmkeys", "key record: key %u has a bad name", i + 1);
    memcpy(k->keys[i].name, p + pos, nlen);
    k->keys[i].name[nlen] = 0;
    k->keys[i].der = p + pos + nlen;
    k->keys[i].len = dlen;
    pos += nlen + dlen;
  }
  for (; pos < n; pos++) /* the section's alignment padding */
    if (p[pos]) return hpmh_fail(st, HPMH_E_INVALID, ".hpmkeys", "key record: bytes after the last key");
  k->threshold = threshold;
  k->count = count;
  k->development = flags & 1u;
  return 0;
}

int setup_image_keys_parse(const uint8_t *img, size_t len, setup_image_keys *k, hpmh_status *st) {
  memset(k, 0, sizeof *k);
  if (len < 0x40 || memcmp(img, "MZ", 2))
    return hpmh_fail(st, HPMH_E_INVALID, "image", "not an EFI (PE) image: no MZ header");
  size_t pe = rd32(img + 0x3c);
  if (pe > len || len - pe < 24 || memcmp(img + pe, "PE\0\0", 4))
    return hpmh_fail(st, HPMH_E_INVALID, "image", "not an EFI (PE) image: no PE header");
  size_t nsec = rd16(img + pe + 6), optlen = rd16(img + pe + 20);
  size_t tab = pe + 24 + optlen;
  if (tab > len || (len - tab) / 40 < nsec)
    return hpmh_fail(st, HPMH_E_INVALID, "image", "PE section table outside the file");
  const uint8_t *sec = NULL;
  for (size_t i = 0; i < nsec; i++) {
    const uint8_t *h = img + tab + 40 * i;
    if (memcmp(h, ".hpmkeys", 8)) continue;
    if (sec) return hpmh_fail(st, HPMH_E_INVALID, ".hpmkeys", "two .hpmkeys sections");
    sec = h;
  }
  if (!sec)
    return hpmh_fail(st, HPMH_E_INVALID, ".hpmkeys", "no .hpmkeys section: not an hpmboot.efi image, or one built "
                     "before images carried their key record; build it with this version (make hpmboot-release)");
  size_t vsize = rd32(sec + 8), raw = rd32(sec + 16), off = rd32(sec + 20);
  size_t n = vsize && vsize < raw ? vsize : raw;
  if (off > len || len - off < n)
    return hpmh_fail(st, HPMH_E_INVALID, ".hpmkeys", "the .hpmkeys section lies outside the file");
  return keyrec_parse(img + off, n, k, st);
}
