# SPDX-License-Identifier: MIT
"""Shadow variables (tools/hpm-patchgen/hpm_shadow.h): a fix that needs new
per-object state, built by `hpm-patchgen diff` (the one new writable variable
it lets in is the shadow table) and applied to a running server: each
connection gets its own counter, freed on reset; revert brings the old
behaviour back.  The same change with a plain new static variable is refused."""
import subprocess
from pathlib import Path

from hpmtest import HPM, REFUSED, run
from project import Project, replaced, signed

SHADOW_H = (Path(__file__).resolve().parents[2] / "tools" / "hpm-patchgen" / "hpm_shadow.h").read_text()
CONN_H = "struct conn { int id; long served; };\nint handle(struct conn *c, int x);\n"
# handle calls into libc (like any real handler), so the register-use check
# sees the original clobbering every call-clobbered register already
CONN_C = """#include <stdio.h>
#include "conn.h"
int handle(struct conn *c, int x) {
  if (++c->served % 1000 == 0) fflush(stdout);
  return x * 2;
}
"""
FIXED = """#include <stdio.h>
#include "conn.h"
#include "hpm_shadow.h"
#define STRIKES 1
struct strikes { int n; };
int handle(struct conn *c, int x) {
  if (++c->served % 1000 == 0) fflush(stdout);
  if (x == 0) { hpm_shadow_free(c, STRIKES); return 0; }
  if (x < 0) {
    struct strikes *s = hpm_shadow_get_or_alloc(c, STRIKES, sizeof *s);
    if (!s || ++s->n > 3) return -1;
  }
  return x * 2;
}
"""
MAIN_C = """#include <stdio.h>
#include "conn.h"
static struct conn conns[8];
int main(void) {
  char line[64];
  int id, x;
  puts("ready");
  fflush(stdout);
  while (fgets(line, sizeof line, stdin) && sscanf(line, "%d %d", &id, &x) == 2) {
    printf("%d\\n", handle(&conns[id & 7], x));
    fflush(stdout);
  }
  return 0;
}
"""


def ask(p, conn, x):
    p.stdin.write(f"{conn} {x}\n")
    p.stdin.flush()
    return int(p.stdout.readline())


def test_shadow_variable_per_connection(tmp_path):
    proj = Project(tmp_path / "proj", {"conn.h": CONN_H, "conn.c": CONN_C, "main.c": MAIN_C})
    plain = FIXED.replace('#include "hpm_shadow.h"\n', "static int strikes_all;\n").replace(
        "struct strikes *s = hpm_shadow_get_or_alloc(c, STRIKES, sizeof *s);\n    if (!s || ++s->n > 3)",
        "if (++strikes_all > 3)")
    r, _ = proj.diff(proj.patch("plain", {"conn.c": plain}), out=tmp_path / "plain.payload", check=REFUSED)
    assert "refused [new-data]: conn.c: the patch adds the writable variable 'strikes_all'" in r.err, r.err
    assert "shadow variables (hpm_shadow.h)" in r.err

    r, payload = proj.diff(proj.patch("fix", {"conn.c": FIXED, "hpm_shadow.h": SHADOW_H}))
    assert replaced(payload) == ["handle"], r.err
    hp, env = signed(tmp_path, payload)
    p = subprocess.Popen([str(proj.exe)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "ready"
        assert [ask(p, 1, -1) for _ in range(5)] == [-2] * 5  # the bug: no limit
        run(HPM, "apply", "--pid", p.pid, hp, env=env, timeout=60)
        assert [ask(p, 1, -1) for _ in range(4)] == [-2, -2, -2, -1]  # conn 1's own counter
        assert [ask(p, 2, -1) for _ in range(3)] == [-2, -2, -2]  # conn 2 has another
        assert ask(p, 1, 5) == 10 and ask(p, 1, -1) == -1
        assert ask(p, 1, 0) == 0 and ask(p, 1, -1) == -2  # freed on reset: a new, zeroed one
        assert ask(p, 2, -1) == -1
        for k in range(3, 8):  # many objects, each its own
            assert [ask(p, k, -1) for _ in range(4)] == [-2, -2, -2, -1]
        run(HPM, "revert", "--all", "--pid", p.pid, env=env, timeout=60)
        assert ask(p, 1, -1) == -2 and ask(p, 2, -1) == -2
    finally:
        p.stdin.close()
        assert p.wait(timeout=10) == 0
