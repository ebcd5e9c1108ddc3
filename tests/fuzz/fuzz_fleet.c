/* SPDX-License-Identifier: MIT */
/*
 * The fleet's record parsers (runtime/fleet/model.c): the values under
 * /hpm/fleet/ in etcd are untrusted.  The first byte picks the record
 * (rollout, host, slots, member), the rest is its value; a record that
 * parses must come back the same through its JSON (fl_*_json).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fleet/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static fl_rollout r, r2;
  fl_host h, h2;
  static fl_slots s, s2;
  fl_member m, m2;
  hpmh_status st;
  if (size < 1) return 0;
  const uint8_t *v = data + 1;
  size_t n = size - 1;
  char *j = NULL;
  switch (data[0] % 4) {
  case 0:
    if (fl_rollout_parse(FL_KEY_ROLLOUT, v, n, &r, &st)) return 0;
    if (!r.nrings || r.nrings > FL_MAX_RINGS || r.nhosts > FL_MAX_HOSTS || !r.max_out || !r.ndomains ||
        r.ndomains > FL_MAX_DOMAINS)
      abort();
    for (size_t i = 0; i < r.nhosts; i++)
      if (r.host_domain[i] >= r.ndomains) abort();
    j = fl_rollout_json(&r);
    if (!j || fl_rollout_parse(FL_KEY_ROLLOUT, (const uint8_t *)j, strlen(j), &r2, &st) || memcmp(&r, &r2, sizeof r)) abort();
    break;
  case 1:
    if (fl_host_parse("/hpm/fleet/hosts/h1", v, n, &h, &st)) return 0;
    if (strcmp(h.name, "h1") || !fl_name_ok(h.domain) || h.phase >= FL_NPHASES) abort();
    j = fl_host_json(&h);
    if (!j || fl_host_parse("/hpm/fleet/hosts/h1", (const uint8_t *)j, strlen(j), &h2, &st) ||
        strcmp(h.reason, h2.reason) || strcmp(h.rollout, h2.rollout) || h.phase != h2.phase || h.since != h2.since || h.ring != h2.ring ||
        memcmp(h.took, h2.took, sizeof h.took))
      abort();
    break;
  case 2:
    if (fl_slots_parse(FL_KEY_SLOTS, v, n, &s, &st)) return 0;
    if (s.nslots > FL_MAX_SLOTS) abort();
    j = fl_slots_json(&s);
    if (!j || fl_slots_parse(FL_KEY_SLOTS, (const uint8_t *)j, strlen(j), &s2, &st) || s.nslots != s2.nslots ||
        s.gen != s2.gen || strcmp(s.phases, s2.phases))
      abort();
    break;
  default:
    if (fl_member_parse("/hpm/fleet/members/h1", v, n, &m, &st)) return 0;
    j = fl_member_json(&m);
    if (!j || fl_member_parse("/hpm/fleet/members/h1", (const uint8_t *)j, strlen(j), &m2, &st) ||
        strcmp(m.domain, m2.domain) || !fl_facts_same(&m.facts, &m2.facts) || m.facts.time != m2.facts.time)
      abort();
    break;
  }
  free(j);
  return 0;
}
