# SPDX-License-Identifier: MIT
"""A baseline rollout through etcd on two real QEMU hosts (make
check-fleet-vm; not part of make check: about a minute of TCG here).

Each host is a Linux guest booted through the real hpmboot.efi (as
test_lifecycle.py's), with the real build/runtime/hpm, efivarfs and a FAT
ESP, and a network (QEMU's user networking: 10.0.2.2 is this machine's
loopback, where a real 3-member etcd listens, tests/fleet/conftest.py).
The guest's /init marks its boot good (its health check) and runs `hpm
fleet step --loop` with [fleet] install = hook: the install hook stages the
new baseline with `hpm stage`, the reboot hook powers the guest off (the
test boots it again: the next boot), the verify hook checks that the boot
runs the new baseline.  Its state directory is on the ESP, so it outlives
the reboot.

The operator (the real `hpm fleet rollout start`) rolls baseline 2026.1
out to vm1 (the canary ring), then vm2, one at a time; both hosts boot at
once, so vm2's step waits in its guest while vm1 reboots.  At the end both
run 2026.1 in slot b, marked good, both records are done, the rollout is
done, and etcd's history keeps every invariant (tests/fleet/rollout.py).
"""
import importlib.util
import json
import sys
import threading
from pathlib import Path

import pytest

import hpmtest
import hpmvm
import lifecycle_vm as lv

FLEET_TESTS = Path(__file__).resolve().parent.parent / "tests" / "fleet"
sys.path.insert(0, str(FLEET_TESTS))
from rollout import Gateway, Operator, check_history  # noqa: E402

# tests/fleet/conftest.py (its Cluster), under a name of its own: "conftest" is this directory's
_spec = importlib.util.spec_from_file_location("fleet_conftest", FLEET_TESTS / "conftest.py")
fleet_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fleet_conftest)

NET_KMODS = lv.KMODS + ["net/core/failover.ko", "drivers/net/net_failover.ko", "drivers/net/virtio_net.ko"]

# every boot: the network, the boot's health check (mark-good), then the
# host's side of the rollout until it has nothing left to do (or its
# reboot hook powers the guest off)
PLAN = """ip link set lo up
ip link set eth0 up
ip addr add 10.0.2.15/24 dev eth0
ip route add default via 10.0.2.2
mkdir -p /boot/efi/hpmstate
json boot
run markgood hpm mark-good
run fleet hpm --config /src/hpm.conf --state-dir /boot/efi/hpmstate fleet step @LOOP@
"""

HOOKS = {
    "install": "#!/bin/sh\nexec hpm stage --tries 2 /src/v2.hpm\n",
    "reboot": "#!/bin/sh\necho \"HPMTEST: rebooting\" > /dev/console\nsync\npoweroff -f\n",
    "verify": "#!/bin/sh\nhpm status --json | grep -q '\"version\": *\"2026.1\"' || { hpm status; exit 1; }\n",
}


@pytest.fixture(scope="module")
def inputs():
    fx = hpmvm.fixtures()
    assert lv.HPM.is_file(), "build/runtime/hpm missing: run make"
    root = fx.root / "fleet-vm"
    root.mkdir(parents=True, exist_ok=True)
    libcurl = [(p, p.lstrip("/")) for p in ("/lib/x86_64-linux-gnu/libcurl.so.4",)]  # loaded when needed (dynlib.c)
    initrd = lv.build_initramfs(root / "initrd.cpio", lv.kernel_modules(root, NET_KMODS), programs=libcurl,
                                mods=NET_KMODS)
    out = {}
    for name, version, svn in (("v1", "2025.9", 5), ("v2", "2026.1", 6)):
        d = root / name
        d.mkdir(exist_ok=True)
        out[name] = hpmvm.sign_baseline(d / f"{name}.hpm", hpmvm.KERNEL, initrd, hpmvm.BASE_CMDLINE, version, svn)
    return out


class FleetHost(lv.LifecycleMachine):
    nic = "user,model=virtio-net-pci"

    def __init__(self, workdir, name, domain, endpoints, inputs):
        super().__init__(workdir)
        self.name = name
        self.put_slot("a", inputs["v1"])
        self.put_src(inputs["v2"], "v2.hpm")
        conf = self.dir / "hpm.conf"
        guest = endpoints.replace("127.0.0.1", "10.0.2.2")
        conf.write_text(f"[fleet]\nendpoints = {guest}\nhost = {name}\ndomain = {domain}\nhooks = /src/hooks\n"
                        "install = hook\nhook_timeout = 120s\nrequest_timeout = 3s\nlease_ttl = 60s\n")
        self.put_src(conf, "hpm.conf")
        self._mtools(["mmd", "-i", str(self.src), "::/hooks"])
        for hook, text in HOOKS.items():
            p = self.dir / hook
            p.write_text(text)
            self.put_src(p, f"hooks/{hook}")

    def run_plan(self, loop):
        self.set_plan(PLAN.replace("@LOOP@", "--loop 500" if loop else ""))
        return self.boot(timeout=600)


def test_baseline_rollout_on_two_qemu_hosts(tmp_path, inputs):
    fleet_conftest.LIFETIME = 1500
    (tmp_path / "etcd").mkdir()
    cluster = fleet_conftest.Cluster(tmp_path / "etcd").start()
    try:
        gw = Gateway(cluster.client["m1"])
        hosts = [FleetHost(tmp_path / n, n, f"rack-{i}", cluster.endpoints, inputs)
                 for i, n in enumerate(("vm1", "vm2"), 1)]
        # each registers (one step: no rollout yet)
        boots = {}

        def register(h):
            boots[h.name] = h.run_plan(loop=False)

        ts = [threading.Thread(target=register, args=(h,)) for h in hosts]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        for h in hosts:
            b = boots[h.name]
            assert lv.rcs(b).get("fleet") == 0 and "no rollout" in b.serial, b.describe()
        op = Operator(tmp_path, cluster.endpoints)
        first, _ = gw.snapshot()
        r = op.fleet("rollout", "start", "--baseline-version", "2026.1", "--ring", "vm1", "--ring", "vm2")
        assert "2 hosts in 2 rings" in r.stdout

        # both boot at once; a host whose reboot hook powered it off boots again
        lives = {h.name: [] for h in hosts}

        def live(h):
            for _ in range(4):
                b = h.run_plan(loop=True)
                lives[h.name].append(b)
                if "HPMTEST: rebooting" not in b.serial:
                    return

        ts = [threading.Thread(target=live, args=(h,)) for h in hosts]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        st = op.status()
        assert {h["host"]: h["phase"] for h in st["hosts"]} == {"vm1": "done", "vm2": "done"}, (
            st, [b.describe() for bs in lives.values() for b in bs])
        assert st["rollout"]["state"] == "done" and st["slots"] == [] and st["rollout"]["budget"]["used"] == 0
        for h in hosts:
            bs = lives[h.name]
            assert len(bs) == 2, (h.name, [b.describe() for b in bs])  # the boot that installed, the one after
            assert "HPMTEST: done" in bs[-1].serial and lv.rcs(bs[-1])["fleet"] == 0, bs[-1].describe()
            s = json.loads(lv.markers(bs[-1], "json")["boot"])["boot"]
            assert s["version"] == "2026.1" and s["slot"] == "b", s
            assert s["baseline"] == hpmtest.digest(inputs["v2"])
        last, _ = gw.snapshot()
        most, doms = check_history(gw, first, last, {"rack-1": 1, "rack-2": 1})
        assert most == 1 and doms == {"rack-1", "rack-2"}
        for h in hosts:
            print(f"{h.name}: the rollout's boots took " + ", ".join(f"{b.seconds:.0f} s" for b in lives[h.name]))
    finally:
        cluster.stop()
