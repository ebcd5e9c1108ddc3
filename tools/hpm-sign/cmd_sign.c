/* SPDX-License-Identifier: MIT */
/* hpm-sign digest, attach, countersign: signatures on existing containers. */
#include <stdlib.h>
#include <string.h>

#include <mbedtls/sha512.h>

#include "hpm-sign.h"

static int already_signed(const char *cmd, const char *file, const hpm_manifest *m,
                          const hpm_pubkey *k) {
  char hex[HEX_DIGEST];
  for (size_t i = 0; i < m->signature_count; i++)
    if (memcmp(m->signatures[i].key_id, k->key_id, HPM_DIGEST_LEN) == 0) {
      msg(cmd, "%s: already signed by key %s (signature %zu); a second signature by the same key "
               "does not count towards a threshold: countersign with a different key",
          file, hex32(k->key_id, hex), i);
      return EXIT_REFUSED;
    }
  if (m->signature_count >= HPM_MAX_SIGNATURES) {
    msg(cmd, "%s: already has %u signatures, the most a container can hold", file, HPM_MAX_SIGNATURES);
    return EXIT_REFUSED;
  }
  return 0;
}

/* Add pub's signature to the container in *buf (m: its parse): made here
 * with pk (countersign), else the DER signature made elsewhere (attach).
 * Then write FILE in place, keeping its mode, or --out, and say so. */
static int add_signature(const char *cmd, const char *file, const char *out, uint8_t **buf, size_t *len,
                         const hpm_manifest *m, const hpm_pubkey *pub, signing_key *pk,
                         const uint8_t *der, size_t der_len) {
  hpmh_status e;
  char hex[HEX_DIGEST];
  int rc = already_signed(cmd, file, m, pub);
  if (rc) return rc;
  if (pk ? sign_container(pk, buf, len, &e)
         : hpmw_add_signature(buf, len, pub->alg, pub->key_id, der, der_len, &e)) {
    msg(cmd, "%s: %s", file, e.detail);
    return pk ? EXIT_IOERR : EXIT_REFUSED;
  }
  rc = write_output(cmd, out ? out : file, *buf, *len, out ? 0644 : mode_of(file), 0);
  if (rc) return rc;
  printf("%s signature %zu by key %s (%s) to %s\n", pk ? "added" : "attached", m->signature_count,
         hex32(pub->key_id, hex), hpm_alg_to_string(pub->alg), out ? out : file);
  return 0;
}

/* countersign --trust: FILE must verify with those keys (threshold 1). */
static int verify_before_signing(const char *cmd, const char *file, const uint8_t *buf, size_t len,
                                 hpm_kind kind, const trust_set *t, hpm_manifest *vm) {
  hpm_trust trust = trust_of(t, 1);
  hpmh_loader *ld = calloc(1, sizeof *ld);
  hpm_ops ops;
  hpm_diag d;
  hpm_result r;
  char why[WHY_MAX];
  if (!ld) return out_of_memory(cmd);
  hpmh_loader_init(ld, file, HPMH_LOAD_ANY_SIZE);
  ops = hpmh_loader_ops(ld);
  r = verify_any(buf, len, kind, &trust, &ops, vm, &d);
  if (r != HPM_OK) explain(vm, r, &d, ld, 1, why, sizeof why);
  hpmh_loader_free(ld);
  free(ld);
  if (r != HPM_OK) {
    msg(cmd, "%s: does not verify with the --trust keys, refusing to countersign: %s", file, why);
    return exit_for(r);
  }
  return 0;
}

/* ---- digest ------------------------------------------------------------ */

static const char digest_help[] =
    "Usage: hpm-sign digest [--alg sha256|sha384] [--tbs OUT] FILE\n"
    "Print the hex digest of exactly the bytes every signature covers (TBS: the\n"
    "64-byte header and the manifest), for signing outside hpm-sign (HSM, openssl).\n"
    "\n"
    "  --alg ALG     sha256 (default; for P-256 keys) or sha384 (for P-384 keys)\n"
    "  --tbs OUT     also write the raw TBS bytes to OUT, for tools that hash\n"
    "                themselves (openssl dgst -sha256 -sign key.pem -out sig.der OUT)\n"
    "  -h, --help    show this help\n"
    "\n"
    "Then add the signature with 'hpm-sign attach --pub KEY.pub --sig sig.der FILE'.\n"
    "The sha256 digest is also the container digest that hotpatches name.\n";

int cmd_digest(int argc, char **argv) {
  const char *cmd = "digest", *alg_s = NULL, *tbs_out = NULL, *file = NULL;
  const opt_spec opts[] = {
      {"alg", 0, OPT_VALUE, .dest = &alg_s},
      {"tbs", 0, OPT_VALUE, .dest = &tbs_out, .nonempty = true},
      {0},
  };
  const cmd_spec spec = {.cmd = cmd, .help = digest_help, .opts = opts, .operand = "missing FILE (the container to be signed)", .file = &file};
  int sha384 = 0; /* 1: --alg sha384 */
  uint8_t *buf = NULL, hash[64];
  size_t len = 0, tbs_len = 0;
  hpm_manifest *m = NULL;
  int rc;

  if ((rc = parse_args(&spec, argc, argv)) != GO_ON) return rc;
  if (alg_s && (sha384 = word_index(alg_s, (const char *const[]){"sha256", "sha384"}, 2)) < 0)
    return usage_error(cmd, "--alg '%s': expected sha256 or sha384", alg_s);
  if ((rc = check_required(&spec))) return rc;
  m = calloc(1, sizeof *m);
  if (!m) return out_of_memory(cmd);
  rc = load_parsed(cmd, file, &buf, &len, m, &tbs_len);
  if (rc) goto done;
  if (sha384) {
    if (mbedtls_sha512_ret(buf, tbs_len, hash, 1) != 0) {
      msg(cmd, "hashing failed");
      rc = EXIT_IOERR;
      goto done;
    }
  } else if (hpm_sha256(buf, tbs_len, hash) != HPM_OK) {
    msg(cmd, "hashing failed");
    rc = EXIT_IOERR;
    goto done;
  }
  if (tbs_out) {
    rc = write_output(cmd, tbs_out, buf, tbs_len, 0644, 0);
    if (rc) goto done;
  }
  for (size_t i = 0; i < (sha384 ? 48u : 32u); i++) printf("%02x", hash[i]);
  putchar('\n');
done:
  free(m);
  free(buf);
  return rc;
}

/* ---- attach ------------------------------------------------------------ */

static const char attach_help[] =
    "Usage: hpm-sign attach --pub PUB --sig SIG [--sig-format der|raw] [--out FILE2] FILE\n"
    "Check a signature made elsewhere (HSM, openssl) over FILE's signed bytes and\n"
    "append it. A signature that does not verify with PUB is refused (exit 1).\n"
    "\n"
    "  --pub PUB          the signer's public key (PEM or DER)\n"
    "  --sig SIG          the signature file\n"
    "  --sig-format FMT   der (default: DER ECDSA-Sig-Value, as openssl dgst -sign\n"
    "                     writes) or raw (r||s, 64 bytes for P-256, 96 for P-384, as\n"
    "                     PKCS#11 CKM_ECDSA returns)\n"
    "  -o, --out FILE2    write the result to FILE2 instead of replacing FILE\n"
    "  -h, --help         show this help\n"
    "\n"
    "P-256 keys sign SHA-256 of the TBS, P-384 keys SHA-384. Example:\n"
    "  hpm-sign digest --tbs tbs.bin slot-a.hpm\n"
    "  openssl dgst -sha256 -sign release.pem -out sig.der tbs.bin\n"
    "  hpm-sign attach --pub release.pub --sig sig.der slot-a.hpm\n";

/* DER INTEGER of the big-endian unsigned v[0..n). */
static size_t der_uint(uint8_t *out, const uint8_t *v, size_t n) {
  size_t pad;
  while (n > 1 && v[0] == 0) {
    v++;
    n--;
  }
  pad = (v[0] & 0x80) ? 1 : 0;
  out[0] = 0x02;
  out[1] = (uint8_t)(n + pad);
  if (pad) out[2] = 0;
  memcpy(out + 2 + pad, v, n);
  return 2 + pad + n;
}

/* r||s to DER ECDSA-Sig-Value; both halves at most 48 bytes. */
static size_t raw_to_der(const uint8_t *raw, size_t len, uint8_t *der) {
  uint8_t body[2 * (2 + 1 + 48)];
  size_t half = len / 2, n;
  n = der_uint(body, raw, half);
  n += der_uint(body + n, raw + half, half);
  der[0] = 0x30;
  der[1] = (uint8_t)n;
  memcpy(der + 2, body, n);
  return n + 2;
}

int cmd_attach(int argc, char **argv) {
  const char *cmd = "attach", *pub_s = NULL, *sig_s = NULL, *fmt_s = NULL, *out = NULL, *file = NULL;
  const opt_spec opts[] = {
      {"pub", 0, OPT_VALUE, .dest = &pub_s, .missing = "missing --pub PUB (the public key of the signer)"},
      {"sig", 0, OPT_VALUE, .dest = &sig_s, .missing = "missing --sig SIG (the signature file)"},
      {"sig-format", 0, OPT_VALUE, .dest = &fmt_s},
      {"out", 'o', OPT_VALUE, .dest = &out, .nonempty = true},
      {0},
  };
  const cmd_spec spec = {.cmd = cmd, .help = attach_help, .opts = opts, .operand = "missing FILE (the container to add the signature to)", .file = &file};
  int raw = 0; /* 1: --sig-format raw */
  hpm_pubkey pub;
  uint8_t *buf = NULL, *sig = NULL, der[HPM_SIG_DER_MAX + 8];
  size_t len = 0, sig_len = 0, der_len = 0, tbs_len = 0;
  hpm_manifest *m = NULL;
  hpmh_status e;
  char hex[HEX_DIGEST];
  int rc;

  if ((rc = parse_args(&spec, argc, argv)) != GO_ON || (rc = check_required(&spec))) return rc;
  if (fmt_s && (raw = word_index(fmt_s, (const char *const[]){"der", "raw"}, 2)) < 0)
    return usage_error(cmd, "--sig-format '%s': expected der or raw", fmt_s);
  m = calloc(1, sizeof *m);
  if (!m) return out_of_memory(cmd);
  rc = load_public_key(cmd, pub_s, &pub);
  if (rc) goto done;
  if (hpmh_read_file(sig_s, 4096, &sig, &sig_len, &e)) {
    msg(cmd, "--sig %s", e.detail);
    rc = EXIT_IOERR;
    goto done;
  }
  rc = load_parsed(cmd, file, &buf, &len, m, &tbs_len);
  if (rc) goto done;

  if (raw) {
    size_t want = pub.alg == HPM_ALG_ECDSA_P256_SHA256 ? 64 : 96;
    if (sig_len != want) {
      msg(cmd, "--sig %s: a raw %s signature is %zu bytes (r||s), this file has %zu",
          sig_s, hpm_alg_to_string(pub.alg), want, sig_len);
      rc = EXIT_REFUSED;
      goto done;
    }
    der_len = raw_to_der(sig, sig_len, der);
  } else {
    if (sig_len < 8 || sig_len > HPM_SIG_DER_MAX) {
      msg(cmd, "--sig %s: %zu bytes is not a DER ECDSA signature (8 to %u bytes)%s", sig_s, sig_len,
          HPM_SIG_DER_MAX, sig_len == 64 || sig_len == 96 ? "; for r||s use --sig-format raw" : "");
      rc = EXIT_REFUSED;
      goto done;
    }
    memcpy(der, sig, sig_len);
    der_len = sig_len;
  }
  if (hpm_signature_check(&pub, buf, tbs_len, der, der_len) != HPM_OK) {
    size_t raw_len = pub.alg == HPM_ALG_ECDSA_P256_SHA256 ? 64 : 96;
    bool looks_raw = !raw && sig_len == raw_len && (sig[0] != 0x30 || sig[1] != sig_len - 2);
    msg(cmd, "--sig %s: does not verify with key %s (%s) over the signed bytes of %s; refusing "
             "to attach it. Was it made by that key's private half, over 'hpm-sign digest --tbs' "
             "output of this exact file, with %s? It must be minimal DER, as openssl writes it "
             "(BER encodings of a signature are refused).%s",
        sig_s, hex32(pub.key_id, hex), pub_s, file,
        pub.alg == HPM_ALG_ECDSA_P256_SHA256 ? "SHA-256 (openssl dgst -sha256)" : "SHA-384 (openssl dgst -sha384)",
        looks_raw ? " It is not DER: for an r||s signature use --sig-format raw." : "");
    rc = EXIT_REFUSED;
    goto done;
  }
  rc = add_signature(cmd, file, out, &buf, &len, m, &pub, NULL, der, der_len);
done:
  free(m);
  free(sig);
  free(buf);
  return rc;
}

/* ---- countersign ------------------------------------------------------- */

static const char countersign_help[] =
    "Usage: hpm-sign countersign --key KEY.pem|URI [--trust PUB]... [--out FILE2] FILE\n"
    "Add a further signature to FILE (m-of-n release sign-off). Signatures cover\n"
    "only the header and manifest, so adding one never invalidates the others.\n"
    "A second signature by a key that already signed is refused (exit 1).\n"
    "\n"
    "  -k, --key KEY.pem|URI  the private key to sign with: a file or a pkcs11: URI\n"
    "                     (as for 'baseline')\n"
    "  --trust PUB        verify FILE with these keys first (threshold 1) and refuse\n"
    "                     to countersign it if it does not verify (recommended)\n"
    "  -o, --out FILE2    write the result to FILE2 instead of replacing FILE\n"
    "  -h, --help         show this help\n"
    "\n"
    "Example:\n"
    "  hpm-sign countersign --key release-b.pem --trust release-a.pub slot-a.hpm\n";

int cmd_countersign(int argc, char **argv) {
  const char *cmd = "countersign", *key = NULL, *out = NULL, *file = NULL, *paths[64];
  opt_list trust_paths = {paths, 0, 64, "too many --trust keys"};
  const opt_spec opts[] = {
      {"key", 'k', OPT_VALUE, .dest = &key, .missing = "missing --key KEY.pem|URI (the private key to sign with)"},
      {"trust", 0, OPT_LIST, .dest = &trust_paths},
      {"out", 'o', OPT_VALUE, .dest = &out, .nonempty = true},
      {0},
  };
  const cmd_spec spec = {.cmd = cmd, .help = countersign_help, .opts = opts, .operand = "missing FILE (the container to countersign)", .file = &file};
  size_t len = 0, tbs_len = 0;
  trust_set *t = NULL;
  unsigned threshold;
  signing_key sk;
  uint8_t *buf = NULL;
  hpm_manifest *m = NULL, *vm = NULL;
  int rc;

  if ((rc = parse_args(&spec, argc, argv)) != GO_ON || (rc = check_required(&spec))) return rc;
  signing_key_init(&sk);
  t = calloc(1, sizeof *t);
  m = calloc(1, sizeof *m);
  vm = calloc(1, sizeof *vm);
  if (!t || !m || !vm) {
    rc = out_of_memory(cmd);
    goto done;
  }
  if ((rc = trust_load(cmd, t, &trust_paths, NULL, &threshold)) || (rc = load_private_key(cmd, key, &sk)) ||
      (rc = load_parsed(cmd, file, &buf, &len, m, &tbs_len)))
    goto done;
  if (t->count && (rc = verify_before_signing(cmd, file, buf, len, m->kind, t, vm))) goto done;
  rc = add_signature(cmd, file, out, &buf, &len, m, &sk.pub, &sk, NULL, 0);
done:
  free(t);
  free(m);
  free(vm);
  free(buf);
  signing_key_free(&sk);
  return rc;
}
