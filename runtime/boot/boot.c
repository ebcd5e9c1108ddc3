/* SPDX-License-Identifier: MIT */
/*
 * The boot side of hpm from the OS: the mark-good and rollback commands and
 * what the commands share (stage: stage.c; status: info.c).  See boot.h for
 * the contract and exit codes, docs/boot-interface.md for the variables and
 * records, docs/operations.md for the operator's view.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "boot/boot.h"
#include "boot/bootvars.h"
#include "boot/efivar.h"
#include "hpm/bootif.h"
#include "boot/internal.h"
#include "json.h"
#include "jsonout.h"
#include "cli.h"
#include "msg.h"

/* ---- shared by the commands --------------------------------------------- */

int boot_parse_opts(hpm_ctx *ctx, int argc, char **argv, const char *usage, bool takes_file, boot_opts *o) {
  /* stage's options; mark-good and rollback take the first two only */
  static const struct option stage_lo[] = {{"json", 0, 0, 'j'}, {"help", 0, 0, 'h'}, {"tries", 1, 0, 't'},
                                           {"slot", 1, 0, 's'}, {"force", 0, 0, 'f'}, {0, 0, 0, 0}};
  static const struct option plain_lo[] = {{"json", 0, 0, 'j'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
  memset(o, 0, sizeof *o);
  o->stage.tries = HPM_BS_DEFAULT_TRIES;
  o->stage.slot = -1;
  int c;
  while ((c = hpm_cli_next(argv[0], argc, argv, "", takes_file ? stage_lo : plain_lo)) != -1) {
    uint64_t v;
    switch (c) {
    case 'j': ctx->json = true; break;
    case 'f': o->stage.force = true; break;
    case 'h': fputs(usage, stdout); o->help = true; return 0;
    case 't':
      if (hpm_bv_parse_u64(optarg, HPM_BS_TRIES_MAX, &v) || v == 0) {
        return hpm_cli_error(argv[0], "--tries '%s': expected 1..%u", optarg, HPM_BS_TRIES_MAX);
      }
      o->stage.tries = (unsigned)v;
      break;
    case 's':
      o->stage.slot = strlen(optarg) == 1 ? hpm_bs_slot_from_letter(optarg[0]) : -1;
      if (o->stage.slot < 0) return hpm_cli_error(argv[0], "--slot '%s': expected a slot letter a-d", optarg);
      break;
    default: return HPM_BOOT_EXIT_USAGE;
    }
  }
  if (hpm_cli_operands(argv[0], argc, argv, takes_file, takes_file, "one BASELINE file")) return HPM_BOOT_EXIT_USAGE;
  if (takes_file) o->file = argv[optind];
  return 0;
}

int boot_need_info(hpm_boot_info *bi) {
  char why[600];
  int r = hpm_boot_info_read(bi, why, sizeof why);
  if (r) msg("%s", why);
  return r;
}

/* Check with core that the next boot would apply the request and try its
 * slot first (this boot's state, the pending mark-good applied first). */
int boot_check_slot_request(const hpm_boot_info *bi, const hpm_bs_request *req, hpmh_status *st) {
  hpm_bootstate next = boot_next_base(bi);
  hpm_bs_req_status rs = hpm_bs_apply_request(&next, req);
  if (rs != HPM_BS_REQ_APPLIED) {
    hpmh_fail(st, HPMH_E_REFUSED, HPM_VAR_SLOT_REQUEST, "the slot request would be %s by the boot stage: not written",
              hpm_bs_req_status_to_string(rs));
    return HPM_BOOT_EXIT_REFUSED;
  }
  if (hpm_boot_top_candidate(&next) != req->entries[0].slot) {
    hpmh_fail(st, HPMH_E_INVALID, HPM_VAR_SLOT_REQUEST, "internal error: the slot request would not put slot %c first",
              hpm_bs_slot_letter(req->entries[0].slot));
    return HPM_BOOT_EXIT_IO;
  }
  return 0;
}

/* Write a slot request (core serializes it) made for this boot's state. */
int boot_write_slot_request(const hpm_boot_info *bi, const hpm_bs_request *req, hpmh_status *st) {
  uint8_t rec[HPM_BS_REQ_MAX_SIZE];
  size_t n = hpm_bs_serialize_request(req, rec);
  if (!n) {
    hpmh_fail(st, HPMH_E_INVALID, HPM_VAR_SLOT_REQUEST, "internal error: slot request does not serialize");
    return HPM_BOOT_EXIT_IO;
  }
  if (bi->slotreq_present)
    msg("note: replacing the slot request already pending (one request variable; the new one wins)");
  if (hpm_efivar_write(HPM_VAR_SLOT_REQUEST, HPM_EFIVAR_ATTR_REQUEST, rec, n)) {
    char p[512];
    hpm_efivar_path(HPM_VAR_SLOT_REQUEST, p, sizeof p);
    hpmh_fail(st, HPMH_E_IO, p, "%s: cannot write: %s", p, strerror(errno));
    return HPM_BOOT_EXIT_IO;
  }
  return 0;
}

hpm_bs_request boot_activate_request(const hpm_boot_info *bi, int slot, unsigned tries, uint8_t flags) {
  hpm_bs_request req;
  memset(&req, 0, sizeof req);
  req.sequence = bi->st.sequence;
  req.count = 1;
  req.entries[0].op = HPM_BS_REQ_OP_ACTIVATE;
  req.entries[0].slot = (uint8_t)slot;
  req.entries[0].tries = (uint8_t)tries;
  req.entries[0].flags = flags;
  return req;
}

/* The opening of mark-good and rollback (no options but --json): 0 and
 * this boot's variables, -1 after --help, or the exit code. */
static int begin(hpm_ctx *ctx, int argc, char **argv, const char *usage, hpm_boot_info *bi) {
  boot_opts o;
  int r = boot_parse_opts(ctx, argc, argv, usage, false, &o);
  if (r) return r;
  if (o.help) return -1;
  return boot_need_info(bi);
}

/* ---- mark-good ---------------------------------------------------------- */

static void mark_good_json(const hpm_boot_info *bi, const char *result, uint32_t floor_after) {
  cJSON *d = hpm_json_doc("mark-good");
  char l[2] = {hpm_bs_slot_letter((unsigned)bi->active), 0};
  hpmh_json_add_str(d, "slot", l);
  hpmh_json_add_str(d, "baseline", bi->baseline_hex);
  hpmh_json_add_str(d, "version", bi->version);
  hpmh_json_add_u64(d, "svn", bi->svn);
  hpmh_json_add_str(d, "result", result);
  hpmh_json_add_u64(d, "floor_after_reboot", floor_after);
  hpm_json_emit(d);
}

static const char mark_good_usage[] =
    "usage: hpm mark-good [--json]\n"
    "  Mark the running baseline good (HpmMarkGood for this slot and baseline).\n"
    "  hpmboot.efi records it at the next boot: the slot stops counting tries\n"
    "  and the rollback floor rises to its SVN.  Run by hpm-mark-good.service\n"
    "  once boot-complete.target is reached and the health checks passed.\n"
    "exit: 0 requested, 3 variable not writable, 5 not booted through hpmboot.efi,\n"
    "  6 already marked good or already requested (nothing to do)\n";

int hpm_boot_cmd_mark_good(hpm_ctx *ctx, int argc, char **argv) {
  hpm_boot_info bi;
  int r = begin(ctx, argc, argv, mark_good_usage, &bi);
  if (r) return r < 0 ? 0 : r;
  char a = hpm_bs_slot_letter((unsigned)bi.active);
  const hpm_bs_slot *s = &bi.st.slots[bi.active];
  const char *state = NULL;
  if (s->successful && bi.attempt == 0) state = "already marked good";
  else if (bi.markgood_for_running) state = "already requested (recorded at the next boot)";
  if (state) {
    if (ctx->json) mark_good_json(&bi, "already", bi.st.floor);
    msg("slot %c, baseline %s (svn %u): %s: nothing to do", a, bi.version, bi.svn, state);
    return HPM_BOOT_EXIT_ALREADY;
  }
  char text[160];
  int n = boot_mark_good_text(&bi, text, sizeof text);
  /* What the boot stage will do with it, by core's own parser. */
  hpm_bootstate probe = bi.st;
  probe.slots[bi.active].successful = false;
  memcpy(probe.slots[bi.active].digest, bi.baseline, HPM_DIGEST_LEN);
  if (hpm_bs_apply_mark_good(&probe, (const uint8_t *)text, (size_t)n) != HPM_BS_MARK_APPLIED) {
    msg("internal error: core does not accept the mark-good text '%s'", text);
    return HPM_BOOT_EXIT_IO;
  }
  if (hpm_efivar_write(HPM_VAR_MARK_GOOD, HPM_EFIVAR_ATTR_REQUEST, (const uint8_t *)text, (size_t)n)) {
    char p[512];
    hpm_efivar_path(HPM_VAR_MARK_GOOD, p, sizeof p);
    msg("%s: cannot write: %s", p, strerror(errno));
    return HPM_BOOT_EXIT_IO;
  }
  uint32_t floor_after = probe.floor > bi.st.floor ? probe.floor : bi.st.floor; /* never lowered */
  if (ctx->json) {
    mark_good_json(&bi, "requested", floor_after);
  } else {
    printf("marked slot %c good: baseline %s (svn %u); hpmboot.efi records it at the next boot "
           "(rollback floor %u -> %u)\n", a, bi.version, bi.svn, bi.st.floor, floor_after);
  }
  return 0;
}

/* ---- rollback ----------------------------------------------------------- */

static const char rollback_usage[] =
    "usage: hpm rollback [--json]\n"
    "  Ask hpmboot.efi to make the previous good slot active again at the next\n"
    "  boot (a slot request: activate, no tries needed as it is marked good).\n"
    "  It still boots only if its baseline verifies and its SVN is not below\n"
    "  the rollback floor.\n"
    "exit: 0 requested, 1 no other good slot, 3 I/O error, 5 not booted through hpmboot.efi\n";

int hpm_boot_cmd_rollback(hpm_ctx *ctx, int argc, char **argv) {
  hpm_boot_info bi;
  int r = begin(ctx, argc, argv, rollback_usage, &bi);
  if (r) return r < 0 ? 0 : r;
  int best = -1;
  char below[200] = "";
  for (unsigned i = 0; i < HPM_BS_MAX_SLOTS; i++) {
    const hpm_bs_slot *s = &bi.st.slots[i];
    if ((int)i == bi.active || !s->successful || s->reason != HPM_BS_REASON_NONE) continue;
    if (s->svn < bi.st.floor) {
      snprintf(below, sizeof below, " (slot %c is marked good but its svn %u is below the rollback floor %u)",
               hpm_bs_slot_letter(i), s->svn, bi.st.floor);
      continue;
    }
    if (best < 0 || s->priority > bi.st.slots[best].priority) best = (int)i;
  }
  char a = hpm_bs_slot_letter((unsigned)bi.active);
  if (best < 0) {
    msg("no previous good slot to roll back to: no slot other than the running slot %c is marked good%s", a, below);
    return HPM_BOOT_EXIT_REFUSED;
  }
  hpm_bs_request req = boot_activate_request(&bi, best, 0, 0);
  hpmh_status st;
  if ((r = boot_check_slot_request(&bi, &req, &st)) || (r = boot_write_slot_request(&bi, &req, &st))) {
    msg("%s", st.detail);
    return r;
  }
  char b = hpm_bs_slot_letter((unsigned)best), hx[2 * HPM_DIGEST_LEN + 1];
  hpm_fmt_hex(bi.st.slots[best].digest, HPM_DIGEST_LEN, hx, sizeof hx);
  if (ctx->json) {
    cJSON *d = hpm_json_doc("rollback");
    char to[2] = {b, 0}, from[2] = {a, 0};
    hpmh_json_add_str(d, "slot", to);
    hpmh_json_add_str(d, "from", from);
    hpmh_json_add_u64(d, "svn", bi.st.slots[best].svn);
    hpmh_json_add_str(d, "baseline", hx);
    hpmh_json_add_bool(d, "reboot_required", 1);
    hpm_json_emit(d);
  } else
    printf("rollback requested: slot %c (svn %u, baseline %.16s...) becomes active at the next reboot "
           "(running: slot %c)\n", b, bi.st.slots[best].svn, hx, a);
  return 0;
}
