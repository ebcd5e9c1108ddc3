# SPDX-License-Identifier: MIT
"""The TPM-backed rollback floor (docs/boot-interface.md "TPM floor").

One machine with a swtpm whose state persists across its boots:

1. slot a (SVN 5) boots on trial and the OS marks it good;
2. the next boot applies the mark: the floor rises to 5 in the boot state
   and in the TPM's NV index, which is then write-locked;
3. the UEFI variable store is replaced by a fresh one (NVRAM reset), the
   TPM kept; slot a now holds an older baseline (SVN 3), slot b SVN 6: a is
   refused as a rollback (the TPM's floor holds), b boots, and the state
   written afterwards carries floor 5.

Booting without a TPM keeps the old behaviour: test_boot.py, whose machines
have none (its test_1 checks the "not TPM-backed" console line).
"""
import shutil

import pytest

import hpmvm

END = r"HPMTEST: done|NOTHING BOOTABLE"
INDEX = "0x01004850"


def linux_boot(m):
    b = m.boot(timeout=180, stop_at=END, stop_delay=1)
    print(f"boot {len(m.boots)}: {b.seconds:.1f} s")
    print("\n".join(l for l in b.hpm_lines().splitlines() if l.startswith("hpm")))
    assert b.reached_linux and "HPMTEST: done" in b.serial, b.describe()
    return b


@pytest.fixture(scope="module")
def boots(tmp_path_factory):
    assert shutil.which("swtpm"), "swtpm missing (scripts/deps.sh installs it)"
    fx = hpmvm.fixtures()
    m = hpmvm.Machine(tmp_path_factory.mktemp("tpmfloor") / "m", tpm=True)
    m.put_slot("a", fx.baseline("tf-a", svn=5, extra="hpmtest.markgood=1"))
    first = linux_boot(m)
    marked = linux_boot(m)
    shutil.copyfile(hpmvm.OVMF_VARS, m.vars)  # NVRAM reset; the TPM stays
    m.put_slot("a", fx.baseline("tf-a-old", svn=3))
    m.put_slot("b", fx.baseline("tf-b", svn=6))
    reset = linux_boot(m)
    return first, marked, reset


def test_first_boot_defines_the_index(boots):
    first, _, _ = boots
    assert f"hpm: tpm floor: defined NV index {INDEX} (no floor yet)" in first.serial, \
        first.describe()
    assert "hpm: tpm floor: wrote floor 0 (first record)" in first.serial, first.describe()
    assert "hpm: tpm floor: write-locked until the next TPM reset" in first.serial
    assert "not TPM-backed" not in first.serial
    assert first.vars["HpmBootSlot"] == "a" and first.vars["HpmBootFloor"] == "0"


def test_mark_good_raises_the_tpm_floor(boots):
    _, marked, _ = boots
    assert "hpm: mark-good request: applied" in marked.serial, marked.describe()
    assert f"hpm: tpm floor: NV index {INDEX} holds floor 0" in marked.serial
    assert "hpm: tpm floor: raised from 0 to 5" in marked.serial, marked.describe()
    assert marked.vars["HpmBootFloor"] == "5"


def test_nvram_reset_keeps_the_floor(boots):
    _, _, reset = boots
    s = reset.serial
    loaded = [l for l in reset.hpm_lines().splitlines() if l.startswith("hpm: state: loaded:")]
    assert loaded and "fresh-default" in loaded[0] and "floor 0," in loaded[0], reset.describe()
    assert f"hpm: tpm floor: NV index {INDEX} holds floor 5" in s, reset.describe()
    assert "hpm: state: floor 0 is below the TPM floor 5" in s
    assert reset.slots["a"]["reason"] == "rollback", reset.describe()
    assert reset.vars["HpmBootSlot"] == "b", reset.describe()
    assert reset.vars["HpmBootSvn"] == "6"
    assert reset.vars["HpmBootFloor"] == "5"
    written = [l for l in reset.hpm_lines().splitlines() if l.startswith("hpm: state: written:")]
    assert written and "floor 5," in written[0], reset.describe()
    # Nothing to raise: the index is only locked again.
    assert "hpm: tpm floor: raised" not in s
    assert "hpm: tpm floor: write-locked until the next TPM reset" in s
