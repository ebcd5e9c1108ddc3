# SPDX-License-Identifier: MIT
"""The one helper module of the Python tests (tests/cli, tests/hotpatch,
tests/lifecycle, firmware-tests; each suite's conftest.py puts this folder
on sys.path): where the build is, running hpm and the release tools, signing
baselines, digests, and the container layout the tests tamper with.

The build folder is $HPM_BUILD, else <repo>/build (run `make` first);
$HPM and $HPM_SIGN override single binaries (a sanitizer build, say).
$HPM_FIGURES names the JSON-lines file the long scenarios append their
figures to (Figures; `make check-long` sums it up).
"""
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BUILD = Path(os.environ.get("HPM_BUILD") or REPO / "build")
DEPS = Path(os.environ.get("HPM_DEPS") or REPO / ".deps")
HPM = Path(os.environ.get("HPM") or BUILD / "runtime" / "hpm")
HPM_SIGN = Path(os.environ.get("HPM_SIGN") or BUILD / "tools" / "hpm-sign")
PATCHGEN = BUILD / "tools" / "hpm-patchgen"
# The driver of the etcd client the fleet tests run (tests/fleet/etcdctl_hpm.c).
ETCDCTL_HPM = BUILD / "san" / "tests" / "fleet" / "etcdctl_hpm"
FIGURES = os.environ.get("HPM_FIGURES")

# The boot images mk/hpmboot.mk makes (docs/operations.md "Boot images"):
# plain `make` builds the development images (trusting BUILD/keys/dev-release);
# the release images exist only after `make hpmboot-release HPM_TRUST_KEYS=...`.
EFI_DIR = BUILD / "efi"
HPMBOOT_DEV = EFI_DIR / "hpmboot-dev.efi"
HPMBOOT_DEV_SIGNED = EFI_DIR / "hpmboot-dev.signed.efi"


def release_images(d):
    """(unsigned, signed): the release images `make hpmboot-release
    HPMBOOT_RELEASE_DIR=d` writes (default d: EFI_DIR)."""
    return Path(d) / "hpmboot.efi", Path(d) / "hpmboot.signed.efi"


HPMBOOT_RELEASE, HPMBOOT_RELEASE_SIGNED = release_images(EFI_DIR)

# The vendor GUID of hpm's UEFI variables (docs/boot-interface.md).
GUID = "28b3057a-0599-4bcf-861b-d81782718919"
# Exit codes of hpm and hpm-sign (docs/hpm-sign.md, docs/operations.md).
OK, REFUSED, USAGE, IOERR = 0, 1, 2, 3
# The timestamp signed containers get unless a test says otherwise.
SOURCE_DATE_EPOCH = "1700000000"

# Container layout numbers (core/include/hpm/format.h).
HEADER_SIZE = 64
SIG_HEADER_SIZE = 16
SIG_ENTRY_SIZE = 144
SIG_OFF_KEYID = 8
SIG_OFF_DER = 40


def environ(env=None):
    """The environment a tool runs in: ours without SOURCE_DATE_EPOCH (a
    test sets it when it wants fixed timestamps), plus env (name -> value;
    None removes the name)."""
    full = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
    for k, v in (env or {}).items():
        if v is None:
            full.pop(k, None)
        else:
            full[k] = str(v)
    return full


class Result(subprocess.CompletedProcess):
    """A finished command: returncode/stdout/stderr, also as rc/out/err."""

    rc = property(lambda self: self.returncode)
    out = property(lambda self: self.stdout)
    err = property(lambda self: self.stderr)

    def json(self):
        return json.loads(self.stdout)

    def __repr__(self):
        return f"{self.args}: exit {self.returncode}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


JSON_SCHEMA = REPO / "docs" / "hpm-json.schema.json"
_json_validator = None


def check_hpm_json(r):
    """What `hpm ... --json` printed (r: a Result) is one JSON document valid
    against docs/hpm-json.schema.json, with the command's exit status in an
    error document; returns it."""
    global _json_validator
    import jsonschema  # Debian's python3-jsonschema
    if _json_validator is None:
        schema = json.loads(JSON_SCHEMA.read_text())
        _json_validator = jsonschema.Draft202012Validator(schema)
    lines = r.stdout.splitlines()
    assert len(lines) == 1, f"--json: expected one line of JSON on stdout: {r!r}"
    doc = json.loads(lines[0])
    errors = sorted(_json_validator.iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, f"--json output does not follow docs/hpm-json.schema.json: " \
        f"{[(list(e.path), e.message[:300]) for e in errors[:5]]}: {r!r}"
    if r.returncode != 0 and "error" not in doc:
        # a command that acted reports its outcomes in its own document
        # (docs/json.md "Exit status"); anything else answers with "error"
        outcome = doc.get("actions") or doc.get("failed") or doc.get("result") in ("already", "refused")
        assert outcome, f"exit {r.returncode} without an error document or outcomes: {r!r}"
    if "error" in doc:
        assert doc["error"]["exit"] == r.returncode, r
    return doc


def run(*cmd, env=None, check=OK, timeout=120, cwd=None, input=None):
    """Run cmd (any str()-able words) in environ(env), text in and out.
    check: the exit status it must end with (None: any).  Death by a signal
    always fails the test: no input may crash a tool.  hpm with --json (and
    not --help) must print a document of docs/hpm-json.schema.json."""
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=environ(env),
                       cwd=cwd, timeout=timeout, input=input)
    r = Result(p.args, p.returncode, p.stdout, p.stderr)
    assert r.returncode >= 0, f"died from signal {-r.returncode}: {r!r}"
    words = [str(c) for c in cmd[1:]]
    words = words[:words.index("--")] if "--" in words else words
    if Path(str(cmd[0])) == HPM and "--json" in words and not {"--help", "-h", "--version"} & set(words):
        check_hpm_json(r)
    if check is not None:
        assert r.returncode == check, f"expected exit {check}: {r!r}"
    return r


def sign(*args, **kw):
    """hpm-sign with args (run's keywords)."""
    return run(HPM_SIGN, *args, **kw)


def hpm(*args, **kw):
    """hpm with args (run's keywords)."""
    kw.setdefault("timeout", 60)
    return run(HPM, *args, **kw)


def make_baseline(out, key, kernel, initrd=None, cmdline="console=ttyS0 quiet", version="1.0",
                  svn=3, detached=False, extra=(), timestamp=SOURCE_DATE_EPOCH, check=OK):
    """hpm-sign baseline; timestamp None leaves the time to hpm-sign."""
    args = ["baseline", "--key", key, "--kernel", kernel, "--version", version, "--svn", svn,
            "--out", out, *extra]
    if initrd is not None:
        args += ["--initrd", initrd]
    if cmdline is not None:
        args += ["--cmdline", cmdline]
    if detached:
        args.append("--detached")
    env = {"SOURCE_DATE_EPOCH": timestamp} if timestamp is not None else None
    return sign(*args, env=env, check=check)


def keygen(out, pub=None, curve=None):
    """A key pair: out (private) and pub (default: out with .pub); returns the key ID."""
    args = ["keygen", "--out", out] + (["--pub", pub] if pub else []) + (["--curve", curve] if curve else [])
    return sign(*args).stdout.strip()


def make_boot_image(out, pubs, threshold=1, development=False, filler=b"\x90" * 4000):
    """A stand-in for hpmboot.efi as `hpm setup` reads it: a minimal PE file
    whose `.hpmkeys` section holds the key record scripts/hpmboot-trust.sh
    writes (docs/format.md "The boot image's key record"): pubs are PEM
    public key files; filler makes images differ.  Not bootable."""
    import struct
    rec = b"HPMKEYS\0" + struct.pack("<IIII", 1, threshold, len(pubs), 1 if development else 0)
    for pub in pubs:
        der = subprocess.run(["openssl", "pkey", "-pubin", "-in", str(pub), "-outform", "DER"],
                             check=True, capture_output=True).stdout
        name = Path(pub).name.encode()
        rec += struct.pack("<HB", len(der), len(name)) + name + der
    raw = (len(rec) + 511) // 512 * 512
    head = bytearray(0x200)
    head[0:2] = b"MZ"
    struct.pack_into("<I", head, 0x3C, 0x40)
    head[0x40:0x44] = b"PE\0\0"
    struct.pack_into("<HH12xHH", head, 0x44, 0x8664, 1, 0, 0x22)   # machine, 1 section, no optional header
    struct.pack_into("<8sIIII", head, 0x58, b".hpmkeys", len(rec), 0x1000, raw, 0x200)
    Path(out).write_bytes(bytes(head) + rec.ljust(raw, b"\0") + filler)


def digest(container):
    """A container's digest (SHA-256 of its signed bytes), as hpm-sign prints it."""
    out = sign("digest", container).stdout
    m = re.search(r"\b[0-9a-f]{64}\b", out)
    assert m, f"hpm-sign digest printed no digest: {out!r}"
    return m.group(0)


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def layout(data: bytes):
    """(tbs_len, sigblock_off, sig_count) of a container."""
    manifest_size = int.from_bytes(data[24:28], "little")
    area = int.from_bytes(data[32:40], "little")
    tbs = HEADER_SIZE + manifest_size
    sig_off = tbs + area
    count = int.from_bytes(data[sig_off + 8:sig_off + 12], "little")
    return tbs, sig_off, count


def patch_payload(path: Path, func="fix", build_id=b"\x11" * 20, code=b"\xc3" * 16):
    """A minimal well-formed hotpatch payload (docs/hotpatch-payload.md): one
    prologue-mode function at 0x1000 of a binary with build_id, replaced by
    code.  For tests of signing and distribution, where no process runs it
    (hpm-sign refuses anything else as --payload)."""
    header = bytearray(112)
    header[0:8] = b"HPMPATCH"
    for off, v in ((8, 2), (12, 112), (20, len(build_id)), (24, 1), (28, 0), (32, len(code)), (36, len(code))):
        header[off:off + 4] = v.to_bytes(4, "little")
    header[48:48 + len(build_id)] = build_id
    fn = bytearray(128)
    fn[0:8] = (0x1000).to_bytes(8, "little")  # entry
    fn[8:16] = (0x1000).to_bytes(8, "little")  # region
    fn[16:20] = (64).to_bytes(4, "little")  # size
    fn[24], fn[25] = 2, 5  # prologue mode, 5 bytes rewritten
    fn[32:37] = b"\x55\x48\x89\xe5\x90"  # the original bytes
    fn[64:64 + len(func)] = func.encode()
    Path(path).write_bytes(bytes(header) + bytes(fn) + code)
    return Path(path)


def sign_with_openssl(container: Path, key: Path, md="sha256"):
    """Replace container's signature block with one ECDSA signature that
    openssl makes over its TBS (header || manifest) with key (PEM, P-256 for
    sha256, P-384 for sha384), written here from docs/format.md without
    hpm-sign's checks: for containers hpm-sign refuses to sign."""
    data = Path(container).read_bytes()
    tbs_len, sig_off, _ = layout(data)
    tbs = Path(container).with_suffix(".tbs")
    tbs.write_bytes(data[:tbs_len])
    der = openssl("dgst", f"-{md}", "-sign", key, tbs).stdout
    spki = openssl("pkey", "-in", key, "-pubout", "-outform", "DER").stdout
    alg = {"sha256": 1, "sha384": 2}[md]
    entry = (alg.to_bytes(2, "little") + len(der).to_bytes(2, "little") + bytes(4)
             + hashlib.sha256(spki).digest() + der.ljust(SIG_ENTRY_SIZE - SIG_OFF_DER, b"\0"))
    block = b"HPMSIGS\0" + (1).to_bytes(4, "little") + bytes(4) + entry
    Path(container).write_bytes(data[:sig_off] + block)
    tbs.unlink()


def rfc3339(t: int) -> str:
    """Seconds since 1970 as hpm's JSON writes times (docs/json.md)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(t)))


def flip(path: Path, offset: int, out: Path = None, mask=0x01):
    """Flip bits of one byte of path's contents, into out (default: in place)."""
    data = bytearray(Path(path).read_bytes())
    data[offset] ^= mask
    (out or path).write_bytes(bytes(data))
    return out or path


def files_in(d: Path):
    return sorted(p.name for p in d.iterdir())


def openssl(*args, **kw):
    return subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True, **kw)


needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")


def replay_command(request, **env):
    """The one shell command that re-runs this test (pytest's request) with
    env (name -> value): the same seeds make the same choices."""
    sets = " ".join(f"{k}={shlex.quote(str(v))}" for k, v in {"HPM_BUILD": BUILD, **env}.items())
    node = f"{request.node.path}::{request.node.name}"
    return f"{sets} {sys.executable} -m pytest -q -p no:cacheprovider {shlex.quote(node)}"


class Figures:
    """The figures of one run of a crash or power-cut scenario: runs done,
    how many kills landed inside a transition, the outcomes (old or new
    state afterwards), and the failures, each with the command that replays
    it.  As a context manager it counts an exception that ends the scenario
    as a failure of the run in progress and appends one JSON line to
    $HPM_FIGURES however the test ends (nothing when that is unset)."""

    def __init__(self, scenario, request, seed, runs, evidence, **replay_env):
        """evidence: the folder of the runs' state (kept when a run fails)."""
        self.replay = replay_command(request, **replay_env)
        self.d = {"scenario": scenario, "test": request.node.name, "seed": seed, "runs": runs,
                  "done": 0, "in_transition": 0, "old": 0, "new": 0, "failures": 0,
                  "failed": [], "replay": self.replay, "evidence": str(evidence)}
        print(f"{scenario}: seed {seed}, {runs} runs; replay: {self.replay}")

    def run_done(self, in_transition, new):
        """One run ended: its kill landed inside a transition (or not) and
        left the new state (or the old one)."""
        self.d["done"] += 1
        self.d["in_transition"] += bool(in_transition)
        self.d["new" if new else "old"] += 1

    def fail(self, run, error, replay=None):
        text = f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else str(error)
        self.d["failures"] += 1
        self.d["failed"].append({"run": run, "error": text[:2000], "replay": replay or self.replay})

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc is not None:
            self.fail(self.d["done"], exc)
        if FIGURES:
            Path(FIGURES).parent.mkdir(parents=True, exist_ok=True)
            with open(FIGURES, "a") as f:
                f.write(json.dumps(self.d, sort_keys=True) + "\n")
        return False
