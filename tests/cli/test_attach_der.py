# SPDX-License-Identifier: MIT
"""hpm-sign attach takes only minimal DER signatures (issue 13, finding 5).

A valid openssl signature re-encoded as BER (same r and s) must be refused by
attach itself (exit 1, nothing written), not only later by verify: attach
calls hpm_signature_check alone, so the strict rule has to be in that API.
"""
import pytest

from hpmsign_util import OK, REFUSED, needs_openssl, openssl, run


def der_split(sig: bytes):
    """(r, s) value bytes of a minimal DER ECDSA-Sig-Value, sign byte dropped."""
    assert sig[0] == 0x30 and sig[1] == len(sig) - 2 and sig[2] == 0x02
    rl = sig[3]
    r = sig[4:4 + rl]
    assert sig[4 + rl] == 0x02
    s = sig[6 + rl:]
    assert len(s) == sig[5 + rl]
    return r.lstrip(b"\0") or b"\0", s.lstrip(b"\0") or b"\0"


def integer(v: bytes, zeros=0, sign_byte=True, long_len=False):
    body = b"\0" * (zeros + (1 if sign_byte and v[0] & 0x80 else 0)) + v
    return b"\x02" + (b"\x81" if long_len else b"") + bytes([len(body)]) + body


def sequence(body: bytes, form="short"):
    if form == "indefinite":
        return b"\x30\x80" + body + b"\0\0"
    return b"\x30" + {"short": b"", "long": b"\x81", "long2": b"\x82\0"}[form] + bytes([len(body)]) + body


# name -> BER (never DER) encoding of (r, s); s has its top bit set
BER = {
    "sequence length in long form": lambda r, s: sequence(integer(r) + integer(s), "long"),
    "sequence length in two bytes": lambda r, s: sequence(integer(r) + integer(s), "long2"),
    "indefinite length": lambda r, s: sequence(integer(r) + integer(s), "indefinite"),
    "r length in long form": lambda r, s: sequence(integer(r, long_len=True) + integer(s)),
    "r with an extra leading zero": lambda r, s: sequence(integer(r, zeros=1) + integer(s)),
    "negative s": lambda r, s: sequence(integer(r) + integer(s, sign_byte=False)),
    "trailing byte": lambda r, s: sequence(integer(r) + integer(s)) + b"\0",
}


@pytest.fixture
def signed_tbs(tmp_path, keys, inputs):
    """An unsigned baseline and (r, s) of an openssl signature over its TBS
    whose s has the top bit set (so 'negative s' is the same value)."""
    pem, pub, _ = keys("hsm")
    out = tmp_path / "u.hpm"
    run("baseline", "--unsigned", "--kernel", inputs[0], "--version", "1", "--svn", "1",
        "--timestamp", "1700000000", "--out", out, check=OK)
    tbs = tmp_path / "tbs.bin"
    run("digest", "--tbs", tbs, out, check=OK)
    for _ in range(64):
        der = openssl("dgst", "-sha256", "-sign", pem, tbs).stdout
        r, s = der_split(der)
        if s[0] & 0x80:
            return out, pub, der, r, s
    pytest.fail("openssl never gave an s with its top bit set")


@needs_openssl
@pytest.mark.parametrize("name", sorted(BER))
def test_attach_refuses_ber(tmp_path, signed_tbs, name):
    out, pub, der, r, s = signed_tbs
    ber = BER[name](r, s)
    assert ber != der and sequence(integer(r) + integer(s)) == der
    (tmp_path / "sig.ber").write_bytes(ber)
    before = out.read_bytes()
    res = run("attach", "--pub", pub, "--sig", tmp_path / "sig.ber", "--out", tmp_path / "o.hpm", out)
    assert res.rc == REFUSED, res
    assert "minimal DER" in res.err
    assert not (tmp_path / "o.hpm").exists()
    res = run("attach", "--pub", pub, "--sig", tmp_path / "sig.ber", out)
    assert res.rc == REFUSED, res
    assert out.read_bytes() == before
    # the same (r, s) in DER is a good signature
    (tmp_path / "sig.der").write_bytes(der)
    run("attach", "--pub", pub, "--sig", tmp_path / "sig.der", out, check=OK)
    run("verify", "--trust", pub, out, check=OK)
