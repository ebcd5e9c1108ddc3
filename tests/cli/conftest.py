# SPDX-License-Identifier: MIT
"""Fixtures for the hpm-sign CLI tests (helpers: tests/hpmtest.py).

The binary is $HPM_SIGN, else $HPM_BUILD/tools/hpm-sign (run `make` first).
Every test works in its own tmp dir; keys are generated at test time.
"""
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: hpmtest
from hpmtest import HPM_SIGN, OK, make_baseline, sign  # noqa: E402


class Keys:
    """Generates key pairs on demand inside one tmp dir: keys(name, curve)
    is (private PEM, public PEM, key ID)."""

    def __init__(self, d: Path):
        self.d = d
        self._made = {}

    def __call__(self, name="k1", curve="p256"):
        if name not in self._made:
            pem = self.d / f"{name}.pem"
            r = sign("keygen", "--out", pem, "--curve", curve, check=OK)
            self._made[name] = (pem, self.d / f"{name}.pub", r.out.strip())
        return self._made[name]


@pytest.fixture(scope="session", autouse=True)
def _binary_exists():
    assert os.access(HPM_SIGN, os.X_OK), f"{HPM_SIGN} not built: run `make` (or set HPM_SIGN)"


@pytest.fixture
def keys(tmp_path):
    d = tmp_path / "keys"
    d.mkdir()
    return Keys(d)


@pytest.fixture
def inputs(tmp_path):
    """A fake kernel and initrd with fixed contents."""
    kernel = tmp_path / "vmlinuz"
    initrd = tmp_path / "initrd.img"
    kernel.write_bytes(b"MZ" + bytes(range(256)) * 40)
    initrd.write_bytes(b"\x1f\x8b" + b"initrd-data-" * 300)
    return kernel, initrd


@pytest.fixture
def baseline(tmp_path, keys, inputs):
    """A signed baseline (kernel, initrd, cmdline, embedded) and its key."""
    pem, pub, kid = keys("release")
    out = tmp_path / "slot-a.hpm"
    make_baseline(out, pem, *inputs)
    return out, pem, pub, kid
