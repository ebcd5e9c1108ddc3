/* SPDX-License-Identifier: MIT */
/* The history rows of host-changing commands: see update.h. */
#include <stdio.h>
#include <string.h>

#include "msg.h"
#include "update/history.h"
#include "update/policy.h"
#include "update/update.h"

static void record_row(const char *dir, const hpm_policy *p, const char *event, const char *ids, const char *result,
                       const char *error, const char *detail) {
  char e[1024];
  hist *h = hist_open(dir, p ? p->retention_days : 30, e, sizeof e);
  if (!h) {
    hpm_msg("warning: history not recorded: %s", e);
    return;
  }
  if (hist_record_detail(h, event, ids, result, error, detail))
    hpm_msg("warning: history not recorded: %s", hist_error(h));
  hist_close(h);
}

void update_history_record(const char *dir, const hpm_policy *p, const char *event, const char *ids,
                           const char *result, const char *error) {
  record_row(dir, p, event, ids, result, error, NULL);
}

void update_history_note(hpm_ctx *ctx, const char *event, const char *ids, const char *result,
                         const char *error_text) {
  /* a broken policy file: the default retention (NULL) */
  record_row(ctx->state_dir, hpm_ctx_policy(ctx, NULL, NULL), event, ids, result, error_text, NULL);
}

void update_history_detail(hpm_ctx *ctx, const char *event, const char *ids, const char *result, const char *error_text,
                           const char *detail) {
  record_row(ctx->state_dir, hpm_ctx_policy(ctx, NULL, NULL), event, ids, result, error_text, detail);
}

const char *update_result_word(int rc) { return rc == 0 ? "ok" : rc == 1 ? "refused" : "failed"; }

int update_record_command(hpm_ctx *ctx, const char *event, int (*fn)(hpm_ctx *, int, char **), int unchanged_rc,
                          int argc, char **argv) {
  hpm_msg_clear();
  ctx->record_ids[0] = 0;
  ctx->record_detail[0] = 0;
  int rc = fn(ctx, argc, argv);
  fflush(stdout);
  /* IDs: what the command verified (hotpatch ID, baseline version), else
   * the files it was given (a refused file is named as given). */
  char ids[sizeof ctx->record_ids];
  snprintf(ids, sizeof ids, "%s", ctx->record_ids);
  for (int i = 1; !ids[0] && i < argc; i++) {
    if (argv[i][0] == '-') continue;
    size_t used = strlen(ids);
    snprintf(ids + used, sizeof ids - used, "%s%s", used ? "," : "", argv[i]);
  }
  char res[32];
  if (unchanged_rc && rc == unchanged_rc) {
    /* nothing to do (e.g. already marked good): not a failure */
    update_history_note(ctx, event, ids[0] ? ids : NULL, "unchanged", NULL);
    return rc;
  }
  snprintf(res, sizeof res, rc <= 1 ? "%s" : "%s (exit %d)", update_result_word(rc), rc);
  update_history_detail(ctx, event, ids[0] ? ids : NULL, res, rc ? (hpm_msg_last()[0] ? hpm_msg_last() : res) : NULL,
                        ctx->record_detail[0] ? ctx->record_detail : NULL);
  return rc;
}
