# SPDX-License-Identifier: MIT
"""Help, version, usage errors, and robustness against bad input."""
import os
import random

import pytest

from hpmtest import OK, REFUSED, USAGE, IOERR, layout, patch_payload, sign

COMMANDS = ["keygen", "keyid", "baseline", "hotpatch", "verify", "inspect", "digest", "attach",
            "countersign"]


def test_top_level_help():
    for arg in ["--help", "-h", "help"]:
        r = sign(arg, check=OK)
        assert r.out.startswith("Usage: hpm-sign")
        for c in COMMANDS:
            assert c in r.out
        assert "Exit status" in r.out


def test_version():
    r = sign("--version", check=OK)
    assert r.out.startswith("hpm-sign ") and "format 1" in r.out


def test_no_arguments_is_usage_error():
    r = sign(check=USAGE)
    assert "Usage: hpm-sign" in r.err


def test_unknown_command():
    r = sign("sign", check=USAGE)
    assert "unknown command 'sign'" in r.err and "hpm-sign --help" in r.err
    r = sign("--frobnicate", check=USAGE)
    assert "--frobnicate" in r.err


@pytest.mark.parametrize("cmd", COMMANDS)
def test_help_on_every_subcommand(cmd):
    r = sign(cmd, "--help", check=OK)
    assert r.out.startswith(f"Usage: hpm-sign {cmd}")
    assert r.err == ""
    assert sign(cmd, "-h", check=OK).out == r.out
    assert sign("help", cmd, check=OK).out == r.out


@pytest.mark.parametrize("cmd", COMMANDS)
def test_unknown_option_on_every_subcommand(cmd):
    r = sign(cmd, "--no-such-option", check=USAGE)
    assert "unknown option --no-such-option" in r.err
    assert f"Try 'hpm-sign {cmd} --help'." in r.err
    r = sign(cmd, "-Z", check=USAGE)
    assert "-Z" in r.err


@pytest.mark.parametrize("cmd,opt", [("keygen", "--out"), ("baseline", "--kernel"),
                                     ("hotpatch", "--baseline"), ("verify", "--trust"),
                                     ("digest", "--tbs"), ("attach", "--sig"),
                                     ("countersign", "--key")])
def test_option_without_value(cmd, opt):
    r = sign(cmd, opt, check=USAGE)
    assert f"option {opt} needs a value" in r.err


@pytest.mark.parametrize("cmd,args", [
    ("keygen", ["--out", "a", "--out", "b"]),
    ("baseline", ["--svn", "1", "--svn", "2"]),
    ("hotpatch", ["--id", "a", "--id", "b"]),
    ("verify", ["--kind", "baseline", "--kind", "hotpatch"]),
    ("digest", ["--alg", "sha256", "--alg", "sha384"]),
    ("attach", ["--pub", "a", "--pub", "b"]),
    ("countersign", ["--key", "a", "--key", "b"]),
])
def test_option_given_twice(cmd, args):
    r = sign(cmd, *args, check=USAGE)
    assert "given twice" in r.err


@pytest.mark.parametrize("cmd", ["keyid", "verify", "inspect", "digest", "attach",
                                 "countersign"])
def test_missing_file_argument(cmd):
    r = sign(cmd, check=USAGE)
    assert "missing" in r.err


def test_flag_with_value_is_usage_error(tmp_path):
    r = sign("baseline", "--detached=yes", check=USAGE)
    assert "--detached=yes" in r.err


def test_garbage_inputs_never_crash(tmp_path, baseline):
    """Random and truncated containers: exit 1 (or 3), never a crash, never an output."""
    out, pem, pub, _ = baseline
    data = out.read_bytes()
    payload = patch_payload(tmp_path / "fix.bin")
    rnd = random.Random(1234)
    blobs = [b"", b"\x89HPM\r\n\x1a\n", data[:64], data[:-1], data + data,
             bytes(rnd.randrange(256) for _ in range(300))]
    tbs, sig_off, _ = layout(data)
    for _ in range(12):
        b = bytearray(data)
        for _ in range(rnd.randrange(1, 6)):
            b[rnd.randrange(len(b))] = rnd.randrange(256)
        blobs.append(bytes(b))
    for i, blob in enumerate(blobs):
        f = tmp_path / f"g{i}.hpm"
        f.write_bytes(blob)
        for args in (["verify", "--trust", pub, f], ["inspect", f], ["inspect", "--json", f],
                     ["digest", f], ["countersign", "--key", pem, "--out", tmp_path / "cs.hpm", f]):
            r = sign(*args, check=None)
            assert r.rc in (OK, REFUSED, IOERR), (args, r)
            if args[0] == "inspect" and "--json" in args:
                r.json()  # always valid JSON
        r = sign("hotpatch", "--key", pem, "--baseline", f, "--seq", "1", "--classification",
                "other", "--id", "KB1", "--timestamp", "1", "--payload", payload, "--out", tmp_path / "hp.hpm",
                check=None)
        assert r.rc in (OK, REFUSED, IOERR), r
    leftovers = [p for p in os.listdir(tmp_path) if ".tmp." in p]
    assert leftovers == []
