/* SPDX-License-Identifier: MIT */
/*
 * On-disk layout of the hpm signed container.  docs/format.md is the
 * specification; this header is its only implementation of the numbers.
 *
 *   +---------------------------+  0
 *   | header (64 bytes)         |  \
 *   +---------------------------+   | signed bytes ("to be signed", TBS)
 *   | manifest (FDT)            |  /  digest = SHA-256(TBS)
 *   +---------------------------+  64 + manifest_size
 *   | embedded payloads         |  bound by the manifest's SHA-256 per payload
 *   +---------------------------+  64 + manifest_size + payload_area_size
 *   | signature block           |  self-authenticating entries
 *   +---------------------------+  end of file (nothing may follow)
 *
 * All header integers are little-endian.
 */
#ifndef HPM_FORMAT_H
#define HPM_FORMAT_H

#include <stdint.h>

#define HPM_MAGIC "\x89HPM\r\n\x1a\n"
#define HPM_MAGIC_LEN 8
#define HPM_FORMAT_VERSION 1u
#define HPM_HEADER_SIZE 64u

/* Header field offsets. */
#define HPM_HDR_OFF_MAGIC 0
#define HPM_HDR_OFF_FORMAT 8          /* u32 format version */
#define HPM_HDR_OFF_KIND 12           /* u32 hpm_kind */
#define HPM_HDR_OFF_HEADER_SIZE 16    /* u32, must be HPM_HEADER_SIZE */
#define HPM_HDR_OFF_FLAGS 20          /* u32, must be 0 */
#define HPM_HDR_OFF_MANIFEST_SIZE 24  /* u32 */
#define HPM_HDR_OFF_RESERVED0 28      /* u32, must be 0 */
#define HPM_HDR_OFF_PAYLOAD_SIZE 32   /* u64 size of the embedded payload area */
#define HPM_HDR_OFF_RESERVED1 40      /* 24 bytes, must be 0 */

/* Documented limits (docs/format.md, "Limits"). */
#define HPM_MANIFEST_MIN 40u                      /* an FDT header */
#define HPM_MANIFEST_MAX (64u * 1024u)
#define HPM_CATALOG_MANIFEST_MAX (2048u * 1024u) /* catalogs only (kind 3) */
#define HPM_PAYLOAD_MAX (1024ull * 1024 * 1024)   /* one payload: 1 GiB */
#define HPM_PAYLOAD_AREA_MAX (2048ull * 1024 * 1024) /* all embedded: 2 GiB */
#define HPM_MAX_PAYLOADS 32u
#define HPM_MAX_SIGNATURES 16u
#define HPM_NAME_MAX 31u        /* payload node names */
#define HPM_FILE_MAX 63u        /* detached payload file names */
#define HPM_VERSION_MAX 63u
#define HPM_COMPAT_MAX 127u
#define HPM_ID_MAX 63u
/* The kernel part of a hotpatch (a livepatch payload). */
#define HPM_KRELEASE_MAX 64u    /* kernel-release: uname -r */
#define HPM_KBUILD_ID_MAX 64u   /* kernel-build-id: GNU build-id bytes */
#define HPM_VERMAGIC_MAX 127u   /* vermagic: the module's .modinfo vermagic */
#define HPM_KMODULE_MAX 55u     /* module: the kernel's MODULE_NAME_LEN - 1 */

/* Signature block. */
#define HPM_SIG_MAGIC "HPMSIGS\0"
#define HPM_SIG_MAGIC_LEN 8
#define HPM_SIG_HEADER_SIZE 16u   /* magic, u32 count, u32 reserved (0) */
#define HPM_SIG_DER_MAX 104u      /* longest DER ECDSA-Sig-Value for P-384 */
#define HPM_SIG_ENTRY_SIZE 144u   /* u16 alg, u16 der_len, u32 reserved, key_id[32], der[104] */
#define HPM_SIG_ENT_OFF_ALG 0
#define HPM_SIG_ENT_OFF_LEN 2
#define HPM_SIG_ENT_OFF_RESERVED 4
#define HPM_SIG_ENT_OFF_KEYID 8
#define HPM_SIG_ENT_OFF_DER 40

#define HPM_DIGEST_LEN 32u        /* SHA-256: manifest digest, payload hashes, key IDs */

#endif
