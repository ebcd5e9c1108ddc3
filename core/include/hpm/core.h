/* SPDX-License-Identifier: MIT */
/*
 * hpm core: verification of signed containers (docs/format.md).
 *
 * Freestanding: the same sources build for the UEFI boot stage and the host.
 * Every decision is an hpm_result; HPM_OK is the only value that means yes.
 */
#ifndef HPM_CORE_H
#define HPM_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hpm/format.h"

#define HPM_MUST_CHECK __attribute__((warn_unused_result))

typedef enum {
  HPM_OK = 0,
  HPM_E_INVALID_ARGUMENT,     /* caller error (NULL, threshold 0, ...) */
  HPM_E_OUT_OF_MEMORY,
  HPM_E_IO,                   /* an ops callback failed */
  HPM_E_TRUNCATED,            /* fewer bytes than the header declares */
  HPM_E_BAD_MAGIC,
  HPM_E_UNSUPPORTED_VERSION,  /* format version this build does not know */
  HPM_E_BAD_HEADER,           /* header size, flags or reserved bytes */
  HPM_E_TOO_LARGE,            /* a size over a documented limit */
  HPM_E_TRAILING_DATA,        /* bytes after the signature block */
  HPM_E_WRONG_KIND,           /* container kind is not the one asked for */
  HPM_E_BAD_SIGNATURE_BLOCK,  /* malformed signature block or entry */
  HPM_E_NO_SIGNATURE,         /* the signature block has no entries */
  HPM_E_UNTRUSTED_KEY,        /* no signature by any trusted key */
  HPM_E_SIGNATURE_INVALID,    /* a trusted key's signature does not verify */
  HPM_E_THRESHOLD_NOT_MET,    /* fewer distinct trusted signers than required */
  HPM_E_BAD_MANIFEST,         /* the manifest is not a well-formed FDT */
  HPM_E_BAD_FIELD,            /* a manifest field is missing or has a bad value */
  HPM_E_UNKNOWN_CRITICAL,     /* an unknown property or node not marked info, */
  HPM_E_DUPLICATE,            /* a duplicated node or property */
  HPM_E_BAD_NAME,             /* a node name with '@' or other invalid characters */
  HPM_E_PAYLOAD_MISSING,      /* a detached payload could not be provided */
  HPM_E_PAYLOAD_SIZE,         /* payload bytes differ in length from the manifest */
  HPM_E_PAYLOAD_HASH,         /* payload bytes differ from the manifest's SHA-256 */
  HPM_E_CRYPTO,               /* the crypto library failed unexpectedly */
  HPM_E_BAD_KEY,              /* a public key that cannot be used */
  HPM_E_EXPIRED,              /* a catalog past its expiry time */
  HPM_RESULT_COUNT_
} hpm_result;

const char *hpm_result_to_string(hpm_result r);

typedef enum {
  HPM_KIND_NONE = 0,
  HPM_KIND_BASELINE = 1,
  HPM_KIND_HOTPATCH = 2,
  HPM_KIND_CATALOG = 3, /* verified by hpm_catalog_verify (hpm/catalog.h) */
} hpm_kind;

const char *hpm_kind_to_string(hpm_kind k);

typedef enum {
  HPM_ALG_NONE = 0,
  HPM_ALG_ECDSA_P256_SHA256 = 1,
  HPM_ALG_ECDSA_P384_SHA384 = 2,
} hpm_alg;

const char *hpm_alg_to_string(hpm_alg a);

typedef enum {
  HPM_RELEASE_NONE = 0,
  HPM_RELEASE_PLANNED = 1,
  HPM_RELEASE_UNPLANNED = 2,
} hpm_release;

const char *hpm_release_to_string(hpm_release r);

typedef enum {
  HPM_CLASS_NONE = 0,
  HPM_CLASS_CRITICAL = 1,
  HPM_CLASS_SECURITY = 2,
  HPM_CLASS_OTHER = 3,
} hpm_classification;

const char *hpm_classification_to_string(hpm_classification c);

typedef enum {
  HPM_PAYLOAD_NONE = 0,
  HPM_PAYLOAD_KERNEL = 1,
  HPM_PAYLOAD_INITRD = 2,
  HPM_PAYLOAD_CMDLINE = 3,
  HPM_PAYLOAD_PATCH = 4,
  HPM_PAYLOAD_LIVEPATCH = 5, /* hotpatch: a kernel livepatch module (.ko) */
} hpm_payload_type;

const char *hpm_payload_type_to_string(hpm_payload_type t);

/* Status of one entry of the signature block, as the verifier saw it. */
typedef enum {
  HPM_SIG_NOT_CHECKED = 0, /* verification not attempted (unverified parse) */
  HPM_SIG_VALID = 1,       /* trusted key, signature verifies */
  HPM_SIG_UNKNOWN_KEY = 2, /* key not in the trust set: ignored */
  HPM_SIG_INVALID = 3,     /* trusted key, signature does not verify */
  HPM_SIG_DUPLICATE = 4,   /* a second signature by an already counted key */
} hpm_sig_status;

const char *hpm_sig_status_to_string(hpm_sig_status s);

/* ---- keys and trust ---------------------------------------------------- */

#define HPM_POINT_MAX 97u /* uncompressed P-384 point */

typedef struct {
  hpm_alg alg;
  uint8_t point[HPM_POINT_MAX]; /* 0x04 || X || Y */
  size_t point_len;
  uint8_t key_id[HPM_DIGEST_LEN]; /* SHA-256 of the DER SubjectPublicKeyInfo */
} hpm_pubkey;

/* Parse a DER SubjectPublicKeyInfo of an uncompressed P-256 or P-384 key. */
HPM_MUST_CHECK hpm_result hpm_pubkey_from_spki(const uint8_t *der, size_t len,
                                               hpm_pubkey *out);

/* Encode key as DER SubjectPublicKeyInfo; *len in: capacity, out: length. */
HPM_MUST_CHECK hpm_result hpm_pubkey_to_spki(const hpm_pubkey *key, uint8_t *der,
                                             size_t *len);

typedef struct {
  const hpm_pubkey *keys;
  size_t count;
  unsigned threshold; /* distinct trusted signers required, >= 1 */
} hpm_trust;

/* ---- diagnostics ------------------------------------------------------- */

/* Where verification stopped: field is a manifest path such as
 * "payloads/kernel/sha256" or a header field such as "header.flags". */
typedef struct {
  hpm_result result;
  char field[64];
  char detail[128];
} hpm_diag;

/* ---- the verified manifest --------------------------------------------- */

typedef struct {
  char name[HPM_NAME_MAX + 1];
  hpm_payload_type type;
  uint64_t size;
  uint8_t sha256[HPM_DIGEST_LEN];
  bool embedded;
  uint64_t offset;                /* within the payload area (embedded) */
  char file[HPM_FILE_MAX + 1];    /* file name beside the container (detached) */
  const uint8_t *data;            /* hash-checked bytes, set by verification */
} hpm_payload;

typedef struct {
  hpm_alg alg;
  uint8_t key_id[HPM_DIGEST_LEN];
  hpm_sig_status status;
} hpm_signature_info;

/* The kernel part of a hotpatch: its one livepatch payload and the kernel
 * build it is for (docs/format.md, "The kernel part"). */
typedef struct {
  bool present;
  size_t payload;                          /* index in payloads[] */
  char release[HPM_KRELEASE_MAX + 1];      /* kernel-release */
  uint8_t build_id[HPM_KBUILD_ID_MAX];     /* kernel-build-id */
  size_t build_id_len;
  char vermagic[HPM_VERMAGIC_MAX + 1];     /* vermagic, as in the module */
  char module[HPM_KMODULE_MAX + 1];        /* module: the livepatch's name */
} hpm_kernel_part;

typedef struct {
  /* header */
  uint32_t format_version;
  hpm_kind kind;
  uint32_t manifest_size;
  uint64_t payload_area_size;
  uint8_t digest[HPM_DIGEST_LEN]; /* SHA-256 of header || manifest */

  /* common manifest fields */
  char compat[HPM_COMPAT_MAX + 1];
  char version[HPM_VERSION_MAX + 1];
  uint32_t svn;
  uint64_t timestamp;             /* seconds since 1970-01-01 UTC */

  /* baseline */
  hpm_release release;

  /* hotpatch */
  hpm_classification classification;
  char id[HPM_ID_MAX + 1];
  uint8_t target_baseline[HPM_DIGEST_LEN];
  uint32_t sequence;

  size_t payload_count;
  hpm_payload payloads[HPM_MAX_PAYLOADS];
  hpm_kernel_part kernel;         /* hotpatch: its livepatch payload, if any */

  size_t signature_count;
  hpm_signature_info signatures[HPM_MAX_SIGNATURES];
  unsigned trusted_signers;       /* distinct trusted keys with a valid signature */

  size_t info_count;              /* non-critical "info," properties seen */
} hpm_manifest;

/* Supplies detached payloads.  load() makes the whole file available in
 * memory owned by the caller (it stays valid while the manifest is used);
 * returning anything but HPM_OK makes the payload HPM_E_PAYLOAD_MISSING. */
typedef struct {
  void *ctx;
  hpm_result (*load)(void *ctx, const char *file, uint64_t expected_size,
                     const uint8_t **data, size_t *len);
} hpm_ops;

/*
 * Verify a container held in memory, in this order:
 *   header bounds → signatures over header||manifest (trust, threshold)
 *   → manifest (fdt_check_full, strict schema) → payload sizes and hashes.
 * expected_kind must match the signed kind.  ops may be NULL when no payload
 * is detached.  out is filled only as far as verification got; it is
 * trustworthy only when HPM_OK is returned.  diag may be NULL.
 */
HPM_MUST_CHECK hpm_result hpm_container_verify(const uint8_t *buf, size_t len,
                                               hpm_kind expected_kind,
                                               const hpm_trust *trust,
                                               const hpm_ops *ops,
                                               hpm_manifest *out, hpm_diag *diag);

/*
 * Parse without checking any signature or payload, for display only
 * (hpm-sign inspect without --trust).  Runs the same header and manifest
 * checks as verification; every signature is reported HPM_SIG_NOT_CHECKED.
 * Nothing it returns may be used for a decision.
 */
HPM_MUST_CHECK hpm_result hpm_container_parse_unverified(const uint8_t *buf, size_t len,
                                                         hpm_manifest *out,
                                                         hpm_diag *diag);

/* Bounds-check the header and return the signed bytes (header || manifest)
 * and where the signature block starts.  Used by signing tools. */
HPM_MUST_CHECK hpm_result hpm_container_layout(const uint8_t *buf, size_t len,
                                               size_t *tbs_len, size_t *sigblock_off,
                                               hpm_diag *diag);

/* Verify one ECDSA signature by key over msg (hash chosen by key->alg).  der
 * must be the one minimal DER encoding of ECDSA-Sig-Value with 1 <= r, s < n
 * (docs/format.md, "Signature block"): any other encoding of the same
 * values (BER lengths, extra or missing zero bytes, trailing bytes) is
 * HPM_E_SIGNATURE_INVALID, like a signature that does not verify. */
HPM_MUST_CHECK hpm_result hpm_signature_check(const hpm_pubkey *key, const uint8_t *msg,
                                              size_t msg_len, const uint8_t *der,
                                              size_t der_len);

/* SHA-256 of a buffer. */
HPM_MUST_CHECK hpm_result hpm_sha256(const uint8_t *data, size_t len,
                                     uint8_t out[HPM_DIGEST_LEN]);

/* SHA-256 by mbedTLS, with whole blocks compressed by the CPU's SHA
 * extensions when accel is set and the CPU has them (x86-64 SHA-NI; see
 * core/sha256_accel.c).  0 on success.  For platform seams whose SHA-256
 * would otherwise be mbedTLS's portable code (the boot stage). */
int hpm_sha256_mbedtls(const uint8_t *data, size_t len, uint8_t out[HPM_DIGEST_LEN], bool accel);

/* Whether hpm_sha256_mbedtls(..., true) uses the CPU's SHA extensions here. */
bool hpm_sha256_accelerated(void);

/* Decimal rendering of v into buf; returns buf. */
const char *hpm_fmt_u64(uint64_t v, char buf[24]);

/* Lower-case hex of n bytes into buf (cap >= 2n+1 for all of it; shorter
 * output is truncated at a whole byte and always NUL-terminated). */
const char *hpm_fmt_hex(const uint8_t *p, size_t n, char *buf, size_t cap);

/* ---- node names (docs/format.md, "Manifest") ----------------------------
 * The one implementation of the rule, for verifiers and writers alike.
 * Node form: every node below the root is 1..HPM_NAME_MAX characters of
 * [a-z0-9,._+-], never '@' (a unit address).  Payload form: the names
 * writers give payloads (docs/hpm-sign.md), [a-z0-9][a-z0-9._-]*, a subset. */
typedef enum { HPM_NAME_NODE, HPM_NAME_PAYLOAD } hpm_name_form;

typedef enum {
  HPM_NAME_OK = 0,
  HPM_NAME_EMPTY,
  HPM_NAME_TOO_LONG,  /* more than HPM_NAME_MAX characters */
  HPM_NAME_FIRST,     /* payload form: does not start with a-z or 0-9 */
  HPM_NAME_AT,        /* contains '@' */
  HPM_NAME_CHAR,      /* another character outside the form's set */
} hpm_name_problem;

/* The first problem of name[0..len) in that form, or HPM_NAME_OK: the
 * length, then (payload form) the first character, then each character in
 * turn. */
hpm_name_problem hpm_name_check(const char *name, size_t len, hpm_name_form form);
/* May c stand in a name of that form (first: as its first character)? */
bool hpm_name_char_ok(char c, bool first, hpm_name_form form);

/* Constant-time equality of two equal-length buffers. */
bool hpm_ct_equal(const uint8_t *a, const uint8_t *b, size_t len);

#endif
