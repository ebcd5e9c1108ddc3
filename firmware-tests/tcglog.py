# SPDX-License-Identifier: MIT
"""Host-side reading of a TCG PC Client event log (crypto-agile format, as
Linux exposes it in /sys/kernel/security/tpm0/binary_bios_measurements),
PCR replay, and the Authenticode (PE) image hash the firmware measures
into PCR 4.  Used by firmware-tests/test_measured.py; written from the TCG
PC Client Platform Firmware Profile and the PE/COFF specification.
"""
import hashlib
import struct
from dataclasses import dataclass, field

EV_NO_ACTION = 0x3
EV_EVENT_TAG = 0x6
EV_IPL = 0xD
EV_EFI_BOOT_SERVICES_APPLICATION = 0x80000003

ALG_SHA1, ALG_SHA256, ALG_SHA384, ALG_SHA512 = 0x4, 0xB, 0xC, 0xD


@dataclass
class Event:
    pcr: int
    type: int
    digests: dict = field(default_factory=dict)  # alg id -> bytes
    data: bytes = b""


def parse(log):
    """The events of a crypto-agile log (the SpecID header event excluded)."""
    pcr, etype = struct.unpack_from("<II", log, 0)
    size = struct.unpack_from("<I", log, 8 + 20)[0]
    spec = log[32:32 + size]
    if etype != EV_NO_ACTION or not spec.startswith(b"Spec ID Event03\0"):
        raise ValueError("not a crypto-agile (TCG2) event log")
    nalg = struct.unpack_from("<I", spec, 24)[0]
    sizes = {}
    for i in range(nalg):
        alg, dsize = struct.unpack_from("<HH", spec, 28 + 4 * i)
        sizes[alg] = dsize
    pos = 32 + size
    events = []
    while pos + 12 <= len(log):
        pcr, etype, count = struct.unpack_from("<III", log, pos)
        if pcr == 0xFFFFFFFF or (pcr == 0 and etype == 0 and count == 0):
            break  # padding after the last event
        pos += 12
        ev = Event(pcr, etype)
        for _ in range(count):
            alg = struct.unpack_from("<H", log, pos)[0]
            if alg not in sizes:
                raise ValueError(f"event at {pos}: digest algorithm {alg:#x} not in the header")
            ev.digests[alg] = bytes(log[pos + 2:pos + 2 + sizes[alg]])
            pos += 2 + sizes[alg]
        dsize = struct.unpack_from("<I", log, pos)[0]
        ev.data = bytes(log[pos + 4:pos + 4 + dsize])
        if len(ev.data) != dsize:
            raise ValueError("event log truncated")
        pos += 4 + dsize
        events.append(ev)
    return events


def replay(events, alg=ALG_SHA256, hashfn=hashlib.sha256):
    """PCR index -> value after extending every logged digest in order."""
    size = hashfn().digest_size
    pcrs = {}
    for ev in events:
        if ev.type == EV_NO_ACTION:
            continue  # not extended (StartupLocality is 0 under QEMU)
        cur = pcrs.get(ev.pcr, bytes(size))
        pcrs[ev.pcr] = hashfn(cur + ev.digests[alg]).digest()
    return pcrs


def authenticode_sha256(image):
    """The PE image hash (Authenticode) the firmware measures: headers
    without the checksum and certificate-table entry, the sections in file
    order, then any data after them up to the certificate table."""
    pe = struct.unpack_from("<I", image, 0x3C)[0]
    nsec = struct.unpack_from("<H", image, pe + 6)[0]
    opt_size = struct.unpack_from("<H", image, pe + 20)[0]
    opt = pe + 24
    magic = struct.unpack_from("<H", image, opt)[0]
    dirs = opt + (112 if magic == 0x20B else 96)
    size_of_headers = struct.unpack_from("<I", image, opt + 60)[0]
    cert_entry = dirs + 4 * 8
    cert_off, cert_size = struct.unpack_from("<II", image, cert_entry)
    h = hashlib.sha256()
    h.update(image[:opt + 64])
    h.update(image[opt + 68:cert_entry])
    h.update(image[cert_entry + 8:size_of_headers])
    hashed = size_of_headers
    sections = []
    for i in range(nsec):
        s = opt + opt_size + 40 * i
        rawsize, rawptr = struct.unpack_from("<II", image, s + 16)
        if rawsize:
            sections.append((rawptr, rawsize))
    for rawptr, rawsize in sorted(sections):
        h.update(image[rawptr:rawptr + rawsize])
        hashed += rawsize
    end = len(image) - cert_size
    if end > hashed:
        h.update(image[hashed:end])
    return h.digest()
