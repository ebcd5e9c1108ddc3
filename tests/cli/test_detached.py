# SPDX-License-Identifier: MIT
"""Detached payloads and detached (openssl/HSM) signing."""
import hashlib
import shutil

import pytest

from hpmtest import (OK, REFUSED, USAGE, IOERR, files_in, flip, layout, make_baseline,
                     needs_openssl, openssl, sign)


# ---- detached payloads ----------------------------------------------------

@pytest.fixture
def detached(tmp_path, keys, inputs):
    pem, pub, _ = keys()
    d = tmp_path / "esp"
    d.mkdir()
    out = d / "slot-b.hpm"
    make_baseline(out, pem, *inputs, extra=["--detached"])
    return out, pub


def test_detached_writes_payloads_beside_container(detached, inputs):
    out, pub = detached
    kernel, initrd = inputs
    d = out.parent
    assert files_in(d) == ["slot-b.cmdline", "slot-b.hpm", "slot-b.initrd", "slot-b.kernel"]
    assert (d / "slot-b.kernel").read_bytes() == kernel.read_bytes()
    assert (d / "slot-b.initrd").read_bytes() == initrd.read_bytes()
    assert (d / "slot-b.cmdline").read_bytes() == b"console=ttyS0 quiet"
    j = sign("inspect", "--json", out, check=OK).json()
    assert j["header"]["payload_area_size"] == 0
    assert {p["name"]: p["file"] for p in j["payloads"]} == {
        "kernel": "slot-b.kernel", "initrd": "slot-b.initrd", "cmdline": "slot-b.cmdline"}
    for p in j["payloads"]:
        assert p["embedded"] is False and p["offset"] is None
    assert out.stat().st_size < kernel.stat().st_size


def test_detached_verify_reads_from_container_directory(detached, tmp_path):
    out, pub = detached
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    sign("verify", "--trust", pub, out, cwd=elsewhere, check=OK)
    sign("verify", "--trust", pub, "slot-b.hpm", cwd=out.parent, check=OK)
    j = sign("inspect", "--json", "--trust", pub, out, check=OK).json()
    assert j["verification"]["valid"] is True


def test_detached_missing_file_fails(detached):
    out, pub = detached
    (out.parent / "slot-b.initrd").unlink()
    r = sign("verify", "--trust", pub, out, check=REFUSED)
    assert "payloads/initrd" in r.err and "slot-b.initrd" in r.err
    assert "No such file" in r.err
    assert sign("verify", "--json", "--trust", pub, out, check=None).json()["result"] == "payload_missing"


def test_detached_altered_file_fails(detached):
    out, pub = detached
    flip(out.parent / "slot-b.kernel", 100)
    r = sign("verify", "--trust", pub, out, check=REFUSED)
    assert "payloads/kernel" in r.err and "slot-b.kernel" in r.err and "SHA-256" in r.err
    assert sign("verify", "--json", "--trust", pub, out, check=None).json()["result"] == "payload_hash"


def test_detached_resized_file_fails(detached):
    out, pub = detached
    with open(out.parent / "slot-b.cmdline", "ab") as f:
        f.write(b" init=/bin/sh")
    r = sign("verify", "--trust", pub, out, check=REFUSED)
    assert "payloads/cmdline" in r.err and "slot-b.cmdline" in r.err


def test_detached_container_moved_without_payloads(detached, tmp_path):
    out, pub = detached
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    shutil.copy(out, lonely / "slot-b.hpm")
    r = sign("verify", "--trust", pub, lonely / "slot-b.hpm", check=REFUSED)
    assert "payloads/kernel" in r.err


def test_detached_failure_leaves_no_payload_files(tmp_path, keys, inputs):
    pem, _, _ = keys()
    d = tmp_path / "esp"
    d.mkdir()
    (d / "slot-c.hpm").mkdir()  # the container cannot be renamed over a directory
    make_baseline(d / "slot-c.hpm", pem, *inputs, extra=["--detached"], check=IOERR)
    assert files_in(d) == ["slot-c.hpm"]
    assert files_in(d / "slot-c.hpm") == []


def test_detached_name_without_hpm_suffix(tmp_path, keys, inputs):
    pem, pub, _ = keys()
    make_baseline(tmp_path / "image", pem, inputs[0], cmdline=None, extra=["--detached"])
    assert (tmp_path / "image.kernel").exists()
    sign("verify", "--trust", pub, tmp_path / "image", check=OK)


def test_detached_bad_output_name(tmp_path, keys, inputs):
    pem, _, _ = keys()
    r = make_baseline(tmp_path / "slot a.hpm", pem, *inputs, extra=["--detached"], check=USAGE)
    assert "slot a.kernel" in r.err
    r = make_baseline(tmp_path / ("x" * 60 + ".hpm"), pem, *inputs, extra=["--detached"],
                      check=USAGE)
    assert "63" in r.err
    assert files_in(tmp_path) == sorted(["keys", "vmlinuz", "initrd.img"])


def test_detached_is_deterministic(tmp_path, keys, inputs):
    pem, _, _ = keys()
    for d in ["a", "b"]:
        (tmp_path / d).mkdir()
        make_baseline(tmp_path / d / "s.hpm", pem, *inputs, extra=["--detached"])
    assert (tmp_path / "a" / "s.hpm").read_bytes() == (tmp_path / "b" / "s.hpm").read_bytes()


# ---- digest -------------------------------------------------------------

def test_digest_is_sha256_of_tbs(baseline, tmp_path):
    out, _, _, _ = baseline
    data = out.read_bytes()
    tbs, _, _ = layout(data)
    r = sign("digest", "--tbs", tmp_path / "tbs.bin", out, check=OK)
    assert r.out.strip() == hashlib.sha256(data[:tbs]).hexdigest()
    assert (tmp_path / "tbs.bin").read_bytes() == data[:tbs]
    assert r.out.strip() == sign("inspect", "--json", out, check=None).json()["digest"]
    r = sign("digest", "--alg", "sha384", out, check=OK)
    assert r.out.strip() == hashlib.sha384(data[:tbs]).hexdigest()


def test_digest_errors(baseline, tmp_path):
    out, _, _, _ = baseline
    assert "--alg" in sign("digest", "--alg", "md5", out, check=USAGE).err
    junk = tmp_path / "junk"
    junk.write_bytes(b"\0" * 200)
    r = sign("digest", "--tbs", tmp_path / "tbs.bin", junk, check=REFUSED)
    assert "not an hpm container" in r.err
    assert not (tmp_path / "tbs.bin").exists()
    assert "No such file" in sign("digest", tmp_path / "none.hpm", check=IOERR).err


# ---- openssl / HSM signing --------------------------------------------------

def _openssl_key(d, curve):
    key, pub = d / f"hsm-{curve}.pem", d / f"hsm-{curve}.pub"
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", f"ec_paramgen_curve:{curve}", "-out", key)
    openssl("pkey", "-in", key, "-pubout", "-out", pub)
    der = openssl("pkey", "-pubin", "-in", pub, "-outform", "DER").stdout
    return key, pub, hashlib.sha256(der).hexdigest()


@pytest.fixture
def unsigned(tmp_path, inputs):
    out = tmp_path / "u.hpm"
    sign("baseline", "--unsigned", "--kernel", inputs[0], "--initrd", inputs[1],
        "--version", "3.1", "--svn", "9", "--timestamp", "1700000000", "--out", out, check=OK)
    return out


@needs_openssl
@pytest.mark.parametrize("curve,md", [("P-256", "sha256"), ("P-384", "sha384")])
def test_openssl_detached_signing(tmp_path, unsigned, curve, md):
    key, pub, kid = _openssl_key(tmp_path, curve)
    sign("verify", "--trust", pub, unsigned, check=REFUSED)
    tbs = tmp_path / "tbs.bin"
    digest = sign("digest", "--alg", md, "--tbs", tbs, unsigned, check=OK).out.strip()
    assert digest == hashlib.new(md, tbs.read_bytes()).hexdigest()
    openssl("dgst", f"-{md}", "-sign", key, "-out", tmp_path / "sig.der", tbs)
    r = sign("attach", "--pub", pub, "--sig", tmp_path / "sig.der", unsigned, check=OK)
    assert kid in r.out
    j = sign("verify", "--json", "--trust", pub, unsigned, check=OK).json()
    alg = "ecdsa-p256-sha256" if curve == "P-256" else "ecdsa-p384-sha384"
    assert j["signatures"] == [{"index": 0, "alg": alg, "key_id": kid, "status": "valid"}]
    # The same signature a second time is refused.
    before = unsigned.read_bytes()
    r = sign("attach", "--pub", pub, "--sig", tmp_path / "sig.der", unsigned, check=REFUSED)
    assert "already signed" in r.err
    assert unsigned.read_bytes() == before


@needs_openssl
def test_openssl_signature_added_to_signed_container(baseline, tmp_path):
    out, _, pub, kid = baseline
    key, hsm_pub, hsm_kid = _openssl_key(tmp_path, "P-384")
    sign("digest", "--tbs", tmp_path / "tbs.bin", out, check=OK)
    openssl("dgst", "-sha384", "-sign", key, "-out", tmp_path / "sig.der", tmp_path / "tbs.bin")
    out2 = tmp_path / "two.hpm"
    before = out.read_bytes()
    sign("attach", "--pub", hsm_pub, "--sig", tmp_path / "sig.der", "--out", out2, out, check=OK)
    assert out.read_bytes() == before
    j = sign("verify", "--json", "--trust", pub, "--trust", hsm_pub, "--threshold", "2", out2,
            check=OK).json()
    assert [s["key_id"] for s in j["signatures"]] == [kid, hsm_kid]


@needs_openssl
def test_attach_wrong_key_refused(tmp_path, unsigned):
    key_a, pub_a, _ = _openssl_key(tmp_path, "P-256")
    (tmp_path / "b").mkdir()
    _, pub_b, kid_b = _openssl_key(tmp_path / "b", "P-256")
    sign("digest", "--tbs", tmp_path / "tbs.bin", unsigned, check=OK)
    openssl("dgst", "-sha256", "-sign", key_a, "-out", tmp_path / "sig.der", tmp_path / "tbs.bin")
    before = unsigned.read_bytes()
    r = sign("attach", "--pub", pub_b, "--sig", tmp_path / "sig.der", unsigned, check=REFUSED)
    assert "does not verify" in r.err and kid_b in r.err and "refusing" in r.err
    assert unsigned.read_bytes() == before


@needs_openssl
def test_attach_wrong_hash_refused(tmp_path, unsigned):
    key, pub, _ = _openssl_key(tmp_path, "P-384")
    sign("digest", "--tbs", tmp_path / "tbs.bin", unsigned, check=OK)
    openssl("dgst", "-sha256", "-sign", key, "-out", tmp_path / "sig.der", tmp_path / "tbs.bin")
    r = sign("attach", "--pub", pub, "--sig", tmp_path / "sig.der", unsigned, check=REFUSED)
    assert "SHA-384" in r.err


@needs_openssl
def test_attach_signature_over_other_bytes_refused(tmp_path, unsigned):
    key, pub, _ = _openssl_key(tmp_path, "P-256")
    (tmp_path / "other.bin").write_bytes(b"something else")
    openssl("dgst", "-sha256", "-sign", key, "-out", tmp_path / "sig.der", tmp_path / "other.bin")
    sign("attach", "--pub", pub, "--sig", tmp_path / "sig.der", unsigned, check=REFUSED)


def _der_to_raw(der, n):
    assert der[0] == 0x30
    i = 2
    out = b""
    for _ in range(2):
        assert der[i] == 0x02
        ln = der[i + 1]
        v = der[i + 2:i + 2 + ln].lstrip(b"\0")
        out += v.rjust(n, b"\0")
        i += 2 + ln
    return out


@needs_openssl
@pytest.mark.parametrize("curve,md,n", [("P-256", "sha256", 32), ("P-384", "sha384", 48)])
def test_attach_raw_signature(tmp_path, unsigned, curve, md, n):
    key, pub, _ = _openssl_key(tmp_path, curve)
    sign("digest", "--tbs", tmp_path / "tbs.bin", unsigned, check=OK)
    openssl("dgst", f"-{md}", "-sign", key, "-out", tmp_path / "sig.der", tmp_path / "tbs.bin")
    raw = _der_to_raw((tmp_path / "sig.der").read_bytes(), n)
    (tmp_path / "sig.raw").write_bytes(raw)
    r = sign("attach", "--pub", pub, "--sig", tmp_path / "sig.raw", unsigned, check=REFUSED)
    assert "--sig-format raw" in r.err
    sign("attach", "--pub", pub, "--sig", tmp_path / "sig.raw", "--sig-format", "raw", unsigned,
        check=OK)
    sign("verify", "--trust", pub, unsigned, check=OK)


def test_attach_garbage_signature(tmp_path, baseline):
    out, _, pub, _ = baseline
    before = out.read_bytes()
    for blob in [b"", b"\x30\x06\x02\x01\x01\x02\x01\x01", b"\xff" * 72, b"A" * 500]:
        (tmp_path / "sig").write_bytes(blob)
        r = sign("attach", "--pub", pub, "--sig", tmp_path / "sig", out, check=None)
        assert r.rc == REFUSED, r
    assert out.read_bytes() == before


def test_attach_usage(baseline, tmp_path):
    out, _, pub, _ = baseline
    assert "--pub" in sign("attach", "--sig", "x", out, check=USAGE).err
    assert "--sig" in sign("attach", "--pub", pub, out, check=USAGE).err
    assert "--sig-format" in sign("attach", "--pub", pub, "--sig", "x", "--sig-format", "pem",
                                 out, check=USAGE).err
    assert "nosig" in sign("attach", "--pub", pub, "--sig", tmp_path / "nosig", out,
                          check=IOERR).err


def _der_ints(der):
    """(r, s) content bytes of a minimal DER ECDSA-Sig-Value (short lengths)."""
    assert der[0] == 0x30 and der[1] == len(der) - 2
    r_len = der[3]
    r = der[4:4 + r_len]
    s = der[4 + r_len + 2:]
    assert der[4 + r_len] == 0x02 and len(s) == der[4 + r_len + 1]
    return r, s


def _ber(kind, der):
    r, s = _der_ints(der)
    ints = lambda a, b: b"\x02" + bytes([len(a)]) + a + b"\x02" + bytes([len(b)]) + b
    if kind == "long-form-sequence-length":
        body = ints(r, s)
        return b"\x30\x81" + bytes([len(body)]) + body
    if kind == "long-form-integer-length":
        body = b"\x02\x81" + bytes([len(r)]) + r + b"\x02" + bytes([len(s)]) + s
        return b"\x30" + bytes([len(body)]) + body
    if kind == "leading-zero-length-byte":
        body = b"\x02\x82\x00" + bytes([len(r)]) + r + b"\x02" + bytes([len(s)]) + s
        return b"\x30" + bytes([len(body)]) + body
    if kind == "prepended-zero-byte":
        body = ints(b"\0" + r, s)
        return b"\x30" + bytes([len(body)]) + body
    if kind == "negative-s":
        assert s[0] == 0 and s[1] & 0x80  # the caller picked such a signature
        body = ints(r, s[1:])
        return b"\x30" + bytes([len(body)]) + body
    if kind == "trailing-byte":
        return der + b"\0"
    raise AssertionError(kind)


@needs_openssl
@pytest.mark.parametrize("kind", ["long-form-sequence-length", "long-form-integer-length",
                                  "leading-zero-length-byte", "prepended-zero-byte", "negative-s",
                                  "trailing-byte"])
def test_attach_refuses_ber_signature(tmp_path, unsigned, kind):
    """A signature openssl made, re-encoded in BER (the same r and s, or the
    same bytes read leniently), is refused by attach itself: nothing is
    written that verify would later refuse."""
    key, pub, kid = _openssl_key(tmp_path, "P-256")
    tbs = tmp_path / "tbs.bin"
    sign("digest", "--tbs", tbs, unsigned, check=OK)
    sig = tmp_path / "sig.der"
    for _ in range(64):  # ECDSA is randomized: "negative-s" needs an s with its top bit set
        openssl("dgst", "-sha256", "-sign", key, "-out", sig, tbs)
        der = sig.read_bytes()
        if kind != "negative-s" or _der_ints(der)[1][:1] == b"\0":
            break
    else:
        pytest.fail("64 signatures without a high-bit s")
    # the minimal DER form attaches (to a copy): only the encoding differs below
    good = tmp_path / "good.hpm"
    sign("attach", "--pub", pub, "--sig", sig, "--out", good, unsigned, check=OK)
    ber = tmp_path / "sig.ber"
    ber.write_bytes(_ber(kind, der))
    before = unsigned.read_bytes()
    r = sign("attach", "--pub", pub, "--sig", ber, unsigned, check=REFUSED)
    assert "minimal DER" in r.err and kid in r.err, r.err
    assert unsigned.read_bytes() == before
    out = tmp_path / "never.hpm"
    sign("attach", "--pub", pub, "--sig", ber, "--out", out, unsigned, check=REFUSED)
    assert not out.exists()
