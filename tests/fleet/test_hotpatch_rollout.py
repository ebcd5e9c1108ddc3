# SPDX-License-Identifier: MIT
"""A hotpatch rollout through the fleet with real patched processes: three
hosts (each `hpm agent` with its own state, policy and update source, its
own build of the calc program running), [fleet] install = release.  A host
is done only after its health window committed the hotpatch; a host whose
process dies of the hotpatch is reverted by its window and fails in the
fleet (the failure budget counts it); a host already done whose agent's
crash-loop breaker reverts the hotpatch later becomes failed too."""
import json
import signal
import subprocess
import sys
from pathlib import Path

from hpmtest import hpm, sign
from rollout import Host, conf, wait_for

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hotpatch"))
from workspace import LOOPING, Target, Workspace  # noqa: E402


class PatchHost(Host):
    """A simulated host whose agent patches its own calc program: the
    workspace's trust store and baseline, its own catalog (sequence 2 of
    the LOOPING fix, built for its binary) as its update source."""

    def __init__(self, root, name, endpoints, ws):
        self.exe = ws.target(f"own:{name}")
        hp = ws.source_hotpatch(LOOPING, 2, f"loop-{name}", variant=f"own:{name}")
        www = root / name / "www"
        www.mkdir(parents=True)
        (www / "h2.hpm").write_bytes(hp.read_bytes())
        sign("catalog", "--key", ws.d / "k.pem", "--serial", "1", "--expires", "2082758400",
             "--out", www / "catalog.hpm", "--entry", f"{hp}:class=security,released=2026-01-10,url=h2.hpm")
        self.www = www
        checks = root / name / "health.d"
        checks.mkdir(parents=True)
        super().__init__(root, name, "r1", endpoints, agent=True, install="release",
                         extra=f"[update]\nsource = {www}\n[health]\nwindow = 3s\ninterval = 1s\n"
                               f"checks = {checks}\ncrash_loop = 3\ncrash_loop_period = 60s\n")
        self.env = {"HPM_TRUST_DIR": ws.trust, "HPM_BASELINE": ws.baseline}

    def cmd(self, *args):
        # a generous pause budget: on a loaded machine the agent must not give
        # up patching a new process (the test counts on each start being patched)
        c = super().cmd(*args)
        return c[:1] + ["--budget-us", "200000"] + c[1:]

    def hpm(self, *args):
        return hpm("--config", self.conf, "--state-dir", self.state, *args, env=self.env)

    def status(self):
        return json.loads(self.hpm("status", "--json").stdout)["hotpatch"]


def test_hotpatch_rollout_gated_on_the_health_window(tmp_path, etcd_cluster):
    (tmp_path / "ws").mkdir()
    ws = Workspace(tmp_path / "ws")
    hosts = {n: PatchHost(tmp_path, n, etcd_cluster.endpoints, ws) for n in ("h1", "h2", "h3")}
    op_state = tmp_path / "operator"
    op_env = {"HPM_TRUST_DIR": ws.trust, "HPM_STATE_DIR": op_state,
              "HPM_CONF": conf(tmp_path / "operator.conf", etcd_cluster.endpoints, "operator")}
    hpm("catalog", "--source", hosts["h1"].www, env=op_env)

    def status():
        return json.loads(hpm("fleet", "status", "--json", env=op_env).stdout)

    def phases():
        return {h["host"]: h["phase"] for h in status()["hosts"]}

    running = {"h1": Target(hosts["h1"].exe), "h2": Target(hosts["h2"].exe)}
    # h3 runs its program in the configuration the hotpatch breaks
    sick = subprocess.Popen([str(hosts["h3"].exe), "2", "8"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    assert sick.stdout.readline().startswith("ready")
    loopers = []
    try:
        for h in hosts.values():
            h.start()
        wait_for(lambda: hpm("fleet", "rollout", "start", "--hotpatch", "2", "--ring", "h1", "--ring", "h2,h3",
                             "--budget", "1", "--deadline", "verifying=90s", env=op_env, check=None).returncode == 0,
                 30, "every agent registered its host")
        # the canary is done only once its window committed the hotpatch
        wait_for(lambda: phases()["h1"] in ("done", "failed"), 60, "h1 through")
        assert phases()["h1"] == "done", status()
        assert hosts["h1"].status()["health"]["state"] == "committed"
        wait_for(lambda: status()["rollout"]["state"] != "running", 120, "the rollout ended")
        st = status()
        recs = {h["host"]: h for h in st["hosts"]}
        assert recs["h2"]["phase"] == "done", recs["h2"]
        assert recs["h3"]["phase"] == "failed", recs["h3"]
        assert "the health window reverted hotpatch sequence 2" in recs["h3"]["reason"] and \
            "SIGSEGV" in recs["h3"]["reason"], recs["h3"]
        assert st["rollout"]["budget"]["used"] == 1, json.dumps(st)
        assert sick.wait(timeout=10) == -signal.SIGSEGV
        h3 = hosts["h3"].status()
        assert h3["sequence"] == 0 and [b["sequence"] for b in h3["bad"]] == [2], h3
        for n in ("h1", "h2"):
            assert running[n].version() == (2, 2), n
            running[n].assert_healthy()

        # h2, done: its supervisor starts processes in the breaking
        # configuration; the agent patches each, they die, the breaker reverts
        # the hotpatch and the fleet hears of it
        for i in range(3):
            p = subprocess.Popen([str(hosts["h2"].exe), "2", "8"], stdin=subprocess.PIPE,
                                 stdout=subprocess.DEVNULL)
            loopers.append(p)
            try:
                rc = p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                rc = None
            if rc != -signal.SIGSEGV:
                hosts["h2"].terminate()
                raise AssertionError(f"start {i} (pid {p.pid}) was not patched or did not crash ({rc}); "
                                     f"h2's agent said:\n{hosts['h2'].output()}")
        wait_for(lambda: phases()["h2"] == "failed", 30, "h2 failed after its revert")
        st = status()
        h2 = next(h for h in st["hosts"] if h["host"] == "h2")
        assert "hotpatch sequence 2 reverted for its health after this host was done" in h2["reason"] and \
            "crash loop" in h2["reason"], h2
        assert st["rollout"]["budget"]["used"] == 2, json.dumps(st)
        assert running["h2"].version() == (0, 0)  # reverted: the original code
        running["h2"].assert_healthy()
        assert running["h1"].version() == (2, 2) and phases()["h1"] == "done"
        for n, h in hosts.items():
            assert h.terminate() == 0, (n, h.output())
            calls = [c.split()[0] for c in h.hook_calls()]
            # no reboot for a hotpatch; verify only where the window committed it
            want = ["drain", "install"] + (["verify"] if n != "h3" else []) + ["undrain"]
            assert set(calls[:-len(want)]) <= {"gate"} and calls[-len(want):] == want, (n, calls, h.output())
    finally:
        for h in hosts.values():
            h.kill()
        for t in running.values():
            t.close()
        for p in [sick, *loopers]:
            if p.poll() is None:
                p.kill()
                p.wait()
