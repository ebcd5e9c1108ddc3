#!/usr/bin/python3
"""make bench-hotpatch: the issue's figures, each next to its goal.

- pause per process (all threads stopped; p50/p99/max) for 1, 10 and 100
  functions, 4 busy threads, apply + revert cycles; the one-thread stall
  before it (remote mmap and filling the new code) is reported beside it;
- total time to patch N (default 1,000) idle processes with 10 functions;
- cost of a call to a patched function relative to the unpatched call:
  a direct call (its call site is rewritten: the goal) and a call through a
  function pointer (reaches the entry's jump);
- threads: the pause (apply, replace, revert of 10 functions) of a target
  with 1, 4, 16 and 64 busy threads and 4 busy + 60 idle (blocked in
  pause()), give-ups per 100 operations, the growth of the pause per idle
  thread, each beside its goal, and beside the bare stop and resume of the
  same threads in the same run, by bench_stop (bench/bench_stop.c: the
  calls of runtime/hotpatch/ptrace.c hpm stops threads with, no patching),
  one bare cycle after each apply/replace/revert cycle; and where the pause
  goes (stop, write, and the release after it with its scans: HPM_TIMING).
Figures are measurements, not pass/fail: they depend on the machine's load.
- command: the whole-command wall time of apply, replace and revert --all
  for one process, beside hpm's start and a bare stop/resume command.
HPM_BENCH_ONLY=pause,threads,idle,call,command (default all) picks the parts;
HPM_BENCH_CYCLES, HPM_BENCH_THREADS (default 1,4,16,64,4+60: BUSY or
BUSY+IDLE), HPM_BENCH_PROCS
size them."""
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
from hpmtest import BUILD, PATCHGEN, run  # noqa: E402
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

# threads target: argv[1] busy threads calling t0..t9, main in pause()
NT = 10
THREADS_SRC = ("#include <pthread.h>\n#include <stdlib.h>\n#include <unistd.h>\nvolatile long sink;\n"
               + "".join(f"__attribute__((noipa)) long t{i}(long x) {{ return x + {i}; }}\n" for i in range(NT))
               + "static void *w(void *a) { (void)a; for (long i = 0;; i++) sink = "
               + " + ".join(f"t{i}(i)" for i in range(NT)) + "; return 0; }\n"
               "static void *idle(void *a) { (void)a; for (;;) pause(); return 0; }\n"
               "int main(int c, char **v) { int n = c > 1 ? atoi(v[1]) : 1, k = c > 2 ? atoi(v[2]) : 0; pthread_t t;\n"
               " for (int i = 0; i < k; i++) pthread_create(&t, 0, idle, 0);\n"
               " for (int i = 0; i < n; i++) pthread_create(&t, 0, w, 0); pause(); }\n")
TIMING = re.compile(r"hpm-timing: pid \d+ rc 0 threads \d+ prep \d+ pause \d+ \(stop (\d+) write (\d+)\) "
                    r"release (\d+) \(scan (\d+)\) held (\d+) \(in (\d+)\) hold (\d+) fifo (\d)")


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, (len(v) - 1) * p // 100)]


def goal(ok):
    return "meets goal" if ok else "ABOVE goal"


def pauses_of(ws, st, pid, hp1, hp2, cycles, steps=None, after_cycle=None, giveups=None):
    """apply (fresh), replace (N-1 -> N, old code unmapped), revert --all:
    kind -> (pauses, preps).  steps: kind -> list of (stop, write, release,
    scan, held, hold_wait, hold) from HPM_TIMING; after_cycle() runs after each cycle; giveups: a list
    that gets (kind, retried) of every operation, retried being "gave up",
    "retried" or ""."""
    out = {"apply": ([], []), "replace": ([], []), "revert": ([], [])}
    env = {"HPM_TIMING": "1"} if steps is not None else None
    for _ in range(cycles):
        for kind, cmd in (("apply", ["apply", "--json", "--pid", str(pid), str(hp1)]),
                          ("replace", ["apply", "--json", "--pid", str(pid), str(hp2)]),
                          ("revert", ["revert", "--all", "--pid", str(pid)])):
            r = ws.hpm(st, *cmd, check=None, extra_env=env)
            if giveups is not None:
                giveups.append((kind, "gave up" if "gave up" in r.stderr else "retried" if "retrying" in r.stderr
                                else ""))
            pauses, preps = out[kind]
            if steps is not None:
                steps.setdefault(kind, []).extend(tuple(map(int, m.groups())) for m in TIMING.finditer(r.stderr))
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
        if after_cycle:
            after_cycle()
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


def bare_cycle(pid, bare):
    """One bare stop/resume of pid's threads by bench_stop: (stop, resume, hold) us."""
    r = run(BUILD / "bench" / "bench_stop", pid, 1, check=None)
    f = r.stdout.split()
    if r.returncode == 0 and len(f) == 4:
        bare.append((int(f[0]), int(f[1]), int(f[3])))


def p5099(v):
    return f"{pct(v, 50):5d}/{pct(v, 99):<6d}" if v else "  -  /  -   "


def bench_threads(ws, d):
    src = d / "threads.c"
    src.write_text(THREADS_SRC)
    exe = d / "threads-target"
    run("gcc", "-O2", "-pthread", "-Wl,--build-id", "-fpatchable-function-entry=16,14", src, "-o", exe)
    (d / "tr.c").write_text("".join(f"long u{i}(long x) {{ return x + {i}; }}\n" for i in range(NT)))
    (d / "tm").write_text("".join(f"t{i}=u{i}\n" for i in range(NT)))
    p = d / "tp.bin"
    run(PATCHGEN, "--target", exe, "--map", d / "tm", "--source", d / "tr.c", "--out", p)
    hp1, hp2 = ws.hotpatch([p], 1, name="t1.hpm"), ws.hotpatch([p], 2, name="t2.hpm")
    cycles = int(os.environ.get("HPM_BENCH_CYCLES", "40"))
    # busy threads, or BUSY+IDLE (idle threads blocked in pause())
    rows = [(int(x.partition("+")[0]), int(x.partition("+")[2] or 0))
            for x in os.environ.get("HPM_BENCH_THREADS", "1,4,16,64,4+60").split(",")]
    print(f"threads: pause (us p50/p99, {NT} functions, {cycles} cycles) beside the bare stop of the same threads "
          "(bench_stop: ptrace.c's calls, no patching), one bare cycle after each apply/replace/revert cycle.  "
          "hpm's pause ends before it detaches the threads, so ratio = pause p50 / bare stop p50 (the same window).  "
          "hold: the longest any one thread stayed stopped (sleeping threads are held from a little before the "
          "pause; the release after it), hpm's over all three operations and the bare one's")
    print(f"{'threads':>7} {'apply':>12} {'replace':>12} {'revert':>12} {'bare stop':>12} {'hold':>12} "
          f"{'bare hold':>12} {'ratio apply/replace/revert':>26}  goal")
    analysis, p50_of, gave = [], {}, []
    for row in rows:
        n, idle = row[0], row[1]
        t = subprocess.Popen([str(exe), str(n), str(idle)])
        time.sleep(0.3)
        try:
            bare, steps = [], {}
            res = pauses_of(ws, d / f"tst{n}-{idle}", t.pid, hp1, hp2, cycles, steps,
                            lambda: bare_cycle(t.pid, bare), gave)
        finally:
            t.kill()
            t.wait()
        stop = [s for s, _, _ in bare]
        resume = [r for _, r, _ in bare]
        bhold = [h for _, _, h in bare]
        hold = [x[6] for k in ("apply", "replace", "revert") for x in steps.get(k, [])]
        b50 = pct(stop, 50) if stop else 0
        ratios = [pct(res[k][0], 50) / b50 if res[k][0] and b50 else float("nan") for k in ("apply", "replace", "revert")]
        g = f"<= 1.5x: {goal(all(x <= 1.5 for x in ratios))}"
        g += f"; p99 <= 1 ms: {goal(all(res[k][0] and pct(res[k][0], 99) <= 1000 for k in ('apply', 'replace', 'revert')))}"
        if n == 4 and not idle:
            g += f"; replace/revert p50 <= 100 us: {goal(all(res[k][0] and pct(res[k][0], 50) <= 100 for k in ('replace', 'revert')))}"
        p50_of[row] = {k: pct(res[k][0], 50) for k in ("apply", "replace", "revert") if res[k][0]}
        label = f"{n}+{idle}" if idle else str(n)
        print(f"{label:>7} {p5099(res['apply'][0])} {p5099(res['replace'][0])} {p5099(res['revert'][0])} "
              f"{p5099(stop)} {p5099(hold)} {p5099(bhold)} {ratios[0]:8.2f}/{ratios[1]:.2f}/{ratios[2]:.2f}  [{g}] "
              f"(runs {'/'.join(str(len(res[k][0])) for k in ('apply', 'replace', 'revert'))}/{len(bare)})")
        for k in ("apply", "replace", "revert"):
            st = steps.get(k, [])
            if st:
                analysis.append(f"{label:>7} {k:7s}: stop {pct([x[0] for x in st], 50)}, write {pct([x[1] for x in st], 50)}, "
                                f"after it release {pct([x[2] for x in st], 50)} (scan {pct([x[3] for x in st], 50)}); "
                                f"held before the pause {pct([x[4] for x in st], 50)} in {pct([x[5] for x in st], 50)} (bare stop {pct(stop, 50) if stop else '-'}, "
                                f"bare resume {pct(resume, 50) if resume else '-'})")
    print("where the pause goes (p50 us of each step, HPM_TIMING; the rest of the pause is the checks; release: "
          "detaching the threads after the pause, in no pause figure, while the last ones are still stopped; "
          "scan: of the release, the old-code scan of each thread stopped in the pause, just before its detach):")
    for line in analysis:
        print("  " + line)
    ops = len(gave)
    n_gave, n_retried = sum(g == "gave up" for _, g in gave), sum(g == "retried" for _, g in gave)
    if ops:
        print(f"give-ups: {n_gave} of {ops} operations ({100 * n_gave / ops:.1f} per 100; "
              f"{100 * n_retried / ops:.1f} per 100 retried and then succeeded) [goal 0: {goal(n_gave == 0)}]")
    for row in rows:
        base = (row[0], 0)
        if row[1] and base in p50_of and row in p50_of:
            per = {k: (p50_of[row][k] - p50_of[base][k]) / row[1] for k in p50_of[row] if k in p50_of[base]}
            print(f"idle threads: {row[0]} busy + {row[1]} idle against {row[0]} busy, pause p50 growth per idle "
                  f"thread: " + ", ".join(f"{k} {v:.1f} us" for k, v in per.items())
                  + f" [goal <= 2 us: {goal(per and all(v <= 2 for v in per.values()))}]")


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


def wall_ms(cmd, env=None):
    t0 = time.perf_counter()
    r = subprocess.run([str(c) for c in cmd], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return (time.perf_counter() - t0) * 1000, r.returncode


def bench_command(ws, d, exe, hps):
    """Whole-command wall time of hpm patching one process (4 busy threads,
    10 functions): apply, replace and revert --all as an operator runs them
    (no --pid: hpm looks at every process on the host), beside two floors
    measured in the same run: hpm's own start (hpm --version) and one bare
    stop/resume of the same process's threads as a command of its own
    (bench_stop)."""
    cycles = int(os.environ.get("HPM_BENCH_CYCLES", "40"))
    busy = subprocess.Popen([str(exe)])
    time.sleep(0.3)
    st = d / "cmd-state"
    env = ws.hpm_env(st)
    times = {"apply": [], "replace": [], "revert --all": [], "hpm --version": [], "bare stop/resume": []}
    failed = 0
    hpm = BUILD / "runtime" / "hpm"
    try:
        for _ in range(cycles):
            for kind, cmd in (("apply", [hpm, "apply", hps[10][0]]), ("replace", [hpm, "apply", hps[10][1]]),
                              ("revert --all", [hpm, "revert", "--all"]), ("hpm --version", [hpm, "--version"]),
                              ("bare stop/resume", [BUILD / "bench" / "bench_stop", busy.pid, 1])):
                ms, rc = wall_ms(cmd, env)
                if rc:
                    failed += 1
                else:
                    times[kind].append(ms)
    finally:
        busy.kill()
        busy.wait()
    floor = pct(times["bare stop/resume"], 50) if times["bare stop/resume"] else float("nan")
    print(f"command: whole-command wall time for one process (ms p50/p99, {cycles} cycles, 4 busy threads, "
          f"10 functions, every process on the host looked at; {failed} failed runs); ratio = p50 / the bare "
          "stop/resume command's p50")
    for kind, v in times.items():
        if not v:
            print(f"  {kind:17s}: no successful run")
            continue
        g = f"  [goal <= 35 ms: {goal(pct(v, 50) <= 35)}]" if kind in ("apply", "replace", "revert --all") else ""
        print(f"  {kind:17s}: p50 {pct(v, 50):6.1f}  p99 {pct(v, 99):6.1f}  ratio {pct(v, 50) / floor:5.1f}{g}")


def main():
    d = Path(tempfile.mkdtemp(prefix="hpm-bench-"))
    ws = Workspace(d)
    (d / "b.c").write_text("".join(SRC))
    only = set(os.environ.get("HPM_BENCH_ONLY", "pause,threads,idle,call,command").split(","))
    if only & {"pause", "idle", "command"}:
        exe, hps = bench_pause(ws, d) if "pause" in only else bench_pause_build(ws, d)
        if "idle" in only:
            bench_idle(ws, d, exe, hps[10][0])
        if "command" in only:
            bench_command(ws, d, exe, hps)
    if "threads" in only:
        bench_threads(ws, d)
    if "call" in only:
        bench_call(ws, d)


if __name__ == "__main__":
    main()
