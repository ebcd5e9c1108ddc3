/* SPDX-License-Identifier: MIT */
/* hpm-sign keygen, hpm-sign keyid. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/platform_util.h>

#include "hpm-sign.h"

static const char keygen_help[] =
    "Usage: hpm-sign keygen --out KEY.pem [--pub KEY.pub] [--curve p256|p384]\n"
    "Generate a new ECDSA signing key pair.\n"
    "\n"
    "  -o, --out KEY.pem   private key to write: PEM (SEC1), mode 0600\n"
    "      --pub KEY.pub   public key to write: PEM SubjectPublicKeyInfo, mode 0644\n"
    "                      (default: KEY.pem with .pem replaced by .pub, or .pub appended)\n"
    "      --curve CURVE   p256 (default; signs with SHA-256) or p384 (SHA-384)\n"
    "  -h, --help          show this help\n"
    "\n"
    "Neither file is ever overwritten: if either exists, nothing is written (exit 1).\n"
    "Prints the key ID (SHA-256 of the DER public key) on standard output.\n"
    "\n"
    "Example:\n"
    "  hpm-sign keygen --out release-2024.pem          # also writes release-2024.pub\n";

static bool exists(const char *path) {
  struct stat st;
  return lstat(path, &st) == 0;
}

int cmd_keygen(int argc, char **argv) {
  const char *cmd = "keygen", *out = NULL, *pub = NULL, *curve = NULL;
  const opt_spec opts[] = {
      {"out", 'o', OPT_VALUE, .dest = &out, .missing = "missing --out KEY.pem (the private key file to create)", .nonempty = true},
      {"pub", 0, OPT_VALUE, .dest = &pub},
      {"curve", 0, OPT_VALUE, .dest = &curve},
      {0},
  };
  const cmd_spec spec = {.cmd = cmd, .help = keygen_help, .opts = opts};
  char pubbuf[4096], pem[4096], hex[HEX_DIGEST];
  hpm_alg alg = HPM_ALG_ECDSA_P256_SHA256;
  mbedtls_pk_context pk;
  hpm_pubkey pk_pub;
  hpmh_status e;
  size_t pem_len;
  int rc;

  if ((rc = parse_args(&spec, argc, argv)) != GO_ON || (rc = check_required(&spec))) return rc;
  if (curve) {
    if (!strcmp(curve, "p256") || !strcmp(curve, "P-256") || !strcmp(curve, "prime256v1"))
      alg = HPM_ALG_ECDSA_P256_SHA256;
    else if (!strcmp(curve, "p384") || !strcmp(curve, "P-384") || !strcmp(curve, "secp384r1"))
      alg = HPM_ALG_ECDSA_P384_SHA384;
    else
      return usage_error(cmd, "--curve '%s': expected p256 or p384", curve);
  }
  if (!pub) {
    size_t n = strlen(out);
    if (n > 4 && !strcmp(out + n - 4, ".pem"))
      rc = snprintf(pubbuf, sizeof pubbuf, "%.*s.pub", (int)(n - 4), out);
    else
      rc = snprintf(pubbuf, sizeof pubbuf, "%s.pub", out);
    if (rc < 0 || (size_t)rc >= sizeof pubbuf) return usage_error(cmd, "--out: path too long");
    pub = pubbuf;
  }
  if (!strcmp(pub, out)) return usage_error(cmd, "--pub and --out name the same file");
  /* Refuse before generating anything: never replace a key. */
  if (exists(out)) {
    msg(cmd, "%s: already exists; refusing to overwrite a key (choose another --out or remove it yourself)", out);
    return EXIT_REFUSED;
  }
  if (exists(pub)) {
    msg(cmd, "%s: already exists; refusing to overwrite it (choose another --pub or remove it yourself)", pub);
    return EXIT_REFUSED;
  }

  mbedtls_pk_init(&pk);
  rc = EXIT_IOERR;
  if (hpmw_generate_key(alg, &pk, &e) || hpmh_public_of(&pk, &pk_pub, &e)) {
    msg(cmd, "%s", e.detail);
    goto done;
  }
  if (hpmw_key_pem(&pk, 1, pem, sizeof pem, &pem_len, &e)) {
    msg(cmd, "%s", e.detail);
    goto done;
  }
  rc = write_output(cmd, out, (const uint8_t *)pem, pem_len, 0600, 1);
  if (rc) goto done;
  if (hpmw_key_pem(&pk, 0, pem, sizeof pem, &pem_len, &e)) {
    msg(cmd, "%s", e.detail);
    unlink(out);
    rc = EXIT_IOERR;
    goto done;
  }
  rc = write_output(cmd, pub, (const uint8_t *)pem, pem_len, 0644, 1);
  if (rc) {
    /* Do not leave half a key pair. */
    unlink(out);
    msg(cmd, "removed %s again: no key pair was created", out);
    goto done;
  }
  printf("%s\n", hex32(pk_pub.key_id, hex));
  msg(cmd, "wrote %s (private, %s, mode 0600) and %s (public)", out, hpm_alg_to_string(alg), pub);
  rc = EXIT_VALID;
done:
  mbedtls_platform_zeroize(pem, sizeof pem);
  mbedtls_pk_free(&pk);
  return rc;
}

static const char keyid_help[] =
    "Usage: hpm-sign keyid KEY\n"
    "Print the key ID of KEY: SHA-256 of its DER SubjectPublicKeyInfo, the ID that\n"
    "signature entries and 'verify' output name. KEY is a public key (PEM or DER)\n"
    "or a private key (its public half is used).\n"
    "\n"
    "  -h, --help   show this help\n"
    "\n"
    "Equivalent: openssl pkey -pubin -in KEY.pub -outform DER | sha256sum\n";

int cmd_keyid(int argc, char **argv) {
  const char *cmd = "keyid", *file = NULL;
  const opt_spec opts[] = {{0}};
  const cmd_spec spec = {.cmd = cmd, .help = keyid_help, .opts = opts, .operand = "missing KEY (a public key file)", .file = &file};
  hpm_pubkey k;
  char hex[HEX_DIGEST];
  int rc;
  if ((rc = parse_args(&spec, argc, argv)) != GO_ON) return rc;
  rc = load_public_key(cmd, file, &k);
  if (rc) return rc;
  printf("%s\n", hex32(k.key_id, hex));
  return EXIT_VALID;
}
