# SPDX-License-Identifier: MIT
"""Imports (docs/hotpatch-payload.md, version 3): patch code compiled with
Debian's hardening flags calls shared-library functions the target binary
does not import (strlen, memcmp, __snprintf_chk, __stack_chk_fail); hpm
resolves them in each process through its own loaded objects and symbol
versions, refuses a process that lacks one, and says so on --dry-run."""
import re
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from hpmtest import PATCHGEN, run
from workspace import HERE

SRC = HERE / "src"


def hardening_flags():
    """Debian's build flags (dpkg-buildflags), as a package build gets them."""
    if not shutil.which("dpkg-buildflags"):
        pytest.skip("dpkg-buildflags (dpkg-dev) is not installed")
    get = lambda what: subprocess.run(["dpkg-buildflags", "--get", what], capture_output=True, text=True,  # noqa: E731
                                      check=True).stdout.strip()
    flags = f"{get('CFLAGS')} {get('CPPFLAGS')}"
    for f in ("-fstack-protector-strong", "-D_FORTIFY_SOURCE="):
        assert f in flags, flags
    return flags + " -fcf-protection"


class ImpTarget:
    """A running imptarget: workers call score() in tight loops."""

    def __init__(self, exe, env=None):
        self.p = subprocess.Popen([str(exe), "3"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                  bufsize=1, env=env)
        assert self.p.stdout.readline().startswith("ready")
        self.pid = self.p.pid

    def stats(self):
        self.p.stdin.write("stats\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        assert line.startswith("ok="), f"target died or said {line!r} (rc {self.p.poll()})"
        return {k: int(v) for k, v in (kv.split("=") for kv in line.split())}

    def score(self, x):
        self.p.stdin.write(f"x {x}\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        assert line.startswith("score="), line
        return int(line.split("=")[1])

    def version(self):
        before = self.stats()["ok"]
        while True:  # a result computed after this call
            s = self.stats()
            if s["ok"] > before + 1000:
                assert s["err"] == 0, s
                return s["version"]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.p.stdin.write("quit\n")
        self.p.stdin.flush()
        assert self.p.wait(timeout=10) == 0


@pytest.fixture(scope="module")
def imp(ws):
    d = ws.d / "imports"
    d.mkdir(exist_ok=True)
    exe = d / "imptarget"
    # no stack protector and no string function of libc in the target itself
    run("gcc", "-O2", "-g", "-pthread", "-fno-stack-protector", "-fpatchable-function-entry=16,14",
        "-Wl,--build-id", SRC / "imptarget.c", "-o", exe)
    undef = run("nm", "-D", "--undefined-only", exe).stdout
    for f in ("strlen", "memcmp", "snprintf", "__snprintf_chk", "__stack_chk_fail", "imp_value"):
        assert not re.search(rf"\b{f}\b", undef), f"{exe} imports {f}: the test would prove nothing\n{undef}"
    lib = d / "libimpver.so"
    run("gcc", "-shared", "-fPIC", "-O2", f"-Wl,--version-script={SRC / 'impver.map'}", SRC / "impver.c", "-o", lib)
    (d / "map").write_text("score=score_v\n")
    return {"d": d, "exe": exe, "lib": lib, "flags": hardening_flags()}


def payload(ws, imp, src, name, *extra):
    out = imp["d"] / name
    r = run(PATCHGEN, "--target", imp["exe"], "--map", imp["d"] / "map", "--source", src,
            "--cflags", imp["flags"] + "".join(" " + e for e in extra), "--out", out)
    return out, r.stderr


def test_libc_imports_under_load(ws, state, imp):
    p, said = payload(ws, imp, SRC / "impfix.c", "libc.bin")
    for sym in ("strlen", "memcmp", "__snprintf_chk", "__stack_chk_fail", "realpath@GLIBC_2.2.5", "memcpy",
                "__chk_fail"):
        assert f"import {sym} " in said, said
    assert "__memcpy_chk: a shim in the image" in said, said
    h = ws.hotpatch([p], 1, name="imp-libc.hpm")
    with ImpTarget(imp["exe"]) as t:
        assert t.version() == 0
        dry = ws.hpm(state, "apply", "--dry-run", "--pid", t.pid, h)
        assert "1 functions, 1 call sites, 7 imports" in dry.stdout, dry.stdout
        # a non-default version is resolved to that version, not the default
        libc = {m.group(1): int(m.group(2), 16) for m in
                re.finditer(r"import (\S+) = 0x([0-9a-f]+) in (\S+libc\.so\.6)", dry.stdout)}
        path = re.search(r"import realpath@GLIBC_2.2.5 = 0x[0-9a-f]+ in (\S+)", dry.stdout).group(1)
        syms = run("readelf", "-sW", "--dyn-syms", path).stdout
        old = int(re.search(r"([0-9a-f]+)\s+\d+\s+FUNC\s+\w+\s+\w+\s+\d+ realpath@GLIBC_2\.2\.5\b", syms).group(1), 16)
        base = min(int(ln.split("-")[0], 16) for ln in Path(f"/proc/{t.pid}/maps").read_text().splitlines()
                   if ln.endswith(path) and ln.split()[2] == "00000000")
        assert libc["realpath@GLIBC_2.2.5"] == base + old, (hex(libc["realpath@GLIBC_2.2.5"]), hex(base + old))
        # under load: apply and revert three times while the workers check every result
        for _ in range(3):
            r = ws.hpm(state, "apply", "--pid", t.pid, h)
            assert "1 process(es) patched" in r.stdout, r
            assert t.version() == 3
            ws.hpm(state, "revert", "--all", "--pid", t.pid)
            assert t.version() == 0
        assert t.stats()["err"] == 0


def test_checked_copy_overflow_aborts(ws, state, imp):
    """The __memcpy_chk shim checks the size: an overflow ends in __chk_fail."""
    p, _ = payload(ws, imp, SRC / "impfix.c", "libc.bin")
    h = ws.hotpatch([p], 1, name="imp-libc.hpm")
    t = ImpTarget(imp["exe"])
    r = ws.hpm(state, "apply", "--pid", t.pid, h)
    assert "1 process(es) patched" in r.stdout, r
    assert t.score(5) == 16 + 3000000
    t.p.stdin.write("x -777\n")
    t.p.stdin.flush()
    assert t.p.wait(timeout=10) == -6  # SIGABRT from __chk_fail ("buffer overflow detected")


def test_library_versions_and_refusal(ws, state, imp):
    p, said = payload(ws, imp, SRC / "impfixlib.c", "lib.bin")
    assert "import imp_value (" in said and "import imp_value@V1 " in said, said
    h = ws.hotpatch([p], 2, name="imp-lib.hpm")
    env = dict(__import__("os").environ, LD_PRELOAD=str(imp["lib"]))
    with ImpTarget(imp["exe"], env=env) as with_lib, ImpTarget(imp["exe"]) as without:
        # the process without the library is refused, named, and nothing changes in it
        dry = ws.hpm(state, "apply", "--dry-run", "--pid", with_lib.pid, "--pid", without.pid, h, check=None)
        assert f"would patch pid {with_lib.pid}" in dry.stdout, dry
        assert re.search(rf"would refuse pid {without.pid} .*import 'imp_value' is not defined by any object", dry.stderr), dry
        r = ws.hpm(state, "apply", "--pid", with_lib.pid, "--pid", without.pid, h, check=None)
        assert r.returncode != 0, r
        assert re.search(rf"pid {without.pid} .*refused: import 'imp_value' is not defined", r.stderr), r
        assert "1 process(es) patched" in r.stdout, r
        assert with_lib.version() == 21  # imp_value -> V2 (2), imp_value@V1 -> V1 (1)
        assert without.version() == 0
        ws.hpm(state, "revert", "--all", "--pid", with_lib.pid)
        assert with_lib.version() == 0


def test_missing_version_refused(ws, state, imp):
    src = imp["d"] / "badver.c"
    src.write_text("int imp_value_x(void);\n__asm__(\".symver imp_value_x, imp_value@V9\");\n"
                   "long score_v(const char *s, int x) { return s[0] ? x * 3 + 1 + imp_value_x() * 0L : -1; }\n")
    p, said = payload(ws, imp, src, "badver.bin")
    assert "import imp_value@V9" in said, said
    h = ws.hotpatch([p], 3, name="imp-badver.hpm")
    env = dict(__import__("os").environ, LD_PRELOAD=str(imp["lib"]))
    with ImpTarget(imp["exe"], env=env) as t:
        r = ws.hpm(state, "apply", "--pid", t.pid, h, check=None)
        assert "import 'imp_value@V9' is not defined" in r.stderr and r.returncode != 0, r
        assert t.version() == 0
