# SPDX-License-Identifier: MIT
"""hpmboot.efi end to end: OVMF (QEMU TCG) + a FAT ESP + Debian's kernel.

Scenarios 1-6, 8 and 9 of the boot-stage issue (7, power cuts, is in
test_boot_powercut.py).  Every baseline is signed at test time by the real
hpm-sign; the initramfs reports what the kernel saw (firmware-tests/hpmvm.py).
"""
import re
import shutil
import struct

import pytest

import hpmtest
import hpmvm

LINUX_TIMEOUT = 120


@pytest.fixture(scope="module")
def fx():
    return hpmvm.fixtures()


def linux_boot(m, **kw):
    b = m.boot(timeout=LINUX_TIMEOUT, **kw)
    print(f"boot {len(m.boots)}: {b.seconds:.1f} s")
    assert b.killed is None, f"QEMU did not finish: {b.describe()}"
    assert "HPMTEST: done" in b.serial, f"Linux did not reach the end of /init: {b.describe()}"
    return b


def refusal_boot(m):
    """Boot expected to refuse everything: stop QEMU once the screen says so."""
    b = m.boot(timeout=60, stop_at=r"return to the firmware boot menu", stop_delay=0.5)
    print(f"boot {len(m.boots)}: {b.seconds:.1f} s")
    assert b.killed == "stop", f"no refusal screen: {b.describe()}"
    assert "NOTHING BOOTABLE" in b.serial, b.describe()
    assert not b.reached_linux and "EFI stub" not in b.serial, b.describe()
    return b


def machine(workdir, **slots):
    """A fresh machine with the given containers as its slots (a=..., b=...)."""
    m = hpmvm.Machine(workdir)
    for letter, container in slots.items():
        m.put_slot(letter, container)
    return m


def tampered_copy(container, tmp_path, name_suffix, at):
    """Copy a detached baseline and flip one byte of its kernel file."""
    src = container.parent
    dst = tmp_path / ("tampered-" + name_suffix)
    shutil.copytree(src, dst)
    kernel = next(dst.glob("*.kernel"))
    data = bytearray(kernel.read_bytes())
    data[at % len(data)] ^= 0x01
    kernel.write_bytes(bytes(data))
    return dst / container.name


def test_1_slot_a_good(fx, tmp_path):
    a = fx.baseline("s1a", svn=5, version="2025.01.1")
    b = fx.baseline("s1b", svn=5)
    m = machine(tmp_path, a=a, b=b)
    boot = linux_boot(m)
    digest = hpmtest.digest(a)
    # The kernel got the signed command line plus exactly our two keys.
    assert boot.cmdline == f"{hpmvm.BASE_CMDLINE} hpm.slot=a hpm.baseline={digest}", boot.describe()
    v = boot.vars
    assert v["HpmBootSlot"] == "a"
    assert v["HpmBootBaseline"] == digest
    assert v["HpmBootVersion"] == "2025.01.1"
    assert v["HpmBootSvn"] == "5"
    assert v["HpmBootAttempt"] == "1"
    assert v["HpmBootReason"] == "highest-priority slot, on trial"
    assert v["HpmBootFloor"] == "0"
    assert boot.slots["a"]["tries"] == "2" and boot.slots["a"]["baseline"] == digest
    assert "EFI stub: Loaded initrd from LINUX_EFI_INITRD_MEDIA_GUID device path" in boot.serial
    # The boot state is boot-services only: the OS cannot see it.
    assert "HPMTEST: visible" not in boot.serial, boot.describe()
    assert "hpm: booting slot a: baseline 2025.01.1 (svn 5)" in boot.serial
    # No TPM here: the floor is the variables' alone, and the console says so.
    assert ("hpm: tpm floor: the rollback floor is not TPM-backed: no TPM 2.0 "
            "(EFI_TCG2_PROTOCOL)") in boot.serial, boot.describe()
    # Plain `make` built a development image: a banner on the console, and
    # HpmBootImage tells the OS (`hpm status` warns: tests/lifecycle).
    assert "DEVELOPMENT BOOT IMAGE (hpmboot-dev.efi): NOT FOR PRODUCTION" in boot.serial, boot.describe()
    assert v["HpmBootImage"] == "development"


def test_2_tampered_kernel_refused_b_boots(fx, tmp_path):
    a = fx.baseline("s2a", svn=5, detached=True)
    a_bad = tampered_copy(a, tmp_path, "a", at=4_000_000)
    b = fx.baseline("s2b", svn=5)
    m = machine(tmp_path / "vm", a=a_bad, b=b)
    boot = linux_boot(m)
    assert re.search(r"^hpm: slot a: refused: slot-a\.hpm: payload hash mismatch at payloads/kernel",
                     boot.serial, re.M), boot.describe()
    assert boot.vars["HpmBootSlot"] == "b", boot.describe()
    assert boot.vars["HpmBootReason"].startswith("fallback"), boot.describe()
    assert boot.slots["a"]["reason"] == "verify-failed", boot.slots
    assert boot.slots["a"]["detail"] == "payload-hash-mismatch", boot.slots
    assert boot.slots["a"]["tries"] == "0"
    assert "hpm.slot=b hpm.baseline=" + hpmtest.digest(b) in boot.cmdline


def test_3_untrusted_key_refused_b_boots(fx, tmp_path):
    a = fx.baseline("s3a", svn=5, key=hpmvm.UNTRUSTED_KEY)
    b = fx.baseline("s3b", svn=5)
    m = machine(tmp_path, a=a, b=b)
    boot = linux_boot(m)
    assert "hpm: slot a: refused: slot-a.hpm: not signed by a trusted key" in boot.serial, \
        boot.describe()
    assert boot.vars["HpmBootSlot"] == "b"
    assert boot.slots["a"]["reason"] == "verify-failed", boot.slots
    assert boot.slots["a"]["detail"] == "not-signed-by-a-trusted-key", boot.slots


def test_4_trial_never_marked_good_falls_back_and_stays(fx, tmp_path):
    a = fx.baseline("s4a", svn=6)                         # never marks good
    b = fx.baseline("s4b", svn=5, extra="hpmtest.markgood=1")
    m = machine(tmp_path, a=a, b=b)
    for n in (1, 2, 3):
        boot = linux_boot(m)
        assert boot.vars["HpmBootSlot"] == "a", boot.describe()
        assert boot.vars["HpmBootAttempt"] == str(n)
        assert f"(attempt {n} of 3)" in boot.serial
    boot = linux_boot(m)
    assert boot.vars["HpmBootSlot"] == "b", boot.describe()
    assert boot.slots["a"]["reason"] == "tries-exhausted", boot.slots
    assert "HPMTEST: wrote HpmMarkGood=hpm.slot=b" in boot.serial
    boot = linux_boot(m)
    assert boot.vars["HpmBootSlot"] == "b", boot.describe()
    assert boot.vars["HpmBootAttempt"] == "0"               # marked good: no try consumed
    assert boot.slots["b"]["successful"] == "1"
    assert "hpm: mark-good request: applied" in boot.serial
    assert "hpm: slot a:" not in boot.serial                 # a is not even read again


def test_5_marked_good_raises_floor_lower_svn_refused(fx, tmp_path):
    a = fx.baseline("s5a", svn=5, extra="hpmtest.markgood=1")
    b = fx.baseline("s5b", svn=7)
    m = machine(tmp_path, a=a, b=b)
    boot = linux_boot(m)
    assert boot.vars["HpmBootSlot"] == "a" and boot.vars["HpmBootFloor"] == "0"
    boot = linux_boot(m)
    assert boot.vars["HpmBootSlot"] == "a", boot.describe()
    assert boot.vars["HpmBootReason"] == "highest-priority slot, marked good"
    assert boot.vars["HpmBootFloor"] == "5"
    assert boot.slots["a"]["successful"] == "1"
    # A later baseline in a with a lower SVN: refused as a rollback.
    m.put_slot("a", fx.baseline("s5a-old", svn=3))
    boot = linux_boot(m)
    assert boot.slots["a"]["reason"] == "rollback", boot.describe()
    assert boot.vars["HpmBootSlot"] == "b"
    assert boot.vars["HpmBootFloor"] == "5"


def test_6_both_bad_nothing_boots(fx, tmp_path):
    a = fx.baseline("s6a", svn=5, detached=True)
    b = fx.baseline("s6b", svn=5, key=hpmvm.UNTRUSTED_KEY)
    m = machine(tmp_path / "vm", a=tampered_copy(a, tmp_path, "a", at=100), b=b)
    boot = refusal_boot(m)
    assert "hpm:   slot a: verify-failed: " in boot.serial, boot.describe()
    assert "hpm:   slot b: verify-failed: " in boot.serial, boot.describe()
    assert "nothing unverified is booted" in boot.serial
    # A second boot says the same, from the recorded reasons.
    boot = refusal_boot(m)
    assert "hpm:   slot a: verify-failed" in boot.serial, boot.describe()


def test_8_oneshot_honoured_once_and_refused_if_unverified(fx, tmp_path):
    a = fx.baseline("s8a", svn=5, extra="hpmtest.oneshot=b")
    b = fx.baseline("s8b", svn=5, extra="hpmtest.oneshot=c")
    c = fx.baseline("s8c", svn=5, key=hpmvm.UNTRUSTED_KEY)
    m = machine(tmp_path, a=a, b=b, c=c)
    boot = linux_boot(m)
    assert boot.vars["HpmBootSlot"] == "a" and "HPMTEST: wrote HpmOneShot=b" in boot.serial
    boot = linux_boot(m)
    assert boot.vars["HpmBootSlot"] == "b", boot.describe()
    assert boot.vars["HpmBootReason"] == "one-shot request"
    # b asked for c, which does not verify: refused, and b is not repeated.
    boot = linux_boot(m)
    assert "hpm: one-shot request: slot c" in boot.serial, boot.describe()
    assert "hpm: one-shot slot refused" in boot.serial
    assert boot.vars["HpmBootSlot"] == "a", boot.describe()
    assert boot.slots["c"]["reason"] == "verify-failed", boot.slots


def _header(manifest_size, payload_size):
    h = bytearray(64)
    h[0:8] = b"\x89HPM\r\n\x1a\n"
    struct.pack_into("<IIIIIIQ", h, 8, 1, 1, 64, 0, manifest_size, 0, payload_size)
    return bytes(h)


@pytest.mark.parametrize("case", ["truncated+huge", "garbage+empty"])
def test_9_malformed_containers_refused(fx, tmp_path, case):
    good = fx.baseline("s9", svn=5).read_bytes()
    files = {
        "truncated+huge": (good[: len(good) // 2],
                           _header(0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF) + b"\0" * 64),
        "garbage+empty": (_header(4096, 0) + bytes(range(256)) * 16 + b"HPMSIGS\0" + b"\0" * 8,
                          b""),
    }[case]
    m = hpmvm.Machine(tmp_path / "vm")
    for letter, data in zip("ab", files):
        p = tmp_path / f"slot-{letter}.hpm"
        p.write_bytes(data)
        m.put(p, f"EFI/hpm/slot-{letter}.hpm")
    boot = refusal_boot(m)
    for letter in "ab":
        assert f"hpm:   slot {letter}: verify-failed: " in boot.serial, boot.describe()
