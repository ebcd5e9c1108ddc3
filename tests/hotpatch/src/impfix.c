/* Replacement of imptarget.c's score(), built with Debian's hardening flags
 * (tests/hotpatch/test_imports.py): it calls strlen, memcmp and snprintf
 * (__snprintf_chk under _FORTIFY_SOURCE), which the target does not import,
 * has a stack protector (__stack_chk_fail), copies with checked
 * __memcpy_chk/__memset_chk (x == -777 overflows: the check must abort), and
 * names a non-default symbol version of libc (realpath@GLIBC_2.2.5, on a
 * path never taken). */
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#ifndef VERSION
#define VERSION 3
#endif

char *old_realpath(const char *, char *);
__asm__(".symver old_realpath, realpath@GLIBC_2.2.5");

static volatile size_t cmp_len = 8; /* not a constant: memcmp stays a call */

long score_v(const char *s, int x) {
  char buf[32];
  if (x == -12345) return (long)old_realpath(s, buf);
  int n = snprintf(buf, sizeof buf, "%d", x);
  long back = 0;
  for (int i = 0; i < n; i++) back = back * 10 + (buf[i] - '0');
  char copy[16];
  size_t l = strlen(s);
  if (l > sizeof copy) return -1;
  memcpy(copy, s, x == -777 ? 64 : l);
  memset(copy + l, 0, sizeof copy - l);
  if (l != 8 || memcmp(copy, "hotpatch", cmp_len) || back != x) return -1;
  return x * 3 + 1 + VERSION * 1000000L;
}
