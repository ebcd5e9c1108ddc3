# SPDX-License-Identifier: MIT
"""hpm-sign hotpatch: bound to exactly one baseline."""
import hashlib
from pathlib import Path

import pytest

from hpmtest import OK, REFUSED, USAGE, IOERR, files_in, make_baseline, patch_payload, sign


@pytest.fixture
def patches(tmp_path):
    a = patch_payload(tmp_path / "libssl-fix.bin", func="ssl_fix")
    b = patch_payload(tmp_path / "Kernel Module.PATCH", func="mod_fix", build_id=b"\x22" * 20)
    return a, b


def hotpatch(out, key, base, *extra, seq=1, check=OK, env=None):
    """hpm-sign hotpatch; a default payload beside out unless extra has one."""
    if "--payload" not in [str(x) for x in extra]:
        extra = (*extra, "--payload", patch_payload(Path(out).parent / "default-fix.bin"))
    return sign("hotpatch", "--key", key, "--baseline", base, "--seq", seq,
               "--classification", "security", "--id", "KB5031234", "--timestamp", "1700001000",
               "--out", out, *extra, env=env, check=check)


def test_hotpatch_bound_to_baseline(baseline, patches, tmp_path):
    base, pem, pub, kid = baseline
    out = tmp_path / "kb.hpm"
    r = hotpatch(out, pem, base, "--payload", patches[0], "--payload", f"kmod={patches[1]}")
    base_j = sign("inspect", "--json", base, check=OK).json()
    j = sign("inspect", "--json", out, check=OK).json()
    m = j["manifest"]
    assert m["kind"] == "hotpatch" and j["header"]["kind"] == "hotpatch"
    assert m["target_baseline"] == base_j["digest"]
    assert base_j["digest"] in r.out
    assert m["sequence"] == 1 and m["classification"] == "security" and m["id"] == "KB5031234"
    assert m["release"] is None
    # Defaults come from the baseline.
    assert m["version"] == "1.0+hp1"
    assert m["svn"] == base_j["manifest"]["svn"]
    assert m["compat"] == base_j["manifest"]["compat"]
    assert m["timestamp"] == 1700001000
    assert [(p["name"], p["type"]) for p in j["payloads"]] == [("libssl-fix.bin", "patch"),
                                                              ("kmod", "patch")]
    assert j["payloads"][0]["sha256"] == hashlib.sha256(patches[0].read_bytes()).hexdigest()
    sign("verify", "--trust", pub, out, check=OK)
    sign("verify", "--trust", pub, "--kind", "hotpatch", out, check=OK)


def test_hotpatch_never_verifies_as_baseline(baseline, tmp_path, patches):
    base, pem, pub, _ = baseline
    out = tmp_path / "kb.hpm"
    hotpatch(out, pem, base, "--payload", patches[0])
    r = sign("verify", "--trust", pub, "--kind", "baseline", out, check=REFUSED)
    assert "expected a baseline" in r.err
    assert sign("verify", "--json", "--trust", pub, "--kind", "baseline",
               out, check=None).json()["result"] == "wrong_kind"
    r = sign("verify", "--trust", pub, "--kind", "hotpatch", base, check=REFUSED)
    assert "expected a hotpatch" in r.err


def test_hotpatch_overrides_and_classes(baseline, tmp_path):
    base, pem, pub, _ = baseline
    fix = patch_payload(tmp_path / "fix.bin")
    for cls in ["critical", "security", "other"]:
        out = tmp_path / f"{cls}.hpm"
        sign("hotpatch", "--key", pem, "--baseline", base, "--seq", "7", "--classification", cls,
            "--id", "KB-1.2_3", "--version", "custom-7", "--svn", "11", "--compat", "other-hw",
            "--timestamp", "9", "--payload", fix, "--out", out, check=OK)
        m = sign("inspect", "--json", out, check=None).json()["manifest"]
        assert (m["classification"], m["version"], m["svn"], m["compat"], m["sequence"]) == \
            (cls, "custom-7", 11, "other-hw", 7)
        assert [p["name"] for p in sign("inspect", "--json", out, check=None).json()["payloads"]] == ["fix.bin"]
        sign("verify", "--trust", pub, out, check=OK)


def test_target_digest_ignores_baseline_signatures(baseline, keys, tmp_path):
    base, pem, pub, _ = baseline
    hotpatch(tmp_path / "a.hpm", pem, base)
    k2, _, _ = keys("second")
    sign("countersign", "--key", k2, base, check=OK)
    hotpatch(tmp_path / "b.hpm", pem, base)
    assert (tmp_path / "a.hpm").read_bytes() == (tmp_path / "b.hpm").read_bytes()


def test_hotpatch_for_another_baseline_differs(baseline, tmp_path, keys, inputs):
    base, pem, _, _ = baseline
    other = tmp_path / "other.hpm"
    make_baseline(other, pem, *inputs, version="1.1")
    hotpatch(tmp_path / "a.hpm", pem, base)
    hotpatch(tmp_path / "b.hpm", pem, other)
    ja = sign("inspect", "--json", tmp_path / "a.hpm", check=None).json()["manifest"]
    jb = sign("inspect", "--json", tmp_path / "b.hpm", check=None).json()["manifest"]
    assert ja["target_baseline"] != jb["target_baseline"]


def test_baseline_must_be_a_baseline(baseline, tmp_path):
    base, pem, _, _ = baseline
    hp = tmp_path / "kb.hpm"
    hotpatch(hp, pem, base)
    r = hotpatch(tmp_path / "x.hpm", pem, hp, check=REFUSED)
    assert "not a baseline" in r.err and "kb.hpm" in r.err
    junk = tmp_path / "junk.hpm"
    junk.write_bytes(b"garbage" * 50)
    r = hotpatch(tmp_path / "x.hpm", pem, junk, check=REFUSED)
    assert "junk.hpm" in r.err and "not a valid container" in r.err
    r = hotpatch(tmp_path / "x.hpm", pem, tmp_path / "none.hpm", check=IOERR)
    assert "none.hpm" in r.err
    assert not (tmp_path / "x.hpm").exists()


def test_default_payload_names_sanitized(baseline, tmp_path, patches):
    base, pem, _, _ = baseline
    out = tmp_path / "kb.hpm"
    hotpatch(out, pem, base, "--payload", patches[1])
    assert [p["name"] for p in sign("inspect", "--json", out, check=None).json()["payloads"]] == \
        ["kernel_module.patch"]


@pytest.mark.parametrize("payload_args,hint", [
    (["A=x"], "payload name 'A'"),
    (["-bad=x"], "payload name"),
    ([("n" * 32) + "=x"], "31"),
    (["same=a", "same=b"], "both get the payload name 'same'"),
    (["dir/a.bin", "other/A.BIN"], "both get the payload name 'a.bin'"),
    (["name="], "no file"),
    (["...=x"], "must start with a-z or 0-9"),
])
def test_bad_payload_names(baseline, tmp_path, payload_args, hint):
    base, pem, _, _ = baseline
    args = [x for p in payload_args for x in ("--payload", p)]
    r = hotpatch(tmp_path / "x.hpm", pem, base, *args, check=USAGE)
    assert hint in r.err, r
    assert not (tmp_path / "x.hpm").exists()


def test_payload_missing_file_leaves_nothing(baseline, tmp_path):
    base, pem, _, _ = baseline
    r = hotpatch(tmp_path / "x.hpm", pem, base, "--payload", tmp_path / "gone.bin", check=IOERR)
    assert "gone.bin" in r.err
    assert not (tmp_path / "x.hpm").exists()


@pytest.mark.parametrize("opt,value,hint", [
    ("--seq", "0", "sequence"),
    ("--seq", "abc", "sequence"),
    ("--classification", "urgent", "classification"),
    ("--id", "KB 1", "id"),
    ("--id", "K" * 64, "63"),
])
def test_invalid_hotpatch_values(baseline, tmp_path, opt, value, hint):
    base, pem, _, _ = baseline
    args = {"--seq": "1", "--classification": "other", "--id": "KB1"}
    args[opt] = value
    flat = [x for kv in args.items() for x in kv]
    r = sign("hotpatch", "--key", pem, "--baseline", base, *flat, "--timestamp", "1",
            "--out", tmp_path / "x.hpm", check=USAGE)
    assert hint in r.err and opt in r.err
    assert not (tmp_path / "x.hpm").exists()


def test_default_version_too_long(tmp_path, keys, inputs):
    pem, _, _ = keys()
    base = tmp_path / "b.hpm"
    make_baseline(base, pem, *inputs, version="v" * 62)
    r = hotpatch(tmp_path / "x.hpm", pem, base, check=USAGE)
    assert "--version" in r.err
    hotpatch(tmp_path / "x.hpm", pem, base, "--version", "short")


def test_hotpatch_missing_options(baseline, tmp_path):
    base, pem, _, _ = baseline
    full = ["hotpatch", "--key", pem, "--baseline", base, "--seq", "1",
            "--classification", "other", "--id", "KB1", "--out", tmp_path / "x.hpm"]
    for opt in ["--key", "--baseline", "--seq", "--classification", "--id", "--out"]:
        i = full.index(opt)
        r = sign(*(full[:i] + full[i + 2:]), check=USAGE)
        assert opt in r.err, r
    assert files_in(tmp_path) == sorted(["keys", "slot-a.hpm", "vmlinuz", "initrd.img"])


def test_unsigned_hotpatch_then_countersign(baseline, tmp_path):
    base, pem, pub, _ = baseline
    out = tmp_path / "u.hpm"
    sign("hotpatch", "--unsigned", "--baseline", base, "--seq", "2", "--classification", "other",
        "--id", "KB2", "--timestamp", "1", "--payload", patch_payload(tmp_path / "fix.bin"), "--out", out, check=OK)
    sign("verify", "--trust", pub, out, check=REFUSED)
    sign("countersign", "--key", pem, out, check=OK)
    sign("verify", "--trust", pub, "--kind", "hotpatch", out, check=OK)


@pytest.mark.parametrize("case", ["text", "truncated", "trailing", "none"])
def test_payload_must_be_a_hotpatch_payload(baseline, tmp_path, case):
    """hpm-sign parses every payload as hosts will before signing: a file
    that is not one (or no --payload at all) is refused, nothing written."""
    base, pem, _, _ = baseline
    good = patch_payload(tmp_path / "good.bin").read_bytes()
    bad = tmp_path / "bad.bin"
    bad.write_bytes({"text": b"just some text\n", "truncated": good[:-1], "trailing": good + b"\0",
                     "none": good}[case])
    out = tmp_path / "x.hpm"
    args = ["hotpatch", "--key", pem, "--baseline", base, "--seq", "1", "--classification", "other",
            "--id", "KB1", "--timestamp", "1", "--out", out]
    if case == "none":
        r = sign(*args, check=USAGE)
        assert "missing --payload FILE" in r.err
    else:
        r = sign(*args, "--payload", bad, check=REFUSED)
        assert f"--payload bad.bin ({bad}): not a hotpatch payload" in r.err and "hpm-patchgen" in r.err, r.err
    assert not out.exists()
    sign(*args, "--payload", tmp_path / "good.bin", check=OK)


def test_out_may_not_replace_an_input(baseline, tmp_path, patches, inputs):
    base, pem, _, _ = baseline
    before = base.read_bytes()
    r = hotpatch(base, pem, base, check=USAGE)
    assert "--baseline" in r.err
    assert base.read_bytes() == before
    r = hotpatch(patches[0], pem, base, "--payload", patches[0], check=USAGE)
    assert "--payload" in r.err
    r = sign("baseline", "--key", pem, "--kernel", inputs[0], "--version", "1", "--svn", "1",
            "--timestamp", "1", "--out", inputs[0], check=USAGE)
    assert "--kernel" in r.err
