# SPDX-License-Identifier: MIT
"""make install / make uninstall (mk/install.mk): the tree it writes under
DESTDIR, the installed programs, the man pages (they render without
warnings and cannot drift from the code: every command, option and
environment variable of hpm, every section and key of the policy file),
the example policy file (every key, the default values) and the bash
completion (it loads and completes what the programs accept)."""
import configparser
import filecmp
import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: hpmtest
from hpmtest import (BUILD, HPM, HPM_SIGN, HPMBOOT_DEV, HPMBOOT_DEV_SIGNED, HPMBOOT_RELEASE,  # noqa: E402
                     HPMBOOT_RELEASE_SIGNED, OK, PATCHGEN, REPO, run)

MAN_PAGES = {"hpm.8", "hpm-sign.1", "hpm-patchgen.1", "hpm.conf.5", "hpmboot.efi.7"}
UNITS = {"hpm-agent.service", "hpm-health-check.service", "hpm-mark-good.service", "hpm-assess.service",
         "hpm-assess.timer", "hpm-restore.service"}
PROGRAMS = {"hpm": "hpm", "hpm-sign": "hpm-sign", "hpm-patchgen": "hpm-patchgen"}


def boot_images():
    """The boot images `make install` installs: the development ones always,
    the release ones when `make hpmboot-release` made them."""
    return [HPMBOOT_DEV, HPMBOOT_DEV_SIGNED] + [p for p in (HPMBOOT_RELEASE, HPMBOOT_RELEASE_SIGNED) if p.exists()]


def expected_files(prefix="usr", images=None):
    docs = [p.name for p in (REPO / "docs").glob("*.md")] + ["hpm-json.schema.json"]
    files = {f"{prefix}/sbin/hpm", f"{prefix}/bin/hpm-sign", f"{prefix}/bin/hpm-patchgen",
             f"{prefix}/lib/hpm/hpm-health-check", f"{prefix}/share/doc/hpm/examples/hpm.conf"}
    files |= {f"{prefix}/lib/hpm/efi/{p.name}" for p in (images or boot_images())}
    files |= {f"{prefix}/lib/systemd/system/{u}" for u in UNITS}
    files |= {f"{prefix}/share/doc/hpm/{d}" for d in docs}
    files |= {f"{prefix}/share/man/man{m.rsplit('.', 1)[1]}/{m}" for m in MAN_PAGES}
    files |= {f"{prefix}/share/bash-completion/completions/{c}" for c in PROGRAMS}
    return files


def make(*args):
    """make in the repository on the build the tests use; the caller's make
    flags (jobserver, -j) are not passed on."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    p = subprocess.run(["make", "--no-print-directory", "-C", str(REPO), f"B={BUILD}", *args],
                       capture_output=True, text=True, env=env, timeout=600)
    assert p.returncode == 0, f"make {' '.join(args)}: exit {p.returncode}\n{p.stdout}\n{p.stderr}"
    return p


def tree(root: Path):
    """(files, empty directories) under root, as relative paths."""
    files, empty = set(), set()
    for d, dirs, names in os.walk(root):
        rel = Path(d).relative_to(root)
        files |= {str(rel / n) for n in names}
        if not dirs and not names and Path(d) != root:
            empty.add(str(rel))
    return files, empty


def etc_hpm_state():
    p = Path("/etc/hpm")
    return sorted(str(x) for x in p.rglob("*")) if p.exists() else None


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """A scratch root with `make install DESTDIR=root` (default PREFIX)."""
    before = etc_hpm_state()
    r = tmp_path_factory.mktemp("destdir") / "root"
    make("install", f"DESTDIR={r}")
    assert etc_hpm_state() == before  # /etc/hpm of this machine untouched
    return r


def test_install_tree_is_exactly_the_expected_files(root):
    files, empty = tree(root)
    assert files == expected_files()
    assert empty == {"etc/hpm/health.d"} and (root / "etc/hpm").is_dir()
    for f in files:
        mode = (root / f).stat().st_mode & 0o7777
        want = 0o755 if f.split("/")[1] in ("sbin", "bin") or f.endswith("hpm-health-check") else 0o644
        assert mode == want, f"{f}: mode {mode:o}"
    assert filecmp.cmp(root / "usr/sbin/hpm", HPM, shallow=False)
    assert filecmp.cmp(root / "usr/bin/hpm-sign", HPM_SIGN, shallow=False)
    for img in boot_images():
        assert filecmp.cmp(root / "usr/lib/hpm/efi" / img.name, img, shallow=False)


def test_installed_programs_run(root):
    v = run(root / "usr/sbin/hpm", "--version", check=OK).out
    assert re.fullmatch(r"hpm \d+\.\d+\.\d+\n", v)
    assert run(root / "usr/bin/hpm-sign", "--help", check=OK).out.startswith("Usage: hpm-sign ")
    assert run(root / "usr/bin/hpm-patchgen", "--version", check=OK).out.startswith("hpm-patchgen ")


def unit_execs(unit: Path):
    return re.findall(r"^ExecStart=(\S+)", unit.read_text(), re.M)


def test_units_run_the_installed_programs(root):
    for u in UNITS:
        if u.endswith(".timer"):  # starts the service of its name
            assert (root / "usr/lib/systemd/system" / u.replace(".timer", ".service")).is_file(), u
            continue
        execs = unit_execs(root / "usr/lib/systemd/system" / u)
        assert execs, u
        for e in execs:
            assert os.access(root / e.lstrip("/"), os.X_OK), f"{u}: {e} is not installed"


# systemd-analyze security's exposure (0 best .. 10), the most each unit may
# reach (docs/operations.md "Units": what each unit needs and why)
EXPOSURE_MAX = {"hpm-mark-good.service": 2.0, "hpm-health-check.service": 2.0, "hpm-agent.service": 6.0,
                "hpm-assess.service": 6.0, "hpm-restore.service": 6.0}


def test_units_verify_against_the_installed_tree(root, tmp_path):
    """systemd-analyze verify on the installed units, in a root holding the
    installed programs plus what a Debian host brings (systemd's own
    targets, kill): no warning at all (unknown keys, missing programs,
    missing dependencies are warnings that exit 0, so the output is checked)."""
    r = tmp_path / "root"
    units = r / "usr/lib/systemd/system"
    units.mkdir(parents=True)
    for f in Path("/usr/lib/systemd/system").glob("*.target"):
        (units / f.name).write_bytes(f.read_bytes())
    for u in UNITS:
        (units / u).write_bytes((root / "usr/lib/systemd/system" / u).read_bytes())
    for prog in ("usr/sbin/hpm", "usr/lib/hpm/hpm-health-check"):
        (r / prog).parent.mkdir(parents=True, exist_ok=True)
        (r / prog).write_bytes((root / prog).read_bytes())
        (r / prog).chmod(0o755)
    (r / "usr/bin").mkdir(exist_ok=True)
    (r / "usr/bin/kill").write_bytes(Path("/usr/bin/kill").read_bytes())
    (r / "usr/bin/kill").chmod(0o755)
    (r / "bin").symlink_to("usr/bin")
    p = subprocess.run(["systemd-analyze", "verify", "--man=no", f"--root={r}", *sorted(UNITS)], cwd=units,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and p.stdout + p.stderr == "", p.stdout + p.stderr
    # the check can fail: a unit naming a program that is not there
    (r / "usr/sbin/hpm").unlink()
    p = subprocess.run(["systemd-analyze", "verify", "--man=no", f"--root={r}", "hpm-agent.service"], cwd=units,
                       capture_output=True, text=True, timeout=120)
    assert "hpm" in p.stdout + p.stderr


def test_units_sandbox_exposure(root):
    for u, most in EXPOSURE_MAX.items():
        p = subprocess.run(["systemd-analyze", "security", "--offline=true", "--no-pager",
                            str(root / "usr/lib/systemd/system" / u)], capture_output=True, text=True, timeout=120)
        m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", p.stdout + p.stderr)
        assert m, p.stdout + p.stderr
        assert float(m.group(1)) <= most, f"{u}: exposure {m.group(1)} > {most}"


def test_other_prefix_and_uninstall(tmp_path):
    """A PREFIX of its own: everything lands under DESTDIR/PREFIX (nothing
    at PREFIX itself), the units name the programs there; uninstall then
    leaves no file, and keeps /etc/hpm/health.d when it holds a check."""
    prefix = f"/hpm-install-test-{uuid.uuid4().hex[:12]}"
    r = tmp_path / "root"
    make("install", f"DESTDIR={r}", f"PREFIX={prefix}")
    assert not Path(prefix).exists()
    files, _ = tree(r)
    assert files == expected_files(prefix.lstrip("/"))
    for u in UNITS:
        for e in unit_execs(r / prefix.lstrip("/") / "lib/systemd/system" / u):
            assert e.startswith(prefix + "/") and os.access(r / e.lstrip("/"), os.X_OK), (u, e)
    make("uninstall", f"DESTDIR={r}", f"PREFIX={prefix}")
    files, _ = tree(r)
    assert files == set()
    assert not (r / prefix.lstrip("/") / "lib/hpm").exists()
    assert not (r / prefix.lstrip("/") / "share/doc/hpm").exists()
    assert not (r / "etc/hpm").exists()
    # a check the administrator added stays, and with it its folder
    make("install", f"DESTDIR={r}", f"PREFIX={prefix}")
    (r / "etc/hpm/health.d/10-disk").write_text("#!/bin/sh\n")
    make("uninstall", f"DESTDIR={r}", f"PREFIX={prefix}")
    assert tree(r)[0] == {"etc/hpm/health.d/10-disk"}


# ---- man pages ---------------------------------------------------------------------

def render(page: Path):
    """The page as plain text, wide and unhyphenated; man's and groff's
    warnings must be empty."""
    env = {"MANWIDTH": "250", "LC_ALL": "C.UTF-8", "MAN_KEEP_FORMATTING": None, "MANPAGER": "cat", "PAGER": "cat"}
    r = run("man", "--warnings", "--nh", "--nj", "-l", page, env=env, check=OK)
    assert r.err == "", f"{page.name}: {r.err}"
    g = run("groff", "-ww", "-man", "-z", page, check=OK)
    assert g.err == "", f"{page.name}: {g.err}"
    return r.out


def sections(text):
    """{SECTION HEADING: its text}: headings are the unindented lines."""
    out, cur = {}, None
    for line in text.splitlines()[1:-1]:
        if line and not line[0].isspace():
            cur = line.strip()
            out[cur] = ""
        elif cur:
            out[cur] += line + "\n"
    return out


@pytest.fixture(scope="module")
def man(root):
    pages = {}
    for m in MAN_PAGES:
        p = root / f"usr/share/man/man{m.rsplit('.', 1)[1]}" / m
        pages[m] = render(p)
    return pages


def test_man_pages_render_without_warnings(man):
    for m, text in man.items():
        name = m.rsplit(".", 1)[0]
        assert re.search(rf"^NAME\n +{re.escape(name)} - ", text, re.M), m


def hpm_commands():
    out = run(HPM, "--help", env={"HPM_CONF": "/dev/null"}, check=OK).out
    cmds = re.findall(r"^  ([a-z-]+)(?: |$)", out.split("\nglobal options")[0], re.M)
    globals_ = re.findall(r"^  (--[a-z-]+)", out.split("\nglobal options")[1], re.M)
    return cmds, globals_


def long_options(text):
    return set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", text))


def tool_options(usage):
    """The long options a release tool's --help offers: those of its usage
    lines and of its option list (not those its prose names)."""
    lines = usage.split("\n")
    n = 1
    while n < len(lines) and lines[n].startswith(" " * 8):  # the usage's continuation lines
        n += 1
    synopsis = "\n".join(lines[:n])
    return long_options(synopsis) | set(re.findall(r"^ +(?:-\w, )?(--[a-z][a-z-]*)", usage, re.M))


def test_hpm8_has_every_command_and_option(man):
    cmds, globals_ = hpm_commands()
    assert len(cmds) >= 18 and "--config" in globals_
    s = sections(man["hpm.8"])
    for g in globals_:
        assert re.search(rf"^ {{7}}{g}\b", s["GLOBAL OPTIONS"], re.M), g
    # each command's part of COMMANDS: from its "hpm CMD" line to the next command's
    part, cur = {}, None
    for line in s["COMMANDS"].splitlines():
        m = re.match(r"^ {7}hpm ([a-z-]+)", line)
        if m:
            cur = m.group(1)
        if cur:
            part[cur] = part.get(cur, "") + line + "\n"
    assert set(part) == set(cmds)
    for c in cmds:
        usage = run(HPM, c, "--help", env={"HPM_CONF": "/dev/null"}, check=OK).out
        for opt in long_options(usage) - set(globals_) - {"--help"}:
            assert opt in long_options(part[c]), f"hpm(8) does not describe {opt} under hpm {c}"
    # every environment variable hpm reads (test hooks aside)
    src = "".join(p.read_text() for p in (REPO / "runtime").rglob("*.c"))
    env = set(re.findall(r'\b(?:getenv|env_or|env_set|env_long|env_ll)\("([A-Z_]+)"[,)]', src))
    env = {e for e in env if not e.startswith("HPM_TEST_")}
    assert {"HPM_CONF", "HPM_SOURCE", "HPM_REBOOT_CMD"} <= env
    for e in env:
        assert re.search(rf"\b{e}\b", s["ENVIRONMENT"]), f"hpm(8) ENVIRONMENT lacks {e}"
    for code in range(7):
        assert re.search(rf"^ {{7}}{code}$", s["EXIT STATUS"], re.M), code


def test_tool_pages_have_every_command_and_option(man):
    out = run(HPM_SIGN, "--help", check=OK).out
    cmds = re.findall(r"^  ([a-z]+) ", out.split("Commands:")[1].split("\n\n")[0], re.M)
    page = sections(man["hpm-sign.1"])["COMMANDS"]
    for c in cmds:
        part = re.search(rf"^ {{7}}hpm-sign {c}\b.*?(?=^ {{7}}hpm-sign |\Z)", page, re.M | re.S)
        assert part, f"hpm-sign(1) lacks {c}"
        usage = run(HPM_SIGN, c, "--help", check=OK).out
        for opt in tool_options(usage) - {"--help"}:
            assert opt in long_options(part.group(0)), f"hpm-sign(1) does not describe {opt} under {c}"
    usage = run(PATCHGEN, "--help", check=OK).out
    assert tool_options(usage) <= long_options(sections(man["hpm-patchgen.1"])["OPTIONS"])
    usage = run(PATCHGEN, "diff", "--help", check=OK).out
    assert tool_options(usage) <= long_options(sections(man["hpm-patchgen.1"])["DIFF MODE"]) | {"--help"}


def policy_keys():
    """{section: {keys}} as runtime/update/policy.c accepts them."""
    src = (REPO / "runtime/update/policy.c").read_text()
    body = src[src.index("static int handler("):src.index("static policy_result load_one(")]
    marks = [(m.start(), m.group(1)) for m in re.finditer(r'strcmp\(section, "([a-z]+)"\)', body)]
    marks += [(body.index("} else if (c->win)"), "window"), (body.index("} else if (c->blk)"), "blackout")]
    marks.sort()
    keys = {}
    for i, (pos, sec) in enumerate(marks):
        end = marks[i + 1][0] if i + 1 < len(marks) else len(body)
        keys[sec] = set(re.findall(r'strcmp\(key, "([a-z_]+)"\)', body[pos:end]))
    keys["trust"] = set(re.findall(r'return "([a-z]+_signers)"', src))
    kinds = set(re.findall(r'strcmp\(kind, "([a-z]+)"\)', src))
    assert kinds == set(keys) and all(keys.values()), (kinds, keys)
    return keys


def test_hpm_conf5_has_every_section_and_key(man):
    s = sections(man["hpm.conf.5"])
    for sec, keys in policy_keys().items():
        heading = {"window": "WINDOWS", "blackout": "BLACKOUTS"}.get(sec, f"[{sec}]")
        assert heading in s, f"hpm.conf(5) lacks {heading}"
        if sec in ("window", "blackout"):
            assert f'[{sec} "NAME"]' in s[heading]
        for k in keys:
            assert re.search(rf"(^ {{7}}|, ){k} =", s[heading], re.M), f"hpm.conf(5) {heading} lacks {k}"


def test_example_policy_has_every_key_with_its_default(root, tmp_path):
    example = root / "usr/share/doc/hpm/examples/hpm.conf"
    text = example.read_text()
    assert not re.search(r"^[^#\n]", text, re.M), "every line is a comment: the file as it is means the defaults"
    full = tmp_path / "full.conf"
    full.write_text(re.sub(r"^#(\[|[a-z_]+ = )", r"\1", text, flags=re.M))
    ini = configparser.ConfigParser(interpolation=None, comment_prefixes=("#", ";"))
    ini.read(full)
    got = {}
    for sec in ini.sections():
        got.setdefault(sec.split(" ")[0], set()).update(ini[sec])
    assert got == policy_keys()
    # without the examples of windows and blackouts, uncommented, it is the defaults
    plain = tmp_path / "plain.conf"
    plain.write_text(full.read_text().split("\n[window")[0] + "\n")
    env = {"HPM_STATE_DIR": tmp_path / "state", "HPM_TRUST_DIR": tmp_path / "trust", "HPM_ESP": tmp_path / "esp"}
    (tmp_path / "empty.conf").write_text("")
    want = run(HPM, "--config", tmp_path / "empty.conf", "policy", "--json", env=env, check=OK).json()
    have = run(HPM, "--config", plain, "policy", "--json", env=env, check=OK).json()
    assert have["source"] == "https://updates.example.com/hpm/" and have["timezone"] == "Europe/Berlin"
    for k in ("command", "schema", "file", "source", "timezone", "timezone_in_use", "now", "paths"):
        want.pop(k), have.pop(k)
    assert have == want
    # [paths]: the built-in defaults, as hpm reports them without a policy or overrides
    defaults = run(HPM, "--config", tmp_path / "empty.conf", "policy", "--json",
                   env={"HPM_STATE_DIR": None, "HPM_TRUST_DIR": None, "HPM_ESP": None, "HPM_CACHE_DIR": None},
                   check=OK).json()["paths"]
    assert dict(ini["paths"]) == defaults
    # the windows and blackouts are valid too
    r = run(HPM, "--config", full, "policy", "--json", env=env, check=OK).json()
    assert [w["name"] for w in r["windows"]] == ["weekend", "christmas-eve"]
    assert [b["name"] for b in r["blackouts"]] == ["year-end"]


# ---- bash completion ----------------------------------------------------------------

def complete(root, prog, words, cwd=None):
    """What the installed completion of prog offers for words (the last is
    the word being completed)."""
    fn = {"hpm": "_hpm", "hpm-sign": "_hpm_sign", "hpm-patchgen": "_hpm_patchgen"}[prog]
    script = (f'source "$1" || exit 9; complete -p {prog} || exit 8; shift; COMP_WORDS=("$@"); '
              f'COMP_CWORD=$(($# - 1)); COMPREPLY=(); {fn}; printf "%s\\n" "${{COMPREPLY[@]}}"')
    r = run("bash", "--norc", "--noprofile", "-c", script, "bash",
            root / "usr/share/bash-completion/completions" / prog, prog, *words, cwd=cwd, check=OK)
    first, _, rest = r.out.partition("\n")
    assert first == f"complete -F {fn} {prog}", r.out
    assert r.err == "", r.err
    return [w for w in rest.split("\n") if w]


def test_completion_hpm(root, tmp_path):
    assert complete(root, "hpm", ["ap"]) == ["apply"]
    cmds, globals_ = hpm_commands()
    assert sorted(complete(root, "hpm", [""])) == sorted(cmds)
    assert set(complete(root, "hpm", ["--"])) >= set(globals_)
    for c in cmds:
        usage = run(HPM, c, "--help", env={"HPM_CONF": "/dev/null"}, check=OK).out
        assert set(complete(root, "hpm", [c, "--"])) >= long_options(usage), c
    (tmp_path / "fix.hpm").write_text("")
    (tmp_path / "notes.txt").write_text("")
    (tmp_path / "sub").mkdir()
    assert sorted(complete(root, "hpm", ["apply", ""], cwd=tmp_path)) == ["fix.hpm", "sub"]
    assert complete(root, "hpm", ["--esp", "/tmp", "stage", "f"], cwd=tmp_path) == ["fix.hpm"]
    assert complete(root, "hpm", ["install", "--reboot", "if"]) == ["if-required"]


def test_completion_hpm_sign_and_patchgen(root, tmp_path):
    out = run(HPM_SIGN, "--help", check=OK).out
    cmds = re.findall(r"^  ([a-z]+) ", out.split("Commands:")[1].split("\n\n")[0], re.M)
    assert len(cmds) == 11 and set(complete(root, "hpm-sign", [""])) >= set(cmds)
    for c in cmds:
        usage = run(HPM_SIGN, c, "--help", check=OK).out
        assert set(complete(root, "hpm-sign", [c, "--"])) >= tool_options(usage), c
    (tmp_path / "slot-a.hpm").write_text("")
    assert complete(root, "hpm-sign", ["verify", "--trust", "k.pub", "sl"], cwd=tmp_path) == ["slot-a.hpm"]
    usage = run(PATCHGEN, "--help", check=OK).out
    assert set(complete(root, "hpm-patchgen", ["--"])) >= tool_options(usage)
    assert complete(root, "hpm-patchgen", ["--target", "sl"], cwd=tmp_path) == ["slot-a.hpm"]
    assert "diff" in complete(root, "hpm-patchgen", [""])
    usage = run(PATCHGEN, "diff", "--help", check=OK).out
    assert set(complete(root, "hpm-patchgen", ["diff", "--"])) >= tool_options(usage)
