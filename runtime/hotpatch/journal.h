/* SPDX-License-Identifier: MIT */
/*
 * The per-process journal record (docs/hotpatch-authoring.md, "Host
 * state"): what hpm changed in one process for one target binary, as
 * STATE_DIR/procs/PID-START-BUILDID.state, and the intent of a transition
 * under way as .pending.  Text, one key a line, ending in "end"; a record
 * without its end is not read.  Fuzzed (tests/fuzz/fuzz_journal.c).
 */
#ifndef HPM_RUNTIME_HOTPATCH_JOURNAL_H
#define HPM_RUNTIME_HOTPATCH_JOURNAL_H
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "hotpatch/ptrace.h"
#include "hotpatch/redirect.h"

#define HP_JOURNAL_MAX_MAPS 8

/* One process x one target binary. */
typedef struct {
  pid_t pid;
  uint64_t start;           /* starttime from /proc/PID/stat: tells pid reuse apart */
  char exe[256];
  char build_id[2 * HPP_BUILD_ID_MAX + 1];
  uint32_t seq;
  char id[64];
  uint64_t time;            /* when the state was reached (epoch seconds) */
  uint64_t exposure_ms;     /* process start -> first patch */
  hp_map maps[HP_JOURNAL_MAX_MAPS];
  int nmaps;
  hp_site *sites;           /* next = current target */
  int nsites;
  /* pending transitions only */
  uint64_t txn_addr, txn_len;
  int keep;
} hp_journal;

/* Written to a temporary file and renamed (not fsync'ed: see journal.c).
 * 0 or -1. */
int hp_journal_write(const char *path, const hp_journal *s);
/* 0, or -1 (no file, or no complete record: s then holds nothing). */
int hp_journal_read(const char *path, hp_journal *s);

/* The two halves of those, apart from the file (the fuzzer uses them on
 * memory): the record's text (malloc'ed, *len bytes; NULL with errno), and
 * the record read from f (0, or -1 with s holding nothing; f stays open). */
char *hp_journal_format(const hp_journal *s, size_t *len);
int hp_journal_parse(FILE *f, hp_journal *s);
void hp_journal_free(hp_journal *s);

#endif
