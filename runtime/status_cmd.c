/* SPDX-License-Identifier: MIT */
#include "status_cmd.h"

#include <getopt.h>
#include <stdio.h>

#include "boot/boot.h"
#include "hostfacts.h"
#include "hotpatch/health.h"
#include "hotpatch/hotpatch.h"
#include "json.h"
#include "jsonout.h"
#include "cli.h"
#include "msg.h"
#include "update/policy.h"

static const char status_usage[] =
    "usage: hpm status [--json]\n"
    "  The boot slots as hpmboot.efi published them for this boot (slot, baseline,\n"
    "  tries, rollback floor, pending requests), the applied hotpatch, the\n"
    "  running baseline, the applied hotpatch's health window and the hotpatches\n"
    "  this host marked bad, and the trust: the trust store and how many of its keys\n"
    "  must sign a baseline, a hotpatch, a catalog ([trust] of the policy file).\n"
    "  Changes nothing.\n";

/* The trust store and this host's thresholds (the policy file was read by
 * hpm_ctx_configure: it is not broken here). */
static void print_trust(hpm_ctx *ctx, cJSON *doc) {
  size_t nkeys;
  hpmh_status st = {0};
  (void)hpm_ctx_trust(ctx, &nkeys);
  if (doc) {
    cJSON *t = cJSON_AddObjectToObject(doc, "trust");
    hpmh_json_add_str(t, "dir", ctx->trust_dir);
    hpmh_json_add_u64(t, "keys", nkeys);
    hpmh_json_add_str(t, "policy_file", ctx->conf);
    for (hpm_kind k = HPM_KIND_BASELINE; k <= HPM_KIND_CATALOG; k++)
      hpmh_json_add_u64(t, policy_signers_key(k), hpm_ctx_signers(ctx, k, &st));
    return;
  }
  printf("trust store: %s (%zu key%s)\nsignatures required: ", ctx->trust_dir, nkeys, nkeys == 1 ? "" : "s");
  for (hpm_kind k = HPM_KIND_BASELINE; k <= HPM_KIND_CATALOG; k++)
    printf("%s %u%s", hpm_kind_to_string(k), hpm_ctx_signers(ctx, k, &st), k < HPM_KIND_CATALOG ? ", " : "");
  printf(" ([trust] in %s)\n", ctx->conf);
}

int hpm_cmd_status(hpm_ctx *ctx, int argc, char **argv) {
  static const struct option opts[] = {{"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {0, 0, 0, 0}};
  int c;
  while ((c = hpm_cli_next("status", argc, argv, "", opts)) != -1) {
    if (c == 'j') ctx->json = true;
    else if (c == 'h') { fputs(status_usage, stdout); return 0; }
    else return HPM_CLI_USAGE;
  }
  if (hpm_cli_operands("status", argc, argv, 0, 0, "")) return HPM_CLI_USAGE;
  hp_status hs;
  hp_status_get(ctx, &hs);
  hpm_running_baseline rb;
  char bh[2 * HPM_DIGEST_LEN + 1] = "";
  if (!hostfacts_running_baseline(ctx, &rb)) hpm_fmt_hex(rb.digest, HPM_DIGEST_LEN, bh, sizeof bh);
  if (ctx->json) {
    cJSON *d = hpm_json_doc("status");
    cJSON *h = cJSON_AddObjectToObject(d, "hotpatch");
    hpmh_json_add_u64(h, "sequence", hs.sequence);
    hpm_json_add_opt(h, "id", hs.sequence ? hs.id : "");
    hpmh_json_add_u64(h, "processes", (uint64_t)hs.processes);
    hpmh_json_add_u64(h, "pending", (uint64_t)hs.pending);
    hpm_json_add_opt(h, "baseline", bh);
    hp_health_json(ctx, h);
    hp_kernel_status_json(ctx, h);
    hpmh_json_add(d, "boot", hpm_boot_status_json(ctx->esp));
    print_trust(ctx, d);
    hpm_json_emit(d);
    return 0;
  }
  hpm_boot_status_print(stdout, ctx->esp);
  printf("\nhotpatch: sequence %u %s\nprocesses journaled: %d\ninterrupted transitions: %d\nrunning baseline: %s (%s)\n",
         hs.sequence, hs.sequence ? hs.id : "(none)", hs.processes, hs.pending, bh[0] ? bh : "unknown", rb.src);
  hp_kernel_status_print(ctx, stdout);
  hp_health_print(ctx, stdout);
  print_trust(ctx, NULL);
  return 0;
}
