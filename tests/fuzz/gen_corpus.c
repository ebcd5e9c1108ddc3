/* SPDX-License-Identifier: MIT */
/*
 * Seed corpora for the fuzzers, generated at build time with hpmw:
 *
 *   gen_corpus <dir>  writes
 *     <dir>/corpus/fuzz_container_unverified/   containers (signed and not)
 *     <dir>/corpus/fuzz_container_verify/       containers signed with the
 *                                               fixed fuzzing keys
 *     <dir>/corpus/fuzz_manifest/               their manifests (FDT)
 *     <dir>/corpus/fuzz_catalog/                catalogs signed with the
 *                                               fuzzing keys (and one not)
 *     <dir>/hpm.dict                            a libFuzzer dictionary
 *
 * Deterministic: the same files on every run (RFC 6979 signatures).
 */
#include <errno.h>
#include <libfdt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <mbedtls/pk.h>
#include <mbedtls/sha256.h>

#include "hpmw.h"
#include "hpmw_catalog.h"
#include "shared.h"

static const char *out_dir;

static void die(const char *what, const char *msg) {
  fprintf(stderr, "gen_corpus: %s: %s\n", what, msg);
  exit(1);
}

static void mkdirs(const char *path) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s", path);
  for (char *p = tmp + 1; *p; p++)
    if (*p == '/') {
      *p = '\0';
      if (mkdir(tmp, 0755) && errno != EEXIST) die(tmp, strerror(errno));
      *p = '/';
    }
  if (mkdir(tmp, 0755) && errno != EEXIST) die(tmp, strerror(errno));
}

static void put(const char *target, const char *name, const uint8_t *p, size_t n) {
  char path[4096];
  FILE *f;
  snprintf(path, sizeof path, "%s/corpus/%s/%s", out_dir, target, name);
  f = fopen(path, "wb");
  if (!f || fwrite(p, 1, n, f) != n || fclose(f)) die(path, strerror(errno));
}

/* A private key context for the fixed scalar of gid. */
static void fixed_pk(mbedtls_ecp_group_id gid, mbedtls_pk_context *pk) {
  mbedtls_pk_init(pk);
  if (mbedtls_pk_setup(pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) ||
      fz_keypair(gid, mbedtls_pk_ec(*pk)))
    die("key", "cannot build the fixed fuzzing key");
}

static mbedtls_pk_context k256, k384;
static fz_files files;

static uint8_t kernel[300], initrd[FZ_INITRD_LEN], patch1[64];
static const char cmdline[] = "console=ttyS0 root=/dev/vda2 quiet";

/* Build m, sign with each of signers, write the container to the container
 * corpora and its manifest to the manifest corpus. */
static void emit(const char *name, const hpmw_manifest *m, mbedtls_pk_context **signers, int n) {
  uint8_t *buf, *fdt;
  size_t len, fdt_len;
  hpmh_status e;
  if (hpmw_build(m, &buf, &len, &e)) die(name, e.detail);
  if (hpmw_manifest_fdt(m, &fdt, &fdt_len, &e)) die(name, e.detail);
  for (int i = 0; i < n; i++)
    if (hpmw_sign_container(&buf, &len, signers[i], &e)) die(name, e.detail);
  put("fuzz_container_unverified", name, buf, len);
  put("fuzz_container_verify", name, buf, len);
  put("fuzz_manifest", name, fdt, fdt_len);
  free(buf);
  free(fdt);
}

/* A hand-made manifest with info entries, to seed the non-critical paths;
 * name "baseline-late-svn": the same with a second svn after the payloads
 * node, where libfdt's property iterator never looks (core refuses a
 * property after a child; tests/cli/test_fdt_view.py compares what core
 * reads with an independent FDT walker on every input it accepts). */
static void emit_info_manifest(const char *name) {
  static uint8_t fdt[4096];
  uint8_t h[32];
  int rc = 0;
  uint8_t *c;
  size_t clen;
  hpmh_status e;
  char unsigned_name[64];
  mbedtls_sha256_ret(kernel, 16, h, 0);
#define T(x) rc = rc ? rc : (x)
  T(fdt_create(fdt, sizeof fdt));
  T(fdt_finish_reservemap(fdt));
  T(fdt_begin_node(fdt, ""));
  T(fdt_property_u32(fdt, "hpm,format", 1));
  T(fdt_property_string(fdt, "hpm,kind", "baseline"));
  T(fdt_property_string(fdt, "compat", "hpm-x86_64"));
  T(fdt_property_string(fdt, "version", "1"));
  T(fdt_property_u32(fdt, "svn", 1));
  T(fdt_property_u64(fdt, "timestamp", 1));
  T(fdt_property_string(fdt, "release", "unplanned"));
  T(fdt_property_string(fdt, "info,builder", "ci"));
  T(fdt_begin_node(fdt, "info,sbom"));
  T(fdt_property_string(fdt, "format", "spdx"));
  T(fdt_begin_node(fdt, "pkg"));
  T(fdt_end_node(fdt));
  T(fdt_end_node(fdt));
  T(fdt_begin_node(fdt, "payloads"));
  T(fdt_property_string(fdt, "info,note", "x"));
  T(fdt_begin_node(fdt, "kernel"));
  T(fdt_property_string(fdt, "type", "kernel"));
  T(fdt_property_u64(fdt, "size", 16));
  T(fdt_property(fdt, "sha256", h, 32));
  T(fdt_property_u64(fdt, "offset", 0));
  T(fdt_property_string(fdt, "info,v", "6.1"));
  T(fdt_end_node(fdt));
  T(fdt_begin_node(fdt, "info,layout"));
  T(fdt_end_node(fdt));
  T(fdt_end_node(fdt));
  if (!strcmp(name, "baseline-late-svn")) T(fdt_property_u32(fdt, "svn", 0));
  T(fdt_end_node(fdt));
  T(fdt_finish(fdt));
#undef T
  if (rc) die(name, fdt_strerror(rc));
  put("fuzz_manifest", name, fdt, fdt_totalsize(fdt));
  if (hpmw_assemble(HPM_KIND_BASELINE, fdt, fdt_totalsize(fdt), kernel, 16, &c, &clen, &e))
    die(name, e.detail);
  snprintf(unsigned_name, sizeof unsigned_name, "%s-unsigned", name);
  put("fuzz_container_unverified", unsigned_name, c, clen);
  if (hpmw_sign_container(&c, &clen, &k256, &e)) die(name, e.detail);
  put("fuzz_container_unverified", name, c, clen);
  put("fuzz_container_verify", name, c, clen);
  free(c);
}

/* Catalogs of 0, 1 and 3 entries, signed by the fuzzing keys. */
static void emit_catalogs(void) {
  hpm_catalog_entry e[3];
  hpm_catalog c;
  mbedtls_pk_context *signers[2] = {&k256, &k384};
  memset(e, 0, sizeof e);
  memset(&c, 0, sizeof c);
  for (int i = 0; i < 3; i++) {
    snprintf(e[i].id, sizeof e[i].id, "REL-%d", i);
    e[i].kind = i == 0 ? HPM_KIND_BASELINE : HPM_KIND_HOTPATCH;
    e[i].release = i == 2 ? HPM_RELEASE_UNPLANNED : HPM_RELEASE_PLANNED;
    e[i].classification = (hpm_classification)(1 + i);
    e[i].release_time = 1700000000u + (uint64_t)i;
    snprintf(e[i].version, sizeof e[i].version, "2024.0%d", i + 1);
    e[i].svn = 5;
    memset(e[i].digest, 0x40 + i, 32);
    if (i) {
      memset(e[i].target_baseline, 0x40, 32);
      e[i].sequence = (uint32_t)i;
    }
    e[i].size = 1000u + (uint64_t)i;
    memset(e[i].file_sha256, 0x60 + i, 32);
    snprintf(e[i].url, sizeof e[i].url, i ? "hotpatches/rel-%d.hpm" : "baselines/rel-%d.hpm", i);
  }
  strcpy(c.compat, "hpm-x86_64");
  c.serial = 3;
  c.issued = 1700000000;
  c.expires = 1800000000;
  c.entries = e;
  for (size_t n = 0; n <= 3; n++) {
    uint8_t *buf;
    size_t len;
    hpmh_status err;
    char name[32];
    if (n == 2) continue;
    c.count = n;
    for (int s = 0; s <= 2; s++) {
      if (hpmw_catalog_build(&c, &buf, &len, &err)) die("catalog", err.detail);
      for (int k = 0; k < s; k++)
        if (hpmw_sign_container(&buf, &len, signers[k], &err)) die("catalog", err.detail);
      snprintf(name, sizeof name, "catalog-%zu-%dsig", n, s);
      put("fuzz_catalog", name, buf, len);
      put("fuzz_container_unverified", name, buf, len);
      free(buf);
    }
  }
}

static void write_dict(void) {
  /* n = 0: a text word (strlen); otherwise that many bytes */
  static const struct {
    const char *w;
    size_t n;
  } words[] = {
      {"hpm,format", 0}, {"hpm,kind", 0}, {"compat", 0}, {"version", 0}, {"svn", 0},
      {"timestamp", 0}, {"release", 0}, {"classification", 0}, {"id", 0},
      {"target-baseline", 0}, {"sequence", 0}, {"payloads", 0}, {"type", 0}, {"size", 0},
      {"sha256", 0}, {"offset", 0}, {"file", 0}, {"info,", 0}, {"kernel", 0}, {"initrd", 0},
      {"cmdline", 0}, {"patch", 0}, {"baseline", 0}, {"hotpatch", 0}, {"catalog", 0},
      {"planned", 0}, {"unplanned", 0}, {"critical", 0}, {"security", 0}, {"other", 0},
      {"@", 0}, {FZ_FILE_INITRD, 0}, {FZ_FILE_PATCH, 0},
      {"serial", 0}, {"expires", 0}, {"entries", 0}, {"released", 0}, {"digest", 0},
      {"url", 0}, {"kind", 0}, {"..", 0}, {"/", 0},
      {"livepatch", 0}, {"kernel-release", 0}, {"kernel-build-id", 0}, {"vermagic", 0}, {"module", 0},
      {"\xd0\x0d\xfe\xed", 4},                       /* FDT magic */
      {"\x89HPM\r\n\x1a\n", 8}, {"HPMSIGS\0", 8},     /* container, signature block */
      {"\0\0\0\x01", 4}, {"\0\0\0\x02", 4}, {"\0\0\0\x03", 4}, /* FDT tokens */
      {"\0\0\0\x04", 4}, {"\0\0\0\x09", 4},
      {"\0\0\0\x11", 4}, {"\0\0\0\x10", 4},             /* FDT versions */
  };
  char path[4096];
  FILE *f;
  snprintf(path, sizeof path, "%s/hpm.dict", out_dir);
  f = fopen(path, "w");
  if (!f) die(path, strerror(errno));
  for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
    size_t n = words[i].n ? words[i].n : strlen(words[i].w);
    fprintf(f, "kw%zu=\"", i);
    for (size_t j = 0; j < n; j++) {
      unsigned char ch = (unsigned char)words[i].w[j];
      if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\')
        fputc(ch, f);
      else
        fprintf(f, "\\x%02x", ch);
    }
    fputs("\"\n", f);
  }
  if (fclose(f)) die(path, strerror(errno));
}

int main(int argc, char **argv) {
  static const char *const targets[] = {"fuzz_container_unverified", "fuzz_container_verify",
                                        "fuzz_manifest", "fuzz_catalog"};
  uint8_t target_digest[32];
  if (argc != 2) {
    fprintf(stderr, "usage: gen_corpus <fuzz build dir>\n");
    return 2;
  }
  out_dir = argv[1];
  for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
    char d[4096];
    snprintf(d, sizeof d, "%s/corpus/%s", out_dir, targets[i]);
    mkdirs(d);
  }
  fixed_pk(MBEDTLS_ECP_DP_SECP256R1, &k256);
  fixed_pk(MBEDTLS_ECP_DP_SECP384R1, &k384);
  fz_files_init(&files);
  fz_fill(kernel, sizeof kernel, 0x4b);
  memcpy(initrd, files.initrd, sizeof initrd);
  fz_fill(patch1, sizeof patch1, 0x90);
  mbedtls_sha256_ret(kernel, sizeof kernel, target_digest, 0);

  {
    mbedtls_pk_context *p256[] = {&k256}, *p384[] = {&k384}, *both[] = {&k256, &k384};
    hpmw_payload b3[3] = {
        {"kernel", HPM_PAYLOAD_KERNEL, kernel, sizeof kernel, NULL},
        {"initrd", HPM_PAYLOAD_INITRD, initrd, sizeof initrd, NULL},
        {"cmdline", HPM_PAYLOAD_CMDLINE, (const uint8_t *)cmdline, strlen(cmdline), NULL},
    };
    hpmw_payload bdet[3] = {
        {"kernel", HPM_PAYLOAD_KERNEL, kernel, 64, NULL},
        {"initrd", HPM_PAYLOAD_INITRD, initrd, sizeof initrd, FZ_FILE_INITRD},
        {"cmdline", HPM_PAYLOAD_CMDLINE, (const uint8_t *)cmdline, strlen(cmdline), NULL},
    };
    hpmw_payload bmin[1] = {{"k", HPM_PAYLOAD_KERNEL, kernel, 1, NULL}};
    hpmw_payload h2[2] = {
        {"fix-openssl", HPM_PAYLOAD_PATCH, patch1, sizeof patch1, NULL},
        {"fix-sshd", HPM_PAYLOAD_PATCH, files.patch, sizeof files.patch, FZ_FILE_PATCH},
    };
    hpmw_manifest base = {.kind = HPM_KIND_BASELINE, .compat = "hpm-x86_64", .version = "2024.06.1",
                          .svn = 5, .timestamp = 1700000000, .release = HPM_RELEASE_PLANNED,
                          .payloads = b3, .payload_count = 3};
    hpmw_manifest det = base, min = base, hot = {
        .kind = HPM_KIND_HOTPATCH, .compat = "hpm-x86_64", .version = "2024.06.1-hp2", .svn = 5,
        .timestamp = 1700100000, .classification = HPM_CLASS_SECURITY, .id = "KB5001234",
        .sequence = 2, .payloads = h2, .payload_count = 2};
    hpmw_manifest hot0 = hot;
    det.payloads = bdet;
    min.payloads = bmin;
    min.payload_count = 1;
    min.release = HPM_RELEASE_UNPLANNED;
    memcpy(hot.target_baseline, target_digest, 32);
    hot0.payload_count = 0;
    hot0.classification = HPM_CLASS_OTHER;

    emit("baseline-p256", &base, p256, 1);
    emit("baseline-p384", &base, p384, 1);
    emit("baseline-2sig", &base, both, 2);
    emit("baseline-unsigned", &base, NULL, 0);
    emit("baseline-detached", &det, p256, 1);
    emit("baseline-min", &min, p384, 1);
    emit("hotpatch-p256", &hot, p256, 1);
    emit("hotpatch-p384", &hot, p384, 1);
    emit("hotpatch-empty", &hot0, both, 2);
    /* a user-space patch and a kernel part in one hotpatch */
    static const hpm_kernel_part kp = {.release = "6.1.0-57-amd64", .build_id = {0x6a, 0x2b, 0x4a, 0xc7},
                                       .build_id_len = 20, .vermagic = "6.1.0-57-amd64 SMP preempt mod_unload ",
                                       .module = "hpm_kp_2"};
    hpmw_payload hk[2] = {
        {"fix-openssl", HPM_PAYLOAD_PATCH, patch1, sizeof patch1, NULL},
        {"livepatch", HPM_PAYLOAD_LIVEPATCH, kernel, 64, NULL},
    };
    hpmw_manifest hotk = hot;
    hotk.payloads = hk;
    hotk.kernel = &kp;
    emit("hotpatch-kernel", &hotk, p256, 1);
  }
  emit_info_manifest("baseline-info");
  emit_info_manifest("baseline-late-svn");
  emit_catalogs();
  write_dict();
  mbedtls_pk_free(&k256);
  mbedtls_pk_free(&k384);
  return 0;
}
