/* SPDX-License-Identifier: MIT */
/*
 * hpm-sign: shared declarations of the release engineers' tool.
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
#include "hpmw.h"

#define HPM_SIGN_VERSION "0.1.0"

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

/* ---- subcommands ------------------------------------------------------- */
int cmd_keygen(int argc, char **argv);
int cmd_keyid(int argc, char **argv);
int cmd_baseline(int argc, char **argv);
int cmd_hotpatch(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_digest(int argc, char **argv);
int cmd_attach(int argc, char **argv);
int cmd_countersign(int argc, char **argv);
int cmd_catalog(int argc, char **argv);

/* ---- messages ---------------------------------------------------------- */
/* "hpm-sign CMD: message" on stderr. */
void msg(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* msg() followed by "Try 'hpm-sign CMD --help'."; returns EXIT_USAGE. */
int usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Report a getopt failure ('?' or ':'); returns EXIT_USAGE. */
int bad_option(const char *cmd, int c, char **argv);
/* Refuse an option given twice; returns EXIT_USAGE. */
int twice(const char *cmd, const char *opt);
/* Reset getopt for a new subcommand. */
void getopt_reset(void);

/* ---- values ------------------------------------------------------------ */
/* Strict unsigned decimal: digits only, no sign or spaces, no overflow. */
bool parse_u64(const char *s, uint64_t *out);

/* A signature entry's status, for display. */
const char *sig_status_text(hpm_sig_status s);
bool parse_u32(const char *s, uint32_t *out);
/* NULL when s is 1..max characters of printable ASCII without spaces
 * (0x21-0x7e, the rule of compat and version); otherwise the reason. */
const char *check_printable(const char *s, size_t max);
/* NULL when s is 1..HPM_ID_MAX characters of [A-Za-z0-9._-]. */
const char *check_id(const char *s);
/* NULL when s is a valid payload node name [a-z0-9][a-z0-9._-]{0,30}. */
const char *check_node_name(const char *s);
/* NULL when s is a valid detached file name [A-Za-z0-9._-], no leading dot,
 * 1..HPM_FILE_MAX characters. */
const char *check_file_name(const char *s);
/* --timestamp, else SOURCE_DATE_EPOCH, else the current time (with a note).
 * Returns 0 or an exit code (EXIT_USAGE for a malformed value). */
int release_timestamp(const char *cmd, const char *opt, uint64_t *ts);
/* "2023-11-14T22:13:20Z" into buf, or "" when out of range. */
const char *utc_string(uint64_t ts, char buf[32]);
/* Lower-case hex of a 32-byte digest/key ID. */
const char *hex32(const uint8_t d[HPM_DIGEST_LEN], char out[HEX_DIGEST]);

/* ---- keys and trust ---------------------------------------------------- */
/* Load a private key; prints the error. Returns 0 or an exit code. */
int load_private_key(const char *cmd, const char *path, mbedtls_pk_context *pk, hpm_pubkey *pub);
int load_public_key(const char *cmd, const char *path, hpm_pubkey *pub);

typedef struct {
  hpm_pubkey keys[HPM_MAX_SIGNATURES];
  const char *paths[HPM_MAX_SIGNATURES];
  size_t count;
} trust_set;

/* Add the key in path (duplicates are dropped with a note).
 * Returns 0 or an exit code. */
int trust_add(const char *cmd, trust_set *t, const char *path);
/* Index of the key with this ID, or -1. */
int trust_find(const trust_set *t, const uint8_t key_id[HPM_DIGEST_LEN]);

/* ---- containers and files ---------------------------------------------- */
/* Read a container file (bounded by CONTAINER_MAX). Returns 0 or EXIT_IOERR. */
int read_container(const char *cmd, const char *path, uint8_t **buf, size_t *len);
/* Read an input file (kernel, initrd, payload): at most 1 GiB, not empty.
 * what names the option for messages. Returns 0 or an exit code. */
int read_input(const char *cmd, const char *what, const char *path, uint8_t **buf, size_t *len);
/* Write via hpmh_write_file; prints the error. Returns 0 or EXIT_IOERR. */
int write_output(const char *cmd, const char *path, const uint8_t *data, size_t len,
                 unsigned mode, int exclusive);
/* True when both paths name the same existing file. */
bool same_file(const char *a, const char *b);
/* The directory part of path ("." when there is none) into out. */
void dir_of(const char *path, char *out, size_t cap);

/* Detached payloads, loaded from the container's directory. */
typedef struct {
  char dir[4096];
  uint8_t *bufs[HPM_MAX_PAYLOADS];
  size_t nbufs;
  char last_error[512]; /* why the last load failed */
  char last_path[4200]; /* the last file loaded or tried */
} file_loader;

void loader_init(file_loader *ld, const char *container_path);
hpm_ops loader_ops(file_loader *ld);
void loader_free(file_loader *ld);

/* Detached payloads served from memory (self-check right after signing). */
typedef struct {
  const hpmw_payload *payloads;
  size_t count;
} mem_loader;
hpm_ops mem_ops(mem_loader *ml);

/* ---- verification ------------------------------------------------------ */
/* Map a core result to an exit code. */
int exit_for(hpm_result r);
/* Stable identifier for JSON ("payload_hash"). */
const char *result_id(hpm_result r);
/* Stable identifier for JSON ("valid", "unknown_key", ...). */
const char *sig_status_id(hpm_sig_status s);
/* Kind from the raw header (HPM_KIND_NONE when unreadable). */
hpm_kind header_kind(const uint8_t *buf, size_t len);
/* One sentence explaining a failed verification/parse and what to do. */
void explain(const hpm_manifest *m, hpm_result r, const hpm_diag *d, const file_loader *ld,
             const trust_set *t, unsigned threshold, char *out, size_t cap);
/* Self-check of a container just built and signed by pub; prints the error.
 * Returns 0 or EXIT_IOERR (it is a bug if this fails). */
int self_check(const char *cmd, const uint8_t *buf, size_t len, hpm_kind kind,
               const hpm_pubkey *pub, const hpm_ops *ops);

/* ---- catalogs (cmd_catalog.c) ------------------------------------------ */
/* Seconds since 1970 (digits), YYYY-MM-DD (midnight UTC) or
 * YYYY-MM-DDTHH:MM:SSZ. */
bool parse_time(const char *s, uint64_t *out);
/* hpm_container_parse_unverified, or for a catalog hpm_catalog_parse_unverified
 * with its container fields (kind, digest, signatures) copied into m. */
hpm_result parse_any_unverified(const uint8_t *buf, size_t len, hpm_manifest *m, hpm_diag *d);
/* hpm_container_verify, or for kind catalog hpm_catalog_verify (signatures
 * and schema; expiry not judged) with the container fields copied into m. */
hpm_result verify_any(const uint8_t *buf, size_t len, hpm_kind kind, const hpm_trust *trust,
                      const hpm_ops *ops, hpm_manifest *m, hpm_diag *d);

/* ---- JSON -------------------------------------------------------------- */
typedef struct {
  FILE *f;
  int depth;
  bool need_comma[16];
} json;

void json_init(json *j, FILE *f);
void json_begin_object(json *j, const char *key); /* key NULL inside arrays / top */
void json_end_object(json *j);
void json_begin_array(json *j, const char *key);
void json_end_array(json *j);
void json_string(json *j, const char *key, const char *val); /* NULL -> null */
void json_u64(json *j, const char *key, uint64_t v);
void json_bool(json *j, const char *key, bool v);
void json_null(json *j, const char *key);
void json_hex(json *j, const char *key, const uint8_t *p, size_t n);
void json_finish(json *j);


/* The catalog view of verify and inspect: parse (display) and, with a
 * non-empty trust set, verify at time at.  Returns the exit code. */
int catalog_show(const char *cmd, const char *file, const uint8_t *buf, size_t len,
                 const trust_set *t, unsigned threshold, uint64_t at, bool as_json);
/* The fields of a catalog as JSON members of the current object. */
void catalog_json_body(json *j, const hpm_catalog *c);

#endif
