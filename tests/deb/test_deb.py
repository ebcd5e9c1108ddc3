# SPDX-License-Identifier: MIT
"""The Debian packages (debian/, `make deb`, mk/deb.mk): they build from
this tree's build with dpkg-buildpackage, lintian finds no error in them,
they hold exactly what `make install` installs (plus Debian's copyright
and changelog), and they install with dpkg into a scratch root, where the
installed programs run and the units, the EFI images and the man pages are
where the packages say.

The scratch install is a real `dpkg --install` into its own root and
database, run under fakeroot with the maintainer scripts outside a chroot
(--force-script-chrootless, so that it needs neither root nor a shell in
the scratch root): dpkg sets DPKG_ROOT for the scripts, and debhelper's
systemd snippets then enable the units inside the scratch root and leave
this machine's systemd alone.  The same command works as root (CI) and as
a normal user.  The scratch database starts with the stanzas of this
machine's packages that the packages depend on, so dpkg checks their
Depends for real; the installed programs run on this machine's libraries.
"""
import gzip
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: hpmtest
from hpmtest import BUILD, REPO  # noqa: E402

DEB_OUT = BUILD / "deb"
PACKAGES = ("hpm", "hpm-tools", "hpm-boot")
ARCH = "amd64"


def make(*args, env=None):
    """make in the repository on the build the tests use; the caller's make
    flags (jobserver, -j) are not passed on."""
    full = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    full.update(env or {})
    return subprocess.run(["make", "--no-print-directory", "-C", str(REPO), f"B={BUILD}", *args],
                          capture_output=True, text=True, env=full, timeout=600)


def deb_version():
    return subprocess.run(["dpkg-parsechangelog", "-l", str(REPO / "debian/changelog"), "-S", "Version"],
                          capture_output=True, text=True, check=True).stdout.strip()


def untracked_or_ignored(folder):
    """Files under folder (relative to the repository) git does not track,
    or tracks with changes."""
    p = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--ignored", "-uall", "--", folder],
                       capture_output=True, text=True, check=True)
    return p.stdout.splitlines()


@pytest.fixture(scope="module")
def debs():
    """`make deb` once for the module: package name -> .deb path."""
    parent = set(os.listdir(REPO.parent))
    debian = untracked_or_ignored("debian")
    p = make("deb")
    assert p.returncode == 0, f"make deb: exit {p.returncode}\n{p.stdout[-4000:]}\n{p.stderr[-4000:]}"
    # Nothing left beside the tree, nothing left in debian/ but its sources.
    assert set(os.listdir(REPO.parent)) - parent == set()
    assert untracked_or_ignored("debian") == debian
    v = deb_version()
    out = {name: DEB_OUT / f"{name}_{v}_{ARCH}.deb" for name in PACKAGES}
    for f in out.values():
        assert f.is_file(), f"{f} missing: {sorted(os.listdir(DEB_OUT))}"
    assert (DEB_OUT / f"hpm_{v}_{ARCH}.changes").is_file()
    return out


def field(deb, name):
    return subprocess.run(["dpkg-deb", "--field", str(deb), name], capture_output=True, text=True,
                          check=True).stdout.strip()


def contents(deb):
    """The regular files and symlinks of a .deb, without the leading './'."""
    out = subprocess.run(["dpkg-deb", "--contents", str(deb)], capture_output=True, text=True,
                         check=True).stdout
    files = set()
    for line in out.splitlines():
        mode, path = line.split()[0], line.split()[5]
        if not mode.startswith("d"):
            files.add(path[2:] if path.startswith("./") else path)
    return files


def test_lintian_finds_no_error(debs):
    v = deb_version()
    p = subprocess.run(["lintian", "--fail-on", "error", "--tag-display-limit", "0",
                        str(DEB_OUT / f"hpm_{v}_{ARCH}.changes")],
                       capture_output=True, text=True, timeout=600)
    errors = [line for line in p.stdout.splitlines() if line.startswith("E:")]
    assert errors == [] and p.returncode == 0, p.stdout + p.stderr


def test_control_data(debs):
    v = deb_version()
    for name, deb in debs.items():
        assert field(deb, "Package") == name
        assert field(deb, "Version") == v
        assert field(deb, "Architecture") == ARCH
        control = subprocess.run(["dpkg-deb", "--info", str(deb), "control"], capture_output=True,
                                 text=True, check=True).stdout
        assert "${" not in control, control  # every substitution variable was filled
    # ${shlibs:Depends} found the libraries the programs link; debian/control
    # names the two hpm loads when a command needs them (libcurl, libmicrohttpd).
    for lib in ("libc6", "libssl3", "libsqlite3-0", "libcurl4", "libmicrohttpd12"):
        assert re.search(rf"\b{lib} \(>=", field(debs["hpm"], "Depends")), field(debs["hpm"], "Depends")
    for lib in ("libc6", "libelf1", "libdw1"):
        assert re.search(rf"\b{lib} \(>=", field(debs["hpm-tools"], "Depends"))
    assert field(debs["hpm"], "Recommends") == "hpm-boot"
    assert re.fullmatch(r"gnu-efi \(= \S+\)", field(debs["hpm-boot"], "Built-Using"))


def test_packages_hold_what_make_install_installs(debs, tmp_path):
    """The split loses nothing and adds nothing but Debian's own files."""
    dest = tmp_path / "root"
    p = make("install", f"DESTDIR={dest}", "PREFIX=/usr")
    assert p.returncode == 0, p.stdout + p.stderr
    installed = set()
    for d, _, names in os.walk(dest):
        for n in names:
            rel = str((Path(d) / n).relative_to(dest))
            rel = re.sub(r"^usr/lib/systemd/system/", "lib/systemd/system/", rel)  # debian/hpm.install
            if rel.startswith("usr/share/man/"):
                rel += ".gz"  # dh_compress
            installed.add(rel)
    packaged = {}
    for name, deb in debs.items():
        for f in contents(deb):
            assert f not in packaged, f"{f} in {name} and {packaged[f]}"
            packaged[f] = name
    debian_own = {f"usr/share/doc/{n}/{f}" for n in PACKAGES for f in ("copyright", "changelog.gz")}
    assert set(packaged) - debian_own == installed
    assert debian_own <= set(packaged)
    # Each file in its package.
    for f, name in packaged.items():
        if f.startswith(("usr/bin/", "usr/share/man/man1/", "usr/share/bash-completion/completions/hpm-")):
            assert name == "hpm-tools", f
        elif f.startswith(("usr/lib/hpm/efi/", "usr/share/man/man7/")):
            assert name == "hpm-boot", f
        elif not f.startswith("usr/share/doc/hpm-"):
            assert name == "hpm", f


def host_stanzas(names):
    """This machine's dpkg status stanzas of the packages named."""
    out = []
    for stanza in Path("/var/lib/dpkg/status").read_text().split("\n\n"):
        m = re.search(r"^Package: (\S+)$", stanza, re.M)
        if m and m.group(1) in names and "Status: install ok installed" in stanza:
            out.append(stanza.strip())
    return out


def depends_names(deb):
    names = set()
    for alt in field(deb, "Depends").split(","):
        for dep in alt.split("|"):
            if dep.strip():
                names.add(dep.split()[0].split(":")[0])
    return names


@pytest.fixture(scope="module")
def scratch(debs, tmp_path_factory):
    """The three packages installed by dpkg into a scratch root."""
    root = tmp_path_factory.mktemp("dpkgroot")
    admin = root / "var/lib/dpkg"
    for d in ("info", "updates", "triggers"):
        (admin / d).mkdir(parents=True)
    deps = set().union(*(depends_names(d) for d in debs.values())) - set(PACKAGES)
    stanzas = host_stanzas(deps)
    assert {re.search(r"^Package: (\S+)$", s, re.M).group(1) for s in stanzas} == deps
    (admin / "status").write_text("\n\n".join(stanzas) + "\n\n")
    (admin / "available").write_text("")
    for s in stanzas:  # their (empty here) file lists, as dpkg names them
        name = re.search(r"^Package: (\S+)$", s, re.M).group(1)
        if re.search(r"^Multi-Arch: same$", s, re.M):
            name += ":" + re.search(r"^Architecture: (\S+)$", s, re.M).group(1)
        (admin / "info" / f"{name}.list").write_text("")
    p = subprocess.run(["fakeroot", "dpkg", "--force-script-chrootless", f"--root={root}",
                        "--log=/dev/null", "--install", *map(str, debs.values())],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "warning" not in p.stderr, p.stderr
    return root


def dpkg_query(root, *args):
    return subprocess.run(["dpkg-query", f"--admindir={root}/var/lib/dpkg", *args],
                          capture_output=True, text=True, check=True).stdout


def test_installed_and_configured(scratch):
    for name in PACKAGES:
        assert dpkg_query(scratch, "-W", "-f", "${Status} ${Version}", name) == \
            f"install ok installed {deb_version()}"
        for f in dpkg_query(scratch, "-L", name).split():
            assert (scratch / f.lstrip("/")).exists() or (scratch / f.lstrip("/")).is_symlink(), f


def test_installed_programs_run(scratch):
    v = deb_version()
    def run(*cmd):
        p = subprocess.run([str(scratch / cmd[0]), *cmd[1:]], capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stdout + p.stderr
        return p.stdout
    assert run("usr/sbin/hpm", "--version").split()[:2] == ["hpm", v]
    assert run("usr/bin/hpm-patchgen", "--version").split()[:2] == ["hpm-patchgen", v]
    assert run("usr/bin/hpm-sign", "--version").split()[:2] == ["hpm-sign", v]
    assert run("usr/bin/hpm-sign", "--help").lower().startswith("usage: hpm-sign")
    # The health check runner, on the (empty) health.d the package made.
    out = run("usr/lib/hpm/hpm-health-check", str(scratch / "etc/hpm/health.d"))
    assert out.strip().endswith("0 check(s), all passed"), out


def test_units_installed_and_enabled(scratch, debs):
    units = sorted(f for f in contents(debs["hpm"]) if f.startswith("lib/systemd/system/"))
    assert {Path(u).name for u in units} >= {"hpm-agent.service", "hpm-mark-good.service",
                                              "hpm-health-check.service"}
    for u in units:
        text = (scratch / u).read_text()
        # What a unit runs and the document it names are in the packages.
        # A program of the packages is in the scratch root; another one (e.g.
        # ExecReload=/bin/kill) must be a file of an installed Debian package
        # of this machine (Essential or in the packages' Depends).
        for exe in re.findall(r"^Exec\w+=[-@!+:]*(\S+)", text, re.M):
            if os.access(scratch / exe.lstrip("/"), os.X_OK):
                continue
            assert os.access(exe, os.X_OK), f"{u}: {exe} is neither in the packages nor on this system"
            owner = subprocess.run(["dpkg-query", "-S", exe], capture_output=True, text=True)
            assert owner.returncode == 0, f"{u}: {exe} belongs to no Debian package: {owner.stderr}"
        for doc in re.findall(r"file:(\S+)", text):
            assert (scratch / doc.lstrip("/")).is_file(), f"{u}: {doc}"
        # The postinst enabled it in the scratch root (deb-systemd-helper,
        # DPKG_ROOT): a link for each WantedBy=/RequiredBy= target.
        for kind, suffix in (("WantedBy", "wants"), ("RequiredBy", "requires")):
            for target in re.findall(rf"^{kind}=(.+)$", text, re.M):
                for t in target.split():
                    link = scratch / "etc/systemd/system" / f"{t}.{suffix}" / Path(u).name
                    assert link.is_symlink() and os.readlink(link) == f"/{u}", link
    assert (scratch / "etc/hpm/health.d").is_dir()


def test_efi_images_installed(scratch, debs):
    images = sorted(f for f in contents(debs["hpm-boot"]) if f.startswith("usr/lib/hpm/efi/"))
    assert images and all(f.endswith(".efi") for f in images), images
    for f in images:
        data = (scratch / f).read_bytes()
        assert data[:2] == b"MZ"  # a PE image
        assert data == (BUILD / "efi" / Path(f).name).read_bytes(), f  # the build's image


def test_man_pages_installed(scratch, debs):
    pages = {f for d in debs.values() for f in contents(d) if f.startswith("usr/share/man/")}
    names = {re.sub(r"^usr/share/man/man\d/(.+)\.gz$", r"\1", f) for f in pages}
    assert names == {p.name[:-4] for p in (REPO / "man").glob("*.scd")}
    for f in pages:
        m = re.fullmatch(r"usr/share/man/man(\d)/(.+)\.(\d)\.gz", f)
        assert m and m.group(1) == m.group(3), f
        roff = gzip.decompress((scratch / f).read_bytes()).decode()
        th = re.search(r'^\.TH "?([^" ]+)"? "?(\d)"?', roff, re.M)
        assert th and th.group(1).lower() == m.group(2).lower() and th.group(2) == m.group(1), f
        p = subprocess.run(["man", "--warnings", "-E", "UTF-8", "-l", str(scratch / f)],
                           capture_output=True, text=True, timeout=60,
                           env={**os.environ, "MANWIDTH": "80", "MAN_KEEP_STDERR": "1"})
        assert p.returncode == 0 and p.stderr == "" and len(p.stdout) > 200, f + p.stderr


def test_package_build_refuses_without_pinned_sources():
    """debian/rules never starts scripts/deps.sh (it would download): a
    missing or stale .deps/ stamp stops it with the fix."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    p = subprocess.run(["make", "--no-print-directory", "-C", str(REPO), "-f", "debian/rules",
                        "override_dh_auto_configure",
                        f"HPM_MAKE_VARS=PREFIX=/usr B={BUILD} DEPS_STAMP={BUILD}/no-such-stamp"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode != 0
    assert "run 'make deps' first" in p.stderr, p.stderr
    assert not (BUILD / "no-such-stamp").exists()
