/* SPDX-License-Identifier: MIT */
/* Hotpatch payload and ELF build-id parsing: see payload.h. */
#include "payload.h"

#include <stdio.h>
#include <string.h>

static uint16_t ld16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
uint32_t hpp_ld32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t ld64(const uint8_t *p) { return hpp_ld32(p) | (uint64_t)hpp_ld32(p + 4) << 32; }
void hpp_st32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void st16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}
static void st64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static int all_zero(const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i]) return 0;
  return 1;
}

const char *hpp_result_to_string(hpp_result r) {
  switch (r) {
  case HPP_OK: return "ok";
  case HPP_E_TRUNCATED: return "truncated";
  case HPP_E_MAGIC: return "bad magic";
  case HPP_E_VERSION: return "unsupported payload version";
  case HPP_E_HEADER: return "bad header";
  case HPP_E_LIMIT: return "over a limit";
  case HPP_E_FUNC: return "bad function entry";
  case HPP_E_RELOC: return "bad relocation";
  case HPP_E_TRAILING: return "trailing data";
  case HPP_E_IMPORT: return "bad import";
  }
  return "unknown";
}

#define FAIL(code, ...)                                                    \
  do {                                                                     \
    if (detail && detail_len) snprintf(detail, detail_len, __VA_ARGS__);   \
    return (code);                                                         \
  } while (0)

void hpp_func_get(const hpp_payload *p, uint32_t i, hpp_func *f) {
  const uint8_t *e = p->funcs + (size_t)i * HPP_FUNC_SIZE;
  memset(f, 0, sizeof *f);
  f->entry = ld64(e);
  f->region = ld64(e + 8);
  f->size = hpp_ld32(e + 16);
  f->image_off = hpp_ld32(e + 20);
  f->mode = e[24];
  f->region_len = e[25];
  f->flip_off = e[26];
  f->flags = e[27];
  f->inlined = ld16(e + 28);
  f->inlined_stale = ld16(e + 30);
  memcpy(f->orig, e + 32, HPP_REGION_MAX);
  memcpy(f->name, e + 64, HPP_NAME_MAX);
  f->name[HPP_NAME_MAX] = 0;
}

void hpp_reloc_get(const hpp_payload *p, uint32_t i, hpp_reloc *r) {
  const uint8_t *e = p->relocs + (size_t)i * HPP_RELOC_SIZE;
  r->offset = hpp_ld32(e);
  r->type = e[4];
  r->base = e[5];
  r->import = ld16(e + 6);
  r->value = (int64_t)ld64(e + 8);
}

void hpp_import_get(const hpp_payload *p, uint32_t i, hpp_import *im) {
  const uint8_t *e = p->imports + (size_t)i * HPP_IMPORT_SIZE;
  memset(im, 0, sizeof *im);
  memcpy(im->name, e, HPP_IMPORT_NAME_MAX);
  memcpy(im->version, e + HPP_IMPORT_NAME_MAX + 1, HPP_IMPORT_VER_MAX);
}

/* A NUL-padded printable field of n bytes (min: shortest length): 0, or -1. */
static int check_text(const uint8_t *f, size_t n, size_t min) {
  const uint8_t *z = memchr(f, 0, n);
  if (!z) return -1;
  size_t l = (size_t)(z - f);
  if (l < min || !all_zero(z, n - l)) return -1;
  for (size_t k = 0; k < l; k++)
    if (f[k] <= 0x20 || f[k] >= 0x7f || f[k] == '@') return -1;
  return 0;
}

static int check_func(const hpp_payload *p, const uint8_t *e, uint32_t i, char *detail,
                      size_t detail_len) {
  hpp_func f;
  hpp_func_get(p, i, &f);
  const uint8_t *name = e + 64;
  if (name[0] == 0 || memchr(name, 0, 64) == NULL)
    FAIL(1, "functions/%u: symbol name empty or not NUL-terminated", i);
  size_t nl = strlen((const char *)name);
  for (size_t k = 0; k < nl; k++)
    if (name[k] <= 0x20 || name[k] >= 0x7f) FAIL(1, "functions/%u: symbol name has bad characters", i);
  if (!all_zero(name + nl, 64 - nl)) FAIL(1, "functions/%u: symbol name padding not zero", i);
  if (f.region_len < 5 || f.region_len > HPP_REGION_MAX)
    FAIL(1, "functions/%u: region length %u outside 5..32", i, f.region_len);
  if (!all_zero(e + 32 + f.region_len, HPP_REGION_MAX - f.region_len))
    FAIL(1, "functions/%u: original bytes padding not zero", i);
  if (f.flags & ~HPP_F_QUIESCE) FAIL(1, "functions/%u: unknown flags", i);
  if (f.region > UINT64_MAX - HPP_REGION_MAX || f.entry > UINT64_MAX - f.size)
    FAIL(1, "functions/%u: address overflow", i);
  if (f.mode == HPP_MODE_PAD) {
    /* 14-byte pad before the entry, optional endbr64, 2-byte nop to flip */
    if (f.entry != f.region + 14 || (f.flip_off != 14 && f.flip_off != 18))
      FAIL(1, "functions/%u: patchable-entry layout is not pad(14) [endbr64] nop2", i);
    /* version 2: the region may go on over whole body instructions (at
     * least 3 bytes) that a direct entry jump replaces once committed */
    if (f.region_len != f.flip_off + 2 && (p->version < 2 || f.region_len < f.flip_off + 2 + HPP_DIRECT_MIN))
      FAIL(1, "functions/%u: patchable-entry region length %u: must be %u%s", i, f.region_len, f.flip_off + 2u,
           p->version < 2 ? " in a version 1 payload" : " or cover at least 3 body bytes");
    if ((f.orig[f.flip_off] != 0x66 && f.orig[f.flip_off] != 0x90) || f.orig[f.flip_off + 1] != 0x90)
      FAIL(1, "functions/%u: entry bytes are not a 2-byte nop", i);
  } else if (f.mode == HPP_MODE_PROLOGUE) {
    if (f.flip_off != 0 || (f.region != f.entry && f.region != f.entry + 4))
      FAIL(1, "functions/%u: prologue region must start at the entry or after endbr64", i);
  } else if (f.mode == HPP_MODE_CALL) {
    /* version 2: a `call rel32` / `jmp rel32` in the binary whose target is
     * the entry of a function this payload redirects; it is pointed at the
     * same replacement (checked below) */
    if (p->version < 2) FAIL(1, "functions/%u: call sites need a version 2 payload", i);
    if (f.region_len != 5 || f.flip_off != 0 || f.size != 0 || f.flags != 0 || f.inlined || f.inlined_stale)
      FAIL(1, "functions/%u: call site must be 5 bytes, flip_off, size, flags and inlined counts 0", i);
    if (f.orig[0] != 0xe8 && f.orig[0] != 0xe9) FAIL(1, "functions/%u: call site is not call/jmp rel32", i);
    int32_t rel = (int32_t)hpp_ld32(f.orig + 1);
    if (f.region + 5 + (uint64_t)(int64_t)rel != f.entry)
      FAIL(1, "functions/%u: call site target is not its entry field", i);
  } else {
    FAIL(1, "functions/%u: unknown mode %u", i, f.mode);
  }
  if (f.image_off >= p->data_off) FAIL(1, "functions/%u: replacement outside the code part", i);
  return 0;
}

hpp_result hpp_parse(const uint8_t *buf, size_t len, hpp_payload *p, char *detail,
                     size_t detail_len) {
  memset(p, 0, sizeof *p);
  if (!buf || len < HPP_HEADER_SIZE) FAIL(HPP_E_TRUNCATED, "header: %zu bytes, need %u", len, HPP_HEADER_SIZE);
  if (memcmp(buf, HPP_MAGIC, HPP_MAGIC_LEN) != 0) FAIL(HPP_E_MAGIC, "header.magic: not a hotpatch payload");
  p->version = hpp_ld32(buf + 8);
  if (p->version < 1 || p->version > HPP_VERSION)
    FAIL(HPP_E_VERSION, "header.version: %u (this hpm reads 1..%u)", p->version, HPP_VERSION);
  if (hpp_ld32(buf + 12) != HPP_HEADER_SIZE) FAIL(HPP_E_HEADER, "header.header_size");
  if (hpp_ld32(buf + 16) != 0) FAIL(HPP_E_HEADER, "header.flags: unknown flags");
  p->import_count = hpp_ld32(buf + 40);
  if (!all_zero(buf + 44, 4)) FAIL(HPP_E_HEADER, "header.reserved: not zero");
  if (p->version < 3 && p->import_count) FAIL(HPP_E_HEADER, "header.import_count: %u in a version %u payload (imports need version 3)", p->import_count, p->version);
  if (p->import_count > HPP_MAX_IMPORTS)
    FAIL(HPP_E_LIMIT, "header.import_count: %u over %u", p->import_count, HPP_MAX_IMPORTS);
  p->build_id_len = hpp_ld32(buf + 20);
  p->func_count = hpp_ld32(buf + 24);
  p->reloc_count = hpp_ld32(buf + 28);
  p->image_size = hpp_ld32(buf + 32);
  p->data_off = hpp_ld32(buf + 36);
  if (p->build_id_len < 1 || p->build_id_len > HPP_BUILD_ID_MAX)
    FAIL(HPP_E_HEADER, "header.build_id_len: %u outside 1..64", p->build_id_len);
  if (!all_zero(buf + 48 + p->build_id_len, HPP_BUILD_ID_MAX - p->build_id_len))
    FAIL(HPP_E_HEADER, "header.build_id: padding not zero");
  memcpy(p->build_id, buf + 48, HPP_BUILD_ID_MAX);
  if (p->func_count < 1 || p->func_count > HPP_MAX_FUNCS)
    FAIL(HPP_E_LIMIT, "header.func_count: %u outside 1..%u", p->func_count, HPP_MAX_FUNCS);
  if (p->reloc_count > HPP_MAX_RELOCS) FAIL(HPP_E_LIMIT, "header.reloc_count: %u over %u", p->reloc_count, HPP_MAX_RELOCS);
  if (p->image_size < 1 || p->image_size > HPP_IMAGE_MAX)
    FAIL(HPP_E_LIMIT, "header.image_size: %u outside 1..%u", p->image_size, HPP_IMAGE_MAX);
  if (p->data_off > p->image_size || (p->data_off != p->image_size && p->data_off % HPP_PAGE))
    FAIL(HPP_E_HEADER, "header.data_off: %u not page-aligned within the image", p->data_off);
  /* sizes are bounded above, so 64-bit sums cannot overflow */
  uint64_t need = (uint64_t)HPP_HEADER_SIZE + (uint64_t)p->func_count * HPP_FUNC_SIZE +
                  (uint64_t)p->reloc_count * HPP_RELOC_SIZE + (uint64_t)p->import_count * HPP_IMPORT_SIZE +
                  p->image_size;
  if (len < need) FAIL(HPP_E_TRUNCATED, "payload: %zu bytes, layout needs %llu", len, (unsigned long long)need);
  if (len > need) FAIL(HPP_E_TRAILING, "payload: %zu bytes after the image", (size_t)(len - need));
  p->funcs = buf + HPP_HEADER_SIZE;
  p->relocs = p->funcs + (size_t)p->func_count * HPP_FUNC_SIZE;
  p->imports = p->relocs + (size_t)p->reloc_count * HPP_RELOC_SIZE;
  p->image = p->imports + (size_t)p->import_count * HPP_IMPORT_SIZE;

  for (uint32_t i = 0; i < p->func_count; i++) {
    if (check_func(p, p->funcs + (size_t)i * HPP_FUNC_SIZE, i, detail, detail_len))
      return HPP_E_FUNC;
  }
  /* regions and names must be distinct: one redirection per site */
  for (uint32_t i = 0; i < p->func_count; i++) {
    hpp_func a;
    hpp_func_get(p, i, &a);
    for (uint32_t j = i + 1; j < p->func_count; j++) {
      hpp_func b;
      hpp_func_get(p, j, &b);
      if (a.region < b.region + b.region_len && b.region < a.region + a.region_len)
        FAIL(HPP_E_FUNC, "functions/%u: region overlaps functions/%u", j, i);
      if (a.entry == b.entry && a.mode != HPP_MODE_CALL && b.mode != HPP_MODE_CALL)
        FAIL(HPP_E_FUNC, "functions/%u: same entry as functions/%u", j, i);
    }
    if (a.mode == HPP_MODE_CALL) { /* its function is redirected by this payload, to the same code */
      uint32_t k;
      for (k = 0; k < p->func_count; k++) {
        hpp_func c;
        hpp_func_get(p, k, &c);
        if (c.mode != HPP_MODE_CALL && c.entry == a.entry && c.image_off == a.image_off) break;
      }
      if (k == p->func_count) FAIL(HPP_E_FUNC, "functions/%u: call site of a function the payload does not redirect", i);
    }
  }
  uint8_t used[HPP_MAX_IMPORTS / 8];
  memset(used, 0, sizeof used);
  for (uint32_t i = 0; i < p->reloc_count; i++) {
    const uint8_t *e = p->relocs + (size_t)i * HPP_RELOC_SIZE;
    hpp_reloc r;
    hpp_reloc_get(p, i, &r);
    (void)e;
    uint32_t w = r.type == HPP_R_ABS64 ? 8 : r.type == HPP_R_PC32 ? 4 : 0;
    if (!w) FAIL(HPP_E_RELOC, "relocations/%u: unknown type %u", i, r.type);
    if (r.base != HPP_B_IMAGE && r.base != HPP_B_TARGET && (r.base != HPP_B_IMPORT || p->version < 3))
      FAIL(HPP_E_RELOC, "relocations/%u: unknown base %u", i, r.base);
    if (r.base != HPP_B_IMPORT && r.import != 0) FAIL(HPP_E_RELOC, "relocations/%u: reserved bytes not zero", i);
    if (r.base == HPP_B_IMPORT) {
      /* a shared-library address is anywhere: only an 8-byte slot holds it */
      if (r.type != HPP_R_ABS64) FAIL(HPP_E_RELOC, "relocations/%u: an import relocation must be ABS64 (a GOT slot)", i);
      if (r.import >= p->import_count)
        FAIL(HPP_E_RELOC, "relocations/%u: import %u of %u", i, r.import, p->import_count);
      if (r.value < -HPP_IMPORT_ADDEND_MAX || r.value > HPP_IMPORT_ADDEND_MAX)
        FAIL(HPP_E_RELOC, "relocations/%u: import addend out of range", i);
      used[r.import / 8] |= (uint8_t)(1u << (r.import % 8));
    }
    if (r.offset > p->image_size || p->image_size - r.offset < w)
      FAIL(HPP_E_RELOC, "relocations/%u: offset %u outside the image", i, r.offset);
    if (r.base == HPP_B_IMAGE && (r.value < -(int64_t)HPP_IMAGE_MAX || r.value > (int64_t)HPP_IMAGE_MAX * 2))
      FAIL(HPP_E_RELOC, "relocations/%u: image-relative value out of range", i);
    if (r.base == HPP_B_TARGET && (r.value < -((int64_t)1 << 47) || r.value > ((int64_t)1 << 47)))
      FAIL(HPP_E_RELOC, "relocations/%u: target address out of range", i);
  }
  for (uint32_t i = 0; i < p->import_count; i++) {
    const uint8_t *e = p->imports + (size_t)i * HPP_IMPORT_SIZE;
    if (check_text(e, HPP_IMPORT_NAME_MAX + 1, 1))
      FAIL(HPP_E_IMPORT, "imports/%u: symbol name empty, too long, with '@' or bad characters, or padding not zero", i);
    if (check_text(e + HPP_IMPORT_NAME_MAX + 1, HPP_IMPORT_VER_MAX + 1, 0))
      FAIL(HPP_E_IMPORT, "imports/%u: version too long, with '@' or bad characters, or padding not zero", i);
    if (!(used[i / 8] & (1u << (i % 8)))) FAIL(HPP_E_IMPORT, "imports/%u: no relocation uses it", i);
    for (uint32_t j = 0; j < i; j++)
      if (!memcmp(e, p->imports + (size_t)j * HPP_IMPORT_SIZE, HPP_IMPORT_SIZE))
        FAIL(HPP_E_IMPORT, "imports/%u: same symbol and version as imports/%u", i, j);
  }
  return HPP_OK;
}

void hpp_put_header(uint8_t *out, const hpp_payload *p) {
  memset(out, 0, HPP_HEADER_SIZE);
  memcpy(out, HPP_MAGIC, HPP_MAGIC_LEN);
  hpp_st32(out + 8, p->version ? p->version : HPP_VERSION);
  hpp_st32(out + 12, HPP_HEADER_SIZE);
  hpp_st32(out + 20, p->build_id_len);
  hpp_st32(out + 24, p->func_count);
  hpp_st32(out + 28, p->reloc_count);
  hpp_st32(out + 32, p->image_size);
  hpp_st32(out + 36, p->data_off);
  hpp_st32(out + 40, p->import_count);
  memcpy(out + 48, p->build_id, p->build_id_len);
}

void hpp_put_func(uint8_t *out, const hpp_func *f) {
  memset(out, 0, HPP_FUNC_SIZE);
  st64(out, f->entry);
  st64(out + 8, f->region);
  hpp_st32(out + 16, f->size);
  hpp_st32(out + 20, f->image_off);
  out[24] = f->mode;
  out[25] = f->region_len;
  out[26] = f->flip_off;
  out[27] = f->flags;
  st16(out + 28, f->inlined);
  st16(out + 30, f->inlined_stale);
  memcpy(out + 32, f->orig, f->region_len);
  size_t nl = strnlen(f->name, HPP_NAME_MAX);
  memcpy(out + 64, f->name, nl);
}

void hpp_put_reloc(uint8_t *out, const hpp_reloc *r) {
  memset(out, 0, HPP_RELOC_SIZE);
  hpp_st32(out, r->offset);
  out[4] = r->type;
  out[5] = r->base;
  out[6] = (uint8_t)r->import;
  out[7] = (uint8_t)(r->import >> 8);
  st64(out + 8, (uint64_t)r->value);
}

void hpp_put_import(uint8_t *out, const hpp_import *im) {
  memset(out, 0, HPP_IMPORT_SIZE);
  memcpy(out, im->name, strnlen(im->name, HPP_IMPORT_NAME_MAX));
  memcpy(out + HPP_IMPORT_NAME_MAX + 1, im->version, strnlen(im->version, HPP_IMPORT_VER_MAX));
}

/* ---- ELF ---- */
int hpp_elf_info_parse(const uint8_t *buf, size_t len, hpp_elf_info *out) {
  memset(out, 0, sizeof *out);
  if (len < 64 || memcmp(buf, "\x7f" "ELF", 4) != 0) return -1;
  if (buf[4] != 2 || buf[5] != 1) return -1; /* ELFCLASS64, little-endian */
  uint16_t type = ld16(buf + 16), machine = ld16(buf + 18);
  if ((type != 2 && type != 3) || machine != 62) return -1;
  out->is_dyn = type == 3;
  uint64_t phoff = ld64(buf + 32);
  uint16_t phentsize = ld16(buf + 54), phnum = ld16(buf + 56);
  if (phentsize != 56 || phnum == 0 || phnum > 256) return -1;
  if (phoff > len || (len - phoff) / phentsize < phnum) return -1;
  uint64_t low_off = UINT64_MAX;
  int have_load = 0;
  for (uint16_t i = 0; i < phnum; i++) {
    const uint8_t *ph = buf + phoff + (size_t)i * phentsize;
    uint32_t pt = hpp_ld32(ph);
    uint64_t off = ld64(ph + 8), vaddr = ld64(ph + 16), filesz = ld64(ph + 32), align = ld64(ph + 48);
    if (pt == 1 /* PT_LOAD */) {
      if (off < low_off) {
        if (vaddr < off) return -1;
        low_off = off;
        out->first_load_vaddr = vaddr - off;
        have_load = 1;
      }
    } else if (pt == 4 /* PT_NOTE */ && !out->build_id_len) {
      if (off > len || filesz > len - off) continue; /* notes beyond the prefix we read */
      uint64_t a = align == 8 ? 8 : 4;
      const uint8_t *n = buf + off;
      uint64_t left = filesz;
      while (left >= 12) {
        uint32_t namesz = hpp_ld32(n), descsz = hpp_ld32(n + 4), ntype = hpp_ld32(n + 8);
        uint64_t nsz = ((uint64_t)namesz + a - 1) & ~(a - 1);
        uint64_t dsz = ((uint64_t)descsz + a - 1) & ~(a - 1);
        if (nsz > left - 12 || dsz > left - 12 - nsz) break;
        if (ntype == 3 && namesz == 4 && memcmp(n + 12, "GNU", 4) == 0) {
          if (descsz < 1 || descsz > HPP_BUILD_ID_MAX) return -1;
          memcpy(out->build_id, n + 12 + nsz, descsz);
          out->build_id_len = descsz;
          break;
        }
        n += 12 + nsz + dsz;
        left -= 12 + nsz + dsz;
      }
    }
  }
  if (!have_load || !out->build_id_len) return -1;
  return 0;
}
