# SPDX-License-Identifier: MIT
"""Measured boot (docs/boot-interface.md "Measured boot").

One boot of hpmboot.efi with a fresh swtpm (TPM 2.0, TIS) attached.  Inside
the booted Linux the initramfs prints every SHA-256 PCR
(/sys/class/tpm/tpm0/pcr-sha256/N) and the TCG event log
(/sys/kernel/security/tpm0/binary_bios_measurements); here, on the host:

- the log replays to exactly the PCR values the TPM reports;
- PCR 8 holds exactly hpm's two EV_IPL events: the baseline event whose
  SHA-256 is the digest `hpm-sign inspect` prints, then the decision event
  (slot, SVN, reason) whose digest is the SHA-256 of its text;
- PCR 4 holds the kernel as a boot application whose digest is the
  Authenticode hash of the kernel bytes in the signed baseline, and PCR 9
  the initrd (Linux EFI stub) whose digest is the SHA-256 of the initrd
  bytes in the signed baseline: what was measured is what was verified.

Booting without a TPM (HpmBootTpm=absent) is covered in test_secureboot.py.
"""
import hashlib
import shutil

import pytest

import hpmtest
import hpmvm
import tcglog

END = r"HPMTEST: done|NOTHING BOOTABLE"


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    assert shutil.which("swtpm"), "swtpm missing (scripts/deps.sh installs it)"
    fx = hpmvm.fixtures()
    baseline = fx.baseline("tpm-good", svn=7)
    m = hpmvm.Machine(tmp_path_factory.mktemp("tpm") / "m", tpm=True)
    m.put_slot("a", baseline)
    b = m.boot(timeout=240, stop_at=END, stop_delay=1)
    assert b.reached_linux, b.describe()
    assert b.event_log is not None, "no event log read in the guest:\n" + b.describe()
    return b, baseline, fx.initrd


def test_hpm_reports_the_measurement(measured):
    b, _, _ = measured
    assert b.vars.get("HpmBootTpm") == "measured pcr=8,4 events=3", b.describe()


def test_event_log_replays_to_the_pcrs(measured):
    b, _, _ = measured
    events = tcglog.parse(b.event_log)
    replayed = tcglog.replay(events)
    assert {4, 8, 9} <= set(replayed), sorted(replayed)
    pcrs = b.pcrs
    for i, value in replayed.items():
        assert pcrs.get(i) == value.hex(), f"PCR {i}: TPM {pcrs.get(i)}, replay {value.hex()}"
    assert pcrs[8] != "00" * 32


def test_pcr8_holds_the_baseline_and_the_decision(measured):
    b, baseline, _ = measured
    ev8 = [e for e in tcglog.parse(b.event_log) if e.pcr == 8]
    assert [e.type for e in ev8] == [tcglog.EV_IPL, tcglog.EV_IPL], ev8
    digest = hpmtest.digest(baseline)
    first, second = ev8
    assert first.digests[tcglog.ALG_SHA256].hex() == digest
    assert first.data.decode() == f"hpm.baseline sha256={digest} version=tpm-good-svn7"
    text = second.data.decode()
    assert text.startswith("hpm.decision slot=a svn=7 reason="), text
    word = {"highest-priority slot, on trial": "trial",
            "highest-priority slot, marked good": "marked-good"}[b.vars["HpmBootReason"]]
    assert text == (f"hpm.decision slot=a svn=7 reason={word} "
                    f"attempt={b.vars['HpmBootAttempt']} floor={b.vars['HpmBootFloor']}")
    assert second.digests[tcglog.ALG_SHA256] == hashlib.sha256(second.data).digest()
    # Every bank the log carries agrees with the same bytes.
    if tcglog.ALG_SHA1 in second.digests:
        assert second.digests[tcglog.ALG_SHA1] == hashlib.sha1(second.data).digest()
    assert b.vars.get("HpmBootBaseline") == digest


def test_kernel_and_initrd_measurements_are_the_verified_bytes(measured):
    b, _, initrd = measured
    events = tcglog.parse(b.event_log)
    kernel_hash = tcglog.authenticode_sha256(hpmvm.KERNEL.read_bytes())
    apps = [e.digests[tcglog.ALG_SHA256] for e in events
            if e.pcr == 4 and e.type == tcglog.EV_EFI_BOOT_SERVICES_APPLICATION]
    assert apps.count(kernel_hash) == 1, [a.hex() for a in apps]
    assert apps[-1] == kernel_hash, "the kernel must be the last application measured"
    # hpmboot.efi itself was measured by the firmware before it.
    assert tcglog.authenticode_sha256(hpmvm.HPMBOOT.read_bytes()) in apps[:-1]
    initrd_hash = hashlib.sha256(initrd.read_bytes()).digest()
    tagged = [e for e in events if e.pcr == 9 and e.type == tcglog.EV_EVENT_TAG
              and b"Linux initrd" in e.data]
    assert len(tagged) == 1, tagged
    assert tagged[0].digests[tcglog.ALG_SHA256] == initrd_hash
