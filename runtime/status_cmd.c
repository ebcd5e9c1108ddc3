/* SPDX-License-Identifier: MIT */
#include "status_cmd.h"

#include <getopt.h>
#include <stdio.h>

#include "boot/boot.h"
#include "hostfacts.h"
#include "hotpatch/hotpatch.h"
#include "json.h"
#include "cli.h"
#include "msg.h"
#include "update/policy.h"

static const char status_usage[] =
    "usage: hpm status [--json]\n"
    "  The boot slots as hpmboot.efi published them for this boot (slot, baseline,\n"
    "  tries, rollback floor, pending requests), the applied hotpatch, the\n"
    "  running baseline, and the trust: the trust store and how many of its keys\n"
    "  must sign a baseline, a hotpatch, a catalog ([trust] of the policy file).\n"
    "  Changes nothing.  Exit 2 when the policy file is broken.\n";

/* The trust store and this host's thresholds; returns 2 if the policy file
 * is broken (said on stderr and in the output), else 0. */
static int print_trust(hpm_ctx *ctx, bool json) {
  size_t nkeys;
  hpmh_status st = {0};
  (void)hpm_ctx_trust(ctx, &nkeys);
  bool ok = hpm_ctx_signers(ctx, HPM_KIND_BASELINE, &st) != 0;
  if (json) {
    printf("{\"dir\":");
    hpmh_json_str(stdout, ctx->trust_dir);
    printf(",\"keys\":%zu,\"policy_file\":", nkeys);
    hpmh_json_str(stdout, ctx->conf);
    if (!ok) {
      printf(",\"error\":");
      hpmh_json_str(stdout, st.detail);
    }
    for (hpm_kind k = HPM_KIND_BASELINE; ok && k <= HPM_KIND_CATALOG; k++)
      printf(",\"%s\":%u", policy_signers_key(k), hpm_ctx_signers(ctx, k, &st));
    printf("}");
  } else {
    printf("trust store: %s (%zu key%s)\nsignatures required: ", ctx->trust_dir, nkeys, nkeys == 1 ? "" : "s");
    if (!ok) printf("unknown: %s\n", st.detail);
    for (hpm_kind k = HPM_KIND_BASELINE; ok && k <= HPM_KIND_CATALOG; k++)
      printf("%s %u%s", hpm_kind_to_string(k), hpm_ctx_signers(ctx, k, &st), k < HPM_KIND_CATALOG ? ", " : "");
    if (ok) printf(" ([trust] in %s)\n", ctx->conf);
  }
  if (ok) return 0;
  msg("status: %s", st.detail);
  return 2;
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
    printf("{\"hotpatch\":{\"sequence\":%u,\"id\":", hs.sequence);
    hpmh_json_str(stdout, hs.id);
    printf(",\"processes\":%d,\"pending\":%d,\"baseline\":\"%s\"},\"boot\":", hs.processes, hs.pending, bh);
    hpm_boot_status_print(stdout, ctx->esp, true);
    printf(",\"trust\":");
  } else {
    hpm_boot_status_print(stdout, ctx->esp, false);
    printf("\nhotpatch: sequence %u %s\nprocesses journaled: %d\ninterrupted transitions: %d\nrunning baseline: %s (%s)\n",
           hs.sequence, hs.sequence ? hs.id : "(none)", hs.processes, hs.pending, bh[0] ? bh : "unknown", rb.src);
  }
  int rc = print_trust(ctx, ctx->json);
  if (ctx->json) printf("}\n");
  return rc;
}
