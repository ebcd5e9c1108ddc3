# SPDX-License-Identifier: MIT
"""Helpers for the lifecycle end-to-end test (test_lifecycle.py): a guest
that runs the real `hpm` (build/runtime/hpm) against the real efivarfs and
a real FAT ESP, booted through the real hpmboot.efi.

- The initramfs carries busybox, the hpm binary with the shared libraries
  `ldd` names, the trust store (/etc/hpm/trust), efivarfs.ko and the
  virtio + vfat modules taken from the same Debian kernel package that
  scripts/deps.sh downloaded (extracted under $HPM_BUILD, never installed).
- Disks are virtio-blk: the ESP image first (OVMF boots from it, Linux
  mounts it at /boot/efi), then a small FAT "source" disk with the second
  baseline and a `plan` file: the shell commands /init runs this boot,
  rewritten by the test between boots.
- /init prints `HPMTEST: ...` markers, runs the plan, syncs, unmounts and
  powers off.

Reuses hpmvm.py (Machine, Boot, sign_baseline, prerequisites).
"""
import os
import select
import shutil
import subprocess
import time
from pathlib import Path

import hpmtest
import hpmvm
from hpmtest import HPM, run

KMODS = [  # insmod order (dependencies first)
    "drivers/virtio/virtio_ring.ko", "drivers/virtio/virtio.ko",
    "drivers/virtio/virtio_pci_modern_dev.ko", "drivers/virtio/virtio_pci_legacy_dev.ko",
    "drivers/virtio/virtio_pci.ko", "drivers/block/virtio_blk.ko",
    "fs/fat/fat.ko", "fs/fat/vfat.ko", "fs/nls/nls_cp437.ko", "fs/nls/nls_ascii.ko",
]
TRUST_PUB = hpmvm.KEYS / "dev-release.pub"

# The start and the end of every guest's /init (PRELUDE, then SETUP:
# efivarfs, the modules, the ESP at /boot/efi and the source disk at /src;
# @TAG@ is the guest's marker word; ... ; FINALE).
PRELUDE = r"""#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /tmp /var/lib/hpm /boot/efi /src
"""
FINALE = r"""sync
umount /boot/efi
umount /src
poweroff -f
"""
SETUP = r"""insmod /lib/kmod/efivarfs.ko
mount -t efivarfs efivarfs /sys/firmware/efi/efivars || echo "@TAG@: mount efivarfs failed"
for m in @KMODS@; do insmod /lib/kmod/$m.ko || echo "@TAG@: insmod $m failed"; done
i=0; while [ ! -b /dev/vdb ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
mount -t vfat /dev/vda /boot/efi || echo "@TAG@: mount ESP failed"
mount -t vfat -o ro /dev/vdb /src || echo "@TAG@: mount source disk failed"
"""

INIT = PRELUDE + r"""echo "HPMTEST: init-start"
@SETUP@echo "HPMTEST: cmdline=$(cat /proc/cmdline)"
# run NAME CMD...: one marker line with the exit code, output indented
run() {
  name=$1; shift
  "$@" > /tmp/out 2> /tmp/err; rc=$?
  echo "HPMTEST: rc $name=$rc"
  sed 's/^/HPMTEST: out /' /tmp/out; sed 's/^/HPMTEST: err /' /tmp/err
}
json() { echo "HPMTEST: json $1 $(hpm status --json)"; }
[ -f /src/plan ] && . /src/plan
echo "HPMTEST: done"
""" + FINALE


INIT = INIT.replace("@SETUP@", SETUP.replace("@TAG@", "HPMTEST"))


def kernel_modules(root, mods=KMODS):
    """Extract the modules mods (KMODS above) from the kernel .deb
    scripts/deps.sh keeps (same build as .deps/kernel/vmlinuz) into root, once."""
    root = Path(root)
    version = (hpmvm.DEPS / "kernel" / "VERSION").read_text().split()
    pkg, ver = version[0], version[1]
    out = root / f"kmod-{ver}"
    if all((out / Path(m).name).is_file() for m in mods):
        return out
    deb = hpmvm.DEPS / "dl" / f"{pkg}_{ver}_amd64.deb"
    assert deb.is_file(), f"{deb} missing (run scripts/deps.sh)"
    tmp = root / "kmod.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    abi = pkg[len("linux-image-"):]
    members = [f"./lib/modules/{abi}/kernel/{m}" for m in mods]
    tar = subprocess.Popen(["tar", "-x", "-C", str(tmp)] + members, stdin=subprocess.PIPE)
    subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=tar.stdin, check=True)
    tar.stdin.close()
    assert tar.wait() == 0, f"{deb}: modules missing"
    out.mkdir(parents=True, exist_ok=True)
    for m in mods:
        shutil.copyfile(tmp / "lib" / "modules" / abi / "kernel" / m, out / Path(m).name)
    shutil.rmtree(tmp)
    return out


def shared_libs(binary):
    """The shared libraries (and the dynamic loader) `ldd` names."""
    out = run("ldd", binary).stdout
    libs = []
    for line in out.splitlines():
        parts = line.split()
        if "=>" in parts and len(parts) >= 3 and parts[2].startswith("/"):
            libs.append(parts[2])
        elif parts and parts[0].startswith("/"):
            libs.append(parts[0])
    return libs


def build_initramfs(out, kmod_dir, init=INIT, trust_pub=TRUST_PUB, programs=(), mods=KMODS):
    """busybox, hpm and each of programs ((source, path in the guest)) with
    the libraries ldd names, the trust store (trust_pub), efivarfs and the
    modules mods (KMODS) in kmod_dir, and init (@KMODS@ replaced by the
    module names)."""
    root = Path(str(out) + ".root")
    shutil.rmtree(root, ignore_errors=True)
    for d in ("bin", "proc", "sys", "dev", "tmp", "lib/kmod", "etc/hpm/trust", "usr/sbin"):
        (root / d).mkdir(parents=True)
    shutil.copyfile(shutil.which("busybox"), root / "bin" / "busybox")
    os.chmod(root / "bin" / "busybox", 0o755)
    os.symlink("../usr/sbin/hpm", root / "bin" / "hpm")
    for src, dest in ((HPM, "usr/sbin/hpm"),) + tuple(programs):
        d = root / dest
        d.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, d)
        os.chmod(d, 0o755)
        for lib in shared_libs(src):
            ld = root / lib.lstrip("/")
            if not ld.exists():
                ld.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(os.path.realpath(lib), ld)
                os.chmod(ld, 0o755)
    shutil.copyfile(trust_pub, root / "etc" / "hpm" / "trust" / Path(trust_pub).name)
    shutil.copyfile(hpmvm.EFIVARFS_KO, root / "lib" / "kmod" / "efivarfs.ko")
    for m in mods:
        shutil.copyfile(kmod_dir / Path(m).name, root / "lib" / "kmod" / Path(m).name)
    names = " ".join(Path(m).stem for m in mods)
    (root / "init").write_text(init.replace("@KMODS@", names))
    os.chmod(root / "init", 0o755)
    return Path(hpmvm.pack_cpio(root, out))


class LifecycleMachine(hpmvm.Machine):
    """hpmvm.Machine with the ESP and a source disk on virtio-blk, so the
    guest kernel (virtio modules in the initramfs) can mount both.
    loader, vars_template, secure_boot: as for hpmvm.Machine."""

    smp = 1  # vCPUs (bench/kernel_bench.py --smp may give more)
    nic = "none"  # QEMU's -nic: "user,model=virtio-net-pci" gives the guest 10.0.2.2, the host's loopback
    tcg_thread = None  # None: QEMU's default (multi-threaded TCG); "single": one host thread for all vCPUs

    def __init__(self, workdir, esp_mib=192, src_mib=96, **machine):
        super().__init__(workdir, esp_mib=esp_mib, **machine)
        self.src = self.dir / "src.img"
        self.src.unlink(missing_ok=True)
        run("mkfs.vfat", "-C", "-n", "HPMSRC", self.src, src_mib * 1024)

    def put_src(self, src, dest):
        self._mtools(["mcopy", "-o", "-i", str(self.src), str(src), "::/" + dest])

    def set_plan(self, text):
        p = self.dir / "plan"
        p.write_text(text)
        self.put_src(p, "plan")

    def esp_files(self):
        out = self._mtools(["mdir", "-b", "-i", self.esp, "::/EFI/hpm"]).stdout
        return sorted(Path(l.strip()).name for l in out.splitlines() if l.strip())

    def esp_read(self, path):
        return subprocess.run(["mtype", "-i", str(self.esp), "::/" + path], check=True, capture_output=True,
                              env=hpmtest.environ(hpmvm.MTOOLS_ENV)).stdout  # bytes

    def boot(self, timeout=240, stop_at=None, stop_delay=0.0, direct=None):
        """direct: (kernel, initrd, command line) for OVMF to start through
        the kernel's EFI stub (QEMU -kernel), instead of its boot options."""
        extra = ["-kernel", direct[0], "-initrd", direct[1], "-append", direct[2]] if direct else []
        machine, code = "q35,accel=tcg", hpmvm.OVMF_CODE
        if self.secure_boot:  # as hpmvm.Machine.boot: variables in SMM
            machine, code = "q35,smm=on,accel=tcg", hpmvm.OVMF_CODE_SECBOOT
            extra += ["-global", "driver=cfi.pflash01,property=secure,value=on",
                      "-global", "ICH9-LPC.disable_s3=1"]
        cmd = [hpmvm.QEMU, "-machine", machine, "-cpu", "max", "-m", "1024",
               "-smp", str(self.smp), "-nographic", "-no-reboot", "-nic", self.nic,
               "-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={code}",
               "-drive", f"if=pflash,format=raw,unit=1,file={self.vars}",
               "-drive", f"if=none,id=esp,format=raw,file={self.esp}",
               "-device", "virtio-blk-pci,drive=esp" + ("" if direct else ",bootindex=0"),
               "-drive", f"if=none,id=src,format=raw,file={self.src}",
               "-device", "virtio-blk-pci,drive=src"] + [str(a) for a in extra]
        if self.tcg_thread:
            cmd[cmd.index("-machine") + 1] = machine.replace(",accel=tcg", "")
            cmd += ["-accel", f"tcg,thread={self.tcg_thread}"]
        start = time.monotonic()
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        raw = b""
        killed = None
        try:
            while True:
                if time.monotonic() - start > timeout:
                    killed = "timeout"
                    break
                r, _, _ = select.select([proc.stdout], [], [], 0.2)
                if r:
                    chunk = os.read(proc.stdout.fileno(), 65536)
                    if not chunk:
                        break
                    raw += chunk
        finally:
            if proc.poll() is None:
                proc.kill()  # only the QEMU this call started
            rest, _ = proc.communicate()
            raw += rest or b""
        b = hpmvm.Boot(hpmvm.strip_ansi(raw.decode("utf-8", "replace")), proc.returncode,
                       time.monotonic() - start, killed)
        self.boots.append(b)
        return b


def marker_lines(boot, kind, tag="HPMTEST"):
    """<tag>: <kind> <name> <rest> lines -> [(name, rest)], in order."""
    prefix = f"{tag}: {kind} "
    return [tuple(line[len(prefix):].partition(" ")[::2]) for line in boot.serial.splitlines()
            if line.startswith(prefix)]


def markers(boot, kind, tag="HPMTEST"):
    """<tag>: <kind> <name> <rest> lines -> {name: rest} (last one wins)."""
    return dict(marker_lines(boot, kind, tag))


def rcs(boot, tag="HPMTEST"):
    """<tag>: rc NAME=N lines -> {NAME: N}."""
    return {k: int(v) for k, v in (name.partition("=")[::2] for name, _ in marker_lines(boot, "rc", tag))}
