/* SPDX-License-Identifier: MIT */
/* hpm's host state and per-process journal (docs/hotpatch-authoring.md, "Host state"). */
#ifndef HPM_RUNTIME_STATE_H
#define HPM_RUNTIME_STATE_H
#include <stdint.h>
#include <sys/types.h>

#include "hotpatch/transition.h"

#define ST_MAX_SITES HPP_MAX_FUNCS
#define ST_MAX_MAPS 8

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
  hp_map maps[ST_MAX_MAPS];
  int nmaps;
  hp_site *sites;          /* next = current target */
  int nsites;
  /* pending transitions only */
  uint64_t txn_addr, txn_len;
  int keep;
} st_proc;

int st_write(const char *path, const st_proc *s);
int st_read(const char *path, st_proc *s);
void st_free(st_proc *s);
uint64_t st_starttime(pid_t pid);
#endif
