# SPDX-License-Identifier: MIT
"""Fixtures of the real-program suite (tests/realprog): a signing set-up
(key, trust dir, baseline) per test and a loopback HTTP backend.
Helpers: realprog.py here, tests/hpmtest.py."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: hpmtest

from realprog import Backend, Signer  # noqa: E402


@pytest.fixture
def signer(tmp_path):
    return Signer(tmp_path / "sign")


@pytest.fixture
def backend():
    b = Backend()
    yield b
    b.close()
