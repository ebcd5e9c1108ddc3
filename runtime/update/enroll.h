/* SPDX-License-Identifier: MIT */
/*
 * Enrollment: whether this host takes hotpatches.  Enrolled (the default,
 * also when no state file exists) hosts take hotpatches and baselines;
 * unenrolled hosts take only baselines.  `hpm unenroll` records the running
 * baseline; `hpm enroll` is refused until the host runs a newer one (the
 * hotpatches it skipped exist only for the baseline it had).
 * State: HPM_STATE_DIR/enrollment, a small text file written atomically.
 */
#ifndef HPM_RUNTIME_ENROLL_H
#define HPM_RUNTIME_ENROLL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hostfacts.h"
#include "hpm/catalog.h"

typedef struct {
  bool enrolled;
  /* unenrolled: the baseline it ran when unenrolled */
  uint8_t baseline[HPM_DIGEST_LEN];
  bool svn_known;
  uint32_t svn;
  uint64_t since;  /* when the state last changed (0: never) */
} enroll_state;


/* Missing file: enrolled.  Returns 0, or -1 with err naming the file and the fix. */
int enroll_load(const char *state_dir, enroll_state *s, char *err, size_t errlen);
/* Atomic: temp file, fsync, rename, directory fsync. */
int enroll_save(const char *state_dir, const enroll_state *s, char *err, size_t errlen);

typedef enum {
  ENROLL_ALLOWED = 0,   /* running a newer baseline than the one unenrolled on */
  ENROLL_ALREADY = 1,   /* already enrolled: nothing to do */
  ENROLL_REFUSED = 2,   /* why says which baseline is needed */
} enroll_verdict;

/* May an unenrolled host re-enroll now?  "Newer": with a catalog listing
 * both baselines, released later (then higher SVN); otherwise a different
 * baseline whose SVN (when both are known) is not lower.  cat may be NULL. */
enroll_verdict enroll_check(const enroll_state *s, const hpm_running_baseline *rb, const hpm_catalog *cat,
                            char *why, size_t whylen);

#endif
