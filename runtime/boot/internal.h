/* SPDX-License-Identifier: MIT */
/* Shared between the files of the boot room (runtime/boot/); not an API. */
#ifndef HPM_RT_BOOT_INTERNAL_H
#define HPM_RT_BOOT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "boot/boot.h"
#include "loader.h"
#include "ctx.h"
#include "status.h"

/* dir/name into out; false (and an empty string) when it does not fit. */
bool boot_pjoin(char *out, size_t cap, const char *dir, const char *name);

/* The state the next boot starts from: this boot's, with a pending
 * mark-good for the running slot applied. */
hpm_bootstate boot_next_base(const hpm_boot_info *bi);

/* The HpmMarkGood text for the running slot and baseline (core's identity
 * writer, docs/boot-interface.md) in out: its length. */
int boot_mark_good_text(const hpm_boot_info *bi, char *out, size_t cap);

typedef struct {
  hpm_stage_opts stage;
  const char *file;
  bool help;
} boot_opts;

/* The commands' options (--trust-dir and --esp are global: in ctx), usage
 * for --help and errors.  Returns 0 (o->help: usage printed, exit 0) or the
 * usage exit code. */
int boot_parse_opts(hpm_ctx *ctx, int argc, char **argv, const char *usage, bool takes_file, boot_opts *o);

/* Verify a baseline file against trust (hpm_ctx_trust_for); detached
 * payloads are read from its directory, none larger than the manifest says,
 * into l.  The exit code, st saying why.  Used by stage and setup. */
int boot_verify_baseline(const hpm_ctx *ctx, const char *path, const hpm_trust *trust, uint8_t **buf, size_t *len,
                         hpmh_loader *l, hpm_manifest *m, hpmh_status *st);

/* This boot's variables, or a message and the exit code. */
int boot_need_info(hpm_boot_info *bi);

/* A slot request made for this boot's state: activate slot with tries
 * (0: none needed) and flags. */
hpm_bs_request boot_activate_request(const hpm_boot_info *bi, int slot, unsigned tries, uint8_t flags);

/* Check with core that the next boot would apply req and try its slot
 * first; the exit code, st saying why when it would not. */
int boot_check_slot_request(const hpm_boot_info *bi, const hpm_bs_request *req, hpmh_status *st);
/* Write a slot request made for this boot's state; the exit code. */
int boot_write_slot_request(const hpm_boot_info *bi, const hpm_bs_request *req, hpmh_status *st);

#endif
