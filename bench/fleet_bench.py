#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""make bench-fleet: a rollout of many simulated hosts against a real
3-member etcd cluster on loopback (Debian's etcd, as the fleet tests run it).

The hosts are bench/fleet_sim: hpm's own host side (fl_step) for each of
HOSTS hosts in one process, per-host work zero (install and reboot hooks
are /bin/true; a reboot is the next step of a fresh connection).  The
operator (a real `hpm fleet rollout start`) starts a baseline rollout of
the canary ring (K hosts) and one ring of the rest, K out at once, hosts in
fault domains of 50 (so that 20 % of a domain is 10).  Figures, not
pass/fail:
- the time from the start to every host done;
- etcd requests per host (HTTP requests: mean, max) and steps per host;
- the time of one phase move of a host (a step's time over the phases it
  moved through; p50, p99);
- slot handoffs: from a host freeing its slot to the next host holding one
  (p50, p99);
- the invariant checker (tests/fleet/rollout.py) over every revision of the
  rollout in etcd's history: the most hosts out at once; a broken invariant
  fails the run.

  HPM_BUILD=build bench/fleet_bench.py [--hosts 1000] [--max-out 10] [--poll-ms 10000]
"""
import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "fleet"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import conftest  # noqa: E402
from rollout import Gateway, Operator, check_history  # noqa: E402
from hpmtest import BUILD  # noqa: E402

SIM = BUILD / "bench" / "fleet_sim"
DOMAIN = 50


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hosts", type=int, default=1000)
    ap.add_argument("--max-out", type=int, default=10)
    ap.add_argument("--poll-ms", type=int, default=10000)
    ap.add_argument("--timeout", type=int, default=900)
    a = ap.parse_args()
    conftest.LIFETIME = a.timeout + 120
    with tempfile.TemporaryDirectory(prefix="hpm-fleet-bench-") as tmp:
        root = Path(tmp)
        cluster = conftest.Cluster(root).start()
        sim = None
        try:
            op = Operator(root, cluster.endpoints)
            hosts_dir = root / "hosts"
            hosts_dir.mkdir()
            domains = max(1, a.hosts // DOMAIN)
            sim = subprocess.Popen(
                ["timeout", str(a.timeout + 60), str(SIM), "--root", str(hosts_dir), "--endpoints", cluster.endpoints,
                 "--hosts", str(a.hosts), "--domains", str(domains),
                 "--poll-ms", str(a.poll_ms), "--timeout", str(a.timeout)],
                stdout=subprocess.PIPE, text=True)
            line = sim.stdout.readline().strip()
            if line != "registered":
                raise SystemExit(f"fleet_sim did not register its hosts: {line!r}")
            gw = Gateway(cluster.client["m1"])
            first, _ = gw.snapshot()
            names = [f"h{i:04d}" for i in range(a.hosts)]
            k = a.max_out
            t0 = time.monotonic()
            r = op.fleet("rollout", "start", "--baseline-version", "2026.1", "--max-out", str(k),
                         "--ring", ",".join(names[:k]), "--ring", ",".join(names[k:]), check=None)
            if r.returncode:
                sim.terminate()
                print(f"fleet: {a.hosts} hosts, K = {k}: the rollout was refused: {r.stderr.strip()}")
                return 1
            out = sim.stdout.read()
            sim.wait()
            took = time.monotonic() - t0
            fig = json.loads(out.strip().splitlines()[-1])
            last, _ = gw.snapshot()
            most, _ = check_history(gw, first, last, {f"d{d:02d}": len(names[d::domains]) for d in range(domains)})
            st = op.status()
            print(f"fleet: {a.hosts} hosts, K = {k}, {domains} fault domains, 3 etcd members, each host waiting on etcd watches between steps (at most {a.poll_ms} ms)")
            print(f"  rollout {st['rollout']['state']}: {fig['finished']} of {a.hosts} hosts finished in {took:.1f} s "
                  f"({took * 1000 / a.hosts:.0f} ms per host)")
            print(f"  etcd requests per host: mean {fig['requests_mean']:.1f}, max {fig['requests_max']} "
                  f"(goal <= 20); steps per host {fig['steps_mean']:.1f}")
            by = ", ".join(f"{k} {v:.1f}" for k, v in fig["requests_by"].items() if v)
            print(f"    by call, per host: {by}")
            print(f"  one phase move: p50 {fig['moving_p50_ms']:.1f} ms, p99 {fig['moving_p99_ms']:.1f} ms (goal p99 <= 50)")
            print(f"  slot freed -> next host holds it: p50 {fig['handoff_p50_ms']:.1f} ms, "
                  f"p99 {fig['handoff_p99_ms']:.1f} ms over {fig['handoffs']} handoffs")
            print(f"  invariants held over revisions {first}..{last}; at most {most} hosts out at once")
            return 0 if sim.returncode == 0 else 1
        finally:
            if sim and sim.poll() is None:
                sim.kill()
                sim.wait()
            cluster.stop()


if __name__ == "__main__":
    sys.exit(main())
