/* SPDX-License-Identifier: MIT */
/*
 * The kernel's module signature on the livepatch module of `hpm-sign
 * hotpatch --kernel-sign-key/--kernel-sign-cert` (docs/kernel-hotpatch.md
 * "Secure Boot"), so that a kernel in lockdown loads it:
 *
 *   module || PKCS#7 signed-data (DER) || struct module_signature (12 bytes)
 *          || "~Module signature appended~\n"
 *
 * The signed-data is detached (the module is the content), carries no
 * certificate and no signed attributes, and names its signer by issuer and
 * serial number: the kernel finds the key by that in its keyrings (here the
 * machine keyring, which hpmboot.efi fills).  Built with OpenSSL's CMS API,
 * as the kernel's own scripts/sign-file does.  struct module_signature:
 * algo, hash, id_type (2 = PKEY_ID_PKCS7), signer_len, key_id_len, 3 bytes
 * of padding (all 0 but id_type), then the signed-data's length, big-endian.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "hpm-sign.h"

#define MODSIG_MAGIC "~Module signature appended~\n"
#define MODSIG_INFO 12u
#define PKEY_ID_PKCS7 2u

/* The first OpenSSL error as text (or "unknown error"). */
static const char *ossl_why(char *buf, size_t cap) {
  unsigned long e = ERR_get_error();
  if (!e) return "unknown error";
  ERR_error_string_n(e, buf, cap);
  ERR_clear_error();
  return buf;
}

/* The file of option opt, opened for OpenSSL; NULL (reported) if it cannot be. */
static BIO *open_file(const char *cmd, const char *opt, const char *path) {
  char why[256];
  BIO *b = BIO_new_file(path, "rb");
  if (!b) msg(cmd, "%s %s: cannot open: %s", opt, path, ossl_why(why, sizeof why));
  return b;
}

static X509 *read_cert(const char *cmd, const char *path) {
  char why[256];
  BIO *b = open_file(cmd, "--kernel-sign-cert", path);
  X509 *x;
  if (!b) return NULL;
  x = PEM_read_bio_X509(b, NULL, NULL, NULL);
  if (!x) {
    ERR_clear_error();
    (void)BIO_seek(b, 0);
    x = d2i_X509_bio(b, NULL);
  }
  BIO_free(b);
  if (!x)
    msg(cmd, "--kernel-sign-cert %s: not an X.509 certificate (PEM or DER): %s", path, ossl_why(why, sizeof why));
  return x;
}

static EVP_PKEY *read_key(const char *cmd, const char *path) {
  char why[256];
  BIO *b = open_file(cmd, "--kernel-sign-key", path);
  EVP_PKEY *k;
  if (!b) return NULL;
  k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
  BIO_free(b);
  if (!k) msg(cmd, "--kernel-sign-key %s: not a PEM private key: %s", path, ossl_why(why, sizeof why));
  return k;
}

int kmod_sign(const char *cmd, const char *key_path, const char *cert_path, const char *ko_path, uint8_t **data,
              size_t *size) {
  const size_t ml = sizeof MODSIG_MAGIC - 1;
  char why[256];
  X509 *cert = NULL;
  EVP_PKEY *key = NULL;
  CMS_ContentInfo *cms = NULL;
  BIO *in = NULL, *out = NULL;
  BUF_MEM *der = NULL;
  uint8_t *signed_ko = NULL;
  int rc = EXIT_IOERR;

  if (*size >= ml && !memcmp(*data + *size - ml, MODSIG_MAGIC, ml)) {
    msg(cmd, "--kernel-module %s: already carries a module signature (Kbuild signs modules when the headers' "
             "signing key is present); give the unsigned module, hpm-sign signs it with --kernel-sign-key",
        ko_path);
    return EXIT_REFUSED;
  }
  if (!(cert = read_cert(cmd, cert_path)) || !(key = read_key(cmd, key_path))) goto done;
  if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) {
    msg(cmd, "--kernel-sign-key %s: not an RSA key (%s); the kernel verifies module signatures with RSA only (Debian's "
             "kernel is built without CONFIG_CRYPTO_ECDSA): make an RSA key and certificate, e.g. openssl req -new "
             "-x509 -newkey rsa:4096 -nodes -sha256 -days 3650 -subj '/CN=... kernel module signing/' -keyout "
             "kmod.key -out kmod.crt",
        key_path, OBJ_nid2sn(EVP_PKEY_get_base_id(key)));
    rc = EXIT_REFUSED;
    goto done;
  }
  if (X509_check_private_key(cert, key) != 1) {
    ERR_clear_error();
    msg(cmd, "--kernel-sign-key %s is not the key of --kernel-sign-cert %s; give the certificate of that key",
        key_path, cert_path);
    rc = EXIT_REFUSED;
    goto done;
  }
  if (!(in = BIO_new_mem_buf(*data, (int)*size)) || !(out = BIO_new(BIO_s_mem()))) {
    rc = out_of_memory(cmd);
    goto done;
  }
  cms = CMS_sign(NULL, NULL, NULL, NULL, CMS_NOCERTS | CMS_PARTIAL | CMS_BINARY | CMS_DETACHED | CMS_STREAM);
  if (!cms ||
      !CMS_add1_signer(cms, cert, key, EVP_sha256(), CMS_NOCERTS | CMS_BINARY | CMS_NOSMIMECAP | CMS_NOATTR) ||
      CMS_final(cms, in, NULL, CMS_NOCERTS | CMS_BINARY) != 1 || i2d_CMS_bio(out, cms) != 1) {
    msg(cmd, "--kernel-module %s: making the module signature failed: %s", ko_path, ossl_why(why, sizeof why));
    goto done;
  }
  BIO_get_mem_ptr(out, &der);
  if (!der || der->length == 0 || der->length > UINT32_MAX) {
    msg(cmd, "--kernel-module %s: making the module signature failed: empty signed-data", ko_path);
    goto done;
  }
  size_t n = *size + der->length + MODSIG_INFO + ml;
  if (n > HPM_PAYLOAD_MAX) {
    msg(cmd, "--kernel-module %s: with its signature the module is larger than a payload may be", ko_path);
    rc = EXIT_REFUSED;
    goto done;
  }
  if (!(signed_ko = malloc(n))) {
    rc = out_of_memory(cmd);
    goto done;
  }
  uint8_t *p = signed_ko;
  uint32_t sl = (uint32_t)der->length;
  memcpy(p, *data, *size);
  p += *size;
  memcpy(p, der->data, der->length);
  p += der->length;
  memset(p, 0, MODSIG_INFO);
  p[2] = PKEY_ID_PKCS7;
  p[8] = (uint8_t)(sl >> 24);
  p[9] = (uint8_t)(sl >> 16);
  p[10] = (uint8_t)(sl >> 8);
  p[11] = (uint8_t)sl;
  p += MODSIG_INFO;
  memcpy(p, MODSIG_MAGIC, ml);
  free(*data);
  *data = signed_ko;
  *size = n;
  rc = 0;
done:
  CMS_ContentInfo_free(cms);
  BIO_free(in);
  BIO_free(out);
  EVP_PKEY_free(key);
  X509_free(cert);
  return rc;
}
