# SPDX-License-Identifier: MIT
"""tinyproxy 1.11.1-2.1+deb12u1 (Debian 12) as its .deb ships it: the
stripped /usr/bin/tinyproxy plus its -dbgsym debug file, both built here
with dpkg-buildpackage from the source package. Fix: upstream 3c0fde9
"reqs: fix integer overflow in port number processing" (#586): a request
for http://127.0.0.1:<65536+P>/ reaches port P (the port wraps, so e.g. a
port-based filter is bypassed); fixed, such a port is refused as no port and
the default one is used. The changed function strip_return_port exists only
inlined into extract_url: the diff engine must replace extract_url."""
from realprog import (PATCHES, WORK, Backend, Daemon, Load, ab, ab_counts, bear, built, free_port, http_raw,
                      patchgen, run, shutdown)

NAME = "tinyproxy"
VERSION = "1.11.1-2.1+deb12u1"
DSC = f"tinyproxy_{VERSION}.dsc"


def build(src):
    bear(WORK / NAME / "compile_commands.json", "dpkg-buildpackage", "-b", "-uc", "-us", cwd=src)
    root = WORK / NAME / "root"
    for deb in (f"tinyproxy-bin_{VERSION}_amd64.deb", f"tinyproxy-bin-dbgsym_{VERSION}_amd64.deb"):
        run("dpkg-deb", "-x", WORK / NAME / deb, root)


def proxied(port, target_port):
    return http_raw(port, f"GET http://127.0.0.1:{target_port}/ HTTP/1.0\r\n\r\n".encode())


def test_tinyproxy_port_overflow(tmp_path, signer, backend):
    src = built(NAME, DSC, build)
    root = WORK / NAME / "root"
    exe = root / "usr" / "bin" / "tinyproxy"
    assert ".symtab" not in run("readelf", "-SW", exe).stdout  # stripped, as shipped
    r = patchgen(exe, src, WORK / NAME / "compile_commands.json", PATCHES / "tinyproxy-port-overflow.patch", tmp_path / "fix.payload",
                 extra=["--debug-dir", root / "usr" / "lib" / "debug"])
    assert "symbols of" in r.stderr and ".debug" in r.stderr, r.stderr  # found through the build-id
    assert "extract_url (" in r.stderr and "carries the inlined code of" in r.stderr, r.stderr
    assert "strip_return_port" in r.stderr.split("extract_url (", 1)[1], r.stderr
    hp = signer.hotpatch("KB-TINYPROXY-586", "tinyproxy", tmp_path / "fix.payload")

    port = free_port()
    conf = tmp_path / "tinyproxy.conf"
    conf.write_text(f"Port {port}\nListen 127.0.0.1\nTimeout 30\nMaxClients 200\nAllow 127.0.0.1\nLogLevel Critical\n")
    d = Daemon([exe, "-d", "-c", conf], port, cwd=tmp_path)
    load = None
    try:
        wrapped = backend.port + 65536
        assert Backend.MARK in proxied(port, backend.port)
        assert Backend.MARK in proxied(port, wrapped)  # the bug: port 65536+P reaches P
        load = Load(ab(f"http://127.0.0.1:{backend.port}/", proxy=f"127.0.0.1:{port}"), ab_counts)
        load.wait_some()
        signer.apply(d.pid, hp)
        load.wait_some()
        out = proxied(port, wrapped)
        assert Backend.MARK not in out and out.startswith(b"HTTP/1.0 "), out[:200]  # fixed: not forwarded to P
        assert Backend.MARK in proxied(port, backend.port)  # valid ports still work
        signer.revert(d.pid)
        load.wait_some()
        assert Backend.MARK in proxied(port, wrapped)  # the old code again
        load.check("tinyproxy: requests through the proxy")
    finally:
        shutdown(load, d, NAME)
