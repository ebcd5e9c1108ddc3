# SPDX-License-Identifier: MIT
"""hpm-sign baseline: round trip, determinism, validation, no partial output."""
import hashlib
import time

import pytest

from hpmtest import (OK, REFUSED, USAGE, IOERR, files_in, layout, make_baseline, sign)


def test_round_trip(baseline):
    out, pem, pub, kid = baseline
    r = sign("verify", "--trust", pub, out, check=OK)
    assert kid in r.out and "valid" in r.out
    assert "baseline" in r.out


def test_inspect_matches_inputs(baseline, inputs):
    out, pem, pub, kid = baseline
    kernel, initrd = inputs
    j = sign("inspect", "--json", out, check=OK).json()
    m = j["manifest"]
    assert m["kind"] == "baseline" and m["version"] == "1.0" and m["svn"] == 3
    assert m["compat"] == "hpm-generic-x86_64"
    assert m["release"] == "planned"
    assert m["timestamp"] == 1700000000 and m["timestamp_utc"] == "2023-11-14T22:13:20Z"
    by_name = {p["name"]: p for p in j["payloads"]}
    assert [p["name"] for p in j["payloads"]] == ["kernel", "initrd", "cmdline"]
    assert by_name["kernel"]["sha256"] == hashlib.sha256(kernel.read_bytes()).hexdigest()
    assert by_name["kernel"]["size"] == kernel.stat().st_size
    assert by_name["initrd"]["sha256"] == hashlib.sha256(initrd.read_bytes()).hexdigest()
    assert by_name["cmdline"]["sha256"] == hashlib.sha256(b"console=ttyS0 quiet").hexdigest()
    assert all(p["embedded"] for p in j["payloads"])
    assert by_name["initrd"]["offset"] == kernel.stat().st_size
    assert j["signatures"][0]["key_id"] == kid


def test_kernel_only_and_options(tmp_path, keys, inputs):
    pem, pub, _ = keys()
    out = tmp_path / "k.hpm"
    make_baseline(out, pem, inputs[0], cmdline=None, version="2024.05.1-rc1", svn=0,
                  extra=["--unplanned", "--compat", "acme-hci-x86_64,v2"])
    j = sign("inspect", "--json", out, check=OK).json()
    assert [p["type"] for p in j["payloads"]] == ["kernel"]
    assert j["manifest"]["release"] == "unplanned"
    assert j["manifest"]["compat"] == "acme-hci-x86_64,v2"
    assert j["manifest"]["svn"] == 0
    sign("verify", "--trust", pub, out, check=OK)


def test_p384_key(tmp_path, keys, inputs):
    pem, pub, kid = keys("big", curve="p384")
    out = tmp_path / "p384.hpm"
    make_baseline(out, pem, *inputs)
    j = sign("verify", "--json", "--trust", pub, out, check=OK).json()
    assert j["signatures"][0]["alg"] == "ecdsa-p384-sha384"
    assert j["signatures"][0]["key_id"] == kid


def test_deterministic_output(tmp_path, keys, inputs):
    pem, _, _ = keys("a")
    pem_b, _, _ = keys("b")
    make_baseline(tmp_path / "1.hpm", pem, *inputs)
    make_baseline(tmp_path / "2.hpm", pem, *inputs)
    assert (tmp_path / "1.hpm").read_bytes() == (tmp_path / "2.hpm").read_bytes()
    # --timestamp gives the same bytes as the same SOURCE_DATE_EPOCH.
    make_baseline(tmp_path / "3.hpm", pem, *inputs, timestamp=None,
                  extra=["--timestamp", "1700000000"])
    assert (tmp_path / "3.hpm").read_bytes() == (tmp_path / "1.hpm").read_bytes()
    # A different key gives different bytes (same TBS, different signature).
    make_baseline(tmp_path / "4.hpm", pem_b, *inputs)
    one, four = (tmp_path / "1.hpm").read_bytes(), (tmp_path / "4.hpm").read_bytes()
    assert one != four
    tbs, _, _ = layout(one)
    assert one[:tbs] == four[:tbs]
    # A different timestamp changes the signed bytes.
    make_baseline(tmp_path / "5.hpm", pem, *inputs, timestamp=1700000001)
    assert (tmp_path / "5.hpm").read_bytes()[:tbs] != one[:tbs]


def test_timestamp_option_overrides_environment(tmp_path, keys, inputs):
    pem, _, _ = keys()
    make_baseline(tmp_path / "t.hpm", pem, *inputs, timestamp=5, extra=["--timestamp", "42"])
    assert sign("inspect", "--json", tmp_path / "t.hpm", check=None).json()["manifest"]["timestamp"] == 42


def test_no_timestamp_uses_current_time_with_note(tmp_path, keys, inputs):
    pem, _, _ = keys()
    before = int(time.time())
    r = make_baseline(tmp_path / "now.hpm", pem, *inputs, timestamp=None)
    after = int(time.time())
    assert "SOURCE_DATE_EPOCH" in r.err and "not reproducible" in r.err
    ts = sign("inspect", "--json", tmp_path / "now.hpm", check=None).json()["manifest"]["timestamp"]
    assert before <= ts <= after


@pytest.mark.parametrize("value", ["abc", "", "-1", "1.5", " 1700000000", "0x10",
                                   "99999999999999999999999"])
def test_malformed_source_date_epoch_rejected(tmp_path, keys, inputs, value):
    pem, _, _ = keys()
    out = tmp_path / "x.hpm"
    r = sign("baseline", "--key", pem, "--kernel", inputs[0], "--version", "1", "--svn", "1",
            "--out", out, env={"SOURCE_DATE_EPOCH": value}, check=USAGE)
    assert "SOURCE_DATE_EPOCH" in r.err
    assert not out.exists()


BAD_VALUES = [
    (["--version", "1 0"], "version", "spaces"),
    (["--version", "v" * 64], "version", "63"),
    (["--version", ""], "version", "empty"),
    (["--version", "caf\u00e9"], "version", "ASCII"),
    (["--compat", "x" * 128], "compat", "127"),
    (["--compat", "a\tb"], "compat", "ASCII"),
    (["--svn", "-1"], "svn", "0..4294967295"),
    (["--svn", "4294967296"], "svn", "0..4294967295"),
    (["--svn", "0x10"], "svn", "decimal"),
    (["--svn", "1e3"], "svn", "decimal"),
    (["--cmdline", "root=/dev/sda\nquiet"], "cmdline", "printable"),
    (["--cmdline", "x" * 4097], "cmdline", "4096"),
    (["--timestamp", "yesterday"], "timestamp", "decimal"),
]


@pytest.mark.parametrize("override,field,hint", BAD_VALUES,
                         ids=[f"{b[1]}-{i}" for i, b in enumerate(BAD_VALUES)])
def test_invalid_values_name_the_field(tmp_path, keys, inputs, override, field, hint):
    pem, _, _ = keys()
    out = tmp_path / "x.hpm"
    args = {"--version": "1.0", "--svn": "1", "--cmdline": "quiet"}
    for k, v in zip(override[::2], override[1::2]):
        args[k] = v
    flat = [x for kv in args.items() for x in kv]
    r = sign("baseline", "--key", pem, "--kernel", inputs[0], *flat, "--out", out,
            env={"SOURCE_DATE_EPOCH": "1"}, check=USAGE)
    assert field in r.err and hint in r.err, r
    assert "Try 'hpm-sign baseline --help'" in r.err
    assert files_in(tmp_path) == sorted(["keys", "initrd.img", "vmlinuz"])


def test_cmdline_at_limit_accepted(tmp_path, keys, inputs):
    pem, pub, _ = keys()
    out = tmp_path / "long.hpm"
    make_baseline(out, pem, inputs[0], cmdline="x" * 4096)
    sign("verify", "--trust", pub, out, check=OK)


def test_missing_kernel_leaves_nothing(tmp_path, keys):
    pem, _, _ = keys()
    out = tmp_path / "x.hpm"
    r = make_baseline(out, pem, tmp_path / "no-such-kernel", check=IOERR)
    assert "no-such-kernel" in r.err and "--kernel" in r.err
    assert files_in(tmp_path) == ["keys"]


def test_missing_initrd_leaves_nothing(tmp_path, keys, inputs):
    pem, _, _ = keys()
    r = make_baseline(tmp_path / "x.hpm", pem, inputs[0], initrd=tmp_path / "nope.img",
                      check=IOERR)
    assert "--initrd" in r.err and "nope.img" in r.err
    assert not (tmp_path / "x.hpm").exists()


def test_empty_kernel_refused(tmp_path, keys):
    pem, _, _ = keys()
    (tmp_path / "empty").write_bytes(b"")
    r = make_baseline(tmp_path / "x.hpm", pem, tmp_path / "empty", check=USAGE)
    assert "empty" in r.err
    assert not (tmp_path / "x.hpm").exists()


def test_kernel_is_a_directory(tmp_path, keys):
    pem, _, _ = keys()
    (tmp_path / "dir").mkdir()
    r = make_baseline(tmp_path / "x.hpm", pem, tmp_path / "dir", check=IOERR)
    assert "regular file" in r.err
    assert not (tmp_path / "x.hpm").exists()


def test_unwritable_output_directory(tmp_path, keys, inputs):
    pem, _, _ = keys()
    (tmp_path / "not-a-dir").write_text("x")
    r = make_baseline(tmp_path / "not-a-dir" / "x.hpm", pem, *inputs, check=IOERR)
    assert "x.hpm" in r.err
    r = make_baseline(tmp_path / "missing-dir" / "x.hpm", pem, *inputs, check=IOERR)
    assert "missing-dir" in r.err
    assert files_in(tmp_path) == sorted(["keys", "not-a-dir", "vmlinuz", "initrd.img"])


def test_output_is_a_directory_leaves_no_temp_file(tmp_path, keys, inputs):
    pem, _, _ = keys()
    (tmp_path / "out.hpm").mkdir()
    make_baseline(tmp_path / "out.hpm", pem, *inputs, check=IOERR)
    assert files_in(tmp_path) == sorted(["keys", "out.hpm", "vmlinuz", "initrd.img"])
    assert files_in(tmp_path / "out.hpm") == []


def test_overwrites_existing_output_atomically(tmp_path, keys, inputs):
    pem, pub, _ = keys()
    out = tmp_path / "x.hpm"
    out.write_bytes(b"old")
    make_baseline(out, pem, *inputs)
    sign("verify", "--trust", pub, out, check=OK)


def test_bad_key_files(tmp_path, keys, inputs):
    _, pub, _ = keys()
    r = make_baseline(tmp_path / "x.hpm", pub, *inputs, check=IOERR)
    assert "k1.pub" in r.err and "private key" in r.err
    r = make_baseline(tmp_path / "x.hpm", tmp_path / "nokey.pem", *inputs, check=IOERR)
    assert "nokey.pem" in r.err and "No such file" in r.err
    assert not (tmp_path / "x.hpm").exists()


def test_missing_required_options(tmp_path, keys, inputs):
    pem, _, _ = keys()
    base = ["baseline", "--key", pem, "--kernel", inputs[0], "--version", "1", "--svn", "1",
            "--out", tmp_path / "x.hpm"]
    for opt in ["--key", "--kernel", "--version", "--svn", "--out"]:
        i = base.index(opt)
        r = sign(*(base[:i] + base[i + 2:]), check=USAGE)
        assert opt in r.err, r
    r = sign(*base, "--unsigned", check=USAGE)
    assert "--unsigned" in r.err


def test_unsigned_baseline_is_not_valid_until_signed(tmp_path, keys, inputs):
    pem, pub, _ = keys()
    out = tmp_path / "u.hpm"
    sign("baseline", "--unsigned", "--kernel", inputs[0], "--version", "1", "--svn", "1",
        "--timestamp", "1", "--out", out, check=OK)
    j = sign("inspect", "--json", out, check=OK).json()
    assert j["signatures"] == []
    r = sign("verify", "--trust", pub, out, check=REFUSED)
    assert "no signature" in r.err
    sign("countersign", "--key", pem, out, check=OK)
    sign("verify", "--trust", pub, out, check=OK)
