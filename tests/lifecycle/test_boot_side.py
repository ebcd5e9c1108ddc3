# SPDX-License-Identifier: MIT
"""The boot side of `hpm` from the OS: status, mark-good, stage, rollback.

A fake efivarfs directory (HPM_EFIVARS) holds the volatile HpmBoot*
variables hpmboot.efi would publish (4 attribute bytes, then the value), a
folder stands in for the ESP (HPM_ESP): the Host of conftest.py, which also
decodes the records the commands write, independently of core, from
docs/boot-interface.md.  Baselines are signed at test time with the real
hpm-sign and keys generated here.
"""
import json
import re
import subprocess

import pytest

from hpmtest import REPO, digest, keygen, make_baseline, sign_with_openssl

ZERO = "0" * 64


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("keys")
    for name in ("release", "other"):
        keygen(d / f"{name}.pem", d / f"{name}.pub")
    return d


def sign(out, keys, version, svn, key="release", detached=False, seed=b"k"):
    """A baseline of made-up kernel and initrd bytes (seed, version) into out."""
    d = out.parent
    d.mkdir(parents=True, exist_ok=True)
    kernel, initrd = d / (out.stem + "-in.kernel"), d / (out.stem + "-in.initrd")
    kernel.write_bytes((seed + version.encode()) * 700)
    initrd.write_bytes(b"initrd-" + version.encode() * 300)
    make_baseline(out, keys / f"{key}.pem", kernel, initrd, cmdline="console=ttyS0", version=version,
                  svn=svn, detached=detached)
    return out


@pytest.fixture
def host(tmp_path, keys, make_host):
    return make_host(tmp_path, keys / "release.pub")


@pytest.fixture(scope="module")
def bl(tmp_path_factory, keys):
    d = tmp_path_factory.mktemp("baselines")
    out = {
        "v1": sign(d / "v1" / "v1.hpm", keys, "v1", 5),
        "v2": sign(d / "v2" / "v2.hpm", keys, "v2", 6),
        "v2det": sign(d / "v2det" / "v2det.hpm", keys, "v2det", 6, detached=True),
        "old": sign(d / "old" / "old.hpm", keys, "old", 3),
        "foreign": sign(d / "foreign" / "foreign.hpm", keys, "foreign", 6, key="other"),
    }
    return out


# ---- status -----------------------------------------------------------------

def test_help_on_every_command(host):
    for cmd in ("mark-good", "stage", "rollback", "status"):
        p = host.hpm(cmd, "--help", check=None)
        assert p.returncode == 0 and "usage" in p.stdout, (cmd, p.stdout, p.stderr)


def test_status_without_hpmboot(host):
    p = host.hpm("status")
    assert "not booted through hpmboot.efi" in p.stdout
    j = json.loads(host.hpm("status", "--json").stdout)
    assert j["boot"]["booted"] is False and "HpmBootSlot" in j["boot"]["error"]
    assert "hotpatch" in j


def test_status_text_and_json(host):
    host.boot(active="b", baseline="cd" * 32, version="2026.11-q4", svn=7, attempt=2, floor=5,
              seq=41, reason="highest-priority slot, on trial", request="applied: state sequence 41",
              slots={"a": (1, 0, 1, 5, "none", "ab" * 32),
                     "b": (2, 1, 0, 7, "none", "cd" * 32),
                     "c": (0, 0, 0, 4, "verify-failed", "ef" * 32, "payload-hash-mismatch")})
    p = host.hpm("status")
    t = p.stdout
    assert re.search(r"Booted slot: b\n", t)
    assert "Baseline: 2026.11-q4 (svn 7)" in t
    assert "Digest: " + "cd" * 32 in t
    assert "on trial, attempt 2, 1 tries left" in t
    assert "Rollback floor: svn 5" in t
    assert "Last request: applied: state sequence 41" in t
    assert "Reboot pending: no" in t
    assert re.search(r"^  \* b  priority  2  tries  1  on trial", t, re.M)
    assert re.search(r"^    a  priority  1  tries  0  good", t, re.M)
    assert "last refusal: verify-failed: payload-hash-mismatch" in t
    j = json.loads(host.hpm("status", "--json").stdout)["boot"]
    assert j["booted"] and j["slot"] == "b" and j["svn"] == 7 and j["attempt"] == 2
    assert j["floor"] == 5 and j["state_sequence"] == 41 and j["marked_good"] is False
    assert j["reboot_pending"] is False and j["next_slot"] == "b"
    s = {x["slot"]: x for x in j["slots"]}
    assert s["a"]["successful"] is True and s["a"]["state"] == "good"
    assert s["c"]["reason"] == "verify-failed" and s["c"]["detail"] == "payload-hash-mismatch"
    assert s["d"]["baseline"] is None and s["b"]["active"] is True


def test_status_secure_boot_tpm_versions_and_empty_slots(host, bl):
    """What hpmboot.efi publishes about Secure Boot and the TPM is shown; a
    slot without a container is empty (not on trial, whatever its tries);
    other slots show the version of the baseline their container holds."""
    b_digest = digest(bl["v1"])
    host.boot(active="a", baseline="ab" * 32, version="2026.2",
              slots={"a": (2, 2, 0, 5, "none", "ab" * 32), "b": (1, 0, 1, 5, "none", b_digest),
                     "c": (1, 3, 0, 0, "none", ZERO)})
    (host.hpmdir / "slot-b.hpm").write_bytes(bl["v1"].read_bytes())
    host.setvar("HpmBootSecureBoot", "on")
    host.setvar("HpmBootTpm", "measured: pcr 12 (2 events), pcr 4 (kernel)")
    t = host.hpm("status").stdout
    assert "Secure Boot: on" in t and "TPM: measured: pcr 12 (2 events), pcr 4 (kernel)" in t
    assert re.search(r"^    c  priority  1  tries  3  empty", t, re.M), t
    assert re.search(rf"^    b  priority  1  tries  0  good +svn 5 +v1 \({b_digest}\)", t, re.M), t
    j = json.loads(host.hpm("status", "--json").stdout)["boot"]
    assert j["secure_boot"] == "on" and j["tpm"].startswith("measured")
    s = {x["slot"]: x for x in j["slots"]}
    assert s["c"]["state"] == "empty" and s["c"]["version"] is None
    assert s["b"]["version"] == "v1" and s["a"]["version"] == "2026.2"
    # a container whose digest is not the one the slot table records: no version claimed
    (host.hpmdir / "slot-b.hpm").write_bytes(bl["v2"].read_bytes())
    s = {x["slot"]: x for x in json.loads(host.hpm("status", "--json").stdout)["boot"]["slots"]}
    assert s["b"]["version"] is None
    # not published (an older hpmboot.efi): said so, null in JSON
    host.path("HpmBootSecureBoot").unlink()
    host.path("HpmBootTpm").unlink()
    assert "Secure Boot: (not published)" in host.hpm("status").stdout
    j = json.loads(host.hpm("status", "--json").stdout)["boot"]
    assert j["secure_boot"] is None and j["tpm"] is None


def test_status_warns_loudly_about_a_development_boot_image(host):
    """HpmBootImage (docs/boot-interface.md): a development image (plain
    `make`) gets a warning above everything else and development_image in
    JSON; a release image none; an older hpmboot.efi that does not publish it
    is said so, without a warning."""
    host.boot()
    host.setvar("HpmBootImage", "development")
    t = host.hpm("status").stdout
    assert t.startswith("WARNING: DEVELOPMENT BOOT IMAGE"), t
    assert "make hpmboot-release HPM_TRUST_KEYS=" in t
    assert "Boot image: DEVELOPMENT (not for production)" in t
    j = json.loads(host.hpm("status", "--json").stdout)["boot"]
    assert j["image"] == "development" and j["development_image"] is True
    # a value this hpm does not know warns too (fail loud)
    host.setvar("HpmBootImage", "experimental")
    assert "WARNING: DEVELOPMENT BOOT IMAGE" in host.hpm("status").stdout
    assert json.loads(host.hpm("status", "--json").stdout)["boot"]["development_image"] is True
    host.setvar("HpmBootImage", "release")
    t = host.hpm("status").stdout
    assert "WARNING" not in t and "Boot image: release" in t
    j = json.loads(host.hpm("status", "--json").stdout)["boot"]
    assert j["image"] == "release" and j["development_image"] is False
    host.path("HpmBootImage").unlink()
    t = host.hpm("status").stdout
    assert "WARNING" not in t and "Boot image: (not published)" in t
    j = json.loads(host.hpm("status", "--json").stdout)["boot"]
    assert j["image"] is None and j["development_image"] is False


def test_status_reboot_pending_when_another_slot_outranks(host):
    # Booted b by fallback: a has higher priority and is marked good (e.g.
    # a one-off read error); the next boot would try a again.
    host.boot(active="b", baseline="cd" * 32, reason="fallback: a higher-priority slot was "
              "refused or used up its tries",
              slots={"a": (3, 0, 1, 5, "none", "ab" * 32), "b": (2, 0, 1, 5, "none", "cd" * 32)})
    j = json.loads(host.hpm("status", "--json").stdout)["boot"]
    assert j["reboot_pending"] is True and j["next_slot"] == "a"
    assert "slot a outranks the running slot b" in j["reboot_reason"]


def test_status_refuses_planted_variables(host):
    host.boot()
    host.setvar("HpmBootSlot", "a", attr=7)  # non-volatile: not what the boot stage writes
    j = json.loads(host.hpm("status", "--json").stdout)["boot"]
    assert j["booted"] is False and "attributes" in j["error"]
    host.boot()
    host.setvar("HpmBootSlots", "a priority=99 tries=1 successful=0 svn=1 reason=none baseline=" + ZERO)
    j = json.loads(host.hpm("status", "--json").stdout)["boot"]
    assert j["booted"] is False and "priority" in j["error"]


# ---- mark-good ----------------------------------------------------------------

def test_mark_good(host):
    assert host.hpm("mark-good", check=None).returncode == 5
    host.boot(active="a", baseline="ab" * 32, svn=5, floor=2)
    p = host.hpm("mark-good", "--json")
    j = json.loads(p.stdout)
    assert j["result"] == "requested" and j["slot"] == "a" and j["floor_after_reboot"] == 5
    attr, val = host.getvar("HpmMarkGood")
    assert attr == 7 and val == f"hpm.slot=a hpm.baseline={'ab' * 32}".encode()
    # Asking twice: nothing to do, said clearly, distinct exit code.
    p = host.hpm("mark-good", check=None)
    assert p.returncode == 6 and "already requested" in p.stderr
    s = host.hpm("status").stdout
    assert "mark-good requested" in s


def test_mark_good_already_marked(host):
    host.boot(active="a", attempt=0, reason="highest-priority slot, marked good",
              slots={"a": (2, 0, 1, 5, "none", "ab" * 32)})
    p = host.hpm("mark-good", check=None)
    assert p.returncode == 6 and "already marked good" in p.stderr
    assert host.getvar("HpmMarkGood") is None
    # nothing to do is not a failure in the history (the unit runs it every boot)
    rows = json.loads(host.hpm("history", "--json").stdout)["entries"]
    assert [(r["event"], r["result"], r["error"]) for r in rows] == [("mark-good", "unchanged", None)]


# ---- stage ----------------------------------------------------------------------

def test_stage_good(host, bl):
    host.boot(active="a", baseline="ab" * 32, seq=9)
    (host.hpmdir / "slot-a.hpm").write_bytes(b"running slot a")
    p = host.hpm("stage", "--tries", "2", bl["v2"])
    assert "into slot b" in p.stdout and "a reboot will activate it" in p.stdout
    assert (host.hpmdir / "slot-b.hpm").read_bytes() == bl["v2"].read_bytes()
    assert (host.hpmdir / "slot-a.hpm").read_bytes() == b"running slot a"
    seq, entries = host.slotreq()
    assert seq == 9 and entries == [(2, 1, 0, 2, 3)]  # activate b, tries 2, clear good+refusal
    j = json.loads(host.hpm("status", "--json").stdout)["boot"]
    assert j["reboot_pending"] is True and j["next_slot"] == "b" and j["pending"]["slot_request"]
    assert not [n for n in host.tree() if n.startswith(".")]


def test_stage_json_and_replaces_pending_request(host, bl):
    host.boot(active="b", baseline="cd" * 32, seq=12,
              slots={"a": (1, 0, 1, 5, "none", "ab" * 32), "b": (2, 0, 1, 5, "none", "cd" * 32)})
    host.setvar("HpmSlotRequest", b"stale request", attr=7)
    p = host.hpm("stage", "--json", bl["v2"])
    j = json.loads(p.stdout)
    assert j["slot"] == "a" and j["svn"] == 6 and j["digest"] == digest(bl["v2"])
    assert j["tries"] == 3 and j["reboot_required"] is True and j["fallback_slot"] == "b"
    assert "replacing the slot request already pending" in p.stderr
    assert host.slotreq() == (12, [(2, 0, 0, 3, 3)])


def test_stage_detached_payloads(host, bl):
    host.boot()
    p = host.hpm("stage", bl["v2det"])
    files = host.tree()
    src = bl["v2det"].parent
    for f in src.glob("v2det.*"):
        if f.suffix != ".hpm":
            assert files[f.name] == f.read_bytes(), f.name
    assert files["slot-b.hpm"] == bl["v2det"].read_bytes()
    assert "slot b" in p.stdout


def test_stage_never_overwrites_payload_another_slot_uses(host, bl, keys):
    host.boot()
    # slot a's container names the same detached file with other content
    a = sign(host.root / "a" / "v2det.hpm", keys, "a-ver", 5, detached=True, seed=b"other")
    (host.hpmdir / "slot-a.hpm").write_bytes(a.read_bytes())
    kernel = next(p for p in a.parent.iterdir() if p.name == "v2det.kernel")
    (host.hpmdir / kernel.name).write_bytes(kernel.read_bytes())
    before = host.tree()
    p = host.hpm("stage", bl["v2det"], check=None)
    assert p.returncode == 1 and "slot a's container names it" in p.stderr
    assert host.tree() == before and host.getvar("HpmSlotRequest") is None


@pytest.mark.parametrize("name", ["slot-a.hpm", "SLOT-A.hpm", "slot-c.hpm"])
def test_stage_refuses_payload_named_as_a_slot_container(host, keys, tmp_path, name):
    """A trusted signature over a baseline whose detached kernel is named like
    a slot container (hpm-sign refuses to write one; the bytes are made and
    signed here by hand) is refused by verification: staging it into slot b
    would otherwise replace the running slot a's container."""
    host.boot()
    (host.hpmdir / "slot-a.hpm").write_bytes(b"running slot a")
    d = tmp_path / "evil"
    d.mkdir()
    (d / "in.kernel").write_bytes(b"evil kernel" * 100)
    out = d / "abc.hpm"  # detached as "abc.kernel": as long as "slot-a.hpm"
    make_baseline(out, keys / "release.pem", d / "in.kernel", cmdline=None, version="evil", svn=9,
                  detached=True)
    data = out.read_bytes()
    assert data.count(b"abc.kernel") == 1
    out.write_bytes(data.replace(b"abc.kernel", name.encode()))
    (d / "abc.kernel").rename(d / name)
    sign_with_openssl(out, keys / "release.pem")
    before = host.tree()
    p = host.hpm("stage", out, check=None)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "payloads/kernel/file" in p.stderr and f"{name} is reserved" in p.stderr, p.stderr
    assert host.tree() == before and host.getvar("HpmSlotRequest") is None


@pytest.mark.parametrize("case", ["tampered", "wrong-key", "below-floor", "running"])
def test_stage_refusals(host, bl, tmp_path, case):
    host.boot(floor=7 if case == "below-floor" else 0,
              baseline=digest(bl["v2"]) if case == "running" else "ab" * 32)
    (host.hpmdir / "slot-a.hpm").write_bytes(b"running slot a")
    src = bl["v2"]
    if case == "tampered":
        b = bytearray(src.read_bytes())
        b[b.index(b"kv2kv2") + 5] ^= 1  # inside the embedded kernel payload
        src = tmp_path / "tampered.hpm"
        src.write_bytes(bytes(b))
    elif case == "wrong-key":
        src = bl["foreign"]
    p = host.hpm("stage", src, check=None)
    assert p.returncode == 1, p.stdout + p.stderr
    want = {"tampered": "payloads/kernel", "wrong-key": "which is not in the trust store", "below-floor": "below the rollback floor 7",
            "running": "is the running baseline"}[case]
    assert want in p.stderr, p.stderr
    assert host.tree() == {"slot-a.hpm": b"running slot a"}
    assert host.getvar("HpmSlotRequest") is None


@pytest.mark.parametrize("hook", ["HPM_TEST_ESP_FAULT", "HPM_TEST_ESP_CRASH"])
def test_stage_interrupted_copy(host, bl, hook):
    host.boot(seq=5)
    (host.hpmdir / "slot-a.hpm").write_bytes(b"running slot a")
    (host.hpmdir / "slot-b.hpm").write_bytes(b"old slot b")
    before = host.tree()
    p = host.hpm("stage", bl["v2"], env={hook: "1000"}, check=None)
    assert p.returncode != 0
    after = host.tree()
    # the active slot (and even the old inactive copy) is untouched, no request
    assert after["slot-a.hpm"] == b"running slot a" and after["slot-b.hpm"] == b"old slot b"
    assert host.getvar("HpmSlotRequest") is None
    temps = [n for n in after if n.startswith(".hpm-tmp.")]
    if hook == "HPM_TEST_ESP_FAULT":
        assert p.returncode == 3 and "No space left" in p.stderr and after == before
    else:
        assert p.returncode == 99 and len(temps) == 1  # killed mid-copy: temp file left
    # the next stage cleans up and succeeds
    p = host.hpm("stage", bl["v2"])
    final = host.tree()
    assert final["slot-b.hpm"] == bl["v2"].read_bytes() and final["slot-a.hpm"] == b"running slot a"
    assert not [n for n in final if n.startswith(".")]
    assert host.slotreq() == (5, [(2, 1, 0, 3, 3)])


def test_stage_keeps_last_good_fallback(host, bl):
    # running a on trial; b holds the only good baseline
    host.boot(active="a", slots={"a": (2, 2, 0, 5, "none", "ab" * 32),
                                 "b": (1, 0, 1, 4, "none", "cd" * 32)})
    p = host.hpm("stage", bl["v2"], check=None)
    assert p.returncode == 1 and "run `hpm mark-good` first" in p.stderr
    assert host.tree() == {}
    host.hpm("mark-good")  # pending mark-good for a makes it safe
    host.hpm("stage", bl["v2"])
    assert "slot-b.hpm" in host.tree()


def test_stage_usage_and_missing_esp(host, bl):
    host.boot()
    assert host.hpm("stage", check=None).returncode == 2
    assert host.hpm("stage", "--tries", "0", bl["v2"], check=None).returncode == 2
    assert host.hpm("stage", "--tries", "16", bl["v2"], check=None).returncode == 2
    assert host.hpm("stage", "--slot", "a", bl["v2"], check=None).returncode == 1  # the running slot
    p = host.hpm("stage", bl["v2"], env={"HPM_ESP": host.root / "nothing"}, check=None)
    assert p.returncode == 3 and "is the ESP mounted" in p.stderr
    assert host.hpm("stage", bl["v2"], env={"HPM_EFIVARS": str(host.root)}, check=None).returncode == 5


# ---- rollback -------------------------------------------------------------------

def test_rollback(host):
    host.boot(active="b", baseline="cd" * 32, seq=20, floor=5,
              slots={"a": (1, 0, 1, 5, "none", "ab" * 32), "b": (2, 0, 1, 6, "none", "cd" * 32)})
    p = host.hpm("rollback", "--json")
    j = json.loads(p.stdout)
    assert j["slot"] == "a" and j["from"] == "b" and j["reboot_required"] is True
    assert host.slotreq() == (20, [(2, 0, 0, 0, 0)])  # activate a, no tries, keep its mark
    s = json.loads(host.hpm("status", "--json").stdout)["boot"]
    assert s["reboot_pending"] is True and s["next_slot"] == "a"


def test_rollback_refusals(host):
    host.boot(active="a", slots={"a": (2, 0, 1, 5, "none", "ab" * 32),
                                 "b": (1, 2, 0, 6, "none", "cd" * 32)})
    p = host.hpm("rollback", check=None)
    assert p.returncode == 1 and "no previous good slot" in p.stderr
    host.boot(active="b", baseline="cd" * 32, floor=6,
              slots={"a": (1, 0, 1, 5, "none", "ab" * 32), "b": (2, 0, 1, 6, "none", "cd" * 32)})
    p = host.hpm("rollback", check=None)
    assert p.returncode == 1 and "below the rollback floor 6" in p.stderr
    assert host.getvar("HpmSlotRequest") is None


# ---- the health-check hook that gates hpm-mark-good.service ---------------------

def test_health_check_hook(tmp_path):
    script = REPO / "systemd" / "hpm-health-check"
    d = tmp_path / "health.d"

    def check():
        return subprocess.run([str(script), str(d)], capture_output=True, text=True, timeout=30)

    p = check()
    assert p.returncode == 0 and "no health checks" in p.stdout
    d.mkdir()
    (d / "10-ok").write_text("#!/bin/sh\nexit 0\n")
    (d / "10-ok").chmod(0o755)
    (d / "README").write_text("not executable: ignored\n")
    p = check()
    assert p.returncode == 0 and "1 check(s), all passed" in p.stdout
    (d / "15-cache.wanted").write_text('#!/bin/sh\n[ "$HPM_HEALTH_CONTEXT" = boot ] || exit 0; exit 4\n')
    (d / "15-cache.wanted").chmod(0o755)
    p = check()  # a wanted check failing is a warning, not a failed boot
    assert p.returncode == 0 and "15-cache.wanted: failed (exit 4): wanted, not required" in p.stderr, p
    (d / "20-disk-full").write_text("#!/bin/sh\nexit 3\n")
    (d / "20-disk-full").chmod(0o755)
    p = check()
    assert p.returncode == 1 and "20-disk-full: FAILED (exit 3)" in p.stderr
    unit = (REPO / "systemd" / "hpm-mark-good.service").read_text()
    assert "Requires=boot-complete.target" in unit and "SuccessExitStatus=6" in unit
    assert "RequiredBy=boot-complete.target" in (REPO / "systemd" / "hpm-health-check.service").read_text()


def test_status_pending_requests(host):
    host.boot(active="a", baseline="ab" * 32)
    host.setvar("HpmMarkGood", f"hpm.slot=a hpm.baseline={'cd' * 32}", attr=7)  # another baseline
    host.setvar("HpmOneShot", "b", attr=7)
    t = host.hpm("status").stdout
    assert "HpmMarkGood names another slot or baseline" in t
    assert "Reboot pending: yes: one-shot request for slot b" in t
    j = json.loads(host.hpm("status", "--json").stdout)["boot"]
    assert j["pending"] == {"mark_good": True, "one_shot": "b", "slot_request": False}
    assert j["reboot_pending"] is True and j["next_slot"] == "b"
    # a malformed slot request is reported as what the next boot will do with it
    host.path("HpmOneShot").unlink()
    host.setvar("HpmSlotRequest", b"HPMR garbage", attr=7)
    j = json.loads(host.hpm("status", "--json").stdout)["boot"]
    assert j["reboot_pending"] is False and "malformed" in j["reboot_reason"]
