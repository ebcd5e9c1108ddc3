# SPDX-License-Identifier: MIT
"""Helpers of the rollout tests: simulated hosts (each a real `hpm fleet
step --loop` with its own state directory, policy file and hooks; a reboot
is the hook that ends the process, which the host's supervisor starts again,
as a machine's boot starts its agent), the operator, and the invariant
checker that replays every revision of the rollout from etcd's history."""
import base64
import json
import os
import signal
import socket
import struct
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

from hpmtest import GUID, HPM, OK, environ, hpm, sign

HOOK_TIMEOUT = "3s"
LEASE_TTL = "2s"
STEP_MS = "100"


def conf(path: Path, endpoints, host=None, domain=None, hooks=None, hook_timeout=HOOK_TIMEOUT, install="hook",
         extra=""):
    lines = ["[fleet]", f"endpoints = {endpoints}", "request_timeout = 1s",
             f"hook_timeout = {hook_timeout}", f"lease_ttl = {LEASE_TTL}", "step_interval = 1s",
             f"install = {install}"]
    if host:
        lines.append(f"host = {host}")
    if domain:
        lines.append(f"domain = {domain}")
    if hooks:
        lines.append(f"hooks = {hooks}")
    path.write_text("\n".join(lines) + "\n" + extra)
    return path


def script(path: Path, body: str):
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)


class Host:
    """One simulated host: its hooks append to log; install waits while
    the file `hang` exists; verify fails while `sick` exists; the gate says
    no while `closed` exists.  With agent=True the host runs `hpm agent`
    (its fleet thread steps) instead of `hpm fleet step --loop`, and its
    reboot hook kills the agent (SIGKILL, as a power cycle would)."""

    def __init__(self, root: Path, name, domain, endpoints, agent=False, hook_timeout=HOOK_TIMEOUT, install="hook",
                 extra=""):
        self.name, self.domain, self.agent = name, domain, agent
        self.dir = root / name
        self.hooks = self.dir / "hooks"
        self.hooks.mkdir(parents=True)
        self.state = self.dir / "state"
        self.log = self.dir / "hooks.log"
        self.env = {}  # added to the environment of its hpm
        self.on_boot = None  # called before each start after the first (the next boot)
        self.conf = conf(self.dir / "hpm.conf", endpoints, name, domain, self.hooks, hook_timeout, install, extra)
        for h in ("drain", "undrain", "gate", "install", "reboot", "verify"):
            body = f'echo "{h} $HPM_FLEET_KIND $HPM_FLEET_TARGET" >> {self.log}'
            if h == "install":
                body += "\nsleep 0.3"
                body += f"\nwhile [ -e {self.dir}/hang ]; do sleep 0.1; done"
            if h == "verify":
                body += f"\n[ ! -e {self.dir}/sick ] || {{ echo 'service check failed'; exit 4; }}"
            if h == "gate":
                body += f"\n[ ! -e {self.dir}/closed ] || {{ echo 'storage resync at 40 %'; exit 1; }}"
            if h == "reboot" and agent:
                body += "\nkill -KILL $PPID"
            script(self.hooks / h, body)
        self.proc = None
        self.boots = 0
        self.out = []
        self.stopped = threading.Event()
        self.thread = None

    def cmd(self, *args):
        return [str(HPM), "--config", str(self.conf), "--state-dir", str(self.state), *map(str, args)]

    def step(self, check=OK):
        return hpm("--config", self.conf, "--state-dir", self.state, "fleet", "step", env=self.env, check=check)

    def _supervise(self):
        while not self.stopped.is_set():
            self.boots += 1
            if self.boots > 1 and self.on_boot:
                self.on_boot(self)
            args = ("agent", "--no-assess") if self.agent else ("fleet", "step", "--loop", STEP_MS)
            self.proc = subprocess.Popen(self.cmd(*args), stdout=subprocess.PIPE,
                                         stderr=subprocess.STDOUT, text=True, env=environ(self.env),
                                         start_new_session=True)
            out = self.proc.stdout.read()
            self.proc.wait()
            self.out.append(out)
            # the reboot hook ran: "boot" again; anything else: the host is through
            rebooted = self.proc.returncode == -signal.SIGKILL if self.agent else out.rstrip().endswith("rebooting")
            if self.stopped.is_set() or not rebooted:
                return

    def terminate(self):
        """Stop the agent as systemd would (SIGTERM); its exit code."""
        self.stopped.set()
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        if self.thread:
            self.thread.join(20)
        return self.proc.returncode if self.proc else None

    def output(self):
        return "".join(self.out)

    def start(self):
        self.stopped.clear()
        self.thread = threading.Thread(target=self._supervise, daemon=True)
        self.thread.start()

    def kill(self):
        """Power off: SIGKILL to the agent and its hooks."""
        self.stopped.set()
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        if self.thread:
            self.thread.join(10)

    def hook_calls(self):
        return self.log.read_text().split("\n")[:-1] if self.log.exists() else []


ZERO = "0" * 64


class BootHost(Host):
    """A host that installs for real ([fleet] install = release): a fake
    booted host (an efivarfs folder with what hpmboot.efi publishes, an ESP
    folder, the operator's trust store; as tests/lifecycle), the operator's
    catalog as its update source, run by `hpm agent`.  It first runs
    baseline OLD in slot a, marked good.  next_boot(host) publishes the
    variables of the boot after the reboot hook; then, unless the host is
    `sick` (its boot health check fails), `hpm mark-good` runs as
    hpm-mark-good.service would."""

    OLD = ("2025.9", "ab" * 32)

    def __init__(self, root, name, domain, endpoints, op, next_boot):
        super().__init__(root, name, domain, endpoints, agent=True, install="release",
                         extra=f"[update]\nsource = {op.www}\n")
        self.ev, self.esp, self.trust = self.dir / "efivars", self.dir / "esp", self.dir / "trust"
        for d in (self.ev, self.esp / "EFI" / "hpm", self.trust):
            d.mkdir(parents=True)
        (self.trust / "release.pub").write_bytes((op.trust / "release.pub").read_bytes())
        self.env = {"HPM_EFIVARS": self.ev, "HPM_ESP": self.esp, "HPM_TRUST_DIR": self.trust,
                    "HPM_REBOOT_CMD": "false"}
        v, d = self.OLD
        self.boot("a", d, v, 0, {"a": (2, 0, 1, 4, d), "b": (0, 0, 0, 0, ZERO)})

        def reboot(h):
            next_boot(h)
            if not (h.dir / "sick").exists():
                # exit 6: already marked good (a fallback to the good slot), as the service accepts
                r = hpm("--config", h.conf, "--state-dir", h.state, "mark-good", env=h.env, check=None)
                assert r.returncode in (0, 6), r
        self.on_boot = reboot

    def setvar(self, name, value, attr=6):
        (self.ev / f"{name}-{GUID}").write_bytes(struct.pack("<I", attr) + value.encode())

    def boot(self, active, digest, version, attempt, slots, svn=4):
        """What hpmboot.efi publishes for one boot; slots: letter ->
        (priority, tries, successful, svn, baseline).  The OS's requests of
        the boot before are gone (the firmware applied them)."""
        for req in ("HpmSlotRequest", "HpmMarkGood", "HpmOneShot"):
            (self.ev / f"{req}-{GUID}").unlink(missing_ok=True)
        table = "".join(f"{x} priority={p} tries={t} successful={ok} svn={sv} reason=none baseline={b}\n"
                        for x, (p, t, ok, sv, b) in sorted({**dict.fromkeys("abcd", (0, 0, 0, 0, ZERO)),
                                                            **slots}.items()))
        for name, val in (("HpmBootSlot", active), ("HpmBootBaseline", digest), ("HpmBootVersion", version),
                          ("HpmBootSvn", str(svn)), ("HpmBootAttempt", str(attempt)),
                          ("HpmBootReason", "highest-priority slot"), ("HpmBootFloor", "0"),
                          ("HpmBootStateSeq", "3"), ("HpmBootSlots", table)):
            self.setvar(name, val)


class Gateway:
    """etcd's JSON gateway from Python, for the checker and for writing
    records by hand."""

    def __init__(self, url):
        self.url = url

    def post(self, path, body):
        req = urllib.request.Request(self.url + "/v3/" + path, json.dumps(body).encode(),
                                     {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=5) as r:
            return json.loads(r.read())

    def snapshot(self, revision=0):
        b = lambda s: base64.b64encode(s.encode()).decode()
        body = {"key": b("/hpm/fleet/"), "range_end": b("/hpm/fleet0")}
        if revision:
            body["revision"] = revision
        j = self.post("kv/range", body)
        kv = {base64.b64decode(x["key"]).decode(): base64.b64decode(x.get("value", "")).decode()
              for x in j.get("kvs", [])}
        return int(j["header"]["revision"]), kv

    def put(self, key, value):
        b = lambda s: base64.b64encode(s.encode()).decode()
        self.post("kv/put", {"key": b(key), "value": b(value)})

    def history(self, first, last):
        """The store under /hpm/fleet/ at every revision first..last that
        changed it: (revision, {key: value}) in order, from the snapshot at
        first and the events after it (one watch stream, not one read per
        revision)."""
        b = lambda s: base64.b64encode(s.encode()).decode()
        rev, kv = self.snapshot(first)
        yield first, kv
        if last <= first:
            return
        body = {"create_request": {"key": b("/hpm/fleet/"), "range_end": b("/hpm/fleet0"),
                                   "start_revision": str(first + 1)}}
        req = urllib.request.Request(self.url + "/v3/watch", json.dumps(body).encode(),
                                     {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            for line in r:
                res = json.loads(line).get("result", {})
                assert not res.get("canceled"), f"the watch of revisions {first}..{last} was cancelled: {res}"
                evs = res.get("events", [])
                by_rev = {}
                for e in evs:
                    by_rev.setdefault(int(e["kv"]["mod_revision"]), []).append(e)
                for r2 in sorted(by_rev):
                    if r2 > last:
                        return
                    for e in by_rev[r2]:
                        k = base64.b64decode(e["kv"]["key"]).decode()
                        if e.get("type") == "DELETE":
                            kv.pop(k, None)
                        else:
                            kv[k] = base64.b64decode(e["kv"].get("value", "")).decode()
                    yield r2, kv
                    if r2 == last:
                        return


def check_history(gw: Gateway, first: int, last: int, domain_sizes: dict):
    """Every revision first..last of the rollout keeps the invariants.
    Returns the largest number of hosts out at once and the domains seen out."""
    most, domains_seen, checked = 0, set(), 0
    for rev, kv in gw.history(first, last):
        if "/hpm/fleet/rollout" not in kv or "/hpm/fleet/slots" not in kv:
            continue
        ro = json.loads(kv["/hpm/fleet/rollout"])
        slots = json.loads(kv["/hpm/fleet/slots"])
        hosts = {k.rsplit("/", 1)[1]: json.loads(v) for k, v in kv.items() if k.startswith("/hpm/fleet/hosts/")}
        holders = [h["host"] for h in slots["holders"]]
        checked += 1
        assert len(holders) <= ro["max_out"], f"revision {rev}: {holders} out, K = {ro['max_out']}"
        doms = {hosts[h]["domain"] for h in holders}
        assert len(doms) <= 1, f"revision {rev}: two fault domains out at once: {holders}"
        for d in doms:
            n = sum(1 for h in holders if hosts[h]["domain"] == d)
            assert n <= max(1, domain_sizes[d] * 20 // 100), f"revision {rev}: {n} hosts of {d} out"
        for h in holders:
            for o, rec in hosts.items():
                if rec["ring"] < hosts[h]["ring"]:
                    assert rec["phase"] in ("done", "failed"), \
                        f"revision {rev}: {h} (ring {hosts[h]['ring']}) out while {o} (ring {rec['ring']}) is {rec['phase']}"
        out = [n for n, rec in hosts.items() if rec["phase"] in ("draining", "installing", "rebooting", "verifying")]
        assert set(out) <= set(holders), f"revision {rev}: {out} out without a slot ({holders})"
        most = max(most, len(holders))
        domains_seen |= doms
    assert checked > 0
    return most, domains_seen


class Proxy:
    """A TCP forwarder on loopback to each etcd member: one host's way to
    the cluster, which the test can cut (new connections are refused by
    closing them at once, open ones are closed) and heal: a network
    partition of that host alone.  .endpoints replaces the members' URLs."""

    def __init__(self, members):
        self.cut_off = False
        self.conns = []
        self.lock = threading.Lock()
        self.servers = []
        urls = []
        for m in members.split(","):
            host, port = m.rsplit("/", 1)[1].rsplit(":", 1)
            srv = socket.socket()
            srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            srv.bind(("127.0.0.1", 0))
            srv.listen(64)
            self.servers.append(srv)
            urls.append(f"http://127.0.0.1:{srv.getsockname()[1]}")
            threading.Thread(target=self._accept, args=(srv, (host, int(port))), daemon=True).start()
        self.endpoints = ",".join(urls)

    def _accept(self, srv, to):
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            if self.cut_off:
                c.close()
                continue
            try:
                u = socket.create_connection(to, timeout=2)
            except OSError:
                c.close()
                continue
            with self.lock:
                self.conns += [c, u]
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a, b):
        try:
            while True:
                d = a.recv(65536)
                if not d:
                    break
                b.sendall(d)
        except OSError:
            pass
        for x in (a, b):
            try:
                x.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        self.cut_off = True
        with self.lock:
            for c in self.conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self.conns = []

    def heal(self):
        self.cut_off = False

    def close(self):
        self.cut()
        for s in self.servers:
            s.close()


class Operator:
    """The operator's host: a signed catalog listing baseline 2026.1."""

    def __init__(self, root: Path, endpoints):
        self.dir = root / "operator"
        self.dir.mkdir()
        self.trust = self.dir / "trust"
        self.trust.mkdir()
        self.state = self.dir / "state"
        key = self.dir / "release.pem"
        sign("keygen", "--out", key, "--pub", self.trust / "release.pub")
        (self.dir / "vmlinuz").write_bytes(b"MZ" + bytes(range(256)) * 64)
        base = self.base = self.dir / "base.hpm"
        sign("baseline", "--key", key, "--kernel", self.dir / "vmlinuz", "--version", "2026.1", "--svn", "4",
             "--out", base)
        www = self.www = self.dir / "www"
        www.mkdir()
        sign("catalog", "--key", key, "--serial", "1", "--expires", "2082758400", "--out", www / "catalog.hpm",
             "--entry", f"{base}:class=critical,released=2026-01-10,url=base.hpm")
        (www / "base.hpm").write_bytes(base.read_bytes())
        self.conf = conf(self.dir / "hpm.conf", endpoints, "operator")
        self.env = {"HPM_TRUST_DIR": self.trust, "HPM_STATE_DIR": self.state, "HPM_CONF": self.conf}
        hpm("catalog", "--source", www, env=self.env)

    def fleet(self, *args, check=OK):
        return hpm("fleet", *args, env=self.env, check=check)

    def status(self):
        return json.loads(self.fleet("status", "--json").stdout)


def wait_for(pred, seconds, what):
    end = time.monotonic() + seconds
    while True:
        v = pred()
        if v:
            return v
        assert time.monotonic() < end, f"after {seconds} s: {what}"
        time.sleep(0.2)
