# SPDX-License-Identifier: MIT
"""The built boot image (hpmboot-dev.efi; a release hpmboot.efi is the same
code) is fit for signing by today's UEFI CAs (docs/operations.md "Secure
Boot keys"): 4 KiB section alignment, no
section both writable and executable, the NX-compatible DLL characteristic,
a relocation directory inside the image whose blocks are well formed; and
hpmboot-dev.signed.efi carries an Authenticode signature that sbverify accepts
with the db certificate it was signed with.

Reads the real build output ($HPM_BUILD, default <repo>/build; run `make`).
The PE parsing here is independent of scripts/efi-pe-finish.py.
"""
import shutil
import struct
import subprocess

import pytest

from hpmtest import BUILD, HPMBOOT_DEV, HPMBOOT_DEV_SIGNED

IMAGE = HPMBOOT_DEV
SIGNED = HPMBOOT_DEV_SIGNED
DB_CERT = BUILD / "keys" / "dev-db.crt"

SCN_CNT_CODE = 0x20
SCN_MEM_EXECUTE = 0x20000000
SCN_MEM_READ = 0x40000000
SCN_MEM_WRITE = 0x80000000
NX_COMPAT = 0x0100


class PE:
    def __init__(self, data):
        self.data = data
        assert data[:2] == b"MZ", "no MZ header"
        pe = struct.unpack_from("<I", data, 0x3C)[0]
        assert data[pe:pe + 4] == b"PE\0\0", "no PE signature"
        coff = pe + 4
        self.machine, nsec = struct.unpack_from("<HH", data, coff)
        opt_size = struct.unpack_from("<H", data, coff + 16)[0]
        opt = coff + 20
        self.magic = struct.unpack_from("<H", data, opt)[0]
        self.entry = struct.unpack_from("<I", data, opt + 16)[0]
        self.section_alignment, self.file_alignment = struct.unpack_from("<II", data, opt + 32)
        self.size_of_image = struct.unpack_from("<I", data, opt + 56)[0]
        self.subsystem, self.dll_characteristics = struct.unpack_from("<HH", data, opt + 68)
        ndirs = struct.unpack_from("<I", data, opt + 108)[0]
        self.dirs = [struct.unpack_from("<II", data, opt + 112 + 8 * i) for i in range(ndirs)]
        self.sections = []
        for i in range(nsec):
            s = opt + opt_size + 40 * i
            name = data[s:s + 8].rstrip(b"\0").decode()
            vsize, va, rawsize, rawptr = struct.unpack_from("<IIII", data, s + 8)
            ch = struct.unpack_from("<I", data, s + 36)[0]
            self.sections.append(dict(name=name, va=va, vsize=vsize, rawsize=rawsize,
                                      rawptr=rawptr, ch=ch))

    def section_of(self, rva, size=1):
        for s in self.sections:
            if s["va"] <= rva and rva + size <= s["va"] + max(s["vsize"], s["rawsize"]):
                return s
        return None

    def read_rva(self, rva, size):
        s = self.section_of(rva, size)
        assert s is not None, f"RVA {rva:#x}+{size} is in no section"
        off = s["rawptr"] + rva - s["va"]
        return self.data[off:off + size]


def problems(pe):
    """Everything that makes the image unfit for signing, as sentences."""
    out = []
    if pe.magic != 0x20B or pe.machine != 0x8664:
        out.append("not a PE32+ x86-64 image")
    if pe.subsystem != 10:
        out.append(f"subsystem {pe.subsystem}, expected 10 (EFI application)")
    if pe.section_alignment != 4096:
        out.append(f"SectionAlignment {pe.section_alignment:#x}, expected 0x1000")
    if not pe.dll_characteristics & NX_COMPAT:
        out.append("DllCharacteristics lacks NX_COMPAT (0x100)")
    for s in pe.sections:
        if s["va"] % 4096:
            out.append(f"section {s['name']} at {s['va']:#x} not 4 KiB aligned")
        if s["ch"] & SCN_MEM_WRITE and s["ch"] & SCN_MEM_EXECUTE:
            out.append(f"section {s['name']} is writable and executable")
        if s["ch"] & SCN_MEM_EXECUTE and not s["ch"] & SCN_CNT_CODE:
            out.append(f"section {s['name']} is executable but not code")
    ordered = sorted(pe.sections, key=lambda s: s["va"])
    for a, b in zip(ordered, ordered[1:]):
        if a["va"] + a["vsize"] > b["va"]:
            out.append(f"sections {a['name']} and {b['name']} overlap")
    entry = pe.section_of(pe.entry)
    if entry is None or not entry["ch"] & SCN_MEM_EXECUTE:
        out.append("entry point is not in an executable section")
    if len(pe.dirs) < 6 or pe.dirs[5][1] == 0:
        out.append("no base relocation directory")
        return out
    rva, size = pe.dirs[5]
    if pe.section_of(rva, size) is None:
        out.append("base relocation directory is outside every section")
        return out
    blob = pe.read_rva(rva, size)
    pos = 0
    while pos < size:
        page, block = struct.unpack_from("<II", blob, pos)
        if block < 8 or block % 4 or pos + block > size:
            out.append(f"malformed relocation block at +{pos} (size {block})")
            break
        if page >= pe.size_of_image or pe.section_of(page) is None:
            out.append(f"relocation block page {page:#x} is outside the image's sections")
        for (e,) in struct.iter_unpack("<H", blob[pos + 8:pos + block]):
            kind, off = e >> 12, e & 0xFFF
            if kind not in (0, 10):  # ABSOLUTE (padding), DIR64
                out.append(f"relocation type {kind} at page {page:#x}")
            elif kind == 10 and pe.section_of(page + off, 8) is None:
                out.append(f"DIR64 relocation at {page + off:#x} outside the image")
        pos += block
    return out


@pytest.fixture(scope="module")
def image():
    assert IMAGE.is_file(), f"{IMAGE} not built: run `make`"
    return IMAGE.read_bytes()


def test_built_image_is_fit_for_signing(image):
    pe = PE(image)
    assert problems(pe) == []
    names = {s["name"] for s in pe.sections}
    assert {".text", ".data", ".reloc"} <= names
    text = next(s for s in pe.sections if s["name"] == ".text")
    assert text["ch"] & SCN_MEM_EXECUTE and text["ch"] & SCN_MEM_READ
    assert not text["ch"] & SCN_MEM_WRITE


def _patched(image, fn):
    data = bytearray(image)
    pe = PE(bytes(data))
    fn(data, pe)
    return PE(bytes(data))


def test_checker_catches_each_defect(image):
    """The checks above can fail: each defect planted in a copy is named."""
    pe0 = PE(image)
    pe_off = struct.unpack_from("<I", image, 0x3C)[0]
    opt = pe_off + 24
    sect0 = opt + struct.unpack_from("<H", image, pe_off + 20)[0]
    data_idx = next(i for i, s in enumerate(pe0.sections) if s["name"] == ".data")

    def no_nx(d, pe):
        struct.pack_into("<H", d, opt + 70, pe.dll_characteristics & ~NX_COMPAT)

    def wx(d, pe):
        off = sect0 + 40 * data_idx + 36
        struct.pack_into("<I", d, off, pe.sections[data_idx]["ch"] | SCN_MEM_EXECUTE | SCN_CNT_CODE)

    def bad_reloc(d, pe):
        rva, _ = pe.dirs[5]
        s = pe.section_of(rva)
        struct.pack_into("<I", d, s["rawptr"] + rva - s["va"], 0x5B48 + pe.size_of_image)

    def align(d, pe):
        struct.pack_into("<I", d, opt + 32, 0x200)

    for fn, word in ((no_nx, "NX_COMPAT"), (wx, "writable and executable"),
                     (bad_reloc, "outside the image"), (align, "SectionAlignment")):
        found = problems(_patched(image, fn))
        assert any(word in p for p in found), (fn.__name__, found)


def test_signed_image_verifies_with_the_db_certificate(tmp_path):
    assert SIGNED.is_file(), f"{SIGNED} not built: run `make`"
    assert shutil.which("sbverify"), "sbverify (sbsigntool) missing"
    pe = PE(SIGNED.read_bytes())
    assert pe.dirs[4][1] > 0, "no Authenticode signature (security directory empty)"
    assert problems(pe) == []
    r = subprocess.run(["sbverify", "--cert", str(DB_CERT), str(SIGNED)], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    # Any change to the signed bytes breaks the signature.
    tampered = tmp_path / "tampered.efi"
    data = bytearray(SIGNED.read_bytes())
    text = next(s for s in pe.sections if s["name"] == ".text")
    data[text["rawptr"] + 0x100] ^= 0xFF
    tampered.write_bytes(bytes(data))
    r = subprocess.run(["sbverify", "--cert", str(DB_CERT), str(tampered)], capture_output=True,
                       text=True)
    assert r.returncode != 0, "sbverify accepted a tampered image"
