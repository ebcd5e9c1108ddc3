# SPDX-License-Identifier: MIT
"""Kernel hotpatches end to end, in QEMU: Debian's kernel booted through the
real hpmboot.efi, the real `hpm` in its initramfs.

Livepatch modules are built at test time with tools/kpatch-template against
the headers of exactly that kernel (.deps/kernel-headers, scripts/deps.sh)
and signed into hotpatches bound to the baseline and to the kernel's GNU
build-id (read from the vmlinuz by tools/kpatch-template/kernel-build-id;
hpm compares it with /sys/kernel/notes).  One boot, while a shell loop
reads /proc/version all the time:

- sequence 1 (/proc/version names it) is applied: the fix is visible;
  sequence 2 replaces it in one transition (atomic replace), module 1 is
  unloaded; list and status show the kernel part;
- refused: a lower sequence, a kernel part for another kernel build,
  module bytes that differ from the signed ones;
- a transition held by a task (a process sleeping in pause(2) while
  sequence 3 replaces pause) misses its deadline: hpm reverses it, names
  the task, and the kernel still runs sequence 2;
- `revert --to 1` goes back to sequence 1;
- hpm killed right after loading a module, and right after disabling one:
  `hpm recover` finishes each;
- the reader saw only the old or the new text, never an error.
"""
import json
import re
import subprocess
from pathlib import Path

import pytest

import hpmtest
import hpmvm
import lifecycle_vm as lv

TEMPLATE = hpmtest.REPO / "tools" / "kpatch-template"
HEADERS = hpmvm.DEPS / "kernel-headers" / "build"
HERE = Path(__file__).resolve().parent

PLAN = r"""
v() { echo "HPMTEST: version $1 $(cat /proc/version)"; }
mods() { echo "HPMTEST: modules $1 $(cut -d' ' -f1 /proc/modules | grep hpm_kp | tr '\n' ' ')"; }
v before
# the reader: every read must be the old or the new text
( n=0; bad=0; while [ ! -f /tmp/stop ]; do
    t=$(cat /proc/version) || bad=$((bad + 1))
    case "$t" in "Linux version "*) n=$((n + 1)) ;; *) bad=$((bad + 1)) ;; esac
  done; echo "$n $bad" > /tmp/reader ) &
reader=$!
run apply1 hpm apply /src/hp1.hpm
v after1
mods after1
run list1 hpm list
echo "HPMTEST: json list1 $(hpm list --json)"
run apply2 hpm apply --json /src/hp2.hpm
v after2
mods after2
echo "HPMTEST: json status2 $(hpm status --json)"
run lower hpm apply /src/hp1.hpm
run otherbuild hpm apply /src/hp-otherbuild.hpm
run tampered hpm apply /src/hp-tampered.hpm
cp /src/pauser /tmp/pauser && chmod +x /tmp/pauser
/tmp/pauser & pauser=$!
sleep 1
run deadline hpm apply --kernel-deadline 4 /src/hp-block.hpm
kill $pauser
v afterdeadline
mods afterdeadline
run revertto hpm revert --to 1
v afterrevertto
mods afterrevertto
HPM_TEST_EXIT_AT=kernel-loaded hpm apply /src/hp2.hpm > /tmp/out 2>&1; echo "HPMTEST: rc killapply=$?"
run recover1 hpm recover
v afterrecover1
echo "HPMTEST: json status3 $(hpm status --json)"
HPM_TEST_EXIT_AT=kernel-disabled hpm revert --all > /tmp/out 2>&1; echo "HPMTEST: rc killrevert=$?"
run recover2 hpm recover
v afterrecover2
mods afterrecover2
echo "HPMTEST: livepatches $(ls /sys/kernel/livepatch | tr '\n' ' ')"
touch /tmp/stop
wait $reader
echo "HPMTEST: reader $(cat /tmp/reader)"
"""


def build_module(source, seq, out):
    subprocess.run([TEMPLATE / "build.sh", "--headers", HEADERS, "--source", source, "--sequence", str(seq),
                    "--out", out], check=True, capture_output=True, timeout=300)
    return out


def sign_hotpatch(out, baseline, seq, module, build_id):
    hpmtest.sign("hotpatch", "--key", hpmvm.TRUSTED_KEY, "--baseline", baseline, "--seq", str(seq),
                 "--classification", "security", "--id", f"KB-K{seq}", "--kernel-module", module,
                 "--kernel-build-id", build_id, "--timestamp", hpmtest.SOURCE_DATE_EPOCH, "--out", out)
    return out


@pytest.fixture(scope="module")
def inputs():
    fx = hpmvm.fixtures()
    assert (HEADERS / "Makefile").is_file(), f"{HEADERS} missing: run scripts/deps.sh (make deps)"
    root = fx.root / "kernel-hotpatch"
    root.mkdir(parents=True, exist_ok=True)
    initrd = lv.build_initramfs(root / "initrd.cpio", lv.kernel_modules(root))
    base = hpmvm.sign_baseline(root / "base.hpm", hpmvm.KERNEL, initrd, hpmvm.BASE_CMDLINE, "kp-1", 5)
    bid = subprocess.run([TEMPLATE / "kernel-build-id", hpmvm.KERNEL], check=True, capture_output=True,
                         text=True).stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{40}", bid), bid
    example = TEMPLATE / "example-proc-version.c"
    out = {"base": base, "build_id": bid}
    for seq in (1, 2):
        ko = build_module(example, seq, root / f"hpm_kp_{seq}.ko")
        out[f"hp{seq}"] = sign_hotpatch(root / f"hp{seq}.hpm", base, seq, ko, bid)
    ko3 = build_module(example, 3, root / "hpm_kp_3.ko")
    other = "%040x" % (int(bid, 16) ^ 1)  # another build of the same release
    out["hp-otherbuild"] = sign_hotpatch(root / "hp-otherbuild.hpm", base, 3, ko3, other)
    tampered = bytearray(sign_hotpatch(root / "hp-t.hpm", base, 3, ko3, bid).read_bytes())
    i = tampered.find(b"vermagic=6.1")  # in the module's .modinfo, not in the manifest
    assert i > 0
    tampered[i] ^= 0x20  # one byte of the module, after signing
    (root / "hp-tampered.hpm").write_bytes(bytes(tampered))
    out["hp-tampered"] = root / "hp-tampered.hpm"
    kob = build_module(HERE / "kernel" / "pause-fix.c", 3, root / "hpm_kp_3_pause.ko")
    out["hp-block"] = sign_hotpatch(root / "hp-block.hpm", base, 3, kob, bid)
    pauser = root / "pauser"
    subprocess.run(["gcc", "-static", "-O2", "-o", pauser, HERE / "kernel" / "pauser.c"], check=True)
    out["pauser"] = pauser
    return out


def versions(boot):
    return lv.markers(boot, "version")


def test_kernel_hotpatch(tmp_path, inputs):
    m = lv.LifecycleMachine(tmp_path)
    m.put_slot("a", inputs["base"])
    for name in ("hp1", "hp2", "hp-otherbuild", "hp-tampered", "hp-block"):
        m.put_src(inputs[name], name + ".hpm")
    m.put_src(inputs["pauser"], "pauser")
    m.set_plan(PLAN)
    boot = m.boot(timeout=400)
    assert "HPMTEST: done" in boot.serial, boot.describe()
    rc = lv.rcs(boot)
    v = versions(boot)
    serial = boot.serial

    # apply, then replace
    assert "hpm-kernel-hotpatch" not in v["before"]
    assert v["before"].startswith("Linux version 6.1.0-"), v
    assert rc["apply1"] == 0, boot.describe()
    assert v["after1"].endswith("hpm-kernel-hotpatch=1"), v
    assert "kernel: livepatch hpm_kp_1 enabled" in serial
    assert lv.markers(boot, "modules")["after1"].split() == ["hpm_kp_1"]
    assert re.search(r"HPMTEST: out kernel: livepatch hpm_kp_1 seq 1 KB-K1 since \S+, enabled, transition complete",
                     serial), boot.describe()
    lst = json.loads(lv.markers(boot, "json")["list1"])
    assert lst["kernel"]["module"] == "hpm_kp_1" and lst["kernel"]["enabled"] is True
    assert lst["kernel"]["transition"] is False and lst["kernel"]["sequence"] == 1
    assert rc["apply2"] == 0, boot.describe()
    out2 = [json.loads(t[len("HPMTEST: out "):]) for t in serial.splitlines()
            if t.startswith("HPMTEST: out {") and '"command":"apply"' in t.replace(" ", "")]
    assert out2 and out2[-1]["kernel"]["module"] == "hpm_kp_2" and out2[-1]["kernel"]["replaced"] == "hpm_kp_1"
    assert v["after2"].endswith("hpm-kernel-hotpatch=2"), v
    assert lv.markers(boot, "modules")["after2"].split() == ["hpm_kp_2"], "the replaced module is unloaded"
    st = json.loads(lv.markers(boot, "json")["status2"])["hotpatch"]
    assert st["sequence"] == 2 and st["kernel"]["module"] == "hpm_kp_2" and st["kernel"]["pending"] is False

    # refusals
    assert rc["lower"] == 1 and "sequence 1 is not higher than the applied sequence 2" in serial
    assert rc["otherbuild"] == 1, boot.describe()
    assert "another build of 6.1.0-" in serial and inputs["build_id"] in serial
    assert rc["tampered"] == 1 and "payloads/livepatch" in serial, boot.describe()

    # a transition held past its deadline is reversed, naming the task
    assert rc["deadline"] == 4, boot.describe()
    assert re.search(r"kernel: livepatch hpm_kp_3 did not finish its transition within 4000 ms \(\d+ task\(s\) held it\): "
                     r"reverted", serial), boot.describe()
    assert re.search(r"kernel: livepatch hpm_kp_3: blocked by pid \d+ \(pauser\) patch_state 0", serial), boot.describe()
    assert v["afterdeadline"].endswith("hpm-kernel-hotpatch=2"), v
    assert lv.markers(boot, "modules")["afterdeadline"].split() == ["hpm_kp_2"]

    # revert --to 1: module 1 replaces module 2
    assert rc["revertto"] == 0, boot.describe()
    assert v["afterrevertto"].endswith("hpm-kernel-hotpatch=1"), v
    assert lv.markers(boot, "modules")["afterrevertto"].split() == ["hpm_kp_1"]

    # hpm killed after loading: recover keeps the enabled patch
    assert rc["killapply"] == 9 and rc["recover1"] == 0, boot.describe()
    assert "kernel: recovered: livepatch hpm_kp_2 (sequence 2) is enabled; finished" in serial
    assert v["afterrecover1"].endswith("hpm-kernel-hotpatch=2"), v
    assert json.loads(lv.markers(boot, "json")["status3"])["hotpatch"]["kernel"]["module"] == "hpm_kp_2"
    # hpm killed after disabling: recover finishes the revert
    assert rc["killrevert"] == 9 and rc["recover2"] == 0, boot.describe()
    assert "kernel: recovered: finished the revert of livepatch hpm_kp_2" in serial
    assert v["afterrecover2"] == v["before"]
    assert lv.markers(boot, "modules")["afterrecover2"].split() == []
    assert [t.split()[2:] for t in serial.splitlines() if t.startswith("HPMTEST: livepatches")] == [[]]

    # the reader: many reads, none failed or torn
    reader = [t for t in serial.splitlines() if t.startswith("HPMTEST: reader ")]
    assert reader, boot.describe()
    n, bad = (int(x) for x in reader[-1].split()[2:4])
    assert n > 50 and bad == 0, reader
