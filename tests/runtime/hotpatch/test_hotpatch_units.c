/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the hotpatch room's units, under ASan+UBSan: the payload
 * parser (host/payload.c), redirection and trampoline bytes and span
 * grouping (runtime/hotpatch/redirect.c), prologue relocation (host/x86.c),
 * and on real traced children (runtime/hotpatch/ptrace.c) the remote-call
 * stub (whose tracer dies at every step of a call) and the stack scan.
 * Links those objects (mk/runtime.mk, HP_UNIT_BIN).
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "fileio.h"
#include "hotpatch/dso.h"
#include "hotpatch/ptrace.h"
#include "hotpatch/redirect.h"
#include "hotpatch/transition.h"
#include "hotpatch/units.h"
#include "payload.h"
#include "x86.h"

/* ---- payload parser ---- */
#define IMG 64u
static size_t build_payload(uint8_t *out, uint32_t nrel) {
  hpp_payload p;
  memset(&p, 0, sizeof p);
  p.version = 2; /* version 3 only with imports (build_imports) */
  p.build_id_len = 20;
  for (int i = 0; i < 20; i++) p.build_id[i] = (uint8_t)(0xa0 + i);
  p.func_count = 1;
  p.reloc_count = nrel;
  p.image_size = IMG;
  p.data_off = IMG;
  memset(out, 0, 4096);
  hpp_put_header(out, &p);
  hpp_func f;
  memset(&f, 0, sizeof f);
  snprintf(f.name, sizeof f.name, "calc_a");
  f.entry = 0x1010;
  f.region = 0x1002;
  f.size = 32;
  f.image_off = 0;
  f.mode = HPP_MODE_PAD;
  f.region_len = 16;
  f.flip_off = 14;
  memset(f.orig, 0x90, 16);
  f.orig[14] = 0x66;
  hpp_put_func(out + HPP_HEADER_SIZE, &f);
  uint8_t *r = out + HPP_HEADER_SIZE + HPP_FUNC_SIZE;
  for (uint32_t i = 0; i < nrel; i++) {
    hpp_reloc rl = {.offset = 8 * i, .type = HPP_R_ABS64, .base = HPP_B_TARGET, .value = 0x2000};
    hpp_put_reloc(r + i * HPP_RELOC_SIZE, &rl);
  }
  uint8_t *img = r + nrel * HPP_RELOC_SIZE;
  memset(img, 0xc3, IMG);
  return (size_t)(img + IMG - out);
}

static void payload_valid(void **st) {
  (void)st;
  uint8_t b[4096];
  size_t n = build_payload(b, 2);
  hpp_payload p;
  char why[160];
  assert_int_equal(hpp_parse(b, n, &p, why, sizeof why), HPP_OK);
  assert_int_equal(p.func_count, 1);
  assert_int_equal(p.reloc_count, 2);
  assert_int_equal(p.build_id_len, 20);
  assert_int_equal(p.build_id[3], 0xa3);
  hpp_func f;
  hpp_func_get(&p, 0, &f);
  assert_string_equal(f.name, "calc_a");
  assert_int_equal(f.region, 0x1002);
  assert_int_equal(f.flip_off, 14);
  hpp_reloc r;
  hpp_reloc_get(&p, 1, &r);
  assert_int_equal(r.offset, 8);
  assert_int_equal(r.value, 0x2000);
  assert_ptr_equal(p.image, b + n - IMG);
}

static void payload_every_prefix_refused(void **st) {
  (void)st;
  uint8_t b[4096];
  size_t n = build_payload(b, 1);
  hpp_payload p;
  for (size_t k = 0; k < n; k++) {
    uint8_t *c = malloc(k ? k : 1); /* exact-size copy: ASan sees any over-read */
    memcpy(c, b, k);
    assert_int_not_equal(hpp_parse(c, k, &p, NULL, 0), HPP_OK);
    free(c);
  }
}

static void payload_field_refusals(void **st) {
  (void)st;
  uint8_t b[4096], c[4096];
  size_t n = build_payload(b, 1);
  hpp_payload p;
  char why[160];
  struct { size_t off; uint8_t val; hpp_result want; } cases[] = {
      {0, 'X', HPP_E_MAGIC},                                         /* magic */
      {8, 4, HPP_E_VERSION},                                         /* version */
      {8, 0, HPP_E_VERSION},                                         /* version */
      {16, 1, HPP_E_HEADER},                                         /* flags */
      {20, 0, HPP_E_HEADER},                                         /* build_id_len 0 */
      {20, 65, HPP_E_HEADER},                                        /* build_id_len 65 */
      {24, 0, HPP_E_LIMIT},                                          /* no functions */
      {40, 1, HPP_E_HEADER},                                         /* imports in a version 2 payload */
      {44, 1, HPP_E_HEADER},                                         /* reserved */
      {HPP_HEADER_SIZE + 25, 4, HPP_E_FUNC},                         /* region_len 4 */
      {HPP_HEADER_SIZE + 25, 33, HPP_E_FUNC},                        /* region_len 33 */
      {HPP_HEADER_SIZE + 24, 3, HPP_E_FUNC},                         /* unknown mode */
      {HPP_HEADER_SIZE + 27, 2, HPP_E_FUNC},                         /* unknown flag */
      {HPP_HEADER_SIZE + 26, 15, HPP_E_FUNC},                        /* flip_off */
      {HPP_HEADER_SIZE + 64, 0, HPP_E_FUNC},                         /* empty name */
      {HPP_HEADER_SIZE + 65, 0x7f, HPP_E_FUNC},                      /* bad char */
      {HPP_HEADER_SIZE + 20, IMG, HPP_E_FUNC},                       /* image_off past code */
      {HPP_HEADER_SIZE + HPP_FUNC_SIZE + 0, IMG - 4, HPP_E_RELOC},   /* reloc past image */
      {HPP_HEADER_SIZE + HPP_FUNC_SIZE + 4, 3, HPP_E_RELOC},         /* reloc type */
      {HPP_HEADER_SIZE + HPP_FUNC_SIZE + 5, 3, HPP_E_RELOC},         /* reloc base */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    memcpy(c, b, n);
    c[cases[i].off] = cases[i].val;
    hpp_result r = hpp_parse(c, n, &p, why, sizeof why);
    if (r != cases[i].want) fail_msg("case %zu (offset %zu): got %s (%s)", i, cases[i].off, hpp_result_to_string(r), why);
  }
  memcpy(c, b, n);
  c[n] = 0;
  assert_int_equal(hpp_parse(c, n + 1, &p, why, sizeof why), HPP_E_TRAILING);
}

/* Version 3: the imports table, and relocations of base import. */
static size_t build_imports(uint8_t *out) {
  size_t n = build_payload(out, 3);
  hpp_payload p;
  memset(&p, 0, sizeof p);
  p.version = 3;
  p.build_id_len = 20;
  for (int i = 0; i < 20; i++) p.build_id[i] = (uint8_t)(0xa0 + i);
  p.func_count = 1;
  p.reloc_count = 3;
  p.import_count = 2;
  p.image_size = IMG;
  p.data_off = IMG;
  hpp_put_header(out, &p);
  uint8_t *r = out + HPP_HEADER_SIZE + HPP_FUNC_SIZE;
  hpp_reloc a = {.offset = 8, .type = HPP_R_ABS64, .base = HPP_B_IMPORT, .import = 1, .value = 0};
  hpp_reloc b = {.offset = 16, .type = HPP_R_ABS64, .base = HPP_B_IMPORT, .import = 0, .value = 4};
  hpp_put_reloc(r + HPP_RELOC_SIZE, &a);
  hpp_put_reloc(r + 2 * HPP_RELOC_SIZE, &b);
  uint8_t *im = r + 3 * HPP_RELOC_SIZE, img[IMG];
  memcpy(img, im, IMG);
  hpp_import x = {"strlen", ""}, y = {"realpath", "GLIBC_2.2.5"};
  hpp_put_import(im, &x);
  hpp_put_import(im + HPP_IMPORT_SIZE, &y);
  memcpy(im + 2 * HPP_IMPORT_SIZE, img, IMG);
  return n + 2 * HPP_IMPORT_SIZE;
}

static void payload_imports(void **st) {
  (void)st;
  uint8_t b[4096], c[4096];
  size_t n = build_imports(b);
  hpp_payload p;
  char why[160];
  assert_int_equal(hpp_parse(b, n, &p, why, sizeof why), HPP_OK);
  assert_int_equal(p.version, 3);
  assert_int_equal(p.import_count, 2);
  hpp_import im;
  hpp_import_get(&p, 1, &im);
  assert_string_equal(im.name, "realpath");
  assert_string_equal(im.version, "GLIBC_2.2.5");
  hpp_reloc r;
  hpp_reloc_get(&p, 1, &r);
  assert_int_equal(r.base, HPP_B_IMPORT);
  assert_int_equal(r.import, 1);
  assert_ptr_equal(p.image, b + n - IMG);
  const size_t R = HPP_HEADER_SIZE + HPP_FUNC_SIZE, I = R + 3 * HPP_RELOC_SIZE;
  struct { size_t off; uint8_t val; hpp_result want; const char *why; } cases[] = {
      {8, 2, HPP_E_HEADER, "imports need version 3"},
      {R + HPP_RELOC_SIZE + 6, 2, HPP_E_RELOC, "import 2 of 2"},           /* index out of range */
      {R + HPP_RELOC_SIZE + 4, HPP_R_PC32, HPP_E_RELOC, "must be ABS64"},  /* not a GOT slot */
      {R + HPP_RELOC_SIZE + 15, 0x40, HPP_E_RELOC, "addend out of range"},
      {R + 6, 1, HPP_E_RELOC, "reserved"},                                 /* index on a target relocation */
      {R + 2 * HPP_RELOC_SIZE + 6, 1, HPP_E_IMPORT, "imports/0: no relocation uses it"},
      {I, 0, HPP_E_IMPORT, "imports/0: symbol name"},                      /* empty name */
      {I + 3, '@', HPP_E_IMPORT, "imports/0: symbol name"},                /* '@' in the name */
      {I + 7, 'x', HPP_E_IMPORT, "imports/0: symbol name"},                /* padding */
      {I + HPP_IMPORT_SIZE + 96 + 5, ' ', HPP_E_IMPORT, "imports/1: version"},
      {I + HPP_IMPORT_SIZE + 127, 'x', HPP_E_IMPORT, "imports/1: version"}, /* not terminated */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    memcpy(c, b, n);
    c[cases[i].off] = cases[i].val;
    hpp_result res = hpp_parse(c, n, &p, why, sizeof why);
    if (res != cases[i].want || !strstr(why, cases[i].why))
      fail_msg("case %zu (offset %zu): got %s (%s)", i, cases[i].off, hpp_result_to_string(res), why);
  }
  /* the same symbol twice */
  memcpy(c, b, n);
  memcpy(c + I + HPP_IMPORT_SIZE, c + I, HPP_IMPORT_SIZE);
  assert_int_equal(hpp_parse(c, n, &p, why, sizeof why), HPP_E_IMPORT);
  assert_non_null(strstr(why, "same symbol"));
  for (size_t k = 0; k < n; k++) assert_int_not_equal(hpp_parse(b, k, &p, NULL, 0), HPP_OK);
}

/* The resolver's ELF reader on this machine's libc: versions, IFUNCs. */
static void dso_libc_versions(void **st) {
  (void)st;
  uint8_t *buf;
  size_t len;
  hpmh_status e;
  if (hpmh_read_file("/lib/x86_64-linux-gnu/libc.so.6", 64u << 20, &buf, &len, &e)) skip();
  hp_dso d;
  char why[160];
  assert_int_equal(hp_dso_parse(buf, len, &d, why, sizeof why), 0);
  hp_dso_sym def, old, v3, sl;
  assert_int_equal(hp_dso_lookup(&d, "realpath", NULL, &def), 0);
  assert_int_equal(hp_dso_lookup(&d, "realpath", "GLIBC_2.2.5", &old), 0);
  assert_int_equal(hp_dso_lookup(&d, "realpath", "GLIBC_2.3", &v3), 0);
  assert_true(def.value == v3.value && old.value != def.value); /* default: realpath@@GLIBC_2.3 */
  assert_int_equal(hp_dso_lookup(&d, "realpath", "GLIBC_9.9", &old), -1);
  assert_int_equal(hp_dso_lookup(&d, "no_such_symbol_here", NULL, &old), -1);
  assert_int_equal(hp_dso_lookup(&d, "strlen", NULL, &sl), 0);
  assert_int_equal(sl.kind, HP_DSO_IFUNC);
  uint64_t slot;
  assert_int_equal(hp_dso_irelative_slot(&d, sl.value, &slot), 0); /* libc's own strlen slot */
  assert_int_equal(hp_dso_lookup(&d, "__snprintf_chk", NULL, &sl), 0);
  assert_int_equal(sl.kind, HP_DSO_FUNC);
  free(buf);
}

/* Version 2: a PAD region may go on over >= 3 body bytes (direct entry
 * jump); version 1 allows only pad + nop. */
static void payload_direct_region_versions(void **st) {
  (void)st;
  uint8_t b[4096];
  size_t n = build_payload(b, 0);
  hpp_payload p;
  char why[160];
  uint8_t *fe = b + HPP_HEADER_SIZE;
  static const uint8_t body[] = {0x48, 0x8d, 0x44, 0x3f, 0x01}; /* lea 1(%rdi,%rdi,2),%rax */
  memcpy(fe + 32 + 16, body, sizeof body);
  fe[25] = 16 + sizeof body;
  assert_int_equal(b[8], 2);
  assert_int_equal(hpp_parse(b, n, &p, why, sizeof why), HPP_OK);
  hpp_func f;
  hpp_func_get(&p, 0, &f);
  assert_int_equal(f.region_len, 21);
  assert_int_equal(p.version, 2);
  b[8] = 1; /* version 1 payloads have no direct jumps */
  assert_int_equal(hpp_parse(b, n, &p, why, sizeof why), HPP_E_FUNC);
  assert_non_null(strstr(why, "version 1"));
  b[8] = 2;
  fe[25] = 18; /* two body bytes: too few for a 5-byte jump after the nop */
  memset(fe + 32 + 18, 0, 14);
  assert_int_equal(hpp_parse(b, n, &p, why, sizeof why), HPP_E_FUNC);
  fe[25] = 16; /* back to the two-jump form: valid in both versions */
  memset(fe + 32 + 16, 0, 16);
  assert_int_equal(hpp_parse(b, n, &p, why, sizeof why), HPP_OK);
  b[8] = 1;
  assert_int_equal(hpp_parse(b, n, &p, why, sizeof why), HPP_OK);
}

/* Version 2 call sites (mode 3): 5 bytes of call/jmp rel32 whose target is
 * the entry field, of a function the payload redirects to the same code. */
static void payload_call_sites(void **st) {
  (void)st;
  uint8_t b[4096];
  size_t n0 = build_payload(b, 0);
  /* append a second function entry (the call site): move the image */
  uint8_t img[IMG];
  memcpy(img, b + n0 - IMG, IMG);
  b[24] = 2; /* func_count */
  hpp_func c;
  memset(&c, 0, sizeof c);
  snprintf(c.name, sizeof c.name, "calc_a");
  c.entry = 0x1010;
  c.region = 0x2000;
  c.mode = HPP_MODE_CALL;
  c.region_len = 5;
  c.orig[0] = 0xe8;
  int32_t rel = (int32_t)(0x1010 - 0x2005);
  memcpy(c.orig + 1, &rel, 4);
  hpp_put_func(b + HPP_HEADER_SIZE + HPP_FUNC_SIZE, &c);
  memcpy(b + HPP_HEADER_SIZE + 2 * HPP_FUNC_SIZE, img, IMG);
  size_t n = n0 + HPP_FUNC_SIZE;
  hpp_payload p;
  char why[160];
  assert_int_equal(hpp_parse(b, n, &p, why, sizeof why), HPP_OK);
  uint8_t *ce = b + HPP_HEADER_SIZE + HPP_FUNC_SIZE, k[4096];
  struct { size_t off; uint8_t val; const char *why; } bad[] = {
      {8, 1, "version 2"},              /* version 1 */
      {32, 0xe9 ^ 0x55, "call/jmp"},    /* opcode */
      {33, 0x00, "entry"},              /* target != entry */
      {25, 6, "5 bytes"},               /* length */
      {27, 1, "5 bytes"},               /* quiesce flag */
      {20, 8, "does not redirect"},     /* other replacement than its function */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    memcpy(k, b, n);
    uint8_t *at = bad[i].off == 8 ? k + 8 : k + (ce - b) + bad[i].off;
    *at = bad[i].val;
    hpp_result r = hpp_parse(k, n, &p, why, sizeof why);
    if (r == HPP_OK || !strstr(why, bad[i].why)) fail_msg("case %zu: %s (%s)", i, hpp_result_to_string(r), why);
  }
  memcpy(k, b, n);
  k[HPP_HEADER_SIZE + 24] = HPP_MODE_CALL; /* the function itself a call site: no function left */
  assert_int_not_equal(hpp_parse(k, n, &p, why, sizeof why), HPP_OK);
  /* a jmp rel32 (tail call) is a call site too */
  memcpy(k, b, n);
  k[(ce - b) + 32] = 0xe9;
  assert_int_equal(hpp_parse(k, n, &p, why, sizeof why), HPP_OK);
}

/* ---- redirection bytes and trampolines ---- */
static hp_site pad_site(void) {
  hp_site s;
  memset(&s, 0, sizeof s);
  s.region = 0x400000;
  s.entry = 0x40000e;
  s.len = 16;
  s.mode = HPP_MODE_PAD;
  s.flip_off = 14;
  memset(s.orig, 0x90, 16);
  s.orig[14] = 0x66;
  return s;
}

static int32_t rel32(const uint8_t *p) { int32_t v; memcpy(&v, p, 4); return v; }

static void site_bytes_pad_and_prologue(void **st) {
  (void)st;
  hp_site s = pad_site();
  uint8_t b[HPP_REGION_MAX];
  hp_site_bytes(&s, 0, b);
  assert_memory_equal(b, s.orig, 16);
  hp_site_bytes(&s, 0x500000, b);
  assert_int_equal(b[0], 0xe9);
  assert_int_equal(s.region + 5 + (uint64_t)(int64_t)rel32(b + 1), 0x500000);
  assert_int_equal(b[14], 0xeb); /* 2-byte jump from the entry back to the pad */
  assert_int_equal((int8_t)b[15], -16);
  s.mode = HPP_MODE_PROLOGUE;
  s.len = 8;
  hp_site_bytes(&s, 0x3f0000, b);
  assert_int_equal(b[0], 0xe9);
  assert_int_equal(s.region + 5 + (uint64_t)(int64_t)rel32(b + 1), 0x3f0000);
  for (int i = 5; i < 8; i++) assert_int_equal(b[i], 0x90);
}

/* Committed form of a PAD site with body bytes: one jump at the entry;
 * the uncommitted (hop) form keeps the body original for trampolines. */
static void site_bytes_direct_entry(void **st) {
  (void)st;
  hp_site s = pad_site();
  static const uint8_t body[] = {0x48, 0x8d, 0x44, 0x3f, 0x01, 0xc3};
  memcpy(s.orig + 16, body, sizeof body);
  s.len = 16 + 5; /* lea only (whole instruction) */
  assert_true(hp_site_direct(&s));
  uint8_t b[HPP_REGION_MAX], h[HPP_REGION_MAX];
  hp_site_bytes(&s, 0, b);
  assert_memory_equal(b, s.orig, s.len);
  hp_site_bytes(&s, 0x7a0000, b);
  assert_int_equal(b[0], 0xe9); /* the pad's jump stays */
  assert_int_equal(s.region + 5 + (uint64_t)(int64_t)rel32(b + 1), 0x7a0000);
  assert_int_equal(b[14], 0xe9); /* entry: jmp rel32 straight to the target */
  assert_int_equal(s.entry + 5 + (uint64_t)(int64_t)rel32(b + 15), 0x7a0000);
  for (int i = 19; i < s.len; i++) assert_int_equal(b[i], 0xcc);
  assert_int_equal(b[s.len], body[5]); /* nothing past the region */
  hp_site_bytes_hop(&s, 0x7a0000, h);
  assert_memory_equal(h, b, 14);
  assert_int_equal(h[14], 0xeb);
  assert_int_equal((int8_t)h[15], -16);
  assert_memory_equal(h + 16, body, 5); /* body original: trampolines return to entry + 2 */
  /* endbr64 variant: the jump goes after it */
  hp_site c = s;
  memcpy(c.orig + 14, "\xf3\x0f\x1e\xfa\x66\x90", 6);
  memcpy(c.orig + 20, body, 5);
  c.flip_off = 18;
  c.len = 25;
  hp_site_bytes(&c, 0x7a0000, b);
  assert_memory_equal(b + 14, "\xf3\x0f\x1e\xfa", 4);
  assert_int_equal(b[18], 0xe9);
  assert_int_equal(c.region + 23 + (uint64_t)(int64_t)rel32(b + 19), 0x7a0000);
  /* an IP on the first body instruction is inside the rewritten bytes */
  assert_true(hp_site_ip_unsafe(&s, s.entry + 2));
  assert_false(hp_site_ip_unsafe(&s, s.entry));
  assert_false(hp_site_ip_unsafe(&s, s.region + s.len));
  /* too few body bytes: the two-jump form */
  s.len = 18;
  assert_false(hp_site_direct(&s));
  hp_site_bytes(&s, 0x7a0000, b);
  assert_int_equal(b[14], 0xeb);
}

/* A call site keeps its opcode and gets the new target; its trampoline's
 * "original" path goes on to the callee's entry (itself redirected under
 * the same commit byte). */
static void call_site_bytes_and_trampoline(void **st) {
  (void)st;
  hp_site s;
  memset(&s, 0, sizeof s);
  s.mode = HPP_MODE_CALL;
  s.region = 0x401000;
  s.entry = 0x40000e;
  s.len = 5;
  s.orig[0] = 0xe8;
  int32_t rel = (int32_t)(int64_t)(s.entry - (s.region + 5));
  memcpy(s.orig + 1, &rel, 4);
  uint8_t b[HPP_REGION_MAX];
  hp_site_bytes(&s, 0, b);
  assert_memory_equal(b, s.orig, 5);
  hp_site_bytes(&s, 0x7a0010, b);
  assert_int_equal(b[0], 0xe8);
  assert_int_equal(s.region + 5 + (uint64_t)(int64_t)rel32(b + 1), 0x7a0010);
  assert_int_equal(b[5], 0); /* nothing past the instruction */
  s.orig[0] = 0xe9;
  hp_site_bytes(&s, 0x7a0010, b);
  assert_int_equal(b[0], 0xe9);
  assert_false(hp_site_direct(&s));
  s.cur = 0;
  s.next = 0x7a0010;
  uint8_t t[HP_TRAMP_SLOT];
  uint64_t at = 0x470040;
  assert_int_equal(hp_trampoline(&s, at, 0x470020, t), 0);
  assert_int_equal(t[13], 0xe9); /* cur: on to the callee's entry */
  assert_int_equal(at + 18 + (uint64_t)(int64_t)rel32(t + 14), s.entry);
  assert_false(hp_site_ip_unsafe(&s, s.region));
  assert_false(hp_site_ip_unsafe(&s, s.region + 5));
}

struct calls { uint64_t at[8], to[8]; int n; };
static void calls_cb(void *c, uint64_t at, uint64_t to) {
  struct calls *k = c;
  if (k->n < 8) { k->at[k->n] = at; k->to[k->n] = to; k->n++; }
}

static void direct_calls_found_only_in_clean_functions(void **st) {
  (void)st;
  /* sub $8,%rsp; call +0x10; add $8,%rsp; jmp -0x20; ret */
  static const uint8_t f[] = {0x48, 0x83, 0xec, 0x08, 0xe8, 0x10, 0x00, 0x00, 0x00, 0x48, 0x83,
                              0xc4, 0x08, 0xe9, 0xe0, 0xff, 0xff, 0xff, 0xc3};
  struct calls k = {{0}, {0}, 0};
  assert_int_equal(x86_direct_calls(f, sizeof f, 0x1000, calls_cb, &k), 0);
  assert_int_equal(k.n, 2);
  assert_int_equal(k.at[0], 0x1004);
  assert_int_equal(k.to[0], 0x1009 + 0x10);
  assert_int_equal(k.at[1], 0x100d);
  assert_int_equal(k.to[1], 0x1012 - 0x20);
  /* the last instruction runs past the function's end: nothing reported */
  k.n = 0;
  assert_int_equal(x86_direct_calls(f, sizeof f - 3, 0x1000, calls_cb, &k), -1);
  assert_int_equal(k.n, 0);
  /* a call in the middle of the bytes (return address inside) */
  assert_true(x86_has_call(f, sizeof f));
  assert_false(x86_has_call(f, 9)); /* ends with the call: returns past the bytes */
  assert_false(x86_has_call(f, 4));
}

static void trampoline_paths(void **st) {
  (void)st;
  hp_site s = pad_site();
  s.cur = 0;          /* original code: back to the entry after the 2-byte nop */
  s.next = 0x480000;
  uint8_t t[HP_TRAMP_SLOT];
  uint64_t at = 0x470040, flag = 0x470020;
  assert_int_equal(hp_trampoline(&s, at, flag, t), 0);
  assert_int_equal(t[0], 0x80); /* cmpb $0, flag(%rip) */
  assert_int_equal(t[1], 0x3d);
  assert_int_equal(at + 7 + (uint64_t)(int64_t)rel32(t + 2), flag);
  assert_int_equal(t[7], 0x0f); /* jne next */
  assert_int_equal(t[8], 0x85);
  uint64_t next_at = at + 13 + (uint64_t)(int64_t)rel32(t + 9);
  assert_int_equal(t[13], 0xe9); /* cur: jmp entry+2 */
  assert_int_equal(at + 18 + (uint64_t)(int64_t)rel32(t + 14), s.region + 16);
  const uint8_t *n = t + (next_at - at);
  assert_int_equal(n[0], 0xe9);
  assert_int_equal(next_at + 5 + (uint64_t)(int64_t)rel32(n + 1), 0x480000);
  /* out of 32-bit range: refused */
  assert_int_equal(hp_trampoline(&s, at + (3ull << 32), flag, t), -1);
}

/* ---- prologue relocation ---- */
static void prologue_whole_instructions(void **st) {
  (void)st;
  /* push %rbp; mov %rsp,%rbp; sub $0x10,%rsp; ret */
  const uint8_t code[] = {0x55, 0x48, 0x89, 0xe5, 0x48, 0x83, 0xec, 0x10, 0xc3};
  size_t covered;
  x86_fix fix[X86_MAX_FIX];
  int nfix;
  const char *why = NULL;
  assert_int_equal(x86_prologue(code, sizeof code, 5, &covered, fix, &nfix, &why), 0);
  assert_int_equal(covered, 8);
  assert_int_equal(nfix, 0);
  const uint8_t shortfn[] = {0x31, 0xc0, 0xc3, 0x90, 0x90, 0x90}; /* xor; ret */
  assert_int_equal(x86_prologue(shortfn, sizeof shortfn, 5, &covered, fix, &nfix, &why), -1);
  const uint8_t jmp8[] = {0x90, 0x74, 0x02, 0x90, 0x90, 0x90, 0x90}; /* je +2 */
  assert_int_equal(x86_prologue(jmp8, sizeof jmp8, 5, &covered, fix, &nfix, &why), -1);
}

static void prologue_rip_relative_moves(void **st) {
  (void)st;
  /* mov 0x100(%rip),%eax ; nop */
  const uint8_t code[] = {0x8b, 0x05, 0x00, 0x01, 0x00, 0x00, 0x90};
  size_t covered;
  x86_fix fix[X86_MAX_FIX];
  int nfix;
  const char *why = NULL;
  assert_int_equal(x86_prologue(code, sizeof code, 5, &covered, fix, &nfix, &why), 0);
  assert_int_equal(covered, 6);
  assert_int_equal(nfix, 1);
  assert_int_equal(fix[0].field, 2);
  uint8_t out[16];
  uint64_t from = 0x400000, to = 0x410000;
  assert_int_equal(x86_relocate(out, code, covered, fix, nfix, from, to), 0);
  /* the operand still addresses from + 6 + 0x100 */
  assert_int_equal(to + 6 + (uint64_t)(int64_t)rel32(out + 2), from + 6 + 0x100);
  assert_int_equal(x86_relocate(out, code, covered, fix, nfix, from, from + (4ull << 32)), -1);
}

/* ---- spans ---- */
static void spans_group_nearby_sites(void **st) {
  (void)st;
  hp_site s[4];
  for (int i = 0; i < 4; i++) s[i] = pad_site();
  s[0].region = 0x401000;
  s[1].region = 0x400000;
  s[2].region = 0x400020; /* 16 bytes after s[1]'s end: same span */
  s[3].region = 0x400020 + 16 + HP_SPAN_GAP + 1; /* too far: new span */
  hp_spans sp;
  memset(&sp, 0, sizeof sp);
  assert_int_equal(hp_spans_plan(&sp, s, 4), 0);
  assert_int_equal(sp.n, 3);
  assert_int_equal(sp.of[1], sp.of[2]);
  assert_int_not_equal(sp.of[2], sp.of[3]);
  assert_int_not_equal(sp.of[0], sp.of[3]);
  assert_int_equal(sp.s[sp.of[1]].lo, 0x400000);
  assert_int_equal(sp.s[sp.of[1]].hi, 0x400030);
  assert_ptr_equal(hp_span_at(&sp, 2, sp.work), sp.work + sp.s[sp.of[2]].off + 0x20);
  hp_spans_free(&sp);
}

/* ---- the remote-call stub, on a real traced child ---- */
/* The child keeps known values in every register the injection touches and
 * exits 3 as soon as one differs. */
static void register_loop(void) {
  __asm__ volatile(
      "mov %%rsp, %%r12\n"
      "mov $0x1111, %%rax\n mov $0x2222, %%rcx\n mov $0x3333, %%rdx\n mov $0x4444, %%rsi\n"
      "mov $0x5555, %%rdi\n mov $0x8888, %%r8\n mov $0x9999, %%r9\n mov $0xaaaa, %%r10\n"
      "mov $0xbbbb, %%r11\n"
      "1: cmp $0x1111, %%rax\n jne 2f\n cmp $0x2222, %%rcx\n jne 2f\n cmp $0x3333, %%rdx\n jne 2f\n"
      "cmp $0x4444, %%rsi\n jne 2f\n cmp $0x5555, %%rdi\n jne 2f\n cmp $0x8888, %%r8\n jne 2f\n"
      "cmp $0x9999, %%r9\n jne 2f\n cmp $0xaaaa, %%r10\n jne 2f\n cmp $0xbbbb, %%r11\n jne 2f\n"
      "cmp %%rsp, %%r12\n jne 2f\n jmp 1b\n"
      "2: mov $60, %%eax\n mov $3, %%edi\n syscall\n" ::
          : "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "memory", "cc");
}

static int die_at = -1;
static void die_hook(int step) {
  if (step == die_at) _exit(0); /* the tracer dies: ptrace detaches */
}

static pid_t spawn_looper(void) {
  pid_t c = fork();
  if (c == 0) {
    register_loop();
    _exit(4);
  }
  usleep(20000);
  return c;
}

static void stub_call_returns_and_restores(void **st) {
  (void)st;
  pid_t c = spawn_looper();
  assert_true(c > 0);
  hp_block_sigchld(1);
  hp_proc p;
  assert_int_equal(hp_proc_open(&p, c, -1), HP_OK);
  assert_int_equal(hp_stop_threads(&p, 1000000, 1), HP_OK);
  long ret = 0;
  assert_int_equal(hp_remote_syscall(&p, SYS_getpid, 0, 0, 0, 0, 0, 0, &ret), 0);
  assert_int_equal(ret, c);
  hp_proc_close(&p);
  hp_block_sigchld(0);
  usleep(30000);
  int stt;
  assert_int_equal(waitpid(c, &stt, WNOHANG), 0); /* still looping: registers intact */
  kill(c, SIGKILL);
  waitpid(c, &stt, 0);
}

static void stub_tracer_dies_at_every_step(void **st) {
  (void)st;
  for (int step = 0; step < 4; step++) {
    for (int rep = 0; rep < 5; rep++) {
      pid_t c = spawn_looper();
      assert_true(c > 0);
      pid_t tracer = fork();
      if (tracer == 0) {
        hp_block_sigchld(1);
        hp_proc p;
        if (hp_proc_open(&p, c, -1) || hp_stop_threads(&p, 1000000, 1)) _exit(1);
        die_at = step;
        hp_test_step_hook = die_hook;
        long ret;
        hp_remote_syscall(&p, SYS_getpid, 0, 0, 0, 0, 0, 0, &ret);
        _exit(2); /* not reached: the hook exits */
      }
      int ts;
      assert_int_equal(waitpid(tracer, &ts, 0), tracer);
      assert_true(WIFEXITED(ts));
      assert_int_equal(WEXITSTATUS(ts), 0);
      usleep(30000);
      int cs;
      pid_t r = waitpid(c, &cs, WNOHANG);
      if (r != 0) fail_msg("step %d: the target ended (status 0x%x) after the tracer died", step, cs);
      kill(c, SIGKILL);
      waitpid(c, &cs, 0);
    }
  }
}

/* ---- stack scan: bounded spans still see every frame ---- */
static int scan_pipe[2], scan_ready[2];
static uint64_t scan_magic(pid_t pid, int k) { return 0x7e5500000000ull + ((uint64_t)pid << 12) + ((uint64_t)k << 32); }

/* keeps magic in a frame of the calling thread, below a blocked read */
__attribute__((noinline)) static void scan_block(void) {
  char b;
  if (write(scan_ready[1], "r", 1) != 1) _exit(5);
  while (read(scan_pipe[0], &b, 1) < 0) {}
}
__attribute__((noinline)) static void scan_hold(int k) {
  volatile uint64_t w[8];
  for (int i = 0; i < 8; i++) w[i] = i == 3 ? scan_magic(getpid(), k) : 0;
  scan_block();
  (void)w[0];
}
static void *scan_thread(void *a) {
  (void)a;
  scan_hold(1);
  return NULL;
}

/* The end of a test on a scan child: SIGCHLD as before, the child gone,
 * the pipes closed. */
static void scan_child_end(pid_t c) {
  hp_block_sigchld(0);
  kill(c, SIGKILL);
  int cs;
  waitpid(c, &cs, 0);
  close(scan_pipe[0]); close(scan_pipe[1]); close(scan_ready[0]); close(scan_ready[1]);
}

static void stack_scan_sees_main_and_thread_frames(void **st) {
  (void)st;
  assert_int_equal(pipe(scan_pipe), 0);
  assert_int_equal(pipe(scan_ready), 0);
  pid_t c = fork();
  if (c == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* a failed assertion leaves no child behind */
    pthread_t t;
    if (pthread_create(&t, NULL, scan_thread, NULL)) _exit(6);
    scan_hold(0);
    _exit(0);
  }
  char b[2];
  assert_int_equal(read(scan_ready[0], b, 1), 1);
  assert_int_equal(read(scan_ready[0], b + 1, 1), 1);
  usleep(20000); /* both blocked in read */
  hp_block_sigchld(1);
  hp_proc p;
  assert_int_equal(hp_proc_open(&p, c, -1), HP_OK);
  hp_load_vmas(&p);
  hp_thread_count(&p);
  hp_load_start_stack(&p);
  assert_true(p.start_stack != 0);
  assert_int_equal(hp_stop_threads(&p, 1000000, 0), HP_OK);
  assert_int_equal(p.n, 2);
  hp_map m[3] = {{scan_magic(c, 0), 8}, {scan_magic(c, 1), 8}, {scan_magic(c, 2), 8}};
  int hit[3];
  hp_referenced_many(&p, m, 3, hit);
  assert_int_equal(hit[0], 1); /* main thread's frame, below startstack */
  assert_int_equal(hit[1], 1); /* the thread's frame, below its thread pointer */
  assert_int_equal(hit[2], 0); /* nowhere */
  int ti = p.t[0].tid == c ? 1 : 0, bounded = 0;
  for (int i = 0; i < p.n; i++) {
    size_t full, want = hp_stack_span(&p, i, &full);
    assert_true(want <= full);
    if (i == ti) bounded = want < full; /* glibc: the TCB at the top of the thread's stack */
    else { /* main: a hard end at startstack (argv, envp, auxv above it) */
      uint64_t msp = p.t[i].regs.rsp & ~7ull;
      assert_true(p.start_stack > msp);
      assert_int_equal(want, full);
      assert_int_equal(want, (p.start_stack - msp + 7) & ~7ull);
    }
  }
  assert_true(bounded);
  /* a thread pointer inside the frames that is no TCB (its word is not its
   * own address): the rest of the mapping is scanned too */
  uint64_t sp = p.t[ti].regs.rsp & ~7ull, at = 0, w[512];
  size_t full, want = hp_stack_span(&p, ti, &full);
  size_t n = hp_read_mem(&p, sp, w, full < sizeof w ? full : sizeof w);
  for (size_t k = 0; k < n / 8 && !at; k++)
    if (w[k] == scan_magic(c, 1)) at = sp + 8 * k;
  assert_true(at > sp + 16);
  uint64_t fake = at - 16;
  assert_true(w[(fake - sp) / 8] != fake);
  p.t[ti].regs.fs_base = fake;
  want = hp_stack_span(&p, ti, &full);
  assert_int_equal(want, fake + 8 - sp);
  hp_referenced_many(&p, m, 3, hit);
  assert_int_equal(hit[1], 1);
  assert_int_equal(hit[2], 0);
  hp_proc_close(&p);
  scan_child_end(c);
}

static int spin_tid_pipe[2];
static void *spin_thread(void *a) {
  (void)a;
  pid_t tid = (pid_t)syscall(SYS_gettid);
  if (write(spin_tid_pipe[1], &tid, sizeof tid) != sizeof tid) _exit(7);
  for (volatile unsigned long i = 0;; i++) {}
  return NULL;
}

/* Threads asleep in a system call are held before the pause, a running one
 * is not; the scans split between them find each thread's frames once. */
static void hold_sleepers_holds_only_sleeping_threads(void **st) {
  (void)st;
  assert_int_equal(pipe(scan_pipe), 0);
  assert_int_equal(pipe(scan_ready), 0);
  assert_int_equal(pipe(spin_tid_pipe), 0);
  pid_t c = fork();
  if (c == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    pthread_t t, s;
    if (pthread_create(&t, NULL, scan_thread, NULL) || pthread_create(&s, NULL, spin_thread, NULL)) _exit(6);
    scan_hold(0);
    _exit(0);
  }
  char b[2];
  pid_t spin;
  assert_int_equal(read(scan_ready[0], b, 1), 1);
  assert_int_equal(read(scan_ready[0], b + 1, 1), 1);
  assert_int_equal(read(spin_tid_pipe[0], &spin, sizeof spin), (ssize_t)sizeof spin);
  usleep(20000); /* both readers blocked in read */
  hp_block_sigchld(1);
  hp_proc p;
  assert_int_equal(hp_proc_open(&p, c, -1), HP_OK);
  assert_int_equal(hp_stop_threads(&p, 1000000, 1), HP_OK); /* phase 1: one thread */
  assert_int_equal(p.n, 3);
  hp_load_vmas(&p);
  hp_thread_count(&p);
  hp_load_start_stack(&p);
  assert_int_equal(hp_hold_sleepers(&p, 1000000), p.t[0].tid == spin ? 3 : 2); /* + phase 1's thread */
  hp_map m[3] = {{scan_magic(c, 0), 8}, {scan_magic(c, 1), 8}, {scan_magic(c, 2), 8}};
  int hit[3];
  for (int i = 0; i < p.n; i++) {
    if (p.t[i].tid == spin && p.t[0].tid != spin) { /* phase 1 did not happen to take it */
      assert_int_equal(p.t[i].held, 0);
      assert_int_equal(p.t[i].stopped, 0);
    } else if (p.t[i].tid != spin) {
      assert_int_equal(p.t[i].held, 1);
      assert_int_equal(p.t[i].stopped, 1);
      assert_int_equal(p.t[i].regs_ok, 1);
    }
  }
  hp_referenced_sel(&p, m, 3, hit, HP_SEL_HELD); /* the readers' frames, before the pause */
  assert_int_equal(hit[0], 1);
  assert_int_equal(hit[1], 1);
  assert_int_equal(hit[2], 0);
  assert_int_equal(hp_stop_threads(&p, 1000000, 0), HP_OK); /* the pause: the spinner too */
  for (int i = 0; i < p.n; i++) assert_int_equal(p.t[i].stopped, 1);
  hp_referenced_sel(&p, m, 3, hit, HP_SEL_OTHERS); /* the spinner holds no magic */
  assert_int_equal(hit[0] | hit[1] | hit[2], 0);
  hp_referenced_many(&p, m, 3, hit);
  assert_int_equal(hit[0] & hit[1], 1);
  hp_boost(&p, 1); /* root: may run SCHED_FIFO; back to the old policy after */
  int pol = sched_getscheduler(0);
  assert_true(!p.boosted || (pol & ~SCHED_RESET_ON_FORK) == SCHED_FIFO);
  hp_release_others(&p, 0);
  hp_boost(&p, 0);
  assert_int_equal(sched_getscheduler(0), SCHED_OTHER);
  hp_proc_close(&p);
  scan_child_end(c);
  close(spin_tid_pipe[0]); close(spin_tid_pipe[1]);
}

/* A thread spinning in an anonymous code map A, another map B nothing
 * refers to, and two more maps C and D nothing refers to. */
static int keep_pipe[2];
static uint64_t keep_maps[6]; /* not on a stack: the scan would see the addresses */
static void *spin_in_map(void *a);
/* in a frame of its own, gone (below the stack pointer) once it returns */
__attribute__((noinline)) static void keep_make_maps(void) {
  for (int i = 0; i < 6; i++) {
    uint8_t *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) _exit(5);
    m[0] = 0xeb; /* jmp . */
    m[1] = 0xfe;
    if (i == 4) { /* hpm's header, image at 0x80, a jmp . there */
      memcpy(m, HP_MAGIC, 8);
      hpp_st32(m + HP_HDR_IMAGE, 0x80);
      m[0x100] = 0xeb;
      m[0x101] = 0xfe;
    }
    if (mprotect(m, 4096, PROT_READ | PROT_EXEC)) _exit(5);
    keep_maps[i] = (uint64_t)(uintptr_t)m;
  }
}
__attribute__((noinline)) static void keep_start_spinner(void) {
  pthread_t t;
  if (pthread_create(&t, NULL, spin_in_map, NULL) || pthread_create(&t, NULL, spin_in_map, (void *)1)) _exit(6);
  if (write(keep_pipe[1], keep_maps, sizeof keep_maps) != sizeof keep_maps) _exit(7);
}
static void *spin_in_map(void *a) {
  /* jmp . : never returns; in A, or in the image of the fifth map */
  ((void (*)(void))(uintptr_t)(a ? keep_maps[4] + 0x100 : keep_maps[0]))();
  return NULL;
}

/* The child of the tests below: its maps in a[], its spinners started. */
static pid_t keep_child_start(uint64_t a[6]) {
  assert_int_equal(pipe(keep_pipe), 0);
  pid_t c = fork();
  if (c == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    keep_make_maps();
    keep_start_spinner();
    for (;;) pause();
  }
  assert_int_equal(read(keep_pipe[0], a, 6 * sizeof *a), (ssize_t)(6 * sizeof *a));
  return c;
}

/* Wait until both spinners run their loops (a loaded machine may take a
 * while to get them there; once there they stay): their tids. */
static void keep_child_spinning(pid_t c, const uint64_t a[6], pid_t *in_a, pid_t *in_img) {
  hp_block_sigchld(1);
  *in_a = *in_img = 0;
  for (int tries = 0; tries < 500 && !(*in_a && *in_img); tries++) {
    usleep(10000);
    hp_proc p;
    assert_int_equal(hp_proc_open(&p, c, -1), HP_OK);
    assert_int_equal(hp_stop_threads(&p, 1000000, 0), HP_OK);
    *in_a = *in_img = 0;
    for (int i = 0; i < p.n; i++) {
      if (p.t[i].regs.rip == a[0]) *in_a = p.t[i].tid;
      if (p.t[i].regs.rip == a[4] + 0x100) *in_img = p.t[i].tid;
    }
    hp_proc_close(&p);
  }
  assert_true(*in_a && *in_img);
}

static void keep_child_end(pid_t c) {
  hp_block_sigchld(0);
  kill(c, SIGKILL);
  int cs;
  waitpid(c, &cs, 0);
  close(keep_pipe[0]);
  close(keep_pipe[1]);
}

/* Old maps are kept together while a thread is in the trampolines of any
 * of them (a map without hpm's header counts as trampolines whole: a
 * trampoline may lead into another map); a thread in a map's image keeps
 * that map only; with no thread in them all go. */
static void unmap_keeps_all_maps_while_a_thread_is_in_one(void **st) {
  (void)st;
  uint64_t a[6];
  pid_t c = keep_child_start(a), in_a, in_img;
  keep_child_spinning(c, a, &in_a, &in_img);
  hp_map both[2] = {{a[0], 4096}, {a[1], 4096}};
  hp_transition_report rep;
  assert_int_equal(hp_force(c, NULL, 0, both, 2, &rep), HP_OK);
  assert_true(both[0].addr != 0); /* the thread is in it */
  assert_true(both[1].addr != 0); /* kept with it */
  assert_int_equal(rep.retained, 2);
  uint8_t b;
  assert_int_equal(hp_peek(c, a[1], &b, 1), 0); /* still mapped */
  hp_map free2[2] = {{a[2], 4096}, {a[3], 4096}};
  assert_int_equal(hp_force(c, NULL, 0, free2, 2, &rep), HP_OK);
  assert_int_equal(free2[0].addr, 0); /* unmapped */
  assert_int_equal(free2[1].addr, 0);
  assert_int_equal(rep.retained, 0);
  assert_int_not_equal(hp_peek(c, a[2], &b, 1), 0);
  /* a thread in a map's image, not its trampolines: that map alone is kept */
  hp_map img[2] = {{a[4], 4096}, {a[5], 4096}};
  assert_int_equal(hp_force(c, NULL, 0, img, 2, &rep), HP_OK);
  assert_true(img[0].addr != 0);
  assert_int_equal(img[1].addr, 0);
  assert_int_equal(rep.retained, 1);
  keep_child_end(c);
}

/* TracerPid of thread tid of process pid (-1: unreadable). */
static int tracer_of(pid_t pid, pid_t tid) {
  char path[96], line[256];
  snprintf(path, sizeof path, "/proc/%d/task/%d/status", (int)pid, (int)tid);
  FILE *f = fopen(path, "re");
  int tp = -1;
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "TracerPid: %d", &tp) == 1) break;
  if (f) fclose(f);
  return tp;
}

/* The release after a commit scans each thread stopped in the pause just
 * before detaching it: the kept thread is scanned too and stays stopped,
 * a held thread is detached without a scan (its share was scanned before
 * the pause). */
static void release_scanning_scans_each_thread_before_its_detach(void **st) {
  (void)st;
  uint64_t a[6];
  pid_t c = keep_child_start(a);
  pid_t in_a, in_img;
  keep_child_spinning(c, a, &in_a, &in_img);
  hp_proc p;
  assert_int_equal(hp_proc_open(&p, c, -1), HP_OK);
  assert_int_equal(hp_stop_threads(&p, 1000000, 0), HP_OK);
  assert_int_equal(p.n, 3);
  hp_load_vmas(&p);
  hp_load_start_stack(&p);
  hp_map m[3] = {{a[0], 4096}, {a[1], 4096}, {a[4], 4096}};
  int hit[3] = {0, 0, 0};
  for (int i = 0; i < p.n; i++) p.t[i].held = p.t[i].tid == in_img; /* as if held before the pause */
  hp_release_scanning(&p, in_a, m, 3, hit);
  assert_int_equal(hit[0], 1); /* the kept thread, scanned */
  assert_int_equal(hit[1], 0);
  assert_int_equal(hit[2], 0); /* held: not scanned here */
  assert_int_equal(p.n, 1);
  assert_int_equal(p.t[0].tid, in_a);
  assert_int_equal(p.t[0].stopped, 1);
  assert_int_equal(tracer_of(c, in_a), (int)getpid());
  assert_int_equal(tracer_of(c, in_img), 0); /* detached */
  assert_int_equal(tracer_of(c, c), 0);
  /* nothing held: the other spinner is scanned before its detach */
  assert_int_equal(hp_stop_threads(&p, 1000000, 0), HP_OK);
  for (int i = 0; i < p.n; i++) p.t[i].held = 0;
  hp_release_scanning(&p, c, m, 3, hit);
  assert_int_equal(hit[2], 1);
  assert_int_equal(p.n, 1);
  assert_int_equal(p.t[0].tid, c);
  assert_int_equal(tracer_of(c, in_a), 0);
  hp_proc_close(&p);
  assert_int_equal(tracer_of(c, c), 0);
  keep_child_end(c);
}

/* What a unit's state says about the hotpatch, in each of systemd's states. */
static void unit_judge_states(void **st) {
  (void)st;
  char why[256];
  hp_unit_state s = {.active = "active", .sub = "running", .result = "success", .nrestarts = 2};
  assert_int_equal(hp_unit_judge("a.service", 2, &s, why, sizeof why), 0);
  /* restarted, the new run under way: the reset result is not named as the cause */
  s.nrestarts = 3;
  assert_int_equal(hp_unit_judge("a.service", 2, &s, why, sizeof why), -1);
  assert_non_null(strstr(why, "unit a.service was restarted by systemd 1 time(s)"));
  assert_null(strstr(why, "result success"));
  assert_non_null(strstr(why, "journalctl -u"));
  /* restarted and down again: the result is the cause */
  snprintf(s.sub, sizeof s.sub, "auto-restart");
  snprintf(s.active, sizeof s.active, "activating");
  snprintf(s.result, sizeof s.result, "exit-code");
  assert_int_equal(hp_unit_judge("a.service", 2, &s, why, sizeof why), -1);
  assert_non_null(strstr(why, "restarted by systemd 1 time(s) since the hotpatch reached it (result exit-code)"));
  /* waiting for its first restart */
  s.nrestarts = 2;
  assert_int_equal(hp_unit_judge("a.service", 2, &s, why, sizeof why), -1);
  assert_non_null(strstr(why, "unit a.service is waiting to be restarted by systemd (result exit-code)"));
  /* failed for good */
  snprintf(s.active, sizeof s.active, "failed");
  snprintf(s.sub, sizeof s.sub, "failed");
  snprintf(s.result, sizeof s.result, "core-dump");
  assert_int_equal(hp_unit_judge("a.service", 2, &s, why, sizeof why), -1);
  assert_string_equal(why, "unit a.service failed (result core-dump)");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(payload_valid),
      cmocka_unit_test(unit_judge_states),
      cmocka_unit_test(payload_every_prefix_refused),
      cmocka_unit_test(payload_field_refusals),
      cmocka_unit_test(payload_direct_region_versions),
      cmocka_unit_test(payload_imports),
      cmocka_unit_test(dso_libc_versions),
      cmocka_unit_test(site_bytes_pad_and_prologue),
      cmocka_unit_test(site_bytes_direct_entry),
      cmocka_unit_test(payload_call_sites),
      cmocka_unit_test(call_site_bytes_and_trampoline),
      cmocka_unit_test(direct_calls_found_only_in_clean_functions),
      cmocka_unit_test(trampoline_paths),
      cmocka_unit_test(prologue_whole_instructions),
      cmocka_unit_test(prologue_rip_relative_moves),
      cmocka_unit_test(spans_group_nearby_sites),
      cmocka_unit_test(stub_call_returns_and_restores),
      cmocka_unit_test(stub_tracer_dies_at_every_step),
      cmocka_unit_test(stack_scan_sees_main_and_thread_frames),
      cmocka_unit_test(hold_sleepers_holds_only_sleeping_threads),
      cmocka_unit_test(unmap_keeps_all_maps_while_a_thread_is_in_one),
      cmocka_unit_test(release_scanning_scans_each_thread_before_its_detach),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
