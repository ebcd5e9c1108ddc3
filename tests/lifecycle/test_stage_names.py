# SPDX-License-Identifier: MIT
"""`hpm stage` never writes a file another slot uses (issue 13, finding 4).

The ESP is FAT: file names compare without case.  A signed baseline whose
detached initrd is named like a slot container (slot-a.hpm, SLOT-A.HPM, ...)
is refused by core (the names are reserved), so staging it cannot replace
the running slot's container; and a detached payload named like one another
slot's container names, in another case, is refused by stage itself.  In
every case the ESP is byte-identical afterwards and no slot is requested.
Uses the fake efivarfs/ESP host of test_boot_side.py.
"""
import hashlib
import struct
import subprocess

import pytest

from test_boot_side import SIGN, Host, keys, run, sign  # noqa: F401 (keys: a fixture)


@pytest.fixture
def host(tmp_path, keys):  # noqa: F811
    h = Host(tmp_path, keys)
    h.boot(active="a")
    # the running slot a: a detached baseline, its files beside it
    a = sign(tmp_path / "a" / "abc.hpm", keys, "running", 5, detached=True, seed=b"a")
    for f in a.parent.iterdir():
        if f.name.startswith("abc."):
            (h.hpmdir / ("slot-a.hpm" if f.suffix == ".hpm" else f.name)).write_bytes(f.read_bytes())
    (h.hpmdir / "slot-c.hpm").write_bytes(a.read_bytes())  # another slot's container, present
    return h


def openssl_sign(keys, tbs):
    pem = keys / "release.pem"
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(pem)], input=tbs,
                         capture_output=True, check=True).stdout
    spki = subprocess.run(["openssl", "pkey", "-in", str(pem), "-pubout", "-outform", "DER"],
                          capture_output=True, check=True).stdout
    return hashlib.sha256(spki).digest(), sig


def baseline_with_initrd_named(d, keys, name):
    """A baseline signed by the trusted key whose detached initrd file is
    `name` (10 characters): built unsigned by hpm-sign as xyz.hpm, its
    initrd's file name replaced in the manifest, then signed with openssl
    (hpm-sign itself parses what it signs)."""
    d.mkdir(parents=True)
    (d / "k").write_bytes(b"kernel-crafted" * 500)
    (d / "i").write_bytes(b"initrd-crafted" * 300)
    out = d / "xyz.hpm"
    subprocess.run([str(SIGN), "baseline", "--unsigned", "--kernel", str(d / "k"), "--initrd", str(d / "i"),
                    "--cmdline", "console=ttyS0", "--version", "crafted", "--svn", "6", "--timestamp",
                    "1700000000", "--detached", "--out", str(out)], check=True, capture_output=True)
    data = out.read_bytes()
    msize = int.from_bytes(data[24:28], "little")
    tbs = data[:64 + msize]
    assert len(name) == 10 and tbs.count(b"xyz.initrd\0") == 1 and data.endswith(b"HPMSIGS\0" + bytes(8))
    tbs = tbs.replace(b"xyz.initrd\0", name.encode() + b"\0")
    kid, sig = openssl_sign(keys, tbs)
    entry = struct.pack("<HHI", 1, len(sig), 0) + kid + sig.ljust(104, b"\0")
    out.write_bytes(tbs + data[64 + msize:-16] + b"HPMSIGS\0" + struct.pack("<II", 1, 0) + entry)
    (d / name).write_bytes((d / "xyz.initrd").read_bytes())
    return out


@pytest.mark.parametrize("name", ["slot-a.hpm", "SLOT-A.HPM", "Slot-c.Hpm", "slot-b.hpm", "slot-d.hpm"])
def test_detached_payload_named_like_a_slot_container(host, keys, tmp_path, name):  # noqa: F811
    b = baseline_with_initrd_named(tmp_path / "new", keys, name)
    before = host.tree()
    p = run(["stage", str(b)], host.env)
    changed = sorted(n for n in set(before) | set(host.tree()) if before.get(n) != host.tree().get(n))
    assert (p.returncode, changed) == (1, []), p.stdout + p.stderr
    assert "reserved" in p.stderr and host.getvar("HpmSlotRequest") is None
    v = subprocess.run([str(SIGN), "verify", "--trust", str(keys / "release.pub"), str(b)],
                       capture_output=True, text=True)
    assert v.returncode == 1 and "reserved" in v.stderr, v.stderr


def test_payload_another_slot_names_in_other_case(host, keys, tmp_path):  # noqa: F811
    # slot a's container names abc.kernel, abc.initrd, abc.cmdline; the new
    # baseline's are ABC.*: different files on a case-sensitive disk, the
    # same files on FAT
    b = sign(tmp_path / "new" / "ABC.hpm", keys, "v2", 6, detached=True, seed=b"new")
    before = host.tree()
    p = run(["stage", str(b)], host.env)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "slot a's container names it" in p.stderr and "ABC.kernel" in p.stderr
    assert host.tree() == before and host.getvar("HpmSlotRequest") is None
    # the same baseline under names no slot uses stages
    c = sign(tmp_path / "new2" / "def.hpm", keys, "v2", 6, detached=True, seed=b"new")
    run(["stage", str(c)], host.env, check=True)
    after = host.tree()
    assert all(after[n] == before[n] for n in before if n != "slot-b.hpm")
    assert after["slot-b.hpm"] == c.read_bytes() and after["def.kernel"]
