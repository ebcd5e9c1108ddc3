#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Post-link step for the gnu-efi PE images (mk/efi.mk `efi-objcopy`).

objcopy (binutils 2.40) produces a PE32+ that today's UEFI CA signing rules
reject in two places; this fixes both in place and recomputes the checksum:

  1. DllCharacteristics gets IMAGE_DLLCHARACTERISTICS_NX_COMPAT (0x0100):
     objcopy has no option for it.  The image honours it: code lives only in
     .text (read-only, executable), data only in non-executable sections.
  2. gnu-efi 3.0.15's crt0 emits a placeholder base-relocation block whose
     page RVA is `dummy - label1` (a difference, not an RVA), so it points
     outside every section.  The block holds only IMAGE_REL_BASED_ABSOLUTE
     (padding) entries, so it relocates nothing: its page RVA is set to the
     first page of the section that holds the .reloc directory itself.

It then refuses (non-zero exit, nothing written) an image that is not fit
for signing: a section both writable and executable, a section not aligned
to 4 KiB, a relocation directory outside the image or with a malformed
block.  tests/cli/test_pe_image.py checks the same properties on the
built file independently.
Usage: efi-pe-finish.py IMAGE.efi
"""
import struct
import sys

NX_COMPAT = 0x0100
SCN_MEM_EXECUTE = 0x20000000
SCN_MEM_WRITE = 0x80000000
PAGE = 4096


def fail(path, msg):
    sys.exit(f"efi-pe-finish: {path}: {msg}")


def pe_checksum(data):
    """The PE checksum of data, whose CheckSum field must already be zero."""
    total = 0
    n = len(data)
    padded = data + (b"\0" if n % 2 else b"")
    for (word,) in struct.iter_unpack("<H", padded):
        total += word
        total = (total & 0xFFFF) + (total >> 16)
    return (total + n) & 0xFFFFFFFF


def main(path):
    with open(path, "rb") as f:
        data = bytearray(f.read())
    if data[:2] != b"MZ":
        fail(path, "not a PE image (no MZ header)")
    (pe,) = struct.unpack_from("<I", data, 0x3C)
    if data[pe:pe + 4] != b"PE\0\0":
        fail(path, "no PE signature")
    coff = pe + 4
    nsec, = struct.unpack_from("<H", data, coff + 2)
    opt_size, = struct.unpack_from("<H", data, coff + 16)
    opt = coff + 20
    if struct.unpack_from("<H", data, opt)[0] != 0x20B:
        fail(path, "not PE32+")
    sect_align, = struct.unpack_from("<I", data, opt + 32)
    if sect_align != PAGE:
        fail(path, f"SectionAlignment is {sect_align:#x}, 4 KiB required")
    csum_off = opt + 64
    dllch_off = opt + 70
    ndirs, = struct.unpack_from("<I", data, opt + 108)
    if ndirs < 6:
        fail(path, "no base relocation data directory")
    reloc_rva, reloc_size = struct.unpack_from("<II", data, opt + 112 + 5 * 8)
    sections = []
    for i in range(nsec):
        s = opt + opt_size + 40 * i
        name = data[s:s + 8].rstrip(b"\0").decode("ascii", "replace")
        vsize, va, rawsize, rawptr = struct.unpack_from("<IIII", data, s + 8)
        ch, = struct.unpack_from("<I", data, s + 36)
        sections.append((name, va, max(vsize, rawsize), rawptr, ch))
        if va % PAGE:
            fail(path, f"section {name} at {va:#x} is not 4 KiB aligned")
        if ch & SCN_MEM_EXECUTE and ch & SCN_MEM_WRITE:
            fail(path, f"section {name} is both writable and executable")

    def rva_to_off(rva, size):
        for name, va, vs, raw, _ in sections:
            if va <= rva and rva + size <= va + vs:
                return raw + (rva - va), (name, va)
        return None, None

    if reloc_size == 0:
        fail(path, "empty base relocation directory")
    off, owner = rva_to_off(reloc_rva, reloc_size)
    if off is None:
        fail(path, "base relocation directory lies outside every section")
    pos, end = off, off + reloc_size
    while pos < end:
        page_rva, block = struct.unpack_from("<II", data, pos)
        if block < 8 or block % 4 or pos + block > end:
            fail(path, f"malformed relocation block at {pos:#x} (size {block})")
        entries = struct.unpack_from(f"<{(block - 8) // 2}H", data, pos + 8)
        if rva_to_off(page_rva, 1)[0] is None:
            if any(e >> 12 for e in entries):
                fail(path, f"relocation block for page {page_rva:#x} outside the image")
            # Padding-only placeholder (gnu-efi crt0): anchor it in place.
            struct.pack_into("<I", data, pos, owner[1])
        pos += block
    dllch, = struct.unpack_from("<H", data, dllch_off)
    struct.pack_into("<H", data, dllch_off, dllch | NX_COMPAT)
    struct.pack_into("<I", data, csum_off, 0)
    struct.pack_into("<I", data, csum_off, pe_checksum(bytes(data)))
    with open(path, "r+b") as f:
        f.write(data)


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        sys.exit(0 if len(sys.argv) == 2 else 2)
    main(sys.argv[1])
