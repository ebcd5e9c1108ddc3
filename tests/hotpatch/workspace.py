"""Helpers for the hotpatch tests: build targets, payloads and signed hotpatches,
run targets and read their counters."""
import os
import re
import subprocess
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
BUILD = Path(os.environ.get("HPM_BUILD", ROOT / "build"))
HPM = BUILD / "runtime" / "hpm"
PATCHGEN = BUILD / "tools" / "hpm-patchgen"
SIGN = BUILD / "tools" / "hpm-sign"

VARIANTS = {
    "pad": ["-fpatchable-function-entry=16,14"],
    "plain": [],
    "cet": ["-fcf-protection=full"],
    "cetpad": ["-fcf-protection=full", "-fpatchable-function-entry=16,14"],
}


def run(cmd, check=True, **kw):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    if check and r.returncode != 0:
        raise AssertionError(f"{cmd} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r


class Workspace:
    def __init__(self, d: Path):
        self.d = d
        self.trust = d / "trust"
        self.trust.mkdir()
        env = dict(os.environ, SOURCE_DATE_EPOCH="1700000000")
        self.env = env
        run([SIGN, "keygen", "--out", d / "k.pem"], env=env)
        (d / "k.pub").rename(self.trust / "k.pub")
        run([SIGN, "keygen", "--out", d / "rogue.pem"], env=env)
        (d / "kern").write_bytes(os.urandom(512))
        run([SIGN, "baseline", "--key", d / "k.pem", "--kernel", d / "kern", "--version", "1.0",
             "--svn", "1", "--out", d / "base.hpm"], env=env)
        run([SIGN, "baseline", "--key", d / "k.pem", "--kernel", d / "kern", "--version", "2.0",
             "--svn", "2", "--out", d / "other-base.hpm"], env=env)
        out = run([SIGN, "inspect", "--json", d / "base.hpm"], env=env).stdout
        self.baseline = re.search(r'"digest"\s*:\s*"([0-9a-f]{64})"', out).group(1)
        self.targets = {}

    def target(self, variant):
        if variant not in self.targets:
            exe = self.d / f"calc-{variant}"
            run(["gcc", "-O2", "-g", "-pthread", "-Wl,--build-id", *VARIANTS[variant],
                 HERE / "src" / "calc.c", "-o", exe])
            self.targets[variant] = exe
        return self.targets[variant]

    def payload(self, variant, version, name=None):
        exe = self.target(variant)
        src = self.d / f"fix{version}.c"
        src.write_text((HERE / "src" / "fix.c.in").read_text().replace("@V@", str(version)))
        m = self.d / "map"
        m.write_text("calc_a=calc_a_v\ncalc_b=calc_b_v\n")
        out = self.d / (name or f"p-{variant}-{version}.bin")
        run([PATCHGEN, "--target", exe, "--map", m, "--source", src, "--out", out])
        return out

    def hotpatch(self, payloads, seq, key="k.pem", baseline="base.hpm", name=None):
        out = self.d / (name or f"h{seq}-{'-'.join(p.stem for p in payloads)}.hpm")
        cmd = [SIGN, "hotpatch", "--key", self.d / key, "--baseline", self.d / baseline,
               "--seq", seq, "--classification", "security", "--id", f"KB-{seq}", "--out", out]
        for i, p in enumerate(payloads):
            cmd += ["--payload", f"p{i}={p}"]
        run(cmd, env=self.env)
        return out

    def hpm_env(self, state):
        return dict(os.environ, HPM_TRUST_DIR=str(self.trust), HPM_STATE_DIR=str(state),
                    HPM_BASELINE=self.baseline)

    def hpm(self, state, *args, check=True, extra_env=None):
        env = self.hpm_env(state)
        env.update(extra_env or {})
        return run([HPM, *args], check=check, env=env, timeout=60)


class Target:
    """A running calc target: workers in tight loops, a sleeper, main in read()."""

    def __init__(self, exe, threads=2, churn=False):
        args = [str(exe), str(threads), "7"] + (["churn"] if churn else [])
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
