# SPDX-License-Identifier: MIT
"""A small C project built the way a distribution builds one (a compile
database of exact commands, objects linked into one program with a
build-id), patched with a unified diff and turned into a payload by
`hpm-patchgen diff`; and a reader of the payload's function table
(docs/hotpatch-payload.md) for the assertions."""
import json
import os
import shutil
import subprocess
from pathlib import Path

from hpmtest import PATCHGEN, SOURCE_DATE_EPOCH, digest, keygen, make_baseline, run, sign

PG_SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "hpm-patchgen-json.schema.json"


def pg_json(r):
    """The one JSON document hpm-patchgen --json printed (r: a Result), checked
    against docs/hpm-patchgen-json.schema.json and the exit status."""
    import jsonschema  # Debian's python3-jsonschema
    lines = r.out.splitlines()
    assert len(lines) == 1, r
    def no_duplicates(pairs):
        keys = [k for k, _ in pairs]
        assert len(keys) == len(set(keys)), keys
        return dict(pairs)
    doc = json.loads(lines[0], object_pairs_hook=no_duplicates)
    errors = list(jsonschema.Draft202012Validator(json.loads(PG_SCHEMA.read_text())).iter_errors(doc))
    assert not errors, [(list(e.path), e.message[:300]) for e in errors[:5]]
    assert (doc["error"] is None) == (r.returncode == 0), r
    if doc["error"]:
        assert doc["error"]["exit"] == r.returncode
    return doc

CFLAGS = ["-O2", "-g"]


class Project:
    """files: {relative path: text}; units: the .c files compiled (in order)."""

    def __init__(self, d: Path, files: dict, cflags=CFLAGS, db_cflags=None, ldflags=(), own_build_id=True):
        self.d = Path(d)
        self.src = self.d / "src"
        self.files = dict(files)
        for rel, text in files.items():
            p = self.src / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text)
        (self.src / "obj").mkdir(exist_ok=True)
        self.units = [r for r in files if r.endswith((".c", ".S"))]
        self.db = self.d / "compile_commands.json"
        db_cflags = cflags if db_cflags is None else db_cflags
        json.dump([{"directory": str(self.src), "file": u,
                    "command": " ".join(["gcc", *db_cflags, "-c", u, "-o", f"obj/{Path(u).stem}.o"])}
                   for u in self.units], self.db.open("w"))
        for u in self.units:
            run("gcc", *cflags, "-c", u, "-o", f"obj/{Path(u).stem}.o", cwd=self.src)
        self.exe = self.src / "prog"
        bid = [f"-Wl,--build-id=0x{os.urandom(20).hex()}"] if own_build_id else ["-Wl,--build-id"]
        run("gcc", *[f"obj/{Path(u).stem}.o" for u in self.units], "-o", "prog", *bid, *ldflags, cwd=self.src)

    def patch(self, name, changes: dict, base=None) -> Path:
        """A -p1 patch that turns files|base into files|base|changes ({rel: new text or None to delete})."""
        a, b = self.d / f"{name}.a", self.d / f"{name}.b"
        for t in (a, b):
            shutil.rmtree(t, ignore_errors=True)
        for rel, text in {**self.files, **(base or {})}.items():
            for t in (a, b):
                (t / rel).parent.mkdir(parents=True, exist_ok=True)
                (t / rel).write_text(text)
        for rel, text in changes.items():
            if text is None:
                (b / rel).unlink()
            else:
                (b / rel).parent.mkdir(parents=True, exist_ok=True)
                (b / rel).write_text(text)
        p = subprocess.run(["diff", "-ruN", a.name, b.name], cwd=self.d, capture_output=True, text=True)
        assert p.returncode == 1, p
        out = self.d / f"{name}.patch"
        out.write_text(p.stdout)
        return out

    def diff_json(self, *patches, out=None, check=0, extra=()):
        """diff with --json: (result, the document)."""
        r, out = self.diff(*patches, out=out, check=check, extra=("--json", *extra))
        return r, pg_json(r)

    def diff(self, *patches, out=None, check=0, extra=()):
        out = out or self.d / "fix.payload"
        db = [] if "--build-cmd" in extra else ["--compile-db", self.db]
        args = [PATCHGEN, "diff", "--binary", self.exe, "--source", self.src, *db, "--out", out, *extra]
        for p in patches:
            args += ["--patch", p]
        r = run(*args, check=check)
        return r, out


def payload_functions(path: Path):
    """[(name, mode)] of a payload's function table (mode 3: a call site)."""
    b = Path(path).read_bytes()
    assert b[:8] == b"HPMPATCH"
    n = int.from_bytes(b[24:28], "little")
    out = []
    for i in range(n):
        f = b[112 + 128 * i:112 + 128 * (i + 1)]
        out.append((f[64:128].rstrip(b"\0").decode(), f[24]))
    return out


def inlined_counts(path: Path):
    """{name: (inlined, inlined_stale)} of a payload's redirected functions."""
    b = Path(path).read_bytes()
    n = int.from_bytes(b[24:28], "little")
    out = {}
    for i in range(n):
        f = b[112 + 128 * i:112 + 128 * (i + 1)]
        if f[24] != 3:
            out[f[64:128].rstrip(b"\0").decode()] = (int.from_bytes(f[28:30], "little"), int.from_bytes(f[30:32], "little"))
    return out


def replaced(path: Path):
    """The names of the functions a payload redirects (not counting call sites)."""
    return sorted(n for n, mode in payload_functions(path) if mode != 3)


def payload_relocs(path: Path):
    """[(offset, type, base, value)] of a payload's relocations."""
    b = Path(path).read_bytes()
    nf = int.from_bytes(b[24:28], "little")
    nr = int.from_bytes(b[28:32], "little")
    at = 112 + 128 * nf
    out = []
    for i in range(nr):
        r = b[at + 16 * i:at + 16 * (i + 1)]
        out.append((int.from_bytes(r[0:4], "little"), r[4], r[5], int.from_bytes(r[8:16], "little", signed=True)))
    return out


def local_symbol(exe: Path, file: str, name: str):
    """The address of the static `name` of source file `file` in exe (.symtab order: FILE, then its locals)."""
    out = run("readelf", "-sW", exe).stdout
    cur = None
    for line in out.splitlines():
        w = line.split()
        if len(w) >= 8 and w[3] == "FILE":
            cur = w[7]
        elif len(w) >= 8 and w[4] == "LOCAL" and w[7] == name and cur == file:
            return int(w[1], 16)
    raise AssertionError(f"no static {name} of {file} in {exe}")


def signed(tmp_path, payload, name="fix"):
    """A trust store, a baseline and hotpatch KB-1 carrying payload (as NAME),
    signed; returns the hotpatch and the environment hpm applies it with."""
    trust = tmp_path / "trust"
    trust.mkdir(exist_ok=True)
    keygen(tmp_path / "k.pem", trust / "k.pub")
    (tmp_path / "kern").write_bytes(os.urandom(512))
    make_baseline(tmp_path / "base.hpm", tmp_path / "k.pem", tmp_path / "kern", cmdline=None, version="1.0", svn=1)
    hp = tmp_path / "KB-1.hpm"
    sign("hotpatch", "--key", tmp_path / "k.pem", "--baseline", tmp_path / "base.hpm", "--seq", 1,
         "--classification", "security", "--id", "KB-1", "--payload", f"{name}={payload}", "--out", hp,
         env={"SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH})
    env = {"HPM_TRUST_DIR": trust, "HPM_STATE_DIR": tmp_path / "state", "HPM_BASELINE": digest(tmp_path / "base.hpm")}
    return hp, env
