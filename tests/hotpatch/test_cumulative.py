"""Cumulative hotpatches across binaries (project issue 13, finding 1).

After any apply or revert every process runs exactly the code of the host's
recorded sequence, and for a binary that sequence does not target, the
original code.  Three binaries A, B, C (the calc target built three times,
each with its own tag, so three build-ids), two processes of each under
load, and three sequences targeting different subsets:

    seq 1 = {A: v1}    seq 2 = {A: v2, B: v2}    seq 3 = {B: v3, C: v3}

Every transition between none/1/2/3 the CLI allows is taken (apply up,
revert --to down, revert --all to none) and after each one every process's
current code, `hpm list --json` and `hpm status --json` are checked, and the
versions its workers saw since the previous check must be only the old and
the new one (never a third, never a wrong result)."""
import json
import os
import re
import time

import pytest

from hpmtest import PATCHGEN, run
from workspace import HERE, VARIANTS, Target, version_of

# seven busy processes on few CPUs: stops can take longer than the default
# pause budget; this test is about which code runs, not about pauses
BUDGET = ["--budget-us", "50000"]
SEQS = {1: {"A": 1}, 2: {"A": 2, "B": 2}, 3: {"B": 3, "C": 3}}
# different code forms too: entry pad (direct jump), prologue, CET + pad
FORMS = {"A": "pad", "B": "plain", "C": "cetpad"}


def expected(binary, seq):
    """calc_a/calc_b's version in a process of binary when seq is recorded."""
    return SEQS.get(seq, {}).get(binary, 0)


@pytest.fixture(scope="module")
def cum(ws):
    """Three distinct binaries and the three signed hotpatches."""
    d = ws.d / "cumulative"
    d.mkdir()
    salt = os.urandom(4).hex()  # build-ids no other run's processes share
    exes, bids = {}, {}
    for b, form in FORMS.items():
        src = d / f"calc-{b}.c"
        src.write_text(f'#include "{HERE / "src" / "calc.c"}"\n'
                       f'__attribute__((used)) static const char binary_tag[] = "{b}-{salt}";\n')
        exes[b] = d / f"calc-{b}"
        run("gcc", "-O2", "-g", "-pthread", "-Wl,--build-id", *VARIANTS[form], src, "-o", exes[b])
        note = run("readelf", "-n", exes[b]).stdout
        bids[b] = re.search(r"Build ID: ([0-9a-f]+)", note).group(1)
    assert len(set(bids.values())) == 3, bids
    m = d / "map"
    m.write_text("calc_a=calc_a_v\ncalc_b=calc_b_v\n")
    hps = {}
    for seq, targets in SEQS.items():
        pls = []
        for b, v in targets.items():
            fix = d / f"fix-{b}-{v}.c"
            fix.write_text((HERE / "src" / "fix.c.in").read_text().replace("@V@", str(v)))
            pls.append(d / f"p-{b}-{v}.bin")
            run(PATCHGEN, "--target", exes[b], "--map", m, "--source", fix, "--out", pls[-1])
        hps[seq] = ws.hotpatch(pls, seq, name=f"cumulative-h{seq}.hpm")
    return exes, bids, hps


class Proc:
    """A process of binary b (a Target, or a Child forked from one) with the
    version counters seen at the last check."""

    def __init__(self, b, t=None, child=None):
        self.b, self.t, self.child = b, t, child
        self.pid = (t or child).pid
        self.last = self.read()

    def read(self):
        return self.t.stats() if self.t else self.child.stats(time.time())


def test_every_transition_runs_the_recorded_sequence(ws, cum, tmp_path):
    exes, bids, hps = cum
    procs = [Proc(b, Target(exes[b], threads=2)) for b in "AABBCC"]
    problems = []
    state = [tmp_path / "state"]  # the host's state directory (phase 2: a fresh one)
    seq = [0]

    def pids():
        return sum((["--pid", str(p.pid)] for p in procs), [])

    def step(label, new_seq, *args):
        """One hpm command, then every check; problems are collected so that
        one run shows every transition that goes wrong."""
        r = ws.hpm(state[0], *args, *BUDGET, *pids(), check=None)
        bad = []
        if r.returncode != 0:
            bad.append(f"exit {r.returncode}: {r.stdout.strip()} {r.stderr.strip()}")
        m = re.search(r"(\d+) failed", r.stdout)
        if not m or m.group(1) != "0":
            bad.append(f"output: {r.stdout.strip()!r}")
        old_seq, seq[0] = seq[0], new_seq
        listed = {}
        for e in json.loads(ws.hpm(state[0], "list", "--json").stdout)["processes"]:
            listed.setdefault(e["pid"], []).append(e)
        st = json.loads(ws.hpm(state[0], "status", "--json").stdout)["hotpatch"]
        if st["sequence"] != new_seq:
            bad.append(f"status says sequence {st['sequence']}")
        for p in procs:
            s = p.read()
            want = expected(p.b, new_seq)
            was = version_of(p.last)[0]
            now = version_of(s)
            if now != (want, want):
                bad.append(f"{p.b} pid {p.pid}: runs {now}, want ({want}, {want})")
            # under load: only the code before and the code after ran meanwhile
            seen = {v for v in range(16) if s[f"v{v}"] > p.last[f"v{v}"]}
            if s["err"] != p.last["err"] or not seen <= {was, want}:
                bad.append(f"{p.b} pid {p.pid}: ran versions {sorted(seen)} (err {s['err'] - p.last['err']})"
                           f" between {was} and {want}")
            p.last = s
            entries = listed.get(p.pid, [])
            if want == 0 and entries:
                bad.append(f"{p.b} pid {p.pid}: listed {[e['sequence'] for e in entries]}, runs original code")
            if want and (len(entries) != 1 or entries[0]["sequence"] != new_seq
                         or entries[0]["build_id"] != bids[p.b]
                         or set(entries[0]["functions"]) != {"calc_a", "calc_b"}):
                bad.append(f"{p.b} pid {p.pid}: listed {entries}, want sequence {new_seq}")
        problems.extend(f"{label} ({old_seq} -> {new_seq}): {x}" for x in bad)

    try:
        assert all(version_of(p.last) == (0, 0) for p in procs)
        step("apply 1", 1, "apply", hps[1])
        step("apply 2", 2, "apply", hps[2])
        step("apply 3", 3, "apply", hps[3])
        step("revert --to 2", 2, "revert", "--to", "2")
        # a child forked now inherits B's sequence 2 unjournaled: the next
        # step, whose sequence does not target B, must find and revert it
        procs.append(Proc("B", child=procs[2].t.fork(tmp_path)))
        step("revert --to 1", 1, "revert", "--to", "1")
        step("revert --all", 0, "revert", "--all")
        state[0] = tmp_path / "state2"  # a fresh host state: 1 -> 3 without 2
        step("apply 1", 1, "apply", hps[1])
        step("apply 3", 3, "apply", hps[3])
        step("revert --to 1", 1, "revert", "--to", "1")
        step("revert --all", 0, "revert", "--all")
        step("apply 2", 2, "apply", hps[2])
        step("revert --all", 0, "revert", "--all")
        step("apply 3", 3, "apply", hps[3])
        step("revert --all", 0, "revert", "--all")
        assert not problems, "\n".join(problems)
        for p in procs:
            s = p.read()
            assert s["err"] == 0 and s["sleep_err"] == 0, (p.b, s)
            # each process really ran every version its binary had
            ran = {v for v in range(16) if s[f"v{v}"]}
            assert {expected(p.b, q) for q in SEQS} - {0} <= ran or p.child, (p.b, s)
    finally:
        for p in procs:
            if p.child:
                p.child.stop()
        for p in procs:
            if p.t:
                assert p.t.close() == 0


def test_processes_left_at_other_sequences_converge(ws, cum, tmp_path):
    """--pid subsets leave processes at older sequences (A at 1 while the
    host records 3); a later transition of every process brings each to the
    recorded sequence: an older sequence of a still-targeted binary is
    replaced, a newer or older one of an untargeted binary reverted."""
    exes, bids, hps = cum
    a, b, c = (Target(exes[x], threads=1) for x in "ABC")
    state = tmp_path / "state"
    every = ["--pid", str(a.pid), "--pid", str(b.pid), "--pid", str(c.pid)]
    try:
        ws.hpm(state, "apply", *BUDGET, *every, hps[1])
        ws.hpm(state, "apply", *BUDGET, "--pid", str(b.pid), hps[2])
        ws.hpm(state, "apply", *BUDGET, "--pid", str(c.pid), hps[3])
        assert (a.version(), b.version(), c.version()) == ((1, 1), (2, 2), (3, 3))
        r = ws.hpm(state, "revert", "--to", "2", *BUDGET, *every)
        assert "0 failed" in r.stdout, r.stdout
        assert (a.version(), b.version(), c.version()) == ((2, 2), (2, 2), (0, 0)), r.stdout + r.stderr
        ws.hpm(state, "apply", *BUDGET, "--pid", str(a.pid), hps[3])  # A alone: reverted, nothing patched
        assert (a.version(), b.version(), c.version()) == ((0, 0), (2, 2), (0, 0))
        r = ws.hpm(state, "revert", "--to", "1", *BUDGET, *every)
        assert (a.version(), b.version(), c.version()) == ((1, 1), (0, 0), (0, 0)), r.stdout + r.stderr
        listed = {e["pid"]: e["sequence"] for e in json.loads(ws.hpm(state, "list", "--json").stdout)["processes"]}
        assert {p: listed.get(p) for p in (a.pid, b.pid, c.pid)} == {a.pid: 1, b.pid: None, c.pid: None}
        ws.hpm(state, "revert", "--all", *BUDGET, *every)
        for t in (a, b, c):
            assert t.version() == (0, 0)
            t.assert_healthy()
    finally:
        for t in (a, b, c):
            assert t.close() == 0
