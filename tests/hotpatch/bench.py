#!/usr/bin/python3
"""make bench-hotpatch: the issue's figures, each next to its goal.

- pause per process (all threads stopped; p50/p99/max) for 1, 10 and 100
  functions, 4 busy threads, apply + revert cycles; the one-thread stall
  before it (remote mmap and filling the new code) is reported beside it;
- total time to patch N (default 1,000) idle processes with 10 functions;
- cost of a call to a patched function relative to the unpatched call:
  a direct call (its call site is rewritten: the goal) and a call through a
  function pointer (reaches the entry's jump).
Figures are measurements, not pass/fail: they depend on the machine's load.
HPM_BENCH_ONLY=pause,idle,call (default all) picks the parts; HPM_BENCH_CYCLES,
HPM_BENCH_PROCS size them."""
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # workspace.py; tests/hpmtest.py
from hpmtest import PATCHGEN, run  # noqa: E402
from workspace import Workspace  # noqa: E402

NF = 100
SRC = ["#include <pthread.h>\n#include <unistd.h>\n#include <stdlib.h>\nvolatile long sink;\n"]
for i in range(NF):
    SRC.append(f"__attribute__((noipa)) long f{i}(long x) {{ return x + {i}; }}\n")
SRC.append("static void *w(void *a) { (void)a; for (long i = 0;; i++) { long s = 0;\n")
SRC.append("".join(f"s += f{i}(i);\n" for i in range(0, NF, 7)) + "sink = s; } return 0; }\n")
SRC.append("int main(int c, char **v) { if (c > 1) { pause(); return 0; }\n"
           " pthread_t t[4]; for (int i = 0; i < 4; i++) pthread_create(&t[i], 0, w, 0); pause(); }\n")

# call-cost target: "run" times CALLS calls of callee() and prints ns per call
CALL_SRC = r"""
#include <stdio.h>
#include <string.h>
#include <time.h>
#define CALLS 50000000L
__attribute__((noipa)) long callee(long x) { return x * 3 + 1; }
long (*volatile callee_ptr)(long) = callee;
/* each loop in its own function, 64-byte aligned: the layout of one does
 * not move the other */
__attribute__((noinline, aligned(64))) static long direct_calls(void) {
  long s = 0;
  for (long i = 0; i < CALLS; i++) s += callee(i);
  return s;
}
__attribute__((noinline, aligned(64))) static long pointer_calls(void) {
  long (*f)(long) = callee_ptr; /* reaches the entry, not a call site */
  long s = 0;
  for (long i = 0; i < CALLS; i++) s += f(i);
  return s;
}
int main(void) {
  char line[64];
  printf("ready\n"); fflush(stdout);
  while (fgets(line, sizeof line, stdin)) {
    if (strncmp(line, "run", 3)) break;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    long s = line[3] == 'p' ? pointer_calls() : direct_calls();
    clock_gettime(CLOCK_MONOTONIC, &b);
    double ns = ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / CALLS;
    printf("%.4f %ld\n", ns, s); fflush(stdout);
  }
  return 0;
}
"""
CALL_FIX = "long callee_v(long x) { return x * 3 + 1; }\n"


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, (len(v) - 1) * p // 100)]


def goal(ok):
    return "meets goal" if ok else "ABOVE goal"


def pauses_of(ws, st, pid, hp1, hp2, cycles):
    """apply (fresh), replace (N-1 -> N, old code unmapped), revert --all."""
    out = {"apply": ([], []), "replace": ([], []), "revert": ([], [])}
    for _ in range(cycles):
        for kind, cmd in (("apply", ["apply", "--json", "--pid", str(pid), str(hp1)]),
                          ("replace", ["apply", "--json", "--pid", str(pid), str(hp2)]),
                          ("revert", ["revert", "--all", "--pid", str(pid)])):
            r = ws.hpm(st, *cmd, check=None)
            pauses, preps = out[kind]
            for line in r.stdout.splitlines():
                m = re.search(r"pause (\d+) us(?:, prep (\d+) us)?", line)
                if m and "pid" in line:
                    pauses.append(int(m.group(1)))
                    preps.append(int(m.group(2) or 0))
                elif line.startswith("{"):
                    j = json.loads(line)
                    if j["patched"]:
                        pauses.append(j["pause_us_p50"])
                        preps.append(j.get("prep_us_p50", 0))
    return out


def bench_pause_build(ws, d):
    exe = d / "bench-target"
    run("gcc", "-O2", "-pthread", "-Wl,--build-id", "-fpatchable-function-entry=16,14", d / "b.c", "-o", exe)
    hps = {}
    for n in (1, 10, 100):
        (d / f"r{n}.c").write_text("".join(f"long n{i}(long x) {{ return x + {i}; }}\n" for i in range(n)))
        (d / f"m{n}").write_text("".join(f"f{i}=n{i}\n" for i in range(n)))
        p = d / f"p{n}.bin"
        run(PATCHGEN, "--target", exe, "--map", d / f"m{n}", "--source", d / f"r{n}.c", "--out", p)
        hps[n] = (ws.hotpatch([p], 1, name=f"h{n}.hpm"), ws.hotpatch([p], 2, name=f"h{n}-2.hpm"))
    return exe, hps


def bench_pause(ws, d):
    exe, hps = bench_pause_build(ws, d)
    busy = subprocess.Popen([str(exe)])
    time.sleep(0.3)
    print("pause = all threads stopped; stall = the one thread stopped before it (remote mmap, filling code)")
    try:
        for n in (1, 10, 100):
            res = pauses_of(ws, d / f"st{n}", busy.pid, *hps[n], int(os.environ.get("HPM_BENCH_CYCLES", "40")))
            for kind, (pauses, preps) in res.items():
                if not pauses:
                    print(f"pause, {n:3d} functions, {kind}: no successful transition")
                    continue
                p50, p99 = pct(pauses, 50), pct(pauses, 99)
                g = f"  [goal p50 <= 100 us, p99 <= 1000 us: {goal(p50 <= 100 and p99 <= 1000)}]" if n == 10 else ""
                print(f"pause, {n:3d} functions, 4 busy threads, {kind:7s}: p50 {p50} us, p99 {p99} us, "
                      f"max {max(pauses)} us ({len(pauses)} runs; stall p50 {pct(preps, 50)} us){g}")
    finally:
        busy.kill()
        busy.wait()
    return exe, hps


def bench_idle(ws, d, exe, hp):
    nproc = int(os.environ.get("HPM_BENCH_PROCS", "1000"))
    idle = [subprocess.Popen([str(exe), "idle"]) for _ in range(nproc)]
    time.sleep(1 + nproc / 1000)
    try:
        st = d / "idle"
        t0 = time.time()
        r = ws.hpm(st, "apply", "--json", hp, check=None)
        dt = time.time() - t0
        res = json.loads(r.stdout.splitlines()[-1])
        print(f"{nproc} idle processes, 10 functions: {res['patched']} patched, {res['failed']} failed "
              f"in {dt:.2f} s ({dt / max(1, res['patched']) * 1e6:.0f} us per process, "
              f"pause p50 {res['pause_us_p50']} us p99 {res['pause_us_p99']} us)"
              f"  [goal 1,000 processes <= 1 s: {goal(dt * 1000 / nproc <= 1.0)}]")
        ws.hpm(st, "revert", "--all", check=None)
    finally:
        for p in idle:
            p.kill()
        for p in idle:
            p.wait()


def bench_call(ws, d):
    src = d / "call.c"
    src.write_text(CALL_SRC)
    exe = d / "call-target"
    run("gcc", "-O2", "-Wl,--build-id", "-fpatchable-function-entry=16,14", src, "-o", exe)
    (d / "call-fix.c").write_text(CALL_FIX)
    (d / "call-map").write_text("callee=callee_v\n")
    p = d / "call.bin"
    run(PATCHGEN, "--target", exe, "--map", d / "call-map", "--source", d / "call-fix.c", "--out", p)
    hp = ws.hotpatch([p], 1, name="call.hpm")
    t = subprocess.Popen([str(exe)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
    assert t.stdout.readline().startswith("ready")

    def best(k=7, cmd="run"):
        v = []
        for _ in range(k):
            t.stdin.write(cmd + "\n")
            t.stdin.flush()
            v.append(float(t.stdout.readline().split()[0]))
        return min(v)

    try:
        st = d / "call-st"
        base, patched, pbase, ppatched = [], [], [], []
        for _ in range(3):  # interleave to cancel drifts in load
            base.append(best())
            pbase.append(best(cmd="runp"))
            ws.hpm(st, "apply", "--pid", str(t.pid), hp)
            patched.append(best())
            ppatched.append(best(cmd="runp"))
            ws.hpm(st, "revert", "--all", "--pid", str(t.pid))
        b, q = min(base), min(patched)
        print(f"call cost: unpatched {b:.3f} ns, patched {q:.3f} ns per direct call of a 2-instruction function: "
              f"ratio {q / b:.2f}x  [goal <= 1.10x: {goal(q / b <= 1.10)}]")
        b, q = min(pbase), min(ppatched)
        print(f"call cost through a function pointer (reaches the entry): unpatched {b:.3f} ns, "
              f"patched {q:.3f} ns: ratio {q / b:.2f}x")
    finally:
        t.stdin.close()
        t.wait()


def main():
    d = Path(tempfile.mkdtemp(prefix="hpm-bench-"))
    ws = Workspace(d)
    (d / "b.c").write_text("".join(SRC))
    only = set(os.environ.get("HPM_BENCH_ONLY", "pause,idle,call").split(","))
    if only & {"pause", "idle"}:
        exe, hps = bench_pause(ws, d) if "pause" in only else (None, None)
        if "idle" in only:
            if exe is None:
                exe, hps = bench_pause_build(ws, d)
            bench_idle(ws, d, exe, hps[10][0])
    if "call" in only:
        bench_call(ws, d)


if __name__ == "__main__":
    main()
