"""hpm agent patches new processes of targeted binaries (proc connector)."""
import json
import subprocess
import time

from hpmtest import HPM
from workspace import Target


def test_agent_patches_new_processes(ws, state):
    h1 = ws.hotpatch([ws.payload("cetpad", 1)], 1)
    r = ws.hpm(state, "apply", h1)  # no process runs it yet: recorded for the agent
    assert "sequence 1" in r.stdout
    agent = subprocess.Popen([str(HPM), "agent"], env=ws.hpm_env(state), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        assert agent.stdout.readline().startswith("agent: watching")
        targets = [Target(ws.target("cetpad")) for _ in range(3)]
        try:
            for t in targets:
                deadline = time.time() + 5
                while t.version() != (1, 1):
                    assert time.time() < deadline, "agent did not patch a new process"
                    time.sleep(0.02)
                t.assert_healthy()
            # The journal entry is written just after the process switches to
            # the new code, so the listing may trail the target by a moment.
            deadline = time.time() + 5
            while True:
                lst = json.loads(ws.hpm(state, "list", "--json").stdout)["processes"]
                pids = {e["pid"]: e for e in lst}
                if all(t.pid in pids for t in targets) or time.time() > deadline:
                    break
                time.sleep(0.05)
            for t in targets:
                assert t.pid in pids, f"hpm list does not show patched pid {t.pid}"
                assert pids[t.pid]["sequence"] == 1
                assert pids[t.pid]["exposure_ms"] < 5000
        finally:
            for t in targets:
                t.close()
    finally:
        agent.terminate()
        agent.wait(timeout=5)


def test_agent_once(ws, state):
    """--once: one scan, then exit, with or without an applied hotpatch."""
    t0 = time.time()
    r = subprocess.run([str(HPM), "agent", "--once"], env=ws.hpm_env(state), capture_output=True, text=True,
                       timeout=20)
    assert r.returncode == 0 and r.stdout.startswith("agent: watching"), r
    assert time.time() - t0 < 10
    h1 = ws.hotpatch([ws.payload("cetpad", 1)], 1)
    ws.hpm(state, "apply", h1)
    with Target(ws.target("cetpad")) as t:
        r = subprocess.run([str(HPM), "agent", "--once"], env=ws.hpm_env(state), capture_output=True,
                           text=True, timeout=20)
        assert r.returncode == 0, r
        assert t.version() == (1, 1)  # the one scan patched the running process
        t.assert_healthy()
