/* SPDX-License-Identifier: MIT */
/* Running an operator's executable with a timeout (runhook.h). */
#include "runhook.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

bool hpm_hook_skipped(const char *n) {
  size_t l = strlen(n);
  return !l || n[0] == '.' || n[l - 1] == '~' || strstr(n, ".dpkg-") || strstr(n, ".rpm") || strstr(n, ".swp");
}

int hpm_run_hook(const char *path, char *const env[], unsigned timeout_ms, char *why, size_t n) {
  return hpm_run_hook_cancel(path, env, timeout_ms, NULL, why, n);
}

int hpm_run_hook_cancel(const char *path, char *const env[], unsigned timeout_ms, const atomic_bool *cancel, char *why,
                        size_t n) {
  int pfd[2];
  if (pipe2(pfd, O_CLOEXEC)) { snprintf(why, n, "cannot run it: %s", strerror(errno)); return -1; }
  /* posix_spawn: no copy of this process's memory (the agent's may be
   * large), the child in a process group of its own (killed whole on a
   * timeout), the output into the pipe, no input, no signal blocked, the
   * environment with env's variables in place of the same names */
  extern char **environ;
  size_t ne = 0, nx = 0;
  while (environ[ne]) ne++;
  while (env && env[nx]) nx++;
  char **envp = calloc(ne + nx + 1, sizeof *envp);
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t at;
  int err = envp ? 0 : ENOMEM;
  if (!err) {
    size_t k = 0;
    for (size_t i = 0; i < ne; i++) {
      size_t l = strcspn(environ[i], "=");
      bool replaced = false;
      for (size_t j = 0; j < nx && !replaced; j++) replaced = !strncmp(env[j], environ[i], l) && env[j][l] == '=';
      if (!replaced) envp[k++] = environ[i];
    }
    for (size_t j = 0; j < nx; j++) envp[k++] = env[j];
  }
  sigset_t none;
  sigemptyset(&none);
  pid_t c = -1;
  if (!err && !(err = posix_spawn_file_actions_init(&fa))) {
    if (!(err = posix_spawnattr_init(&at))) {
      err = posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
      if (!err) err = posix_spawn_file_actions_adddup2(&fa, pfd[1], 2);
      if (!err) err = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
      if (!err) err = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK);
      if (!err) err = posix_spawnattr_setpgroup(&at, 0);
      if (!err) err = posix_spawnattr_setsigmask(&at, &none);
      char *argv[] = {(char *)path, NULL};
      if (!err) err = posix_spawn(&c, path, &fa, &at, argv, envp);
      posix_spawnattr_destroy(&at);
    }
    posix_spawn_file_actions_destroy(&fa);
  }
  free(envp);
  if (err) {
    snprintf(why, n, "cannot run it: %s", strerror(err));
    close(pfd[0]);
    close(pfd[1]);
    return -1;
  }
  close(pfd[1]);
  char out[4096];
  size_t used = 0;
  uint64_t deadline = mono_ms() + timeout_ms;
  int timed_out = 0, cancelled = 0;
  for (;;) {
    uint64_t now = mono_ms();
    if (now >= deadline) { timed_out = 1; break; }
    if (cancel && atomic_load(cancel)) { cancelled = 1; break; }
    struct pollfd pf = {pfd[0], POLLIN, 0};
    uint64_t wait = deadline - now + 1;
    if (cancel && wait > 100) wait = 100; /* look at cancel ten times a second */
    int pr = poll(&pf, 1, (int)wait);
    if (pr < 0 && errno == EINTR) continue;
    if (pr <= 0) continue;
    char tmp[1024];
    ssize_t k = read(pfd[0], tmp, sizeof tmp);
    if (k <= 0) break; /* the program (and whatever it started) closed its output */
    for (ssize_t i = 0; i < k; i++) { /* keep the tail */
      if (used == sizeof out - 1) { memmove(out, out + 1024, used - 1024); used -= 1024; }
      out[used++] = tmp[i];
    }
  }
  close(pfd[0]);
  if (timed_out || cancelled) kill(-c, SIGKILL);
  int st = 0;
  while (waitpid(c, &st, 0) < 0 && errno == EINTR) {}
  out[used] = 0;
  while (used && (out[used - 1] == '\n' || out[used - 1] == ' ')) out[--used] = 0;
  const char *last = strrchr(out, '\n') ? strrchr(out, '\n') + 1 : out;
  if (cancelled) {
    snprintf(why, n, "cancelled (killed): hpm is stopping");
    return -2;
  }
  if (timed_out) {
    if (timeout_ms % 1000) snprintf(why, n, "did not finish within %u ms (killed)", timeout_ms);
    else snprintf(why, n, "did not finish within %u s (killed)", timeout_ms / 1000);
    return -1;
  }
  if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return 0;
  if (WIFEXITED(st)) snprintf(why, n, "exit %d%s%.200s", WEXITSTATUS(st), last[0] ? ": " : "", last);
  else snprintf(why, n, "killed by signal %d", WTERMSIG(st));
  return -1;
}
