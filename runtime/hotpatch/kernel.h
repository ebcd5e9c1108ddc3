/* SPDX-License-Identifier: MIT */
/*
 * The kernel part of a hotpatch (docs/kernel-hotpatch.md): a cumulative
 * livepatch module checked against the running kernel, loaded from the
 * verified bytes (memfd + finit_module), its transition followed under a
 * deadline, replaced, reverted and unloaded; journaled as
 * STATE_DIR/kernel.state (what the kernel runs) and STATE_DIR/kernel.pending
 * (a transition under way), so the next hpm finishes or rolls back what a
 * killed one left.
 */
#ifndef HPM_RUNTIME_HOTPATCH_KERNEL_H
#define HPM_RUNTIME_HOTPATCH_KERNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ctx.h"
#include "hpm/core.h"
#include "status.h"

#define HP_KERNEL_DEADLINE_MS 30000u /* default transition deadline */
#define HP_KERNEL_BLOCKERS 8         /* blocking tasks named in a report */

/* The kernel journal record: text, "key value" lines, ending in "end". */
typedef struct {
  char op[8];                          /* pending: "apply" or "revert"; state: "" */
  char module[HPM_KMODULE_MAX + 1];    /* the livepatch (module) this is about */
  char prev[HPM_KMODULE_MAX + 1];      /* apply: the livepatch it replaces ("" none) */
  uint32_t seq;
  char id[64];
  uint64_t time;                       /* when written (epoch seconds) */
} hp_kjournal;

/* The record's text into buf (cap bytes): its length, or 0 if it does not fit. */
size_t hp_kjournal_format(const hp_kjournal *k, char *buf, size_t cap);
/* Parse a record from memory (fuzzed: tests/fuzz/fuzz_kjournal.c).  0, or -1
 * (incomplete or malformed: k then holds nothing). */
int hp_kjournal_parse(const char *buf, size_t len, hp_kjournal *k);

/* What a kernel transition did, for the caller to print. */
typedef struct {
  bool done;                     /* a transition was made (apply, replace, revert) */
  bool removed;                  /* it was a revert: module disabled and unloaded */
  char module[HPM_KMODULE_MAX + 1];
  char replaced[HPM_KMODULE_MAX + 1];
  unsigned transition_ms;
  int nblocking;                 /* tasks that held the transition at its deadline */
  char blocking[HP_KERNEL_BLOCKERS][256];
} hp_kreport;

/* The verified livepatch payload of m against its manifest entry: a
 * livepatch module whose .modinfo name and vermagic are the signed ones.
 * 0, or -1 with st (file path names the container). */
int hp_kernel_check_module(const char *path, const hpm_manifest *m, hpmh_status *st);

/* Can the kernel part of m go into the running kernel?  Its release and
 * GNU build-id (/sys/kernel/notes) must be the signed ones, livepatch must
 * be there, and no livepatch but hpm's may be loaded.  0, or an exit code
 * (1 refused, 3 I/O) with st. */
int hp_kernel_check_running(const hpm_ctx *ctx, const char *path, const hpm_manifest *m, hpmh_status *st);

/* Make the kernel run m's livepatch (atomic replace of hpm's current one),
 * or, with m NULL or without a kernel part, no livepatch of hpm's.  Follows
 * the transition to deadline_ms (0: HP_KERNEL_DEADLINE_MS); at the deadline
 * the transition is reversed and the call fails naming the blocking tasks.
 * Under the state lock.  0, or an exit code (1 refused, 3 I/O, 4 failed)
 * with st. */
int hp_kernel_transition(hpm_ctx *ctx, const hpm_manifest *m, unsigned deadline_ms, hp_kreport *r,
                         hpmh_status *st);

/* Finish or roll back a kernel transition a killed hpm left (kernel.pending).
 * Under the state lock.  0, or -1 if it could not be finished yet. */
int hp_kernel_recover(hpm_ctx *ctx);

/* The kernel part of list and status. */
typedef struct {
  bool present;                  /* hpm's livepatch runs (kernel.state) */
  hp_kjournal state;
  int enabled;                   /* /sys/kernel/livepatch/MODULE/enabled (-1 unreadable) */
  int transition;                /* .../transition (-1 unreadable) */
  bool pending;                  /* kernel.pending exists */
} hp_kstatus;
void hp_kernel_status(const hpm_ctx *ctx, hp_kstatus *s);
/* The kernel part as list and status show it: "kernel": {...} or null in
 * the JSON object parent, or a line of text on out. */
struct cJSON;
void hp_kernel_status_json(const hpm_ctx *ctx, struct cJSON *parent);
void hp_kernel_status_print(const hpm_ctx *ctx, FILE *out);
/* The kernel part of an apply or revert report: "kernel" in parent, or text. */
void hp_kreport_json(const hp_kreport *r, struct cJSON *parent);
void hp_kreport_print(const hp_kreport *r, FILE *out);

#endif
