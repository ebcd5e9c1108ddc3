# SPDX-License-Identifier: MIT
"""hpm-sign keygen / keyid."""
import base64
import hashlib
import stat

import pytest

from hpmtest import OK, REFUSED, USAGE, IOERR, needs_openssl, openssl, sign


def pem_body(path):
    lines = path.read_text().strip().splitlines()
    return lines[0], lines[-1], base64.b64decode("".join(lines[1:-1]))


@pytest.mark.parametrize("curve,spki_len", [("p256", 91), ("p384", 120)])
def test_keygen_writes_0600_private_and_public_pem(tmp_path, curve, spki_len):
    pem, pub = tmp_path / "rel.pem", tmp_path / "rel.pub"
    r = sign("keygen", "--out", pem, "--curve", curve, check=OK)
    kid = r.out.strip()
    assert len(kid) == 64 and all(c in "0123456789abcdef" for c in kid)
    assert stat.S_IMODE(pem.stat().st_mode) == 0o600
    assert pub.exists(), "default --pub is KEY.pem with .pem replaced by .pub"
    first, last, _ = pem_body(pem)
    assert first == "-----BEGIN EC PRIVATE KEY-----" and last == "-----END EC PRIVATE KEY-----"
    first, last, der = pem_body(pub)
    assert first == "-----BEGIN PUBLIC KEY-----"
    assert len(der) == spki_len
    # The key ID is SHA-256 of the DER SubjectPublicKeyInfo.
    assert hashlib.sha256(der).hexdigest() == kid
    assert sign("keyid", pub, check=OK).out.strip() == kid
    assert sign("keyid", pem, check=OK).out.strip() == kid  # private key: its public half


def test_keygen_default_curve_is_p256(tmp_path):
    sign("keygen", "--out", tmp_path / "k.pem", check=OK)
    _, _, der = pem_body(tmp_path / "k.pub")
    assert len(der) == 91


def test_keygen_pub_name_without_pem_suffix(tmp_path):
    sign("keygen", "--out", tmp_path / "signing-key", check=OK)
    assert (tmp_path / "signing-key.pub").exists()


def test_keygen_explicit_pub(tmp_path):
    sign("keygen", "--out", tmp_path / "a.pem", "--pub", tmp_path / "elsewhere.pem", check=OK)
    assert (tmp_path / "elsewhere.pem").exists()
    assert not (tmp_path / "a.pub").exists()


def test_keygen_refuses_to_overwrite_private_key(tmp_path):
    pem = tmp_path / "k.pem"
    sign("keygen", "--out", pem, check=OK)
    before = pem.read_bytes(), (tmp_path / "k.pub").read_bytes()
    r = sign("keygen", "--out", pem, check=REFUSED)
    assert "already exists" in r.err and "k.pem" in r.err
    assert (pem.read_bytes(), (tmp_path / "k.pub").read_bytes()) == before


def test_keygen_refuses_when_public_file_exists(tmp_path):
    (tmp_path / "k.pub").write_text("something precious\n")
    r = sign("keygen", "--out", tmp_path / "k.pem", check=REFUSED)
    assert "k.pub" in r.err and "already exists" in r.err
    assert not (tmp_path / "k.pem").exists(), "no half key pair may be left"
    assert (tmp_path / "k.pub").read_text() == "something precious\n"


def test_keygen_makes_different_keys(tmp_path):
    a = sign("keygen", "--out", tmp_path / "a.pem", check=OK).out
    b = sign("keygen", "--out", tmp_path / "b.pem", check=OK).out
    assert a != b


def test_keygen_bad_curve_and_missing_out(tmp_path):
    r = sign("keygen", "--out", tmp_path / "k.pem", "--curve", "p521", check=USAGE)
    assert "--curve" in r.err
    assert not (tmp_path / "k.pem").exists()
    r = sign("keygen", check=USAGE)
    assert "--out" in r.err


def test_keygen_same_pub_and_out(tmp_path):
    r = sign("keygen", "--out", tmp_path / "k.pem", "--pub", tmp_path / "k.pem", check=USAGE)
    assert "same file" in r.err


def test_keygen_unwritable_directory(tmp_path):
    (tmp_path / "file").write_text("x")
    r = sign("keygen", "--out", tmp_path / "file" / "k.pem", check=IOERR)
    assert "k.pem" in r.err


def test_keyid_rejects_non_key(tmp_path):
    f = tmp_path / "junk.pub"
    f.write_text("not a key\n")
    r = sign("keyid", f, check=IOERR)
    assert "junk.pub" in r.err
    r = sign("keyid", tmp_path / "missing.pub", check=IOERR)
    assert "missing.pub" in r.err and "No such file" in r.err


@needs_openssl
@pytest.mark.parametrize("curve,name", [("p256", "prime256v1"), ("p384", "secp384r1")])
def test_keygen_output_is_readable_by_openssl(tmp_path, curve, name):
    pem = tmp_path / "k.pem"
    kid = sign("keygen", "--out", pem, "--curve", curve, check=OK).out.strip()
    text = openssl("pkey", "-in", pem, "-noout", "-text").stdout.decode()
    assert name in text or ("P-256" if curve == "p256" else "P-384") in text
    der = openssl("pkey", "-pubin", "-in", tmp_path / "k.pub", "-outform", "DER").stdout
    assert hashlib.sha256(der).hexdigest() == kid


@needs_openssl
def test_keyid_of_openssl_key_matches_openssl(tmp_path):
    key = tmp_path / "o.pem"
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key)
    openssl("pkey", "-in", key, "-pubout", "-out", tmp_path / "o.pub")
    der = openssl("pkey", "-pubin", "-in", tmp_path / "o.pub", "-outform", "DER").stdout
    assert sign("keyid", tmp_path / "o.pub", check=OK).out.strip() == hashlib.sha256(der).hexdigest()


@needs_openssl
def test_keyid_refuses_rsa_key(tmp_path):
    key = tmp_path / "rsa.pem"
    openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024", "-out", key)
    r = sign("keyid", key, check=IOERR)
    assert "EC" in r.err
