# SPDX-License-Identifier: MIT
"""rinetd 0.73-1 (Debian 12), built by the package's debian/rules
(`dh --with autoreconf`). Fix: upstream d4e0a60 "Fix a parsing bug in the
rules that would ignore the very first rule" (#23): a forwarding whose
first allow/deny rule is the first rule of the file loses it, so `deny
127.0.0.2` below is ignored. The rules are read at start and on SIGHUP: with
the hotpatch applied, a reload reads them right, in the same process."""
import signal

from realprog import (PATCHES, WORK, Backend, Daemon, Load, ab, ab_counts, bear, built, free_port, http_raw,
                      patchgen, shutdown)

NAME = "rinetd"
DSC = "rinetd_0.73-1.dsc"


def build(src):
    bear(WORK / NAME / "compile_commands.json", "debian/rules", "build", cwd=src)


def get(port, src_addr):
    return http_raw(port, b"GET / HTTP/1.0\r\n\r\n", src=src_addr)


def reload(d, port):
    d.signal(signal.SIGHUP)
    # the reload closes and reopens the listeners: wait until the forward answers again
    for _ in range(200):
        try:
            if Backend.MARK in get(port, "127.0.0.1"):
                return
        except OSError:
            pass
    raise AssertionError("rinetd does not forward after SIGHUP")


def test_rinetd_first_rule(tmp_path, signer, backend):
    src = built(NAME, DSC, build)
    exe = src / "rinetd"
    r = patchgen(exe, src, WORK / NAME / "compile_commands.json", PATCHES / "rinetd-first-rule.patch",
                 tmp_path / "fix.payload")
    assert "yy_1_auth_rule (" in r.stderr and "1 changed function(s)" in r.stderr, r.stderr
    hp = signer.hotpatch("KB-RINETD-23", "rinetd", tmp_path / "fix.payload")

    port, other = free_port(), free_port()
    conf = tmp_path / "rinetd.conf"
    conf.write_text(f"127.0.0.1 {port} 127.0.0.1 {backend.port}\ndeny 127.0.0.2\nallow 127.0.0.*\n"
                    f"127.0.0.1 {other} 127.0.0.1 {backend.port}\nallow 127.0.0.*\n")
    d = Daemon([exe, "-f", "-c", conf], port, cwd=tmp_path)
    load = None
    try:
        assert Backend.MARK in get(port, "127.0.0.2")  # the bug: the deny rule is ignored
        # the load runs across the apply and the revert; not across rinetd's own
        # reload, which closes every listener and resets the connections in flight
        # (with or without a hotpatch)
        load = Load(ab(f"http://127.0.0.1:{other}/"), ab_counts)
        load.wait_some()
        signer.apply(d.pid, hp)
        load.wait_some()
        load.check("rinetd: requests forwarded across the apply")
        reload(d, port)
        assert get(port, "127.0.0.2") == b""  # fixed: refused (closed without an answer)
        assert Backend.MARK in get(port, "127.0.0.1")
        load = Load(ab(f"http://127.0.0.1:{other}/"), ab_counts)
        load.wait_some()
        signer.revert(d.pid)
        load.wait_some()
        load.check("rinetd: requests forwarded across the revert")
        reload(d, port)
        assert Backend.MARK in get(port, "127.0.0.2")  # the old parser again
    finally:
        shutdown(load, d, NAME)
