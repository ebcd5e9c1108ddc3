# SPDX-License-Identifier: MIT
"""Helpers for the hpm-sign CLI tests (fixtures are in conftest.py).

The binary is $HPM_SIGN, else <repo>/build/tools/hpm-sign (run `make` first).
Every test works in its own tmp dir; keys are generated at test time.
"""
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HPM_SIGN = os.environ.get("HPM_SIGN") or str(REPO / "build" / "tools" / "hpm-sign")

# Exit codes (docs/hpm-sign.md).
OK, REFUSED, USAGE, IOERR = 0, 1, 2, 3

# Container layout numbers (core/include/hpm/format.h).
HEADER_SIZE = 64
SIG_HEADER_SIZE = 16
SIG_ENTRY_SIZE = 144
SIG_OFF_KEYID = 8
SIG_OFF_DER = 40


class Result:
    def __init__(self, proc):
        self.rc = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr

    def json(self):
        return json.loads(self.out)

    def __repr__(self):
        return f"rc={self.rc}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"


def run(*args, env=None, cwd=None, check=None):
    """Run hpm-sign; check=N asserts the exit code."""
    full_env = dict(os.environ)
    full_env.pop("SOURCE_DATE_EPOCH", None)
    if env:
        full_env.update(env)
    proc = subprocess.run([HPM_SIGN, *map(str, args)], capture_output=True, text=True,
                          env=full_env, cwd=cwd, timeout=120)
    r = Result(proc)
    # A crash (signal) is never acceptable, whatever the input.
    assert r.rc >= 0, f"hpm-sign died from signal {-r.rc}: {r!r}"
    if check is not None:
        assert r.rc == check, f"expected exit {check}: {r!r}"
    return r


def openssl(*args, **kw):
    return subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True, **kw)


needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")


class Keys:
    """Generates key pairs on demand inside one tmp dir."""

    def __init__(self, d: Path):
        self.d = d
        self._made = {}

    def __call__(self, name="k1", curve="p256"):
        if name not in self._made:
            pem = self.d / f"{name}.pem"
            r = run("keygen", "--out", pem, "--curve", curve, check=OK)
            self._made[name] = (pem, self.d / f"{name}.pub", r.out.strip())
        return self._made[name]


def make_baseline(out, key, kernel, initrd=None, cmdline="console=ttyS0 quiet", version="1.0",
                  svn=3, extra=(), timestamp=1700000000, check=OK):
    args = ["baseline", "--key", key, "--kernel", kernel, "--version", version, "--svn", svn,
            "--out", out, *extra]
    if initrd is not None:
        args += ["--initrd", initrd]
    if cmdline is not None:
        args += ["--cmdline", cmdline]
    env = {"SOURCE_DATE_EPOCH": str(timestamp)} if timestamp is not None else None
    return run(*args, env=env, check=check)


def layout(data: bytes):
    """(tbs_len, sigblock_off, sig_count) of a container."""
    manifest_size = int.from_bytes(data[24:28], "little")
    area = int.from_bytes(data[32:40], "little")
    tbs = HEADER_SIZE + manifest_size
    sig_off = tbs + area
    count = int.from_bytes(data[sig_off + 8:sig_off + 12], "little")
    return tbs, sig_off, count


def flip(path: Path, offset: int, out: Path = None):
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    (out or path).write_bytes(bytes(data))
    return out or path


def files_in(d: Path):
    return sorted(p.name for p in d.iterdir())
