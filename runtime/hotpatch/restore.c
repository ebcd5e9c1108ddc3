/* SPDX-License-Identifier: MIT */
/*
 * After a reboot (hotpatch.h, hp_restore; docs/kernel-hotpatch.md
 * "Reboots"): the applied hotpatch lives in memory only, so a new boot runs
 * the baseline's code.  `hpm restore` (hpm-restore.service, early in boot)
 * applies the stored hotpatch of the applied sequence again when the
 * running baseline is the one it targets, kernel part first; when the host
 * booted another baseline, nothing of the old chain is loaded and the
 * applied sequence is cleared, so the new baseline's chain starts afresh.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "hex.h"
#include "hostfacts.h"
#include "hotpatch/health.h"
#include "hotpatch/internal.h"
#include "json.h"
#include "jsonout.h"
#include "msg.h"

static const char *const outcome_words[] = {"none", "restored", "dropped"};

int hp_restore(hpm_ctx *ctx, const hp_opts *o, hp_restore_report *out) {
  memset(out, 0, sizeof *out);
  hpm_applied a;
  hostfacts_applied_read(ctx, &a);
  out->sequence = a.seq;
  snprintf(out->id, sizeof out->id, "%s", a.id);
  if (!a.seq) return 0; /* nothing applied: nothing to restore */
  char sp[HP_PATH_MAX];
  hp_stored_path(ctx, sp, sizeof sp, a.seq);
  if (access(sp, R_OK))
    return hpmh_fail(&out->r.st, HPMH_E_REFUSED, sp,
                     "%s: the applied hotpatch %s (sequence %u) is not stored: cannot restore it; apply it again",
                     sp, a.id, a.seq), 1;
  hp_hotpatch h;
  int rc = hp_load_verified(ctx, sp, &h, &out->r.st);
  if (rc) return rc;
  hpm_fmt_hex(h.m.target_baseline, HPM_DIGEST_LEN, out->baseline, sizeof out->baseline);
  hpm_running_baseline rb;
  if (hostfacts_running_baseline(ctx, &rb)) {
    hp_hotpatch_free(&h);
    return hpmh_fail(&out->r.st, HPMH_E_REFUSED, sp,
                     "%s: cannot determine the running baseline (no EFI variable, no hpm.baseline= on the kernel "
                     "command line): not restored", sp), 1;
  }
  hpm_fmt_hex(rb.digest, HPM_DIGEST_LEN, out->running, sizeof out->running);
  out->running_src = rb.src;
  if (memcmp(rb.digest, h.m.target_baseline, HPM_DIGEST_LEN)) {
    hp_hotpatch_free(&h);
    /* nothing of the old chain may run: after a reboot nothing does, and
     * whatever still does (a baseline changed without one) is reverted
     * through the ordinary path, which also records sequence 0 */
    out->outcome = HP_RESTORE_DROPPED;
    return hp_revert_all(ctx, o, &out->r);
  }
  hp_opts ro = *o;
  ro.restore = true;
  rc = hp_apply(ctx, &h, &ro, &out->r);
  if (!rc || rc == 4) {
    out->outcome = HP_RESTORE_RESTORED;
    hp_health_new_boot(ctx); /* a window still open watches this boot's kernel log */
  }
  hp_hotpatch_free(&h);
  return rc;
}

static const char restore_usage[] =
    "usage: hpm restore [--kernel-deadline SECONDS] [--json]\n"
    "After a reboot: apply the applied hotpatch (kernel and user-space parts) again if the running\n"
    "baseline is the one it targets; else load nothing of its chain and record sequence 0.\n"
    "hpm-restore.service runs it early in boot, before ordinary services.\n"
    "  --kernel-deadline SECONDS\n"
    "             how long the kernel part's livepatch transition may take (default 30)\n"
    "  --json     the result as one JSON object\n"
    "global options: see 'hpm --help'\n";

static void print_restore(hpm_ctx *ctx, const hp_restore_report *x, int rc) {
  if (rc && x->outcome != HP_RESTORE_RESTORED) {
    msg("restore: %s", x->r.st.detail);
    return;
  }
  if (ctx->json) {
    cJSON *d = hpm_json_doc("restore");
    hpmh_json_add_str(d, "outcome", outcome_words[x->outcome]);
    hpmh_json_add_u64(d, "sequence", x->sequence);
    hpm_json_add_opt(d, "id", x->id);
    hpm_json_add_opt(d, "baseline", x->baseline);
    hpm_json_add_opt(d, "running_baseline", x->running);
    hpmh_json_add_u64(d, "patched", (uint64_t)x->r.patched);
    hpmh_json_add_u64(d, "failed", (uint64_t)x->r.failed);
    hp_kreport_json(&x->r.kernel, d);
    hpm_json_emit(d);
    return;
  }
  switch (x->outcome) {
  case HP_RESTORE_NONE: printf("restore: no hotpatch applied: nothing to restore\n"); break;
  case HP_RESTORE_RESTORED:
    printf("restored %s (sequence %u): %d process(es) patched, %d failed\n", x->id, x->sequence, x->r.patched,
           x->r.failed);
    hp_kreport_print(&x->r.kernel, stdout);
    break;
  case HP_RESTORE_DROPPED:
    printf("restore: %s (sequence %u) targets baseline %s, but this boot runs baseline %s (%s): nothing of its "
           "chain is loaded; the applied sequence is now none\n", x->id, x->sequence, x->baseline, x->running,
           x->running_src);
    hp_kreport_print(&x->r.kernel, stdout);
    break;
  }
}

int hp_cmd_restore(hpm_ctx *ctx, int argc, char **argv) {
  static const struct option lo[] = {{"json", 0, 0, 'j'}, {"kernel-deadline", 1, 0, 'k'}, {"help", 0, 0, 'h'},
                                     {0, 0, 0, 0}};
  hp_opts o = {0};
  int c, rc = 0;
  while (!rc && (c = hpm_cli_next("restore", argc, argv, "", lo)) != -1) {
    switch (c) {
    case 'j': ctx->json = true; break;
    case 'k': rc = hp_kernel_deadline_arg("restore", optarg, &o.kernel_deadline_ms); break;
    case 'h': fputs(restore_usage, stdout); return 0;
    default: rc = HPM_CLI_USAGE;
    }
  }
  if (!rc) rc = hpm_cli_operands("restore", argc, argv, 0, 0, "");
  if (rc) return rc;
  hp_restore_report x;
  rc = hp_restore(ctx, &o, &x);
  snprintf(ctx->record_ids, sizeof ctx->record_ids, "%s", x.id);
  if (x.outcome == HP_RESTORE_DROPPED && !rc)
    snprintf(ctx->record_detail, sizeof ctx->record_detail,
             "dropped: sequence %u targets baseline %.16s..., this boot runs %.16s...; nothing of it loaded", x.sequence,
             x.baseline, x.running);
  else if (x.outcome == HP_RESTORE_RESTORED)
    snprintf(ctx->record_detail, sizeof ctx->record_detail, "restored sequence %u: %d process(es) patched%s%s",
             x.sequence, x.r.patched, x.r.kernel.done ? ", livepatch " : "", x.r.kernel.done ? x.r.kernel.module : "");
  else if (x.outcome == HP_RESTORE_NONE && !rc)
    snprintf(ctx->record_detail, sizeof ctx->record_detail, "nothing applied");
  print_restore(ctx, &x, rc);
  return rc;
}
