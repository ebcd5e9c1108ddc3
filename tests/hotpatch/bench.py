#!/usr/bin/python3
"""make bench-hotpatch: pause per process (p50/p99/max) for 1, 10, 100
functions with 4 busy threads; total time to patch N idle processes."""
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hotpatch_util import PATCHGEN, Workspace, run  # noqa: E402

NF = 100
SRC = ["#include <pthread.h>\n#include <unistd.h>\n#include <stdlib.h>\nvolatile long sink;\n"]
for i in range(NF):
    SRC.append(f"__attribute__((noipa)) long f{i}(long x) {{ return x + {i}; }}\n")
SRC.append("static void *w(void *a) { (void)a; for (long i = 0;; i++) { long s = 0;\n")
SRC.append("".join(f"s += f{i}(i);\n" for i in range(0, NF, 7)) + "sink = s; } return 0; }\n")
SRC.append("int main(int c, char **v) { if (c > 1) { pause(); return 0; }\n"
           " pthread_t t[4]; for (int i = 0; i < 4; i++) pthread_create(&t[i], 0, w, 0); pause(); }\n")


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, (len(v) - 1) * p // 100)]


def main():
    d = Path(tempfile.mkdtemp(prefix="hpm-bench-"))
    ws = Workspace(d)
    (d / "b.c").write_text("".join(SRC))
    exe = d / "bench-target"
    run(["gcc", "-O2", "-pthread", "-Wl,--build-id", "-fpatchable-function-entry=16,14", d / "b.c", "-o", exe])
    hps = {}
    for n in (1, 10, 100):
        (d / f"r{n}.c").write_text("".join(f"long n{i}(long x) {{ return x + {i}; }}\n" for i in range(n)))
        (d / f"m{n}").write_text("".join(f"f{i}=n{i}\n" for i in range(n)))
        p = d / f"p{n}.bin"
        run([PATCHGEN, "--target", exe, "--map", d / f"m{n}", "--source", d / f"r{n}.c", "--out", p])
        hps[n] = ws.hotpatch([p], 1, name=f"h{n}.hpm")
    busy = subprocess.Popen([str(exe)])
    time.sleep(0.3)
    try:
        for n in (1, 10, 100):
            pauses = []
            for k in range(60):
                st = d / f"st{n}"
                for cmd in (["apply", "--json", "--pid", str(busy.pid), str(hps[n])],
                            ["revert", "--all", "--pid", str(busy.pid)]):
                    r = ws.hpm(st, *cmd, check=False)
                    for line in r.stdout.splitlines():
                        if "pause" in line and "us" in line and "pid" in line:
                            pauses.append(int(line.split("pause ")[1].split(" us")[0]))
                        elif line.startswith("{"):
                            pauses.append(json.loads(line)["pause_us_p50"])
            print(f"pause, {n:3d} functions, 4 busy threads: p50 {pct(pauses, 50)} us, "
                  f"p99 {pct(pauses, 99)} us, max {max(pauses)} us ({len(pauses)} transitions)")
    finally:
        busy.kill()
    nproc = int(os.environ.get("HPM_BENCH_PROCS", "1000"))
    idle = [subprocess.Popen([str(exe), "idle"]) for _ in range(nproc)]
    time.sleep(1)
    try:
        st = d / "idle"
        t0 = time.time()
        r = ws.hpm(st, "apply", "--json", hps[10], check=False)
        dt = time.time() - t0
        res = json.loads(r.stdout.splitlines()[-1])
        print(f"{nproc} idle processes, 10 functions: {res['patched']} patched, {res['failed']} failed "
              f"in {dt:.2f} s ({dt / max(1, res['patched']) * 1e6:.0f} us per process, "
              f"pause p50 {res['pause_us_p50']} us p99 {res['pause_us_p99']} us)")
        ws.hpm(st, "revert", "--all", check=False)
    finally:
        for p in idle:
            p.kill()
        for p in idle:
            p.wait()


if __name__ == "__main__":
    main()
