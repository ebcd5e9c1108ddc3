/* SPDX-License-Identifier: MIT */
/*
 * One status type for the host library and its users, in the spirit of
 * core's hpm_diag: a code, the field (file, option, key) it concerns, for
 * machines (JSON error objects), and the detail: the whole sentence for the
 * user, which names that field itself.  Functions that fill one return 0 on
 * success and -1 on failure: `if (f(..., &st)) msg("%s", st.detail)`.
 */
#ifndef HPMH_STATUS_H
#define HPMH_STATUS_H

#include <stdarg.h>
#include <stddef.h>

typedef enum {
  HPMH_OK = 0,
  HPMH_E_IO,       /* a file or directory could not be read or written */
  HPMH_E_INVALID,  /* the bytes or text are not what they must be */
  HPMH_E_REFUSED,  /* well formed, but policy or verification says no */
  HPMH_E_NOMEM,
} hpmh_code;

typedef struct {
  hpmh_code code;
  char field[128];   /* the file, option or key it concerns ("" when none) */
  char detail[512];  /* the sentence for the user: names the field and the fix */
} hpmh_status;

/* Fill st (st may be NULL) and return -1. */
int hpmh_fail(hpmh_status *st, hpmh_code code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int hpmh_vfail(hpmh_status *st, hpmh_code code, const char *field, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

#endif
