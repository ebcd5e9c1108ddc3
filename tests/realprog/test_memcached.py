# SPDX-License-Identifier: MIT
"""memcached 1.6.18-1 (Debian 12), configured by the package's own
debian/rules (dpkg-buildflags' hardening=+all, --enable-sasl --enable-tls)
and built with `make memcached`. Fix: upstream ea92c6c01 "core: fix
incr/decr/ma failing in some conditions": safe_strtoull() looked for a '-'
with strchr() beyond the number, so `incr` of a value such as
"18446744073709551610 -" failed as non-numeric; the fix bounds the search
with memchr(), a libc call the patch code makes through the binary's PLT."""
import re
import socket

from realprog import (PATCHES, WORK, Daemon, Load, bear, built, compile_db, free_port, patchgen, run,
                      shutdown)

NAME = "memcached"
DSC = "memcached_1.6.18-1.dsc"
VALUE = b"18446744073709551610 -"


def build(src):
    env = {"DEB_BUILD_MAINT_OPTIONS": "hardening=+all"}
    run("debian/rules", "override_dh_auto_configure", cwd=src, env=env, timeout=600)
    bear(WORK / NAME / "compile_commands.json", "make", "-j2", "memcached", cwd=src, env=env)


class Client:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.f = self.s.makefile("rb")

    def cmd(self, line, data=None):
        self.s.sendall(line + b"\r\n" + (data + b"\r\n" if data is not None else b""))
        return self.f.readline().rstrip(b"\r\n")

    def incr_big(self):
        assert self.cmd(b"set big 0 0 %d" % len(VALUE), VALUE) == b"STORED"
        return self.cmd(b"incr big 1")


def memcaslap_counts(out):
    """(operations, errors) of a memcaslap report."""
    ops = [int(x) for x in re.findall(r"Ops: (\d+)", out)]
    bad = sum(1 for ln in out.splitlines() if "fail" in ln.lower() or "error" in ln.lower())
    return (ops[-1] if ops else 0), bad + (0 if ops else 1)


def test_memcached_incr_of_a_huge_value(tmp_path, signer):
    src = built(NAME, DSC, build)
    exe = src / "memcached"
    db = WORK / NAME / "compile_commands.json"
    units = compile_db(db)
    assert {e["file"].rsplit("/", 1)[-1] for e in units} >= {"util.c", "memcached.c"}
    args = " ".join(" ".join(e.get("arguments", [])) or e.get("command", "") for e in units)
    for flag in ("-fstack-protector-strong", "-D_FORTIFY_SOURCE=2", "-ffile-prefix-map="):  # dpkg-buildflags'
        assert flag in args, flag
    r = patchgen(exe, src, db, PATCHES / "memcached-incr-memchr.patch", tmp_path / "fix.payload")
    assert "memchr: called through the binary's PLT entry" in r.stderr, r.stderr
    for f in ("safe_strtoull", "safe_strtoull_hex", "safe_strtoul"):
        assert f"{f} (" in r.stderr, r.stderr
    hp = signer.hotpatch("KB-MEMCACHED-INCR", "memcached", tmp_path / "fix.payload")

    port = free_port()
    d = Daemon([exe, "-u", "root", "-l", "127.0.0.1", "-p", port, "-U", "0", "-t", "4", "-m", "64"], port,
               cwd=tmp_path)
    load = None
    try:
        c = Client(port)
        assert c.incr_big() == b"CLIENT_ERROR cannot increment or decrement non-numeric value"  # the bug
        load = Load(["memcaslap", "-s", f"127.0.0.1:{port}", "-T", "2", "-c", "8", "-t", "2s"], memcaslap_counts)
        load.wait_some(1)
        signer.apply(d.pid, hp)
        load.wait_some(1)
        assert c.incr_big() == b"18446744073709551611"  # fixed
        assert c.cmd(b"incr big x") == b"CLIENT_ERROR invalid numeric delta argument"
        signer.revert(d.pid)
        load.wait_some(1)
        assert c.incr_big() == b"CLIENT_ERROR cannot increment or decrement non-numeric value"
        load.check("memcached: memcaslap operations")
    finally:
        shutdown(load, d, NAME)
