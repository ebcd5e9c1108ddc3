# SPDX-License-Identifier: MIT
"""One-step HSM signing: hpm-sign --key pkcs11:URI against a SoftHSM2 token.

A token is made in a temporary folder (SOFTHSM2_CONF points at its own
configuration), an ECDSA key pair is generated inside the token with
pkcs11-tool (the private key never leaves it), and its public key is
exported (p11tool).  hpm-sign then signs a baseline, a hotpatch and a catalog through
OpenSSL's pkcs11 engine; hpm-sign verify and hpm itself (the catalog through
`hpm catalog`, the hotpatch through `hpm apply --dry-run`) accept them with
the exported public key as their only trust.  Wrong PIN, missing object,
missing engine and missing module are refused naming the URI field and the
fix.
"""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from hpmtest import IOERR, OK, REFUSED, USAGE, hpm, make_baseline, patch_payload, sign

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
PIN = "246810"


def tool(*args, env):
    p = subprocess.run([str(a) for a in args], capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 0, f"{args}: {p.stdout}{p.stderr}"
    return p


class Token:
    """A SoftHSM2 token in folder d with key pairs generated inside it."""

    def __init__(self, d: Path):
        for prog in ("softhsm2-util", "pkcs11-tool", "p11tool"):
            assert shutil.which(prog), f"{prog} missing: run scripts/deps.sh (softhsm2, opensc, gnutls-bin)"
        assert os.path.exists(MODULE), f"{MODULE} missing: run scripts/deps.sh (softhsm2)"
        (d / "tokens").mkdir()
        conf = d / "softhsm2.conf"
        conf.write_text(f"directories.tokendir = {d / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
        self.d = d
        self.env = dict(os.environ, SOFTHSM2_CONF=str(conf))
        tool("softhsm2-util", "--init-token", "--free", "--label", "release", "--pin", PIN, "--so-pin", "13579",
             env=self.env)

    def keypair(self, label, key_id, curve="prime256v1"):
        """Generate a key pair in the token; returns the exported public key (DER SPKI)."""
        p11 = ["pkcs11-tool", "--module", MODULE, "--token-label", "release"]
        tool(*p11, "--login", "--pin", PIN, "--keypairgen", "--key-type", f"EC:{curve}", "--label", label,
             "--id", key_id, env=self.env)
        # exported with p11tool: pkcs11-tool cannot export a P-384 public key
        pub = self.d / f"{label}.pub"
        tool("p11tool", "--provider", MODULE, "--login", "--export-pubkey",
             f"pkcs11:token=release;object={label}", "--outfile", pub, env=dict(self.env, GNUTLS_PIN=PIN))
        return pub


@pytest.fixture(scope="module")
def token(tmp_path_factory):
    t = Token(tmp_path_factory.mktemp("softhsm"))
    t.pub = t.keypair("release-key", "01")
    t.pub384 = t.keypair("release-384", "02", curve="secp384r1")
    return t


URI = "pkcs11:token=release;object=release-key;type=private"


def env_of(token, **extra):
    return {"SOFTHSM2_CONF": token.env["SOFTHSM2_CONF"], "HPM_PKCS11_PIN": PIN, **extra}


def baseline(token, tmp_path, key=URI, env=None, check=OK, name="slot-a.hpm"):
    kernel = tmp_path / "vmlinuz"
    kernel.write_bytes(b"MZ" + bytes(range(256)) * 20)
    out = tmp_path / name
    r = sign("baseline", "--key", key, "--kernel", kernel, "--version", "2026.1", "--svn", 4,
             "--timestamp", 1700000000, "--out", out, env=env or env_of(token), check=check)
    return out, r


def test_baseline_hotpatch_catalog_signed_in_the_token(token, tmp_path):
    env = env_of(token)
    kid = sign("keyid", token.pub).out.strip()
    base, r = baseline(token, tmp_path)
    assert f"signed by key {kid} (ecdsa-p256-sha256)" in r.out
    v = sign("verify", "--json", "--trust", token.pub, "--kind", "baseline", base).json()
    assert v["valid"] and v["signatures"] == [{"index": 0, "alg": "ecdsa-p256-sha256", "key_id": kid,
                                               "status": "valid"}]

    # the same bytes a file key would give, but for the signature entry
    hp = tmp_path / "hp-1.hpm"
    sign("hotpatch", "--key", URI, "--baseline", base, "--seq", 1, "--classification", "security",
         "--id", "HP-2026.1-1", "--timestamp", 1700001000, "--payload", patch_payload(tmp_path / "fix.bin"),
         "--out", hp, env=env)
    sign("verify", "--trust", token.pub, "--kind", "hotpatch", hp)

    cat = tmp_path / "catalog.hpm"
    sign("catalog", "--key", URI, "--serial", 1, "--expires", "+3650", "--timestamp", 1700002000,
         "--trust", token.pub, "--entry", f"{base.name}:class=security", "--entry", hp.name,
         "--out", cat, env=env, cwd=tmp_path)
    sign("verify", "--trust", token.pub, "--kind", "catalog", cat)

    # hpm with the exported public key as its whole trust store
    trust = tmp_path / "trust"
    trust.mkdir()
    shutil.copy(token.pub, trust / "release.pub")
    henv = {"HPM_TRUST_DIR": trust, "HPM_STATE_DIR": tmp_path / "state", "HPM_CACHE_DIR": tmp_path / "cache"}
    j = hpm("catalog", "--source", tmp_path, "--json", env=henv).json()
    assert j["serial"] == 1 and sorted(e["id"] for e in j["entries"]) == ["2026.1", "HP-2026.1-1"]
    digest = sign("inspect", "--json", base).json()["digest"]
    r = hpm("--baseline", digest, "apply", "--dry-run", hp, env=henv)
    assert "dry run: 0 process(es) would be patched" in r.out

    # the trust really is the exported key: with another key, all is refused
    other = tmp_path / "other" / "other.pem"
    other.parent.mkdir()
    sign("keygen", "--out", other)
    (trust / "release.pub").unlink()
    shutil.copy(other.with_suffix(".pub"), trust / "other.pub")
    sign("verify", "--trust", other.with_suffix(".pub"), base, check=REFUSED)
    r = hpm("--baseline", digest, "apply", "--dry-run", hp, env=henv, check=REFUSED)
    assert "not in the trust store" in r.err
    hpm("catalog", "--source", tmp_path, env=dict(henv, HPM_STATE_DIR=tmp_path / "state2"), check=REFUSED)


def test_countersign_and_p384_key_in_the_token(token, tmp_path):
    base, _ = baseline(token, tmp_path, key=URI.replace("release-key", "release-384"))
    v = sign("verify", "--json", "--trust", token.pub384, base).json()
    assert v["valid"] and v["signatures"][0]["alg"] == "ecdsa-p384-sha384"
    sign("countersign", "--key", URI, base, env=env_of(token))
    sign("verify", "--trust", token.pub384, "--trust", token.pub, "--threshold", 2, base)


def test_pin_from_the_uri_and_from_a_file(token, tmp_path):
    env = {"SOFTHSM2_CONF": token.env["SOFTHSM2_CONF"], "HPM_PKCS11_PIN": None}
    baseline(token, tmp_path, key=f"{URI}?pin-value={PIN}", env=env, name="a.hpm")
    pinfile = tmp_path / "pin"
    pinfile.write_text(PIN + "\n")
    out, _ = baseline(token, tmp_path, key=f"{URI}?pin-source=file:{pinfile}", env=env, name="b.hpm")
    sign("verify", "--trust", token.pub, out)
    # the module named in the URI (the default here too)
    baseline(token, tmp_path, key=f"{URI}?module-path={MODULE}", name="c.hpm")


def test_wrong_pin_is_refused_and_never_shown(token, tmp_path):
    out, r = baseline(token, tmp_path, key=f"{URI}?pin-value=999999", env=env_of(token, HPM_PKCS11_PIN=None),
                      check=IOERR)
    assert "the token refused the PIN (from pin-value in the URI)" in r.err
    assert "pin-value=..." in r.err and "999999" not in r.err
    assert not out.exists()
    _, r = baseline(token, tmp_path, env=env_of(token, HPM_PKCS11_PIN="111111"), check=IOERR)
    assert "the token refused the PIN (from HPM_PKCS11_PIN)" in r.err


def test_no_pin_says_where_to_give_it(token, tmp_path):
    _, r = baseline(token, tmp_path, env=env_of(token, HPM_PKCS11_PIN=None), check=USAGE)
    assert "no PIN for the token: set HPM_PKCS11_PIN, or add ?pin-source=file:PATH" in r.err
    _, r = baseline(token, tmp_path, key=f"{URI}?pin-source=file:{tmp_path}/nothing",
                    env=env_of(token, HPM_PKCS11_PIN=None), check=IOERR)
    assert "pin-source" in r.err and "cannot read the PIN file" in r.err


@pytest.mark.parametrize("key, says", [
    ("pkcs11:token=release;object=no-such-key;type=private", "fix token= or object="),
    ("pkcs11:token=no-such-token;object=release-key;type=private", "fix token= or object="),
])
def test_missing_object_or_token_names_the_uri_fields(token, tmp_path, key, says):
    out, r = baseline(token, tmp_path, key=key, check=IOERR)
    assert f"--key {key}: no private key matches the URI's token/object/id attributes" in r.err
    assert says in r.err and "pkcs11-tool" in r.err
    assert not out.exists()


@pytest.mark.parametrize("key, says", [
    ("pkcs11:token=release;type=private", "the URI names no key: add object=LABEL"),
    ("pkcs11:token=release;object=release-key;type=public", "'type=public': a signing key is type=private"),
    ("pkcs11:token=release;object", "URI attribute 'object' has no value"),
    (URI + "?color=blue", "query attribute 'color' is not one hpm-sign reads"),
    (URI + "?pin-value=%zz", "query attribute 'pin-value' has a malformed value"),
])
def test_malformed_uris_are_usage_errors(token, tmp_path, key, says):
    _, r = baseline(token, tmp_path, key=key, check=USAGE)
    assert says in r.err


def test_missing_engine_or_module_says_what_to_install(token, tmp_path):
    empty = tmp_path / "no-engines"
    empty.mkdir()
    _, r = baseline(token, tmp_path, env=env_of(token, OPENSSL_ENGINES=empty), check=IOERR)
    assert "the OpenSSL engine 'pkcs11' cannot be loaded" in r.err
    assert "install libengine-pkcs11-openssl" in r.err
    _, r = baseline(token, tmp_path, env=env_of(token, HPM_PKCS11_MODULE=tmp_path / "nope.so"), check=IOERR)
    assert f"PKCS#11 module {tmp_path / 'nope.so'}" in r.err and "HPM_PKCS11_MODULE" in r.err


def test_file_key_signatures_unchanged(tmp_path):
    """A key file still signs deterministically (RFC 6979): two runs, same bytes."""
    k = tmp_path / "k.pem"
    sign("keygen", "--out", k)
    kern = tmp_path / "vmlinuz"
    kern.write_bytes(b"MZ" * 100)
    make_baseline(tmp_path / "a.hpm", k, kern)
    make_baseline(tmp_path / "b.hpm", k, kern)
    assert (tmp_path / "a.hpm").read_bytes() == (tmp_path / "b.hpm").read_bytes()
