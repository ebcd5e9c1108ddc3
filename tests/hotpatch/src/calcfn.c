/* The functions the hotpatch tests replace: included by calc.c, or built
 * alone as libcalc.so (test_library.py; factor is then a global the
 * executable sets). */
#ifndef CALC_STATIC
#define CALC_STATIC
#endif
CALC_STATIC int factor = 7;

__attribute__((noipa)) static int helper(int x) { return x * factor; }
__attribute__((noipa)) int calc_a(int x) {
  volatile int k = x; /* long enough for a prologue redirection */
  return k * 3 + 1;
}
__attribute__((noipa)) int calc_b(int x) { return helper(x) + 5; }
