"""Children forked from a patched process (a pre-forking server's workers)
inherit its hotpatch: hpm finds that state in their memory and journals it
(adoption), so later hotpatches replace it, revert restores them and list
shows them, as for any other process."""
import glob
import json
import subprocess
import time

from hpmtest import HPM
from workspace import Target

# five busy processes on few CPUs: stops can take longer than the default
# budget; this test is about state, not pauses
BUDGET = ["--budget-us", "50000"]


def test_forked_children_are_adopted(ws, state, tmp_path):
    h1 = ws.hotpatch([ws.payload("pad", 1)], 1)
    h2 = ws.hotpatch([ws.payload("pad", 2)], 2)
    t = Target(ws.target("pad"), threads=1)
    kids = []
    try:
        before = t.fork(tmp_path)  # forked unpatched: an ordinary process
        kids.append(before)
        ws.hpm(state, "apply", *BUDGET, "--pid", t.pid, "--pid", before.pid, h1)
        after1 = t.fork(tmp_path)  # inherits sequence 1
        kids.append(after1)
        assert after1.version() == (1, 1) and before.version() == (1, 1)
        # list finds it (adopted: journaled from what its memory holds)
        r = ws.hpm(state, "list", "--json")
        lst = {e["pid"]: e for e in json.loads(r.stdout)["processes"]}
        assert lst[after1.pid]["sequence"] == 1 and lst[after1.pid]["id"] == "KB-1", lst
        assert set(lst[after1.pid]["functions"]) == {"calc_a", "calc_b"}
        assert lst[after1.pid]["exposure_ms"] == 0  # born patched
        assert f"pid {after1.pid}" in r.stderr and "adopted sequence 1" in r.stderr
        silent = t.fork(tmp_path)  # not listed: apply adopts it itself
        kids.append(silent)

        pids = [t.pid] + [k.pid for k in kids]
        r = ws.hpm(state, "apply", *BUDGET, *sum((["--pid", str(p)] for p in pids), []), h2)
        assert "4 process(es) patched, 0 failed" in r.stdout, r.stdout + r.stderr
        assert f"pid {silent.pid}" in r.stderr and "adopted sequence 1" in r.stderr
        assert t.version() == (2, 2)
        assert all(k.version() == (2, 2) for k in kids)
        after2 = t.fork(tmp_path)  # inherits sequence 2
        kids.append(after2)
        assert after2.version() == (2, 2)

        # revert --all reaches the child forked since, too
        pids.append(after2.pid)
        ws.hpm(state, "revert", "--all", *BUDGET, *sum((["--pid", str(p)] for p in pids), []))
        assert t.version() == (0, 0)
        assert all(k.version() == (0, 0) for k in kids), [k.version() for k in kids]
        for k in kids:
            s = k.stats()
            assert s["err"] == 0 and s["ok"] > 0, s
        t.assert_healthy()
    finally:
        for k in kids:
            k.stop()
        assert t.close() == 0


def test_unverifiable_child_is_not_adopted(ws, state, tmp_path):
    """Without the stored hotpatch its mapping names, hpm cannot know what a
    child carries: it journals nothing and the transition refuses the
    child's bytes (never guesses); the child runs on unharmed."""
    h1 = ws.hotpatch([ws.payload("pad", 1)], 1)
    h2 = ws.hotpatch([ws.payload("pad", 2)], 2)
    t = Target(ws.target("pad"), threads=1)
    kid = None
    try:
        ws.hpm(state, "apply", *BUDGET, "--pid", t.pid, h1)
        kid = t.fork(tmp_path)
        (state / "hotpatches" / "seq-1.hpm").unlink()
        r = ws.hpm(state, "apply", *BUDGET, "--pid", t.pid, "--pid", kid.pid, h2, check=None)
        assert r.returncode == 4, r.stdout + r.stderr
        assert "1 process(es) patched, 1 failed" in r.stdout
        assert f"pid {kid.pid}" in r.stderr and "differ from the expected original bytes" in r.stderr
        assert "adopted" not in r.stderr
        assert t.version() == (2, 2) and kid.version() == (1, 1)
        assert kid.stats()["err"] == 0
    finally:
        if kid:
            kid.stop()
        assert t.close() == 0


def test_agent_adopts_forked_children(ws, state, tmp_path):
    """The agent's periodic rescan journals a child forked from a process it
    patched (a fork is no exec: the rescan, not the exec event, finds it)."""
    h1 = ws.hotpatch([ws.payload("pad", 1)], 1)
    ws.hpm(state, "apply", h1)  # no process runs it yet: recorded for the agent
    agent = subprocess.Popen([str(HPM), "agent"], env=ws.hpm_env(state), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    t = kid = None
    try:
        assert agent.stdout.readline().startswith("agent: watching")
        t = Target(ws.target("pad"), threads=1)
        deadline = time.time() + 5
        while t.version() != (1, 1):
            assert time.time() < deadline, "agent did not patch a new process"
            time.sleep(0.02)
        kid = t.fork(tmp_path)
        assert kid.version() == (1, 1)
        deadline = time.time() + 10
        while not glob.glob(f"{state}/procs/{kid.pid}-*.state"):
            assert time.time() < deadline, "agent did not journal the forked child"
            time.sleep(0.05)
    finally:
        agent.terminate()
        _, err = agent.communicate(timeout=5)
        if kid:
            kid.stop()
        if t:
            assert t.close() == 0
    assert f"pid {kid.pid}" in err and "adopted sequence 1" in err, err
