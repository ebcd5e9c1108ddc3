/* SPDX-License-Identifier: MIT */
/*
 * hpm-sign: private keys in a PKCS#11 token (HSM), named by an RFC 7512
 * URI, used through OpenSSL's "pkcs11" engine (libengine-pkcs11-openssl).
 *
 * Why the ENGINE API: OpenSSL 3 deprecates it in favour of providers, but
 * Debian 12 ships no PKCS#11 provider (pkcs11-provider arrived in Debian
 * 13); the engine is how Debian 12's OpenSSL reaches a token.  Asking for
 * the 1.1.1 API in this one file keeps the deprecation warnings (errors
 * under -Werror) off here and nowhere else.  The engine is loaded only
 * when a pkcs11: URI is given.
 */
#define OPENSSL_API_COMPAT 0x10101000L

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/ec.h>
#include <openssl/engine.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <mbedtls/sha512.h>

#include "hpm-sign.h"

#define P11_PIN_MAX 256

struct p11_key {
  ENGINE *engine;
  EVP_PKEY *pkey;
};

/* What the URI says, split (RFC 7512): the path attributes go to the
 * engine; the query attributes hpm-sign reads itself. */
typedef struct {
  char path[1024];   /* "pkcs11:" + path attributes, no query */
  char shown[1024];  /* the URI for messages, with pin-value elided */
  char pin[P11_PIN_MAX + 1];
  char module[1024];
  const char *pin_from; /* where the PIN came from, for messages */
  bool has_object, has_token;
} p11_uri;

bool p11_is_uri(const char *s) { return s && strncmp(s, "pkcs11:", 7) == 0; }

static int hexval(char c) {
  return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Percent-decode n bytes of s into out (cap bytes with the NUL). */
static int pct_decode(const char *s, size_t n, char *out, size_t cap) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (c == '%') {
      int hi = i + 2 < n ? hexval(s[i + 1]) : -1;
      int lo = i + 2 < n ? hexval(s[i + 2]) : -1;
      if (hi < 0 || lo < 0) return -1;
      c = (char)(hi << 4 | lo);
      i += 2;
    }
    if (c == '\0' || o + 1 >= cap) return -1;
    out[o++] = c;
  }
  out[o] = '\0';
  return 0;
}

/* The PIN in a file (pin-source): its first line. */
static int read_pin_file(const char *cmd, const char *uri, const char *path, char pin[P11_PIN_MAX + 1]) {
  FILE *f = fopen(path, "r");
  size_t n;
  if (!f) {
    msg(cmd, "--key %s: pin-source '%s': cannot read the PIN file: %s; give a readable file, or the PIN "
             "in the environment (HPM_PKCS11_PIN)", uri, path, strerror(errno));
    return EXIT_IOERR;
  }
  if (!fgets(pin, P11_PIN_MAX + 1, f)) pin[0] = '\0';
  fclose(f);
  n = strcspn(pin, "\r\n");
  pin[n] = '\0';
  if (!n) {
    msg(cmd, "--key %s: pin-source '%s': the PIN file is empty; write the token's user PIN on its first line",
        uri, path);
    return EXIT_USAGE;
  }
  return 0;
}

/* Split and check the URI; fill u (PIN and module resolved). */
static int p11_parse(const char *cmd, const char *uri, p11_uri *u) {
  const char *q = strchr(uri, '?'), *p = uri + 7, *env;
  size_t plen = q ? (size_t)(q - uri) : strlen(uri);
  char pin_source[1024] = "";
  size_t sl;

  memset(u, 0, sizeof *u);
  if (plen >= sizeof u->path) {
    msg(cmd, "--key: the pkcs11: URI is longer than %zu characters", sizeof u->path - 1);
    return EXIT_USAGE;
  }
  memcpy(u->path, uri, plen);
  u->path[plen] = '\0';
  sl = (size_t)snprintf(u->shown, sizeof u->shown, "%s", u->path);

  /* path attributes: name=value separated by ';' */
  while (p < uri + plen && *p) {
    const char *end = memchr(p, ';', (size_t)(uri + plen - p));
    size_t n = end ? (size_t)(end - p) : (size_t)(uri + plen - p);
    const char *eq = memchr(p, '=', n);
    if (n && !eq) {
      msg(cmd, "--key %s: URI attribute '%.*s' has no value; write NAME=VALUE (e.g. object=release-key)", u->shown,
          (int)n, p);
      return EXIT_USAGE;
    }
    if (eq) {
      size_t kn = (size_t)(eq - p);
      if (kn == 6 && !strncmp(p, "object", 6)) u->has_object = true;
      if (kn == 2 && !strncmp(p, "id", 2)) u->has_object = true;
      if (kn == 5 && !strncmp(p, "token", 5)) u->has_token = true;
      if (kn == 4 && !strncmp(p, "type", 4) && !(n - kn - 1 == 7 && !strncmp(eq + 1, "private", 7))) {
        msg(cmd, "--key %s: URI attribute 'type=%.*s': a signing key is type=private", u->shown,
            (int)(n - kn - 1), eq + 1);
        return EXIT_USAGE;
      }
    }
    p += n + (end ? 1 : 0);
  }

  /* query attributes: pin-value, pin-source, module-path */
  for (p = q ? q + 1 : NULL; p && *p;) {
    const char *end = strchr(p, '&');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    const char *eq = memchr(p, '=', n);
    size_t kn = eq ? (size_t)(eq - p) : n;
    const char *v = eq ? eq + 1 : p + n;
    size_t vn = (size_t)(p + n - v);
    if (kn == 9 && !strncmp(p, "pin-value", 9)) {
      if (pct_decode(v, vn, u->pin, sizeof u->pin)) goto bad_value;
      u->pin_from = "pin-value in the URI";
      sl += (size_t)snprintf(u->shown + sl, sl < sizeof u->shown ? sizeof u->shown - sl : 0, "%cpin-value=...",
                             q && p == q + 1 ? '?' : '&');
    } else if (kn == 10 && !strncmp(p, "pin-source", 10)) {
      if (pct_decode(v, vn, pin_source, sizeof pin_source)) goto bad_value;
      sl += (size_t)snprintf(u->shown + sl, sl < sizeof u->shown ? sizeof u->shown - sl : 0, "%c%.*s",
                             p == q + 1 ? '?' : '&', (int)n, p);
    } else if (kn == 11 && !strncmp(p, "module-path", 11)) {
      if (pct_decode(v, vn, u->module, sizeof u->module)) goto bad_value;
      sl += (size_t)snprintf(u->shown + sl, sl < sizeof u->shown ? sizeof u->shown - sl : 0, "%c%.*s",
                             p == q + 1 ? '?' : '&', (int)n, p);
    } else {
      msg(cmd, "--key %s: URI query attribute '%.*s' is not one hpm-sign reads; use pin-value, pin-source or "
               "module-path", u->shown, (int)kn, p);
      return EXIT_USAGE;
    }
    p = end ? end + 1 : NULL;
    continue;
  bad_value:
    msg(cmd, "--key %s: URI query attribute '%.*s' has a malformed value (bad %%-escape or too long)", u->shown,
        (int)kn, p);
    return EXIT_USAGE;
  }

  if (!u->has_object) {
    msg(cmd, "--key %s: the URI names no key: add object=LABEL (or id=%%01...) of the private key in the token, "
             "e.g. pkcs11:token=release;object=release-key;type=private", u->shown);
    return EXIT_USAGE;
  }
  if (!u->pin_from && pin_source[0]) {
    const char *path = strncmp(pin_source, "file:", 5) == 0 ? pin_source + 5 : pin_source;
    int rc = read_pin_file(cmd, u->shown, path, u->pin);
    if (rc) return rc;
    u->pin_from = "pin-source file";
  }
  if (!u->pin_from && (env = getenv("HPM_PKCS11_PIN")) && *env) {
    if (strlen(env) > P11_PIN_MAX) {
      msg(cmd, "HPM_PKCS11_PIN: the PIN is longer than %d characters", P11_PIN_MAX);
      return EXIT_USAGE;
    }
    snprintf(u->pin, sizeof u->pin, "%s", env);
    u->pin_from = "HPM_PKCS11_PIN";
  }
  if (!u->pin_from) {
    msg(cmd, "--key %s: no PIN for the token: set HPM_PKCS11_PIN, or add ?pin-source=file:PATH (or "
             "?pin-value=PIN) to the URI", u->shown);
    return EXIT_USAGE;
  }
  if (!u->module[0]) {
    env = getenv("HPM_PKCS11_MODULE");
    snprintf(u->module, sizeof u->module, "%s", env && *env ? env : HPM_PKCS11_DEFAULT_MODULE);
  }
  if (access(u->module, R_OK) != 0) {
    msg(cmd, "--key %s: PKCS#11 module %s: %s; install the token's module (softhsm2 for SoftHSM) or name it "
             "with HPM_PKCS11_MODULE or ?module-path=PATH", u->shown, u->module, strerror(errno));
    return EXIT_IOERR;
  }
  return 0;
}

/* The first OpenSSL error's reason, for messages ("" when none). */
static const char *ossl_reason(char *buf, size_t cap) {
  unsigned long e, last = 0;
  while ((e = ERR_get_error())) last = last ? last : e;
  buf[0] = '\0';
  if (last) ERR_error_string_n(last, buf, cap);
  return buf;
}

/* Whether the error queue mentions a refused PIN (libp11 reports the
 * token's CKR_PIN_INCORRECT / CKR_PIN_LEN_RANGE as text). */
static bool pin_refused(const char *reason) {
  return strstr(reason, "PIN") || strstr(reason, "pin");
}

static void p11_close(p11_key *k) {
  if (!k) return;
  EVP_PKEY_free(k->pkey);
  if (k->engine) {
    ENGINE_finish(k->engine);
    ENGINE_free(k->engine);
  }
  free(k);
}

void p11_free(p11_key *k) { p11_close(k); }

int p11_load(const char *cmd, const char *uri, p11_key **out, hpm_pubkey *pub) {
  p11_uri *u = calloc(1, sizeof *u);
  p11_key *k = calloc(1, sizeof *k);
  unsigned char *der = NULL;
  char why[256];
  int n, rc = EXIT_IOERR;

  *out = NULL;
  if (!u || !k) {
    rc = out_of_memory(cmd);
    goto done;
  }
  if ((rc = p11_parse(cmd, uri, u))) goto done;
  rc = EXIT_IOERR;
  ERR_clear_error();
  k->engine = ENGINE_by_id("pkcs11");
  if (!k->engine) {
    msg(cmd, "--key %s: the OpenSSL engine 'pkcs11' cannot be loaded (%s); install libengine-pkcs11-openssl, "
             "or point OPENSSL_ENGINES at the directory holding pkcs11.so", u->shown,
        ossl_reason(why, sizeof why));
    goto done;
  }
  /* QUIET: libp11 would print its own lines on stderr; the reason is
   * reported once below from OpenSSL's error queue instead. */
  ENGINE_ctrl_cmd_string(k->engine, "QUIET", NULL, 1);
  if (!ENGINE_ctrl_cmd_string(k->engine, "MODULE_PATH", u->module, 0) ||
      !ENGINE_init(k->engine)) {
    msg(cmd, "--key %s: the pkcs11 engine cannot use the module %s (%s); name the token's PKCS#11 module with "
             "HPM_PKCS11_MODULE or ?module-path=PATH", u->shown, u->module, ossl_reason(why, sizeof why));
    ENGINE_free(k->engine);
    k->engine = NULL;
    goto done;
  }
  if (!ENGINE_ctrl_cmd_string(k->engine, "PIN", u->pin, 0)) {
    msg(cmd, "--key %s: the pkcs11 engine refused the PIN setting (%s)", u->shown, ossl_reason(why, sizeof why));
    goto done;
  }
  k->pkey = ENGINE_load_private_key(k->engine, u->path, NULL, NULL);
  if (!k->pkey) {
    ossl_reason(why, sizeof why);
    if (pin_refused(why))
      msg(cmd, "--key %s: the token refused the PIN (from %s): %s; give the token's user PIN", u->shown,
          u->pin_from, why);
    else
      msg(cmd, "--key %s: no private key matches the URI's token/object/id attributes in the token (%s); list the "
               "token's keys with 'pkcs11-tool --module %s --list-objects --login' and fix token= or object=",
          u->shown, why[0] ? why : "not found", u->module);
    goto done;
  }
  n = i2d_PUBKEY(k->pkey, &der);
  if (n <= 0 || hpm_pubkey_from_spki(der, (size_t)n, pub) != HPM_OK) {
    msg(cmd, "--key %s: the key is not an ECDSA P-256 or P-384 key; hpm signs with those (make one with "
             "'pkcs11-tool --keypairgen --key-type EC:prime256v1')", u->shown);
    goto done;
  }
  *out = k;
  k = NULL;
  rc = 0;
done:
  OPENSSL_free(der);
  if (u) OPENSSL_cleanse(u->pin, sizeof u->pin);
  free(u);
  p11_close(k);
  return rc;
}

int p11_sign(p11_key *k, const hpm_pubkey *pub, const uint8_t *msg_, size_t len, uint8_t *der,
             size_t *der_len, hpmh_status *e) {
  uint8_t hash[64];
  size_t hlen = pub->alg == HPM_ALG_ECDSA_P256_SHA256 ? 32 : 48, cap = *der_len;
  EVP_PKEY_CTX *ctx;
  char why[256];
  int ok;
  if (hlen == 32 ? hpm_sha256(msg_, len, hash) != HPM_OK : mbedtls_sha512_ret(msg_, len, hash, 1) != 0)
    return hpmh_fail(e, HPMH_E_INVALID, NULL, "hashing failed");
  /* The token signs the digest (CKM_ECDSA); OpenSSL returns DER. */
  ERR_clear_error();
  ctx = EVP_PKEY_CTX_new(k->pkey, k->engine);
  ok = ctx && EVP_PKEY_sign_init(ctx) > 0 && EVP_PKEY_sign(ctx, der, &cap, hash, hlen) > 0;
  EVP_PKEY_CTX_free(ctx);
  if (!ok)
    return hpmh_fail(e, HPMH_E_IO, NULL, "the token did not sign (%s)", ossl_reason(why, sizeof why));
  *der_len = cap;
  return 0;
}
