# SPDX-License-Identifier: MIT
"""hpm-sign hotpatch --kernel-sign-key/--kernel-sign-cert: the livepatch
module signed in the kernel's module-signature format before the manifest
signs its bytes (docs/kernel-hotpatch.md "Secure Boot").  The module here
is a stand-in (an x86-64 relocatable object with a livepatch .modinfo); the
kernel's own verdict on real modules is firmware-tests/test_kernel_secureboot.py."""
import subprocess

import pytest

from hpmtest import OK, REFUSED, USAGE, openssl, sign

MAGIC = b"~Module signature appended~\n"
BUILD_ID = "6a2b4ac77585b8cf102cba771300e573c8489b69"
MODINFO = (b"name=hpm_kp_1\0vermagic=6.1.0-57-amd64 SMP preempt mod_unload modversions \0"
           b"livepatch=Y\0hpm_sequence=1\0")


@pytest.fixture
def module(tmp_path):
    c = tmp_path / "kp.c"
    body = ", ".join(str(b) for b in MODINFO)
    c.write_text("__attribute__((section(\".modinfo\"), used)) static const unsigned char mi[] = {"
                 + body + "};\nint hpm_kp_fix(void) { return 1; }\n")
    ko = tmp_path / "hpm_kp_1.ko"
    subprocess.run(["gcc", "-c", "-O2", "-o", ko, c], check=True)
    return ko


def rsa_cert(tmp_path, name):
    key, crt = tmp_path / f"{name}.key", tmp_path / f"{name}.crt"
    openssl("req", "-new", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "30",
            "-subj", f"/CN={name}/", "-keyout", key, "-out", crt)
    return key, crt


def hotpatch(tmp_path, base, pem, module, *extra, check=OK):
    out = tmp_path / "kp.hpm"
    r = sign("hotpatch", "--key", pem, "--baseline", base, "--seq", "1", "--classification", "security",
             "--id", "KB-K1", "--kernel-module", module, "--kernel-build-id", BUILD_ID, "--timestamp",
             "1700001000", "--out", out, *extra, check=check)
    return out, r


def livepatch_bytes(container):
    j = sign("inspect", "--json", container).json()
    p = next(x for x in j["payloads"] if x["type"] == "livepatch")
    at = j["tbs_size"] + p["offset"]
    return container.read_bytes()[at:at + p["size"]], p["kernel"]


def test_signed_module_in_the_kernels_format(tmp_path, baseline, module):
    base, pem, pub, _ = baseline
    key, crt = rsa_cert(tmp_path, "kmod")
    out, r = hotpatch(tmp_path, base, pem, module, "--kernel-sign-key", key, "--kernel-sign-cert", crt)
    assert "not signed for the kernel" not in r.err
    ko, k = livepatch_bytes(out)
    raw = module.read_bytes()
    # module || PKCS#7 || struct module_signature || magic
    assert ko.startswith(raw) and ko.endswith(MAGIC)
    info = ko[-len(MAGIC) - 12:-len(MAGIC)]
    assert info[:8] == bytes([0, 0, 2, 0, 0, 0, 0, 0])  # id_type PKEY_ID_PKCS7, the rest 0
    n = int.from_bytes(info[8:], "big")
    assert len(raw) + n + 12 + len(MAGIC) == len(ko)
    assert k["module_signature_size"] == n + 12 + len(MAGIC)
    (tmp_path / "sig.der").write_bytes(ko[len(raw):len(raw) + n])
    # detached over exactly the module, by that certificate's key, SHA-256
    openssl("cms", "-verify", "-binary", "-inform", "DER", "-in", tmp_path / "sig.der", "-content", module,
            "-certfile", crt, "-CAfile", crt, "-purpose", "any", "-out", "/dev/null")
    printed = openssl("cms", "-cmsout", "-print", "-inform", "DER", "-in", tmp_path / "sig.der").stdout.decode()
    assert "issuerAndSerialNumber" in printed and "sha256" in printed
    assert "eContent: <ABSENT>" in printed  # detached
    assert "certificates:\n      <ABSENT>" in printed, printed  # the kernel has the certificate
    other_key, other_crt = rsa_cert(tmp_path, "other")
    bad = subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", tmp_path / "sig.der",
                          "-content", module, "-certfile", other_crt, "-CAfile", other_crt, "-purpose", "any",
                          "-out", "/dev/null"], capture_output=True)
    assert bad.returncode != 0
    # the manifest signs the signed bytes
    sign("verify", "--trust", pub, out)
    text = sign("inspect", out).out
    assert f"module sig:     {n + 12 + len(MAGIC)} bytes appended" in text


def test_unsigned_module_is_said(tmp_path, baseline, module):
    base, pem, _, _ = baseline
    out, r = hotpatch(tmp_path, base, pem, module)
    assert "is not signed for the kernel (no --kernel-sign-key)" in r.err and "lockdown" in r.err
    ko, k = livepatch_bytes(out)
    assert ko == module.read_bytes() and k["module_signature_size"] == 0
    assert "module sig:     none" in sign("inspect", out).out


def test_refusals(tmp_path, baseline, module):
    base, pem, _, _ = baseline
    key, crt = rsa_cert(tmp_path, "kmod")
    _, other_crt = rsa_cert(tmp_path, "other")
    r = hotpatch(tmp_path, base, pem, module, "--kernel-sign-key", key, check=USAGE)[1]
    assert "--kernel-sign-key without --kernel-sign-cert" in r.err
    r = sign("hotpatch", "--key", pem, "--baseline", base, "--seq", "1", "--classification", "security",
             "--id", "KB-K1", "--payload", module, "--kernel-sign-key", key, "--kernel-sign-cert", crt,
             "--out", tmp_path / "x.hpm", check=USAGE)
    assert "sign a --kernel-module" in r.err
    # ECDSA: the kernel could not verify it
    openssl("req", "-new", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days",
            "30", "-subj", "/CN=ec/", "-keyout", tmp_path / "ec.key", "-out", tmp_path / "ec.crt")
    r = hotpatch(tmp_path, base, pem, module, "--kernel-sign-key", tmp_path / "ec.key", "--kernel-sign-cert",
                 tmp_path / "ec.crt", check=REFUSED)[1]
    assert "not an RSA key" in r.err and "CONFIG_CRYPTO_ECDSA" in r.err
    r = hotpatch(tmp_path, base, pem, module, "--kernel-sign-key", key, "--kernel-sign-cert", other_crt,
                 check=REFUSED)[1]
    assert f"{key} is not the key of --kernel-sign-cert {other_crt}" in r.err
    r = hotpatch(tmp_path, base, pem, module, "--kernel-sign-key", key, "--kernel-sign-cert", module,
                 check=None)[1]
    assert r.returncode != 0 and "not an X.509 certificate" in r.err
    r = hotpatch(tmp_path, base, pem, module, "--kernel-sign-key", tmp_path / "missing.key", "--kernel-sign-cert",
                 crt, check=None)[1]
    assert r.returncode != 0 and f"--kernel-sign-key {tmp_path / 'missing.key'}: cannot open" in r.err, r.err
    # already signed (e.g. by Kbuild): refused, not signed twice
    signed, _ = livepatch_bytes(hotpatch(tmp_path, base, pem, module, "--kernel-sign-key", key,
                                         "--kernel-sign-cert", crt)[0])
    again = tmp_path / "signed.ko"
    again.write_bytes(signed)
    (tmp_path / "kp.hpm").unlink()
    r = hotpatch(tmp_path, base, pem, again, "--kernel-sign-key", key, "--kernel-sign-cert", crt,
                 check=REFUSED)[1]
    assert "already carries a module signature" in r.err
    assert not (tmp_path / "kp.hpm").exists()
