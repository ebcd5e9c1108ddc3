/* SPDX-License-Identifier: MIT */
#include "status.h"

#include <stdio.h>
#include <string.h>

int hpmh_vfail(hpmh_status *st, hpmh_code code, const char *field, const char *fmt, va_list ap) {
  if (st) {
    st->code = code;
    snprintf(st->field, sizeof st->field, "%s", field ? field : "");
    vsnprintf(st->detail, sizeof st->detail, fmt, ap);
  }
  return -1;
}

int hpmh_fail(hpmh_status *st, hpmh_code code, const char *field, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  hpmh_vfail(st, code, field, fmt, ap);
  va_end(ap);
  return -1;
}
