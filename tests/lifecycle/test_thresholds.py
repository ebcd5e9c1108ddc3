# SPDX-License-Identifier: MIT
"""How many trusted keys must sign: the host's thresholds per kind ([trust]
baseline_signers, hotpatch_signers, catalog_signers in hpm.conf).

For each kind an object signed by one trusted key is refused when the host
requires two, with a message that says how many trusted signatures it has,
how many the host requires for that kind and where that is configured; the
same object countersigned by a second trusted key (hpm-sign countersign) is
accepted.  A threshold for one kind does not touch the others.  hpm status
and hpm policy show the thresholds; a bad value is refused naming the key.
(Catalogs: test_catalog.py; hpm install of an under-signed download:
test_update.py.)
"""
import json
import shutil
import sys
from pathlib import Path

import pytest

from hpmtest import hpm, keygen, make_baseline, sign

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hotpatch"))
from workspace import Target, Workspace  # noqa: E402  (the hotpatch tests' targets)

KINDS = ("baseline", "hotpatch", "catalog")


def conf(path, **signers):
    """An hpm.conf whose [trust] sets the given keys (hotpatch_signers=2)."""
    path.write_text("[trust]\n" + "".join(f"{k} = {n}\n" for k, n in signers.items()))
    return path


def countersign(src, key, trusted, out):
    sign("countersign", "--key", key, "--trust", trusted, "--out", out, src)
    return out


def too_few(kind_plural, key, path, have=1, need=2):
    s = "" if have == 1 else "s"
    return (f"{have} trusted signature{s}, this host requires {need} for {kind_plural} "
            f"([trust] {key} in {path})")


# ---- hotpatch: hpm apply ---------------------------------------------------------


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    w = Workspace(tmp_path_factory.mktemp("thr-hotpatch"))
    # a second trusted release key (the workspace's "rogue" key pair)
    shutil.copy(w.d / "rogue.pub", w.trust / "second.pub")
    w.h1 = w.hotpatch([w.payload("pad", 1)], 1, name="one-signer.hpm")
    w.h2 = countersign(w.h1, w.d / "rogue.pem", w.trust / "k.pub", w.d / "two-signers.hpm")
    return w


def apply(ws, tmp_path, t, hp, **signers):
    tmp_path.mkdir(exist_ok=True)
    c = conf(tmp_path / "hpm.conf", **signers)
    r = ws.hpm(tmp_path / "state", "apply", "--pid", t.pid, hp, check=None,
               extra_env={"HPM_CONF": str(c)})
    return r, c


def test_hotpatch_with_too_few_signers_is_refused(ws, tmp_path):
    t = Target(ws.target("pad"))
    try:
        r, c = apply(ws, tmp_path, t, ws.h1, hotpatch_signers=2)
        assert r.returncode == 1, r.stdout + r.stderr
        assert f"{ws.h1}: " + too_few("hotpatches", "hotpatch_signers", c) in r.stderr, r.stderr
        assert "countersign" in r.stderr
        assert t.version() == (0, 0)
        t.assert_healthy()
        # countersigned by the second trusted key: two distinct signers, applied
        r, c = apply(ws, tmp_path, t, ws.h2, hotpatch_signers=2)
        assert r.returncode == 0, r.stderr
        assert t.version() == (1, 1)
    finally:
        assert t.close() == 0
    # two signers for baselines and catalogs say nothing about hotpatches
    t = Target(ws.target("pad"))
    try:
        r, _ = apply(ws, tmp_path / "x", t, ws.h1, baseline_signers=2, catalog_signers=2)
        assert r.returncode == 0, r.stderr
        assert t.version() == (1, 1)
    finally:
        assert t.close() == 0


def test_threshold_above_the_trust_store_refuses_everything(ws, tmp_path):
    t = Target(ws.target("pad"))
    try:
        r, c = apply(ws, tmp_path, t, ws.h2, hotpatch_signers=3)
        assert r.returncode == 1
        assert (f"{ws.trust} holds 2 trusted keys, fewer than the 3 signatures this host requires "
                f"for hotpatches ([trust] hotpatch_signers in {c})") in r.stderr, r.stderr
        assert t.version() == (0, 0)
    finally:
        assert t.close() == 0


# ---- baseline: hpm stage -----------------------------------------------------------


@pytest.fixture(scope="module")
def bkeys(tmp_path_factory):
    d = tmp_path_factory.mktemp("thr-keys")
    for name in ("release", "other"):
        keygen(d / f"{name}.pem", d / f"{name}.pub")
    (d / "vmlinuz").write_bytes(b"MZ" + bytes(range(256)) * 64)
    return d


@pytest.fixture
def bhost(tmp_path, bkeys, make_host):
    h = make_host(tmp_path / "host", bkeys / "release.pub")
    shutil.copy(bkeys / "other.pub", h.trust / "other.pub")
    h.boot(active="a", baseline="ab" * 32, seq=9)
    (h.hpmdir / "slot-a.hpm").write_bytes(b"running slot a")
    return h


def test_baseline_with_too_few_signers_is_not_staged(bhost, bkeys, tmp_path):
    (tmp_path / "rel").mkdir()
    v2 = tmp_path / "rel" / "v2.hpm"
    make_baseline(v2, bkeys / "release.pem", bkeys / "vmlinuz", cmdline="console=ttyS0", version="v2", svn=6)
    c = conf(tmp_path / "hpm.conf", baseline_signers=2)
    bhost.env["HPM_CONF"] = str(c)
    p = bhost.hpm("stage", v2, check=1)
    assert f"{v2}: " + too_few("baselines", "baseline_signers", c) in p.stderr, p.stderr
    assert "slot-b.hpm" not in bhost.tree() and bhost.getvar("HpmSlotRequest") is None
    # countersigned by the second trusted key: staged
    v2x2 = countersign(v2, bkeys / "other.pem", bkeys / "release.pub", tmp_path / "rel" / "v2x2.hpm")
    j = json.loads(bhost.hpm("stage", "--json", v2x2).stdout)
    assert j["slot"] == "b"
    assert (bhost.hpmdir / "slot-b.hpm").read_bytes() == v2x2.read_bytes()
    assert bhost.slotreq() == (9, [(2, 1, 0, 3, 3)])
    # the other kinds' thresholds do not apply to baselines
    conf(c, hotpatch_signers=2, catalog_signers=2)
    bhost.hpm("stage", v2)
    assert (bhost.hpmdir / "slot-b.hpm").read_bytes() == v2.read_bytes()


# ---- hpm status, hpm policy; bad values ----------------------------------------


@pytest.fixture
def env(tmp_path):
    return {"HPM_CONF": tmp_path / "hpm.conf", "HPM_STATE_DIR": tmp_path / "state",
            "HPM_TRUST_DIR": tmp_path / "trust", "HPM_EFIVARS": tmp_path / "no-efivars"}


def test_status_and_policy_show_the_thresholds(env, tmp_path, bkeys):
    (tmp_path / "trust").mkdir()
    shutil.copy(bkeys / "release.pub", tmp_path / "trust")
    for signers in ({}, {"baseline_signers": 2, "hotpatch_signers": 3, "catalog_signers": 16}):
        c = conf(tmp_path / "hpm.conf", **signers)
        want = {f"{k}_signers": signers.get(f"{k}_signers", 1) for k in KINDS}
        pol = json.loads(hpm("policy", "--json", env=env).stdout)
        assert pol["trust"] == want
        st = json.loads(hpm("status", "--json", env=env).stdout)["trust"]
        assert st == dict(want, dir=str(tmp_path / "trust"), keys=1, policy_file=str(c))
        text = hpm("status", env=env).stdout
        assert (f"signatures required: baseline {want['baseline_signers']}, hotpatch "
                f"{want['hotpatch_signers']}, catalog {want['catalog_signers']} ([trust] in {c})") in text
        assert f"trust store: {tmp_path / 'trust'} (1 key)" in text
        text = hpm("policy", env=env).stdout
        assert ", ".join(f"{k} {n}" for k, n in want.items()) in text


@pytest.mark.parametrize("text,problem", [
    ("hotpatch_signers = 0", ":2: [trust] hotpatch_signers: '0': expected how many distinct trusted keys "
                             "must sign a hotpatch, 1..16"),
    ("baseline_signers = 17", ":2: [trust] baseline_signers: '17'"),
    ("catalog_signers = two", ":2: [trust] catalog_signers: 'two'"),
    ("catalog_signers = -1", ":2: [trust] catalog_signers: '-1'"),
    ("catalog_signers = 2x", ":2: [trust] catalog_signers: '2x'"),
    ("catalog_signers =", ":2: [trust] catalog_signers: ''"),
    ("signers = 2", ":2: [trust] signers: unknown key; the keys are baseline_signers, hotpatch_signers "
                    "and catalog_signers"),
    ("hotpatch_signers = 2\nhotpatch_signers = 3", ":3: [trust] hotpatch_signers: set twice"),
    ("hotpatch_signers = 2\n[history]\nretention_days = 3\n[trust]\ncatalog_signers = 2",
     ":6: [trust] appears twice"),
])
def test_bad_value_is_refused_naming_the_key(env, tmp_path, bkeys, ws, text, problem):
    c = tmp_path / "hpm.conf"
    c.write_text(f"[trust]\n{text}\n")
    (tmp_path / "trust").mkdir()
    shutil.copy(bkeys / "release.pub", tmp_path / "trust")
    (tmp_path / "src").mkdir()
    env = dict(env, HPM_BASELINE="ab" * 32)
    for args in (["policy"], ["status"], ["catalog", "--source", str(tmp_path / "src")],
                 ["apply", str(ws.h1)]):
        r = hpm(*args, check=None, env=env)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert f"{c}{problem}" in r.stderr, (args, r.stderr)
