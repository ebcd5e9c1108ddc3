# SPDX-License-Identifier: MIT
"""Kernel hotpatches under UEFI Secure Boot (docs/kernel-hotpatch.md
"Secure Boot"): OVMF's Secure Boot build with test keys enrolled (db = the
development db certificate), the signed hpmboot-dev.signed.efi booting
Debian's 6.1 kernel, which locks itself down (integrity) because Secure
Boot is on.

hpmboot.efi hands the development kernel module signing certificate built
into it (build/keys/dev-kmod.crt) to the kernel as shim hands over MOK keys;
the livepatch modules are signed by `hpm-sign hotpatch --kernel-sign-key`.
One boot:

- lockdown is on, the kernel's .machine keyring holds hpm's certificate
  (read from the MOK variable table: /sys/firmware/efi/mok-variables);
- the hpm-signed livepatch loads through `hpm apply` and is not tainted as
  unsigned;
- hpm's own checks run first: a container changed after signing and one
  signed by a key hpm does not trust are refused by hpm and the kernel
  never sees their modules (no lockdown refusal, no module);
- the kernel refuses, with hpm's checks bypassed (busybox insmod straight
  from the source disk; Debian's kernel enforces module signatures in
  lockdown, EKEYREJECTED, and says why): the unsigned module ("unsigned
  module"), the same module signed by a foreign RSA key ("module with
  unavailable key"; a well-formed signature: openssl verifies it with the
  foreign certificate), and a module with hpm's good signature and one byte
  changed (the signature check itself); and `hpm apply` of an hpm-signed
  hotpatch carrying the unsigned module fails at the kernel (finit_module).
"""
import re
import subprocess

import pytest

import hpmtest
import hpmvm
import lifecycle_vm as lv

TEMPLATE = hpmtest.REPO / "tools" / "kpatch-template"
HEADERS = hpmvm.DEPS / "kernel-headers" / "build"
EXAMPLE = TEMPLATE / "example-proc-version.c"
KMOD_KEY = hpmvm.KEYS / "dev-kmod.key"    # `make` generates it; hpmboot-dev.efi carries its certificate
KMOD_CERT = hpmvm.KEYS / "dev-kmod.crt"
KMOD_CN = "hpm development kernel module signing key (not for production)"
MAGIC = b"~Module signature appended~\n"

PLAN = r"""
mount -t securityfs securityfs /sys/kernel/security || echo "HPMTEST: mount securityfs failed"
echo "HPMTEST: lockdown x $(cat /sys/kernel/security/lockdown)"
echo "HPMTEST: mokvars x $(ls /sys/firmware/efi/mok-variables 2>&1 | tr '\n' ' ')"
echo "HPMTEST: keyring machine $(grep ' \.machine: ' /proc/keys | sed 's/.*\.machine: //')"
echo "HPMTEST: keyring platform $(grep ' \.platform: ' /proc/keys | sed 's/.*\.platform: //')"
echo "HPMTEST: hpmkey x $(grep -c 'hpm development kernel module signing key' /proc/keys)"
# the kernel's refusals so far: of unsigned modules, of modules signed by a key it does not have
refusals() { echo "HPMTEST: refusals $1 $(dmesg | grep -c 'Loading of unsigned module is rejected') $(dmesg | grep -c 'Loading of module with unavailable key is rejected')"; }
mods() { echo "HPMTEST: modules $1 $(cut -d' ' -f1 /proc/modules | grep hpm_kp | tr '\n' ' ')"; }
refusals start
run apply1 hpm apply /src/hp1.hpm
echo "HPMTEST: version after1 $(cat /proc/version)"
echo "HPMTEST: taint hpm_kp_1 $(cat /sys/module/hpm_kp_1/taint)"
run tampered hpm apply /src/hp-tampered.hpm
run untrusted hpm apply /src/hp-untrusted.hpm
refusals afterhpm
mods afterhpm
run viahpm hpm apply /src/hp-unsigned.hpm
refusals afterviahpm
run insunsigned insmod /src/unsigned.ko
refusals afterunsigned
run insforeign insmod /src/foreign.ko
refusals afterforeign
run insbadsig insmod /src/badsig.ko
refusals afterbadsig
mods end
echo "HPMTEST: version end $(cat /proc/version)"
dmesg | grep -E 'Lockdown|MOK|MokList|machine|X.509|hpm_kp|rejected|PKCS|signature|module' | sed 's/^/HPMTEST: dmesg /'
"""


def build_module(seq, out):
    subprocess.run([TEMPLATE / "build.sh", "--headers", HEADERS, "--source", EXAMPLE, "--sequence", str(seq),
                    "--out", out], check=True, capture_output=True, timeout=300)
    return out


def hotpatch(out, base, seq, module, build_id, key=hpmvm.TRUSTED_KEY, kmod=(KMOD_KEY, KMOD_CERT)):
    extra = ["--kernel-sign-key", kmod[0], "--kernel-sign-cert", kmod[1]] if kmod else []
    hpmtest.sign("hotpatch", "--key", key, "--baseline", base, "--seq", str(seq), "--classification", "security",
                 "--id", f"KB-S{seq}", "--kernel-module", module, "--kernel-build-id", build_id, *extra,
                 "--timestamp", hpmtest.SOURCE_DATE_EPOCH, "--out", out)
    return out


def module_of(container):
    """The livepatch payload's bytes, as hpm-sign wrote them into container."""
    j = hpmtest.sign("inspect", "--json", container).json()
    p = next(x for x in j["payloads"] if x["type"] == "livepatch")
    at = j["tbs_size"] + p["offset"]
    return container.read_bytes()[at:at + p["size"]], p["kernel"]


def split_signature(ko):
    """(module, PKCS#7 DER) of a module with the kernel's signature appended."""
    assert ko.endswith(MAGIC)
    info = ko[-len(MAGIC) - 12:-len(MAGIC)]
    assert info[:8] == bytes([0, 0, 2, 0, 0, 0, 0, 0]), info  # PKCS#7, no signer/key id fields
    n = int.from_bytes(info[8:], "big")
    end = len(ko) - len(MAGIC) - 12
    return ko[:end - n], ko[end - n:end]


def cms_verifies(tmp, ko, cert):
    body, sig = split_signature(ko)
    (tmp / "body").write_bytes(body)
    (tmp / "sig.der").write_bytes(sig)
    r = subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", tmp / "sig.der",
                        "-content", tmp / "body", "-certfile", cert, "-CAfile", cert, "-purpose", "any",
                        "-out", "/dev/null"],
                       capture_output=True, text=True)
    return r.returncode == 0


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    for p in (hpmvm.HPMBOOT_SIGNED, hpmvm.SB_ENROLL, hpmvm.DB_CERT, hpmvm.OVMF_CODE_SECBOOT, KMOD_KEY):
        assert p.is_file(), f"{p} missing (run `make`)"
    assert (HEADERS / "Makefile").is_file(), f"{HEADERS} missing: run scripts/deps.sh (make deps)"
    fx = hpmvm.fixtures()
    root = tmp_path_factory.mktemp("ksb")
    enrolled = hpmvm.enroll_secure_boot(root / "sb-keys")
    initrd = lv.build_initramfs(root / "initrd.cpio", lv.kernel_modules(fx.root / "kernel-secureboot"))
    base = hpmvm.sign_baseline(root / "base.hpm", hpmvm.KERNEL, initrd, hpmvm.BASE_CMDLINE, "ksb-1", 5)
    bid = subprocess.run([TEMPLATE / "kernel-build-id", hpmvm.KERNEL], check=True, capture_output=True,
                         text=True).stdout.strip()
    hpmtest.openssl("req", "-quiet", "-new", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "30",
                    "-subj", "/CN=someone else's module signing key/", "-keyout", root / "foreign.key",
                    "-out", root / "foreign.crt")
    ko1, ko2, ko3 = (build_module(n, root / f"hpm_kp_{n}.ko") for n in (1, 2, 3))
    src = {"hp1.hpm": hotpatch(root / "hp1.hpm", base, 1, ko1, bid),
           "hp-unsigned.hpm": hotpatch(root / "hp-unsigned.hpm", base, 2, ko2, bid, kmod=None),
           "hp-untrusted.hpm": hotpatch(root / "hp-untrusted.hpm", base, 2, ko2, bid, key=hpmvm.UNTRUSTED_KEY),
           "unsigned.ko": ko2}
    signed1, k1 = module_of(src["hp1.hpm"])
    assert signed1.startswith(ko1.read_bytes()) and k1["module_signature_size"] > 0
    assert cms_verifies(root, signed1, KMOD_CERT)
    # changed after signing: one byte of the (kernel-signed) module in the container
    good2 = hotpatch(root / "hp-good2.hpm", base, 2, ko2, bid)
    data = bytearray(good2.read_bytes())
    i = data.find(b"vermagic=6.1")
    assert i > 0
    data[i] ^= 0x20
    (root / "hp-tampered.hpm").write_bytes(bytes(data))
    src["hp-tampered.hpm"] = root / "hp-tampered.hpm"
    # a good signature over other bytes
    signed2 = bytearray(module_of(good2)[0])
    i = signed2.find(b"vermagic=6.1")
    signed2[i] ^= 0x20
    (root / "badsig.ko").write_bytes(bytes(signed2))
    src["badsig.ko"] = root / "badsig.ko"
    # signed by a key the kernel was never given; a well-formed signature
    foreign = module_of(hotpatch(root / "hp-foreign.hpm", base, 3, ko3, bid,
                                 kmod=(root / "foreign.key", root / "foreign.crt")))[0]
    assert cms_verifies(root, foreign, root / "foreign.crt") and not cms_verifies(root, foreign, KMOD_CERT)
    (root / "foreign.ko").write_bytes(foreign)
    src["foreign.ko"] = root / "foreign.ko"
    return {"base": base, "enrolled": enrolled, "src": src, "initrd": initrd}


def test_kernel_hotpatch_under_secure_boot(tmp_path, inputs):
    m = lv.LifecycleMachine(tmp_path, loader=hpmvm.HPMBOOT_SIGNED, secure_boot=True,
                            vars_template=inputs["enrolled"])
    m.put_slot("a", inputs["base"])
    for name, path in inputs["src"].items():
        m.put_src(path, name)
    m.set_plan(PLAN)
    boot = m.boot(timeout=280)
    s = boot.serial
    assert "HPMTEST: done" in s, boot.describe()
    rc = lv.rcs(boot)
    refusals = {k: tuple(int(n) for n in v.split()) for k, v in lv.markers(boot, "refusals").items()}
    mods = lv.markers(boot, "modules")

    # Secure Boot on, the kernel locked down, hpm's certificate in .machine
    assert "hpm: secure boot: on" in s, boot.describe()
    assert f"hpm: kernel keys: handing certificate {KMOD_CERT.name} to the kernel's machine keyring" in s
    assert "[integrity]" in lv.markers(boot, "lockdown")["x"], boot.describe()
    assert lv.markers(boot, "mokvars")["x"].split() == ["MokListRT", "MokListTrustedRT"], boot.describe()
    assert lv.markers(boot, "keyring")["machine"].strip() == "1", boot.describe()
    assert lv.markers(boot, "hpmkey")["x"].strip() == "1", boot.describe()

    # the hpm-signed livepatch loads through hpm apply, not tainted as unsigned (E)
    assert rc["apply1"] == 0, boot.describe()
    assert lv.markers(boot, "version")["after1"].endswith("hpm-kernel-hotpatch=1")
    taint = lv.markers(boot, "taint")["hpm_kp_1"].strip()
    assert "K" in taint and "E" not in taint, taint

    # hpm's checks first: the kernel never sees these modules
    assert rc["tampered"] == 1 and "payloads/livepatch" in s, boot.describe()
    assert rc["untrusted"] == 1, boot.describe()
    assert refusals["afterhpm"] == refusals["start"], refusals
    assert mods["afterhpm"].split() == ["hpm_kp_1"]

    # hpm-signed container, unsigned module: the kernel refuses it
    assert rc["viahpm"] == 1, boot.describe()
    assert "the kernel refused livepatch hpm_kp_2 (finit_module): Key was rejected by service" in s, boot.describe()

    def more(step, before):
        """Which of the kernel's refusal counts grew at step."""
        return tuple(a > b for a, b in zip(refusals[step], refusals[before]))

    assert refusals["start"] == (0, 0), refusals
    assert more("afterviahpm", "afterhpm") == (True, False), refusals

    # hpm bypassed (insmod): the kernel itself refuses each, for its reason
    errs = [t for t in s.splitlines() if t.startswith("HPMTEST: err insmod:")]
    assert rc["insunsigned"] != 0 and rc["insforeign"] != 0 and rc["insbadsig"] != 0, boot.describe()
    for name in ("unsigned", "foreign", "badsig"):
        assert f"HPMTEST: err insmod: can't insert '/src/{name}.ko': Key was rejected by service" in errs, errs
    assert more("afterunsigned", "afterviahpm") == (True, False), refusals
    assert more("afterforeign", "afterunsigned") == (False, True), refusals
    # a signature by the key it has, over other bytes: refused by the check itself
    assert more("afterbadsig", "afterforeign") == (False, False), refusals
    assert mods["end"].split() == ["hpm_kp_1"]
    assert lv.markers(boot, "version")["end"].endswith("hpm-kernel-hotpatch=1")


SHIM_GUID = "605dab50-e046-4300-abb6-3dd810dd8b23"
PLANT = r"""
V=/sys/firmware/efi/efivars
for n in MokListRT MokListTrustedRT; do
  cat /src/$n.var > $V/$n-@GUID@; echo "HPMTEST: planted $n $? $(od -An -tx1 -N4 $V/$n-@GUID@ | tr -d ' ')"
done
""".replace("@GUID@", SHIM_GUID)
AFTER = r"""
V=/sys/firmware/efi/efivars
for n in MokListRT MokListTrustedRT; do
  echo "HPMTEST: attrs $n $(od -An -tx1 -N4 $V/$n-@GUID@ | tr -d ' ')"
done
echo "HPMTEST: table x $(wc -c < /sys/firmware/efi/mok-variables/MokListRT) $(sha256sum < /sys/firmware/efi/mok-variables/MokListRT)"
echo "HPMTEST: var x $(tail -c +5 $V/MokListRT-@GUID@ | wc -c) $(tail -c +5 $V/MokListRT-@GUID@ | sha256sum)"
echo "HPMTEST: foreign x $(grep -c 'planted by someone' /proc/keys)"
""".replace("@GUID@", SHIM_GUID)


def test_planted_mok_variables_are_replaced(tmp_path, inputs):
    """A non-volatile MokListRT (and MokListTrustedRT) written from an OS
    booted without hpmboot.efi (here: OVMF starting the kernel directly,
    so without Secure Boot) is deleted by hpmboot.efi, which publishes its
    own certificate only, in the variable and in the MOK table.  (Without
    Secure Boot the kernel loads no MOK key at all, so the keyrings are
    not the evidence here; the first test reads them under Secure Boot.)"""
    crt = tmp_path / "planted.crt"
    hpmtest.openssl("req", "-quiet", "-new", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "30",
                    "-subj", "/CN=planted by someone/", "-keyout", tmp_path / "planted.key", "-out", crt)
    der = hpmtest.openssl("x509", "-in", crt, "-outform", "DER").stdout
    x509 = bytes.fromhex("a159c0a5e494a74a87b5ab155c2bf072")  # EFI_CERT_X509_GUID, as stored
    esl = x509 + (28 + 16 + len(der)).to_bytes(4, "little") + bytes(4) + (16 + len(der)).to_bytes(4, "little") \
        + bytes(16) + der
    nv = (7).to_bytes(4, "little")  # non-volatile, boot service and runtime access
    (tmp_path / "MokListRT.var").write_bytes(nv + esl)
    (tmp_path / "MokListTrustedRT.var").write_bytes(nv + b"\x01")
    m = lv.LifecycleMachine(tmp_path / "m")
    m.put_slot("a", inputs["base"])
    for n in ("MokListRT", "MokListTrustedRT"):
        m.put_src(tmp_path / f"{n}.var", f"{n}.var")
    m.set_plan(PLANT)
    initrd = tmp_path / "initrd.cpio"
    initrd.write_bytes(inputs["initrd"].read_bytes())
    b1 = m.boot(timeout=200, direct=(hpmvm.KERNEL, initrd, hpmvm.BASE_CMDLINE))
    assert "HPMTEST: done" in b1.serial and "hpm: " not in b1.serial, b1.describe()
    planted = lv.markers(b1, "planted")
    assert planted == {"MokListRT": "0 07000000", "MokListTrustedRT": "0 07000000"}, b1.describe()

    m.set_plan(AFTER)
    b2 = m.boot(timeout=200)
    s = b2.serial
    assert "HPMTEST: done" in s, b2.describe()
    for n in ("MokListRT", "MokListTrustedRT"):
        assert f"hpm: kernel keys: deleted a non-volatile {n} (not a boot loader's): Success" in s, b2.describe()
    assert lv.markers(b2, "attrs") == {"MokListRT": "06000000", "MokListTrustedRT": "06000000"}, b2.describe()
    assert lv.markers(b2, "foreign")["x"].strip() == "0", b2.describe()
    ours = 28 + 16 + len(hpmtest.openssl("x509", "-in", KMOD_CERT, "-outform", "DER").stdout)
    table, var = lv.markers(b2, "table")["x"].split(), lv.markers(b2, "var")["x"].split()
    assert table[0] == str(ours) and table[:2] == var[:2], b2.describe()
