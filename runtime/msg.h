/* SPDX-License-Identifier: MIT */
/*
 * hpm's diagnostics: one line "hpm: <text>" on stderr.  The last line is
 * kept so the history can record why a command failed (update.c).
 *
 * When stderr is the journal (a service's stderr: JOURNAL_STREAM names
 * stderr's device and inode, hpm_msg_journal), each line starts with its
 * syslog priority, "<3>" (error) or "<4>" (warning), which journald reads
 * (SyslogLevelPrefix=, on by default) and strips; on a terminal or in a
 * file the lines are as they were.
 */
#ifndef HPM_RUNTIME_MSG_H
#define HPM_RUNTIME_MSG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "status.h"

/* syslog priorities (<syslog.h>'s LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO) */
enum { HPM_MSG_ERR = 3, HPM_MSG_WARNING = 4, HPM_MSG_NOTICE = 5, HPM_MSG_INFO = 6 };

/* A line at priority error, or warning when the text starts "warning:". */
void hpm_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A line at the given priority. */
void hpm_msg_at(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define msg(...) hpm_msg(__VA_ARGS__)

/* journal_stream: the value of $JOURNAL_STREAM ("DEV:INODE", or NULL);
 * when it names stderr, lines carry their priority prefix from now on.
 * Returns whether they do. */
bool hpm_msg_journal(const char *journal_stream);

/* The text of the last hpm_msg() line of this thread ("" if none since the last clear). */
const char *hpm_msg_last(void);
void hpm_msg_clear(void);

/* A host-library status as one hpm_msg() line (its detail). */
void hpm_msg_status(const hpmh_status *st);

#endif
