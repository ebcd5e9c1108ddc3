# SPDX-License-Identifier: MIT
"""Diff mode with imports: a program built with Debian's hardening flags
(dpkg-buildflags) is fixed by a patch whose new code calls strlen, memcmp
and snprintf, which the program itself does not import; `hpm-patchgen
diff` lists them as imports (payload version 3) and `hpm apply` resolves
them in the running process under load; `hpm revert` undoes it."""
import re
import shutil
import subprocess

import pytest

from hpmtest import HPM, run
from project import Project, replaced, signed

LOOKUP_C = """int check(const char *s, int n) { return n * 2 + (s[0] == 1); }
"""
FIXED_C = """#include <stdio.h>
#include <string.h>
int check(const char *s, int n) {
  char buf[32];
  int k = snprintf(buf, sizeof buf, "%d", n);
  int back = 0;
  for (int i = 0; i < k; i++) back = back * 10 + (buf[i] - '0');
  if (!s[0] || back != n) return -1;
  size_t l = strlen(s);
  if (l > 8) l = 9;
  return n * 2 + (!memcmp(s, "hotpatch", l) && l == 8 ? 1000 : 0); /* a length not known: a call */
}
"""
MAIN_C = """#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
int check(const char *s, int n);
/* called through a pointer: no caller keeps values in call-clobbered registers
 * across it (the register-use check, -fipa-ra), as the original calls nothing */
static int (*volatile checkp)(const char *, int) = check;
static atomic_long ok, bad;
static void *busy(void *arg) {
  (void)arg;
  for (;;) { int r = checkp("hotpatch", 7); if (r == 14 || r == 1014) ok++; else bad++; }
  return NULL;
}
int main(void) {
  pthread_t t[2];
  for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, busy, NULL);
  char line[64], word[32];
  int n;
  puts("ready");
  fflush(stdout);
  while (fgets(line, sizeof line, stdin)) {
    if (line[0] == 'q') break;
    if (sscanf(line, "%d %31s", &n, word) != 2) continue;
    printf("%d %ld %ld\\n", checkp(word, n), (long)ok, (long)bad);
    fflush(stdout);
  }
  return 0;
}
"""


def hardening():
    if not shutil.which("dpkg-buildflags"):
        pytest.skip("dpkg-buildflags (dpkg-dev) is not installed")
    get = lambda w: subprocess.run(["dpkg-buildflags", "--get", w], capture_output=True, text=True,  # noqa: E731
                                   check=True).stdout.split()
    return get("CFLAGS") + get("CPPFLAGS") + ["-fcf-protection"], get("LDFLAGS")


def test_diff_fix_calling_libc(tmp_path):
    cflags, ldflags = hardening()
    assert "-fstack-protector-strong" in cflags and any(f.startswith("-D_FORTIFY_SOURCE") for f in cflags)
    proj = Project(tmp_path / "proj", {"lookup.c": LOOKUP_C, "main.c": MAIN_C}, cflags=cflags + ["-pthread"],
                   ldflags=["-pthread", *ldflags])
    undef = run("nm", "-D", "--undefined-only", proj.exe).stdout
    for f in ("strlen", "memcmp", "snprintf", "__snprintf_chk"):
        assert not re.search(rf"\b{f}\b", undef), undef
    r, payload = proj.diff(proj.patch("fix", {"lookup.c": FIXED_C}))
    assert replaced(payload) == ["check"], r.err
    for f in ("strlen", "memcmp", "__snprintf_chk"):
        assert f"import {f} " in r.err, r.err
    b = payload.read_bytes()
    assert int.from_bytes(b[8:12], "little") == 3 and int.from_bytes(b[40:44], "little") >= 3

    hp, env = signed(tmp_path, payload, "prog")
    p = subprocess.Popen([str(proj.exe)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)

    def ask(n, word):
        p.stdin.write(f"{n} {word}\n")
        p.stdin.flush()
        return [int(v) for v in p.stdout.readline().split()]

    try:
        assert p.stdout.readline().strip() == "ready"
        assert ask(21, "hotpatch")[0] == 42
        for _ in range(3):  # under load (two threads calling check), apply and revert
            r = run(HPM, "apply", "--pid", p.pid, hp, env=env, timeout=60)
            assert "1 process(es) patched" in r.stdout, r
            assert ask(21, "hotpatch")[0] == 1042 and ask(21, "other")[0] == 42
            run(HPM, "revert", "--all", "--pid", p.pid, env=env, timeout=60)
            assert ask(21, "hotpatch")[0] == 42
        res, ok, bad = ask(1, "x")
        assert ok > 0 and bad == 0, (ok, bad)
    finally:
        p.stdin.write("quit\n")
        p.stdin.flush()
        assert p.wait(timeout=10) == 0
