/* SPDX-License-Identifier: MIT */
/* host/kmod.c: .modinfo of livepatch modules and the build-id in notes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "kmod.h"

static void st16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void st32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static void st64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }

/* A minimal ET_REL x86-64 ELF: null, .shstrtab, .modinfo (mi, n bytes). */
static size_t make_ko(uint8_t *buf, size_t cap, const char *mi, size_t n) {
  static const char names[] = "\0.shstrtab\0.modinfo";
  size_t strtab = 64, modinfo = strtab + sizeof names, shoff = (modinfo + n + 7) & ~(size_t)7;
  size_t len = shoff + 3 * 64;
  assert_true(len <= cap);
  memset(buf, 0, len);
  memcpy(buf, "\177ELF\2\1\1", 7);
  st16(buf + 16, 1);
  st16(buf + 18, 62);
  st64(buf + 40, shoff);
  st16(buf + 58, 64);
  st16(buf + 60, 3);
  st16(buf + 62, 1);
  memcpy(buf + strtab, names, sizeof names);
  memcpy(buf + modinfo, mi, n);
  uint8_t *s1 = buf + shoff + 64, *s2 = buf + shoff + 128;
  st32(s1, 1), st32(s1 + 4, 3), st64(s1 + 24, strtab), st64(s1 + 32, sizeof names);
  st32(s2, 11), st32(s2 + 4, 1), st64(s2 + 24, modinfo), st64(s2 + 32, n);
  return len;
}

#define MI_OK "license=GPL\0livepatch=Y\0hpm_sequence=7\0name=hpm_kp_7\0vermagic=6.1.0-57-amd64 SMP preempt \0"

static void test_modinfo(void **state) {
  uint8_t ko[1024];
  hpmh_kmod_info info;
  char why[200];
  (void)state;
  size_t len = make_ko(ko, sizeof ko, MI_OK, sizeof MI_OK - 1);
  assert_int_equal(hpmh_kmod_parse(ko, len, &info, why, sizeof why), 0);
  assert_string_equal(info.name, "hpm_kp_7");
  assert_string_equal(info.vermagic, "6.1.0-57-amd64 SMP preempt ");
  assert_int_equal(info.livepatch, 1);
  assert_int_equal(info.sequence, 7);
  assert_int_equal(info.elf_len, len);
  char rel[65];
  assert_int_equal(hpmh_vermagic_release(info.vermagic, rel, sizeof rel), 0);
  assert_string_equal(rel, "6.1.0-57-amd64");

  /* an appended module signature is not part of the ELF */
  static const char marker[] = "~Module signature appended~\n";
  uint8_t sig[16] = {0};
  memcpy(ko + len, "SIGN", 4);
  memcpy(ko + len + 4, sig, 12);
  ko[len + 4 + 11] = 4; /* signature length 4, big-endian */
  memcpy(ko + len + 16, marker, sizeof marker - 1);
  assert_int_equal(hpmh_kmod_parse(ko, len + 16 + sizeof marker - 1, &info, why, sizeof why), 0);
  assert_int_equal(info.elf_len, len);
}

static void test_modinfo_refused(void **state) {
  static const struct {
    const char *mi;
    size_t n;
    const char *why;
  } bad[] = {
      {"name=x\0", 7, "no vermagic"},
      {"vermagic=6.1 \0", 14, "no name"},
      {"name=Bad-Name\0vermagic=6.1\0", 27, "must be a-z"},
      {"name=a\0vermagic=6.1\0livepatch=N\0", 33, "must be Y"},
      {"name=a\0vermagic=6.1\0hpm_sequence=0\0", 36, "1..4294967295"},
      {"name=a\0vermagic=6.1\0hpm_sequence=x\0", 36, "not a number"},
      {"name=a\0name=b\0vermagic=6.1\0", 27, "twice"},
      {"name=\0vermagic=6.1\0", 19, "name: empty"},
      {"name=a\0vermagic=\0", 17, "vermagic: empty"},
      {"name=a\0vermagic=6.1", 19, "not NUL-terminated"},
  };
  uint8_t ko[1024];
  hpmh_kmod_info info;
  char why[200];
  (void)state;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    size_t len = make_ko(ko, sizeof ko, bad[i].mi, bad[i].n);
    assert_int_equal(hpmh_kmod_parse(ko, len, &info, why, sizeof why), -1);
    if (!strstr(why, bad[i].why)) fail_msg("case %zu: '%s' lacks '%s'", i, why, bad[i].why);
  }
  size_t len = make_ko(ko, sizeof ko, MI_OK, sizeof MI_OK - 1);
  ko[16] = 2; /* ET_EXEC */
  assert_int_equal(hpmh_kmod_parse(ko, len, &info, why, sizeof why), -1);
  ko[16] = 1;
  st64(ko + 40, len); /* section headers past the end */
  assert_int_equal(hpmh_kmod_parse(ko, len, &info, why, sizeof why), -1);
  assert_int_equal(hpmh_kmod_parse(ko, 10, &info, why, sizeof why), -1);
}

static void test_notes(void **state) {
  uint8_t n[96] = {0}, id[HPM_KBUILD_ID_MAX];
  (void)state;
  /* a "Xen" note, then the GNU build-id (20 bytes) */
  st32(n, 4), st32(n + 4, 4), st32(n + 8, 6), memcpy(n + 12, "Xen", 4);
  st32(n + 20, 4), st32(n + 24, 20), st32(n + 28, 3), memcpy(n + 32, "GNU", 4);
  for (int i = 0; i < 20; i++) n[36 + i] = (uint8_t)(i + 1);
  assert_int_equal(hpmh_notes_build_id(n, 56, id), 20);
  assert_int_equal(id[0], 1);
  assert_int_equal(id[19], 20);
  assert_int_equal(hpmh_notes_build_id(n, 20, id), 0); /* only the Xen note */
  assert_int_equal(hpmh_notes_build_id(n, 50, id), -1); /* descriptor cut */
  st32(n + 24, 0xfffffffd);
  assert_int_equal(hpmh_notes_build_id(n, 56, id), -1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_modinfo),
      cmocka_unit_test(test_modinfo_refused),
      cmocka_unit_test(test_notes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
