# SPDX-License-Identifier: MIT
"""`hpm setup` and `hpm setup --remove` (docs/operations.md "First install")
on a fake host that did not boot through hpmboot.efi: an empty efivarfs
folder, an ESP folder, a trust store, and a stand-in efibootmgr on PATH
(fakebin/efibootmgr) that records its arguments and keeps boot entries in a
file.  The ESP's partition comes from the test hook HPM_TEST_ESP_PARTITION
(the fake ESP is a folder, not a mount).  The real efibootmgr against real
firmware variables: firmware-tests/test_setup.py."""
import json
import os
import shutil
from pathlib import Path

import pytest

from hpmtest import HPM, HPMBOOT_DEV, OK, digest, hpm, keygen, make_baseline, make_boot_image, run

FAKEBIN = Path(__file__).resolve().parent / "fakebin"
PARTUUID = "5c0e1f2a-1111-4222-8333-944455556666"
LOADER = "\\EFI\\hpmboot\\hpmboot.efi"
REFUSED, IO = 1, 3


class SetupHost:
    def __init__(self, root):
        self.root = root
        self.esp = root / "esp"
        self.ev = root / "efivars"
        self.trust = root / "trust"
        for d in (self.esp, self.ev, self.trust, root / "rel"):
            d.mkdir(parents=True)
        keygen(root / "rel" / "release.pem", self.trust / "release.pub")
        keygen(root / "rel" / "other.pem", root / "rel" / "other.pub")
        (root / "rel" / "k").write_bytes(b"kernel" * 500)
        self.base = root / "rel" / "v1.hpm"
        make_baseline(self.base, root / "rel" / "release.pem", root / "rel" / "k", version="2026.1", svn=4)
        self.image = root / "rel" / "hpmboot.efi"
        make_boot_image(self.image, [self.trust / "release.pub"])
        self.log = root / "efibootmgr.log"
        self.state = root / "efibootmgr.json"
        (root / "hpm.conf").write_text("")
        self.env = {"HPM_EFIVARS": self.ev, "HPM_ESP": self.esp, "HPM_TRUST_DIR": self.trust,
                    "HPM_STATE_DIR": root / "state", "HPM_CONF": root / "hpm.conf",
                    "PATH": f"{FAKEBIN}:{os.environ['PATH']}", "FAKE_EFIBOOTMGR_LOG": self.log,
                    "FAKE_EFIBOOTMGR_STATE": self.state, "FAKE_PARTUUID": PARTUUID,
                    "HPM_TEST_ESP_PARTITION": f"/dev/fakedisk:1:{PARTUUID}"}

    def hpm(self, *args, check=OK, env=None):
        return hpm(*args, env=dict(self.env, **(env or {})), check=check)

    def setup(self, *args, check=OK, env=None):
        return self.hpm("setup", "--efi", self.image, *args, self.base, check=check, env=env)

    def calls(self):
        return [json.loads(l) for l in self.log.read_text().splitlines()] if self.log.exists() else []

    def entries(self):
        return json.loads(self.state.read_text()) if self.state.exists() else None

    def files(self):
        return sorted(str(p.relative_to(self.esp)) for p in self.esp.rglob("*"))


@pytest.fixture
def h(tmp_path):
    return SetupHost(tmp_path)


def changing_calls(h):
    return [c for c in h.calls() if c != ["--verbose"]]


def test_setup_installs_image_slot_a_and_boot_entry(h):
    d = h.setup("--json").json()
    assert d["mode"] == "install" and d["changed"] is True and d["dry_run"] is False
    assert d["boot_entry"] == "0002" and d["baseline"] == {"slot": "a", "version": "2026.1", "svn": 4,
                                                          "digest": digest(h.base)}
    assert (h.esp / "EFI/hpmboot/hpmboot.efi").read_bytes() == h.image.read_bytes()
    assert (h.esp / "EFI/hpm/slot-a.hpm").read_bytes() == h.base.read_bytes()
    # efibootmgr got its arguments one by one (no shell), the entry went first
    assert changing_calls(h) == [["--create", "--disk", "/dev/fakedisk", "--part", "1", "--loader", LOADER,
                                  "--label", "hpm"]]
    assert h.entries()["order"] == ["0002", "0001", "0000"]
    rec = (h.esp / "EFI/hpmboot/setup.txt").read_text().splitlines()
    assert rec[0] == "hpm-setup 1" and "entry 0002" in rec
    assert f"baseline 4 {digest(h.base)} 2026.1" in rec
    assert {l.split()[-1] for l in rec if l.startswith("file ")} == {"EFI/hpm/slot-a.hpm", "EFI/hpmboot/hpmboot.efi"}
    assert [l for l in rec if l.startswith("dir ")] == ["dir EFI/hpmboot", "dir EFI/hpm", "dir EFI"]
    # recorded in the history, with the baseline it installed
    hist = h.hpm("history", "--json").json()
    row = [e for e in hist["entries"] if e["event"] == "setup"]
    assert row and row[0]["ids"] == ["2026.1"] and row[0]["result"] == "ok", hist


def test_second_setup_changes_nothing(h):
    h.setup()
    before = {p: (h.esp / p).stat().st_mtime_ns for p in h.files()}
    ncalls = len(h.calls())
    r = h.setup()
    assert "already set up: nothing changed (boot entry Boot0002 first in BootOrder)" in r.out
    assert {p: (h.esp / p).stat().st_mtime_ns for p in h.files()} == before
    assert h.calls()[ncalls:] == [["--verbose"]]  # listed, nothing written
    assert h.setup("--json").json()["changed"] is False


def test_existing_entry_is_put_first(h):
    h.setup()
    h.state.write_text(json.dumps(dict(h.entries(), order=["0001", "0002", "0000"])))
    ncalls = len(h.calls())
    r = h.setup("--json").json()
    assert r["changed"] is True and r["actions"] == ["put Boot0002 first in BootOrder"]
    assert changing_calls(h)[-1] == ["--bootorder", "0002,0001,0000"]
    assert h.calls()[ncalls:] == [["--verbose"], ["--bootorder", "0002,0001,0000"]]


def test_detached_payloads_are_copied_and_recorded(h, tmp_path):
    det = tmp_path / "rel" / "det.hpm"
    make_baseline(det, tmp_path / "rel" / "release.pem", tmp_path / "rel" / "k", version="2026.2", svn=4,
                  detached=True)
    r = h.hpm("setup", "--efi", h.image, "--json", det).json()
    payloads = [p for p in det.parent.iterdir() if p.name.startswith("det.") and p != det]
    assert payloads
    for p in payloads:
        assert (h.esp / "EFI/hpm" / p.name).read_bytes() == p.read_bytes()
        assert f"EFI/hpm/{p.name}" in (h.esp / "EFI/hpmboot/setup.txt").read_text()
    assert r["baseline"]["version"] == "2026.2"


def test_dry_run_changes_nothing(h):
    r = h.setup("--dry-run")
    assert "would copy" in r.out and "would create the boot entry \"hpm\"" in r.out
    assert h.files() == [] and changing_calls(h) == []
    d = h.setup("-n", "--json").json()
    assert d["dry_run"] is True and d["changed"] is True and d["next"] is None
    hist = h.hpm("history", "--json").json()
    assert not [e for e in hist["entries"] if e["event"] == "setup"]


@pytest.mark.parametrize("case", ["untrusted", "not-uefi", "no-esp", "no-space", "bad-image", "no-partition"])
def test_refusals_touch_nothing(h, tmp_path, case):
    env, args = {}, []
    base = h.base
    if case == "untrusted":
        base = tmp_path / "rel" / "untrusted.hpm"
        make_baseline(base, tmp_path / "rel" / "other.pem", tmp_path / "rel" / "k", version="x", svn=4)
        want = "untrusted.hpm"
    elif case == "not-uefi":
        env["HPM_EFIVARS"] = tmp_path / "no-efivars"
        want = "did not boot through UEFI"
    elif case == "no-esp":
        env["HPM_ESP"] = tmp_path / "no-esp"
        want = "no such folder: mount the ESP there"
    elif case == "no-space":
        env["HPM_TEST_ESP_FREE"] = "5000"
        want = "5000 bytes free"
    elif case == "bad-image":
        args = ["--efi", base]  # a container, not a PE image
        want = "not an EFI (PE) image"
    else:
        env["HPM_TEST_ESP_PARTITION"] = ""
        want = "--no-bootentry"
    r = h.hpm("setup", *(args or ["--efi", h.image]), base, env=env, check=REFUSED)
    assert want in r.err, r
    assert h.files() == [] and changing_calls(h) == []


def test_refuses_an_esp_set_up_with_another_image(h):
    h.setup()
    other = h.root / "other.efi"
    make_boot_image(other, [h.trust / "release.pub"], filler=b"\x91" * 4000)
    r = h.hpm("setup", "--efi", other, h.base, check=REFUSED)
    assert "holds another boot image" in r.err and "hpm setup --remove" in r.err
    assert (h.esp / "EFI/hpmboot/hpmboot.efi").read_bytes() == h.image.read_bytes()


def test_refuses_a_slot_a_holding_another_baseline(h, tmp_path):
    (h.esp / "EFI/hpm").mkdir(parents=True)
    (h.esp / "EFI/hpm/slot-a.hpm").write_bytes(b"someone else's")
    r = h.setup(check=REFUSED)
    assert "slot a already holds another baseline" in r.err and "hpm stage" in r.err
    assert (h.esp / "EFI/hpm/slot-a.hpm").read_bytes() == b"someone else's"
    assert h.files() == ["EFI", "EFI/hpm", "EFI/hpm/slot-a.hpm"]


def test_efibootmgr_missing_or_failing(h):
    r = h.setup(check=IO, env={"PATH": "/nonexistent"})
    assert "efibootmgr: not found on PATH: install the efibootmgr package, or use --no-bootentry" in r.err
    r = h.setup(check=IO, env={"FAKE_EFIBOOTMGR_FAIL": "--create"})
    assert "efibootmgr --create --disk: exit 5: Could not prepare Boot variable" in r.err
    # the files are in place and recorded: a second run creates the entry
    assert "EFI/hpmboot/setup.txt" in h.files()
    d = h.setup("--json").json()
    assert d["actions"] == ["created boot entry Boot0002 \"hpm\" (\\EFI\\hpmboot\\hpmboot.efi on /dev/fakedisk "
                            "partition 1)"], d


def test_no_bootentry_leaves_the_firmware_alone(h):
    d = h.setup("--no-bootentry", "--json", env={"PATH": "/nonexistent", "HPM_TEST_ESP_PARTITION": ""}).json()
    assert d["boot_entry"] is None and (h.esp / "EFI/hpm/slot-a.hpm").exists()
    assert "entry" not in (h.esp / "EFI/hpmboot/setup.txt").read_text()
    assert h.calls() == []


def test_remove_undoes_exactly_what_setup_created(h):
    (h.esp / "EFI/other").mkdir(parents=True)  # EFI existed before: not setup's
    (h.esp / "EFI/other/loader.efi").write_bytes(b"MZother")
    h.setup()
    d = h.hpm("setup", "--remove", "--json").json()
    assert d["mode"] == "remove" and d["changed"] is True and d["boot_entry"] == "0002"
    assert ["--bootnum", "0002", "--delete-bootnum"] in h.calls()
    assert "0002" not in h.entries()["entries"] and h.entries()["order"] == ["0001", "0000"]
    assert h.files() == ["EFI", "EFI/other", "EFI/other/loader.efi"]
    r = h.hpm("setup", "--remove")
    assert "nothing to remove" in r.out
    hist = h.hpm("history", "--json").json()
    assert len([e for e in hist["entries"] if e["event"] == "setup"]) == 3


def test_remove_keeps_what_changed_since(h):
    h.setup()
    (h.esp / "EFI/hpm/slot-a.hpm").write_bytes(b"staged later")
    (h.esp / "EFI/hpm/slot-b.hpm").write_bytes(b"staged later")
    ncalls = len(h.calls())
    r = h.hpm("setup", "--remove", "--dry-run")
    assert "would remove boot entry Boot0002" in r.out and "slot-a.hpm: holds other bytes" in r.out
    assert len(changing_calls(h)) == 1 and len(h.calls()) == ncalls + 1  # listed only
    assert "EFI/hpmboot/setup.txt" in h.files()
    r = h.hpm("setup", "--remove")
    assert "kept" in r.out and "slot-a.hpm: holds other bytes than setup wrote" in r.out
    assert h.files() == ["EFI", "EFI/hpm", "EFI/hpm/slot-a.hpm", "EFI/hpm/slot-b.hpm"]


def test_remove_refuses_a_record_it_did_not_write(h):
    (h.esp / "EFI/hpmboot").mkdir(parents=True)
    (h.esp / "EFI/hpmboot/setup.txt").write_text("hpm-setup 1\nfile " + "0" * 64 + " /etc/passwd\n")
    r = h.hpm("setup", "--remove", check=REFUSED)
    assert "line 2: file: expected SHA256 PATH under EFI/hpm or EFI/hpmboot" in r.err
    assert changing_calls(h) == []


def test_status_before_the_first_boot_says_what_comes_next(h):
    h.setup()
    r = h.hpm("status")
    assert "boot: " in r.out and "setup: `hpm setup` installed" in r.out and "(boot entry Boot0002)" in r.out
    assert "next: reboot; the host then comes up through hpmboot.efi on slot a" in r.out
    s = h.hpm("status", "--json").json()["boot"]
    assert s["booted"] is False and s["setup"]["boot_entry"] == "0002"
    assert s["setup"]["baseline"] == digest(h.base) and s["setup"]["version"] == "2026.1"
    h.hpm("setup", "--remove")
    assert h.hpm("status", "--json").json()["boot"]["setup"] is None


def test_development_image_warns(h):
    # the image's own key record says what it is, whatever its file name
    dev = h.root / "hpmboot.efi-renamed"
    make_boot_image(dev, [h.trust / "release.pub"], development=True)
    r = h.hpm("setup", "--efi", dev, "--no-bootentry", h.base)
    assert "WARNING: " in r.err and "DEVELOPMENT boot image" in r.err
    assert h.hpm("setup", "--remove", "--json").json()["changed"] is True
    named_dev = h.root / "hpmboot-dev.efi"
    shutil.copy(h.image, named_dev)
    r = h.hpm("setup", "--efi", named_dev, "--no-bootentry", "--json", h.base)
    assert r.json()["development_image"] is False and "DEVELOPMENT" not in r.err


def test_baseline_the_image_would_refuse_is_refused(h, tmp_path):
    # The trust store accepts the baseline, but the image trusts another key:
    # its first boot would refuse slot a.  Nothing is touched.
    img = tmp_path / "rel" / "foreign.efi"
    make_boot_image(img, [tmp_path / "rel" / "other.pub"])
    r = h.hpm("setup", "--efi", img, h.base, check=REFUSED)
    assert "the boot image" in r.err and "would refuse it at boot" in r.err and "other.pub" in r.err, r
    assert "--efi" in r.err
    assert h.files() == [] and changing_calls(h) == []
    # threshold 2 of the image's two keys, the baseline has one signer
    img2 = tmp_path / "rel" / "two.efi"
    make_boot_image(img2, [h.trust / "release.pub", tmp_path / "rel" / "other.pub"], threshold=2)
    r = h.hpm("setup", "--efi", img2, h.base, check=REFUSED)
    assert "would refuse it at boot" in r.err and "2 needed" in r.err, r
    assert h.files() == []
    # the same image accepts a baseline both keys signed
    both = tmp_path / "rel" / "both.hpm"
    make_baseline(both, tmp_path / "rel" / "release.pem", tmp_path / "rel" / "k", version="2026.1", svn=4,
                  extra=("--key", tmp_path / "rel" / "other.pem"))
    d = h.hpm("setup", "--efi", img2, "--no-bootentry", "--json", both).json()
    assert d["changed"] is True and d["development_image"] is False


@pytest.mark.parametrize("case", ["no-section", "two-sections", "bad-magic", "bad-threshold", "cut-short",
                                  "trailing", "outside"])
def test_malformed_key_records_are_refused(h, tmp_path, case):
    import struct
    img = tmp_path / "bad.efi"
    make_boot_image(img, [h.trust / "release.pub"])
    b = bytearray(img.read_bytes())
    rec_len = struct.unpack_from("<I", b, 0x58 + 8)[0]
    if case == "no-section":
        b[0x58:0x60] = b".data\0\0\0"
        want = "no .hpmkeys section"
    elif case == "two-sections":
        struct.pack_into("<H", b, 0x46, 2)
        b[0x80:0xA8] = b[0x58:0x80]
        want = "two .hpmkeys sections"
    elif case == "bad-magic":
        b[0x200] ^= 1
        want = "not a key record"
    elif case == "bad-threshold":
        struct.pack_into("<I", b, 0x200 + 12, 2)
        want = "threshold 2"
    elif case == "cut-short":
        struct.pack_into("<I", b, 0x58 + 8, rec_len - 10)
        want = "bad length"
    elif case == "trailing":
        struct.pack_into("<I", b, 0x58 + 8, rec_len + 1)
        b[0x200 + rec_len] = 7
        want = "bytes after the last key"
    else:
        struct.pack_into("<I", b, 0x58 + 20, len(b) - 4)
        want = "outside the file"
    img.write_bytes(bytes(b))
    r = h.hpm("setup", "--efi", img, h.base, check=REFUSED)
    assert want in r.err and str(img) in r.err, r
    assert h.files() == [] and changing_calls(h) == []


def test_the_built_image_carries_its_keys(h, tmp_path):
    # The development image plain `make` builds trusts build/keys/dev-release.pub:
    # a baseline signed with it is accepted, one signed with the test's key is not.
    dev_pem = HPMBOOT_DEV.parent.parent / "keys" / "dev-release.pem"
    trust = tmp_path / "devtrust"
    trust.mkdir()
    shutil.copy(dev_pem.with_suffix(".pub"), trust / "dev-release.pub")
    shutil.copy(h.trust / "release.pub", trust / "release.pub")
    r = h.hpm("setup", "--efi", HPMBOOT_DEV, "--no-bootentry", h.base, env={"HPM_TRUST_DIR": trust},
              check=REFUSED)
    assert "would refuse it at boot" in r.err and "dev-release.pub" in r.err, r
    devbase = tmp_path / "rel" / "dev.hpm"
    make_baseline(devbase, dev_pem, tmp_path / "rel" / "k", version="2026.2", svn=4)
    r = h.hpm("setup", "--efi", HPMBOOT_DEV, "--no-bootentry", "--json", devbase, env={"HPM_TRUST_DIR": trust})
    assert r.json()["development_image"] is True and "DEVELOPMENT boot image" in r.err


def test_default_image_comes_from_the_install_tree(h):
    # PREFIX/sbin/hpm finds PREFIX/lib/hpm/efi/hpmboot.signed.efi, else hpmboot.efi
    prefix = h.root / "prefix"
    (prefix / "sbin").mkdir(parents=True)
    (prefix / "lib/hpm/efi").mkdir(parents=True)
    exe = prefix / "sbin" / "hpm"
    shutil.copy(HPM, exe)
    (prefix / "lib/hpm/efi/hpmboot.efi").write_bytes(h.image.read_bytes())
    d = run(exe, "setup", "--json", "--no-bootentry", h.base, env=h.env).json()
    assert d["image"] == str(prefix / "lib/hpm/efi/hpmboot.efi") and d["development_image"] is False
    (prefix / "lib/hpm/efi/hpmboot.efi").unlink()
    r = run(exe, "setup", h.base, env=h.env, check=REFUSED)
    assert "no boot image in" in r.err and "--efi PATH" in r.err
