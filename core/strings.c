/* SPDX-License-Identifier: MIT */
#include "internal.h"

const char *hpm_result_to_string(hpm_result r) {
  switch (r) {
    case HPM_OK: return "ok";
    case HPM_E_INVALID_ARGUMENT: return "invalid argument";
    case HPM_E_OUT_OF_MEMORY: return "out of memory";
    case HPM_E_IO: return "i/o error";
    case HPM_E_TRUNCATED: return "truncated";
    case HPM_E_BAD_MAGIC: return "not an hpm container (bad magic)";
    case HPM_E_UNSUPPORTED_VERSION: return "unsupported format version";
    case HPM_E_BAD_HEADER: return "malformed header";
    case HPM_E_TOO_LARGE: return "size over documented limit";
    case HPM_E_TRAILING_DATA: return "trailing data after signature block";
    case HPM_E_WRONG_KIND: return "wrong container kind";
    case HPM_E_BAD_SIGNATURE_BLOCK: return "malformed signature block";
    case HPM_E_NO_SIGNATURE: return "no signature";
    case HPM_E_UNTRUSTED_KEY: return "not signed by a trusted key";
    case HPM_E_SIGNATURE_INVALID: return "signature does not verify";
    case HPM_E_THRESHOLD_NOT_MET: return "signature threshold not met";
    case HPM_E_BAD_MANIFEST: return "malformed manifest";
    case HPM_E_BAD_FIELD: return "missing or invalid manifest field";
    case HPM_E_UNKNOWN_CRITICAL: return "unknown critical manifest entry";
    case HPM_E_DUPLICATE: return "duplicate manifest entry";
    case HPM_E_BAD_NAME: return "invalid node name";
    case HPM_E_PAYLOAD_MISSING: return "payload missing";
    case HPM_E_PAYLOAD_SIZE: return "payload size mismatch";
    case HPM_E_PAYLOAD_HASH: return "payload hash mismatch";
    case HPM_E_CRYPTO: return "crypto library failure";
    case HPM_E_BAD_KEY: return "unusable public key";
    case HPM_E_EXPIRED: return "expired";
    case HPM_RESULT_COUNT_: break;
  }
  return "unknown result";
}

const char *hpm_kind_to_string(hpm_kind k) {
  switch (k) {
    case HPM_KIND_BASELINE: return "baseline";
    case HPM_KIND_HOTPATCH: return "hotpatch";
    case HPM_KIND_CATALOG: return "catalog";
    case HPM_KIND_NONE: break;
  }
  return "none";
}

const char *hpm_alg_to_string(hpm_alg a) {
  switch (a) {
    case HPM_ALG_ECDSA_P256_SHA256: return "ecdsa-p256-sha256";
    case HPM_ALG_ECDSA_P384_SHA384: return "ecdsa-p384-sha384";
    case HPM_ALG_NONE: break;
  }
  return "none";
}

const char *hpm_release_to_string(hpm_release r) {
  switch (r) {
    case HPM_RELEASE_PLANNED: return "planned";
    case HPM_RELEASE_UNPLANNED: return "unplanned";
    case HPM_RELEASE_NONE: break;
  }
  return "none";
}

const char *hpm_classification_to_string(hpm_classification c) {
  switch (c) {
    case HPM_CLASS_CRITICAL: return "critical";
    case HPM_CLASS_SECURITY: return "security";
    case HPM_CLASS_OTHER: return "other";
    case HPM_CLASS_NONE: break;
  }
  return "none";
}

const char *hpm_payload_type_to_string(hpm_payload_type t) {
  switch (t) {
    case HPM_PAYLOAD_KERNEL: return "kernel";
    case HPM_PAYLOAD_INITRD: return "initrd";
    case HPM_PAYLOAD_CMDLINE: return "cmdline";
    case HPM_PAYLOAD_PATCH: return "patch";
    case HPM_PAYLOAD_NONE: break;
  }
  return "none";
}

const char *hpm_sig_status_to_string(hpm_sig_status s) {
  switch (s) {
    case HPM_SIG_NOT_CHECKED: return "not checked";
    case HPM_SIG_VALID: return "valid";
    case HPM_SIG_UNKNOWN_KEY: return "unknown key";
    case HPM_SIG_INVALID: return "invalid";
    case HPM_SIG_DUPLICATE: return "duplicate signer";
  }
  return "unknown";
}
