"""The verifying window after an apply (runtime/hotpatch/health.h): a patched
process dying of a crash signal, or a required health check failing, reverts
the hotpatch by itself and marks it bad on the host; a healthy window
commits; `hpm commit` ends it early; a killed hpm resumes it."""
import json
import signal
import subprocess
import time

import pytest

from hpmtest import HPM
from workspace import LOOPING, Target

CRASHING = """/* calc_a of sequence @V@ dereferences NULL for one input in 1024 */
extern int helper(int);
extern int factor;
int calc_a_v(int x) { if (x == 777) *(volatile int *)0 = x; return x * 3 + 1 + @V@ * 1000000; }
int calc_b_v(int x) { return helper(x) + 5 + (factor == 7 ? @V@ * 1000000 : 1); }
"""


def crashing_hotpatch(ws, seq):
    return ws.source_hotpatch(CRASHING, seq, "crash")


@pytest.fixture
def host(ws, tmp_path):
    """A state dir and a policy file with a [health] section the test writes."""
    class Host:
        state = tmp_path / "state"
        conf = tmp_path / "hpm.conf"
        checks = tmp_path / "health.d"

        def policy(self, window, interval="1s", extra=""):
            self.checks.mkdir(exist_ok=True)
            self.conf.write_text(f"[health]\nwindow = {window}\ninterval = {interval}\ncheck_timeout = 5s\n"
                                 f"checks = {self.checks}\n{extra}")

        def check(self, name, body):
            p = self.checks / name
            p.write_text("#!/bin/sh\n" + body + "\n")
            p.chmod(0o755)

        def env(self):
            e = ws.hpm_env(self.state)
            e["HPM_CONF"] = str(self.conf)
            return e

        def hpm(self, *args, check=0, extra=None):
            return ws.hpm(self.state, *args, check=check, extra_env={"HPM_CONF": str(self.conf), **(extra or {})})

        def status(self):
            return json.loads(self.hpm("status", "--json").stdout)["hotpatch"]

        def history(self):
            return json.loads(self.hpm("history", "--json").stdout)["entries"]

        def wait_state(self, want, timeout=20):
            deadline = time.time() + timeout
            while True:
                h = self.status()["health"]
                if h["state"] == want:
                    return h
                assert time.time() < deadline, f"health window still {h}, wanted {want}"
                time.sleep(0.1)

        def agent(self):
            # a generous pause budget: on a loaded machine the agent must not give up
            # patching a new process (the tests count on every start being patched)
            a = subprocess.Popen([str(HPM), "--budget-us", "200000", "agent"], env=self.env(),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            assert a.stdout.readline().startswith("agent: watching")
            return a
    h = Host()
    h.policy("60s")
    return h


def stop(agent):
    agent.send_signal(signal.SIGTERM)
    out, err = agent.communicate(timeout=10)
    return out + err


def test_crash_in_window_reverts_and_marks_bad(ws, host):
    h1 = ws.hotpatch([ws.payload("own", 1)], 1)
    h2 = crashing_hotpatch(ws, 2)
    a = Target(ws.target("own"))
    agent = host.agent()
    try:
        host.hpm("apply", h1)
        assert a.version() == (1, 1)
        host.hpm("commit")
        assert host.status()["health"]["state"] == "committed"
        host.hpm("apply", h2)  # the workers reach x == 777 at once: the target dies of SIGSEGV
        assert a.p.wait(timeout=10) == -signal.SIGSEGV
        w = host.wait_state("reverted")
        assert w["sequence"] == 2 and "SIGSEGV" in w["reason"], w
        assert "in the hotpatch's code" in w["reason"], w  # the kernel log's fault address
        st = host.status()
        assert st["sequence"] == 1 and st["id"] == "KB-1"
        assert [b["sequence"] for b in st["bad"]] == [2] and "SIGSEGV" in st["bad"][0]["reason"]
        lst = json.loads(host.hpm("list", "--json").stdout)  # list says it too
        assert lst["health"]["state"] == "reverted" and lst["bad"] == st["bad"]
        assert "marked bad: KB-2 (sequence 2): pid" in host.hpm("list").stdout
        # a new process of the binary gets sequence 1 from the agent, never the bad one
        with Target(ws.target("own")) as b:
            deadline = time.time() + 10
            while b.version() != (1, 1):
                assert time.time() < deadline, b.version()
                time.sleep(0.05)
            b.assert_healthy()
            r = host.hpm("apply", h2, check=1)
            assert "reverted for its health" in r.stderr and "--force" in r.stderr, r.stderr
            assert b.version() == (1, 1)
    finally:
        out = stop(agent)
        a.close()
    assert "marked bad" in out, out
    events = [(e["event"], e["result"], e["detail"] or "") for e in host.history()]
    assert any(ev == "health-revert" and res == "ok" and "reverted to sequence 1: pid" in d and "SIGSEGV" in d
               for ev, res, d in events), events
    assert any(ev == "commit" for ev, _, _ in events), events
    # --force applies it anyway, with a history row saying so (no process runs it now)
    host.hpm("apply", "--force", h2)
    assert host.status()["sequence"] == 2
    assert any(e["event"] == "apply" and "forced over its bad mark" in (e["detail"] or "") for e in host.history())


def test_healthy_window_commits(ws, host):
    host.policy("2s")
    host.check("10-ok", "exit 0")
    host.check("20-extra.wanted", "echo 'cache cold'; exit 1")
    h1 = ws.hotpatch([ws.payload("own", 1)], 1)
    with Target(ws.target("own")) as t:
        agent = host.agent()
        try:
            r = host.hpm("apply", h1)
            assert "health window: KB-1 (sequence 1) verifying until" in r.stdout, r.stdout
            assert host.status()["health"]["state"] == "verifying"
            w = host.wait_state("committed")
            assert w["reason"].startswith("healthy through its 2 s window"), w
            assert t.version() == (1, 1)
            t.assert_healthy()
        finally:
            out = stop(agent)
    assert "wanted check" in out and "cache cold" in out, out  # a warning only
    assert [e["event"] for e in host.history()].count("commit") == 1


def test_required_check_failing_reverts(ws, host):
    host.check("10-service", "echo 'service down'; exit 3")
    h1 = ws.hotpatch([ws.payload("own", 1)], 1)
    with Target(ws.target("own")) as t:
        agent = host.agent()
        try:
            host.hpm("apply", h1)
            w = host.wait_state("reverted")
            assert "10-service failed (exit 3: service down)" in w["reason"], w
            assert t.version() == (0, 0)  # back to the original code (no earlier sequence)
            t.assert_healthy()
            assert host.status()["sequence"] == 0
        finally:
            stop(agent)


def test_killed_during_the_window_and_the_revert(ws, host):
    """The window survives hpm's death (the next agent run resumes it), and an
    automatic revert hpm died in is finished by the next run."""
    host.policy("1s")
    h1 = ws.hotpatch([ws.payload("own", 1)], 1)
    h2 = ws.hotpatch([ws.payload("own", 2)], 2)
    with Target(ws.target("own")) as t:
        host.hpm("apply", h1)  # no agent: nobody watches yet
        time.sleep(1.2)
        assert host.status()["health"]["state"] == "verifying"
        host.hpm("agent", "--once")
        assert host.status()["health"]["state"] == "committed"
        host.policy("60s")
        host.check("10-fail", "exit 1")
        host.hpm("apply", h2)
        r = host.hpm("agent", "--once", check=None, extra={"HPM_TEST_EXIT_AT": "health-reverting"})
        assert r.returncode == 9, r
        st = host.status()
        assert st["health"]["state"] == "reverting" and st["sequence"] == 2
        assert [b["sequence"] for b in st["bad"]] == [2]  # marked before the revert began
        assert t.version() == (2, 2)
        host.hpm("agent", "--once")
        assert host.status()["health"]["state"] == "reverted"
        assert host.status()["sequence"] == 1 and t.version() == (1, 1)
        t.assert_healthy()


def test_commit_and_revert_by_hand(ws, host):
    h1 = ws.hotpatch([ws.payload("own", 1)], 1)
    r = host.hpm("commit", check=1)
    assert "no hotpatch is in its verifying window" in r.stderr
    with Target(ws.target("own")) as t:
        host.hpm("apply", h1)
        d = json.loads(host.hpm("commit", "--json").stdout)
        assert d["command"] == "commit" and d["sequence"] == 1 and d["id"] == "KB-1"
        assert host.status()["health"]["state"] == "committed"
        h2 = ws.hotpatch([ws.payload("own", 2)], 2)
        host.hpm("apply", h2)
        host.hpm("revert", "--to", "1")  # an ordinary revert: ends the window, marks nothing bad
        st = host.status()
        assert st["health"]["state"] == "reverted" and "by hand" in st["health"]["reason"]
        assert st["bad"] == []
        assert t.version() == (1, 1)


def test_crash_loop_breaker(ws, host):
    """A committed hotpatch that kills every new process of a configuration
    at start: the agent patches each one, and after [health] crash_loop of
    them died within the period it reverts the hotpatch and marks it bad;
    the next process of that configuration is left alone and lives."""
    host.policy("1s", extra="crash_loop = 3\ncrash_loop_period = 60s\n")
    h1 = ws.source_hotpatch(LOOPING, 1, "loop")
    exe = str(ws.target("own"))
    agent = host.agent()
    try:
        with Target(ws.target("own")) as a:  # factor 7: runs the hotpatch fine
            host.hpm("apply", h1)
            host.wait_state("committed")
            assert a.version() == (1, 1)
            for i in range(3):  # a supervisor restarting a service that dies at start
                p = subprocess.Popen([exe, "2", "8"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
                assert p.wait(timeout=30) == -signal.SIGSEGV, f"start {i} was not patched or did not crash"
                p.stdin.close()
            w = host.wait_state("reverted")
            assert w["sequence"] == 1 and "crash loop: 3 processes the agent patched died" in w["reason"], w
            st = host.status()
            assert st["sequence"] == 0 and [b["sequence"] for b in st["bad"]] == [1]
            assert a.version() == (0, 0)
            a.assert_healthy()
            p = subprocess.Popen([exe, "2", "8"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            assert p.stdout.readline().startswith("ready")
            time.sleep(3)  # more than the agent's periodic scan: it had every chance to patch it
            assert p.poll() is None, "the agent patched a new process with the reverted hotpatch"
            p.stdin.write("quit\n")
            p.stdin.close()
            assert p.wait(timeout=10) == 0
    finally:
        stop(agent)


def test_failed_automatic_revert_is_retried(ws, host):
    """An automatic revert that cannot run (the stored sequence it goes back to
    is missing) is recorded as failed, stays 'reverting', and is tried again
    once an interval later, not on every turn of the agent."""
    host.policy("60s", interval="2s")
    h1 = ws.hotpatch([ws.payload("own", 1)], 1)
    h2 = ws.hotpatch([ws.payload("own", 2)], 2)
    with Target(ws.target("own")) as t:
        host.hpm("apply", h1)
        host.hpm("commit")
        host.hpm("apply", h2)
        host.check("10-fail", "echo broken; exit 1")
        stored = host.state / "hotpatches" / "seq-1.hpm"
        aside = host.state / "seq-1.aside"
        stored.rename(aside)
        r = host.hpm("agent", "--once", check=None)
        assert "automatic revert failed" in r.stderr, r.stderr
        assert host.status()["health"]["state"] == "reverting" and t.version() == (2, 2)
        host.hpm("agent", "--once", check=None)  # within the interval: not tried again
        rows = [e for e in host.history() if e["event"] == "health-revert"]
        assert [e["result"] for e in rows] == ["failed"], rows
        aside.rename(stored)
        time.sleep(2.2)
        host.hpm("agent", "--once")
        assert host.status()["health"]["state"] == "reverted"
        assert t.version() == (1, 1)
        rows = [e for e in host.history() if e["event"] == "health-revert"]
        assert [e["result"] for e in rows] == ["failed", "ok"], rows
