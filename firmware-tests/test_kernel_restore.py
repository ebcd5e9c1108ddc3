# SPDX-License-Identifier: MIT
"""Kernel + user-space hotpatches across reboots, in QEMU: Debian's kernel
booted through the real hpmboot.efi, the real `hpm` and the demo service in
its initramfs, hpm's state on the ESP (it must outlive the boot).

Boot 1 (slot a, baseline A):
- refused, the kernel unchanged: a livepatch that is not hpm's already
  loaded; a kernel part for another kernel release with the same build-id;
  a module whose vermagic differs from the running kernel's (hpm's checks
  pass, the kernel itself refuses it); a hotpatch for another baseline;
- one hotpatch with both parts (the demo service's fix, a livepatch of
  /proc/version) applied while a client calls the service, replaced by
  sequence 2 (both parts again), reverted to 1, reverted to none, and
  sequence 2 applied again: the client saw no failed request.
Boot 2 (slot a again): `hpm restore` (what hpm-restore.service runs) puts
  both parts back; history says so; baseline B is staged into slot b.
Boot 3 (slot b, baseline B): `hpm restore` loads nothing of A's chain,
  says so, records sequence 0.
"""
import json
import re
import subprocess

import pytest

import demo_vm
import hpmtest
import hpmvm
import lifecycle_vm as lv
from test_kernel_hotpatch import HEADERS, TEMPLATE, build_module

STATE = r"""export HPM_STATE_DIR=/boot/efi/hpmstate
mkdir -p $HPM_STATE_DIR
ip link set lo up
v() { echo "HPMTEST: version $1 $(cat /proc/version)"; }
mods() { echo "HPMTEST: modules $1 $(cut -d' ' -f1 /proc/modules | grep -E 'hpm_kp|foreign' | tr '\n' ' ')"; }
ask() { echo "HPMTEST: answer $1 $(/demo/hpm-demo-client 7070 ask 1000)"; }
B="--budget-us 50000"
"""

PLAN1 = STATE + r"""v before
insmod /src/foreign_1.ko; echo "HPMTEST: livepatches foreign $(ls /sys/kernel/livepatch | tr '\n' ' ')"
run foreign hpm apply /src/hpc1.hpm
echo 0 > /sys/kernel/livepatch/foreign_1/enabled
i=0; while [ -d /sys/kernel/livepatch/foreign_1 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
rmmod foreign_1
run otherrel hpm apply /src/hp-otherrel.hpm
run vermagic hpm apply /src/hp-vermagic.hpm
run wrongbase hpm apply /src/hp-wrongbase.hpm
v refusals
mods refusals
echo "HPMTEST: pending $(ls $HPM_STATE_DIR | grep -c pending)"
/demo/hpm-demo-service 7070 > /tmp/svc.log 2>&1 &
sleep 1
ask before
/demo/hpm-demo-client 7070 600 2 > /tmp/client.log 2>&1 &
client=$!
sleep 1
run apply1 hpm apply $B --json /src/hpc1.hpm
v apply1; ask apply1; mods apply1
run apply2 hpm apply $B --json /src/hpc2.hpm
v apply2; ask apply2; mods apply2
run revertto hpm revert $B --to 1
v revertto; ask revertto; mods revertto
run revertall hpm revert $B --all
v revertall; ask revertall; mods revertall
run applyagain hpm apply $B /src/hpc2.hpm
v final; ask final; mods final
kill -TERM $client
wait $client; echo "HPMTEST: rc client=$?"
sed 's/^/HPMTEST: client /' /tmp/client.log
"""

PLAN2 = STATE + r"""v boot
/demo/hpm-demo-service 7070 > /tmp/svc.log 2>&1 &
sleep 1
ask boot
run restore hpm restore $B --json
v restore; ask restore; mods restore
echo "HPMTEST: json history $(hpm history --json)"
run stage hpm stage --tries 2 /src/baseB.hpm
"""

PLAN3 = STATE + r"""/demo/hpm-demo-service 7070 > /tmp/svc.log 2>&1 &
sleep 1
v boot
run restore hpm restore $B
v restore; ask restore; mods restore
echo "HPMTEST: livepatches end $(ls /sys/kernel/livepatch | tr '\n' ' ')"
echo "HPMTEST: json status $(hpm status --json)"
echo "HPMTEST: json history $(hpm history --json)"
"""


def sign(out, baseline, seq, module, build_id, payload=None):
    args = ["hotpatch", "--key", hpmvm.TRUSTED_KEY, "--baseline", baseline, "--seq", str(seq),
            "--classification", "security", "--id", f"KB-C{seq}", "--kernel-module", module,
            "--kernel-build-id", build_id, "--timestamp", hpmtest.SOURCE_DATE_EPOCH, "--out", out]
    if payload:
        args += ["--payload", f"demo={payload}"]
    hpmtest.sign(*args)
    return out


def edited(src, out, old, new):
    """A copy of module src with one .modinfo string changed (same length)."""
    b = src.read_bytes()
    assert len(old) == len(new) and b.count(old) == 1, (old, b.count(old))
    out.write_bytes(b.replace(old, new))
    return out


@pytest.fixture(scope="module")
def inputs():
    fx = hpmvm.fixtures()
    assert (HEADERS / "Makefile").is_file(), f"{HEADERS} missing: run scripts/deps.sh (make deps)"
    assert demo_vm.SERVICE.is_file(), "build/demo missing: run make"
    root = fx.root / "kernel-restore"
    root.mkdir(parents=True, exist_ok=True)
    initrd = lv.build_initramfs(root / "initrd.cpio", lv.kernel_modules(root),
                                programs=((demo_vm.SERVICE, "demo/hpm-demo-service"),
                                          (demo_vm.CLIENT, "demo/hpm-demo-client")))
    base_a = hpmvm.sign_baseline(root / "baseA.hpm", hpmvm.KERNEL, initrd, hpmvm.BASE_CMDLINE, "kr-1", 5)
    base_b = hpmvm.sign_baseline(root / "baseB.hpm", hpmvm.KERNEL, initrd, hpmvm.BASE_CMDLINE, "kr-2", 6)
    bid = subprocess.run([TEMPLATE / "kernel-build-id", hpmvm.KERNEL], check=True, capture_output=True,
                         text=True).stdout.strip()
    fix = root / "fix.bin"
    subprocess.run([hpmtest.PATCHGEN, "--target", demo_vm.SERVICE, "--map", hpmtest.REPO / "demo" / "map",
                    "--source", hpmtest.REPO / "demo" / "fix.c", "--out", fix], check=True, capture_output=True)
    example = TEMPLATE / "example-proc-version.c"
    ko = {s: build_module(example, s, root / f"hpm_kp_{s}.ko") for s in (1, 2, 3)}
    out = {"base_a": base_a, "base_b": base_b, "build_id": bid}
    for s in (1, 2):
        out[f"hpc{s}"] = sign(root / f"hpc{s}.hpm", base_a, s, ko[s], bid, fix)
    release = (hpmvm.DEPS / "kernel" / "VERSION").read_text().split()[0][len("linux-image-"):]  # 6.1.0-57-amd64
    other = re.sub(r"-(\d+)-", lambda m: "-%0*d-" % (len(m.group(1)), int(m.group(1)) + 1), release, count=1)
    out["release"], out["other_release"] = release, other
    out["hp-otherrel"] = sign(root / "hp-otherrel.hpm", base_a, 3,
                              edited(ko[3], root / "otherrel.ko", f"vermagic={release} ".encode(),
                                     f"vermagic={other} ".encode()), bid)
    out["hp-vermagic"] = sign(root / "hp-vermagic.hpm", base_a, 3,
                              edited(ko[3], root / "vermagic.ko", b" preempt ", b" PREEMPT "), bid)
    out["hp-wrongbase"] = sign(root / "hp-wrongbase.hpm", base_b, 3, ko[3], bid)
    subprocess.run([TEMPLATE / "build.sh", "--headers", HEADERS, "--source", example, "--sequence", "1",
                    "--prefix", "foreign", "--out", root / "foreign_1.ko"], check=True, capture_output=True, timeout=300)
    out["foreign_1.ko"] = root / "foreign_1.ko"  # a livepatch that is not hpm's (another name prefix)
    return out


def jsons(boot, kind):
    return [json.loads(t[len("HPMTEST: out "):]) for t in boot.serial.splitlines()
            if t.startswith("HPMTEST: out {") and f'"command":"{kind}"' in t.replace(" ", "")]


def test_combined_hotpatch_restored_after_reboot(tmp_path, inputs):
    m = lv.LifecycleMachine(tmp_path)
    m.put_slot("a", inputs["base_a"])
    for name in ("hpc1", "hpc2", "hp-otherrel", "hp-vermagic", "hp-wrongbase"):
        m.put_src(inputs[name], name + ".hpm")
    m.put_src(inputs["foreign_1.ko"], "foreign_1.ko")
    m.put_src(inputs["base_b"], "baseB.hpm")
    fixed, buggy = "by v2 (hotpatched)", "by v1 (buggy)"

    # ---- boot 1: refusals, then both parts applied, replaced, reverted
    m.set_plan(PLAN1)
    boot = m.boot(timeout=500)
    assert "HPMTEST: done" in boot.serial, boot.describe()
    rc, v, ans, mods = lv.rcs(boot), lv.markers(boot, "version"), lv.markers(boot, "answer"), lv.markers(boot, "modules")
    s = boot.serial
    assert lv.markers(boot, "livepatches")["foreign"].split() == ["foreign_1"], boot.describe()
    assert rc["foreign"] == 1 and "livepatch foreign_1 is loaded and is not hpm's" in s, boot.describe()
    assert rc["otherrel"] == 1, boot.describe()
    assert (f"kernel part is for kernel {inputs['other_release']}, the running kernel is {inputs['release']}: refusing"
            in s), boot.describe()
    assert rc["vermagic"] == 1 and "the kernel refused livepatch hpm_kp_3 (finit_module): Exec format error" in s, \
        boot.describe()
    assert rc["wrongbase"] == 1 and f"targets baseline {hpmtest.digest(inputs['base_b'])}" in s, boot.describe()
    assert v["refusals"] == v["before"] and "hpm-kernel-hotpatch" not in v["before"], v
    assert mods["refusals"].split() == []
    assert lv.marker_lines(boot, "pending") == [("0", "")], "no kernel.pending left by a refusal"

    assert ans["before"].endswith(buggy), ans
    assert rc["apply1"] == 0, boot.describe()
    a1, a2 = jsons(boot, "apply")[:2]
    assert a1["sequence"] == 1 and a1["patched"] == 1 and a1["kernel"]["module"] == "hpm_kp_1", a1
    assert v["apply1"].endswith("hpm-kernel-hotpatch=1") and ans["apply1"].endswith(fixed), (v, ans)
    assert rc["apply2"] == 0 and a2["kernel"]["replaced"] == "hpm_kp_1" and a2["patched"] == 1, a2
    assert v["apply2"].endswith("hpm-kernel-hotpatch=2") and ans["apply2"].endswith(fixed), (v, ans)
    assert mods["apply2"].split() == ["hpm_kp_2"]
    assert rc["revertto"] == 0 and v["revertto"].endswith("hpm-kernel-hotpatch=1"), boot.describe()
    assert ans["revertto"].endswith(fixed) and mods["revertto"].split() == ["hpm_kp_1"]
    assert rc["revertall"] == 0 and v["revertall"] == v["before"] and ans["revertall"].endswith(buggy), (v, ans)
    assert mods["revertall"].split() == []
    assert rc["applyagain"] == 0 and v["final"].endswith("hpm-kernel-hotpatch=2") and ans["final"].endswith(fixed)
    assert rc["client"] == 0, boot.describe()
    summary = [t for t in s.splitlines() if t.startswith("HPMTEST: client ")][-1]
    nb, nf, nfail = (int(x) for x in re.search(r"(\d+) buggy, (\d+) fixed, (\d+) failed", summary).groups())
    assert nb > 0 and nf > 0 and nfail == 0, summary

    # ---- boot 2: same baseline: both parts restored
    m.set_plan(PLAN2)
    boot = m.boot(timeout=400)
    assert "HPMTEST: done" in boot.serial, boot.describe()
    rc, v, ans, mods = lv.rcs(boot), lv.markers(boot, "version"), lv.markers(boot, "answer"), lv.markers(boot, "modules")
    assert "hpm-kernel-hotpatch" not in v["boot"] and ans["boot"].endswith(buggy), (v, ans)
    assert rc["restore"] == 0, boot.describe()
    r = jsons(boot, "restore")[0]
    assert r["outcome"] == "restored" and r["sequence"] == 2 and r["id"] == "KB-C2" and r["patched"] == 1, r
    assert r["kernel"]["module"] == "hpm_kp_2" and not r["kernel"]["replaced"], r
    assert v["restore"].endswith("hpm-kernel-hotpatch=2") and ans["restore"].endswith(fixed), (v, ans)
    assert mods["restore"].split() == ["hpm_kp_2"]
    rows = [e for e in json.loads(lv.markers(boot, "json")["history"])["entries"] if e["event"] == "restore"]
    assert rows and rows[-1]["result"] == "ok" and rows[-1]["ids"] == ["KB-C2"], rows
    assert rows[-1]["detail"] == "restored sequence 2: 1 process(es) patched, livepatch hpm_kp_2", rows
    assert rc["stage"] == 0, boot.describe()

    # ---- boot 3: baseline B: nothing of A's chain
    m.set_plan(PLAN3)
    boot = m.boot(timeout=400)
    assert "HPMTEST: done" in boot.serial, boot.describe()
    rc, v, ans, mods = lv.rcs(boot), lv.markers(boot, "version"), lv.markers(boot, "answer"), lv.markers(boot, "modules")
    st = json.loads(lv.markers(boot, "json")["status"])
    assert st["boot"]["slot"] == "b" and st["boot"]["baseline"] == hpmtest.digest(inputs["base_b"]), st["boot"]
    assert rc["restore"] == 0, boot.describe()
    assert re.search(r"HPMTEST: out restore: KB-C2 \(sequence 2\) targets baseline [0-9a-f]{64}, but this boot runs "
                     r"baseline [0-9a-f]{64} \(.*\): nothing of its chain is loaded", boot.serial), boot.describe()
    assert v["restore"] == v["boot"] and "hpm-kernel-hotpatch" not in v["restore"], v
    assert ans["restore"].endswith(buggy) and mods["restore"].split() == [], (ans, mods)
    assert lv.markers(boot, "livepatches")["end"].split() == []
    assert st["hotpatch"]["sequence"] == 0 and st["hotpatch"]["kernel"] is None, st["hotpatch"]
    rows = [e for e in json.loads(lv.markers(boot, "json")["history"])["entries"] if e["event"] == "restore"]
    assert rows[-1]["result"] == "ok" and rows[-1]["detail"].startswith("dropped: sequence 2 targets baseline"), rows
