/* SPDX-License-Identifier: MIT */
/*
 * hpm's diagnostics: one line "hpm: <text>" on stderr.  The last line is
 * kept so the history can record why a command failed (update.c).
 */
#ifndef HPM_RUNTIME_MSG_H
#define HPM_RUNTIME_MSG_H

#include <stdint.h>
#include <stdio.h>

#include "status.h"

void hpm_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#define msg(...) hpm_msg(__VA_ARGS__)

/* The text of the last hpm_msg() line ("" if none since the last clear). */
const char *hpm_msg_last(void);
void hpm_msg_clear(void);

/* A host-library status as one hpm_msg() line (its detail). */
void hpm_msg_status(const hpmh_status *st);

#endif
