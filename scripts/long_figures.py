#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The summary of `make check-long` (scripts/check-long.sh): sums the JSON
lines the long scenarios appended (tests/hpmtest.py, Figures) per scenario
and prints runs, kills that landed inside a transition, outcomes old/new and
failures, each failure with the command that replays it.  Exit status 0
only if every scenario did at least its expected runs and none failed."""
import argparse
import glob
import json
import re
import sys
from pathlib import Path

FIELDS = ("runs", "done", "in_transition", "old", "new", "failures")


def core_files(pid):
    """Cores of pid, where /proc/sys/kernel/core_pattern puts them (when it
    names a file that carries the pid, %p)."""
    try:
        pattern = Path("/proc/sys/kernel/core_pattern").read_text().strip()
    except OSError:
        return []
    if not pattern.startswith("/") or "%p" not in pattern:
        return []
    return sorted(glob.glob(re.sub(r"%.", "*", pattern.replace("%p", str(pid)))))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("figures", type=Path)
    ap.add_argument("--seed", required=True)
    ap.add_argument("--expect", action="append", default=[], metavar="SCENARIO=RUNS")
    ap.add_argument("--pytest-failures", type=int, default=0,
                    help="pytest runs that exited non-zero (a failure no figure line shows)")
    a = ap.parse_args()
    expect = {k: int(v) for k, v in (e.split("=", 1) for e in a.expect)}

    records = []
    if a.figures.is_file():
        for n, line in enumerate(a.figures.read_text().splitlines(), 1):
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as e:
                print(f"{a.figures}:{n}: not a JSON line ({e}): a test wrote it half; "
                      f"run make check-long again", file=sys.stderr)
                return 1
    total = {}
    for r in records:
        t = total.setdefault(r["scenario"], dict.fromkeys(FIELDS, 0))
        for k in FIELDS:
            t[k] += r[k]

    print(f"=== check-long figures, seed {a.seed} ({a.figures}) ===")
    print(f"{'scenario':<12} {'runs':>5} {'in transition':>14} {'old':>5} {'new':>5} {'failures':>9}")
    bad = 0
    for name in sorted(set(expect) | set(total)):
        t = total.get(name, dict.fromkeys(FIELDS, 0))
        print(f"{name:<12} {t['done']:>5} {t['in_transition']:>14} {t['old']:>5} {t['new']:>5} "
              f"{t['failures']:>9}")
        missing = expect.get(name, 0) - t["done"] - t["failures"]
        if missing > 0:
            print(f"  {name}: {missing} of the {expect[name]} expected runs were not done "
                  f"(a test ended early or never started: see its pytest output above)")
            bad += 1
        bad += t["failures"]
    for r in records:
        for f in r["failed"]:
            when = "after its runs" if f["run"] >= r["runs"] else f"run {f['run']}"
            print(f"\nFAILED {r['scenario']} {r['test']} seed {r['seed']}, {when}:\n  {f['error']}")
            print(f"  replay: {f['replay']}")
            print(f"  evidence: {r['evidence']}")
            target = r.get("target")
            if target:
                cores = core_files(str(target["pid"]))
                print(f"  target: pid {target['pid']}, {target['exe']}; cores: "
                      f"{', '.join(cores) if cores else 'none'}")
    if a.pytest_failures and not bad:
        print(f"\n{a.pytest_failures} pytest run(s) failed without a failed run in the figures: "
              f"see their output above")
        bad += a.pytest_failures
    runs = sum(t["done"] for t in total.values())
    fails = sum(t["failures"] for t in total.values())
    print(f"\ncheck-long: {runs} runs passed, {fails} failed")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
