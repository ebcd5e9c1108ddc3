/* SPDX-License-Identifier: MIT */
/* Redirection and trampoline bytes, spans: see redirect.h. */
#include "hotpatch/redirect.h"

#include <stdlib.h>
#include <string.h>

#include "x86.h"

int hp_site_direct(const hp_site *s) {
  return s->mode == HPP_MODE_PAD && s->len >= s->flip_off + 2 + HPP_DIRECT_MIN && s->len <= HPP_REGION_MAX;
}

/* direct: the committed form (a PAD site with body bytes takes a 5-byte
 * jump at its entry); otherwise the entry hops to the pad's jump and the
 * body keeps its original bytes, as trampolines returning to the original
 * code (entry + 2) need. */
static void site_bytes(const hp_site *s, uint64_t target, int direct, uint8_t out[HPP_REGION_MAX]) {
  memcpy(out, s->orig, HPP_REGION_MAX);
  if (!target) return;
  int32_t rel = (int32_t)(int64_t)(target - (s->region + 5));
  out[0] = s->mode == HPP_MODE_CALL ? s->orig[0] : 0xe9; /* a call site stays a call (or jmp) */
  memcpy(out + 1, &rel, 4);
  if (s->mode == HPP_MODE_CALL) return;
  if (s->mode == HPP_MODE_PAD && direct && hp_site_direct(s)) {
    int32_t d = (int32_t)(int64_t)(target - (s->region + s->flip_off + 5));
    out[s->flip_off] = 0xe9;
    memcpy(out + s->flip_off + 1, &d, 4);
    for (int i = s->flip_off + 5; i < s->len; i++) out[i] = 0xcc; /* never reached: trap if it were */
  } else if (s->mode == HPP_MODE_PAD) {
    out[s->flip_off] = 0xeb;
    out[s->flip_off + 1] = (uint8_t)(int8_t)(-(int)(s->flip_off + 2));
  } else {
    for (int i = 5; i < s->len; i++) out[i] = 0x90;
  }
}

void hp_site_bytes(const hp_site *s, uint64_t target, uint8_t out[HPP_REGION_MAX]) {
  site_bytes(s, target, 1, out);
}

void hp_site_bytes_hop(const hp_site *s, uint64_t target, uint8_t out[HPP_REGION_MAX]) {
  site_bytes(s, target, 0, out);
}

int hp_site_ip_unsafe(const hp_site *s, uint64_t ip) {
  if (ip <= s->region || ip >= s->region + s->len) return 0;
  if (s->mode == HPP_MODE_PAD && (ip == s->region + 14 || ip == s->region + s->flip_off)) return 0;
  return 1;
}

static int jmp_to(uint8_t *o, uint64_t at, uint64_t to) {
  int64_t d = (int64_t)(to - (at + 5));
  if (d < INT32_MIN || d > INT32_MAX) return -1;
  int32_t d32 = (int32_t)d;
  o[0] = 0xe9;
  memcpy(o + 1, &d32, 4);
  return 5;
}

/* Code that behaves as the site's target (original code when target is 0). */
static int path_to(const hp_site *s, uint64_t target, uint64_t at, uint8_t *o) {
  if (target) return jmp_to(o, at, target);
  if (s->mode == HPP_MODE_PAD) return jmp_to(o, at, s->region + s->flip_off + 2);
  if (s->mode == HPP_MODE_CALL) return jmp_to(o, at, s->entry); /* reached by the call: go on to the callee */
  size_t covered;
  x86_fix fix[X86_MAX_FIX];
  int nfix;
  const char *why;
  if (x86_prologue(s->orig, s->len, 5, &covered, fix, &nfix, &why) || covered != s->len) return -1;
  if (x86_relocate(o, s->orig, covered, fix, nfix, s->region, at)) return -1;
  int k = jmp_to(o + covered, at + covered, s->region + covered);
  return k < 0 ? -1 : (int)covered + k;
}

int hp_trampoline(const hp_site *s, uint64_t at, uint64_t flag_addr, uint8_t *o) {
  memset(o, 0xcc, HP_TRAMP_SLOT);
  /* cmpb $0, flag(%rip); jne L_next; <path to cur>; L_next: <path to next> */
  o[0] = 0x80; o[1] = 0x3d;
  int64_t d = (int64_t)(flag_addr - (at + 7));
  if (d < INT32_MIN || d > INT32_MAX) return -1;
  int32_t d32 = (int32_t)d;
  memcpy(o + 2, &d32, 4);
  o[6] = 0x00;
  uint8_t cur[64];
  int nc = path_to(s, s->cur, at + 13, cur);
  if (nc < 0) return -1;
  o[7] = 0x0f; o[8] = 0x85;
  int32_t skip = nc;
  memcpy(o + 9, &skip, 4);
  memcpy(o + 13, cur, (size_t)nc);
  int nn = path_to(s, s->next, at + 13 + (uint64_t)nc, o + 13 + nc);
  if (nn < 0 || 13 + nc + nn > (int)HP_TRAMP_SLOT) return -1;
  return 0;
}

/* ---- spans ---- */
void hp_spans_free(hp_spans *sp) {
  free(sp->s);
  free(sp->of);
  free(sp->orig);
  free(sp->work);
  memset(sp, 0, sizeof *sp);
}

typedef struct { uint64_t region; int i; } by_region;
static int by_region_cmp(const void *a, const void *b) {
  const by_region *x = a, *y = b;
  if (x->region != y->region) return x->region < y->region ? -1 : 1;
  return x->i - y->i;
}

int hp_spans_plan(hp_spans *sp, const hp_site *sites, int n) {
  by_region *ord = malloc(((size_t)n + 1) * sizeof *ord);
  sp->s = calloc((size_t)n + 1, sizeof *sp->s);
  sp->of = calloc((size_t)n + 1, sizeof *sp->of);
  sp->sites = sites;
  if (!ord || !sp->s || !sp->of) { free(ord); return -1; }
  for (int i = 0; i < n; i++) ord[i] = (by_region){sites[i].region, i};
  qsort(ord, (size_t)n, sizeof *ord, by_region_cmp);
  for (int k = 0; k < n; k++) {
    const hp_site *e = &sites[ord[k].i];
    hp_span *c = sp->n ? &sp->s[sp->n - 1] : NULL;
    if (c && e->region <= c->hi + HP_SPAN_GAP && e->region + e->len - c->lo <= HP_SPAN_MAX) {
      if (e->region + e->len > c->hi) c->hi = e->region + e->len;
    } else {
      c = &sp->s[sp->n++];
      c->lo = e->region;
      c->hi = e->region + e->len;
    }
    sp->of[ord[k].i] = sp->n - 1;
  }
  free(ord);
  for (int k = 0; k < sp->n; k++) { sp->s[k].off = sp->total; sp->total += sp->s[k].hi - sp->s[k].lo; }
  sp->orig = malloc(sp->total + 1);
  sp->work = malloc(sp->total + 1);
  return sp->orig && sp->work ? 0 : -1;
}

uint8_t *hp_span_at(const hp_spans *sp, int i, uint8_t *buf) {
  const hp_span *c = &sp->s[sp->of[i]];
  return buf + c->off + (sp->sites[i].region - c->lo);
}

void hp_span_put_site(hp_spans *sp, int i, uint64_t target, int direct) {
  uint8_t b[HPP_REGION_MAX];
  site_bytes(&sp->sites[i], target, direct, b);
  memcpy(hp_span_at(sp, i, sp->work), b, sp->sites[i].len);
}
