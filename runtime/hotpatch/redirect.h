/* SPDX-License-Identifier: MIT */
/*
 * The bytes of a redirection: what a patch site holds when it sends calls
 * to a target (or back to the original code), the trampolines that follow
 * the commit byte while a transition is not committed, and the grouping of
 * sites into spans of nearby bytes (read and written as one).  Pure byte
 * encoding: nothing here touches a process.
 *
 * The transition mapping (one per transition, in the target process):
 *   [0, HP_HDR_SIZE)   header: HP_MAGIC, then little-endian u32 fields at
 *                      HP_HDR_SEQ (the hotpatch sequence of the code),
 *                      HP_HDR_IMAGE (where its image starts), HP_HDR_LEN
 *                      (the mapping's whole length); the commit byte at
 *                      HP_FLAG_OFF
 *   then one trampoline of HP_TRAMP_SLOT bytes per site, then the image.
 */
#ifndef HPM_RUNTIME_HOTPATCH_REDIRECT_H
#define HPM_RUNTIME_HOTPATCH_REDIRECT_H

#include <stddef.h>
#include <stdint.h>

#include "payload.h"

#define HP_TRAMP_SLOT 96u
#define HP_HDR_SIZE 64u
#define HP_FLAG_OFF 32u
#define HP_MAGIC "HPMTRAMP"
#define HP_HDR_SEQ 8u
#define HP_HDR_IMAGE 12u
#define HP_HDR_LEN 16u

/* One redirected function (or call site) in a process. */
typedef struct {
  char name[HPP_NAME_MAX + 1];
  uint64_t region;  /* absolute address in the process */
  uint64_t entry, size;
  uint8_t len, mode, flip_off, flags;
  uint8_t orig[HPP_REGION_MAX];
  uint64_t cur;     /* current target (absolute), 0 = original code */
  uint64_t next;    /* target after the transition, 0 = original code */
} hp_site;

/* Bytes a site holds when redirected to target (0: its original bytes):
 * the committed form.  A PAD site whose region goes on over body
 * instructions (hp_site_direct) then holds a 5-byte jump at its entry. */
void hp_site_bytes(const hp_site *s, uint64_t target, uint8_t out[HPP_REGION_MAX]);
/* The form used while the transition is not committed (and by payloads
 * without direct jumps): entry -> pad jump -> target, body bytes original. */
void hp_site_bytes_hop(const hp_site *s, uint64_t target, uint8_t out[HPP_REGION_MAX]);
int hp_site_direct(const hp_site *s);

/* Is ip strictly inside the site's rewritten bytes, off its safe boundaries
 * (a thread stopped there would run a mix of old and new bytes)? */
int hp_site_ip_unsafe(const hp_site *s, uint64_t ip);

/* Build the trampoline for site s at address at (slot of HP_TRAMP_SLOT
 * bytes), testing the commit byte at flag_addr. -1 if out of range. */
int hp_trampoline(const hp_site *s, uint64_t at, uint64_t flag_addr, uint8_t *out);

/* ---- sites grouped into spans of nearby bytes ---- */
#define HP_SPAN_GAP 64u     /* sites at most this far apart share a span */
#define HP_SPAN_MAX 65536u  /* bytes of one span at most */
typedef struct { uint64_t lo, hi; size_t off; } hp_span;
typedef struct {
  hp_span *s;
  int n;
  int *of;                /* span of each site */
  uint8_t *orig, *work;   /* total bytes each: the spans' bytes as read, as to be written */
  size_t total;
  const hp_site *sites;
} hp_spans;

/* Group sites[0..n) (kept referenced by sp).  0, or -1 out of memory;
 * hp_spans_free in either case. */
int hp_spans_plan(hp_spans *sp, const hp_site *sites, int n);
void hp_spans_free(hp_spans *sp);
/* Where site i's bytes are in buf (sp->orig or sp->work). */
uint8_t *hp_span_at(const hp_spans *sp, int i, uint8_t *buf);
/* Put site i's bytes for target into sp->work (direct: the committed form). */
void hp_span_put_site(hp_spans *sp, int i, uint64_t target, int direct);

#endif
