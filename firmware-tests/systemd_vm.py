# SPDX-License-Identifier: MIT
"""A guest whose init is the real systemd (Debian's, copied from this
machine with the libraries `ldd` names), for what only a live systemd
shows: hpm's units as they are installed (Type=notify, the watchdog, reload,
the sandbox) and the health window's unit signal (runtime/hotpatch/units.c).

QEMU boots Debian's kernel (.deps/kernel/vmlinuz) directly (-kernel,
SeaBIOS: no firmware variables are involved) with an initramfs holding:

- busybox as /init: it copies the initramfs into a tmpfs and switch_roots
  into it, so systemd runs on an ordinary root file system (the kernel's
  rootfs cannot be pivoted, which some sandbox options need);
- systemd, systemd-journald (forwarding to the console), systemctl and a
  handful of Debian's target units; no D-Bus daemon (hpm, like systemctl,
  talks to systemd's private socket as root);
- hpm (/usr/sbin/hpm) and its units exactly as systemd/ in the tree has
  them (they name /usr/sbin/hpm), /etc/hpm (trust store, hpm.conf);
- the test's own files under /hpmtest and its units (`units`), and
  hpmtest.target, which the kernel command line starts: it wants the
  test's units and hpmtest.service, a oneshot that runs /hpmtest/plan.sh
  with its output on the console and powers the guest off.

Lines the plan prints as `HPMTEST: ...` are read with lifecycle_vm's
markers()/rcs() helpers.
"""
import os
import shutil
import subprocess
import time
from pathlib import Path

import hpmtest
import hpmvm
import lifecycle_vm as lv

SYSTEMD_PROGRAMS = [
    "/usr/lib/systemd/systemd", "/usr/lib/systemd/systemd-journald", "/usr/lib/systemd/systemd-shutdown",
    "/usr/bin/systemctl", "/usr/bin/journalctl",
]
# Debian's units the guest needs (targets the default dependencies name, journald)
SYSTEMD_UNITS = [
    "basic.target", "sysinit.target", "sockets.target", "timers.target", "paths.target", "slices.target",
    "local-fs.target", "local-fs-pre.target", "swap.target", "multi-user.target", "network.target",
    "network-online.target", "network-pre.target", "shutdown.target", "poweroff.target", "final.target",
    "umount.target", "emergency.target", "rescue.target", "time-set.target", "time-sync.target",
    "systemd-journald.service", "systemd-journald.socket", "systemd-journald-dev-log.socket",
    "systemd-journald-audit.socket", "systemd-poweroff.service",
]
UNIT_DIR = Path("/usr/lib/systemd/system")

INIT = r"""#!/bin/busybox sh
/bin/busybox --install -s /bin
mkdir -p /newroot
mount -t tmpfs -o mode=0755,size=600m tmpfs /newroot
for d in /*; do
  case "$d" in /newroot|/proc|/sys|/dev|/init) ;; *) cp -a "$d" /newroot/ ;; esac
done
mkdir -p /newroot/proc /newroot/sys /newroot/dev /newroot/run /newroot/tmp /newroot/var/tmp
exec switch_root /newroot /usr/lib/systemd/systemd
"""

TARGET = """[Unit]
Description=hpm firmware test
Requires=basic.target
After=basic.target
Wants=systemd-journald.service hpmtest.service {wants}
AllowIsolate=yes
"""

DRIVER = """[Unit]
Description=hpm firmware test driver (/hpmtest/plan.sh)
After=basic.target {after}

[Service]
Type=oneshot
ExecStart=/bin/sh /hpmtest/plan.sh
StandardOutput=null
StandardError=null
"""

# What every plan starts and ends with: output on the console, a marker per
# step, the guest powered off at the end (also if a step fails).
PLAN_HEAD = r"""exec > /dev/console 2>&1
export PATH=/usr/sbin:/usr/bin:/bin
m() { echo "HPMTEST: $*"; }
run() {
  name=$1; shift
  "$@" > /tmp/out 2> /tmp/err; rc=$?
  echo "HPMTEST: rc $name=$rc"
  sed 's/^/HPMTEST: out /' /tmp/out; sed 's/^/HPMTEST: err /' /tmp/err
}
json() { echo "HPMTEST: json $1 $(shift; "$@")"; }
trap 'm done; systemctl poweroff --force --force' EXIT
m plan-start
"""


def copy_program(root, src, dest=None):
    dest = root / (dest or src).lstrip("/")
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest)
    os.chmod(dest, 0o755)
    for lib in lv.shared_libs(src):
        ld = root / lib.lstrip("/")
        if not ld.exists():
            ld.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(os.path.realpath(lib), ld)
            os.chmod(ld, 0o755)


def build_initramfs(out, plan, files=(), units=(), wants=(), conf="", trust_pubs=()):
    """The guest's initramfs (see the module's text).  plan: the shell text
    after PLAN_HEAD; files: (source, path in the guest) copied as they are
    (executables keep their mode; their libraries come along); units:
    (name, text) of the test's own units, wanted by hpmtest.target and
    started before the plan; wants: hpm's units (from systemd/ in the tree)
    the target starts, also before the plan; conf: /etc/hpm/hpm.conf; trust_pubs: public
    keys for /etc/hpm/trust."""
    root = Path(str(out) + ".root")
    shutil.rmtree(root, ignore_errors=True)
    for d in ("bin", "etc/hpm/trust", "etc/hpm/health.d", "etc/systemd/system", "usr/sbin", "usr/lib", "usr/lib64",
              "hpmtest", "var/lib", "var/log/journal"):
        (root / d).mkdir(parents=True)
    for link, target in (("lib", "usr/lib"), ("lib64", "usr/lib64"), ("sbin", "usr/sbin"), ("var/run", "../run")):
        os.symlink(target, root / link)  # Debian's merged /usr: what ldd names under /lib lands in usr/lib
    shutil.copyfile(shutil.which("busybox"), root / "bin" / "busybox")
    os.chmod(root / "bin" / "busybox", 0o755)
    for p in SYSTEMD_PROGRAMS:
        copy_program(root, p)
    copy_program(root, str(hpmtest.HPM), "/usr/sbin/hpm")
    udir = root / "usr/lib/systemd/system"
    udir.mkdir(parents=True, exist_ok=True)
    for u in SYSTEMD_UNITS:
        if (UNIT_DIR / u).exists():
            shutil.copyfile(UNIT_DIR / u, udir / u)
    for u in sorted((hpmtest.REPO / "systemd").iterdir()):
        if u.suffix in (".service", ".timer"):
            shutil.copyfile(u, udir / u.name)
    hc = hpmtest.REPO / "systemd" / "hpm-health-check"
    (root / "usr/lib/hpm").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(hc, root / "usr/lib/hpm/hpm-health-check")
    os.chmod(root / "usr/lib/hpm/hpm-health-check", 0o755)
    names = list(wants)
    for name, text in units:
        (root / "etc/systemd/system" / name).write_text(text)
        names.append(name)
    sysd = root / "etc/systemd/system"
    (sysd / "hpmtest.target").write_text(TARGET.format(wants=" ".join(names)))
    (sysd / "hpmtest.service").write_text(DRIVER.format(after=" ".join(names)))
    (root / "etc/systemd/journald.conf").write_text(
        "[Journal]\nStorage=volatile\nForwardToConsole=yes\nMaxLevelConsole=info\nTTYPath=/dev/console\n")
    (root / "etc/systemd/system.conf").write_text("[Manager]\nShowStatus=no\nDefaultTimeoutStartSec=600s\n")
    shutil.copyfile("/etc/os-release", root / "etc/os-release")
    (root / "etc/machine-id").write_text("4a1a9e0c6f0b4c7e9b5d2f3a1c0d8e7f\n")
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")
    (root / "etc/group").write_text("root:x:0:\nsystemd-journal:x:101:\nnogroup:x:65534:\n")
    (root / "etc/hpm/hpm.conf").write_text(conf)
    for pub in trust_pubs:
        shutil.copyfile(pub, root / "etc/hpm/trust" / Path(pub).name)
    for src, dest in files:
        if os.access(src, os.X_OK) and Path(src).is_file() and not str(src).endswith((".hpm", ".sh")):
            copy_program(root, str(src), str(dest))
        else:
            d = root / str(dest).lstrip("/")
            d.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, d)
    (root / "hpmtest" / "plan.sh").write_text(PLAN_HEAD + plan)
    (root / "init").write_text(INIT)
    os.chmod(root / "init", 0o755)
    return Path(hpmvm.pack_cpio(root, out))


def boot(workdir, initrd, cmdline="", timeout=900):
    """Boot the guest once (QEMU -kernel, no firmware variables); returns a
    hpmvm.Boot with the serial console."""
    workdir = Path(workdir)
    append = ("console=ttyS0 rdinit=/init panic=-1 systemd.unit=hpmtest.target "
              "systemd.journald.forward_to_console=1 " + cmdline)
    cmd = [hpmvm.QEMU, "-machine", "q35,accel=tcg", "-cpu", "max", "-m", "1536", "-smp", "1",
           "-nographic", "-no-reboot", "-nic", "none",
           "-kernel", str(hpmvm.KERNEL), "-initrd", str(initrd), "-append", append]
    start = time.monotonic()
    log = workdir / "serial.log"  # written as the guest runs: tail it to watch
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        killed = None
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()  # only the QEMU this call started
            proc.wait()
            killed = "timeout"
    serial = hpmvm.strip_ansi(log.read_bytes().decode("utf-8", "replace"))
    return hpmvm.Boot(serial, proc.returncode, time.monotonic() - start, killed)
