/* SPDX-License-Identifier: MIT */
#include "explain.h"

#include <stdio.h>
#include <string.h>

static const hpm_payload *payload_of_field(const hpm_manifest *m, const char *field) {
  const char *prefix = "payloads/";
  size_t pl = strlen(prefix);
  if (!m || strncmp(field, prefix, pl) != 0) return NULL;
  for (size_t i = 0; i < m->payload_count && i < HPM_MAX_PAYLOADS; i++)
    if (strcmp(m->payloads[i].name, field + pl) == 0) return &m->payloads[i];
  return NULL;
}

static void explain_untrusted(const hpm_manifest *m, const hpm_diag *d, const hpmh_explain_words *w, char *out,
                              size_t cap) {
  size_t pos = 0;
  char hex[2 * HPM_DIGEST_LEN + 1];
  if (!m || !m->signature_count) { /* the signers are not known here (a catalog): core's words */
    snprintf(out, cap, "%s%s%s (not in %s); %s", d->field, d->field[0] ? ": " : "", d->detail, w->trust, w->add_key);
    return;
  }
  if (m->signature_count == 1) {
    snprintf(out, cap, "signed by key %s which is not in %s; %s",
             hpm_fmt_hex(m->signatures[0].key_id, HPM_DIGEST_LEN, hex, sizeof hex), w->trust, w->add_key);
    return;
  }
  pos += (size_t)snprintf(out + pos, cap - pos, "signed only by keys that are not in %s:", w->trust);
  for (size_t i = 0; i < m->signature_count && pos < cap; i++)
    pos += (size_t)snprintf(out + pos, cap - pos, "%s %s", i ? "," : "",
                            hpm_fmt_hex(m->signatures[i].key_id, HPM_DIGEST_LEN, hex, sizeof hex));
}

void hpmh_explain(const hpm_manifest *m, hpm_result r, const hpm_diag *d, const hpmh_loader *ld,
                  const hpmh_explain_words *w, char *out, size_t cap) {
  char where[200] = "";
  const hpm_payload *p = payload_of_field(m, d->field);
  const char *dir = ld ? ld->dir : ".";
  if (d->field[0]) snprintf(where, sizeof where, "%s: ", d->field);

  switch (r) {
    case HPM_E_UNTRUSTED_KEY: explain_untrusted(m, d, w, out, cap); return;
    case HPM_E_SIGNATURE_INVALID:
      snprintf(out, cap, "%s%s (signature does not verify): the header or manifest changed "
               "after signing, or the signature entry is corrupt; do not use this file",
               where, d->detail);
      return;
    case HPM_E_THRESHOLD_NOT_MET:
      snprintf(out, cap, "%s%s %s; add signatures by other trusted keys with "
               "'hpm-sign countersign' or 'hpm-sign attach'",
               where, d->detail, w->threshold);
      return;
    case HPM_E_NO_SIGNATURE:
      snprintf(out, cap, "the container has no signature; sign it with 'hpm-sign countersign "
               "--key KEY' or 'hpm-sign attach'");
      return;
    case HPM_E_WRONG_KIND: snprintf(out, cap, "%s%s (--kind)", where, d->detail); return;
    case HPM_E_PAYLOAD_MISSING:
      snprintf(out, cap, "%s%s (%s); detached payloads must be stored beside the container, in %s",
               where, d->detail, ld && ld->error.detail[0] ? ld->error.detail : "not provided", dir);
      return;
    case HPM_E_PAYLOAD_HASH:
    case HPM_E_PAYLOAD_SIZE:
      if (p && !p->embedded)
        snprintf(out, cap, "%s%s: detached file %s/%s was changed or replaced after signing",
                 where, d->detail, dir, p->file);
      else
        snprintf(out, cap, "%s%s: the embedded payload bytes were changed after signing", where, d->detail);
      return;
    case HPM_E_BAD_MAGIC:
    case HPM_E_UNSUPPORTED_VERSION:
    case HPM_E_BAD_HEADER:
    case HPM_E_TRUNCATED:
    case HPM_E_TRAILING_DATA:
    case HPM_E_TOO_LARGE:
    case HPM_E_BAD_SIGNATURE_BLOCK:
      snprintf(out, cap, "%s%s: the file is damaged, truncated or not an hpm container", where, d->detail);
      return;
    default:
      snprintf(out, cap, "%s%s (%s)", where, d->detail[0] ? d->detail : hpm_result_to_string(r),
               hpm_result_to_string(r));
      return;
  }
}

