"""`hpm restore` (runtime/hotpatch/restore.c), what hpm-restore.service runs
early in every boot: the applied hotpatch again when the running baseline is
the one it targets, none of its chain when it is another.  Here a "reboot"
is the patched process ending and a new one of the same binary starting
(the kernel part after a real reboot: firmware-tests/test_kernel_hotpatch.py)."""
import json

from hpmtest import digest
from workspace import Target


def history(ws, state):
    return [e for e in json.loads(ws.hpm(state, "history", "--json").stdout)["entries"] if e["event"] == "restore"]


def test_restore_same_and_other_baseline(ws, state):
    exe = ws.target("own")  # a build-id no other test's process has: whole-host applies touch only ours
    h1 = ws.hotpatch([ws.payload("own", 1, name="p-restore-1.bin")], 1, name="restore-h1.hpm")

    r = ws.hpm(state, "restore")
    assert "no hotpatch applied: nothing to restore" in r.stdout, r
    with Target(exe) as t:
        ws.hpm(state, "apply", h1)
        assert t.version() == (1, 1)
    with Target(exe) as t:  # the next boot: the binary runs its own code until restored
        assert t.version() == (0, 0)
        r = ws.hpm(state, "restore", "--json")
        doc = json.loads(r.stdout)
        assert doc["command"] == "restore" and doc["outcome"] == "restored", doc
        assert doc["sequence"] == 1 and doc["id"] == "KB-1" and doc["patched"] == 1 and doc["kernel"] is None
        assert doc["baseline"] == doc["running_baseline"] == ws.baseline
        assert t.version() == (1, 1)
        r = ws.hpm(state, "restore")  # again: the same code (moved onto a fresh copy of it)
        assert "restored KB-1 (sequence 1): 1 process(es) patched, 0 failed" in r.stdout, r
        assert t.version() == (1, 1)
        st = json.loads(ws.hpm(state, "status", "--json").stdout)["hotpatch"]
        assert st["sequence"] == 1

        # another baseline: nothing of the chain stays (this process, which in
        # a real boot could not carry it, is reverted), sequence 0 recorded
        other = digest(ws.d / "other-base.hpm")
        env = {"HPM_BASELINE": other}
        r = ws.hpm(state, "restore", extra_env=env)
        assert (f"restore: KB-1 (sequence 1) targets baseline {ws.baseline}, but this boot runs baseline {other}"
                in r.stdout), r
        assert "nothing of its chain is loaded; the applied sequence is now none" in r.stdout
        assert t.version() == (0, 0)
        st = json.loads(ws.hpm(state, "status", "--json", extra_env=env).stdout)["hotpatch"]
        assert st["sequence"] == 0
        r = ws.hpm(state, "restore", extra_env=env)
        assert "nothing to restore" in r.stdout
        # the new baseline's chain starts afresh at sequence 1
        h1b = ws.hotpatch([ws.payload("own", 1, name="p-restore-1b.bin")], 1, baseline="other-base.hpm",
                          name="restore-h1-other.hpm")
        ws.hpm(state, "apply", h1b, extra_env=env)
        assert t.version() == (1, 1)
        ws.hpm(state, "revert", "--all", extra_env=env)

    rows = history(ws, state)
    assert [e["result"] for e in rows] == ["ok"] * 5, rows
    details = [e.get("detail") for e in rows]
    assert details[0] == "nothing applied"
    assert details[1] == details[2] == "restored sequence 1: 1 process(es) patched", details
    assert details[3].startswith("dropped: sequence 1 targets baseline"), details
    assert all(e["ids"] == ["KB-1"] for e in rows[1:4]), rows


def test_restore_refuses_what_is_not_stored(ws, state):
    """The applied sequence's stored copy is gone: refused, naming the file and the fix."""
    exe = ws.target("own")
    h1 = ws.hotpatch([ws.payload("own", 1, name="p-restore-1.bin")], 1, name="restore-h1.hpm")
    with Target(exe):
        ws.hpm(state, "apply", h1)
    stored = state / "hotpatches" / "seq-1.hpm"
    stored.unlink()
    r = ws.hpm(state, "restore", check=1)
    assert (f"{stored}: the applied hotpatch KB-1 (sequence 1) is not stored: cannot restore it; apply it again"
            in r.stderr), r
    rows = history(ws, state)
    assert rows[-1]["result"] == "refused" and rows[-1]["ids"] == ["KB-1"], rows
