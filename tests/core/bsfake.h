/* SPDX-License-Identifier: MIT */
/* Fakes for the boot-state tests: a variable store (torn writes, failures)
 * and a slot checker, plus selection and mark-good shorthands. */
#ifndef HPM_TESTS_BSFAKE_H
#define HPM_TESTS_BSFAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hpm/bootstate.h"

typedef struct {
  uint8_t data[HPM_BS_COPIES][512];
  size_t len[HPM_BS_COPIES];
  bool present[HPM_BS_COPIES];
  bool wrong_attrs[HPM_BS_COPIES];
  bool fail_write;
  long torn_at;   /* >= 0: the next write stores only this many bytes, then fails */
  unsigned writes;
  hpm_bs_ops ops; /* reading and writing this store */
} fake_vars;

typedef struct {
  hpm_bs_reason reason[HPM_BS_MAX_SLOTS];
  uint8_t detail[HPM_BS_MAX_SLOTS];
  uint32_t svn[HPM_BS_MAX_SLOTS];
  uint8_t digest_byte[HPM_BS_MAX_SLOTS]; /* digest = 32 times this byte */
  unsigned calls[HPM_BS_MAX_SLOTS];
} fake_slots;

/* A state, a fake checker of its slots, and the last selection. */
typedef struct {
  fake_slots f;
  hpm_bs_checker chk;
  hpm_bs_selection sel;
  hpm_bootstate st;
} sel_env;

void bsf_fake_init(fake_vars *v);
/* A fresh store and a default state. */
void bsf_fresh_store(fake_vars *v, hpm_bootstate *st);
void bsf_sel_init(sel_env *e, hpm_bs_origin origin);
hpm_bs_decision bsf_pick(sel_env *e, int oneshot);
/* The selection decides want, for slot want_slot. */
void bsf_expect_pick(sel_env *e, int oneshot, hpm_bs_decision want, int want_slot);
hpm_bs_mark bsf_mark_good(hpm_bootstate *st, const char *req);
/* "hpm.slot=X hpm.baseline=" + 32 times digest_byte in hex. */
void bsf_mark_good_text(char *buf, size_t cap, unsigned slot, uint8_t digest_byte);

#endif
