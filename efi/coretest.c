/* SPDX-License-Identifier: MIT */
/*
 * hpm-coretest.efi: proves the freestanding build of core + mbedTLS +
 * libfdt links (--no-undefined) and runs under UEFI.  It prints what it
 * checks, then "HPM-CORETEST: OK" (or "HPM-CORETEST: FAIL ...") and powers
 * the machine off.  Driven by firmware-tests/test_coretest.py.
 */
#include <efi.h>
#include <efilib.h>
#include <libfdt.h>

#include "hpm/core.h"
#include "sysdeps_efi.h"

EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *systab);

/* signed_msg, and p256_/p384_ spki and sig: "hpm coretest" signed by a
 * P-256 and a P-384 key (DER SubjectPublicKeyInfo, DER ECDSA-Sig-Value),
 * made fresh by OpenSSL at build time (efi/coretest-vectors.sh). */
#include "coretest_vectors.h"

static const uint8_t sha256_abc[HPM_DIGEST_LEN] = {
    0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
    0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};

static unsigned failures;

static void check(bool ok, const char *what) {
  Print(L"HPM-CORETEST: %a: %a\r\n", what, ok ? "ok" : "FAILED");
  if (!ok)
    failures++;
}


static void test_sha256(void) {
  uint8_t d[HPM_DIGEST_LEN];
  char h[2 * HPM_DIGEST_LEN + 1];
  hpm_result r = hpm_sha256((const uint8_t *)"abc", 3, d);
  if (r != HPM_OK) {
    check(false, "hpm_sha256");
    return;
  }
  hpm_fmt_hex(d, sizeof d, h, sizeof h);
  Print(L"HPM-CORETEST: sha256(abc) = %a\r\n", h);
  check(hpm_ct_equal(d, sha256_abc, sizeof d), "sha256 known answer");
}

static void test_ecdsa(const char *name, const uint8_t *spki, size_t spki_len,
                       const uint8_t *sig, size_t sig_len) {
  hpm_pubkey key;
  Print(L"HPM-CORETEST: %a\r\n", name);
  if (hpm_pubkey_from_spki(spki, spki_len, &key) != HPM_OK) {
    check(false, "  parse public key");
    return;
  }
  check(hpm_signature_check(&key, signed_msg, sizeof signed_msg - 1, sig, sig_len) == HPM_OK,
        "  good signature verifies");
  /* Same signature, one byte of the message changed. */
  uint8_t bad[sizeof signed_msg - 1];
  memcpy(bad, signed_msg, sizeof bad);
  bad[0] ^= 1;
  check(hpm_signature_check(&key, bad, sizeof bad, sig, sig_len) == HPM_E_SIGNATURE_INVALID,
        "  tampered message rejected");
}

static void test_fdt(void) {
  static uint8_t buf[256];
  int len = -1;
  bool ok = fdt_create(buf, sizeof buf) == 0 && fdt_finish_reservemap(buf) == 0 &&
            fdt_begin_node(buf, "") == 0 &&
            fdt_property_string(buf, "compat", "hpm-coretest") == 0 &&
            fdt_end_node(buf) == 0 && fdt_finish(buf) == 0;
  ok = ok && fdt_check_full(buf, fdt_totalsize(buf)) == 0;
  const char *v = ok ? fdt_getprop(buf, 0, "compat", &len) : NULL;
  ok = ok && v != NULL && len == 13 && memcmp(v, "hpm-coretest", 13) == 0;
  check(ok, "libfdt build + fdt_check_full + getprop");
}

EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *systab) {
  InitializeLib(image, systab);
  /* The firmware's 5-minute watchdog would reset the machine under us. */
  uefi_call_wrapper(BS->SetWatchdogTimer, 4, 0, 0, 0, NULL);
  Print(L"HPM-CORETEST: start\r\n");

  EFI_STATUS st = hpm_efi_sysdeps_init();
  if (EFI_ERROR(st))
    Print(L"HPM-CORETEST: hpm_efi_sysdeps_init: %r\r\n", st);
  check(!EFI_ERROR(st), "mbedTLS arena");

  test_sha256();
  Print(L"HPM-CORETEST: result %d = %a\r\n", (int)HPM_E_PAYLOAD_HASH,
        hpm_result_to_string(HPM_E_PAYLOAD_HASH));
  test_ecdsa("ECDSA P-256/SHA-256", p256_spki, sizeof p256_spki, p256_sig, sizeof p256_sig);
  test_ecdsa("ECDSA P-384/SHA-384", p384_spki, sizeof p384_spki, p384_sig, sizeof p384_sig);
  test_fdt();

  void *p = hpm_sys_calloc(3, 100);
  check(p != NULL && ((uint8_t *)p)[299] == 0, "hpm_sys_calloc");
  hpm_sys_free(p);
  check(hpm_sys_calloc((size_t)-1 / 2, 3) == NULL, "hpm_sys_calloc overflow");
  hpm_sys_log(HPM_LOG_INFO, "hpm_sys_log reaches the console");

  if (failures == 0)
    Print(L"HPM-CORETEST: OK\r\n");
  else
    Print(L"HPM-CORETEST: FAIL (%u checks failed)\r\n", failures);

  uefi_call_wrapper(RT->ResetSystem, 4, EfiResetShutdown,
                    failures == 0 ? EFI_SUCCESS : EFI_ABORTED, 0, NULL);
  return failures == 0 ? EFI_SUCCESS : EFI_ABORTED;
}
