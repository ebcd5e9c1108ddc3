# SPDX-License-Identifier: MIT
"""Truth in reporting, end to end: `hpm apply --dry-run` says per process and
function how calls reach the new code (entry redirect, direct call sites
rewritten, inlined copies covered or not, from the payload), and a hotpatch
of a shared library warns about processes that do not run that library's
copy: the program exports its own (interposition), carries its own (a
vendored copy), or another object's definition is what the library's GOT
slot holds (an LD_PRELOADed library)."""
import json
import os
import subprocess

import pytest

from hpmtest import HPM, PATCHGEN, run
from project import Project, pg_json, signed

LIB_C = """__attribute__((noinline)) int foo_calc(int x) { return (x * 3 + 1) ^ (x >> 2) ^ (x << 5); }
int foo_entry(int x) { return foo_calc(x) + 1; }
"""
SERVE = """#include <stdio.h>
#include <stdlib.h>
int foo_entry(int);
%s
int main(void) {
  char line[64];
  printf("ready %%d\\n", foo_entry(1));
  fflush(stdout);
  while (fgets(line, sizeof line, stdin)) {
    printf("%%d\\n", foo_entry(atoi(line)));
    fflush(stdout);
  }
  return 0;
}
"""
PROGRAMS = {
    "uses": "",
    "exports": "int foo_calc(int x) { return x + 40; }",
    "vendors": "__attribute__((noinline, used)) static int foo_calc(int x) { return x + 41; }\n"
               "int vendored(int x) { return foo_calc(x); }",
}
PRELOAD_C = "int foo_calc(int x) { return x + 42; }\n"


def start(argv, env=None):
    p = subprocess.Popen([str(a) for a in argv], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                         env={**os.environ, **(env or {})})
    assert p.stdout.readline().startswith("ready"), argv
    return p


def dry_run(hp, env, pid):
    r = run(HPM, "apply", "--dry-run", "--json", "--pid", pid, hp, env=env, timeout=60)
    doc = json.loads(r.stdout)
    assert doc["dry_run"] and len(doc["would_patch"]) == 1, doc
    return r, doc["would_patch"][0]


def test_library_hotpatch_warns_when_the_process_does_not_run_the_librarys_copy(tmp_path):
    d = tmp_path
    (d / "libfoo.c").write_text(LIB_C)
    run("gcc", "-O2", "-g", "-fPIC", "-shared", "-Wl,-z,now", "-Wl,--build-id", "-o", d / "libfoo.so", d / "libfoo.c")
    (d / "preload.c").write_text(PRELOAD_C)
    run("gcc", "-O2", "-fPIC", "-shared", "-o", d / "libpre.so", d / "preload.c")
    for name, extra in PROGRAMS.items():
        (d / f"{name}.c").write_text(SERVE % extra)
        run("gcc", "-O2", "-g", "-o", d / name, d / f"{name}.c", f"-L{d}", "-lfoo", f"-Wl,-rpath,{d}")
    (d / "map").write_text("foo_calc=foo_calc_v\n")
    (d / "fix.c").write_text("int foo_calc_v(int x) { return (x * 3 + 2) ^ (x >> 2) ^ (x << 5); }\n")
    r = run(PATCHGEN, "--target", d / "libfoo.so", "--map", d / "map", "--source", d / "fix.c",
            "--out", d / "fix.payload", "--json")
    assert pg_json(r)["functions"][0]["name"] == "foo_calc"
    hp, env = signed(d, d / "fix.payload")
    lib = str(d / "libfoo.so")
    procs = {name: start([d / name]) for name in PROGRAMS}
    procs["preload"] = start([d / "uses"], env={"LD_PRELOAD": str(d / "libpre.so")})
    try:
        said = {}
        for name, p in procs.items():
            r, proc = dry_run(hp, env, p.pid)
            assert proc["exe"] == lib and proc["functions"][0]["name"] == "foo_calc", proc
            said[name] = proc["warnings"]
            assert r.stderr.count("warning: ") == len(proc["warnings"]), r.stderr
        assert said["uses"] == [], said
        assert said["exports"] == [f"{d / 'exports'} exports its own 'foo_calc', which interposes the one of {lib}: "
                                   "calls bind to the program's copy, which this hotpatch does not change"], said
        assert said["vendors"] == [f"{d / 'vendors'} carries its own copy of 'foo_calc' (a function of that name in "
                                   f"its symbol table): its calls run that copy, not the one of {lib} this hotpatch "
                                   "changes"], said
        assert len(said["preload"]) == 1 and said["preload"][0].startswith(
            f"'foo_calc' of {lib} is interposed: {lib} binds to {d / 'libpre.so'}"), said
        # the text form says the same, and a real apply warns too (and still patches)
        r = run(HPM, "apply", "--dry-run", "--pid", procs["exports"].pid, hp, env=env, timeout=60)
        assert f"would patch pid {procs['exports'].pid} ({lib}): 1 functions, 0 call sites" in r.stdout, r
        assert "  foo_calc: entry redirect (" in r.stdout and "0 direct call site(s) rewritten" in r.stdout, r
        assert f"warning: pid {procs['exports'].pid} ({lib}): {d / 'exports'} exports its own 'foo_calc'" in r.stderr
        r = run(HPM, "apply", "--pid", procs["preload"].pid, hp, env=env, timeout=60)
        assert "1 process(es) patched" in r.stdout and "is interposed" in r.stderr, r
    finally:
        for p in procs.values():
            p.stdin.close()
            p.wait(timeout=10)


K_C = """int sq(int x) { return (x * x + 1) ^ (x >> 3) ^ (x << 4); }
int hold(int x) { return sq(x + 1) + 3; }
"""
K_MAIN = SERVE.replace("int foo_entry(int);", "int hold(int);").replace("foo_entry(", "hold(") % ""


@pytest.mark.parametrize("mapped", ["sq", "sq+hold"])
def test_dry_run_says_how_each_function_is_reached(tmp_path, mapped):
    """sq is also inlined into hold: mapped alone, the dry run says its inlined copy is NOT
    replaced; mapped with hold, that the copy is inside a function the hotpatch replaces."""
    p = Project(tmp_path / "p", {"k.c": K_C, "main.c": K_MAIN})
    (tmp_path / "fix.c").write_text("int sq_v(int x) { return (x * x + 2) ^ (x >> 3) ^ (x << 4); }\n"
                                    "int hold_v(int x) { return sq_v(x + 1) + 3; }\n")
    (tmp_path / "map").write_text("sq=sq_v\n" + ("hold=hold_v\n" if "hold" in mapped else ""))
    run(PATCHGEN, "--target", p.exe, "--map", tmp_path / "map", "--source", tmp_path / "fix.c",
        "--out", tmp_path / "fix.payload")
    hp, env = signed(tmp_path, tmp_path / "fix.payload")
    proc = start([p.exe])
    try:
        _, would = dry_run(hp, env, proc.pid)
        fns = {f["name"]: f for f in would["functions"]}
        r = run(HPM, "apply", "--dry-run", "--pid", proc.pid, hp, env=env, timeout=60)
        if mapped == "sq":
            assert fns["sq"]["inlined_not_covered"] == 1 and fns["sq"]["inlined_covered"] == 0, fns
            assert "  sq: entry redirect (" in r.stdout and \
                "; 1 inlined copy NOT replaced (their callers keep the old code)" in r.stdout, r
        else:
            assert fns["sq"]["inlined_covered"] == 1 and fns["sq"]["inlined_not_covered"] == 0, fns
            assert "; 1 inlined copy, inside functions this hotpatch replaces" in r.stdout, r
        assert would["warnings"] == []
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)
