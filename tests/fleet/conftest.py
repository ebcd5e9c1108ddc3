# SPDX-License-Identifier: MIT
"""Fixtures of the fleet tests (helpers: tests/hpmtest.py):

  etcd_cluster   a real 3-member etcd cluster (Debian's etcd 3.4) on
                 loopback, members m1..m3 with data directories under the
                 test's tmp_path, each run under `timeout`, on ports picked
                 free at start; stopped (by pid) after the test.  A test may
                 kill members (Cluster.kill) to see the client fail over.
  fake_member    fake_member(mode) starts a loopback HTTP server that plays
                 a member in trouble (FakeMember.MODES); stopped after the test.
"""
import http.server
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: hpmtest

ETCD = shutil.which("etcd") or "/usr/bin/etcd"
# A member never outlives this many seconds, even if the test run is killed.
LIFETIME = 300


def free_ports(n):
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


class Cluster:
    """Three etcd members on loopback; .endpoints is the client URL list."""

    def __init__(self, root, names=("m1", "m2", "m3")):
        self.root = root
        self.names = list(names)
        ports = free_ports(2 * len(names))
        self.client = {n: f"http://127.0.0.1:{ports[2 * i]}" for i, n in enumerate(names)}
        self.peer = {n: f"http://127.0.0.1:{ports[2 * i + 1]}" for i, n in enumerate(names)}
        self.procs = {}
        self.token = f"hpm-test-{os.getpid()}-{ports[0]}"

    @property
    def endpoints(self):
        return ",".join(self.client[n] for n in self.names)

    def start(self):
        for n in self.names:
            self._spawn(n)
        deadline = time.monotonic() + 30
        for n in self.names:
            while not self.healthy(n):
                if self.procs[n].poll() is not None:
                    raise RuntimeError(f"etcd {n} exited: {self.log(n)[-2000:]}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"etcd {n} not healthy after 30 s: {self.log(n)[-2000:]}")
                time.sleep(0.1)
        return self

    def restart(self, n):
        """Start killed member n again on its data directory (it rejoins)."""
        self._spawn(n)

    def _spawn(self, n):
        initial = ",".join(f"{m}={self.peer[m]}" for m in self.names)
        data = self.root / n
        log = open(self.root / f"{n}.log", "ab")
        self.procs[n] = subprocess.Popen(
            ["timeout", str(LIFETIME), ETCD, "--name", n, "--data-dir", str(data),
             "--listen-client-urls", self.client[n], "--advertise-client-urls", self.client[n],
             "--listen-peer-urls", self.peer[n], "--initial-advertise-peer-urls", self.peer[n],
             "--initial-cluster", initial, "--initial-cluster-token", self.token,
             "--initial-cluster-state", "new", "--heartbeat-interval", "100",
             "--election-timeout", "1000", "--logger", "zap", "--log-outputs", "stderr"],
            stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def healthy(self, n):
        try:
            with urllib.request.urlopen(self.client[n] + "/health", timeout=1) as r:
                return b'"health":"true"' in r.read()
        except OSError:
            return False

    def wait_leader(self, *names, seconds=20):
        """Until members names report healthy (which needs a leader)."""
        end = time.monotonic() + seconds
        while not all(self.healthy(n) for n in names):
            assert time.monotonic() < end, f"no leader after {seconds} s"
            time.sleep(0.1)

    def log(self, n):
        return (self.root / f"{n}.log").read_text(errors="replace")

    def etcd_pid(self, n):
        """The etcd process `timeout` runs for member n."""
        p = self.procs[n]
        children = Path(f"/proc/{p.pid}/task/{p.pid}/children").read_text().split()
        assert len(children) == 1, children
        return int(children[0])

    def kill(self, n):
        """Kill member n hard (SIGKILL to etcd itself, as a crash would)."""
        p = self.procs[n]
        if p.poll() is None:
            os.kill(self.etcd_pid(n), signal.SIGKILL)
            p.wait(timeout=10)
        del self.procs[n]

    def stop(self):
        for n in list(self.procs):
            p = self.procs.pop(n)
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)  # timeout passes it on to etcd
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


@pytest.fixture
def etcd_cluster(tmp_path):
    if not os.access(ETCD, os.X_OK):
        pytest.fail(f"{ETCD} not found: install etcd-server (scripts/deps.sh)")
    c = Cluster(tmp_path).start()
    yield c
    c.stop()


class FakeHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):  # quiet
        pass

    def do_POST(self):
        srv = self.server
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        srv.requests.append(self.path)
        status, body = FakeMember.MODES[srv.mode]
        if status is None:  # never answer (until the test ends)
            srv.stop.wait(60)
            return
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class FakeMember(http.server.ThreadingHTTPServer):
    """A member in trouble: mode "stall" reads the request and never answers,
    "garbage" answers 200 with bytes that are not JSON, "unavailable" answers
    what a member without a leader does, "lease-gone" an etcd error that is
    the cluster's answer (not a member's trouble)."""

    daemon_threads = True
    MODES = {
        "stall": (None, b""),
        "garbage": (200, b"<html>proxy error</html>"),
        "unavailable": (503, b'{"error":"etcdserver: no leader","message":"etcdserver: no leader","code":14}'),
        "lease-gone": (404, b'{"error":"etcdserver: requested lease not found",'
                            b'"message":"etcdserver: requested lease not found","code":5}'),
    }

    def __init__(self, mode):
        super().__init__(("127.0.0.1", 0), FakeHandler)
        self.mode = mode
        self.requests = []
        self.stop = threading.Event()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def fake_member():
    servers = []

    def start(mode):
        s = FakeMember(mode)
        threading.Thread(target=s.serve_forever, daemon=True).start()
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.stop.set()
        s.shutdown()
        s.server_close()
