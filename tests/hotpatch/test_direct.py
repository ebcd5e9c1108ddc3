"""Direct entry jumps (payload version 2): after a committed transition a
patchable entry holds one `jmp rel32` to the new code over whole body
instructions; revert restores every byte; payloads without it (version 1,
`--no-direct-entry`) and with it replace each other in both orders."""
import re
import struct

import pytest

from hpmtest import PATCHGEN, run
from workspace import Target


def sym(exe, name):
    out = run("nm", exe).stdout
    return int(re.search(rf"^([0-9a-f]+) [tT] {name}$", out, re.M).group(1), 16)


def bias(pid, exe):
    for line in open(f"/proc/{pid}/maps"):
        f = line.split()
        if len(f) >= 6 and f[5] == str(exe) and int(f[2], 16) == 0:
            return int(f[0].split("-")[0], 16)
    raise AssertionError("target binary not mapped")


def peek(pid, addr, n):
    with open(f"/proc/{pid}/mem", "rb") as m:
        m.seek(addr)
        return m.read(n)


def file_bytes(exe, vaddr, n):
    """Bytes of the binary at vaddr (PIE with its first PT_LOAD at 0, offset == vaddr in .text)."""
    out = run("readelf", "-lW", exe).stdout
    for line in out.splitlines():
        f = line.split()
        if f and f[0] == "LOAD":
            off, va, fsz = int(f[1], 16), int(f[2], 16), int(f[4], 16)
            if va <= vaddr < va + fsz:
                return exe.read_bytes()[off + vaddr - va:off + vaddr - va + n]
    raise AssertionError("vaddr not in a PT_LOAD")


def anon_exec(pid, addr):
    for line in open(f"/proc/{pid}/maps"):
        f = line.split()
        lo, hi = (int(x, 16) for x in f[0].split("-"))
        if lo <= addr < hi:
            return f[1] == "r-xp" and len(f) == 5
    return False


def payload(ws, variant, version, direct=True):
    out = ws.d / f"d-{variant}-{version}-{int(direct)}.bin"
    r = ws.patchgen(ws.target(variant), version, out, *([] if direct else ["--no-direct-entry"]))
    want = "direct jump" if direct else "two jumps"
    assert r.stderr.count(want) == 2, r.stderr
    assert out.read_bytes()[8] == (2 if direct else 1)  # header.version
    return out


@pytest.mark.parametrize("variant", ["pad", "cetpad"])
def test_entry_holds_one_jump_and_revert_restores(ws, state, variant):
    exe = ws.target(variant)
    h1 = ws.hotpatch([payload(ws, variant, 1)], 1, name=f"d1-{variant}.hpm")
    with Target(exe, threads=4) as t:
        b = bias(t.pid, exe)
        entry = b + sym(exe, "calc_a")
        orig = file_bytes(exe, sym(exe, "calc_a") - 14, 40)
        assert peek(t.pid, entry - 14, 40) == orig
        ws.hpm(state, "apply", "--pid", t.pid, h1)
        assert t.version() == (1, 1)
        cur = peek(t.pid, entry - 14, 40)
        e = 4 if variant == "cetpad" else 0  # endbr64 stays first
        at = entry + e
        assert cur[14:14 + e] == orig[14:14 + e]
        assert cur[14 + e] == 0xE9, cur.hex()
        target = at + 5 + struct.unpack("<i", cur[15 + e:19 + e])[0]
        assert anon_exec(t.pid, target), hex(target)
        # the pad's own jump goes to the same place (used before the commit)
        assert cur[0] == 0xE9 and entry - 14 + 5 + struct.unpack("<i", cur[1:5])[0] == target
        # after the jump: int3 up to the end of the region, then nothing touched
        k = 19 + e
        while cur[k] == 0xCC and orig[k] != 0xCC:
            k += 1
        assert k <= 32 and cur[k:32] == orig[k:32], (cur.hex(), orig.hex())  # 32: calc_b's pad follows
        ws.hpm(state, "revert", "--all", "--pid", t.pid)
        assert t.version() == (0, 0)
        assert peek(t.pid, entry - 14, 40) == orig
        t.assert_healthy()


def test_two_jump_and_direct_payloads_replace_each_other(ws, state):
    exe = ws.target("pad")
    p1 = payload(ws, "pad", 1, direct=False)
    p2 = payload(ws, "pad", 2, direct=True)
    p3 = payload(ws, "pad", 3, direct=False)
    hs = [ws.hotpatch([p], i + 1, name=f"mix{i + 1}.hpm") for i, p in enumerate((p1, p2, p3))]
    with Target(exe, threads=4) as t:
        entry = bias(t.pid, exe) + sym(exe, "calc_a")
        orig = peek(t.pid, entry - 14, 40)
        ws.hpm(state, "apply", "--pid", t.pid, hs[0])
        assert t.version() == (1, 1)
        assert peek(t.pid, entry, 1) == b"\xeb"  # two-jump form
        ws.hpm(state, "apply", "--pid", t.pid, hs[1])
        assert t.version() == (2, 2)
        assert peek(t.pid, entry, 1) == b"\xe9"  # direct
        ws.hpm(state, "apply", "--pid", t.pid, hs[2])  # older builder after a direct one
        assert t.version() == (3, 3)
        assert peek(t.pid, entry, 1) == b"\xe9"  # keeps the longer (direct) region
        ws.hpm(state, "revert", "--to", "1", "--pid", t.pid)
        assert t.version() == (1, 1)
        ws.hpm(state, "revert", "--all", "--pid", t.pid)
        assert t.version() == (0, 0)
        assert peek(t.pid, entry - 14, 40) == orig
        t.assert_healthy()


def test_branch_into_body_keeps_two_jumps(ws, tmp_path):
    """A loop back to the first body instruction: no direct jump there."""
    src = tmp_path / "loop.c"
    src.write_text("__attribute__((noipa)) long spin(long n) { long s = 0;\n"
                   "  do { s += n; } while (--n > 0); return s; }\n"
                   "int main(void) { return (int)spin(3) - 6; }\n")
    exe = tmp_path / "loop"
    run("gcc", "-O1", "-Wl,--build-id", "-fpatchable-function-entry=16,14", src, "-o", exe)
    code = file_bytes(exe, sym(exe, "spin"), 32)
    (tmp_path / "fix.c").write_text("long spin_v(long n) { return n * (n + 1) / 2; }\n")
    (tmp_path / "map").write_text("spin=spin_v\n")
    r = run(PATCHGEN, "--target", exe, "--map", tmp_path / "map", "--source", tmp_path / "fix.c",
             "--out", tmp_path / "p.bin")
    # whichever form patchgen chose, it must be justified by the code: a
    # direct region only when no branch of spin lands inside it
    out = run("objdump", "-d", "--no-show-raw-insn", exe).stdout
    body = out.split("<spin>:")[1].split("\n\n")[0]
    start = sym(exe, "spin")
    targets = [int(m, 16) for m in re.findall(r"\sj\w+\s+([0-9a-f]+) <spin", body)]
    m = re.search(r"patchable entry, (direct jump|two jumps), (\d+) bytes", r.stderr)
    assert m, r.stderr
    end = start - 14 + int(m.group(2))
    inside = [x for x in targets if start < x < end]
    if m.group(1) == "direct jump":
        assert not inside, (hex(start), [hex(x) for x in targets], code.hex())
    else:
        assert any(start < x < start + 2 + 8 for x in targets), (targets, code.hex())


def test_direct_call_sites_redirected_and_restored(ws, state):
    """Direct calls to calc_a in the binary call the new code once committed."""
    exe = ws.target("pad")
    p = payload(ws, "pad", 4)
    h = ws.hotpatch([p], 1, name="calls4.hpm")
    a = sym(exe, "calc_a")
    dis = run("objdump", "-d", "--no-show-raw-insn", exe).stdout
    sites = [int(m, 16) for m in re.findall(rf"^\s*([0-9a-f]+):\s+call\s+{a:x} <calc_a>", dis, re.M)]
    assert sites, "calc.c calls calc_a directly"
    with Target(exe, threads=4) as t:
        b = bias(t.pid, exe)
        orig = {s: peek(t.pid, b + s, 5) for s in sites}
        ws.hpm(state, "apply", "--pid", t.pid, h)
        assert t.version() == (4, 4)
        entry_jmp = peek(t.pid, b + a, 5)
        new = b + a + 5 + struct.unpack("<i", entry_jmp[1:])[0]
        for s in sites:
            cur = peek(t.pid, b + s, 5)
            assert cur[0] == 0xE8
            assert b + s + 5 + struct.unpack("<i", cur[1:])[0] == new  # same code as the entry's jump
        lst = ws.hpm(state, "list").stdout
        assert lst.count("calc_a") == 1, lst  # call sites are not listed as functions
        ws.hpm(state, "revert", "--all", "--pid", t.pid)
        assert t.version() == (0, 0)
        for s in sites:
            assert peek(t.pid, b + s, 5) == orig[s]
        t.assert_healthy()
