# SPDX-License-Identifier: MIT
"""`hpm setup` end to end, in QEMU: a first install on a host that booted
some other way, with the real efibootmgr against OVMF's real variables.

The ESP is the first partition (GPT type c12a7328-...) of a virtio disk;
it starts empty: no hpmboot.efi anywhere.  Two boots of one machine (the
OVMF variable store persists between them):

1. OVMF starts Debian's kernel through its EFI stub directly (QEMU -kernel,
   the firmware's loader for it: no hpmboot.efi).  In the guest, hpm finds
   the ESP by itself (the mount at /boot/efi whose partition type is the
   ESP's, through libblkid), and `hpm setup` verifies the baseline, copies
   it into slot a and hpmboot.efi to \\EFI\\hpmboot, and creates the boot
   entry with the guest's real efibootmgr (copied into the initramfs with
   libefiboot and libefivar).  A second run changes nothing; `hpm status`
   says what the next boot does.
2. No -kernel: the firmware follows BootOrder, the new entry first, into
   hpmboot.efi, which boots slot a on trial.  `hpm status` shows it;
   `hpm mark-good` works as after any stage; `hpm setup --remove` deletes
   the boot entry (efibootmgr lists it no more) and the files it created.
"""
import json
import subprocess
from pathlib import Path

import pytest

import hpmtest
import hpmvm
import lifecycle_vm as lv
from hpmtest import run

ESP_TYPE = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
ESP_OFFSET_MIB = 1
IMAGE = hpmvm.HPMBOOT  # the boot image names live in hpmvm (one place)
EFIBOOTMGR = "/usr/bin/efibootmgr"

# As lifecycle_vm.INIT, with the ESP on the disk's first partition.
INIT = lv.INIT.replace("mount -t vfat /dev/vda /boot/efi", "mount -t vfat /dev/vda1 /boot/efi")

PLAN1 = f"""json before
run setup hpm setup --efi /src/{IMAGE.name} /src/v1.hpm
run setup2 hpm setup --json --efi /src/{IMAGE.name} /src/v1.hpm
run statustext hpm status
run ebm efibootmgr --verbose
json after
"""
PLAN2 = f"""json before
run markgood hpm mark-good
run remove hpm setup --remove --json
run ebm efibootmgr --verbose
run remove2 hpm setup --remove
"""


class SetupMachine(lv.LifecycleMachine):
    """LifecycleMachine whose first disk is GPT-partitioned with one empty
    ESP (FAT) partition; nothing on it."""

    def __init__(self, workdir, esp_mib=128):
        super().__init__(workdir)
        part = self.dir / "esp-part.img"
        part.unlink(missing_ok=True)
        run("mkfs.vfat", "-C", "-n", "HPMESP", part, esp_mib * 1024)
        disk = self.dir / "disk.img"
        with open(disk, "wb") as f:
            f.truncate((esp_mib + 2 * ESP_OFFSET_MIB) * 1024 * 1024)
        run("sfdisk", "--quiet", disk,
            input=f"label: gpt\nstart={ESP_OFFSET_MIB * 2048}, size={esp_mib * 2048}, type={ESP_TYPE}\n")
        run("dd", f"if={part}", f"of={disk}", "bs=1M", f"seek={ESP_OFFSET_MIB}", "conv=notrunc", "status=none")
        part.unlink()
        self.esp = disk

    def _img(self):
        return f"{self.esp}@@{ESP_OFFSET_MIB}M"

    def esp_list(self, folder):
        r = run("mdir", "-b", "-i", self._img(), "::/" + folder, env=hpmvm.MTOOLS_ENV, check=None)
        return sorted(l.strip().rsplit("/", 1)[-1] for l in r.stdout.splitlines() if l.strip())

    def esp_read(self, path):
        return subprocess.run(["mtype", "-i", self._img(), "::/" + path], check=True, capture_output=True,
                              env=hpmtest.environ(hpmvm.MTOOLS_ENV)).stdout


@pytest.fixture(scope="module")
def inputs():
    fx = hpmvm.fixtures()
    assert lv.HPM.is_file(), "build/runtime/hpm missing: run make"
    assert Path(EFIBOOTMGR).is_file(), "efibootmgr missing: run scripts/deps.sh"
    root = fx.root / "setup"
    root.mkdir(parents=True, exist_ok=True)
    initrd = lv.build_initramfs(root / "initrd.cpio", lv.kernel_modules(root), init=INIT,
                                programs=((EFIBOOTMGR, "usr/sbin/efibootmgr"),))
    v1 = hpmvm.sign_baseline(root / "v1.hpm", hpmvm.KERNEL, initrd, hpmvm.BASE_CMDLINE, "setup-v1", 5)
    return {"initrd": initrd, "v1": v1}


def boot_entries(boot, name):
    """efibootmgr --verbose as the guest printed it (run NAME): {num: line}, order."""
    start = [i for i, l in enumerate(boot.serial.splitlines()) if l == f"HPMTEST: rc {name}=0"]
    assert start, boot.describe()
    seg = boot.serial.splitlines()[start[-1] + 1:]
    out = []
    for l in seg:
        if not l.startswith("HPMTEST: out "):
            break
        out.append(l[len("HPMTEST: out "):])
    order = next((l.split(": ", 1)[1].split(",") for l in out if l.startswith("BootOrder: ")), [])
    current = next((l.split(": ", 1)[1] for l in out if l.startswith("BootCurrent: ")), None)
    entries = {l[4:8]: l for l in out if l.startswith("Boot") and l[8:9] in ("*", " ") and l[4:8] != "Orde"}
    return entries, order, current


def status(boot, name):
    js = lv.markers(boot, "json")
    assert name in js, boot.describe()
    return json.loads(js[name])["boot"]


def test_setup_then_boot_through_hpmboot(tmp_path, inputs):
    m = SetupMachine(tmp_path)
    m.put_src(inputs["v1"], "v1.hpm")
    m.put_src(IMAGE, IMAGE.name)
    d1 = hpmtest.digest(inputs["v1"])

    # 1: no hpmboot.efi: OVMF runs the kernel's EFI stub itself.
    m.set_plan(PLAN1)
    boot = m.boot(direct=(hpmvm.KERNEL, inputs["initrd"], hpmvm.BASE_CMDLINE))
    assert "HPMTEST: done" in boot.serial, boot.describe()
    cmdline = next(l for l in boot.serial.splitlines() if l.startswith("HPMTEST: cmdline="))
    assert "hpm.slot=" not in cmdline, cmdline
    s = status(boot, "before")
    assert s["booted"] is False and s["setup"] is None
    r = lv.rcs(boot)
    assert r["setup"] == 0 and r["setup2"] == 0, boot.describe()
    out = boot.serial
    assert "HPMTEST: out copied /boot/efi/EFI/hpmboot/hpmboot.efi" in out
    assert "HPMTEST: out copied /boot/efi/EFI/hpm/slot-a.hpm" in out
    created = [l for l in out.splitlines() if l.startswith("HPMTEST: out created boot entry Boot")]
    assert created and "\\EFI\\hpmboot\\hpmboot.efi on /dev/vda partition 1" in created[0], boot.describe()
    num = created[0].split("Boot")[1][:4]
    again = json.loads(next(l[len("HPMTEST: out "):] for l in out.splitlines()
                            if l.startswith('HPMTEST: out {"schema"')))
    assert again["changed"] is False and again["boot_entry"] == num and again["esp"] == "/boot/efi", again
    if "-dev" in IMAGE.name:
        assert "DEVELOPMENT boot image" in out
    entries, order, _ = boot_entries(boot, "ebm")
    assert order[0] == num and "File(\\EFI\\hpmboot\\hpmboot.efi)" in entries[num], entries
    assert "(boot entry Boot%s), which boots slot a (setup-v1) on trial" % num in out
    assert "HPMTEST: out setup: `hpm setup` installed /boot/efi/EFI/hpmboot/hpmboot.efi" in out
    s = status(boot, "after")
    assert s["booted"] is False and s["setup"]["boot_entry"] == num and s["setup"]["baseline"] == d1
    assert m.esp_read("EFI/hpm/slot-a.hpm") == inputs["v1"].read_bytes()
    assert m.esp_read("EFI/hpmboot/hpmboot.efi") == IMAGE.read_bytes()

    # 2: the firmware's BootOrder: hpmboot.efi, slot a on trial.
    m.set_plan(PLAN2)
    boot = m.boot()
    assert "HPMTEST: done" in boot.serial, boot.describe()
    s = status(boot, "before")
    assert s["booted"] is True and s["slot"] == "a" and s["baseline"] == d1 and s["version"] == "setup-v1", s
    assert s["attempt"] == 1 and s["reason"] == "highest-priority slot, on trial"
    r = lv.rcs(boot)
    assert r["markgood"] == 0 and r["remove"] == 0 and r["remove2"] == 0, boot.describe()
    removed = json.loads(next(l[len("HPMTEST: out "):] for l in boot.serial.splitlines()
                              if l.startswith('HPMTEST: out {"schema"')))
    assert removed["mode"] == "remove" and removed["boot_entry"] == num
    assert removed["actions"][:3] == [f"removed boot entry Boot{num}", "removed /boot/efi/EFI/hpm/slot-a.hpm",
                                      "removed /boot/efi/EFI/hpmboot/hpmboot.efi"], removed
    entries, order, current = boot_entries(boot, "ebm")
    assert current == num, boot.describe()  # the firmware started this boot from setup's entry
    assert num not in entries and num not in order, entries
    assert "HPMTEST: out nothing to remove" in boot.serial
    assert m.esp_list("") == [], m.esp_list("")  # the ESP is as empty as before setup
