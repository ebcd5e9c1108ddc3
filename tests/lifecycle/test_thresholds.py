# SPDX-License-Identifier: MIT
"""How many trusted keys must sign: the host's thresholds per kind ([trust]
baseline_signers, hotpatch_signers, catalog_signers in hpm.conf).

For each kind an object signed by one trusted key is refused when the host
requires two, with a message that says how many trusted signatures it has,
how many the host requires for that kind and where that is configured; the
same object countersigned by a second trusted key (hpm-sign countersign) is
accepted.  A threshold for one kind does not touch the others.  hpm status
and hpm policy show the thresholds; a bad value is refused naming the key.
(hpm install of an under-signed download: test_thresholds_install.py.)
"""
import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from test_boot_side import HPM, Host, run, sign as sign_baseline
from test_catalog import NOW, Release

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hotpatch"))
from hotpatch_util import SIGN, Target, Workspace  # noqa: E402
from hotpatch_util import run as sh  # noqa: E402

KINDS = ("baseline", "hotpatch", "catalog")


def conf(path, **signers):
    """An hpm.conf whose [trust] sets the given keys (hotpatch_signers=2)."""
    path.write_text("[trust]\n" + "".join(f"{k} = {n}\n" for k, n in signers.items()))
    return path


def countersign(src, key, trusted, out):
    sh([SIGN, "countersign", "--key", key, "--trust", trusted, "--out", out, src])
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
    r = ws.hpm(tmp_path / "state", "apply", "--pid", t.pid, hp, check=False,
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
        sh([SIGN, "keygen", "--out", d / f"{name}.pem", "--pub", d / f"{name}.pub"])
    return d


@pytest.fixture
def bhost(tmp_path, bkeys):
    h = Host(tmp_path / "host", bkeys)
    shutil.copy(bkeys / "other.pub", h.trust / "other.pub")
    h.boot(active="a", baseline="ab" * 32, seq=9)
    (h.hpmdir / "slot-a.hpm").write_bytes(b"running slot a")
    return h


def test_baseline_with_too_few_signers_is_not_staged(bhost, bkeys, tmp_path):
    v2 = sign_baseline(tmp_path / "rel" / "v2.hpm", bkeys, "v2", 6)
    c = conf(tmp_path / "hpm.conf", baseline_signers=2)
    bhost.env["HPM_CONF"] = str(c)
    p = run(["stage", v2], bhost.env)
    assert p.returncode == 1, p.stdout + p.stderr
    assert f"{v2}: " + too_few("baselines", "baseline_signers", c) in p.stderr, p.stderr
    assert "slot-b.hpm" not in bhost.tree() and bhost.getvar("HpmSlotRequest") is None
    # countersigned by the second trusted key: staged
    v2x2 = countersign(v2, bkeys / "other.pem", bkeys / "release.pub", tmp_path / "rel" / "v2x2.hpm")
    j = json.loads(run(["stage", "--json", v2x2], bhost.env, check=True).stdout)
    assert j["slot"] == "b"
    assert (bhost.hpmdir / "slot-b.hpm").read_bytes() == v2x2.read_bytes()
    assert bhost.slotreq() == (9, [(2, 1, 0, 3, 3)])
    # the other kinds' thresholds do not apply to baselines
    conf(c, hotpatch_signers=2, catalog_signers=2)
    run(["stage", v2], bhost.env, check=True)
    assert (bhost.hpmdir / "slot-b.hpm").read_bytes() == v2.read_bytes()


# ---- catalog: hpm catalog / hpm assess over a directory source ----------------------


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    return Release(tmp_path_factory.mktemp("thr-release"))


@pytest.fixture
def mirror(tmp_path, release):
    """A directory source whose catalog one trusted key signed, and a host
    that trusts two keys."""
    src = tmp_path / "mirror"
    src.mkdir()
    release.publish(src, serial=5)
    trust = tmp_path / "trust"
    trust.mkdir()
    shutil.copy(release.pub, trust / "release.pub")
    shutil.copy(release.other.with_suffix(".pub"), trust / "other.pub")
    env = dict(os.environ, HPM_TRUST_DIR=str(trust), HPM_STATE_DIR=str(tmp_path / "state"),
               HPM_NOW=str(NOW), HPM_SOURCE=str(src), HPM_BASELINE="ab" * 32,
               HPM_EFIVARS=str(tmp_path / "no-efivars"))
    env.pop("SOURCE_DATE_EPOCH", None)
    return src, env


def test_catalog_with_too_few_signers_is_refused(mirror, release, tmp_path):
    src, env = mirror
    env["HPM_CONF"] = str(conf(tmp_path / "hpm.conf", catalog_signers=2))
    want = f"{src}/catalog.hpm: catalog refused: " + too_few("catalogs", "catalog_signers", env["HPM_CONF"])
    for cmd in ("catalog", "assess"):
        r = sh([HPM, cmd, "--json"], check=False, env=env)
        assert r.returncode == 1, (cmd, r.stdout, r.stderr)
        assert want in r.stderr, (cmd, r.stderr)
    assert not (tmp_path / "state" / "catalog.hpm").exists()
    # the other kinds' thresholds do not apply to catalogs
    conf(tmp_path / "hpm.conf", baseline_signers=2, hotpatch_signers=2)
    r = sh([HPM, "catalog", "--json"], env=env)
    assert json.loads(r.stdout)["serial"] == 5


def test_countersigned_catalog_is_accepted(mirror, release, tmp_path):
    src, env = mirror
    env["HPM_CONF"] = str(conf(tmp_path / "hpm.conf", catalog_signers=2))
    countersign(src / "catalog.hpm", release.other, release.pub, src / "catalog.hpm")
    j = json.loads(sh([HPM, "catalog", "--json"], env=env).stdout)
    assert j["serial"] == 5 and j["change"] == "new"
    assert (tmp_path / "state" / "catalog.hpm").read_bytes() == (src / "catalog.hpm").read_bytes()
    j = json.loads(sh([HPM, "assess", "--json"], env=env).stdout)
    assert j["host"]["baseline"] == "ab" * 32


# ---- hpm status, hpm policy; bad values ----------------------------------------


@pytest.fixture
def env(tmp_path):
    e = dict(os.environ, HPM_CONF=str(tmp_path / "hpm.conf"), HPM_STATE_DIR=str(tmp_path / "state"),
             HPM_TRUST_DIR=str(tmp_path / "trust"), HPM_EFIVARS=str(tmp_path / "no-efivars"))
    return e


def test_status_and_policy_show_the_thresholds(env, tmp_path, bkeys):
    (tmp_path / "trust").mkdir()
    shutil.copy(bkeys / "release.pub", tmp_path / "trust")
    for signers in ({}, {"baseline_signers": 2, "hotpatch_signers": 3, "catalog_signers": 16}):
        c = conf(tmp_path / "hpm.conf", **signers)
        want = {f"{k}_signers": signers.get(f"{k}_signers", 1) for k in KINDS}
        pol = json.loads(sh([HPM, "policy", "--json"], env=env).stdout)
        assert pol["trust"] == want
        st = json.loads(sh([HPM, "status", "--json"], env=env).stdout)["trust"]
        assert st == dict(want, dir=str(tmp_path / "trust"), keys=1, policy_file=str(c))
        text = sh([HPM, "status"], env=env).stdout
        assert (f"signatures required: baseline {want['baseline_signers']}, hotpatch "
                f"{want['hotpatch_signers']}, catalog {want['catalog_signers']} ([trust] in {c})") in text
        assert f"trust store: {tmp_path / 'trust'} (1 key)" in text
        text = sh([HPM, "policy"], env=env).stdout
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
        r = sh([HPM, *args], check=False, env=env)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert f"{c}{problem}" in r.stderr, (args, r.stderr)
