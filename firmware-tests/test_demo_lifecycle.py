# SPDX-License-Identifier: MIT
"""The full lifecycle in one firmware test: the flow `make demo` shows
(firmware-tests/demo_vm.py), with an assertion on every step.

Fresh release key and hpmboot.efi built for it; four boots of one QEMU +
OVMF machine through the real hpmboot.efi and Debian's kernel:
hotpatch applied to the running demo service under load with no failed
request; mark-good; stage a new baseline; reboot into it on trial;
mark-good; stage a broken baseline with one try; it boots once, never
becomes healthy, and the boot stage falls back to the good baseline.
"""
import re

import pytest

import demo_vm
import hpmvm


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    hpmvm.check_prerequisites()
    d = demo_vm.Demo(tmp_path_factory.mktemp("demo"))
    d.rel = d.release()
    d.machine()
    return d


def slot_of(status):
    return status["boot"]["slot"], status["boot"]["version"]


def test_full_lifecycle(demo):
    rel = demo.rel
    assert rel["tampered_refused"], rel["tampered_msg"]
    assert len(set(rel["digests"].values())) == 3

    # Boot 1: 2026.1 in slot a; hotpatch the running service under load.
    b1 = demo.boot(demo_vm.PLAN_1)
    assert any("slot a" in l for l in demo_vm.boot_banner(b1)), b1.describe()
    rc = demo_vm.rcs(b1)
    answers = dict(demo_vm.lines(b1, "answer"))
    assert answers["before"].endswith("by v1 (buggy)") and "tax 19)" in answers["before"], answers
    assert rc["apply"] == 0, demo_vm.outputs(b1, "apply")  # before the answer: its output says why
    assert answers["after"] == "total 1190 (tax 190) by v2 (hotpatched)", answers
    assert rc["client"] == 0, demo_vm.outputs(b1, "client")
    summary = demo_vm.outputs(b1, "client")[-1]
    buggy, fixed, failed = [int(x) for x in
                            re.search(r"(\d+) buggy, (\d+) fixed, (\d+) failed", summary).groups()]
    assert buggy > 0 and fixed > 0 and failed == 0, summary
    assert any("HP-2026.1-1" in l for l in demo_vm.outputs(b1, "list")), demo_vm.outputs(b1, "list")
    st = demo_vm.status_json(b1)
    assert st and slot_of(st) == ("a", "2026.1") and st["hotpatch"]["sequence"] == 1, st
    assert st["boot"]["baseline"] == rel["digests"]["v1"]
    # the demo boots a release image (make hpmboot-release with its key)
    assert st["boot"]["image"] == "release" and st["boot"]["development_image"] is False, st
    assert rc["markgood"] == 0 and rc["stage"] == 0, b1.describe()

    # Boot 2: 2026.2 in slot b, on trial; mark it good; stage the broken one.
    b2 = demo.boot(demo_vm.PLAN_2)
    st = demo_vm.status_json(b2)
    assert st and slot_of(st) == ("b", "2026.2") and st["boot"]["attempt"] >= 1, st
    assert st["boot"]["baseline"] == rel["digests"]["v2"]
    rc = demo_vm.rcs(b2)
    assert rc["markgood"] == 0 and rc["stage"] == 0, b2.describe()

    # Boot 3: the broken baseline gets its one try and is never marked good.
    b3 = demo.boot("")
    assert "HPMDEMO: health check failed" in b3.serial, b3.describe()
    assert any("slot a" in l for l in demo_vm.boot_banner(b3)), b3.describe()

    # Boot 4: the boot stage falls back to 2026.2 by itself.
    b4 = demo.boot(demo_vm.PLAN_4)
    st = demo_vm.status_json(b4)
    assert st and slot_of(st) == ("b", "2026.2"), st
    assert st["boot"]["marked_good"] is True, st
    assert st["boot"]["floor"] == 2, st
    slots = {s["slot"]: s for s in st["boot"]["slots"]}
    assert slots["a"]["tries"] == 0 and not slots["a"]["successful"], slots
