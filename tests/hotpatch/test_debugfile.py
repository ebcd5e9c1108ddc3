"""A stripped target: hpm-patchgen names its functions (static ones too)
through the separate debug file with the same build-id, as Debian's -dbgsym
packages ship them under /usr/lib/debug/.build-id/."""
import shutil

import pytest

from hpmtest import run
from workspace import Target


@pytest.fixture(scope="module")
def stripped(ws):
    """(full binary, stripped copy, its debug file, a debug tree holding it, build-id)."""
    full = ws.target("pad")
    d = ws.d / "dbg"
    d.mkdir(exist_ok=True)
    debug = d / "calc.debug"
    run("objcopy", "--only-keep-debug", full, debug)
    bare = d / "calc-stripped"
    shutil.copy(full, bare)
    run("strip", "--strip-all", bare)
    notes = run("readelf", "-n", bare).stdout
    build_id = notes.split("Build ID:")[1].split()[0]
    tree = d / "tree"
    (tree / ".build-id" / build_id[:2]).mkdir(parents=True, exist_ok=True)
    shutil.copy(debug, tree / ".build-id" / build_id[:2] / f"{build_id[2:]}.debug")
    return full, bare, debug, tree, build_id


def patchgen(ws, target, out, *extra, check=0):
    return ws.patchgen(target, 1, out, *extra, check=check)


def test_stripped_target_uses_debug_file(ws, stripped):
    full, bare, debug, tree, build_id = stripped
    assert "symtab" not in run("readelf", "-S", bare).stdout  # really stripped
    patchgen(ws, full, ws.d / "from-full.bin")
    r = patchgen(ws, bare, ws.d / "from-tree.bin", "--debug-dir", tree)
    assert f".build-id/{build_id[:2]}/{build_id[2:]}.debug" in r.stderr
    patchgen(ws, bare, ws.d / "from-file.bin", "--debug-file", debug)
    want = (ws.d / "from-full.bin").read_bytes()
    # the same functions, call sites, original bytes and relocations
    # (static helper and factor included) as from the unstripped binary
    assert (ws.d / "from-tree.bin").read_bytes() == want
    assert (ws.d / "from-file.bin").read_bytes() == want


def test_stripped_without_debug_file_is_refused(ws, stripped, tmp_path):
    _, bare, _, _, build_id = stripped
    r = patchgen(ws, bare, tmp_path / "x.bin", "--debug-dir", tmp_path, check=None)
    assert r.returncode == 1
    assert "stripped" in r.stderr and "--debug-file" in r.stderr
    assert f"{tmp_path}/.build-id/{build_id[:2]}/{build_id[2:]}.debug" in r.stderr
    assert not (tmp_path / "x.bin").exists()


def test_debug_file_of_another_build_is_refused(ws, stripped, tmp_path):
    _, bare, _, _, _ = stripped
    other = tmp_path / "other.debug"
    run("objcopy", "--only-keep-debug", ws.target("plain"), other)
    r = patchgen(ws, bare, tmp_path / "x.bin", "--debug-file", other, check=None)
    assert r.returncode == 1
    assert "another build" in r.stderr and str(other) in r.stderr
    assert not (tmp_path / "x.bin").exists()


def test_payload_from_debug_file_patches_stripped_process(ws, state, stripped):
    _, bare, _, tree, _ = stripped
    p = ws.d / "from-tree-run.bin"
    patchgen(ws, bare, p, "--debug-dir", tree)
    h = ws.hotpatch([p], 1, name="h1-stripped.hpm")
    with Target(bare, threads=2) as t:
        assert t.version() == (0, 0)
        ws.hpm(state, "apply", "--pid", t.pid, h)
        assert t.version() == (1, 1)
        ws.hpm(state, "revert", "--all", "--pid", t.pid)
        assert t.version() == (0, 0)
        t.assert_healthy()
