# SPDX-License-Identifier: MIT
"""hpm-sign build --from FILE: a release described by one reviewed file.

The three examples of docs/examples/ build as they are (the baseline's
second key in a SoftHSM2 token, as the example names it) and verify with
the threshold they state; every class of mistake is refused before anything
is read or signed, with FILE:LINE, the [section] and key, and the fix; an
error the builder finds (a missing input) names the option, which is the
key, and nothing is written.  Also: --key repeated on the command line signs
with every key (m-of-n in one step), and the same key twice is refused.
"""
import shutil
from pathlib import Path

import pytest

from hpmtest import IOERR, OK, REPO, USAGE, keygen, patch_payload, sign
from test_pkcs11 import PIN, Token

EXAMPLES = REPO / "docs" / "examples"


@pytest.fixture(scope="module")
def token(tmp_path_factory):
    t = Token(tmp_path_factory.mktemp("softhsm"))
    t.pub = t.keypair("release-b", "03")
    return t


def test_the_examples_build_and_verify(tmp_path, token):
    for f in ("release-baseline.ini", "release-hotpatch.ini", "release-catalog.ini"):
        shutil.copy(EXAMPLES / f, tmp_path / f)
    keygen(tmp_path / "release-a.pem")
    (tmp_path / "vmlinuz-6.1.0-28-amd64").write_bytes(b"MZ" + bytes(range(256)) * 30)
    (tmp_path / "initrd.img-6.1.0-28-amd64").write_bytes(b"\x1f\x8b" + b"initrd" * 200)
    patch_payload(tmp_path / "libssl-fix.bin")
    env = {"SOFTHSM2_CONF": token.env["SOFTHSM2_CONF"], "HPM_PKCS11_PIN": PIN}

    r = sign("build", "--from", tmp_path / "release-baseline.ini", env=env)
    assert "baseline, 2 signing key(s), threshold 2" in r.out
    base = tmp_path / "base-2026.1.hpm"
    a, b = tmp_path / "release-a.pub", token.pub
    sign("verify", "--trust", a, "--trust", b, "--threshold", 2, "--kind", "baseline", base)
    j = sign("inspect", "--json", base).json()
    assert j["manifest"]["version"] == "2026.1" and j["manifest"]["svn"] == 4
    assert j["manifest"]["timestamp"] == 1767225600 and j["manifest"]["release"] == "planned"
    assert [p["name"] for p in j["payloads"]] == ["kernel", "initrd", "cmdline"]
    assert [s["key_id"] for s in j["signatures"]] == [sign("keyid", a).out.strip(), sign("keyid", b).out.strip()]

    # the same file, the same key files: a file key signs deterministically,
    # so the first signature (and the TBS) is the same in a second build
    first = base.read_bytes()
    sign("build", "--from", tmp_path / "release-baseline.ini", env=env)
    assert base.read_bytes()[:j["tbs_size"]] == first[:j["tbs_size"]]

    sign("build", "--from", tmp_path / "release-hotpatch.ini")
    hp = tmp_path / "hp-2026.1-1.hpm"
    h = sign("inspect", "--json", hp).json()["manifest"]
    assert h["target_baseline"] == j["digest"] and h["id"] == "HP-2026.1-1" and h["version"] == "2026.1+hp1"
    sign("verify", "--trust", a, "--kind", "hotpatch", hp)

    sign("build", "--from", tmp_path / "release-catalog.ini")
    c = sign("verify", "--json", "--trust", a, "--kind", "catalog", tmp_path / "catalog.hpm").json()
    assert c["valid"] and c["catalog"]["serial"] == 12
    assert [e["id"] for e in c["catalog"]["entries"]] == ["2026.1", "HP-2026.1-1"]


def test_paths_are_relative_to_the_file_not_the_working_directory(tmp_path):
    d = tmp_path / "rel"
    d.mkdir()
    keygen(d / "k.pem")
    (d / "vmlinuz").write_bytes(b"MZ" * 300)
    (d / "r.ini").write_text("[release]\nkind = baseline\nout = out/b.hpm\ntimestamp = 1\n"
                             "[baseline]\nkernel = vmlinuz\nversion = 1\nsvn = 0\n[signing]\nkey = k.pem\n")
    (d / "out").mkdir()
    sign("build", "--from", "rel/r.ini", cwd=tmp_path)
    sign("verify", "--trust", d / "k.pub", d / "out" / "b.hpm")


BASE = """[release]
kind = baseline
out = b.hpm
timestamp = 1700000000

[baseline]
kernel = vmlinuz
version = 2026.1
svn = 4

[signing]
key = k.pem
"""


def refused(tmp_path, text, check=USAGE):
    f = tmp_path / "r.ini"
    f.write_text(text)
    r = sign("build", "--from", f, check=check)
    assert not (tmp_path / "b.hpm").exists()
    return r.err.replace(str(f), "r.ini")


def edit(old, new, text=BASE):
    assert old in text
    return text.replace(old, new, 1)


@pytest.mark.parametrize("text, says", [
    # unknown keys and sections
    (edit("kernel = vmlinuz", "kernal = vmlinuz"),
     "r.ini:7: [baseline] kernal: unknown key; the keys of [baseline] are kernel, initrd, cmdline, version, svn, "
     "release, detached"),
    (edit("[signing]", "[signer]"), "r.ini:12: [signer]: unknown section; the sections are [release]"),  # its first key
    ("kind = baseline\n" + BASE, "r.ini:1: kind: a key before any section"),
    # values
    (edit("svn = 4", "svn = -1"), "r.ini:9: [baseline] svn = -1: expected an unsigned decimal number"),
    (edit("version = 2026.1", "version = 2026 1"), "r.ini:8: [baseline] version = 2026 1:"),
    (edit("kind = baseline", "kind = kernel"), "r.ini:2: [release] kind = kernel: expected baseline, hotpatch or catalog"),
    (edit("svn = 4", "svn = 4\nrelease = maybe"), "r.ini:10: [baseline] release = maybe: expected planned or unplanned"),
    (edit("svn = 4", "svn = 4\ndetached = perhaps"), "r.ini:10: [baseline] detached = perhaps: expected yes or no"),
    (edit("svn = 4", "svn = 4\ncmdline = a\tb"), "r.ini:10: [baseline] cmdline = a\tb: character 2 is not printable"),
    (edit("key = k.pem", "key = k.pem\nthreshold = 17"), "r.ini:13: [signing] threshold = 17: expected a number of "
                                                         "signers, 1..16"),
    (edit("timestamp = 1700000000", "timestamp = 2026-01-01"),
     "r.ini:4: [release] timestamp = 2026-01-01: a baseline's timestamp is seconds since 1970"),
    (edit("timestamp = 1700000000", "timestamp = yesterday"), "r.ini:4: [release] timestamp = yesterday: expected"),
    (edit("svn = 4", "svn ="), "r.ini:9: [baseline] svn: empty value; give one or remove the line"),
    (edit("svn = 4", "svn = 4\nsvn = 5"), "r.ini:10: [baseline] svn: set twice (first on line 9); keep one"),
    # lines inih cannot read; continuation lines are not allowed
    (edit("svn = 4", "svn = 4\nthis is not ini"), "r.ini:10: not an INI line; write [section] or key = value"),
    (edit("svn = 4", "svn = 4\n   5"), "r.ini:10: not an INI line"),
    # missing fields: the line of the section's first key (none: no line), and an example
    (edit("kind = baseline\n", ""), "r.ini:2: [release] kind: missing; say what this file builds"),
    (edit("out = b.hpm\n", ""), "r.ini:2: [release] out: missing; name the file to write"),
    (edit("kernel = vmlinuz\n", ""), "r.ini:7: [baseline] kernel: missing; name the kernel image"),
    (edit("svn = 4\n", ""), "r.ini:7: [baseline] svn: missing; the security version"),
    (edit("key = k.pem\n", ""), "r.ini: [signing] key: missing; name each signing key"),
    # combinations
    (edit("kind = baseline", "kind = hotpatch"), "r.ini:7: [baseline]: does not apply to kind = hotpatch (line 2)"),
    (BASE + "[catalog]\nserial = 3\n", "r.ini:14: [catalog]: does not apply to kind = baseline"),
    (edit("key = k.pem", "key = k.pem\nthreshold = 2"), "r.ini:13: [signing] threshold = 2: only 1 key(s) sign; add "
                                                        "keys, or sign with the others later"),
])
def test_mistakes_are_refused_with_file_line_field_and_fix(tmp_path, text, says):
    err = refused(tmp_path, text)
    assert says in err, err
    assert err.startswith("hpm-sign build: r.ini")


@pytest.mark.parametrize("section, says", [
    ("[hotpatch]\nbaseline = b.hpm\nseq = 0\n", "r.ini:8: [hotpatch] seq = 0: expected a decimal number 1.."),
    ("[hotpatch]\nclassification = urgent\n", "[hotpatch] classification = urgent: expected critical, security or other"),
    ("[hotpatch]\nid = KB 1\n", "[hotpatch] id = KB 1:"),
    ("[hotpatch]\npayload = Bad_Name=x.bin\n", "[hotpatch] payload = Bad_Name=x.bin: payload name 'Bad_Name'"),
    ("[hotpatch]\nbaseline = b.hpm\nseq = 1\nclassification = other\nid = X\n",
     "r.ini:7: [hotpatch] payload: missing; a hotpatch carries at least one payload"),
    ("[hotpatch]\nkernel-build-id = 6a2\n", "[hotpatch] kernel-build-id = 6a2: expected 2 to 128 hex digits"),
    ("[hotpatch]\nkernel-build-id = zz\n", "[hotpatch] kernel-build-id = zz: expected 2 to 128 hex digits"),
    ("[hotpatch]\nbaseline = b.hpm\nseq = 1\nclassification = other\nid = X\nkernel-module = lp.ko\n",
     "r.ini:11: [hotpatch] kernel-build-id: missing; the kernel-module is for one kernel build"),
    ("[hotpatch]\nbaseline = b.hpm\nseq = 1\nclassification = other\nid = X\npayload = p.bin\n"
     "kernel-release = 6.1.0-57-amd64\n",
     "r.ini:12: [hotpatch] kernel-release: describes a kernel-module; give kernel-module = FILE.ko"),
    ("[catalog]\nserial = 0\n", "[catalog] serial = 0: expected a number 1.."),
    ("[catalog]\nexpires = soon\n", "[catalog] expires = soon: expected a time (as for timestamp) or +DAYS"),
    ("[catalog]\nserial = 1\nexpires = +3\n", "[catalog] entry: missing; list each release"),
])
def test_hotpatch_and_catalog_fields(tmp_path, section, says):
    kind = "hotpatch" if "hotpatch" in section else "catalog"
    text = f"[release]\nkind = {kind}\nout = b.hpm\n\n\n{section}[signing]\nkey = k.pem\n"
    err = refused(tmp_path, text)
    assert says in err, err


def test_nul_byte_and_usage(tmp_path):
    f = tmp_path / "r.ini"
    f.write_bytes(b"[release]\nkind = base\0line\n")
    assert "r.ini: a NUL byte at offset 21: not a text file" in sign("build", "--from", f, check=USAGE).err
    assert "missing --from FILE" in sign("build", check=USAGE).err
    assert sign("build", "--from", tmp_path / "none.ini", check=IOERR).err.startswith("hpm-sign build: ")
    assert sign("build", "--help").out.startswith("Usage: hpm-sign build --from FILE")


def test_builder_errors_name_the_key_and_write_nothing(tmp_path):
    keygen(tmp_path / "k.pem")
    err = refused(tmp_path, BASE, check=IOERR)  # no vmlinuz beside the file
    assert f"{tmp_path}/vmlinuz" in err and "--kernel" in err
    assert "r.ini: nothing was written; the error above names the option (= the key of the release file)" in err


def test_key_repeated_on_the_command_line_signs_with_every_key(tmp_path):
    a, b = tmp_path / "a.pem", tmp_path / "b.pem"
    ka, kb = keygen(a), keygen(b)
    kern = tmp_path / "vmlinuz"
    kern.write_bytes(b"MZ" * 300)
    out = tmp_path / "b.hpm"
    r = sign("baseline", "--key", a, "--key", b, "--kernel", kern, "--version", "1", "--svn", 1,
             "--timestamp", 1, "--out", out)
    assert f"signed by key {ka}" in r.out and f"signed by key {kb}" in r.out
    sign("verify", "--trust", a.with_suffix(".pub"), "--trust", b.with_suffix(".pub"), "--threshold", 2, out)
    copy = tmp_path / "a-again.pem"
    shutil.copy(a, copy)
    r = sign("baseline", "--key", a, "--key", copy, "--kernel", kern, "--version", "1", "--svn", 1,
             "--timestamp", 1, "--out", tmp_path / "c.hpm", check=USAGE)
    assert f"--key {a} and --key {copy} are the same key" in r.err
    r = sign("baseline", "--key", a, "--kernel", kern, "--version", "1", "--svn", 1, "--out", a, check=USAGE)
    assert f"--out {a} is the same file as --key {a}" in r.err


def livepatch_object(path, vermagic="6.1.0-57-amd64 SMP preempt mod_unload modversions ", seq=1):
    """A relocatable x86-64 object whose .modinfo says what a livepatch
    module built by tools/kpatch-template says: enough for hpm-sign's checks
    (the real module build and load: firmware-tests/test_kernel_hotpatch.py)."""
    import subprocess
    info = f"name=hpm_kp_{seq}\\0vermagic={vermagic}\\0livepatch=Y\\0hpm_sequence={seq}"
    src = path.with_suffix(".c")
    src.write_text(f'__attribute__((section(".modinfo"), used)) static const char modinfo[] = "{info}";\n')
    subprocess.run(["gcc", "-c", "-o", str(path), str(src)], check=True)


def test_hotpatch_with_a_kernel_part_builds_as_the_command_does(tmp_path):
    keygen(tmp_path / "k.pem")
    (tmp_path / "vmlinuz").write_bytes(b"MZ" * 300)
    sign("baseline", "--key", tmp_path / "k.pem", "--kernel", tmp_path / "vmlinuz", "--version", "2026.1",
         "--svn", 1, "--timestamp", 1, "--out", tmp_path / "b.hpm")
    livepatch_object(tmp_path / "lp.ko")
    patch_payload(tmp_path / "p.bin")
    bid = "6a2b4ac7" * 5
    (tmp_path / "r.ini").write_text(
        "[release]\nkind = hotpatch\nout = hp.hpm\ntimestamp = 100\n\n"
        "[hotpatch]\nbaseline = b.hpm\nseq = 1\nclassification = security\nid = HP-1\n"
        f"payload = p.bin\nkernel-module = lp.ko\nkernel-build-id = {bid}\nkernel-release = 6.1.0-57-amd64\n\n"
        "[signing]\nkey = k.pem\n")
    sign("build", "--from", tmp_path / "r.ini")
    sign("hotpatch", "--key", tmp_path / "k.pem", "--baseline", tmp_path / "b.hpm", "--seq", 1,
         "--classification", "security", "--id", "HP-1", "--payload", tmp_path / "p.bin",
         "--kernel-module", tmp_path / "lp.ko", "--kernel-build-id", bid, "--kernel-release", "6.1.0-57-amd64",
         "--timestamp", 100, "--out", tmp_path / "direct.hpm")
    assert (tmp_path / "hp.hpm").read_bytes() == (tmp_path / "direct.hpm").read_bytes()
    pl = sign("inspect", "--json", tmp_path / "hp.hpm").json()["payloads"]
    k = [p["kernel"] for p in pl if p.get("kernel")][0]
    assert k["release"] == "6.1.0-57-amd64" and k["build_id"] == bid and k["module"] == "hpm_kp_1", k
    # the module's own checks still apply: a release that is not the vermagic's
    t = (tmp_path / "r.ini").read_text().replace("kernel-release = 6.1.0-57-amd64", "kernel-release = 6.1.0-58-amd64")
    (tmp_path / "r.ini").write_text(t)
    r = sign("build", "--from", tmp_path / "r.ini", check=1)
    assert "built for kernel 6.1.0-57-amd64 (vermagic), not --kernel-release 6.1.0-58-amd64" in r.err, r
