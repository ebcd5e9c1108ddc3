"""SIGKILL of hpm at random instants: targets run all-old or all-new code, and
the next hpm run finishes or rolls back.

The two random scenarios take their run counts from HPM_CRASH_RUNS and
HPM_SIGKILL_RUNS (60 each: `make check`; `make check-long` runs rounds of
them with varying HPM_CRASH_SEED) and report their figures through
hpmtest.Figures."""
import os
import random
import signal
import subprocess
import time

import pytest

from hpmtest import HPM, Figures
from workspace import Target

RUNS = int(os.environ.get("HPM_CRASH_RUNS", "60"))
REAL_RUNS = int(os.environ.get("HPM_SIGKILL_RUNS", "60"))
SEED = int(os.environ.get("HPM_CRASH_SEED", "0"))
FAULT_EXIT = 9  # hpm's exit status when HPM_TEST_FAULT_AFTER fires (runtime/hotpatch/ptrace.c)


@pytest.mark.parametrize("variant", ["pad", "plain"])
def test_killed_at_every_step(ws, tmp_path, request, variant):
    """hpm dies (exit, as SIGKILL: tracees are released the same way) at a
    seeded random write of the transition: before the mapping is filled,
    between site writes, at the commit byte, between final writes."""
    h1 = ws.hotpatch([ws.payload(variant, 1)], 1)
    h2 = ws.hotpatch([ws.payload(variant, 2)], 2)
    rng = random.Random(f"every-step/{variant}/{SEED}")
    with Figures("every-step", request, SEED, RUNS // 2, tmp_path,
                 HPM_CRASH_SEED=SEED, HPM_CRASH_RUNS=RUNS) as fig:
        t = Target(ws.target(variant), threads=2)
        fig.d["target"] = {"pid": t.pid, "exe": str(ws.target(variant))}
        try:
            for run in range(RUNS // 2):
                state = tmp_path / f"s{run}"
                ws.hpm(state, "apply", "--pid", t.pid, h1)
                env = ws.hpm_env(state)
                # die at a chosen write: between any two steps of the transition
                env["HPM_TEST_FAULT_AFTER"] = str(rng.randrange(0, 7))
                p = subprocess.run([str(HPM), "apply", "--pid", str(t.pid), str(h2)], env=env,
                                   capture_output=True, text=True, timeout=30)
                assert p.returncode in (0, FAULT_EXIT), (p.returncode, p.stderr)
                va, vb = t.version()
                assert va == vb and va in (1, 2), (va, vb)  # never half-patched
                t.assert_healthy()
                ws.hpm(state, "recover")
                va2, vb2 = t.version()
                assert va2 == vb2 and va2 in (1, 2)
                # whatever happened, the journal is consistent: revert and apply again work
                ws.hpm(state, "revert", "--all", "--pid", t.pid)
                assert t.version() == (0, 0)
                pend = list(state.glob("procs/*.pending"))
                assert not pend, pend
                fig.run_done(p.returncode == FAULT_EXIT, va2 == 2)
            t.assert_healthy()
        finally:
            assert t.close() == 0
        # the chosen writes really fall inside transitions, not after them
        assert fig.d["in_transition"] >= RUNS // 4, fig.d


DELAY_US = 1500  # HPM_TEST_SYSCALL_DELAY_US: widens each step of a remote system call


def _killed(ws, state, args, rng):
    """Run hpm with every remote-call step slowed down and SIGKILL it at a
    random instant after it starts the transition.  True if it was killed
    before it finished."""
    env = ws.hpm_env(state)
    env["HPM_TEST_SYSCALL_DELAY_US"] = str(DELAY_US)
    p = subprocess.Popen([str(HPM), *map(str, args)], env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    try:
        for line in p.stderr:
            if "hpm-test: transition" in line:
                break
        # a transition makes at most 3 remote calls of 4 delayed steps each
        time.sleep(rng.uniform(0, 14 * DELAY_US / 1e6))
        p.send_signal(signal.SIGKILL)
        p.wait()
    finally:
        p.stderr.close()
    return p.returncode == -signal.SIGKILL


# op -> (version of the old code, version of the new code)
SIGKILL_OPS = {"apply": (0, 1), "replace": (1, 2), "revert": (1, 0)}


@pytest.mark.parametrize("variant,threads", [("pad", 2), ("plain", 2), ("pad", 64)],
                         ids=["pad", "plain", "pad-64threads"])
def test_real_sigkill_at_random_instants(ws, tmp_path, request, variant, threads):
    """SIGKILL of hpm at seeded random instants during apply, replace and
    revert, remote mmap/mprotect/munmap included: the thread hpm was using
    resumes with its own registers, every target keeps computing correct
    old or new results, and `hpm recover` completes or rolls back.  Also on
    a target with 64 busy threads (fewer runs: each stop of 64 busy threads
    on a few cores takes milliseconds, so these runs use a 50 ms pause
    budget, as tests/hotpatch/test_threads.py does)."""
    h1 = ws.hotpatch([ws.payload(variant, 1)], 1)
    h2 = ws.hotpatch([ws.payload(variant, 2)], 2)
    rng = random.Random(f"sigkill/{variant}/{threads}/{SEED}")
    runs = REAL_RUNS // 2 if threads == 2 else max(4, REAL_RUNS // 6)
    budget = ["--budget-us", "50000"] if threads > 2 else []
    with Figures("sigkill", request, SEED, runs, tmp_path,
                 HPM_CRASH_SEED=SEED, HPM_SIGKILL_RUNS=REAL_RUNS) as fig:
        t = Target(ws.target(variant), threads=threads)
        fig.d["target"] = {"pid": t.pid, "exe": str(ws.target(variant)), "threads": threads}
        try:
            for run in range(runs):
                state = tmp_path / f"k{run}"
                op = rng.choice(sorted(SIGKILL_OPS))
                old, new = SIGKILL_OPS[op]
                if op == "apply":
                    killed = _killed(ws, state, [*budget, "apply", "--pid", t.pid, h1], rng)
                elif op == "replace":
                    ws.hpm(state, *budget, "apply", "--pid", t.pid, h1)
                    killed = _killed(ws, state, [*budget, "apply", "--pid", t.pid, h2], rng)
                else:
                    ws.hpm(state, *budget, "apply", "--pid", t.pid, h1)
                    killed = _killed(ws, state, [*budget, "revert", "--all", "--pid", t.pid], rng)
                va, vb = t.version()
                assert va == vb and va in (old, new), (op, va, vb)
                t.assert_healthy()
                ws.hpm(state, *budget, "recover")
                va2, vb2 = t.version()
                assert va2 == vb2 and va2 in (old, new), (op, va2, vb2)
                assert not list(state.glob("procs/*.pending"))
                ws.hpm(state, *budget, "revert", "--all", "--pid", t.pid)
                assert t.version() == (0, 0)
                t.assert_healthy()
                fig.run_done(killed, va2 == new)
            s = t.assert_healthy()
            assert s["err"] == 0
        finally:
            assert t.close() == 0
        # the kills really landed inside transitions, not after them
        assert fig.d["in_transition"] >= runs // 2, fig.d


def _anon_x(pid):
    return {m.split()[0] for m in open(f"/proc/{pid}/maps").read().splitlines()
            if " r-xp 00000000 00:00 0" in m and "[" not in m}


@pytest.mark.parametrize("at", ["resumed", "unmapped", "journaled"])
def test_killed_between_resume_and_unmap(ws, tmp_path, at):
    """The old code is unmapped after every other thread is resumed: hpm dies
    there (before the unmap, or after it and before the journal records it,
    or after the new state is recorded and before the intent is removed:
    then the state's mappings are the new code, which recovery must keep).
    The target runs the new code, the intent stays journaled, and `hpm
    recover` finishes: the new code stays mapped, the old code goes unless a
    thread still refers to it (then it stays recorded), and a later revert
    works."""
    h1 = ws.hotpatch([ws.payload("pad", 1)], 1)
    h2 = ws.hotpatch([ws.payload("pad", 2)], 2)
    with Target(ws.target("pad"), threads=2) as t:
        state = tmp_path / at
        ws.hpm(state, "apply", "--pid", t.pid, h1)
        old = _anon_x(t.pid)
        assert len(old) == 1
        p = ws.hpm(state, "apply", "--pid", t.pid, h2, check=None, extra_env={"HPM_TEST_EXIT_AT": at})
        assert p.returncode != 0
        assert t.version() == (2, 2)  # committed before the resume
        assert list(state.glob("procs/*.pending"))
        killed = _anon_x(t.pid)
        new = killed - old
        assert len(new) == 1
        if at == "resumed":
            assert killed == old | new  # the unmap had not run
        t.assert_healthy()
        ws.hpm(state, "recover")
        assert not list(state.glob("procs/*.pending"))
        assert t.version() == (2, 2)
        now = _anon_x(t.pid)
        assert new <= now <= old | new  # the new code stays; nothing but ours was there
        s = t.assert_healthy()
        assert s["v2"] > 0
        ws.hpm(state, "revert", "--all", "--pid", t.pid)
        assert t.version() == (0, 0)
        t.assert_healthy()


def test_revert_killed_after_journal(ws, tmp_path):
    """A revert whose new state is recorded when hpm dies, its intent not yet
    removed: `hpm recover` completes it (nothing to undo), the process runs
    the original code, and the journal takes the next apply."""
    h1 = ws.hotpatch([ws.payload("plain", 1)], 1)
    h2 = ws.hotpatch([ws.payload("plain", 2)], 2)
    with Target(ws.target("plain"), threads=2) as t:
        state = tmp_path / "s"
        ws.hpm(state, "apply", "--pid", t.pid, h1)
        p = ws.hpm(state, "revert", "--all", "--pid", t.pid, check=None,
                   extra_env={"HPM_TEST_EXIT_AT": "journaled"})
        assert p.returncode != 0
        assert t.version() == (0, 0)
        assert list(state.glob("procs/*.pending"))
        r = ws.hpm(state, "recover")
        assert "completed" in r.stderr + r.stdout
        assert not list(state.glob("procs/*.pending"))
        assert t.version() == (0, 0)
        t.assert_healthy()
        ws.hpm(state, "apply", "--pid", t.pid, h2)
        assert t.version() == (2, 2)
        t.assert_healthy()
