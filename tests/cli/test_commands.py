# SPDX-License-Identifier: MIT
"""The command-line contract of hpm and hpm-patchgen (hpm-sign's is in
test_usage.py): every command answers --help and --version, and an unknown
option, a missing value or an extra argument is a usage error (exit 2) that
names the argument and says where help is, on stderr, with nothing on
stdout and nothing changed but the history row of the attempt."""
import re

import pytest

from hpmtest import HPM, OK, PATCHGEN, REPO, USAGE, run

# hpm's commands, and operands that make a valid command line (so one more
# is the extra argument)
HPM_COMMANDS = {
    "apply": ["x.hpm"], "revert": ["--all"], "list": [], "agent": ["--once"], "recover": [],
    "status": [], "mark-good": [], "stage": ["x.hpm"], "rollback": [], "catalog": [], "assess": [],
    "install": [], "policy": [], "history": [], "enroll": [], "unenroll": [], "clean": [], "commit": [],
    "setup": ["x.hpm"], "restore": [],
    "fleet": ["status"],
}


@pytest.fixture
def hpm_env(tmp_path):
    """Every place hpm could write to is under tmp_path; an empty policy file."""
    (tmp_path / "hpm.conf").write_text("")
    return {"HPM_STATE_DIR": tmp_path / "state", "HPM_TRUST_DIR": tmp_path / "trust",
            "HPM_ESP": tmp_path / "esp", "HPM_EFIVARS": tmp_path / "efivars", "HPM_CONF": tmp_path / "hpm.conf"}


def hpm(env, *args, check):
    return run(HPM, *args, env=env, check=check, timeout=30)


def test_global_usage_lists_every_command(hpm_env):
    out = hpm(hpm_env, "--help", check=OK).out
    listed = re.findall(r"^  ([a-z-]+)(?: |$)", out.split("\nglobal options")[0], re.M)
    assert sorted(listed) == sorted(HPM_COMMANDS)
    assert "--version" in out and "--baseline" not in out  # test-only options stay hidden


@pytest.mark.parametrize("cmd", sorted(HPM_COMMANDS))
def test_hpm_command_help_and_version(hpm_env, cmd):
    r = hpm(hpm_env, cmd, "--help", check=OK)
    assert re.search(rf"^ *(usage: )?hpm {cmd}\b", r.out, re.M), r.out
    assert r.err == ""
    assert hpm(hpm_env, cmd, "-h", check=OK).out == r.out
    v = hpm(hpm_env, cmd, "--version", check=OK)
    assert v.out == hpm(hpm_env, "--version", check=OK).out and re.fullmatch(r"hpm \d+\.\d+\.\d+\n", v.out)


@pytest.mark.parametrize("cmd", sorted(HPM_COMMANDS))
@pytest.mark.parametrize("bad", ["--no-such-option", "-Z", "--json=yes", "extra-arg"])
def test_hpm_command_usage_errors(hpm_env, cmd, bad):
    r = hpm(hpm_env, cmd, *HPM_COMMANDS[cmd], bad, check=USAGE)
    assert r.out == ""
    first, second = r.err.splitlines()[:2]
    if bad == "extra-arg":
        assert first.startswith(f"hpm: {cmd}: unexpected argument 'extra-arg'"), r.err
    else:
        assert first.startswith(f"hpm: {cmd}: unknown option '{bad.split('=')[0]}'"), r.err
    assert second == f"Try 'hpm {cmd} --help'."
    assert not (hpm_env["HPM_ESP"]).exists() and not (hpm_env["HPM_EFIVARS"]).exists()


@pytest.mark.parametrize("cmd,opt", [("apply", "--pid"), ("revert", "--to"), ("stage", "--tries"),
                                     ("catalog", "--source"), ("install", "--reboot"), ("history", "--since")])
def test_hpm_missing_value(hpm_env, cmd, opt):
    r = hpm(hpm_env, cmd, opt, check=USAGE)
    assert r.err.startswith(f"hpm: {cmd}: option '{opt}' needs a value\nTry 'hpm {cmd} --help'.\n"), r.err


def test_hpm_options_belong_to_their_command(hpm_env):
    # stage's options are not mark-good's or rollback's
    for cmd in ("mark-good", "rollback"):
        r = hpm(hpm_env, cmd, "--tries", "2", check=USAGE)
        assert f"hpm: {cmd}: unknown option '--tries'" in r.err


def test_hpm_unknown_command(hpm_env):
    r = hpm(hpm_env, "frobnicate", check=USAGE)
    assert "unknown command 'frobnicate'" in r.err and r.out == ""


# ---- hpm-patchgen --------------------------------------------------------------

def test_patchgen_help_and_version():
    r = run(PATCHGEN, "--help", check=OK)
    assert r.out.startswith("usage: hpm-patchgen") and r.err == ""
    assert re.fullmatch(r"hpm-patchgen \d+\.\d+\.\d+ \(payload format \d+\)\n",
                        run(PATCHGEN, "--version", check=OK).out)


@pytest.mark.parametrize("args,want", [
    (["--no-such-option"], "unknown option '--no-such-option'"),
    (["--target"], "option '--target' needs a value"),
    (["extra-arg"], "unexpected argument 'extra-arg': every input is given by an option"),
    (["--map", "m", "--out", "o", "--source", "s.c"], "--target BINARY is required"),
    (["--target", "t", "--out", "o", "--source", "s.c"], "--map FILE is required"),
    (["--target", "t", "--map", "m", "--source", "s.c"], "--out PAYLOAD is required"),
    (["--target", "t", "--map", "m", "--out", "o"], "give exactly one of --source FILE.c or --object FILE.o"),
])
def test_patchgen_usage_errors(tmp_path, args, want):
    r = run(PATCHGEN, *args, check=USAGE, cwd=tmp_path)
    assert r.out == "" and r.err == f"hpm-patchgen: {want}\nTry 'hpm-patchgen --help'.\n"
    assert list(tmp_path.iterdir()) == []


def test_messages_are_ascii():
    """Every string literal of the C sources (what the tools print) is ASCII:
    messages must survive any terminal, log and locale."""
    import pathlib
    bad = []
    for f in sorted(pathlib.Path(REPO).glob("*/**/*.c")):
        if f.parts[len(pathlib.Path(REPO).parts)] not in ("core", "host", "runtime", "tools", "efi"):
            continue
        src = f.read_text(errors="replace")
        src = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), src, flags=re.S)
        src = re.sub(r"//[^\n]*", "", src)
        for m in re.finditer(r'"(?:[^"\\\n]|\\.)*"', src):
            if any(ord(c) > 127 for c in m.group(0)):
                bad.append(f"{f}:{src[:m.start()].count(chr(10)) + 1}: {m.group(0)[:60]}")
    assert bad == []


@pytest.mark.parametrize("cmd", [["recover"], ["commit"], ["revert", "--all"]])
def test_missing_state_directory_says_the_fix(tmp_path, cmd):
    """A state directory that cannot be made (its parent is missing) is named
    with the fix, not as 'DIR/lock: cannot lock: No such file or directory'."""
    state = tmp_path / "no" / "such" / "state"
    r = run(HPM, "--state-dir", state, *cmd, check=None, env={"HPM_CONF": None})
    assert r.returncode in (3, 4), r
    assert f"{state}: the state directory does not exist and cannot be created" in r.stderr, r.stderr
    assert "--state-dir, HPM_STATE_DIR, [paths] state_dir" in r.stderr


def test_fleet_ring_lists_are_read_whole(hpm_env):
    """A --ring list is checked to its end, however long: a name given twice
    past the first 4,096 characters is still refused."""
    names = [f"host-{i:03d}-" + "x" * 50 for i in range(100)]
    ring = ",".join(names + [names[0]])
    assert len(ring) > 4096
    r = hpm(hpm_env, "fleet", "rollout", "start", "--baseline-version", "2026.1", "--ring", ring, check=USAGE)
    assert f"host {names[0]} is named twice" in r.err, r.err
    r = hpm(hpm_env, "fleet", "rollout", "start", "--baseline-version", "2026.1", "--ring", ring[:-3] + "x y",
            check=USAGE)
    assert "'" + names[0][:-3] + "x y' is not a host name" in r.err, r.err
