# SPDX-License-Identifier: MIT
"""The OS changes the slot table: HpmSlotRequest (docs/boot-interface.md).

Slot a holds a baseline the boot stage refuses (untrusted key), so b boots
and a is unbootable from then on.  The OS puts a good baseline into a and,
from inside Linux through efivarfs, writes a slot request for the state
sequence the boot stage reported (as `hpm stage` will): "activate a" with
2 tries (plus a second entry enabling c): a becomes a candidate again.  The next boot applies it before
selecting, verifies a and boots it on trial.  A request with a bad CRC is
reported as malformed, deleted and not applied.
"""
import hpmtest
import hpmvm
from test_boot import linux_boot

# Entries OP,SLOT,PRIORITY,TRIES,FLAGS: activate (2) a (0) with 2 tries,
# clearing its successful mark and refusal (flags 3); then set (1) c (2) to
# priority 1, no tries (enabled, but not a candidate until it has tries).
REQUEST = "2,0,0,2,3+1,2,1,0,0"
STAGE_A = "hpmtest.slotreq=" + REQUEST


def test_10_slot_request_reenables_refused_slot(tmp_path):
    fx = hpmvm.fixtures()
    bad = fx.baseline("r10a-bad", svn=5, key=hpmvm.UNTRUSTED_KEY)
    b = fx.baseline("r10b", svn=5, extra=STAGE_A)
    good = fx.baseline("r10a", svn=6, version="2025.04.1", extra=STAGE_A + "/badcrc")
    m = hpmvm.Machine(tmp_path)
    m.put_slot("a", bad)
    m.put_slot("b", b)

    # 1: a refused, b boots; the OS sees sequence 1 and writes the request.
    boot = linux_boot(m)
    assert boot.vars["HpmBootSlot"] == "b", boot.describe()
    assert boot.slots["a"]["reason"] == "verify-failed", boot.slots
    assert boot.slots["a"]["tries"] == "0"
    assert boot.vars["HpmBootStateSeq"] == "1", boot.describe()
    assert "HPMTEST: var HpmBootRequest absent" in boot.serial
    assert f"HPMTEST: wrote HpmSlotRequest {REQUEST} seq=1" in boot.serial, boot.describe()

    # The new baseline is staged into a (the file on the ESP), then reboot.
    m.put_slot("a", good)
    boot = linux_boot(m)
    assert "hpm: slot request: applied: state sequence 2" in boot.serial, boot.describe()
    # Applied and stored before any slot was read.
    assert boot.serial.index("hpm: slot request: applied") < boot.serial.index("hpm: slot a: reading")
    assert boot.vars["HpmBootRequest"] == "applied: state sequence 2"
    assert boot.vars["HpmBootSlot"] == "a", boot.describe()
    assert boot.vars["HpmBootVersion"] == "2025.04.1"
    assert boot.vars["HpmBootReason"] == "highest-priority slot, on trial"
    assert boot.vars["HpmBootAttempt"] == "1"
    assert "(attempt 1 of 2)" in boot.serial                 # the requested tries
    assert boot.slots["a"]["reason"] == "none" and boot.slots["a"]["tries"] == "1", boot.slots
    assert boot.slots["a"]["baseline"] == hpmtest.digest(good)
    # activate a: a above b (renumbered 2, 1); both entries applied.
    assert boot.slots["a"]["priority"] == "2" and boot.slots["b"]["priority"] == "1", boot.slots
    assert boot.slots["c"]["priority"] == "1" and boot.slots["c"]["tries"] == "0", boot.slots
    assert "hpm: slot c:" not in boot.serial                 # not a candidate: never read
    assert boot.vars["HpmBootFloor"] == "0"                   # a request never moves the floor
    assert "HPMTEST: pending HpmSlotRequest" not in boot.serial  # deleted once stored
    assert boot.vars["HpmBootStateSeq"] == "3"
    assert f"HPMTEST: wrote HpmSlotRequest {REQUEST}/badcrc seq=3" in boot.serial

    # 3: the corrupt request is reported, deleted and not applied: a keeps
    # counting down its tries (a re-applied request would have reset them).
    boot = linux_boot(m)
    assert "hpm: slot request: malformed: CRC mismatch" in boot.serial, boot.describe()
    assert boot.vars["HpmBootRequest"] == "malformed: CRC mismatch"
    assert "HPMTEST: pending HpmSlotRequest" not in boot.serial
    assert boot.vars["HpmBootSlot"] == "a"
    assert "(attempt 2 of 2)" in boot.serial, boot.describe()
    assert boot.slots["a"]["tries"] == "0"
