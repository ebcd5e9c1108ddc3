/* Test target of the imports tests (tests/hotpatch/test_imports.py): worker
 * threads call score() in tight loops and check each result is the base
 * x*3+1 plus VERSION*1000000 (VERSION 0..99); the main thread answers
 * "stats", "x N" (prints score("hotpatch", N)) and "quit" on stdin.  It calls no string function of libc itself:
 * a replacement that does (strlen, memcmp, snprintf) needs imports. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static atomic_ullong ok, err, last;
static atomic_int stop;

__attribute__((noinline, noipa)) long score(const char *s, int x) {
  return s[0] ? x * 3 + 1 : -1;
}

/* main calls it through a pointer: hpm-patchgen's register-use check reads a
 * direct call followed by printf as relying on argument registers */
static long (*volatile scorep)(const char *, int) = score;

static void *worker(void *arg) {
  (void)arg;
  unsigned i = 0;
  while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
    int x = (int)(i++ & 1023);
    long r = score("hotpatch", x), d = r - (x * 3 + 1);
    if (d < 0 || d % 1000000 || d / 1000000 > 99) atomic_fetch_add(&err, 1);
    else { atomic_fetch_add(&ok, 1); atomic_store(&last, (unsigned long long)(d / 1000000)); }
  }
  return NULL;
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 2;
  pthread_t t[16];
  for (int i = 0; i < n && i < 16; i++) pthread_create(&t[i], NULL, worker, NULL);
  printf("ready\n");
  fflush(stdout);
  char line[64];
  while (fgets(line, sizeof line, stdin)) {
    if (line[0] == 'q') break;
    if (line[0] == 'x') {
      printf("score=%ld\n", scorep("hotpatch", atoi(line + 1)));
      fflush(stdout);
      continue;
    }
    printf("ok=%llu err=%llu version=%llu\n", (unsigned long long)atomic_load(&ok),
           (unsigned long long)atomic_load(&err), (unsigned long long)atomic_load(&last));
    fflush(stdout);
  }
  atomic_store(&stop, 1);
  for (int i = 0; i < n && i < 16; i++) pthread_join(t[i], NULL);
  return 0;
}
