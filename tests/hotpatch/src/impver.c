/* libimpver.so of the imports tests: imp_value in two symbol versions
 * (impver.map): imp_value@V1 returns 1, the default imp_value@@V2 returns 2. */
int imp_value_v1(void) { return 1; }
int imp_value_v2(void) { return 2; }
int imp_anchor(void) { return 0; }
__asm__(".symver imp_value_v1, imp_value@V1");
__asm__(".symver imp_value_v2, imp_value@@V2");
