# SPDX-License-Identifier: MIT
"""Fixtures of the diff-mode tests of hpm-patchgen (project.py builds the
small crafted programs).  Helpers: tests/hpmtest.py."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: hpmtest
