# SPDX-License-Identifier: MIT
"""The host side run by `hpm agent` (its fleet thread), against a real
3-member etcd (conftest.py): a rollout driven end to end by agents (a
reboot hook that SIGKILLs the agent, a supervisor that starts it again), and
an agent whose hook runs for seconds while its loop keeps pinging the
watchdog and answering SIGHUP, then stops cleanly mid-hook and goes on from
the same phase when started again."""
import json
import signal
import socket
import subprocess
import time

from hpmtest import digest, environ, hpm
from rollout import BootHost, Gateway, Host, Operator, Proxy, check_history, script, wait_for


def phases(op):
    return {h["host"]: h["phase"] for h in op.status()["hosts"]}


def test_agents_drive_a_rollout_end_to_end(tmp_path, etcd_cluster):
    gw = Gateway(etcd_cluster.client["m1"])
    spec = [("a1", "rack-a"), ("a2", "rack-a"), ("a3", "rack-a"), ("b1", "rack-b")]
    hosts = {n: Host(tmp_path, n, d, etcd_cluster.endpoints, agent=True) for n, d in spec}
    op = Operator(tmp_path, etcd_cluster.endpoints)
    for h in hosts.values():
        h.start()
    # each agent's first step registers its host
    wait_for(lambda: op.fleet("rollout", "start", "--baseline-version", "2026.1", "--ring", "a1",
                              "--ring", "a2,a3,b1", "--max-out", "2", check=None).returncode == 0,
             30, "every agent registered its host")
    first, _ = gw.snapshot()
    t0 = time.monotonic()
    wait_for(lambda: op.status()["rollout"]["state"] == "done", 120, "the rollout is done")
    elapsed = time.monotonic() - t0
    st = op.status()
    assert all(h["phase"] == "done" for h in st["hosts"]), st
    for h in hosts.values():
        assert h.terminate() == 0, h.output()
        calls = [c.split()[0] for c in h.hook_calls()]
        want = ["drain", "install", "reboot", "verify", "undrain"]  # after one gate or more (lost races)
        assert set(calls[:-5]) == {"gate"} and calls[-5:] == want, (h.name, calls)
        assert h.boots == 2, (h.name, h.boots, h.output())
        out = h.output()
        assert f"fleet: {h.name} (domain {h.domain}) stepping every 1 s" in out, out
        assert f"fleet: {h.name}: {h.name} is done" in out, out
        assert out.rstrip().endswith("fleet: stopped"), out
    last, _ = gw.snapshot()
    check_history(gw, first, last, {"rack-a": 3, "rack-b": 1})
    print(f"4 agents, K=2: done in {elapsed:.1f} s")


class Notify:
    """systemd's NOTIFY_SOCKET, played by a datagram socket: (time, fields)."""

    def __init__(self, path):
        self.path = str(path)
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.s.bind(self.path)
        self.s.settimeout(0.05)
        self.got = []

    def pump(self, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                data = self.s.recv(4096).decode()
            except socket.timeout:
                continue
            self.got.append((time.monotonic(), dict(x.split("=", 1) for x in data.split("\n") if "=" in x)))


def test_a_long_hook_stalls_nothing_and_stop_is_clean(tmp_path, etcd_cluster):
    h = Host(tmp_path, "h1", "r1", etcd_cluster.endpoints, agent=True, hook_timeout="60s")
    op = Operator(tmp_path, etcd_cluster.endpoints)
    # drain takes 4 s; install hangs until `hang` goes
    script(h.hooks / "drain", f'echo "drain start" >> {h.log}; sleep 4; echo "drain end" >> {h.log}')
    (h.dir / "hang").touch()
    notify = Notify(tmp_path / "notify")
    env = environ({"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "400000"})
    agent = subprocess.Popen(["sh", "-c", 'WATCHDOG_PID=$$ exec "$0" "$@"', *h.cmd("agent", "--no-assess")],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(lambda: op.fleet("rollout", "start", "--baseline-version", "2026.1", "--ring", "h1",
                                  check=None).returncode == 0, 30, "the agent registered h1")
        wait_for(lambda: "drain start" in h.log.read_text() if h.log.exists() else False, 20, "drain started")
        t0 = time.monotonic()
        notify.pump(1.0)
        agent.send_signal(signal.SIGHUP)  # answered while the drain hook runs
        notify.pump(1.5)
        assert "drain end" not in h.log.read_text(), "the drain hook ended too early for the test"
        pings = [t for t, f in notify.got if f.get("WATCHDOG") == "1" and t >= t0]
        gaps = [b - a for a, b in zip(pings, pings[1:])]
        assert len(pings) >= 5 and max(gaps) < 0.4, gaps
        reload = [t for t, f in notify.got if f.get("RELOADING") == "1"]
        ready = [t for t, f in notify.got if f.get("READY") == "1" and reload and t > reload[0]]
        assert reload and ready and ready[0] - reload[0] < 0.5, notify.got
        # through drain into the hanging install; then stop (systemctl stop): the
        # install hook is killed, the host stays installing, not failed
        wait_for(lambda: phases(op)["h1"] == "installing", 20, "h1 installing")
        wait_for(lambda: "install" in h.log.read_text(), 10, "install hook started")
        t1 = time.monotonic()
        agent.send_signal(signal.SIGTERM)
        out, _ = agent.communicate(timeout=10)
        assert agent.returncode == 0, out
        assert time.monotonic() - t1 < 3, "the agent waited for the hook"
        assert out.rstrip().endswith("fleet: stopped"), out
        st = op.status()
        assert phases(op)["h1"] == "installing" and [s["host"] for s in st["slots"]] == ["h1"], st
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()
        notify.s.close()
    # the next agent goes on from installing: the install hook runs again
    (h.dir / "hang").unlink()
    h.start()
    wait_for(lambda: phases(op)["h1"] == "done", 60, "h1 done after the agent started again")
    assert h.terminate() == 0
    calls = [c.split()[0] for c in h.hook_calls()]
    assert calls == ["gate", "drain", "drain", "install", "install", "reboot", "verify", "undrain"], calls


def test_agents_install_a_baseline_for_real(tmp_path, etcd_cluster):
    """[fleet] install = release: the install phase stages the rollout's
    baseline from the signed catalog of the update source (as hpm install
    does), the reboot hook reboots; verifying ends with the boot's
    mark-good (done), a fallback to the old slot (failed at once) or no
    mark-good before the deadline (a failed boot health check: failed)."""
    op = Operator(tmp_path, etcd_cluster.endpoints)
    new = digest(op.base)
    old_v, old_d = BootHost.OLD

    def staged_boot(h):  # the firmware boots the staged slot b, on trial
        h.boot("b", new, "2026.1", 1, {"a": (1, 0, 1, 4, old_d), "b": (2, 2, 0, 4, new)})

    def fallback_boot(h):  # slot b refused: the firmware falls back to a
        h.boot("a", old_d, old_v, 0, {"a": (2, 0, 1, 4, old_d), "b": (0, 0, 0, 4, new)})

    hosts = {"ok": BootHost(tmp_path, "ok", "r1", etcd_cluster.endpoints, op, staged_boot),
             "fb": BootHost(tmp_path, "fb", "r1", etcd_cluster.endpoints, op, fallback_boot),
             "sick": BootHost(tmp_path, "sick", "r1", etcd_cluster.endpoints, op, staged_boot)}
    (hosts["sick"].dir / "sick").touch()
    for h in hosts.values():
        h.start()
    wait_for(lambda: op.fleet("rollout", "start", "--baseline-version", "2026.1", "--ring", "ok", "--ring", "fb,sick",
                              "--budget", "2", "--deadline", "verifying=8s", check=None).returncode == 0,
             30, "every agent registered its host")
    wait_for(lambda: op.status()["rollout"]["state"] != "running", 120, "the rollout ended")
    st = op.status()
    recs = {h["host"]: h for h in st["hosts"]}
    assert st["rollout"]["state"] == "done" and st["rollout"]["budget"]["used"] == 2, json.dumps(st)
    assert recs["ok"]["phase"] == "done", recs["ok"]
    assert recs["fb"]["phase"] == "failed" and "runs baseline 2025.9 (slot a), not 2026.1: it fell back" \
        in recs["fb"]["reason"], recs["fb"]
    assert recs["sick"]["phase"] == "failed" and "the deadline of phase verifying passed (8 s)" in \
        recs["sick"]["reason"] and "waiting for the boot's mark-good" in recs["sick"]["reason"], recs["sick"]
    for name, h in hosts.items():
        assert h.terminate() == 0, h.output()
        # staged for real: the catalog's baseline in slot b of the ESP
        assert (h.esp / "EFI" / "hpm" / "slot-b.hpm").read_bytes() == op.base.read_bytes(), name
        calls = [c.split()[0] for c in h.hook_calls()]
        want = ["drain", "install", "reboot"] + (["verify"] if name == "ok" else []) + ["undrain"]
        # the gate may run again after a lost race for the slot
        assert set(calls[:-len(want)]) == {"gate"} and calls[-len(want):] == want, (name, calls, h.output())
        assert h.boots == 2
    ok = hosts["ok"]
    rows = json.loads(hpm("--config", ok.conf, "--state-dir", ok.state, "history", "--json", env=ok.env).stdout)
    assert any(r["event"] == "stage" and r["result"] == "ok" for r in rows["entries"]), rows
    # what each host published about itself (the status page's registered hosts)
    facts = {m["host"]: m["facts"] for m in st["members"]}
    assert facts["ok"]["baseline"] == "2026.1" and facts["ok"]["slot"] == "b", facts["ok"]
    assert facts["fb"]["baseline"] == "2025.9" and facts["fb"]["slot"] == "a", facts["fb"]
    assert facts["ok"]["compliance"].startswith("up to date (catalog serial 1)"), facts["ok"]
    assert facts["fb"]["compliance"].startswith("behind: "), facts["fb"]
    newest = {r["id"]: r for r in rows["entries"]}
    text = op.fleet("status").stdout  # the same in words
    assert any(ln.split()[:3] == ["ok", "2026.1", "(b)"] and "up to date" in ln for ln in text.splitlines()), text
    pub = facts["ok"]["history"]
    assert pub and all(newest[r["id"]]["event"] == r["event"] for r in pub), (pub, rows)


def test_a_host_cut_off_from_etcd_never_reboots_without_its_slot(tmp_path, etcd_cluster):
    """h1 installs (its install hook hangs) when the network between it and
    every etcd member is cut.  The install then finishes, but the move to
    rebooting cannot be written: the reboot hook never runs.  Its lease
    expires: suspect, counted, its slot kept, h2 does not go.  When the
    network heals, h1's agent (which remembers the install of this phase
    is done) writes the move, reboots, and the rollout runs to done."""
    proxy = Proxy(etcd_cluster.endpoints)
    h1 = Host(tmp_path, "h1", "r1", proxy.endpoints, agent=True, hook_timeout="60s")
    h2 = Host(tmp_path, "h2", "r1", etcd_cluster.endpoints, agent=True, hook_timeout="60s")
    op = Operator(tmp_path, etcd_cluster.endpoints)
    (h1.dir / "hang").touch()
    try:
        assert "no rollout" in h2.step().stdout  # registers; its agent starts once h1 holds the slot
        h1.start()
        wait_for(lambda: op.fleet("rollout", "start", "--baseline-version", "2026.1", "--ring", "h1,h2",
                                  check=None).returncode == 0, 30, "both hosts registered")
        wait_for(lambda: "install" in h1.log.read_text() if h1.log.exists() else False, 30, "h1 installing")
        h2.start()
        proxy.cut()
        (h1.dir / "hang").unlink()  # the install finishes while h1 is cut off

        def h1_rec():
            return [h for h in op.status()["hosts"] if h["host"] == "h1"][0]
        wait_for(lambda: h1_rec()["suspect"], 20, "h1 suspect")
        time.sleep(3)  # steps of the cut-off agent fail; time for a wrong reboot to show
        rec, st = h1_rec(), op.status()
        assert rec["phase"] == "installing" and rec["holds_slot"], rec
        assert [s["host"] for s in st["slots"]] == ["h1"] and st["rollout"]["budget"]["used"] == 1, st
        assert phases(op)["h2"] == "waiting"
        calls = [c.split()[0] for c in h1.hook_calls()]
        assert "reboot" not in calls and h1.boots == 1, (calls, h1.output())
        assert h2.hook_calls() == [] or set(c.split()[0] for c in h2.hook_calls()) == {"gate"}
        proxy.heal()
        wait_for(lambda: op.status()["rollout"]["state"] == "done", 90, "the rollout done after the network healed")
        assert set(phases(op).values()) == {"done"}
        calls = [c.split()[0] for c in h1.hook_calls()]
        while calls[1:2] == ["gate"]:  # the gate again after a lost race for the slot
            calls.pop(0)
        assert calls == ["gate", "drain", "install", "reboot", "verify", "undrain"], calls
        assert h1.boots == 2
    finally:
        for h in (h1, h2):
            h.kill()
        proxy.close()
