# SPDX-License-Identifier: MIT
"""Development and release boot images (docs/operations.md "Boot images").

Plain `make` builds only the development images, hpmboot-dev.efi and
hpmboot-dev.signed.efi: they trust the throwaway key of the build tree and
carry the banner that says so.  `make hpmboot-release` builds hpmboot.efi
(and hpmboot.signed.efi with a db key) only from named keys: without
HPM_TRUST_KEYS, or without HPM_KERNEL_CERTS (the kernel module signing
certificate it hands to the kernel, or "none"), it stops with how to pass
them, and it refuses the build tree's development keys and development
kernel certificate whatever their file name.  `make install` installs
whichever images were built, under their own names.  (Booting them:
firmware-tests/test_boot.py, the demo; `hpm status`: tests/lifecycle.)
"""
import os
import shutil
import subprocess

import pytest

from hpmtest import BUILD, REPO, HPMBOOT_DEV, HPMBOOT_DEV_SIGNED, HPMBOOT_RELEASE, openssl, release_images, sign
from test_install import expected_files, make, tree

# The banner's text and the variable's name, as UCS-2 in the image.
BANNER = "DEVELOPMENT BOOT IMAGE".encode("utf-16-le")
IMAGE_VAR = "HpmBootImage".encode("utf-16-le")


def spki(pub):
    return openssl("pkey", "-pubin", "-in", pub, "-outform", "DER").stdout


def make_fails(*args):
    """make as test_install.make runs it, for a run that must fail: the result."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    return subprocess.run(["make", "--no-print-directory", "-C", str(REPO), f"B={BUILD}", *args],
                          capture_output=True, text=True, env=env, timeout=600)


def cert_der(crt):
    return openssl("x509", "-in", crt, "-outform", "DER").stdout


def test_plain_make_builds_only_development_images():
    dev = HPMBOOT_DEV.read_bytes()
    assert BANNER in dev and IMAGE_VAR in dev
    assert spki(BUILD / "keys" / "dev-release.pub") in dev
    assert cert_der(BUILD / "keys" / "dev-kmod.crt") in dev  # handed to the kernel (MokListRT)
    assert HPMBOOT_DEV_SIGNED.is_file()
    # nothing under the release name unless hpmboot-release made it
    made = (BUILD / "efi" / "hpmboot-release" / "hpmboot.so").exists()
    assert HPMBOOT_RELEASE.exists() <= made


def test_release_without_keys_says_how_to_pass_them():
    r = make_fails("hpmboot-release", "HPM_TRUST_KEYS=")
    assert r.returncode == 2, r
    assert "no HPM_TRUST_KEYS" in r.stderr and "make hpmboot-release HPM_TRUST_KEYS=" in r.stderr
    assert "HPM_DB_KEY=" in r.stderr and 'docs/operations.md "Boot images"' in r.stderr


def test_release_without_kernel_certs_says_how_to_pass_them(tmp_path):
    sign("keygen", "--out", tmp_path / "r.pem")
    r = make_fails("hpmboot-release", f"HPM_TRUST_KEYS={tmp_path / 'r.pub'}", "HPM_KERNEL_CERTS=",
                   f"HPMBOOT_RELEASE_DIR={tmp_path}/out")
    assert r.returncode == 2, r
    assert "no HPM_KERNEL_CERTS" in r.stderr and "HPM_KERNEL_CERTS=kmod.crt" in r.stderr, r.stderr
    assert "HPM_KERNEL_CERTS=none" in r.stderr and 'docs/kernel-hotpatch.md "Secure Boot"' in r.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("bad", ["development", "ecdsa"])
def test_release_refuses_unusable_kernel_certs(tmp_path, bad):
    sign("keygen", "--out", tmp_path / "r.pem")
    crt = tmp_path / "innocent-name.crt"
    if bad == "development":
        shutil.copy(BUILD / "keys" / "dev-kmod.crt", crt)
        why = f"{crt} is the development kernel certificate"
    else:
        openssl("req", "-new", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-days", "30", "-subj", "/CN=ec/", "-keyout", tmp_path / "ec.key", "-out", crt)
        why = f"{crt}: not an RSA certificate"
    r = make_fails("hpmboot-release", f"HPM_TRUST_KEYS={tmp_path / 'r.pub'}", f"HPM_KERNEL_CERTS={crt}",
                   f"HPMBOOT_RELEASE_DIR={tmp_path}/out")
    assert r.returncode != 0 and why in r.stderr, r.stderr
    assert not (tmp_path / "out" / "hpmboot.efi").exists()


def test_release_refuses_the_development_key(tmp_path):
    copy = tmp_path / "innocent-name.pub"
    shutil.copy(BUILD / "keys" / "dev-release.pub", copy)
    r = make_fails("hpmboot-release", f"HPM_TRUST_KEYS={copy}", "HPM_KERNEL_CERTS=none",
                   f"HPMBOOT_RELEASE_DIR={tmp_path}/out")
    assert r.returncode != 0
    assert f"{copy} is the development key" in r.stderr and "must not trust it" in r.stderr
    assert not (tmp_path / "out").exists()


def test_release_image_from_named_keys_and_install(tmp_path):
    a, b = tmp_path / "release-a.pem", tmp_path / "release-b.pem"
    sign("keygen", "--out", a)
    sign("keygen", "--out", b)
    openssl("req", "-quiet", "-new", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "30",
            "-subj", "/CN=fleet db/", "-keyout", tmp_path / "db.key", "-out", tmp_path / "db.crt")
    openssl("req", "-quiet", "-new", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "30",
            "-subj", "/CN=fleet kmod/", "-keyout", tmp_path / "kmod.key", "-out", tmp_path / "kmod.crt")
    out = tmp_path / "out"
    rel, rel_signed = release_images(out)
    # the development db certificate is refused as the fleet's
    r = make_fails("hpmboot-release", f"HPM_TRUST_KEYS={a.with_suffix('.pub')}", f"HPMBOOT_RELEASE_DIR={out}",
                   f"HPM_KERNEL_CERTS={tmp_path / 'kmod.crt'}",
                   f"HPM_DB_KEY={BUILD / 'keys/dev-db.key'}", f"HPM_DB_CERT={BUILD / 'keys/dev-db.crt'}")
    assert r.returncode != 0 and "is the development db certificate" in r.stderr, r
    assert not rel_signed.exists()

    keys = f"{a.with_suffix('.pub')},{b.with_suffix('.pub')}"
    make("hpmboot-release", f"HPM_TRUST_KEYS={keys}", "HPM_TRUST_THRESHOLD=2", f"HPMBOOT_RELEASE_DIR={out}",
         f"HPM_KERNEL_CERTS={tmp_path / 'kmod.crt'}",
         f"HPM_DB_KEY={tmp_path / 'db.key'}", f"HPM_DB_CERT={tmp_path / 'db.crt'}")
    img = rel.read_bytes()
    assert BANNER not in img and IMAGE_VAR in img
    assert cert_der(tmp_path / "kmod.crt") in img and cert_der(BUILD / "keys" / "dev-kmod.crt") not in img
    assert spki(a.with_suffix(".pub")) in img and spki(b.with_suffix(".pub")) in img
    assert spki(BUILD / "keys" / "dev-release.pub") not in img
    v = subprocess.run(["sbverify", "--cert", tmp_path / "db.crt", rel_signed],
                       capture_output=True, text=True)
    assert v.returncode == 0, v

    # install: both kinds, under their own names
    root = tmp_path / "root"
    p = make("install", f"DESTDIR={root}", f"HPMBOOT_RELEASE_DIR={out}")
    images = [HPMBOOT_DEV, HPMBOOT_DEV_SIGNED, rel, rel_signed]
    assert tree(root)[0] == expected_files(images=images)
    assert (root / "usr/lib/hpm/efi" / rel.name).read_bytes() == img
    assert "only the development boot images" not in p.stderr
    # without release images: the development ones, and a warning
    root2 = tmp_path / "root2"
    p = make("install", f"DESTDIR={root2}", f"HPMBOOT_RELEASE_DIR={tmp_path / 'none'}")
    assert tree(root2)[0] == expected_files(images=[HPMBOOT_DEV, HPMBOOT_DEV_SIGNED])
    assert "only the development boot images" in p.stderr
    make("uninstall", f"DESTDIR={root}", f"HPMBOOT_RELEASE_DIR={tmp_path / 'none'}")
    assert not (root / "usr/lib/hpm/efi").exists()


@pytest.fixture(autouse=True, scope="module")
def _release_name_untouched():
    """These tests write release images to tmp dirs (HPMBOOT_RELEASE_DIR),
    never under the release name in BUILD/efi."""
    before = HPMBOOT_RELEASE.exists()
    yield
    assert HPMBOOT_RELEASE.exists() == before
