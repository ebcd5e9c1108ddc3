# SPDX-License-Identifier: MIT
"""Catalog and sources, end to end: hpm-sign builds real containers and a
signed catalog; a real HTTP server on loopback (conftest.py, with Range
support and fault modes) serves them; `hpm catalog` fetches, verifies,
refuses and downloads.

Binaries: $HPM and $HPM_SIGN, else those of $HPM_BUILD (tests/hpmtest.py);
the server: conftest.py.
"""
import json
import shutil
from pathlib import Path

import pytest

from hpmtest import IOERR, OK, REFUSED, USAGE, hpm, patch_payload, rfc3339, sha256, sign

ISSUED = 1767225600          # 2026-01-01T00:00:00Z
EXPIRES = 2082758400         # 2036-01-01T00:00:00Z (after the real clock: hpm-sign refuses an expired catalog)
NOW = ISSUED + 86400


@pytest.fixture
def server(tmp_path, serve):
    root = tmp_path / "www"
    root.mkdir()
    return serve(root)


# ---- releases and catalogs -------------------------------------------------------


class Release:
    """Keys, a baseline, two hotpatches for it, and catalog building."""

    def __init__(self, d: Path):
        self.d = d
        self.key = d / "release.pem"
        self.pub = d / "release.pub"
        self.other = d / "other.pem"
        sign("keygen", "--out", self.key)
        sign("keygen", "--out", self.other)
        (d / "vmlinuz").write_bytes(b"MZ" + bytes(range(256)) * 200)
        patch_payload(d / "fix.bin")
        self.base = d / "base-2026.1.hpm"
        sign("baseline", "--key", self.key, "--kernel", d / "vmlinuz", "--version", "2026.1",
             "--svn", "4", "--timestamp", ISSUED, "--out", self.base)
        self.hp = []
        for seq in (1, 2):
            hp = d / f"hp-{seq}.hpm"
            sign("hotpatch", "--key", self.key, "--baseline", self.base, "--seq", seq,
                 "--classification", "security", "--id", f"HP-2026.1-{seq}",
                 "--payload", d / "fix.bin", "--timestamp", ISSUED + seq, "--out", hp)
            self.hp.append(hp)

    def entries(self):
        return [f"{self.base}:class=critical,released=2026-01-10,url=baselines/base-2026.1.hpm",
                f"{self.hp[0]}:released=2026-02-10,url=hotpatches/hp-1.hpm",
                f"{self.hp[1]}:released=2026-03-10,url=hotpatches/hp-2.hpm"]

    def catalog(self, out, serial, key=None, expires=EXPIRES, entries=None, timestamp=ISSUED):
        args = ["catalog", "--key", key or self.key, "--serial", serial, "--expires", expires,
                "--timestamp", timestamp, "--out", out]
        for e in self.entries() if entries is None else entries:
            args += ["--entry", e]
        sign(*args)
        return out

    def publish(self, root: Path, serial=5, **kw):
        (root / "baselines").mkdir(exist_ok=True)
        (root / "hotpatches").mkdir(exist_ok=True)
        (root / "baselines" / "base-2026.1.hpm").write_bytes(self.base.read_bytes())
        (root / "hotpatches" / "hp-1.hpm").write_bytes(self.hp[0].read_bytes())
        (root / "hotpatches" / "hp-2.hpm").write_bytes(self.hp[1].read_bytes())
        return self.catalog(root / "catalog.hpm", serial, **kw)


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    return Release(tmp_path_factory.mktemp("release"))


@pytest.fixture
def host(tmp_path, release):
    """Trust store and state directory of one host."""
    trust = tmp_path / "trust"
    trust.mkdir()
    (trust / "release.pub").write_bytes(release.pub.read_bytes())
    state = tmp_path / "state"

    def run(*args, check=OK, now=NOW, source=None):
        env = {"HPM_TRUST_DIR": trust, "HPM_STATE_DIR": state, "HPM_NOW": now, "HPM_SOURCE": source}
        return hpm("catalog", *args, check=check, env=env)

    run.state = state
    run.trust = trust
    return run


def cache_files(state):
    c = state / "cache"
    return sorted(p.name for p in c.iterdir()) if c.exists() else []


# ---- tests -------------------------------------------------------------------------


def test_good_catalog_over_http(server, host, release):
    release.publish(server.root, serial=5)
    r = host("--source", server.url, "--json")
    j = json.loads(r.stdout)
    assert j["schema"] == "hpm-json/1" and j["command"] == "catalog"
    assert j["serial"] == 5 and j["change"] == "new" and j["previous_serial"] is None
    assert j["expires"] == rfc3339(EXPIRES) and j["issued"] == rfc3339(ISSUED)
    assert j["entries"][1]["released"] == "2026-02-10T00:00:00Z" and j["entries"][0]["sequence"] is None
    ids = [e["id"] for e in j["entries"]]
    assert ids == ["2026.1", "HP-2026.1-1", "HP-2026.1-2"]
    base, hp1 = j["entries"][0], j["entries"][1]
    assert base["kind"] == "baseline" and base["classification"] == "critical"
    assert base["size"] == release.base.stat().st_size and base["sha256"] == sha256(release.base)
    assert hp1["kind"] == "hotpatch" and hp1["sequence"] == 1
    assert hp1["target_baseline"] == base["digest"]
    assert hp1["classification"] == "security"  # read from the hotpatch itself
    # the accepted catalog is remembered, byte for byte
    assert (host.state / "catalog.hpm").read_bytes() == (server.root / "catalog.hpm").read_bytes()
    assert ("catalog.hpm", None) in server.log
    # again: the same catalog, nothing changes; HPM_SOURCE is the default source
    j = json.loads(host("--json", source=server.url).stdout)
    assert j["change"] == "same" and j["previous_serial"] == 5


def test_download_into_cache(server, host, release):
    release.publish(server.root)
    r = host("--source", server.url, "--download", "HP-2026.1-2", "--download", "2026.1", "--json")
    got = {d["id"]: Path(d["path"]) for d in json.loads(r.stdout)["downloaded"]}
    assert got["HP-2026.1-2"].read_bytes() == release.hp[1].read_bytes()
    assert got["2026.1"].read_bytes() == release.base.read_bytes()
    assert got["2026.1"].name == sha256(release.base) + ".hpm"
    assert not any(n.endswith(".part") for n in cache_files(host.state))
    # cached: served again without a request (and re-hashed)
    n = len(server.log)
    host("--source", server.url, "--download", "2026.1")
    assert [p for p, _ in server.log[n:]] == ["catalog.hpm"]
    # a cached file that changed on disk is not used: fetched again
    got["2026.1"].write_bytes(b"x" * 10)
    host("--source", server.url, "--download", "2026.1")
    assert got["2026.1"].read_bytes() == release.base.read_bytes()
    # an unknown ID
    r = host("--source", server.url, "--download", "HP-9", check=USAGE)
    assert "HP-9" in r.stderr


def test_local_directory_source(tmp_path, host, release):
    src = tmp_path / "mirror"
    src.mkdir()
    release.publish(src, serial=3)
    r = host("--source", src, "--download", "HP-2026.1-1")
    assert "catalog serial 3" in r.stdout
    assert (host.state / "cache" / (sha256(release.hp[0]) + ".hpm")).read_bytes() == release.hp[0].read_bytes()


def test_json_keeps_non_ascii_paths(tmp_path, host, release):
    """JSON written by hpm is UTF-8: a source directory with a non-ASCII
    name comes back as the same text, not as escaped bytes."""
    src = tmp_path / "mïrror-☃-雪"
    src.mkdir()
    release.publish(src, serial=3)
    r = host("--source", src, "--download", "HP-2026.1-1", "--json")
    raw = r.stdout.encode()
    raw.decode("utf-8", errors="strict")  # valid UTF-8, or this raises
    assert "mïrror-☃-雪".encode() in raw and b"\\u00" not in raw, r.stdout
    doc = json.loads(r.stdout)
    assert doc["source"].rstrip("/") == str(src)


def test_expired_catalog_refused(server, host, release):
    release.publish(server.root)
    host("--source", server.url, now=EXPIRES - 1)
    r = host("--source", server.url, now=EXPIRES, check=REFUSED)
    assert "expired" in r.stderr and "2036-01-01T00:00:00Z" in r.stderr and server.url in r.stderr
    # and on a fresh host too: nothing is remembered from an expired catalog
    state2 = host.state.parent / "state2"
    env = {"HPM_TRUST_DIR": str(host.trust), "HPM_STATE_DIR": str(state2), "HPM_NOW": str(EXPIRES + 5)}
    hpm("catalog", "--source", server.url, check=REFUSED, env=env)
    assert not (state2 / "catalog.hpm").exists()


def test_rollback_refused(server, host, release, tmp_path):
    old = release.catalog(tmp_path / "old.hpm", 4)
    release.publish(server.root, serial=5)
    host("--source", server.url)
    stored = (host.state / "catalog.hpm").read_bytes()
    # an older serial, validly signed: refused, the stored catalog stays
    (server.root / "catalog.hpm").write_bytes(old.read_bytes())
    r = host("--source", server.url, check=REFUSED)
    assert "serial 4 is older than serial 5" in r.stderr
    assert (host.state / "catalog.hpm").read_bytes() == stored
    # the same serial with different bytes (a later expiry): refused
    release.catalog(server.root / "catalog.hpm", 5, expires=EXPIRES + 86400)
    r = host("--source", server.url, check=REFUSED)
    assert "same serial" in r.stderr and "raise the serial" in r.stderr
    assert (host.state / "catalog.hpm").read_bytes() == stored
    # a newer serial is accepted and becomes the floor
    release.catalog(server.root / "catalog.hpm", 6)
    j = json.loads(host("--source", server.url, "--json").stdout)
    assert j["change"] == "newer" and j["previous_serial"] == 5 and j["serial"] == 6
    (server.root / "catalog.hpm").write_bytes(stored)
    host("--source", server.url, check=REFUSED)


def test_tampered_catalog_refused(server, host, release):
    cat = release.publish(server.root)
    good = cat.read_bytes()
    for pos in (20, 64 + 40, len(good) // 2, len(good) - 30):
        bad = bytearray(good)
        bad[pos] ^= 0x04
        cat.write_bytes(bytes(bad))
        r = host("--source", server.url, check=REFUSED)
        assert "catalog refused" in r.stderr and server.url in r.stderr
        assert not (host.state / "catalog.hpm").exists()
    cat.write_bytes(good[:-1])
    host("--source", server.url, check=REFUSED)
    cat.write_bytes(good)
    host("--source", server.url)


def test_wrong_key_catalog_refused(server, host, release):
    release.publish(server.root, key=release.other)
    r = host("--source", server.url, check=REFUSED)
    assert "no signature is by a key in the trust set" in r.stderr
    assert str(host.trust) in r.stderr
    # a baseline served as the catalog is not a catalog
    (server.root / "catalog.hpm").write_bytes(release.base.read_bytes())
    r = host("--source", server.url, check=REFUSED)
    assert "expected a catalog" in r.stderr


def download_broken_once(server, host, release, mode):
    """Publish; the server breaks off the baseline's first response (mode,
    see conftest.Handler); downloading it still gives its exact bytes.
    Returns the Range header of each request for it (None: none)."""
    release.publish(server.root)
    rel = "baselines/base-2026.1.hpm"
    server.modes[rel] = mode
    server.drops[rel] = 1
    r = host("--source", server.url, "--download", "2026.1", "--json")
    path = Path(json.loads(r.stdout)["downloaded"][0]["path"])
    assert path.read_bytes() == release.base.read_bytes()
    return [rng for p, rng in server.log if p == rel]


def test_interrupted_download_resumes(server, host, release):
    # the first request breaks off half-way; the retry asks for the rest
    reqs = download_broken_once(server, host, release, "drop")
    assert reqs[0] is None and reqs[1] == f"bytes={release.base.stat().st_size // 2}-", reqs


def test_server_without_range_support(server, host, release):
    """A server that answers a Range request with the whole file (200): the
    partial file is discarded and the download starts again."""
    server.ignore_range = True
    reqs = download_broken_once(server, host, release, "drop-all")
    assert reqs[0] is None and reqs[1] is not None and reqs[2] is None, reqs
    assert cache_files(host.state) == [sha256(release.base) + ".hpm"]


def test_resume_across_runs(server, host, release):
    release.publish(server.root)
    rel = "hotpatches/hp-2.hpm"
    size = release.hp[1].stat().st_size
    # every attempt of the first run breaks off: the run fails, the partial
    # download is kept (as .part, never used) ...
    server.modes[rel] = "drop-all"
    server.drops[rel] = 3
    r = host("--source", server.url, "--download", "HP-2026.1-2", check=IOERR)
    assert "run again to resume" in r.stderr and rel in r.stderr
    parts = [n for n in cache_files(host.state) if n.endswith(".part")]
    assert parts and not [n for n in cache_files(host.state) if n.endswith(".hpm")]
    have = (host.state / "cache" / parts[0]).stat().st_size
    assert 0 < have < size
    # ... and the next run continues from there
    n = len(server.log)
    host("--source", server.url, "--download", "HP-2026.1-2")
    reqs = [rng for p, rng in server.log[n:] if p == rel]
    assert reqs == [f"bytes={have}-"], reqs
    assert cache_files(host.state) == [sha256(release.hp[1]) + ".hpm"]


def test_oversize_download_refused(server, host, release):
    release.publish(server.root)
    rel = "hotpatches/hp-1.hpm"
    server.modes[rel] = "oversize"
    r = host("--source", server.url, "--download", "HP-2026.1-1", check=REFUSED)
    assert "more bytes than" in r.stderr and "'size'" in r.stderr
    assert cache_files(host.state) == []


def test_hash_mismatch_refused(server, host, release, tmp_path):
    release.publish(server.root)
    server.modes["baselines/base-2026.1.hpm"] = "corrupt"
    r = host("--source", server.url, "--download", "2026.1", check=REFUSED)
    assert "SHA-256" in r.stderr and "'sha256'" in r.stderr and "deleted" in r.stderr
    assert cache_files(host.state) == []  # nothing that looks usable
    # same from a local mirror with a swapped file
    src = tmp_path / "mirror"
    src.mkdir()
    release.publish(src)
    (src / "hotpatches" / "hp-1.hpm").write_bytes(release.hp[1].read_bytes()[: release.hp[0].stat().st_size])
    host("--source", src, "--download", "HP-2026.1-1", check=REFUSED)
    assert cache_files(host.state) == []


def test_source_from_policy_file(server, host, release, tmp_path):
    """Without --source, hpm catalog takes [update] source of the policy file,
    as assess and install do; --source still wins."""
    release.publish(server.root)
    conf = tmp_path / "hpm.conf"
    conf.write_text(f"[update]\nsource = {server.url}   # the fleet mirror\n")
    r = hpm("catalog", "--config", conf, "--json", env={"HPM_TRUST_DIR": host.trust, "HPM_STATE_DIR": host.state,
                                                        "HPM_NOW": NOW})
    assert json.loads(r.stdout)["source"] == server.url
    r = hpm("catalog", "--config", conf, "--source", tmp_path / "nowhere",
            env={"HPM_TRUST_DIR": host.trust, "HPM_STATE_DIR": host.state, "HPM_NOW": NOW}, check=IOERR)
    assert "nowhere" in r.stderr


def test_bad_sources_and_state(server, host, release, tmp_path):
    r = host("--source", "ftp://example.org/x", check=USAGE)
    assert "http://" in r.stderr
    r = host(check=USAGE)
    assert "no update source" in r.stderr and "[update]" in r.stderr
    r = host("--source", tmp_path / "nowhere", check=IOERR)
    assert "nowhere" in r.stderr
    r = host("--source", server.url + "/missing", check=IOERR)
    assert "/missing/catalog.hpm" in r.stderr and "404" in r.stderr
    # an empty trust store refuses everything
    release.publish(server.root)
    for p in host.trust.iterdir():
        p.unlink()
    r = host("--source", server.url, check=IOERR)
    assert "no trusted keys" in r.stderr
    (host.trust / "release.pub").write_bytes(release.pub.read_bytes())
    # a damaged rollback floor is never silently dropped
    host("--source", server.url)
    (host.state / "catalog.hpm").write_bytes(b"garbage")
    r = host("--source", server.url, check=IOERR)
    assert "damaged" in r.stderr and "rollback floor" in r.stderr
    assert "--help" not in r.stderr
    assert "usage: hpm catalog" in hpm("catalog", "--help").stdout


# ---- signature thresholds ([trust] catalog_signers in hpm.conf) --------------------


def trust_conf(path, **signers):
    """An hpm.conf whose [trust] sets the given keys (catalog_signers=2)."""
    path.write_text("[trust]\n" + "".join(f"{k} = {n}\n" for k, n in signers.items()))
    return path


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
    env = {"HPM_TRUST_DIR": trust, "HPM_STATE_DIR": tmp_path / "state", "HPM_NOW": NOW, "HPM_SOURCE": src,
           "HPM_BASELINE": "ab" * 32, "HPM_EFIVARS": tmp_path / "no-efivars"}
    return src, env


def test_catalog_with_too_few_signers_is_refused(mirror, release, tmp_path):
    src, env = mirror
    env["HPM_CONF"] = str(trust_conf(tmp_path / "hpm.conf", catalog_signers=2))
    want = (f"{src}/catalog.hpm: catalog refused: 1 trusted signature, this host requires 2 for catalogs "
            f"([trust] catalog_signers in {env['HPM_CONF']})")
    for cmd in ("catalog", "assess"):
        r = hpm(cmd, "--json", check=None, env=env)
        assert r.returncode == 1, (cmd, r.stdout, r.stderr)
        assert want in r.stderr, (cmd, r.stderr)
    assert not (tmp_path / "state" / "catalog.hpm").exists()
    # the other kinds' thresholds do not apply to catalogs
    trust_conf(tmp_path / "hpm.conf", baseline_signers=2, hotpatch_signers=2)
    r = hpm("catalog", "--json", env=env)
    assert json.loads(r.stdout)["serial"] == 5


def test_countersigned_catalog_is_accepted(mirror, release, tmp_path):
    src, env = mirror
    env["HPM_CONF"] = str(trust_conf(tmp_path / "hpm.conf", catalog_signers=2))
    sign("countersign", "--key", release.other, "--trust", release.pub, "--out", src / "catalog.hpm",
         src / "catalog.hpm")
    j = json.loads(hpm("catalog", "--json", env=env).stdout)
    assert j["serial"] == 5 and j["change"] == "new"
    assert (tmp_path / "state" / "catalog.hpm").read_bytes() == (src / "catalog.hpm").read_bytes()
    j = json.loads(hpm("assess", "--json", env=env).stdout)
    assert j["host"]["baseline"] == "ab" * 32
