# SPDX-License-Identifier: MIT
"""Fixtures shared by the lifecycle tests (helpers: tests/hpmtest.py):

  make_host   the class Host: a fake booted host (efivarfs directory with
              what hpmboot.efi publishes, an ESP folder, a trust store),
              whose records are decoded here independently of core, from
              docs/boot-interface.md;
  serve       serve(root) starts a loopback HTTP server of the folder root
              (Range requests, fault modes: Server), stopped after the test.
"""
import http.server
import socket
import struct
import sys
import threading
import zlib
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: hpmtest
from hpmtest import GUID, OK, hpm  # noqa: E402

ZERO = "0" * 64


# ---- a fake booted host ----------------------------------------------------------


class Host:
    """A fake booted host: efivars directory, ESP folder, trust store."""

    def __init__(self, root, release_pub):
        self.root = root
        self.ev = root / "efivars"
        self.esp = root / "esp"
        self.hpmdir = self.esp / "EFI" / "hpm"
        self.trust = root / "trust"
        for d in (self.ev, self.hpmdir, self.trust):
            d.mkdir(parents=True)
        (self.trust / "release.pub").write_bytes(Path(release_pub).read_bytes())
        # What hpm runs with on this host (on top of the test's environment).
        self.env = {"HPM_EFIVARS": str(self.ev), "HPM_ESP": str(self.esp),
                    "HPM_TRUST_DIR": str(self.trust), "HPM_STATE_DIR": str(root / "state")}

    def hpm(self, *args, env=None, check=OK, **kw):
        """hpm on this host; env adds to (or, None values, removes from) self.env."""
        return hpm(*args, env=dict(self.env, **(env or {})), check=check, **kw)

    def path(self, name):
        return self.ev / f"{name}-{GUID}"

    def setvar(self, name, value, attr=6):
        if isinstance(value, str):
            value = value.encode()
        self.path(name).write_bytes(struct.pack("<I", attr) + value)

    def getvar(self, name):
        p = self.path(name)
        if not p.exists():
            return None
        b = p.read_bytes()
        return struct.unpack("<I", b[:4])[0], b[4:]

    def boot(self, active="a", baseline="ab" * 32, version="v1", svn=5, attempt=1, floor=0,
             seq=3, slots=None, reason="highest-priority slot, on trial", request=None):
        """Publish what hpmboot.efi would for one boot.  slots: letter ->
        (priority, tries, successful, svn, reason, baseline[, detail])."""
        slots = slots or {"a": (2, 2, 0, svn, "none", baseline),
                          "b": (1, 3, 0, 0, "none", ZERO)}
        lines = []
        for letter in "abcd":
            pr, tr, ok, sv, rs, bl, *det = slots.get(letter, (0, 0, 0, 0, "none", ZERO))
            extra = f" detail={det[0]}" if det else ""
            lines.append(f"{letter} priority={pr} tries={tr} successful={ok} svn={sv} reason={rs}"
                         f"{extra} baseline={bl}\n")
        for name, val in (("HpmBootSlot", active), ("HpmBootBaseline", baseline),
                          ("HpmBootVersion", version), ("HpmBootSvn", str(svn)),
                          ("HpmBootAttempt", str(attempt)), ("HpmBootReason", reason),
                          ("HpmBootFloor", str(floor)), ("HpmBootStateSeq", str(seq)),
                          ("HpmBootSlots", "".join(lines))):
            self.setvar(name, val)
        if request:
            self.setvar("HpmBootRequest", request)

    def slotreq(self):
        """Decode HpmSlotRequest per docs/boot-interface.md."""
        v = self.getvar("HpmSlotRequest")
        if v is None:
            return None
        attr, b = v
        assert attr == 7, "requests are NV+BS+RT"
        magic, version, n, rsv, seq = struct.unpack_from("<4sHBBQ", b, 0)
        assert (magic, version, rsv) == (b"HPMR", 1, 0)
        assert len(b) == 20 + 8 * n
        assert struct.unpack_from("<I", b, 16 + 8 * n)[0] == zlib.crc32(b[:16 + 8 * n])
        entries = [struct.unpack_from("<BBBBB3s", b, 16 + 8 * i) for i in range(n)]
        assert all(e[5] == b"\0\0\0" for e in entries)
        return seq, [e[:5] for e in entries]

    def tree(self):
        return {p.name: p.read_bytes() for p in self.hpmdir.iterdir()}


@pytest.fixture
def make_host():
    return Host


# ---- the HTTP server ---------------------------------------------------------------


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):  # quiet
        pass

    def do_GET(self):
        srv = self.server
        rel = self.path.lstrip("/")
        rng = self.headers.get("Range")
        srv.log.append((rel, rng))
        f = (srv.root / rel).resolve()
        if not str(f).startswith(str(srv.root.resolve())) or not f.is_file():
            self.send_error(404)
            return
        body = f.read_bytes()
        mode = srv.modes.get(rel)
        if mode == "oversize":
            body = body + b"\0" * 4096
        elif mode == "corrupt":
            body = body[:-1] + bytes([body[-1] ^ 1])
        start = 0
        if rng and not srv.ignore_range:
            assert rng.startswith("bytes=") and rng.endswith("-"), rng
            start = int(rng[6:-1])
        drop = mode == "drop" and srv.drops.get(rel, 0) > 0 and not rng
        drop = drop or (mode == "drop-all" and srv.drops.get(rel, 0) > 0)
        if drop:
            srv.drops[rel] -= 1
        if start:
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        part = body[start:]
        self.send_header("Content-Length", str(len(part)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        if drop:
            # Half the body, then the connection goes away.
            self.wfile.write(part[: len(part) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        self.wfile.write(part)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root):
        super().__init__(("127.0.0.1", 0), Handler)
        self.root = root
        self.log = []
        self.modes = {}
        self.drops = {}
        self.ignore_range = False

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def serve():
    servers = []

    def start(root):
        s = Server(root)
        threading.Thread(target=s.serve_forever, daemon=True).start()
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.shutdown()
        s.server_close()
