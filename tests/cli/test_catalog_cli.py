# SPDX-License-Identifier: MIT
"""hpm-sign catalog; verify and inspect of catalogs; the HSM flow for catalogs."""
import hashlib
import shutil
import time

import pytest

from hpmtest import (OK, REFUSED, USAGE, IOERR, flip, layout, make_baseline, needs_openssl, openssl,
                     patch_payload, sign)

TS = 1767225600          # 2026-01-01T00:00:00Z
EXP = "2036-01-01"       # 2082758400 (the real clock must not pass it: hpm-sign refuses an expired catalog)


@pytest.fixture
def rel(tmp_path, keys, inputs):
    """A baseline and two hotpatches for it, signed by 'release'."""
    pem, pub, kid = keys("release")
    base = tmp_path / "base.hpm"
    make_baseline(base, pem, *inputs, version="2026.1", svn=4, timestamp=TS)
    patch = patch_payload(tmp_path / "fix.bin")
    hps = []
    for seq, cls in ((1, "security"), (2, "critical")):
        hp = tmp_path / f"hp{seq}.hpm"
        sign("hotpatch", "--key", pem, "--baseline", base, "--seq", seq, "--classification", cls,
            "--id", f"HP-{seq}", "--payload", patch, "--timestamp", TS + seq, "--out", hp, check=OK)
        hps.append(hp)
    return {"pem": pem, "pub": pub, "kid": kid, "base": base, "hp": hps, "dir": tmp_path}


def build(rel, *entries, serial=7, out=None, check=OK, extra=(), cwd=None):
    out = out or rel["dir"] / "catalog.hpm"
    args = ["catalog", "--key", rel["pem"], "--serial", serial, "--expires", EXP,
            "--timestamp", TS, "--out", out, *extra]
    for e in entries:
        args += ["--entry", e]
    return out, sign(*args, check=check, cwd=cwd)


def sha(p):
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_default_url_is_the_path_relative_to_the_catalog(rel, tmp_path):
    """Without url=, an entry's url is its path relative to the catalog's
    directory (what a host resolves against the source), not its bare file
    name; an entry outside that directory needs url=."""
    mirror = tmp_path / "mirror"
    (mirror / "hotpatches" / "2026").mkdir(parents=True)
    hp = mirror / "hotpatches" / "2026" / "hp1.hpm"
    hp.write_bytes(rel["hp"][0].read_bytes())
    out, r = build(rel, str(hp), out=mirror / "catalog.hpm", extra=["--json"])
    assert [e["url"] for e in r.json()["catalog"]["entries"]] == ["hotpatches/2026/hp1.hpm"]
    # the same through a relative path and a symlinked directory
    (tmp_path / "link").symlink_to(mirror)
    out, r = build(rel, "link/hotpatches/2026/hp1.hpm", out=tmp_path / "link" / "catalog.hpm",
                   extra=["--json"], cwd=tmp_path)
    assert [e["url"] for e in r.json()["catalog"]["entries"]] == ["hotpatches/2026/hp1.hpm"]
    (mirror / "catalog.hpm").unlink()
    out, r = build(rel, str(rel["hp"][1]), out=mirror / "catalog.hpm", check=USAGE)
    assert f"--entry {rel['hp'][1]} is not inside the catalog's directory {mirror}" in r.err and "url=" in r.err
    assert not (mirror / "catalog.hpm").exists()
    build(rel, f"{rel['hp'][1]}:url=elsewhere/hp2.hpm", out=mirror / "catalog.hpm")


def test_catalog_fields_come_from_the_containers(rel):
    base, (hp1, hp2) = rel["base"], rel["hp"]
    out, r = build(rel, f"{base}:class=security,released=2026-01-10,url=baselines/base.hpm",
                   f"{hp1}:released=2026-02-10T08:30:00Z,url=hotpatches/hp1.hpm",
                   f"{hp2}:release=unplanned", extra=["--json"])
    w = r.json()
    assert w["signed"] and w["key_id"] == rel["kid"] and w["file"] == str(out)
    j = sign("verify", "--json", "--trust", rel["pub"], "--at", "2026-06-01", out, check=OK).json()
    assert j["valid"] and j["kind"] == "catalog" and j["result"] == "ok"
    c = j["catalog"]
    assert c == w["catalog"]
    assert c["serial"] == 7 and c["issued"] == TS and c["expires"] == 2082758400
    assert c["expires_utc"] == "2036-01-01T00:00:00Z"
    b, h1, h2 = c["entries"]
    bj = sign("inspect", "--json", base, check=OK).json()
    assert b["id"] == "2026.1" and b["kind"] == "baseline" and b["version"] == "2026.1"
    assert b["svn"] == 4 and b["release"] == "planned" and b["classification"] == "security"
    assert b["digest"] == bj["digest"] and b["size"] == base.stat().st_size and b["sha256"] == sha(base)
    assert b["released_utc"] == "2026-01-10T00:00:00Z" and b["url"] == "baselines/base.hpm"
    assert b["target_baseline"] is None and b["sequence"] is None
    assert h1["id"] == "HP-1" and h1["sequence"] == 1 and h1["target_baseline"] == bj["digest"]
    assert h1["classification"] == "security" and h1["released_utc"] == "2026-02-10T08:30:00Z"
    assert h1["sha256"] == sha(hp1) and h1["release"] == "planned"
    # defaults: released = the container's timestamp, url = the file name
    assert h2["released"] == TS + 2 and h2["url"] == "hp2.hpm" and h2["release"] == "unplanned"
    assert h2["classification"] == "critical"
    # the text views
    r = sign("verify", "--trust", rel["pub"], "--at", "2026-06-01", out, check=OK)
    assert "OK: valid catalog" in r.out and "HP-2" in r.out
    r = sign("inspect", out, check=OK)
    assert "serial 7" in r.out and "not checked" in r.out and "not verified" in r.out


def test_deterministic(rel):
    e = f"{rel['base']}:class=other"
    a, _ = build(rel, e, out=rel["dir"] / "a.hpm")
    b, _ = build(rel, e, out=rel["dir"] / "b.hpm")
    assert a.read_bytes() == b.read_bytes()


def test_verify_catalog_refusals(rel, keys):
    out, _ = build(rel, f"{rel['base']}:class=other")
    # expiry is judged at --at (default now)
    r = sign("verify", "--trust", rel["pub"], "--at", "2036-01-01", out, check=REFUSED)
    assert "expired" in r.out + r.err and "higher --serial" in r.err
    j = sign("verify", "--json", "--trust", rel["pub"], "--at", "1798761599", out, check=OK).json()
    assert j["valid"]
    # another key
    _, other_pub, _ = keys("other")
    j = sign("verify", "--json", "--trust", other_pub, "--at", "2026-06-01", out, check=REFUSED).json()
    assert not j["valid"] and j["result"] == "untrusted_key"
    # a flipped bit in the manifest
    bad = flip(out, 64 + 100, rel["dir"] / "bad.hpm")
    j = sign("verify", "--json", "--trust", rel["pub"], "--at", "2026-06-01", bad, check=REFUSED).json()
    assert j["result"] == "signature_invalid"
    # a catalog is not a baseline, and --kind catalog on a baseline fails
    sign("verify", "--kind", "baseline", "--trust", rel["pub"], out, check=REFUSED)
    j = sign("verify", "--json", "--kind", "catalog", "--trust", rel["pub"], rel["base"],
            check=REFUSED).json()
    assert j["result"] == "wrong_kind"
    assert "--at" in sign("verify", "--trust", rel["pub"], "--at", "soon", out, check=USAGE).err


def test_entry_options_checked(rel):
    base, hp1 = rel["base"], rel["hp"][0]
    cases = [
        (f"{base}", "class="),                                   # baseline needs a class
        (f"{base}:class=urgent", "class="),
        (f"{base}:class=other,release=unplanned", "baseline says planned"),
        (f"{hp1}:class=other", "hotpatch says security"),
        (f"{hp1}:id=HP-9", "ID is HP-1"),
        (f"{hp1}:release=sometimes", "planned or unplanned"),
        (f"{hp1}:released=yesterday", "released="),
        (f"{hp1}:colour=red", "unknown option 'colour'"),
        (f"{hp1}:url=../hp1.hpm", "'.."),
        (f"{hp1}:url=/srv/hp1.hpm", "relative"),
        (f"{hp1}:url=http://evil/hp1.hpm", "scheme"),
        (f"{hp1}:url=a//b.hpm", "empty path segment"),
        (f"{hp1}:url=a.hpm,url=b.hpm", "twice"),
    ]
    for spec, want in cases:
        r = sign("catalog", "--key", rel["pem"], "--serial", 1, "--expires", EXP, "--timestamp", TS,
                "--entry", spec, "--out", rel["dir"] / "x.hpm", check=USAGE)
        assert want in r.err, (spec, r.err)
    assert not (rel["dir"] / "x.hpm").exists()


def test_entries_must_be_real_containers(rel, tmp_path):
    junk = tmp_path / "junk.hpm"
    junk.write_bytes(b"\x89HPM\r\n\x1a\n" + b"\0" * 100)
    r = sign("catalog", "--key", rel["pem"], "--serial", 1, "--expires", EXP, "--entry", junk,
            "--out", tmp_path / "c.hpm", check=REFUSED)
    assert "junk.hpm" in r.err and "not a valid baseline or hotpatch" in r.err
    sign("catalog", "--key", rel["pem"], "--serial", 1, "--expires", EXP, "--entry",
        tmp_path / "missing.hpm", "--out", tmp_path / "c.hpm", check=IOERR)
    # with --trust every entry is verified first
    sign("keygen", "--out", tmp_path / "o.pem", check=OK)
    r = sign("catalog", "--key", rel["pem"], "--serial", 1, "--expires", EXP, "--trust",
            tmp_path / "o.pub", "--entry", f"{rel['base']}:class=other", "--out", tmp_path / "c.hpm",
            check=REFUSED)
    assert "base.hpm" in r.err
    sign("catalog", "--key", rel["pem"], "--serial", 1, "--expires", EXP, "--trust", rel["pub"],
        "--entry", f"{rel['base']}:class=other", "--out", tmp_path / "c.hpm", check=OK)
    # a catalog cannot list a catalog
    r = sign("catalog", "--key", rel["pem"], "--serial", 2, "--expires", EXP, "--entry",
            tmp_path / "c.hpm", "--out", tmp_path / "d.hpm", check=REFUSED)
    assert "c.hpm" in r.err


def test_duplicates_refused(rel):
    base, hp1 = rel["base"], rel["hp"][0]
    copy = rel["dir"] / "copy.hpm"
    shutil.copy(hp1, copy)
    for a, b, want in [
        (f"{base}:class=other", f"{base}:class=other,url=x.hpm,id=other", "the same container"),
        (f"{hp1}", f"{copy}:url=y.hpm", "same"),
        (f"{hp1}:url=z.hpm", f"{rel['hp'][1]}:url=z.hpm", "the same url"),
    ]:
        r = sign("catalog", "--key", rel["pem"], "--serial", 1, "--expires", EXP, "--entry", a,
                "--entry", b, "--out", rel["dir"] / "x.hpm", check=REFUSED)
        assert want in r.err, r.err


def test_catalog_option_errors(rel, tmp_path):
    e = f"{rel['base']}:class=other"
    base = ["catalog", "--key", rel["pem"], "--entry", e, "--out", tmp_path / "c.hpm"]
    assert "--serial" in sign(*base, "--expires", EXP, check=USAGE).err
    assert "--serial" in sign(*base, "--serial", "0", "--expires", EXP, check=USAGE).err
    assert "--serial" in sign(*base, "--serial", "-1", "--expires", EXP, check=USAGE).err
    assert "--expires" in sign(*base, "--serial", 1, check=USAGE).err
    assert "--expires" in sign(*base, "--serial", 1, "--expires", "tomorrow", check=USAGE).err
    r = sign(*base, "--serial", 1, "--expires", "2025-01-01", "--timestamp", TS, check=USAGE)
    assert "not after the issue time" in r.err
    assert "--key" in sign("catalog", "--serial", 1, "--expires", EXP, "--out", tmp_path / "c.hpm",
                          check=USAGE).err
    assert "twice" in sign(*base, "--serial", 1, "--serial", 2, "--expires", EXP, check=USAGE).err
    assert "--out" in sign("catalog", "--key", rel["pem"], "--serial", 1, "--expires", EXP,
                          "--entry", e, "--out", rel["base"], check=USAGE).err
    assert "unexpected" in sign(*base, "--serial", 1, "--expires", EXP, "stray", check=USAGE).err
    assert "--bogus" in sign(*base, "--bogus", check=USAGE).err
    # +DAYS after the timestamp
    out = tmp_path / "c.hpm"
    now = int(time.time())
    j = sign(*base, "--serial", 3, "--expires", "+30", "--timestamp", now, "--json", check=OK).json()
    assert j["catalog"]["expires"] == now + 30 * 86400
    assert not list(tmp_path.glob("c.hpm.tmp*"))
    assert out.exists()
    # +30 after an old SOURCE_DATE_EPOCH is already past: refused, unless asked for
    out.unlink()
    r = sign(*base, "--serial", 3, "--expires", "+30", env={"SOURCE_DATE_EPOCH": TS}, check=USAGE)
    assert "--expires 2026-01-31T00:00:00Z is already past" in r.err and "--allow-expired" in r.err
    assert not out.exists()
    r = sign(*base, "--serial", 3, "--expires", "+30", "--allow-expired", env={"SOURCE_DATE_EPOCH": TS}, check=OK)
    assert "warning: the catalog expired at 2026-01-31T00:00:00Z" in r.err and out.exists()


def test_empty_catalog(rel):
    out, r = build(rel, serial=1)
    assert "0 entries" in r.out
    j = sign("verify", "--json", "--trust", rel["pub"], "--at", "2026-02-01", out, check=OK).json()
    assert j["catalog"]["entries"] == []


def test_help():
    r = sign("catalog", "--help", check=OK)
    assert r.out.startswith("Usage: hpm-sign catalog") and "--entry" in r.out and "Exit status" in r.out
    assert sign("help", "catalog", check=OK).out == r.out
    assert "catalog" in sign("--help", check=OK).out


@needs_openssl
def test_unsigned_catalog_hsm_flow(rel, tmp_path):
    """--unsigned + digest + openssl + attach, then countersign."""
    out = tmp_path / "u.hpm"
    sign("catalog", "--unsigned", "--serial", 9, "--expires", EXP, "--timestamp", TS,
        "--entry", f"{rel['base']}:class=other", "--out", out, check=OK)
    sign("verify", "--trust", rel["pub"], "--at", "2026-02-01", out, check=REFUSED)
    key, pub = tmp_path / "hsm.pem", tmp_path / "hsm.pub"
    openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key)
    openssl("pkey", "-in", key, "-pubout", "-out", pub)
    tbs = tmp_path / "tbs.bin"
    sign("digest", "--tbs", tbs, out, check=OK)
    tbs_len, _, _ = layout(out.read_bytes())
    assert tbs.read_bytes() == out.read_bytes()[:tbs_len]
    openssl("dgst", "-sha256", "-sign", key, "-out", tmp_path / "sig.der", tbs)
    sign("attach", "--pub", pub, "--sig", tmp_path / "sig.der", out, check=OK)
    sign("verify", "--trust", pub, "--at", "2026-02-01", out, check=OK)
    sign("countersign", "--key", rel["pem"], "--trust", pub, out, check=OK)
    j = sign("verify", "--json", "--trust", pub, "--trust", rel["pub"], "--threshold", "2",
            "--at", "2026-02-01", out, check=OK).json()
    assert j["trusted_signers"] == 2
