/* SPDX-License-Identifier: MIT */
/*
 * hpm-sign: shared declarations of the release engineers' tool.
 *
 *   main.c         the command table
 *   cli.c          command lines: options by table, messages, values
 *   keys.c         private keys, public keys, the --trust set
 *   files.c        reading inputs and containers, writing outputs
 *   report.c       results as exit codes, identifiers and sentences; the
 *                  pieces verify, inspect and catalog print alike
 *   cmd_*.c        one file per group of commands (cmd_release.c: build --from)
 *   values.c       checks of values (command lines and release files)
 *   release_file.c the release file: parse and check (no I/O; fuzzed)
 *   pkcs11.c       keys in a PKCS#11 token (OpenSSL's pkcs11 engine)
 *   kernel.c       the kernel part of a hotpatch; modsign.c its module signature
 *   show_catalog.c the catalog view of verify and inspect
 *
 * Exit codes (docs/hpm-sign.md):
 *   0  success (and, for verify/inspect --trust, the container is valid)
 *   1  verification failed, or the request was refused (existing key file,
 *      duplicate signer, signature that does not verify, ...)
 *   2  usage error (unknown option, missing or malformed argument)
 *   3  I/O or other error (unreadable file, unwritable directory, crypto)
 */
#ifndef HPM_SIGN_H
#define HPM_SIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <mbedtls/pk.h>

#include "hpm/catalog.h"
#include "hpm/core.h"
#include "hex.h"
#include "hpmw.h"
#include "json.h"
#include "loader.h"
#include "version.h"


enum {
  EXIT_VALID = 0,
  EXIT_REFUSED = 1,
  EXIT_USAGE = 2,
  EXIT_IOERR = 3,
};

/* Largest well-formed container: header, manifest, payload area, a full
 * signature block. */
#define CONTAINER_MAX                                                             \
  ((uint64_t)HPM_HEADER_SIZE + HPM_MANIFEST_MAX + HPM_PAYLOAD_AREA_MAX +          \
   HPM_SIG_HEADER_SIZE + (uint64_t)HPM_MAX_SIGNATURES * HPM_SIG_ENTRY_SIZE)
#define CMDLINE_MAX 4096u
#define HEX_DIGEST (2 * HPM_DIGEST_LEN + 1)
#define DEFAULT_COMPAT "hpm-generic-x86_64"
#define WHY_MAX 1200 /* room for one explain() sentence */

/* ---- subcommands ------------------------------------------------------- */
int cmd_keygen(int argc, char **argv);
int cmd_keyid(int argc, char **argv);
int cmd_baseline(int argc, char **argv);
int cmd_hotpatch(int argc, char **argv);
/* kernel.c: read and check --kernel-module for sequence seq; *data is
 * malloc'd, k filled for the manifest.  0 or an exit code (reported). */
int load_kernel_part(const char *cmd, const char *ko_path, const char *build_id_hex, const char *release,
                     uint32_t seq, uint8_t **data, size_t *size, hpm_kernel_part *k);
/* modsign.c: append the kernel's module signature (PKCS#7 by the RSA key
 * key_path of certificate cert_path) to the module in *data, replacing
 * *data and *size.  0 or an exit code (reported). */
int kmod_sign(const char *cmd, const char *key_path, const char *cert_path, const char *ko_path, uint8_t **data,
              size_t *size);
int cmd_verify(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_digest(int argc, char **argv);
int cmd_attach(int argc, char **argv);
int cmd_countersign(int argc, char **argv);
int cmd_catalog(int argc, char **argv);

/* ---- messages (cli.c) -------------------------------------------------- */
/* "hpm-sign CMD: message" on stderr. */
void msg(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* msg() followed by "Try 'hpm-sign CMD --help'."; returns EXIT_USAGE. */
int usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "out of memory"; returns EXIT_IOERR. */
int out_of_memory(const char *cmd);
/* Reset getopt for a new subcommand. */
void getopt_reset(void);

/* ---- options by table (cli.c) ------------------------------------------ */
typedef enum {
  OPT_VALUE, /* const char **dest; given twice is a usage error */
  OPT_FLAG,  /* bool *dest, set */
  OPT_LIST,  /* opt_list *dest, repeatable up to its max */
  OPT_CALL,  /* call(cmd, value, dest) when it is met: 0 or an exit code */
} opt_kind;

typedef struct {
  const char **v;
  size_t n, max;
  const char *too_many; /* the usage error past max */
} opt_list;

typedef struct {
  const char *name; /* long option without "--"; NULL ends a table */
  char letter;      /* short option, or 0 */
  opt_kind kind;
  void *dest;
  const char *missing; /* OPT_VALUE: the usage error when absent (check_required) */
  bool nonempty;       /* OPT_VALUE: "--NAME: empty file name" (check_required) */
  int (*call)(const char *cmd, const char *value, void *dest);
} opt_spec;

typedef struct {
  const char *cmd;
  const char *help;      /* printed by -h/--help */
  const opt_spec *opts;
  const char *operand;   /* NULL: no operand; else the usage error when FILE is missing */
  const char *extra;     /* appended to "unexpected argument '%s'" */
  const char **file;     /* the operand */
} cmd_spec;

#define GO_ON (-1)
/* Parse argv by the table, then the operand: GO_ON, or the exit code to
 * return (after --help, EXIT_VALID). */
int parse_args(const cmd_spec *c, int argc, char **argv);
/* The missing and empty values of the table, in its order: 0 or EXIT_USAGE. */
int check_required(const cmd_spec *c);
/* The options of every builder (baseline, hotpatch, catalog), first in
 * their tables; --out goes last (check_required says what is missing in
 * table order). */
typedef struct {
  const char *key_v[HPM_MAX_SIGNATURES];
  opt_list keys; /* --key, repeatable: every key signs, in order */
  const char *compat, *ts_s, *out;
  bool unsigned_;
} release_args;
/* release_args r = RELEASE_ARGS_INIT(r); */
#define RELEASE_ARGS_INIT(r) {.keys = {(r).key_v, 0, HPM_MAX_SIGNATURES, "at most 16 --key options"}}
#define RELEASE_OPTS(r)                                                                      \
  {"key", 'k', OPT_LIST, .dest = &(r).keys}, {"unsigned", 0, OPT_FLAG, .dest = &(r).unsigned_}, \
      {"compat", 0, OPT_VALUE, .dest = &(r).compat}, {"timestamp", 0, OPT_VALUE, .dest = &(r).ts_s}
/* --key KEY.pem or --unsigned, exactly one: 0 or EXIT_USAGE. */
int check_signing(const char *cmd, const release_args *r);
/* --out is none of the --key files: 0 or EXIT_USAGE. */
int check_out_not_key(const char *cmd, const release_args *r);
/* parse_args, check_signing, check_required: GO_ON or the exit code. */
int parse_release(const cmd_spec *c, const release_args *r, int argc, char **argv);

/* ---- values (values.c; release_timestamp: cli.c) ---------------------- */
/* Strict unsigned decimal: digits only, no sign or spaces, no overflow
 * (32 bits: hpmh_parse_u32 of host/hex.h). */
bool parse_u64(const char *s, uint64_t *out);
/* Seconds since 1970 (digits), YYYY-MM-DD (midnight UTC) or
 * YYYY-MM-DDTHH:MM:SSZ. */
bool parse_time(const char *s, uint64_t *out);
/* Index of v in words[0..n), or -1. */
int word_index(const char *v, const char *const *words, int n);
/* The classification words, in hpm_classification order from 1. */
extern const char *const classification_words[3];
/* NULL when s is 1..max characters of printable ASCII without spaces
 * (0x21-0x7e, the rule of compat and version); otherwise the reason. */
const char *check_printable(const char *s, size_t max);
/* NULL when s is 1..HPM_ID_MAX characters of [A-Za-z0-9._-]. */
const char *check_id(const char *s);
/* NULL when s is a payload name (core's hpm_name_check, payload form). */
const char *check_node_name(const char *s);
/* --timestamp, else SOURCE_DATE_EPOCH, else the current time (with a note).
 * Returns 0 or an exit code (EXIT_USAGE for a malformed value). */
int release_timestamp(const char *cmd, const char *opt, uint64_t *ts);
/* Lower-case hex of a 32-byte digest/key ID. */
const char *hex32(const uint8_t d[HPM_DIGEST_LEN], char out[HEX_DIGEST]);

/* ---- keys and trust (keys.c) ------------------------------------------- */
/* A signing key: a key file, or a key in a PKCS#11 token (pkcs11.c). */
typedef struct p11_key p11_key;
typedef struct {
  mbedtls_pk_context pk; /* a key file */
  p11_key *p11;          /* a pkcs11: URI; NULL for a file */
  hpm_pubkey pub;
} signing_key;
void signing_key_init(signing_key *k);
void signing_key_free(signing_key *k);
/* Load --key: a private key file, or a pkcs11: URI; prints the error.
 * Returns 0 or an exit code. */
int load_private_key(const char *cmd, const char *spec, signing_key *k);
/* Sign the container in *buf with k and append the signature (checked by
 * core against k's public key first).  Returns 0 or -1 with e filled. */
int sign_container(signing_key *k, uint8_t **buf, size_t *len, hpmh_status *e);

/* The --key options of a builder: every key signs, in the order given. */
typedef struct {
  signing_key k[HPM_MAX_SIGNATURES];
  hpm_pubkey pubs[HPM_MAX_SIGNATURES];
  size_t n;
} signer_set;
void signers_init(signer_set *s);
void signers_free(signer_set *s);
/* Load every key of specs; two that are the same key are refused.  Prints
 * the error; returns 0 or an exit code. */
int signers_load(const char *cmd, signer_set *s, const opt_list *specs);
/* Sign with every key: 0 or -1 with e filled. */
int signers_sign(signer_set *s, uint8_t **buf, size_t *len, hpmh_status *e);
/* All of the keys, all required: what a container they signed must meet. */
hpm_trust signers_trust(const signer_set *s);
int load_public_key(const char *cmd, const char *path, hpm_pubkey *pub);

typedef struct {
  hpm_pubkey keys[HPM_MAX_SIGNATURES];
  const char *paths[HPM_MAX_SIGNATURES];
  size_t count;
} trust_set;

/* Load the --trust keys of paths into t (duplicates are dropped with a
 * note) and check --threshold (threshold_s may be NULL: 1) against them.
 * Returns 0 or an exit code. */
int trust_load(const char *cmd, trust_set *t, const opt_list *paths, const char *threshold_s,
               unsigned *threshold);
/* The set as core takes it. */
hpm_trust trust_of(const trust_set *t, unsigned threshold);

/* ---- PKCS#11 keys (pkcs11.c) ------------------------------------------- */
#define HPM_PKCS11_DEFAULT_MODULE "/usr/lib/softhsm/libsofthsm2.so"
/* True when s is a PKCS#11 URI ("pkcs11:..."). */
bool p11_is_uri(const char *s);
/* Open the key the URI names (PIN: ?pin-value, ?pin-source=file:PATH or
 * HPM_PKCS11_PIN; module: ?module-path, HPM_PKCS11_MODULE or the default);
 * prints the error.  Returns 0 or an exit code. */
int p11_load(const char *cmd, const char *uri, p11_key **out, hpm_pubkey *pub);
/* ECDSA by the token over the hash of msg that pub's algorithm names: DER
 * into der (*der_len: its capacity in, the length out). */
int p11_sign(p11_key *k, const hpm_pubkey *pub, const uint8_t *msg, size_t len, uint8_t *der,
             size_t *der_len, hpmh_status *e);
void p11_free(p11_key *k);

/* ---- release files (release_file.c; the command: cmd_release.c) ------- */
#define RF_MAX_ENTRIES HPM_CATALOG_MAX_ENTRIES
typedef struct {
  const char *v; /* the value as written (malloc'd); NULL when absent */
  int line;
} rf_field;
typedef struct {
  rf_field *v;
  size_t n;
} rf_list;
/* What a release file says, each value with its line.  version and svn
 * are [baseline]'s or [hotpatch]'s, as kind says. */
typedef struct {
  rf_field kind_s, out, compat, timestamp;
  rf_field kernel, initrd, cmdline, version, svn, release, detached;
  rf_field baseline, seq, classification, id;
  rf_list payload;
  rf_field kernel_module, kernel_build_id, kernel_release; /* [hotpatch]'s kernel part */
  rf_field serial, expires, allow_expired;
  rf_list entry, trust;
  rf_list key;
  rf_field threshold;
  hpm_kind kind;        /* from kind_s, after a successful parse */
  int section_line[5];  /* first line of [release] [baseline] [hotpatch] [catalog] [signing] */
} release_spec;
/* Parse and check the text of release file `file` (for messages).
 * Returns 0, or -1 with err = "FILE:LINE: [section] key: problem; fix".
 * Paths stay as written (relative to the file's directory). */
int rf_parse(const char *text, size_t len, const char *file, release_spec *s, char *err, size_t cap);
/* The first line of a section (0: absent). */
int rf_section_line(const release_spec *s, const char *section);
void rf_free(release_spec *s);
int cmd_release_build(int argc, char **argv);

/* ---- files (files.c) --------------------------------------------------- */
/* Read a container file (bounded by CONTAINER_MAX). Returns 0 or EXIT_IOERR. */
int read_container(const char *cmd, const char *path, uint8_t **buf, size_t *len);
/* Read an input file (kernel, initrd, payload): at most 1 GiB, not empty.
 * what names the option for messages. Returns 0 or an exit code. */
int read_input(const char *cmd, const char *what, const char *path, uint8_t **buf, size_t *len);
/* Write via hpmh_write_file; prints the error. Returns 0 or EXIT_IOERR. */
int write_output(const char *cmd, const char *path, const uint8_t *data, size_t len,
                 unsigned mode, int exclusive);
/* Write the detached payloads of pl beside out, then the container; on
 * failure remove the payload files this call created. */
int write_with_payloads(const char *cmd, const char *out, const uint8_t *buf, size_t len,
                        const hpmw_payload *pl, size_t n);
/* True when both paths name the same existing file. */
bool same_file(const char *a, const char *b);
/* Mode of an existing file (0644 when it cannot be read), so that a file
 * replaced in place keeps it. */
unsigned mode_of(const char *path);

/* ---- results (report.c) ------------------------------------------------ */
/* Map a core result to an exit code. */
int exit_for(hpm_result r);
/* Stable identifier for JSON ("payload_hash"). */
const char *result_id(hpm_result r);
/* A signature entry's status, for display. */
const char *sig_status_text(hpm_sig_status s);

/* The header fields as they are in the file (ok: magic and 64 bytes). */
typedef struct {
  bool ok;
  uint32_t format_version, kind, header_size, flags, manifest_size;
  uint64_t payload_area_size;
} raw_header;
raw_header read_header(const uint8_t *buf, size_t len);
/* Kind from the raw header (HPM_KIND_NONE when unreadable). */
hpm_kind header_kind(const uint8_t *buf, size_t len);

/* One sentence explaining a failed verification/parse and what to do. */
void explain(const hpm_manifest *m, hpm_result r, const hpm_diag *d, const hpmh_loader *ld,
             unsigned threshold, char *out, size_t cap);
/* "LABELFILE: not a valid container: WHY" for a failed parse. */
void not_a_container(const char *cmd, const char *label, const char *file, hpm_result r, const hpm_diag *d);
/* Read FILE and check it parses (any kind); *m holds the unverified parse
 * and *tbs_len the length of the signed bytes.  Prints the error. */
int load_parsed(const char *cmd, const char *file, uint8_t **buf, size_t *len, hpm_manifest *m,
                size_t *tbs_len);
/* Self-check of a container just built and signed by every key of trust;
 * prints the error.  Returns 0 or EXIT_IOERR (it is a bug if this fails). */
int self_check(const char *cmd, const uint8_t *buf, size_t len, hpm_kind kind,
               const hpm_trust *trust, const hpm_ops *ops);
/* hpm_container_verify, or for kind catalog hpm_catalog_verify (signatures
 * and schema; expiry not judged) with the container fields copied into m. */
hpm_result verify_any(const uint8_t *buf, size_t len, hpm_kind kind, const hpm_trust *trust,
                      const hpm_ops *ops, hpm_manifest *m, hpm_diag *d);

/* ---- what verify, inspect and catalog print alike (report.c) ----------- */
/* "signature I: ALG key ID: STATUS" lines. */
void print_signatures(const hpm_signature_info *s, size_t n);
/* "signatures": [{index, alg, key_id, status}, ...] into obj. */
void json_signatures(cJSON *obj, const hpm_signature_info *s, size_t n);
/* "result", "message" (ok_message, else why), "field", "detail". */
void json_result(cJSON *obj, hpm_result r, const char *ok_message, const char *why,
                 const hpm_diag *d);
/* "KEY": ts and "KEY_utc": its RFC 3339 text. */
void json_time(cJSON *obj, const char *key, uint64_t ts);

/* ---- catalogs (show_catalog.c) ----------------------------------------- */
/* The catalog view of verify and inspect: parse (display) and, with a
 * non-empty trust set, verify at time at.  Returns the exit code. */
int catalog_show(const char *cmd, const char *file, const uint8_t *buf, size_t len,
                 const trust_set *t, unsigned threshold, uint64_t at, bool as_json);
/* The fields of a catalog as JSON members of obj. */
void catalog_json_body(cJSON *obj, const hpm_catalog *c);

#endif
