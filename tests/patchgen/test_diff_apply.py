# SPDX-License-Identifier: MIT
"""End to end: a small server built from a compile database, a fix written
as a patch to its source, `hpm-patchgen diff`, `hpm-sign hotpatch`, and
`hpm apply` to the running server: the fixed behaviour appears without a
restart, and `hpm revert` brings the old one back."""
import subprocess

from hpmtest import HPM, run
from project import Project, replaced, signed

RULES_H = "static inline int clamp(int qty) { return qty > 100 ? 100 : qty; } /* the bug: at most 10 */\n"
PRICE_C = """#include "rules.h"
static long served;
long price_served(void) { return served; }
int price(int qty) { served++; return clamp(qty) * 3; }
"""
MAIN_C = """#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int price(int qty);
long price_served(void);
static volatile long sink;
static void *busy(void *arg) { (void)arg; for (;;) sink += price(7); return NULL; }
int main(void) {
  pthread_t t;
  pthread_create(&t, NULL, busy, NULL);
  char line[64];
  puts("ready");
  fflush(stdout);
  while (fgets(line, sizeof line, stdin)) {
    if (!strncmp(line, "quit", 4)) break;
    printf("%d %ld\\n", price(atoi(line)), price_served());
    fflush(stdout);
  }
  return 0;
}
"""


class Server:
    def __init__(self, exe):
        self.p = subprocess.Popen([str(exe)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        assert self.p.stdout.readline().strip() == "ready"
        self.pid = self.p.pid

    def price(self, qty):
        self.p.stdin.write(f"{qty}\n")
        self.p.stdin.flush()
        price, served = self.p.stdout.readline().split()
        return int(price), int(served)

    def close(self):
        self.p.stdin.write("quit\n")
        self.p.stdin.flush()
        return self.p.wait(timeout=10)


def test_diff_patch_applied_to_running_server(tmp_path):
    proj = Project(tmp_path / "proj", {"rules.h": RULES_H, "price.c": PRICE_C, "main.c": MAIN_C},
                   cflags=["-O2", "-g", "-pthread"], ldflags=["-pthread"])
    fix = proj.patch("fix", {"rules.h": RULES_H.replace("100 ? 100", "10 ? 10")})
    r, payload = proj.diff(fix)
    assert replaced(payload) == ["price"], r.err
    assert "carries the inlined code of clamp" in r.err

    hp, env = signed(tmp_path, payload, "server")

    s = Server(proj.exe)
    try:
        assert s.price(50)[0] == 150  # the bug: 50 items are not capped at 10
        r = run(HPM, "apply", "--pid", s.pid, hp, env=env, timeout=60)
        assert "1 process(es) patched" in r.stdout, r
        price, served = s.price(50)
        assert price == 30  # fixed, in the running process
        assert s.price(50)[1] > served  # the same static counter of price.c is counted on
        run(HPM, "revert", "--all", "--pid", s.pid, env=env, timeout=60)
        assert s.price(50)[0] == 150
    finally:
        assert s.close() == 0
