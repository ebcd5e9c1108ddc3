# SPDX-License-Identifier: MIT
"""Real Debian programs built the Debian way, hotpatched from an upstream
fix under load (docs/hotpatch-authoring.md, "Worked examples").

The pinned source packages (.dsc and the files it lists) are fetched into
.deps/dl by scripts/deps.sh; each program is unpacked with dpkg-source and
built once into $(B)/realprog/<name> (a stamp records the .dsc it came from,
so a rebuilt tree is never mixed with an old one), with `bear` recording the
compile database of that build."""
import http.server
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

from hpmtest import BUILD, DEPS, HPM, PATCHGEN, SOURCE_DATE_EPOCH, digest, keygen, make_baseline, run, sign

HERE = Path(__file__).resolve().parent
PATCHES = HERE / "patches"
DL = DEPS / "dl"
WORK = BUILD / "realprog"
# Debian's own build: both cores, no test suite (the programs' own tests are
# not what this suite checks), no signing of the result.
DEB_ENV = {"DEB_BUILD_OPTIONS": "nocheck parallel=2", "LC_ALL": "C.UTF-8"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unpacked(name, dsc):
    """WORK/name/src: the source package DL/dsc unpacked (dpkg-source checks
    every file against the .dsc's checksums), rebuilt when the .dsc differs."""
    d = WORK / name
    stamp = d / "unpacked"
    dscp = DL / dsc
    assert dscp.exists(), f"{dscp} missing: run `make deps` (scripts/deps.sh fetches the pinned source packages)"
    if stamp.exists() and stamp.read_text() == dsc:
        return d / "src"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    run("dpkg-source", "-x", dscp, d / "src", timeout=300)
    stamp.write_text(dsc)
    return d / "src"


def built(name, dsc, build):
    """Runs build(src) once per unpacked tree; returns src."""
    src = unpacked(name, dsc)
    stamp = WORK / name / "built"
    if not stamp.exists():
        build(src)
        stamp.write_text(dsc)
    return src


def bear(db, *cmd, cwd, env=None, timeout=900):
    """cmd under bear (Debian's compile-database recorder): db is the
    compile_commands.json of exactly that build."""
    return run("bear", "--output", db, "--", *cmd, cwd=cwd, env={**DEB_ENV, **(env or {})}, timeout=timeout)


def patchgen(binary, src, db, patch, out, extra=()):
    """hpm-patchgen diff of one upstream patch; its stderr is the report."""
    return run(PATCHGEN, "diff", "--binary", binary, "--source", src, "--compile-db", db, "--patch", patch,
               "--out", out, *extra, timeout=300)


class Signer:
    """A release key, the trust dir hpm reads, and a baseline to sign hotpatches against."""

    def __init__(self, d: Path):
        self.d = d
        trust = d / "trust"
        trust.mkdir(parents=True)
        self.key = d / "k.pem"
        keygen(self.key, trust / "k.pub")
        (d / "kern").write_bytes(os.urandom(512))
        make_baseline(d / "base.hpm", self.key, d / "kern", cmdline=None, version="1.0", svn=1)
        self.env = {"HPM_TRUST_DIR": trust, "HPM_STATE_DIR": d / "state", "HPM_BASELINE": digest(d / "base.hpm")}

    def hotpatch(self, kb, target, payload):
        hp = self.d / f"{kb}.hpm"
        sign("hotpatch", "--key", self.key, "--baseline", self.d / "base.hpm", "--seq", 1,
             "--classification", "security", "--id", kb, "--payload", f"{target}={payload}", "--out", hp,
             env={"SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH})
        return hp

    def apply(self, pid, hp):
        r = run(HPM, "apply", "--pid", pid, hp, env=self.env, timeout=120)
        assert "1 process(es) patched" in r.stdout, r
        return r

    def revert(self, pid):
        return run(HPM, "revert", "--all", "--pid", pid, env=self.env, timeout=120)


class Backend:
    """A loopback HTTP server whose every answer carries a marker."""
    MARK = b"hpm-realprog-backend"

    def __init__(self):
        mark = self.MARK

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Length", str(len(mark)))
                self.end_headers()
                self.wfile.write(mark)

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.srv.daemon_threads = True
        self.port = self.srv.server_address[1]
        self.t = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.t.start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


def http_raw(port, request: bytes, src="127.0.0.1", timeout=10):
    """Sends request to 127.0.0.1:port from address src; returns all it gets back."""
    with socket.socket() as s:
        s.bind((src, 0))
        s.settimeout(timeout)
        s.connect(("127.0.0.1", port))
        s.sendall(request)
        out = b""
        while True:
            try:
                c = s.recv(65536)
            except ConnectionResetError:
                break
            if not c:
                break
            out += c
        return out


class Load:
    """A load generator from Debian run back to back in a thread until
    stop(): parse(stdout) -> (done, failed) per run; a run that exits
    non-zero counts as failed too."""

    def __init__(self, cmd, parse):
        self.cmd, self.parse = [str(c) for c in cmd], parse
        self.runs = self.done = self.failed = 0
        self.errors = []
        self._stop = threading.Event()
        self.t = threading.Thread(target=self._loop, daemon=True)
        self.t.start()

    def _loop(self):
        while not self._stop.is_set():
            p = subprocess.run(self.cmd, capture_output=True, text=True, timeout=120)
            done, failed = self.parse(p.stdout)
            self.runs += 1
            self.done += done
            self.failed += failed
            if p.returncode or failed:
                self.failed += p.returncode != 0
                self.errors.append((p.returncode, p.stdout[-3000:], p.stderr[-3000:]))

    def wait_some(self, runs=2, timeout=60):
        end = time.time() + timeout
        target = self.runs + runs
        while self.runs < target and time.time() < end:
            time.sleep(0.05)
        assert self.runs >= target, "the load generator made no progress"

    def stop(self):
        self._stop.set()
        self.t.join(timeout=180)
        assert not self.t.is_alive()
        return self

    def check(self, what):
        """Stops the load; it must have run and seen no failure."""
        self.stop()
        assert self.failed == 0 and self.done > 0, (self.done, self.failed, self.errors[:2])
        print(f"{what}: {self.done} done in {self.runs} runs of the load generator, 0 failed")


def shutdown(load, daemon, name):
    """After a test: the load stopped, and the daemon still alive until stopped here."""
    if load:
        load.stop()
    assert daemon.stop(), f"{name} died"


def ab_counts(out):
    """(complete, failed) of an `ab` report: failed requests, non-2xx answers."""
    m = re.search(r"Complete requests:\s+(\d+)", out)
    f = re.search(r"Failed requests:\s+(\d+)", out)
    n = re.search(r"Non-2xx responses:\s+(\d+)", out)
    if not m or not f:
        return 0, 1
    return int(m.group(1)), int(f.group(1)) + (int(n.group(1)) if n else 0)


def ab(url, proxy=None, n=400, c=4):
    """ApacheBench (apache2-utils) against url, through proxy host:port if given."""
    return ["ab", "-q", "-n", n, "-c", c, "-s", 30, *(["-X", proxy] if proxy else []), url]


class Daemon:
    """A program started in the foreground, stopped by its pid."""

    def __init__(self, cmd, port, cwd=None, ready_timeout=30):
        self.log = open(Path(cwd or ".") / "daemon.log", "w") if cwd else subprocess.DEVNULL
        self.p = subprocess.Popen([str(c) for c in cmd], cwd=cwd, stdout=self.log, stderr=subprocess.STDOUT)
        self.pid = self.p.pid
        end = time.time() + ready_timeout
        while True:
            assert self.p.poll() is None, f"{cmd[0]} exited with {self.p.returncode}"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.time() < end, f"{cmd[0]} does not listen on {port}"
                time.sleep(0.05)

    def signal(self, sig):
        os.kill(self.pid, sig)

    def stop(self):
        alive = self.p.poll() is None
        if alive:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        if self.log is not subprocess.DEVNULL:
            self.log.close()
        return alive


def compile_db(db, keep=None):
    """The database bear wrote, with only the entries keep(entry) accepts."""
    entries = json.loads(Path(db).read_text())
    if keep:
        entries = [e for e in entries if keep(e)]
        Path(db).write_text(json.dumps(entries, indent=1))
    return entries
