/* SPDX-License-Identifier: MIT */
/* What a host publishes about itself with its member record (fleet.h):
 * read from its own state, boot variables and history; nothing here
 * decides anything in a rollout. */
#include <stdio.h>
#include <string.h>

#include "boot/boot.h"
#include "fleet/fleet.h"
#include "hostfacts.h"
#include "hotpatch/health.h"
#include "update/history.h"
#include "update/update.h"

static int keep_row(const hist_entry *e, void *ctx) {
  fl_facts *f = ctx;
  fl_fact_row *r = &f->history[f->nhistory++];
  r->id = e->id;
  r->time = e->time;
  snprintf(r->event, sizeof r->event, "%s", e->event);
  snprintf(r->result, sizeof r->result, "%s", e->result);
  snprintf(r->ids, sizeof r->ids, "%s", e->ids);
  return 0;
}

void fl_facts_gather(hpm_ctx *ctx, uint64_t now, fl_facts *f) {
  memset(f, 0, sizeof *f);
  f->have = true;
  f->time = now;
  hpm_boot_info bi;
  char why[300];
  hpm_running_baseline rb;
  if (hpm_boot_info_read(&bi, why, sizeof why) == 0) {
    snprintf(f->baseline, sizeof f->baseline, "%s", bi.version[0] ? bi.version : "unknown");
    f->slot = (char)hpm_bs_slot_letter((unsigned)bi.active);
  } else if (hostfacts_running_baseline(ctx, &rb) == 0) {
    char hex[2 * HPM_DIGEST_LEN + 1];
    hpm_fmt_hex(rb.digest, HPM_DIGEST_LEN, hex, sizeof hex);
    snprintf(f->baseline, sizeof f->baseline, "digest %.16s", hex); /* no version without the boot variables */
  } else {
    snprintf(f->baseline, sizeof f->baseline, "unknown");
  }
  hpm_applied a;
  hostfacts_applied_read(ctx, &a);
  f->hotpatch_seq = a.seq;
  snprintf(f->hotpatch_id, sizeof f->hotpatch_id, "%s", a.id);
  hp_health w;
  hp_health_read(ctx, &w);
  snprintf(f->health, sizeof f->health, "%s", hp_health_state_name(w.state));
  update_compliance(ctx, now, f->compliance, sizeof f->compliance);
  /* the newest rows, read only: a missing history is no rows */
  char e[300];
  const hpm_policy *p = hpm_ctx_policy(ctx, NULL, NULL);
  hist *h = hist_open_existing(ctx->state_dir, p ? p->retention_days : 30, e, sizeof e);
  if (h) {
    hist_query_newest(h, FL_FACTS_HISTORY, keep_row, f);
    hist_close(h);
  }
}
