/* SPDX-License-Identifier: MIT */
/*
 * hpm-demo-service: the demo's running service.  A small multi-threaded TCP
 * server on 127.0.0.1 (port argv[1], default 7070): each request line
 * "quote <cents>" is answered "total <cents> (tax <cents>) by <version>\n".
 * It has a visible bug: quote_tax() charges 1.9 % instead of 19 %.  The
 * hotpatch (demo/fix.c) replaces quote_tax() and quote_version() in memory
 * while the service keeps answering.
 * Built with -fpatchable-function-entry=16,14 so the functions have pads.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

__attribute__((noipa)) long quote_tax(long cents) { return cents * 19 / 1000; } /* BUG: 1.9 % */
__attribute__((noipa)) const char *quote_version(void) { return "v1 (buggy)"; }

static void *serve(void *arg) {
  int c = (int)(long)arg;
  FILE *in = fdopen(c, "r");
  char line[128];
  while (in && fgets(line, sizeof line, in)) {
    long cents;
    char out[160];
    int n;
    if (sscanf(line, "quote %ld", &cents) == 1 && cents >= 0 && cents < 1000000000L) {
      long tax = quote_tax(cents);
      n = snprintf(out, sizeof out, "total %ld (tax %ld) by %s\n", cents + tax, tax, quote_version());
    } else {
      n = snprintf(out, sizeof out, "error: expected \"quote <cents>\"\n");
    }
    if (write(c, out, (size_t)n) != n) break;
  }
  if (in) fclose(in); else close(c);
  return NULL;
}

int main(int argc, char **argv) {
  int port = argc > 1 ? atoi(argv[1]) : 7070;
  signal(SIGPIPE, SIG_IGN);
  int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 64)) {
    perror("hpm-demo-service: listen");
    return 1;
  }
  printf("hpm-demo-service: pid %d listening on 127.0.0.1:%d\n", getpid(), port);
  fflush(stdout);
  for (;;) {
    int c = accept(s, NULL, NULL);
    if (c < 0) continue;
    pthread_t t;
    if (pthread_create(&t, NULL, serve, (void *)(long)c)) { close(c); continue; }
    pthread_detach(t);
  }
}
