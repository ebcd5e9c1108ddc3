# SPDX-License-Identifier: MIT
"""What core reads from a manifest is what any FDT reader sees (issue 13, finding 3).

For every fuzz-corpus input core accepts (the seeds gen_corpus writes into
build/fuzz/corpus/<target>/ plus whatever the fuzzers added, and
tests/fuzz/corpus-*), build/fuzz/core_view prints every node core walks with
the properties its schema got (hpm_fdt_collect) and the fields it parsed.
This file walks the FDT structure block itself, tag by tag, as the
devicetree specification defines it, and the two must agree exactly: a
property core never sees (one after a child node, which libfdt's iterator
skips) would be signed, shown by other tools and ignored by the verifier.
`make all` builds core_view and the seed corpora.
"""
import json
import os
import struct
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("HPM_BUILD") or REPO / "build")
CORE_VIEW = BUILD / "fuzz" / "core_view"

FDT_BEGIN_NODE, FDT_END_NODE, FDT_PROP, FDT_NOP, FDT_END = 1, 2, 3, 4, 9
HPM_MAGIC = b"\x89HPM\r\n\x1a\n"


def fdt_nodes(fdt: bytes):
    """[(path, [(name, value)...])...] in structure-block order; path is the
    tuple of node names below the root."""
    (magic, _total, off_struct, off_strings, _rsv, _ver, _comp, _cpu, size_strings,
     size_struct) = struct.unpack_from(">10I", fdt)
    assert magic == 0xD00DFEED
    strings = fdt[off_strings:off_strings + size_strings]
    pos, end = off_struct, off_struct + size_struct
    nodes, stack = [], []
    while pos < end:
        (tag,) = struct.unpack_from(">I", fdt, pos)
        pos += 4
        if tag == FDT_BEGIN_NODE:
            name = fdt[pos:fdt.index(b"\0", pos)]
            pos = (pos + len(name) + 1 + 3) & ~3
            path = stack[-1][0] + (name,) if stack else ()
            node = (path, [])
            nodes.append(node)
            stack.append(node)
        elif tag == FDT_END_NODE:
            stack.pop()
        elif tag == FDT_PROP:
            length, nameoff = struct.unpack_from(">II", fdt, pos)
            name = strings[nameoff:strings.index(b"\0", nameoff)]
            stack[-1][1].append((name, fdt[pos + 8:pos + 8 + length]))
            pos = (pos + 8 + length + 3) & ~3
        elif tag == FDT_END:
            break
        else:
            assert tag == FDT_NOP, f"tag {tag}"
    assert not stack
    return nodes


def manifest_of(data: bytes) -> bytes:
    if data.startswith(HPM_MAGIC):
        size = int.from_bytes(data[24:28], "little")
        return data[64:64 + size]
    return data


def core_views(files):
    out = []
    for i in range(0, len(files), 400):
        p = subprocess.run([str(CORE_VIEW), *map(str, files[i:i + 400])], capture_output=True,
                           text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        out += [json.loads(line) for line in p.stdout.splitlines()]
    assert len(out) == len(files)
    return out


def u32(b):
    assert len(b) == 4
    return int.from_bytes(b, "big")


def u64(b):
    assert len(b) == 8
    return int.from_bytes(b, "big")


def text(b):
    assert b.endswith(b"\0")
    return b[:-1]


def check_manifest_fields(v, props_at):
    f, root = v["fields"], props_at(())
    assert f["svn"] == u32(root[b"svn"]) and f["timestamp"] == u64(root[b"timestamp"])
    assert bytes.fromhex(f["version"]) == text(root[b"version"])
    assert bytes.fromhex(f["compat"]) == text(root[b"compat"])
    if v["as"] == "hotpatch":
        assert f["sequence"] == u32(root[b"sequence"])
        assert bytes.fromhex(f["id"]) == text(root[b"id"])
        assert bytes.fromhex(f["target-baseline"]) == root[b"target-baseline"]
    for p in f["payloads"]:
        got = props_at((b"payloads", bytes.fromhex(p["name"])))
        assert p["size"] == u64(got[b"size"]) and bytes.fromhex(p["sha256"]) == got[b"sha256"]
        if "offset" in p:
            assert p["offset"] == u64(got[b"offset"]) and b"file" not in got
        else:
            assert bytes.fromhex(p["file"]) == text(got[b"file"]) and b"offset" not in got


def check_catalog_fields(v, props_at):
    f, root = v["fields"], props_at(())
    assert f["serial"] == u64(root[b"serial"]) and f["expires"] == u64(root[b"expires"])
    assert f["timestamp"] == u64(root[b"timestamp"])
    for i, e in enumerate(f["entries"]):
        got = props_at((b"entries", str(i).encode()))
        assert bytes.fromhex(e["id"]) == text(got[b"id"]) and e["svn"] == u32(got[b"svn"])
        assert e["size"] == u64(got[b"size"]) and bytes.fromhex(e["digest"]) == got[b"digest"]
        assert bytes.fromhex(e["url"]) == text(got[b"url"])
        assert e["sequence"] == (u32(got[b"sequence"]) if b"sequence" in got else 0)


def describe(core, mine):
    """Where core's view and the walker's differ, briefly."""
    if [p for p, _ in core] != [p for p, _ in mine]:
        return f"core walked nodes {[p for p, _ in core]}, the FDT has {[p for p, _ in mine]}"
    return "; ".join(f"/{b'/'.join(p).decode()}: core read {[n for n, _ in a]}, the FDT holds "
                     f"{[n for n, _ in b]}" for (p, a), (_, b) in zip(core, mine) if a != b)


def test_core_reads_every_property_any_fdt_reader_sees():
    assert CORE_VIEW.exists(), f"{CORE_VIEW} not built: run `make all`"
    files = sorted(p for d in (BUILD / "fuzz" / "corpus").iterdir() if d.is_dir()
                   for p in d.iterdir() if p.is_file())
    assert files, "no seed corpora in build/fuzz/corpus: run `make all`"
    files += sorted(p for d in (REPO / "tests" / "fuzz").glob("corpus-*") for p in d.iterdir())
    accepted, mismatched = {}, []
    for path, v in zip(files, core_views(files)):
        assert bytes.fromhex(v["file"]).decode() == str(path)
        if not v["accepted"]:
            continue
        accepted[v["as"]] = accepted.get(v["as"], 0) + 1
        mine = fdt_nodes(manifest_of(path.read_bytes()))
        core = [(tuple(bytes.fromhex(n) for n in node["path"]),
                 [(bytes.fromhex(a), bytes.fromhex(b)) for a, b in node["props"]])
                for node in v["nodes"]]
        if core != mine:
            mismatched.append(f"{path.name}: " + describe(core, mine))
            continue
        nodes = dict(mine)
        props_at = lambda p: dict(nodes[p])  # noqa: E731 (no duplicates: core refuses them)
        if v["as"] == "catalog":
            check_catalog_fields(v, props_at)
        elif v["as"] != "fdt":
            check_manifest_fields(v, props_at)
    assert not mismatched, "\n".join(mismatched)
    # the comparison covered every kind of input
    assert all(accepted.get(k, 0) >= 2 for k in ("baseline", "hotpatch", "catalog", "fdt")), accepted
