/* SPDX-License-Identifier: MIT */
/* Fakes for the boot-state tests: see bsfake.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "bsfake.h"

/* ---- fake variable store ----------------------------------------------- */

static hpm_bs_result bsf_fake_read(void *ctx, unsigned copy, uint8_t *buf, size_t *len) {
  fake_vars *v = ctx;
  assert_true(copy < HPM_BS_COPIES);
  if (!v->present[copy]) return HPM_BS_E_ABSENT;
  if (v->wrong_attrs[copy]) return HPM_BS_E_ATTRIBUTES;
  if (v->len[copy] > *len) return HPM_BS_E_SIZE;
  memcpy(buf, v->data[copy], v->len[copy]);
  *len = v->len[copy];
  return HPM_BS_OK;
}

static hpm_bs_result bsf_fake_write(void *ctx, unsigned copy, const uint8_t *buf, size_t len) {
  fake_vars *v = ctx;
  assert_true(copy < HPM_BS_COPIES);
  assert_true(len <= sizeof v->data[copy]);
  v->writes++;
  if (v->fail_write) return HPM_BS_E_IO;
  if (v->torn_at >= 0) {
    /* Power cut mid-write: the variable holds the old bytes overwritten by
     * a prefix of the new ones. */
    size_t n = (size_t)v->torn_at < len ? (size_t)v->torn_at : len;
    memcpy(v->data[copy], buf, n);
    if (!v->present[copy]) v->len[copy] = n;
    v->present[copy] = true;
    v->torn_at = -1;
    return HPM_BS_E_IO;
  }
  memcpy(v->data[copy], buf, len);
  v->len[copy] = len;
  v->present[copy] = true;
  return HPM_BS_OK;
}

void bsf_fake_init(fake_vars *v) {
  memset(v, 0, sizeof *v);
  v->torn_at = -1;
  v->ops.ctx = v;
  v->ops.read = bsf_fake_read;
  v->ops.write = bsf_fake_write;
}

/* A fresh store and a default state. */
void bsf_fresh_store(fake_vars *v, hpm_bootstate *st) {
  bsf_fake_init(v);
  hpm_bs_default(st, HPM_BS_ORIGIN_FRESH);
}

/* ---- fake slot verification ----------------------------------------------- */

static hpm_bs_reason bsf_fake_check(void *ctx, unsigned slot, uint32_t *svn, uint8_t digest[32],
                                    uint8_t *detail) {
  fake_slots *f = ctx;
  assert_true(slot < HPM_BS_MAX_SLOTS);
  f->calls[slot]++;
  if (f->reason[slot] != HPM_BS_REASON_NONE) {
    *detail = f->detail[slot];
    return f->reason[slot];
  }
  *svn = f->svn[slot];
  memset(digest, f->digest_byte[slot], 32);
  return HPM_BS_REASON_NONE;
}

/* Every slot verifies, svn 1, digest 0xa0 + slot. */
void bsf_sel_init(sel_env *e, hpm_bs_origin origin) {
  memset(e, 0, sizeof *e);
  for (unsigned i = 0; i < HPM_BS_MAX_SLOTS; i++) {
    e->f.svn[i] = 1;
    e->f.digest_byte[i] = (uint8_t)(0xa0 + i);
  }
  e->chk.ctx = &e->f;
  e->chk.check = bsf_fake_check;
  hpm_bs_default(&e->st, origin);
}

hpm_bs_decision bsf_pick(sel_env *e, int oneshot) {
  return hpm_bs_select(&e->st, oneshot, &e->chk, &e->sel);
}

/* The selection decides want, for slot want_slot. */
void bsf_expect_pick(sel_env *e, int oneshot, hpm_bs_decision want, int want_slot) {
  assert_int_equal(bsf_pick(e, oneshot), want);
  assert_int_equal(e->sel.slot, want_slot);
}

hpm_bs_mark bsf_mark_good(hpm_bootstate *st, const char *req) {
  return hpm_bs_apply_mark_good(st, (const uint8_t *)req, strlen(req));
}

void bsf_mark_good_text(char *buf, size_t cap, unsigned slot, uint8_t digest_byte) {
  int n = snprintf(buf, cap, "hpm.slot=%c hpm.baseline=", hpm_bs_slot_letter(slot));
  for (unsigned i = 0; i < 32; i++) n += snprintf(buf + n, cap - (size_t)n, "%02x", digest_byte);
}
