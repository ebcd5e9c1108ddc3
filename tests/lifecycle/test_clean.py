# SPDX-License-Identifier: MIT
"""Disk space: `hpm stage` removes the detached files of the baseline it
replaces once no slot uses them; `hpm clean` removes the ESP's other orphans
and the downloads nothing needs (the cache directory, [update] cache_keep)."""
import hashlib
import json
import os
import time

import pytest

from hpmtest import keygen, make_baseline


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("keys")
    keygen(d / "release.pem", d / "release.pub")
    return d


def baseline(d, keys, name, version, svn=6):
    d.mkdir(parents=True, exist_ok=True)
    (d / "k").write_bytes(version.encode() * 500)
    out = d / f"{name}.hpm"
    make_baseline(out, keys / "release.pem", d / "k", cmdline="console=ttyS0", version=version, svn=svn,
                  detached=True)
    return out


def put(host, container, slot):
    """container (and its detached files) as slot's on the ESP."""
    for f in container.parent.glob(container.stem + ".*"):
        if f.suffix != ".hpm":
            (host.hpmdir / f.name).write_bytes(f.read_bytes())
    (host.hpmdir / f"slot-{slot}.hpm").write_bytes(container.read_bytes())


@pytest.fixture
def host(tmp_path, keys, make_host):
    h = make_host(tmp_path / "host", keys / "release.pub")
    h.conf = tmp_path / "hpm.conf"
    h.conf.write_text("")
    h.env["HPM_CONF"] = str(h.conf)
    return h


def test_stage_removes_what_the_replaced_baseline_used(host, keys, tmp_path):
    a = baseline(tmp_path / "a", keys, "base-a", "v1", svn=5)
    old_b = baseline(tmp_path / "oldb", keys, "base-oldb", "v0", svn=5)
    put(host, a, "a")
    put(host, old_b, "b")
    (host.hpmdir / "bench").write_bytes(b"")
    host.boot(active="a")
    new_b = baseline(tmp_path / "newb", keys, "base-newb", "v2")
    r = host.hpm("stage", new_b)
    assert "removed" in r.stderr and "base-oldb.kernel" in r.stderr
    assert sorted(host.tree()) == sorted(["slot-a.hpm", "base-a.kernel", "base-a.cmdline", "bench", "slot-b.hpm",
                                          "base-newb.kernel", "base-newb.cmdline"])


def test_stage_keeps_a_file_another_slot_still_names(host, keys, tmp_path):
    a = baseline(tmp_path / "a", keys, "shared", "v1", svn=5)
    put(host, a, "a")
    put(host, a, "b")  # both slots hold the same baseline: the same detached files
    host.boot(active="a")
    host.hpm("stage", baseline(tmp_path / "newb", keys, "base-newb", "v2"))
    files = host.tree()
    assert "shared.kernel" in files and "shared.cmdline" in files  # slot a still uses them


def test_clean_esp_orphans(host, keys, tmp_path):
    a = baseline(tmp_path / "a", keys, "base-a", "v1", svn=5)
    put(host, a, "a")
    (host.hpmdir / "left-over.kernel").write_bytes(b"x" * 1000)
    (host.hpmdir / "bench").write_bytes(b"")
    host.boot(active="a")
    before = host.tree()
    r = host.hpm("clean", "--dry-run")
    assert "would remove" in r.stdout and "left-over.kernel" in r.stdout and host.tree() == before
    j = json.loads(host.hpm("clean", "--json").stdout)
    assert [(x["where"], os.path.basename(x["path"]), x["bytes"]) for x in j["removed"]] == \
        [("esp", "left-over.kernel", 1000)]
    assert j["bytes"] == 1000 and j["dry_run"] is False
    assert sorted(host.tree()) == ["base-a.cmdline", "base-a.kernel", "bench", "slot-a.hpm"]
    # a slot container that does not parse: nothing on the ESP can be called unused
    (host.hpmdir / "slot-c.hpm").write_bytes(b"not a container")
    (host.hpmdir / "other.kernel").write_bytes(b"y")
    r = host.hpm("clean", check=1)
    assert "slot-c.hpm: cannot tell which files it uses" in r.stderr
    assert (host.hpmdir / "other.kernel").exists()
    rows = json.loads(host.hpm("history", "--json").stdout)["entries"]
    assert [(x["event"], x["result"]) for x in rows] == [("clean", "ok"), ("clean", "refused")]


def test_clean_cache(host, keys, tmp_path):
    """Downloads: the slot containers' and the applied hotpatch's are kept,
    then the cache_keep newest; unfinished ones go too."""
    a = baseline(tmp_path / "a", keys, "base-a", "v1", svn=5)
    put(host, a, "a")
    host.boot(active="a")
    cache = host.root / "state" / "cache"  # a moved state directory keeps its downloads
    cache.mkdir(parents=True)
    in_slot = cache / (hashlib.sha256(a.read_bytes()).hexdigest() + ".hpm")
    in_slot.write_bytes(a.read_bytes())
    others = []
    for i in range(4):
        data = b"old release %d" % i
        f = cache / (hashlib.sha256(data).hexdigest() + ".hpm")
        f.write_bytes(data)
        t = time.time() - 1000 * (4 - i)  # others[3] is the newest
        os.utime(f, (t, t))
        others.append(f)
    part = cache / ("ab" * 32 + ".hpm.part")
    part.write_bytes(b"half")
    (cache / "notes.txt").write_text("not ours")
    host.conf.write_text("[update]\ncache_keep = 1\n")
    j = json.loads(host.hpm("clean", "--json").stdout)
    gone = sorted(os.path.basename(x["path"]) for x in j["removed"] if x["where"] == "cache")
    assert gone == sorted([others[0].name, others[1].name, others[2].name, part.name])
    assert sorted(p.name for p in cache.iterdir()) == sorted([in_slot.name, others[3].name, "notes.txt"])
    # the cache directory of its own: [paths] cache_dir
    own = tmp_path / "own-cache"
    own.mkdir()
    (own / others[0].name).write_bytes(b"old")
    host.conf.write_text(f"[update]\ncache_keep = 0\n[paths]\ncache_dir = {own}\n")
    host.hpm("clean")
    assert list(own.iterdir()) == []
