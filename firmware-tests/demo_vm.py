# SPDX-License-Identifier: MIT
"""The whole product in one flow, in QEMU + OVMF: used by `make demo`
(scripts/demo.py prints it for a newcomer) and by the firmware test
firmware-tests/test_demo_lifecycle.py (asserts every step).

Release side (the host running this): a fresh throwaway release key,
hpmboot.efi rebuilt to trust it, three baselines signed from Debian's kernel
and one initramfs (busybox, the real `hpm`, the demo service and client, the
libraries they need, the virtio/vfat modules): 2026.1 (SVN 1), 2026.2
(SVN 2) and 2026.3-broken (SVN 3, its signed command line makes the demo's
health check fail), and a hotpatch for 2026.1 built with hpm-patchgen from
demo/fix.c.

Host side, four boots of one machine (ESP and a "release media" disk on
virtio-blk, NV variables kept across boots):
  1. slot a = 2026.1: the demo service answers with its bug while a client
     keeps calling it; `hpm apply` fixes it in memory; `hpm list`,
     `hpm status`; `hpm mark-good`; `hpm stage 2026.2`.
  2. slot b = 2026.2 on trial: `hpm mark-good`; `hpm stage 2026.3-broken
     --tries 1` (into slot a).
  3. slot a = 2026.3-broken on trial: its health check fails, no mark-good.
  4. hpmboot.efi falls back to slot b (2026.2, marked good).

Each boot's plan is a shell snippet on the release disk that /init sources;
everything the guest reports is a `HPMDEMO: ...` line on the serial console.
"""
import json
import time
from pathlib import Path

import hpmvm
import lifecycle_vm
from hpmtest import BUILD, HPM_SIGN, PATCHGEN, REPO, digest, release_images, run

DEMO = BUILD / "demo"
SERVICE = DEMO / "hpm-demo-service"
CLIENT = DEMO / "hpm-demo-client"
CMDLINE = hpmvm.BASE_CMDLINE

INIT = lifecycle_vm.PRELUDE + r"""ip link set lo up
@SETUP@echo "HPMDEMO: up $(cut -d' ' -f1 /proc/uptime)"
# run NAME CMD...: the exit code, then the output, one marker per line
run() {
  name=$1; shift
  "$@" > /tmp/out 2>&1; rc=$?
  echo "HPMDEMO: rc $name=$rc"
  sed "s/^/HPMDEMO: out $name /" /tmp/out
}
ask() { echo "HPMDEMO: answer $1 $(/demo/hpm-demo-client 7070 ask 1000)"; }
case " $(cat /proc/cmdline) " in
  *" hpmdemo.health=fail "*) echo "HPMDEMO: health check failed: this baseline is broken, not marking the boot good" ;;
  *) [ -f /src/plan ] && . /src/plan ;;
esac
echo "HPMDEMO: done"
""" + lifecycle_vm.FINALE

INIT = INIT.replace("@SETUP@", lifecycle_vm.SETUP.replace("@TAG@", "HPMDEMO"))

# The guest runs on QEMU's emulated CPU (TCG, one vCPU), where stopping the
# service's threads takes ~2-3 ms against hpm's default 5 ms pause budget
# (tens of microseconds on hardware): under CI load every attempt could
# overrun it.  The apply gets ten times the default budget.
APPLY_BUDGET_US = 50000

PLAN_1 = """/demo/hpm-demo-service 7070 > /tmp/svc.log 2>&1 &
sleep 1
ask before
/demo/hpm-demo-client 7070 120 4 > /tmp/client.log 2>&1 &
CLIENT=$!
sleep 3
run apply hpm apply --budget-us @BUDGET@ /src/fix.hpm
sleep 3
kill -TERM $CLIENT
wait $CLIENT; echo "HPMDEMO: rc client=$?"
sed 's/^/HPMDEMO: out client /' /tmp/client.log
ask after
run list hpm list
run status hpm status
run statusjson hpm status --json
run markgood hpm mark-good
run stage hpm stage --tries 2 /src/v2.hpm
"""

PLAN_1 = PLAN_1.replace("@BUDGET@", str(APPLY_BUDGET_US))

PLAN_2 = """run status hpm status
run statusjson hpm status --json
run markgood hpm mark-good
run stage hpm stage --tries 1 /src/v3.hpm
"""

PLAN_4 = """run status hpm status
run statusjson hpm status --json
"""


def build_initramfs(out, kmod_dir, work):
    """lifecycle_vm's guest with the demo's /init, service and client."""
    return lifecycle_vm.build_initramfs(out, kmod_dir, init=INIT, trust_pub=work / "release.pub",
                                        programs=((SERVICE, "demo/hpm-demo-service"),
                                                  (CLIENT, "demo/hpm-demo-client")))


def sh(*args, **kw):
    """stdout of a command that must succeed (RuntimeError, which the demo
    script reports, if it does not)."""
    r = run(*args, check=None, **kw)
    if r.returncode != 0:
        raise RuntimeError(repr(r))
    return r.stdout


def lines(boot, kind):
    """HPMDEMO: <kind> <name> <rest> -> [(name, rest)]."""
    return lifecycle_vm.marker_lines(boot, kind, "HPMDEMO")


def outputs(boot, name):
    return [rest for n, rest in lines(boot, "out") if n == name]


def rcs(boot):
    return lifecycle_vm.rcs(boot, "HPMDEMO")


def boot_banner(boot):
    """The boot stage's own console lines (what it chose and why)."""
    return [l for l in boot.serial.splitlines() if l.startswith("hpm: ") and "bench" not in l]


def status_json(boot):
    for s in outputs(boot, "statusjson"):
        try:
            return json.loads(s)
        except ValueError:
            pass
    return None


class Demo:
    """Runs the flow step by step; every step returns what it observed."""

    def __init__(self, work):
        self.work = Path(work)
        self.work.mkdir(parents=True, exist_ok=True)
        self.env = {"SOURCE_DATE_EPOCH": "1764028800"}
        self.digests = {}

    # ---- release side -------------------------------------------------------
    def release(self):
        w = self.work
        for f in ("release.pem", "release.pub"):
            (w / f).unlink(missing_ok=True)
        sh(HPM_SIGN, "keygen", "--out", w / "release.pem", "--pub", w / "release.pub", env=self.env)
        keyid = sh(HPM_SIGN, "keyid", w / "release.pub").split()[0]
        # A release hpmboot.efi trusting only this key, built into the demo's
        # folder (the build's own images stay as they are).
        # No kernel hotpatch in the demo: the image hands the kernel no key.
        sh("make", "-s", "-C", REPO, f"B={BUILD}", "hpmboot-release", f"HPM_TRUST_KEYS={w / 'release.pub'}",
           "HPM_KERNEL_CERTS=none", f"HPMBOOT_RELEASE_DIR={w}")
        kmods = lifecycle_vm.kernel_modules(BUILD / "firmware-tests")
        initrd = build_initramfs(w / "initrd.cpio", kmods, w)
        key = w / "release.pem"
        specs = [("v1", "2026.1", 1, CMDLINE), ("v2", "2026.2", 2, CMDLINE),
                 ("v3", "2026.3-broken", 3, CMDLINE + " hpmdemo.health=fail")]
        for name, version, svn, cmdline in specs:
            out = w / f"{name}.hpm"
            hpmvm.sign_baseline(out, hpmvm.KERNEL, initrd, cmdline, version, svn, key=key)
            self.digests[name] = digest(out)
        # The hotpatch for 2026.1: the fix of the demo service.
        fixbin = w / "fix.bin"
        sh(PATCHGEN, "--target", SERVICE, "--map", REPO / "demo" / "map", "--source", REPO / "demo" / "fix.c",
           "--out", fixbin)
        sh(HPM_SIGN, "hotpatch", "--key", key, "--baseline", w / "v1.hpm", "--seq", "1",
           "--classification", "security", "--id", "HP-2026.1-1", "--payload", f"demo={fixbin}",
           "--out", w / "fix.hpm", env=self.env)
        # A tampered copy must be refused by the same verification.
        bad = w / "v1-tampered.hpm"
        b = bytearray((w / "v1.hpm").read_bytes())
        b[-100] ^= 1
        bad.write_bytes(bytes(b))
        r = run(HPM_SIGN, "verify", "--trust", w / "release.pub", bad, check=None)
        return {"keyid": keyid, "digests": dict(self.digests), "initrd_bytes": initrd.stat().st_size,
                "hpmboot_bytes": release_images(w)[0].stat().st_size,
                "sizes": {n: (w / f"{n}.hpm").stat().st_size for n in ("v1", "v2", "v3")},
                "tampered_refused": r.returncode == 1, "tampered_msg": (r.stdout + r.stderr).strip()}

    def machine(self):
        m = lifecycle_vm.LifecycleMachine(self.work / "vm", esp_mib=160, src_mib=128)
        m.put(release_images(self.work)[0], "EFI/BOOT/BOOTX64.EFI")
        m.put_slot("a", self.work / "v1.hpm")
        for f in ("v2.hpm", "v3.hpm", "fix.hpm"):
            m.put_src(self.work / f, f)
        self.m = m
        return m

    def boot(self, plan):
        self.m.set_plan(plan)
        t0 = time.monotonic()
        b = self.m.boot(timeout=400)
        b.wall = time.monotonic() - t0
        if b.killed == "timeout" or "HPMDEMO: done" not in b.serial:
            raise RuntimeError(f"boot did not finish its plan:\n{b.describe()}")
        return b
