/* Test target: worker threads call calc_a/calc_b in tight loops and check
 * every result is the base result plus VERSION*1000000 for a version 0..15;
 * a sleeper thread checks nanosleep semantics; the main thread blocks in
 * read() on stdin and answers "stats" / "quit".  SIGUSR1 is counted.
 * A third argument "churn" adds a thread that keeps starting short-lived
 * threads (each checks 200 pairs of results, then exits): the thread set
 * changes while hpm stops and enumerates it.  CALC_MAP_FILES=DIR maps every
 * file in DIR (a process with many mapped files).  "fork DIR" on stdin
 * starts a child (see child_main).  Built with
 * -DCALC_FROM_LIB, calc_a/calc_b come from a shared library. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#ifdef CALC_FROM_LIB /* the patched functions live in libcalc.so (calcfn.c) */
extern int factor;
int calc_a(int x);
int calc_b(int x);
#else
#define CALC_STATIC static
#include "calcfn.c"
#endif

static atomic_ullong ok, err, ver[16], sleeps, sleep_err, usr1, spawned;
static atomic_int stop;

static void check(long res, long base) {
  long d = res - base;
  if (d < 0 || d % 1000000 || d / 1000000 > 15) { atomic_fetch_add(&err, 1); return; }
  atomic_fetch_add(&ver[d / 1000000], 1);
  atomic_fetch_add(&ok, 1);
}

static void *worker(void *arg) {
  (void)arg;
  unsigned i = 0;
  while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
    int x = (int)(i++ & 1023);
    check(calc_a(x), x * 3 + 1);
    check(calc_b(x), x * 7 + 5);
  }
  return NULL;
}

static void *sleeper(void *arg) {
  (void)arg;
  /* A handler run on this thread would end nanosleep with EINTR whatever
   * SA_RESTART says (signal(7)): SIGUSR1 goes to the other threads, so that
   * an error here means a ptrace stop (hpm) broke the sleep. */
  sigset_t usr1;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &usr1, NULL);
  while (!atomic_load(&stop)) {
    struct timespec a, b, req = {0, 2000000};
    clock_gettime(CLOCK_MONOTONIC, &a);
    int r = nanosleep(&req, NULL);
    clock_gettime(CLOCK_MONOTONIC, &b);
    long ns = (b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec);
    if (r != 0 || ns < 2000000) atomic_fetch_add(&sleep_err, 1);
    atomic_fetch_add(&sleeps, 1);
  }
  return NULL;
}

static void *short_lived(void *arg) {
  (void)arg;
  for (int x = 0; x < 200; x++) {
    check(calc_a(x), x * 3 + 1);
    check(calc_b(x), x * 7 + 5);
  }
  return NULL;
}

static void *spawner(void *arg) {
  (void)arg;
  pthread_attr_t at;
  pthread_attr_init(&at);
  pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
  while (!atomic_load(&stop)) {
    pthread_t t;
    if (pthread_create(&t, &at, short_lived, NULL) == 0) atomic_fetch_add(&spawned, 1);
    struct timespec req = {0, 100000};
    nanosleep(&req, NULL);
  }
  return NULL;
}

static void on_usr1(int s) { (void)s; atomic_fetch_add(&usr1, 1); }

static void print_stats(FILE *f) {
  fprintf(f, "ok=%llu err=%llu sleeps=%llu sleep_err=%llu usr1=%llu spawned=%llu a=%d b=%d", (unsigned long long)ok,
          (unsigned long long)err, (unsigned long long)sleeps, (unsigned long long)sleep_err,
          (unsigned long long)usr1, (unsigned long long)spawned, calc_a(1), calc_b(1));
  for (int v = 0; v < 16; v++) fprintf(f, " v%d=%llu", v, (unsigned long long)ver[v]);
  fprintf(f, "\n");
  fflush(f);
}

/* "fork DIR": a child as a pre-forking server makes them.  It runs one
 * worker (counters reset) and writes its stats to DIR/PID.stats every
 * 20 ms until SIGTERM; it inherits whatever hotpatch the parent carries. */
static volatile sig_atomic_t child_stop;
static void on_term(int s) { (void)s; child_stop = 1; }
static void child_main(const char *dir) {
  signal(SIGTERM, on_term);
  close(0);
  atomic_store(&ok, 0);
  atomic_store(&err, 0);
  for (int v = 0; v < 16; v++) atomic_store(&ver[v], 0);
  pthread_t w;
  pthread_create(&w, NULL, worker, NULL);
  char path[4096], tmp[4200];
  snprintf(path, sizeof path, "%s/%d.stats", dir, (int)getpid());
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  while (!child_stop) {
    FILE *f = fopen(tmp, "w");
    if (f) { print_stats(f); fclose(f); rename(tmp, path); }
    struct timespec req = {0, 20000000};
    nanosleep(&req, NULL);
  }
  atomic_store(&stop, 1);
  pthread_join(w, NULL);
  _exit(0);
}

static void *idler(void *a) {
  (void)a;
  for (;;) pause();
  return NULL;
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 2;
  if (argc > 2) factor = atoi(argv[2]); /* keeps factor a real variable */
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_usr1;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGUSR1, &sa, NULL);
  const char *md = getenv("CALC_MAP_FILES");
  DIR *dd = md ? opendir(md) : NULL;
  for (struct dirent *e; dd && (e = readdir(dd));) {
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", md, e->d_name);
    int fd = e->d_name[0] == '.' ? -1 : open(p, O_RDONLY);
    if (fd >= 0 && mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0) == MAP_FAILED) return 3;
    if (fd >= 0) close(fd);
  }
  if (dd) closedir(dd);
  pthread_t t[64];
  if (n > 64) n = 64;
  for (int i = 0; i < n; i++) pthread_create(&t[i], NULL, worker, NULL);
  pthread_t s, sp;
  pthread_create(&s, NULL, sleeper, NULL);
  int churn = argc > 3 && !strcmp(argv[3], "churn");
  if (churn) pthread_create(&sp, NULL, spawner, NULL);
  /* "idleN": N more threads blocked in pause() (an I/O thread's life) */
  int nidle = argc > 3 && !strncmp(argv[3], "idle", 4) ? atoi(argv[3] + 4) : 0;
  pthread_t it;
  for (int i = 0; i < nidle && i < 256; i++) pthread_create(&it, NULL, idler, NULL);
  printf("ready %d\n", (int)getpid());
  fflush(stdout);
  char line[128];
  for (;;) {
    ssize_t r = read(0, line, sizeof line - 1);
    if (r < 0 && errno == EINTR) { printf("read-eintr\n"); fflush(stdout); continue; }
    if (r <= 0) break;
    line[r] = 0;
    if (!strncmp(line, "quit", 4)) break;
    if (!strncmp(line, "stats", 5)) print_stats(stdout);
    if (!strncmp(line, "fork ", 5)) {
      line[strcspn(line, "\n")] = 0;
      signal(SIGCHLD, SIG_IGN); /* children are reaped by the kernel */
      pid_t c = fork();
      if (c == 0) child_main(line + 5);
      printf("child %d\n", (int)c);
      fflush(stdout);
    }
  }
  atomic_store(&stop, 1);
  for (int i = 0; i < n; i++) pthread_join(t[i], NULL);
  pthread_join(s, NULL);
  if (churn) pthread_join(sp, NULL);
  return 0;
}
