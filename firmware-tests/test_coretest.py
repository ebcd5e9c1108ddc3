# SPDX-License-Identifier: MIT
"""Boot hpm-coretest.efi under QEMU (TCG) + OVMF and check what it prints.

The app (efi/coretest.c) exercises the freestanding build of core, mbedTLS
and libfdt, prints "HPM-CORETEST: OK" when every check passed, and powers
the machine off.  Run with: /usr/bin/python3 -m pytest firmware-tests/
HPM_BUILD names the build folder (default: <repo>/build).
"""
import re
import shutil
import subprocess
import time

from hpmtest import BUILD
from hpmvm import OVMF_CODE, OVMF_VARS, QEMU, strip_ansi

CORETEST = BUILD / "efi" / "hpm-coretest.efi"
TIMEOUT_S = 120

SHA256_ABC = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def run_qemu(esp, vars_fd, timeout=TIMEOUT_S):
    """Run QEMU on the ESP folder; return (exit code, serial text, seconds)."""
    cmd = [
        QEMU,
        "-machine", "q35,accel=tcg",
        "-cpu", "max",
        "-m", "1024",
        "-nographic",
        "-no-reboot",
        "-nic", "none",
        "-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}",
        "-drive", f"if=pflash,format=raw,unit=1,file={vars_fd}",
        "-drive", f"format=raw,file=fat:rw:{esp}",
    ]
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    try:
        out, _ = proc.communicate(timeout=timeout)
        code = proc.returncode
    except subprocess.TimeoutExpired:
        proc.kill()  # only the QEMU this test started
        out, _ = proc.communicate()
        code = None
    elapsed = time.monotonic() - start
    return code, strip_ansi(out.decode("utf-8", "replace")), elapsed


def test_coretest_boots_and_passes(tmp_path):
    assert CORETEST.is_file(), f"{CORETEST} missing: build it with `make` first"
    for f in (OVMF_CODE, OVMF_VARS):
        assert f.is_file(), f"{f} missing: run scripts/deps.sh (package ovmf)"
    assert shutil.which(QEMU), f"{QEMU} missing: run scripts/deps.sh (qemu-system-x86)"

    vars_fd = tmp_path / "OVMF_VARS_4M.fd"
    shutil.copyfile(OVMF_VARS, vars_fd)
    boot = tmp_path / "esp" / "EFI" / "BOOT"
    boot.mkdir(parents=True)
    shutil.copyfile(CORETEST, boot / "BOOTX64.EFI")

    code, serial, elapsed = run_qemu(tmp_path / "esp", vars_fd)
    print(f"QEMU ran {elapsed:.1f} s, exit code {code}")
    lines = [ln for ln in serial.splitlines() if "HPM-CORETEST" in ln or "hpm:" in ln]
    print("\n".join(lines))
    tail = "\n".join(serial.splitlines()[-40:])

    assert code is not None, f"QEMU timed out after {TIMEOUT_S} s; serial tail:\n{tail}"
    assert "HPM-CORETEST: start" in serial, f"app did not start; serial tail:\n{tail}"
    assert f"HPM-CORETEST: sha256(abc) = {SHA256_ABC}" in serial, tail
    assert "FAILED" not in serial and "HPM-CORETEST: FAIL" not in serial, tail
    assert re.search(r"^HPM-CORETEST: OK$", serial, re.M), f"no OK marker; serial tail:\n{tail}"
    assert code == 0, f"QEMU exit code {code}; serial tail:\n{tail}"
