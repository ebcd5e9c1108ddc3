/* SPDX-License-Identifier: MIT */
/* Names of core's enums: one table each, indexed by value (values are
 * contiguous from 0), asserted to name every value. */
#include "internal.h"

static const char *const result_names[] = {
    "ok", "invalid argument", "out of memory", "i/o error", "truncated",
    "not an hpm container (bad magic)", "unsupported format version", "malformed header",
    "size over documented limit", "trailing data after signature block", "wrong container kind",
    "malformed signature block", "no signature", "not signed by a trusted key",
    "signature does not verify", "signature threshold not met", "malformed manifest",
    "missing or invalid manifest field", "unknown critical manifest entry",
    "duplicate manifest entry", "invalid node name", "payload missing", "payload size mismatch",
    "payload hash mismatch", "crypto library failure", "unusable public key", "expired",
};
_Static_assert(HPM_COUNT(result_names) == HPM_RESULT_COUNT_, "a name for every hpm_result");

const char *hpm_result_to_string(hpm_result r) {
  return hpm_name(result_names, HPM_COUNT(result_names), r, "unknown result");
}

static const char *const kind_names[] = {"none", "baseline", "hotpatch", "catalog"};
_Static_assert(HPM_COUNT(kind_names) == HPM_KIND_CATALOG + 1, "a name for every hpm_kind");

const char *hpm_kind_to_string(hpm_kind k) {
  return hpm_name(kind_names, HPM_COUNT(kind_names), k, "none");
}

static const char *const alg_names[] = {"none", "ecdsa-p256-sha256", "ecdsa-p384-sha384"};
_Static_assert(HPM_COUNT(alg_names) == HPM_ALG_ECDSA_P384_SHA384 + 1, "a name for every hpm_alg");

const char *hpm_alg_to_string(hpm_alg a) {
  return hpm_name(alg_names, HPM_COUNT(alg_names), a, "none");
}

static const char *const release_names[] = {"none", "planned", "unplanned"};
_Static_assert(HPM_COUNT(release_names) == HPM_RELEASE_UNPLANNED + 1,
               "a name for every hpm_release");

const char *hpm_release_to_string(hpm_release r) {
  return hpm_name(release_names, HPM_COUNT(release_names), r, "none");
}

static const char *const class_names[] = {"none", "critical", "security", "other"};
_Static_assert(HPM_COUNT(class_names) == HPM_CLASS_OTHER + 1,
               "a name for every hpm_classification");

const char *hpm_classification_to_string(hpm_classification c) {
  return hpm_name(class_names, HPM_COUNT(class_names), c, "none");
}

static const char *const payload_names[] = {"none", "kernel", "initrd", "cmdline", "patch", "livepatch"};
_Static_assert(HPM_COUNT(payload_names) == HPM_PAYLOAD_LIVEPATCH + 1,
               "a name for every hpm_payload_type");

const char *hpm_payload_type_to_string(hpm_payload_type t) {
  return hpm_name(payload_names, HPM_COUNT(payload_names), t, "none");
}

static const char *const sig_names[] = {"not checked", "valid", "unknown key", "invalid",
                                        "duplicate signer"};
_Static_assert(HPM_COUNT(sig_names) == HPM_SIG_DUPLICATE + 1, "a name for every hpm_sig_status");

const char *hpm_sig_status_to_string(hpm_sig_status s) {
  return hpm_name(sig_names, HPM_COUNT(sig_names), s, "unknown");
}
