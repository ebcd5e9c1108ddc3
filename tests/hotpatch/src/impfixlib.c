/* Replacement of imptarget.c's score() calling libimpver.so (impver.c),
 * which the target does not link: imp_value (the default version, V2,
 * returns 2) and imp_value@V1 (returns 1), so the result's version is 21
 * only if each resolved to its own version. */
int imp_value(void);
int imp_value_old(void);
__asm__(".symver imp_value_old, imp_value@V1");

long score_v(const char *s, int x) {
  if (!s[0]) return -1;
  return x * 3 + 1 + (imp_value() * 10 + imp_value_old()) * 1000000L;
}
