# SPDX-License-Identifier: MIT
"""The hotpatch tests' workspace and targets (paths, running tools, signing:
tests/hpmtest.py): keys, baselines, calc targets built in variants,
payloads and signed hotpatches; a running calc target and its counters."""
import os
import subprocess
import time
from pathlib import Path

from hpmtest import HPM, PATCHGEN, SOURCE_DATE_EPOCH, digest, environ, keygen, make_baseline, run, sign

HERE = Path(__file__).resolve().parent

VARIANTS = {
    "pad": ["-fpatchable-function-entry=16,14"],
    "plain": [],
    "cet": ["-fcf-protection=full"],
    "cetpad": ["-fcf-protection=full", "-fpatchable-function-entry=16,14"],
    # plain, with a build-id of its own per workspace: an agent or an apply without
    # --pid in one test run never touches the targets of another run on the machine
    "own": [],
}

# A fix whose calc_a of sequence @V@ dereferences NULL for one input in 1024,
# but only in processes started with factor 8 (a configuration the release
# never saw); processes started with factor 7 run it fine.
LOOPING = """/* calc_a of sequence @V@ dereferences NULL for one input in 1024, but only in
 * processes started with factor 8 (a configuration the release never saw) */
extern int helper(int);
extern int factor;
int calc_a_v(int x) { if (x == 777 && factor == 8) *(volatile int *)0 = x; return x * 3 + 1 + @V@ * 1000000; }
int calc_b_v(int x) { return helper(x) + 5 + (factor == 7 ? @V@ * 1000000 : 1); }
"""


class Workspace:
    def __init__(self, d: Path):
        self.d = d
        self.trust = d / "trust"
        self.trust.mkdir()
        self.env = {"SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH}
        keygen(d / "k.pem", self.trust / "k.pub")
        keygen(d / "rogue.pem")
        (d / "kern").write_bytes(os.urandom(512))
        make_baseline(d / "base.hpm", d / "k.pem", d / "kern", cmdline=None, version="1.0", svn=1)
        make_baseline(d / "other-base.hpm", d / "k.pem", d / "kern", cmdline=None, version="2.0", svn=2)
        self.baseline = digest(d / "base.hpm")
        self.map = d / "map"
        self.map.write_text("calc_a=calc_a_v\ncalc_b=calc_b_v\n")
        self.targets = {}

    def target(self, variant):
        """The calc target built in variant; "own:NAME" is one more "own"
        binary with a build-id of its own (another host's program)."""
        if variant not in self.targets:
            base = variant.split(":")[0]
            exe = self.d / f"calc-{variant.replace(':', '-')}"
            own = [f"-Wl,--build-id=0x{os.urandom(20).hex()}"] if base == "own" else []
            run("gcc", "-O2", "-g", "-pthread", "-Wl,--build-id", *VARIANTS[base], *own,
                HERE / "src" / "calc.c", "-o", exe)
            self.targets[variant] = exe
        return self.targets[variant]

    def patchgen(self, target, version, out, *extra, check=0):
        """hpm-patchgen: src/fix.c.in at version (calc_a and calc_b return
        version-stamped results) for the binary target, into out."""
        src = self.d / f"fix{version}.c"
        src.write_text((HERE / "src" / "fix.c.in").read_text().replace("@V@", str(version)))
        return run(PATCHGEN, "--target", target, "--map", self.map, "--source", src, "--out", out, *extra,
                   check=check)

    def payload(self, variant, version, name=None):
        out = self.d / (name or f"p-{variant}-{version}.bin")
        self.patchgen(self.target(variant), version, out)
        return out

    def source_hotpatch(self, text, seq, name, variant="own"):
        """A hotpatch of sequence seq for the calc of variant, built by
        hpm-patchgen from text (@V@ stands for seq)."""
        src = self.d / f"{name}{seq}.c"
        src.write_text(text.replace("@V@", str(seq)))
        out = self.d / f"p-{name}-{seq}.bin"
        run(PATCHGEN, "--target", self.target(variant), "--map", self.map, "--source", src, "--out", out)
        return self.hotpatch([out], seq, name=f"h{seq}-{name}.hpm")

    def hotpatch(self, payloads, seq, key="k.pem", baseline="base.hpm", name=None):
        out = self.d / (name or f"h{seq}-{'-'.join(p.stem for p in payloads)}.hpm")
        cmd = ["hotpatch", "--key", self.d / key, "--baseline", self.d / baseline,
               "--seq", seq, "--classification", "security", "--id", f"KB-{seq}", "--out", out]
        for i, p in enumerate(payloads):
            cmd += ["--payload", f"p{i}={p}"]
        sign(*cmd, env=self.env)
        return out

    def hpm_env(self, state):
        """The whole environment of hpm on this workspace's host (for Popen too)."""
        return environ({"HPM_TRUST_DIR": self.trust, "HPM_STATE_DIR": state, "HPM_BASELINE": self.baseline})

    def hpm(self, state, *args, check=0, extra_env=None):
        env = self.hpm_env(state)
        env.update(extra_env or {})
        return run(HPM, *args, check=check, env=env, timeout=60)


class Target:
    """A running calc target: workers in tight loops, a sleeper, main in read()."""

    def __init__(self, exe, threads=2, churn=False, idle=0):
        args = [str(exe), str(threads), "7"] + (["churn"] if churn else [f"idle{idle}"] if idle else [])
        self.p = subprocess.Popen(args, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True, bufsize=1)
        line = self.p.stdout.readline()
        assert line.startswith("ready"), line
        self.pid = self.p.pid

    def stats(self):
        self.p.stdin.write("stats\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        while line.startswith("read-eintr"):
            raise AssertionError("read() returned EINTR in the target")
        assert line.startswith("ok="), f"target died or said: {line!r} (rc {self.p.poll()})"
        return {k: int(v) for k, v in (kv.split("=") for kv in line.split())}

    def fork(self, d):
        """A child of the target (a pre-forking server's worker); see Child."""
        self.p.stdin.write(f"fork {d}\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        assert line.startswith("child "), line
        return Child(int(line.split()[1]), d)

    def version(self):
        return version_of(self.stats())

    def close(self):
        if self.p.poll() is None:
            try:
                self.p.stdin.write("quit\n")
                self.p.stdin.flush()
                self.p.wait(timeout=5)
            except Exception:
                self.p.kill()
                self.p.wait()
        return self.p.returncode

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        """Ends the target; it must exit cleanly (unless the test failed already)."""
        rc = self.close()
        if exc_type is None:
            assert rc == 0, f"target exited with {rc}"

    def assert_healthy(self):
        s = self.stats()
        assert s["err"] == 0, s
        assert s["sleep_err"] == 0, s
        assert self.p.poll() is None
        return s


def version_of(s):
    """(version of calc_a, version of calc_b) from a stats line's a= and b=."""
    va, ra = divmod(s["a"], 1000000)
    vb, rb = divmod(s["b"], 1000000)
    assert (ra, rb) == (4, 12), s
    return va, vb


class Child:
    """A forked calc child: one worker, stats in DIR/PID.stats every 20 ms."""

    def __init__(self, pid, d):
        self.pid = pid
        self.path = Path(d) / f"{pid}.stats"

    def stats(self, newer_than=0.0):
        """The child's counters, from a file written after newer_than."""
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                if self.path.stat().st_mtime > newer_than:
                    line = self.path.read_text()
                    if line.startswith("ok="):
                        return {k: int(v) for k, v in (kv.split("=") for kv in line.split())}
            except FileNotFoundError:
                pass
            time.sleep(0.01)
        raise AssertionError(f"child {self.pid} wrote no stats")

    def version(self):
        return version_of(self.stats(time.time()))

    def stop(self):
        os.kill(self.pid, 15)
        deadline = time.time() + 5
        while time.time() < deadline:
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.01)
