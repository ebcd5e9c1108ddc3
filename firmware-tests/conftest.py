# SPDX-License-Identifier: MIT
"""The firmware tests boot the real hpmboot.efi and Linux under QEMU + OVMF
(hpmvm.py, lifecycle_vm.py, demo_vm.py).  Paths, running tools, signing and
digests: tests/hpmtest.py, put on sys.path here."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
