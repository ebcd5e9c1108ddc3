# SPDX-License-Identifier: MIT
"""hpmboot.efi in a UEFI Secure Boot chain (docs/boot-interface.md "Secure
Boot", docs/threat-model.md).

OVMF's Secure Boot build (SMM) with a variable store holding PK/KEK
generated for this test module and db = the development db certificate
`make` signed build/efi/hpmboot-dev.signed.efi with (enrolled once by
build/efi/hpm-sb-enroll.efi, then copied per machine):

- the signed hpmboot.efi boots the verified baseline; the Debian kernel is
  not in db, so it starts only through hpm's scoped exception;
- the unsigned and a tampered signed hpmboot.efi are refused by the firmware;
- the kernel alone as the boot application is refused by the firmware;
- a baseline hpm refuses still does not boot with Secure Boot on.
"""
import re

import pytest

import hpmtest
import hpmvm

FIRMWARE_REFUSED = re.compile(
    r'BdsDxe: failed to (?:load|start) Boot\d+ "UEFI QEMU HARDDISK[^\n]*: '
    r"(Access Denied|Security Violation)")
END = r"No bootable option|HPMTEST: done|NOTHING BOOTABLE"


@pytest.fixture(scope="module")
def enrolled(tmp_path_factory):
    for p in (hpmvm.HPMBOOT_SIGNED, hpmvm.SB_ENROLL, hpmvm.DB_CERT, hpmvm.OVMF_CODE_SECBOOT):
        assert p.is_file(), f"{p} missing (run `make`)"
    hpmvm.fixtures()
    return hpmvm.enroll_secure_boot(tmp_path_factory.mktemp("sb-keys"))


def machine(tmp_path, enrolled, loader):
    return hpmvm.Machine(tmp_path / "m", loader=loader, secure_boot=True,
                         vars_template=enrolled)


def test_signed_hpmboot_boots_the_verified_baseline(tmp_path, enrolled):
    fx = hpmvm.fixtures()
    good = fx.baseline("sb-good", svn=3)
    m = machine(tmp_path, enrolled, hpmvm.HPMBOOT_SIGNED)
    m.put_slot("a", good)
    b = m.boot(timeout=240, stop_at=END, stop_delay=1)
    assert b.reached_linux, b.describe()
    assert "hpm: secure boot: on" in b.serial, b.describe()
    assert "the firmware accepted the kernel on hpm's verification" in b.serial, b.describe()
    v = b.vars
    assert v.get("HpmBootSecureBoot") == "on", b.describe()
    assert v.get("HpmBootBaseline") == hpmtest.digest(good), b.describe()
    assert v.get("HpmBootSlot") == "a"
    # No TPM on this machine: the boot goes on and says so.
    assert v.get("HpmBootTpm") == "absent", b.describe()
    assert "HPMTEST: no tpm" in b.serial


@pytest.mark.parametrize("variant", ["unsigned", "tampered"])
def test_firmware_refuses_unsigned_or_tampered_hpmboot(tmp_path, enrolled, variant):
    loader = hpmvm.HPMBOOT
    if variant == "tampered":
        data = bytearray(hpmvm.HPMBOOT_SIGNED.read_bytes())
        banner = b"v\x00e\x00r\x00i\x00f\x00i\x00e\x00d\x00 \x00b\x00o\x00o\x00t\x00"
        at = data.find(banner)  # L"verified boot" in .data: signed bytes
        assert at > 0
        data[at] = ord("V")
        loader = tmp_path / "tampered.efi"
        loader.write_bytes(bytes(data))
    m = machine(tmp_path, enrolled, loader)
    m.put_slot("a", hpmvm.fixtures().baseline("sb-good", svn=3))
    b = m.boot(timeout=120, stop_at=END, stop_delay=0.5)
    assert FIRMWARE_REFUSED.search(b.serial), b.describe()
    assert "hpmboot " not in b.serial and not b.reached_linux, b.describe()


def test_firmware_refuses_the_kernel_as_boot_application(tmp_path, enrolled):
    """The baseline's kernel is not in db: only hpm's exception lets it run."""
    m = machine(tmp_path, enrolled, hpmvm.KERNEL)
    b = m.boot(timeout=120, stop_at=END, stop_delay=0.5)
    assert FIRMWARE_REFUSED.search(b.serial), b.describe()
    assert "EFI stub" not in b.serial and not b.reached_linux, b.describe()


def test_refused_baseline_does_not_boot_under_secure_boot(tmp_path, enrolled):
    fx = hpmvm.fixtures()
    m = machine(tmp_path, enrolled, hpmvm.HPMBOOT_SIGNED)
    m.put_slot("a", fx.baseline("sb-untrusted", svn=3, key=hpmvm.UNTRUSTED_KEY))
    b = m.boot(timeout=180, stop_at=END, stop_delay=1)
    assert "hpm: secure boot: on" in b.serial, b.describe()
    assert "NOTHING BOOTABLE" in b.serial, b.describe()
    assert re.search(r"slot a: refused: slot-a\.hpm: .*(key|signer|trust)", b.serial,
                     re.I), b.describe()
    assert "starting kernel" not in b.serial and not b.reached_linux, b.describe()
    assert "accepted the kernel" not in b.serial
