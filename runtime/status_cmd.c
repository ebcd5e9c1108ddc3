/* SPDX-License-Identifier: MIT */
#include "status_cmd.h"

#include <getopt.h>
#include <stdio.h>

#include "boot/boot.h"
#include "hostfacts.h"
#include "hotpatch/hotpatch.h"
#include "json.h"
#include "msg.h"

static const char status_usage[] =
    "usage: hpm status [--json]\n"
    "  The boot slots as hpmboot.efi published them for this boot (slot, baseline,\n"
    "  tries, rollback floor, pending requests), the applied hotpatch and the\n"
    "  running baseline.  Changes nothing.\n";

int hpm_cmd_status(hpm_ctx *ctx, int argc, char **argv) {
  static const struct option opts[] = {{"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {0, 0, 0, 0}};
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    if (c == 'j') ctx->json = true;
    else if (c == 'h') { fputs(status_usage, stdout); return 0; }
    else { fputs("Try 'hpm status --help'.\n", stderr); return 2; }
  }
  if (optind < argc) {
    msg("status: unexpected argument '%s'", argv[optind]);
    fputs("Try 'hpm status --help'.\n", stderr);
    return 2;
  }
  hp_status hs;
  hp_status_get(ctx, &hs);
  hpm_running_baseline rb;
  char bh[2 * HPM_DIGEST_LEN + 1] = "";
  if (!hostfacts_running_baseline(ctx, &rb)) hpm_fmt_hex(rb.digest, HPM_DIGEST_LEN, bh, sizeof bh);
  if (ctx->json) {
    printf("{\"hotpatch\":{\"sequence\":%u,\"id\":", hs.sequence);
    hpmh_json_str(stdout, hs.id);
    printf(",\"processes\":%d,\"pending\":%d,\"baseline\":\"%s\"},\"boot\":", hs.processes, hs.pending, bh);
    hpm_boot_status_print(stdout, true);
    printf("}\n");
  } else {
    hpm_boot_status_print(stdout, false);
    printf("\nhotpatch: sequence %u %s\nprocesses journaled: %d\ninterrupted transitions: %d\nrunning baseline: %s (%s)\n",
           hs.sequence, hs.sequence ? hs.id : "(none)", hs.processes, hs.pending, bh[0] ? bh : "unknown", rb.src);
  }
  return 0;
}
