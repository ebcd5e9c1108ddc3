# SPDX-License-Identifier: MIT
"""`hpm stage` + reboot + `hpm mark-good` end to end, in QEMU.

The real build/runtime/hpm runs inside a Linux guest booted through the
real hpmboot.efi, against the real efivarfs and the ESP (FAT, virtio-blk,
mounted at /boot/efi); the second baseline comes from a second disk.
Three boots:

1. Slot a (v1, svn 5) boots on trial.  `hpm status --json` shows it;
   `hpm stage /src/v2.hpm --tries 2` verifies v2 (svn 6), writes
   EFI/hpm/slot-b.hpm and the slot request; status says a reboot is pending.
2. The boot stage applies the request and boots b on trial (attempt 1,
   one of the 2 tries left).  `hpm mark-good` requests the mark.
3. b stays (marked good, attempt 0), the rollback floor rose to 6; a
   second mark-good is "already" (exit 6) and rollback to a (svn 5) is
   refused.
"""
import json

import pytest

import hpmtest
import hpmvm
import lifecycle_vm as lv

PLAN1 = """json before
run stage0 hpm stage --tries 5 /src/v2.hpm
run stage hpm stage --tries 2 /src/v2.hpm
json after
"""
PLAN2 = """json before
run markgood hpm mark-good
json after
"""
PLAN3 = """json before
run statustext hpm status
run markgood2 hpm mark-good
run rollback hpm rollback
"""


def status(boot, name):
    js = lv.markers(boot, "json")
    assert name in js, boot.describe()
    return json.loads(js[name])["boot"]


@pytest.fixture(scope="module")
def inputs():
    fx = hpmvm.fixtures()  # prerequisites, build dir
    assert lv.HPM.is_file(), "build/runtime/hpm missing: run make"
    root = fx.root / "lifecycle"
    root.mkdir(parents=True, exist_ok=True)
    initrd = lv.build_initramfs(root / "initrd.cpio", lv.kernel_modules(root))
    out = {}
    for name, svn in (("v1", 5), ("v2", 6)):
        d = root / name
        d.mkdir(exist_ok=True)
        out[name] = hpmvm.sign_baseline(d / f"{name}.hpm", hpmvm.KERNEL, initrd,
                                        hpmvm.BASE_CMDLINE, f"lc-{name}", svn)
    return out


def test_stage_reboot_mark_good(tmp_path, inputs):
    m = lv.LifecycleMachine(tmp_path)
    m.put_slot("a", inputs["v1"])
    m.put_src(inputs["v2"], "v2.hpm")
    d1, d2 = hpmtest.digest(inputs["v1"]), hpmtest.digest(inputs["v2"])

    # 1: a on trial; stage v2 into b.
    m.set_plan(PLAN1)
    boot = m.boot()
    assert "HPMTEST: done" in boot.serial, boot.describe()
    s = status(boot, "before")
    assert s["booted"] and s["slot"] == "a" and s["baseline"] == d1 and s["svn"] == 5
    assert s["attempt"] == 1 and s["marked_good"] is False and s["floor"] == 0
    assert s["reboot_pending"] is False
    # staged twice: the second request replaces the first in efivarfs
    assert lv.rcs(boot)["stage0"] == 0 and lv.rcs(boot)["stage"] == 0, boot.describe()
    assert "a reboot will activate it" in boot.serial
    assert "HPMTEST: err hpm: note: replacing the slot request already pending" in boot.serial
    s = status(boot, "after")
    assert s["reboot_pending"] is True and s["next_slot"] == "b" and s["pending"]["slot_request"]
    assert "slot-b.hpm" in m.esp_files()
    assert m.esp_read("EFI/hpm/slot-b.hpm") == inputs["v2"].read_bytes()
    assert m.esp_read("EFI/hpm/slot-a.hpm") == inputs["v1"].read_bytes()

    # 2: the request is applied, b boots on trial with the staged tries.
    m.set_plan(PLAN2)
    boot = m.boot()
    assert "HPMTEST: done" in boot.serial, boot.describe()
    s = status(boot, "before")
    assert s["slot"] == "b" and s["baseline"] == d2 and s["version"] == "lc-v2", boot.describe()
    assert s["request"].startswith("applied: state sequence"), s
    assert s["reason"] == "highest-priority slot, on trial" and s["attempt"] == 1
    slots = {x["slot"]: x for x in s["slots"]}
    assert slots["b"]["tries"] == 1 and slots["b"]["priority"] > slots["a"]["priority"]
    assert "(attempt 1 of 2)" in boot.serial
    assert s["floor"] == 0
    assert lv.rcs(boot)["markgood"] == 0, boot.describe()
    assert status(boot, "after")["pending"]["mark_good"] is True

    # 3: b stays, marked good; the floor rose to its SVN.
    m.set_plan(PLAN3)
    boot = m.boot()
    assert "HPMTEST: done" in boot.serial, boot.describe()
    s = status(boot, "before")
    assert s["slot"] == "b" and s["marked_good"] is True and s["attempt"] == 0, boot.describe()
    assert s["reason"] == "highest-priority slot, marked good"
    assert s["floor"] == 6
    assert s["reboot_pending"] is False
    assert "HPMTEST: out      Booted slot: b" in boot.serial
    assert "HPMTEST: out   Rollback floor: svn 6" in boot.serial
    r = lv.rcs(boot)
    assert r["statustext"] == 0 and r["markgood2"] == 6 and r["rollback"] == 1, boot.describe()
    assert "no previous good slot" in boot.serial
