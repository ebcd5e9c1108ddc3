# SPDX-License-Identifier: MIT
"""Fixtures of the hotpatch tests: one workspace per session (workspace.py)
and a fresh hpm state directory per test.  Helpers: tests/hpmtest.py."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: hpmtest
from workspace import Workspace  # noqa: E402


@pytest.fixture(scope="session")
def ws(tmp_path_factory):
    return Workspace(tmp_path_factory.mktemp("hotpatch"))


@pytest.fixture
def state(tmp_path):
    return tmp_path / "state"
