"""Many-threaded targets (issue 20): 64 busy threads, and 4 busy + 60 idle
threads, through apply/replace/revert cycles on an oversubscribed machine
(a competing busy loop besides the target's threads on however few cores):
zero give-ups, zero wrong results, at most one retry line per operation."""
import os
import subprocess
import sys

import pytest

from workspace import Target

CYCLES = int(os.environ.get("HPM_THREADS_CYCLES", "8"))
# The pause budget of the oversubscribed runs: a busy thread stops only when
# the scheduler gives it a turn, and with 65+ busy tasks on 2 cores (and the
# other load of a shared machine) stopping all of them takes 4-50 ms, which
# no retry brings under the default 5 ms.  What is tested here is that the
# retries converge without a give-up; the default budget is the bench's row.
BUDGET = os.environ.get("HPM_THREADS_BUDGET_US", "50000")


@pytest.fixture
def busy_loop():
    """A process competing for the CPUs with the target (oversubscription)."""
    p = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    yield p
    p.kill()
    p.wait()


def one_op(ws, state, t, *args):
    r = ws.hpm(state, "--budget-us", BUDGET, *args, "--pid", t.pid, check=None)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    assert "gave up" not in r.stderr, r.stderr
    retries = [ln for ln in r.stderr.splitlines() if "retrying" in ln]
    assert len(retries) <= 1, r.stderr  # one line, however many tries
    return len(retries)


@pytest.mark.parametrize("threads,idle", [(64, 0), (4, 60)], ids=["64busy", "4busy+60idle"])
def test_cycles_oversubscribed(ws, state, busy_loop, threads, idle):
    h1 = ws.hotpatch([ws.payload("pad", 1)], 1)
    h2 = ws.hotpatch([ws.payload("pad", 2)], 2)
    with Target(ws.target("pad"), threads=threads, idle=idle) as t:
        ntask = len(os.listdir(f"/proc/{t.pid}/task"))
        assert ntask >= threads + idle + 1, ntask
        ops = retried = 0
        for _ in range(CYCLES):
            retried += one_op(ws, state, t, "apply", h1)
            assert t.version() == (1, 1)
            retried += one_op(ws, state, t, "apply", h2)
            assert t.version() == (2, 2)
            retried += one_op(ws, state, t, "revert", "--to", "1")
            assert t.version() == (1, 1)
            retried += one_op(ws, state, t, "revert", "--all")
            assert t.version() == (0, 0)
            ops += 4
        s = t.assert_healthy()
        assert s["v1"] > 0 and s["v2"] > 0
        print(f"{threads} busy + {idle} idle: {ops} operations, {retried} retried, 0 gave up")


def test_backoff_gives_up_at_the_limit(ws, state):
    """The hard limit is real: with a pause budget no stop can meet
    (1 us), the operation fails after retrying, leaves the process
    unchanged and says so once per retry series and once at the end."""
    h1 = ws.hotpatch([ws.payload("pad", 1)], 1)
    with Target(ws.target("pad"), threads=4) as t:
        r = ws.hpm(state, "--budget-us", "1", "apply", "--pid", t.pid, h1,
                   extra_env={"HPM_TEST_RETRY_LIMIT_MS": "300"}, check=4)
        assert r.returncode == 4, (r.stdout, r.stderr)
        assert sum("retrying" in ln for ln in r.stderr.splitlines()) == 1, r.stderr
        assert "gave up after" in r.stderr, r.stderr
        assert t.version() == (0, 0)
        t.assert_healthy()
