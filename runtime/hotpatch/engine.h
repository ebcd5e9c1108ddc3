/* SPDX-License-Identifier: MIT */
/*
 * Per-process patching with ptrace: one transition moves a set of functions
 * from their current redirection to a new one (or back to the original code)
 * while every thread of the process is stopped.  Crash safety: all sites are
 * first pointed at trampolines that test one commit byte; a single one-byte
 * write commits; sites are then pointed at their final targets.  If hpm dies
 * at any instant, every site runs either all-old or all-new code.
 */
#ifndef HPM_RUNTIME_ENGINE_H
#define HPM_RUNTIME_ENGINE_H
#include <stdint.h>
#include <sys/types.h>

#include "payload.h"

#define ENG_TRAMP_SLOT 96u
#define ENG_HDR_SIZE 64u
#define ENG_FLAG_OFF 32u
#define ENG_MAGIC "HPMTRAMP"
/* header fields after the magic (little-endian u32): the hotpatch sequence
 * of the code, where its image starts, the mapping's whole length */
#define ENG_HDR_SEQ 8u
#define ENG_HDR_IMAGE 12u
#define ENG_HDR_LEN 16u

typedef struct {
  char name[HPP_NAME_MAX + 1];
  uint64_t region;  /* absolute address in the process */
  uint64_t entry, size;
  uint8_t len, mode, flip_off, flags;
  uint8_t orig[HPP_REGION_MAX];
  uint64_t cur;     /* current target (absolute), 0 = original code */
  uint64_t next;    /* target after the transition, 0 = original code */
} eng_site;

typedef struct { uint64_t addr, len; } eng_map;

typedef struct {
  eng_site *sites;
  int nsites;
  /* the new mapping: header+trampolines page(s), then the image */
  uint64_t map_addr, map_len;
  uint8_t *map_bytes;       /* map_len bytes, flag byte 0, fully relocated */
  uint64_t rw_off;          /* offset of the writable part (== map_len: none) */
  int keep_map;             /* 0: unmap the new mapping at the end (revert) */
  eng_map *unmap;           /* old mappings to unmap if no thread refers to them */
  int nunmap;
  unsigned budget_us;       /* pause budget for stopping and checking */
  int fault_after;          /* test hook: _exit(9) after this many writes (<0 off) */
} eng_plan;

typedef struct {
  unsigned pause_us;        /* all threads stopped, this attempt */
  unsigned stop_us;         /* of pause_us: stopping every thread */
  unsigned write_us;        /* of pause_us: writing the redirections */
  unsigned scan_us;         /* of pause_us: registers and stacks scan before unmapping */
  unsigned prep_us;         /* one thread stopped: mapping and filling new code */
  unsigned threads;
  int retained;             /* old mappings kept because still referenced */
  char why[256];
} eng_report;

enum { ENG_OK = 0, ENG_BUSY = 1, ENG_MISMATCH = 2, ENG_GONE = 3, ENG_FAIL = 4 };

/* Run the transition.  Returns ENG_*; on anything but ENG_OK the process
 * runs exactly the code it ran before. */
int eng_transition(pid_t pid, eng_plan *plan, eng_report *rep);

/* Bytes a site holds when redirected to target (0: its original bytes):
 * the committed form.  A PAD site whose region goes on over body
 * instructions (eng_site_direct) then holds a 5-byte jump at its entry. */
void eng_site_bytes(const eng_site *s, uint64_t target, uint8_t out[HPP_REGION_MAX]);
/* The form used while the transition is not committed (and by payloads
 * without direct jumps): entry -> pad jump -> target, body bytes original. */
void eng_site_bytes_hop(const eng_site *s, uint64_t target, uint8_t out[HPP_REGION_MAX]);
int eng_site_direct(const eng_site *s);

/* Build the trampoline for site s at address at (slot of ENG_TRAMP_SLOT
 * bytes), testing the flag at flag_addr. -1 if out of range. */
int eng_trampoline(const eng_site *s, uint64_t at, uint64_t flag_addr, uint8_t *out);

/* Choose a free address for len bytes within +-1.5 GiB of [lo,hi). 0 if none. */
uint64_t eng_pick_addr(pid_t pid, uint64_t lo, uint64_t hi, uint64_t len);

/* Read process memory; 0 or -1. */
int eng_peek(pid_t pid, uint64_t addr, void *buf, size_t len);

/* Recovery helper: stop the process, write each site's bytes for `next`
 * (when the commit byte at flag_addr reads `want_flag`, or unconditionally
 * if flag_addr is 0), unmap maps not referenced.  Returns ENG_*. */
int eng_force(pid_t pid, eng_site *sites, int n, eng_map *unmap, int nunmap, eng_report *rep);
#endif
