# SPDX-License-Identifier: MIT
"""A thread blocked in a call that the kernel does not restart after a stop
(recv on a socket with SO_RCVTIMEO) must not see EINTR because hpm stopped
it to patch the process: hpm puts it back on its `syscall` instruction.
Found with tinyproxy under load (tests/realprog), which drops a connection
on such an EINTR."""
import subprocess

from hpmtest import run
from workspace import VARIANTS

TARGET = r"""
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
int factor = 7;
__attribute__((noinline)) int helper(int x) { return x * factor; }
__attribute__((noinline)) int calc_a(int x) { return x * 3 + 1; }
__attribute__((noinline)) int calc_b(int x) { return helper(x) + 5; }
static int sv[2];
static void *reader(void *arg) {
  (void)arg;
  char c;
  for (;;) {
    ssize_t n = recv(sv[0], &c, 1, 0);
    if (n == 1) printf("data %c\n", c);
    else printf("error %s\n", n < 0 ? strerror(errno) : "eof");
    fflush(stdout);
    if (n != 1 || c == 'q') return NULL;
  }
}
int main(void) {
  pthread_t t;
  struct timeval tv = {60, 0};
  socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  pthread_create(&t, NULL, reader, NULL);
  printf("ready %d\n", calc_a(1));
  fflush(stdout);
  char line[16];
  while (fgets(line, sizeof line, stdin)) {
    if (send(sv[1], line, 1, 0) != 1) return 1;
    if (line[0] == 'q') break;
  }
  pthread_join(t, NULL);
  return 0;
}
"""


def test_blocked_recv_with_timeout_sees_no_eintr(ws, state, tmp_path):
    src = tmp_path / "reader.c"
    src.write_text(TARGET)
    exe = tmp_path / "reader"
    run("gcc", "-O2", "-g", "-pthread", "-Wl,--build-id", *VARIANTS["pad"], src, "-o", exe)
    out = tmp_path / "p.bin"
    ws.patchgen(exe, 5, out)
    hp = ws.hotpatch([out], 1, name="eintr.hpm")
    p = subprocess.Popen([str(exe)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
    try:
        assert p.stdout.readline().strip() == "ready 4"
        for cmd in ("apply", "revert"):
            args = [cmd, "--pid", p.pid] + ([hp] if cmd == "apply" else ["--all"])
            ws.hpm(state, *args)
            p.stdin.write("x\n")
            p.stdin.flush()
            assert p.stdout.readline().strip() == "data x"  # not "error Interrupted system call"
        p.stdin.write("q\n")
        p.stdin.flush()
        assert p.stdout.readline().strip() == "data q"
        assert p.wait(timeout=10) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
