/* SPDX-License-Identifier: MIT */
#include "kmod.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define SIG_MARKER "~Module signature appended~\n"
#define SIG_INFO_SIZE 12u /* struct module_signature */

static uint16_t ld16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t ld32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t ld64(const uint8_t *p) { return (uint64_t)ld32(p) | (uint64_t)ld32(p + 4) << 32; }

__attribute__((format(printf, 3, 4))) static int fail(char *why, size_t cap, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (why && cap) vsnprintf(why, cap, fmt, ap);
  va_end(ap);
  return -1;
}

/* The ELF part of a module: without the appended signature, if any
 * (marker at the end, preceded by the signature and its 12-byte info,
 * whose last 4 bytes are the signature length, big-endian). */
static int strip_signature(const uint8_t *buf, size_t len, size_t *elf_len, char *why, size_t cap) {
  size_t ml = sizeof SIG_MARKER - 1;
  *elf_len = len;
  if (len < ml || memcmp(buf + len - ml, SIG_MARKER, ml) != 0) return 0;
  if (len - ml < SIG_INFO_SIZE) return fail(why, cap, "module signature: truncated");
  const uint8_t *info = buf + len - ml - SIG_INFO_SIZE;
  uint32_t sig_len = (uint32_t)info[8] << 24 | (uint32_t)info[9] << 16 | (uint32_t)info[10] << 8 | info[11];
  if (sig_len > len - ml - SIG_INFO_SIZE) return fail(why, cap, "module signature: length %u exceeds the file", sig_len);
  *elf_len = len - ml - SIG_INFO_SIZE - sig_len;
  return 0;
}

/* key=value in a .modinfo entry; copies value (at most cap-1 characters,
 * printable ASCII) into out.  Returns 1 matched, 0 other key, -1 bad value. */
static int modinfo_value(const char *e, size_t elen, const char *key, char *out, size_t cap) {
  size_t kl = strlen(key);
  if (elen <= kl || memcmp(e, key, kl) != 0 || e[kl] != '=') return 0;
  size_t vl = elen - kl - 1;
  if (vl >= cap) return -1;
  for (size_t i = 0; i < vl; i++)
    if (e[kl + 1 + i] < 0x20 || e[kl + 1 + i] > 0x7e) return -1;
  memcpy(out, e + kl + 1, vl);
  out[vl] = '\0';
  return 1;
}

static int parse_modinfo(const char *mi, size_t n, hpmh_kmod_info *out, char *why, size_t cap) {
  char seq[16] = "", lp[4] = "";
  int have_name = 0, have_vermagic = 0;
  for (size_t i = 0; i < n;) {
    size_t e = i;
    while (e < n && mi[e]) e++;
    if (e == n) return fail(why, cap, ".modinfo: last entry is not NUL-terminated");
    size_t el = e - i;
    int r;
    if ((r = modinfo_value(mi + i, el, "name", out->name, sizeof out->name))) {
      if (r < 0 || have_name++) return fail(why, cap, ".modinfo name: too long, not printable or twice");
    } else if ((r = modinfo_value(mi + i, el, "vermagic", out->vermagic, sizeof out->vermagic))) {
      if (r < 0 || have_vermagic++) return fail(why, cap, ".modinfo vermagic: too long, not printable or twice");
    } else if ((r = modinfo_value(mi + i, el, "livepatch", lp, sizeof lp))) {
      if (r < 0 || strcmp(lp, "Y") != 0) return fail(why, cap, ".modinfo livepatch: must be Y");
      out->livepatch = 1;
    } else if ((r = modinfo_value(mi + i, el, "hpm_sequence", seq, sizeof seq))) {
      unsigned long long v = 0;
      if (r < 0 || !seq[0] || strlen(seq) > 10) return fail(why, cap, ".modinfo hpm_sequence: not a number");
      for (const char *c = seq; *c; c++) {
        if (*c < '0' || *c > '9') return fail(why, cap, ".modinfo hpm_sequence: not a number");
        v = v * 10 + (unsigned)(*c - '0');
      }
      if (v == 0 || v > UINT32_MAX) return fail(why, cap, ".modinfo hpm_sequence: must be 1..4294967295");
      out->sequence = (uint32_t)v;
    }
    i = e + 1;
    while (i < n && mi[i] == '\0') i++; /* entries are padded */
  }
  if (!have_name) return fail(why, cap, ".modinfo: no name= (not a kernel module built by Kbuild)");
  if (!have_vermagic) return fail(why, cap, ".modinfo: no vermagic=");
  if (!out->name[0]) return fail(why, cap, ".modinfo name: empty");
  if (!out->vermagic[0]) return fail(why, cap, ".modinfo vermagic: empty");
  for (const char *c = out->name; *c; c++)
    if (!((*c >= 'a' && *c <= 'z') || *c == '_' || (c > out->name && *c >= '0' && *c <= '9')))
      return fail(why, cap, ".modinfo name '%s': must be a-z _ then a-z 0-9 _", out->name);
  return 0;
}

int hpmh_kmod_parse(const uint8_t *buf, size_t len, hpmh_kmod_info *out, char *why, size_t cap) {
  size_t n;
  memset(out, 0, sizeof *out);
  if (strip_signature(buf, len, &n, why, cap)) return -1;
  out->elf_len = n;
  if (n < 64 || memcmp(buf, "\177ELF", 4) != 0) return fail(why, cap, "not an ELF file");
  if (buf[4] != 2 || buf[5] != 1) return fail(why, cap, "ELF header: not 64-bit little-endian");
  if (ld16(buf + 16) != 1) return fail(why, cap, "ELF header: not a relocatable object (ET_REL), so not a module");
  if (ld16(buf + 18) != 62) return fail(why, cap, "ELF header: machine is not x86-64");
  uint64_t shoff = ld64(buf + 40);
  uint16_t shentsize = ld16(buf + 58), shnum = ld16(buf + 60), shstrndx = ld16(buf + 62);
  if (shentsize != 64 || shnum == 0 || shstrndx >= shnum) return fail(why, cap, "ELF header: bad section header table");
  if (shoff > n || (uint64_t)shnum * 64 > n - shoff) return fail(why, cap, "ELF section headers: outside the file");
  const uint8_t *sh = buf + shoff;
  const uint8_t *ss = sh + (size_t)shstrndx * 64;
  uint64_t str_off = ld64(ss + 24), str_size = ld64(ss + 32);
  if (ld32(ss + 4) != 3 || str_off > n || str_size > n - str_off)
    return fail(why, cap, "ELF section name table: bad or outside the file");
  const uint8_t *mi = NULL;
  uint64_t mi_size = 0;
  for (uint16_t i = 0; i < shnum; i++) {
    const uint8_t *s = sh + (size_t)i * 64;
    uint32_t nm = ld32(s);
    if (nm >= str_size) return fail(why, cap, "ELF section %u: name outside the name table", i);
    const char *name = (const char *)buf + str_off + nm;
    size_t room = (size_t)(str_size - nm);
    if (strnlen(name, room) == room) return fail(why, cap, "ELF section %u: name not terminated", i);
    if (strcmp(name, ".modinfo") != 0) continue;
    if (mi) return fail(why, cap, "ELF: two .modinfo sections");
    uint64_t off = ld64(s + 24), size = ld64(s + 32);
    if (ld32(s + 4) != 1 || off > n || size > n - off || size == 0)
      return fail(why, cap, "ELF .modinfo: empty, not PROGBITS or outside the file");
    mi = buf + off;
    mi_size = size;
  }
  if (!mi) return fail(why, cap, "ELF: no .modinfo section, so not a kernel module");
  return parse_modinfo((const char *)mi, (size_t)mi_size, out, why, cap);
}

int hpmh_notes_build_id(const uint8_t *buf, size_t len, uint8_t id[HPM_KBUILD_ID_MAX]) {
  size_t i = 0;
  while (i < len) {
    if (len - i < 12) return -1;
    uint32_t namesz = ld32(buf + i), descsz = ld32(buf + i + 4), type = ld32(buf + i + 8);
    size_t nalign = ((size_t)namesz + 3) & ~(size_t)3, dalign = ((size_t)descsz + 3) & ~(size_t)3;
    i += 12;
    if (nalign > len - i || nalign < namesz) return -1;
    const uint8_t *name = buf + i;
    i += nalign;
    if (dalign > len - i || dalign < descsz) return -1;
    if (type == 3 && namesz == 4 && memcmp(name, "GNU", 4) == 0) {
      if (descsz == 0 || descsz > HPM_KBUILD_ID_MAX) return -1;
      memcpy(id, buf + i, descsz);
      return (int)descsz;
    }
    i += dalign;
  }
  return 0;
}

int hpmh_vermagic_release(const char *vermagic, char *out, size_t cap) {
  size_t n = strcspn(vermagic, " ");
  if (n == 0 || n >= cap) return -1;
  memcpy(out, vermagic, n);
  out[n] = '\0';
  return 0;
}
