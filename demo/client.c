/* SPDX-License-Identifier: MIT */
/*
 * hpm-demo-client: keeps calling hpm-demo-service with several connections
 * in parallel and checks every answer: it must be the buggy answer (1.9 %)
 * or the fixed one (19 %), never anything else, and no request may fail.
 *   hpm-demo-client [port] [seconds] [connections]
 * Prints one progress line a second and a summary; exits 1 if any request
 * failed or was answered wrongly, 0 otherwise.  SIGTERM or SIGINT ends the
 * run early (still with the summary and that exit status).
 *   hpm-demo-client port ask [cents]
 * sends one request and prints the answer.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int port = 7070;
static volatile sig_atomic_t stop;

static void on_stop(int sig) {
  (void)sig;
  stop = 1;
}
static atomic_long n_old, n_new, n_bad;

static void *worker(void *arg) {
  long seed = (long)arg;
  int s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a)) {
    perror("hpm-demo-client: connect");
    atomic_fetch_add(&n_bad, 1);
    return NULL;
  }
  FILE *in = fdopen(s, "r");
  char line[256], req[64];
  while (!stop) {
    long cents = 100 + (seed = seed * 1103515245 + 12345) % 100000;
    if (cents < 100) cents = -cents + 100;
    int n = snprintf(req, sizeof req, "quote %ld\n", cents);
    if (write(s, req, (size_t)n) != n || !fgets(line, sizeof line, in)) {
      fprintf(stderr, "hpm-demo-client: request failed\n");
      atomic_fetch_add(&n_bad, 1);
      break;
    }
    long total, tax;
    char by[64];
    if (sscanf(line, "total %ld (tax %ld) by %63[^\n]", &total, &tax, by) != 3) {
      atomic_fetch_add(&n_bad, 1);
      continue;
    }
    if (tax == cents * 19 / 1000 && total == cents + tax && !strcmp(by, "v1 (buggy)"))
      atomic_fetch_add(&n_old, 1);
    else if (tax == cents * 19 / 100 && total == cents + tax && !strcmp(by, "v2 (hotpatched)"))
      atomic_fetch_add(&n_new, 1);
    else {
      fprintf(stderr, "hpm-demo-client: wrong answer for %ld: %s", cents, line);
      atomic_fetch_add(&n_bad, 1);
    }
  }
  fclose(in);
  return NULL;
}

static int ask(long cents) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  char line[256];
  if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a)) {
    perror("hpm-demo-client: connect");
    return 1;
  }
  FILE *in = fdopen(s, "r");
  int n = snprintf(line, sizeof line, "quote %ld\n", cents);
  if (write(s, line, (size_t)n) != n || !fgets(line, sizeof line, in)) {
    fprintf(stderr, "hpm-demo-client: no answer\n");
    return 1;
  }
  fputs(line, stdout);
  fclose(in);
  return 0;
}

int main(int argc, char **argv) {
  if (argc > 1) port = atoi(argv[1]);
  if (argc > 2 && !strcmp(argv[2], "ask")) return ask(argc > 3 ? atol(argv[3]) : 1000);
  int secs = argc > 2 ? atoi(argv[2]) : 10, conns = argc > 3 ? atoi(argv[3]) : 4;
  if (conns < 1 || conns > 64 || secs < 1) {
    fprintf(stderr, "usage: hpm-demo-client [port] [seconds] [connections 1-64]\n");
    return 2;
  }
  /* Only the main thread takes SIGTERM/SIGINT: workers never see EINTR. */
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigset_t ss;
  sigemptyset(&ss);
  sigaddset(&ss, SIGTERM);
  sigaddset(&ss, SIGINT);
  pthread_sigmask(SIG_BLOCK, &ss, NULL);
  pthread_t t[64];
  for (int i = 0; i < conns; i++) pthread_create(&t[i], NULL, worker, (void *)(long)(i + 1));
  pthread_sigmask(SIG_UNBLOCK, &ss, NULL);
  for (int i = 1; i <= secs && !stop; i++) {
    sleep(1);
    printf("client: %2d s: %ld answers buggy, %ld fixed, %ld failed\n", i, atomic_load(&n_old),
           atomic_load(&n_new), atomic_load(&n_bad));
    fflush(stdout);
  }
  stop = 1;
  for (int i = 0; i < conns; i++) pthread_join(t[i], NULL);
  long o = atomic_load(&n_old), nw = atomic_load(&n_new), b = atomic_load(&n_bad);
  printf("client: total %ld requests: %ld buggy, %ld fixed, %ld failed or wrong\n", o + nw + b, o, nw, b);
  return b ? 1 : 0;
}
