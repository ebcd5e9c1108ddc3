# SPDX-License-Identifier: MIT
"""hpm policy, hpm enroll / unenroll: the policy file as operators see it,
window state across a DST change, refusals naming file/line/key, and the
re-enrollment rule."""
import calendar
import json
import os
from pathlib import Path

import pytest

import hpmtest
from hpmtest import rfc3339

BASE_A = "ab" * 32
BASE_B = "cd" * 32


def utc(*a):
    return calendar.timegm((*a, 0, 0, 0, 0)[:6] + (0, 0, 0))


@pytest.fixture
def env(tmp_path):
    """What hpm runs with (on top of the test's environment); the policy
    file is empty (the documented defaults) until a test writes it."""
    (tmp_path / "hpm.conf").write_text("")
    return {"HPM_STATE_DIR": str(tmp_path / "state"), "HPM_CONF": str(tmp_path / "hpm.conf"),
            "HPM_BASELINE": BASE_A, "HPM_NOW": str(utc(2026, 3, 28, 12, 0)), "HPM_BASELINE_SVN": None}


def hpm(env, *args):
    return hpmtest.hpm(*args, env=env, check=None)


def test_defaults_without_file(env, tmp_path):
    # an empty file: the documented defaults
    r = hpm(env, "policy", "--json")
    assert r.returncode == 0, r.stderr
    p = json.loads(r.stdout)
    assert p["file_present"] is True
    assert p["auto_classifications"] == ["critical", "security"]
    assert p["source"] is None and p["timezone"] is None and p["now"]["window"] is None
    assert p["deadline_days"] == 30 and p["retention_days"] == 30 and p["reboot"] == "if-required"
    assert p["hotpatch_outside_windows"] is True and p["windows"] == []
    # a named file that does not exist is an error, for every command, naming it
    (tmp_path / "hpm.conf").unlink()
    for cmd in ("policy", "status", "list", "history"):
        r = hpm(env, cmd)
        assert r.returncode == 2 and r.stdout == "", (cmd, r.stdout, r.stderr)
        assert f"{tmp_path / 'hpm.conf'}: the policy file named by HPM_CONF does not exist" in r.stderr
    r = hpm(env, "--config", tmp_path / "other.conf", "policy")
    assert r.returncode == 2 and "named by --config does not exist" in r.stderr
    assert hpm(env, "policy", "--help").returncode == 0  # help needs no policy
    # the default file, not named, may be missing: defaults
    if os.path.exists("/etc/hpm/hpm.conf"):
        pytest.skip("this machine has /etc/hpm/hpm.conf")
    env["HPM_CONF"] = None
    r = hpm(env, "policy", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["file_present"] is False
    assert "missing: documented defaults" in hpm(env, "policy").stdout


def test_config_file_syntax(env, tmp_path):
    """'#' after a value is a comment; a section header without ']' and a
    directory are named as such; --config wins over HPM_CONF; drop-ins in
    FILE.d/*.conf override keys and add windows; [paths] sets the
    directories no option or variable gives."""
    conf = tmp_path / "hpm.conf"
    conf.write_text("[update]\nsource = /srv/mirror/#frag   # the mirror\nreboot = never ; inline\n"
                    "deadline_days = 7#not-a-comment\n")
    r = hpm(env, "policy", "--json")
    assert r.returncode == 2 and "deadline_days: '7#not-a-comment'" in r.stderr
    conf.write_text("[update]\nsource = /srv/mirror/#frag   # the mirror\nreboot = never ; inline\n")
    p = json.loads(hpm(env, "policy", "--json").stdout)
    assert p["source"] == "/srv/mirror/#frag" and p["reboot"] == "never"
    conf.write_text("[update\nsource = /srv/mirror\n")
    r = hpm(env, "policy")
    assert r.returncode == 2 and f"{conf}:1: '[update': a section header needs its closing ]" in r.stderr, r.stderr
    d = tmp_path / "conf-dir"
    d.mkdir()
    r = hpm(env, "--config", d, "status")
    assert r.returncode == 2 and f"{d}: is a directory" in r.stderr
    # drop-ins, in lexical order, over the main file
    conf.write_text("[update]\nreboot = never\ndeadline_days = 9\n"
                    "[window \"a\"]\ndays = Sat\nstart = 01:00\nduration = 2h\n")
    dd = tmp_path / "hpm.conf.d"
    dd.mkdir()
    (dd / "20-late.conf").write_text("[update]\ndeadline_days = 3\n")
    (dd / "10-early.conf").write_text("[update]\ndeadline_days = 5\n[window \"b\"]\ndays = Sun\n"
                                      "start = 01:00\nduration = 1h\n")
    (dd / "ignored.txt").write_text("not read")
    p = json.loads(hpm(env, "policy", "--json").stdout)
    assert p["deadline_days"] == 3 and p["reboot"] == "never"
    assert [w["name"] for w in p["windows"]] == ["a", "b"]
    (dd / "30-dup.conf").write_text("[window \"a\"]\ndays = Mon\nstart = 01:00\nduration = 1h\n")
    r = hpm(env, "policy")
    assert r.returncode == 2 and f"{dd / '30-dup.conf'}:" in r.stderr and '[window "a"] appears twice' in r.stderr
    (dd / "30-dup.conf").unlink()
    # [paths]: used where no option or variable says otherwise
    (dd / "40-paths.conf").write_text(f"[paths]\nstate_dir = {tmp_path / 'from-conf'}\n")
    env["HPM_STATE_DIR"] = None
    hpm(env, "unenroll")
    assert (tmp_path / "from-conf" / "enrollment").exists()
    assert json.loads(hpm(env, "policy", "--json").stdout)["paths"]["state_dir"] == str(tmp_path / "from-conf")
    hpm(env, "--state-dir", tmp_path / "from-option", "unenroll")
    assert (tmp_path / "from-option" / "enrollment").exists()
    (dd / "40-paths.conf").write_text("[paths]\nstate_dir = relative/dir\n")
    r = hpm(env, "list")
    assert r.returncode == 2 and "[paths] state_dir: 'relative/dir': expected an absolute directory path" in r.stderr


def test_window_across_spring_forward(env, tmp_path):
    (tmp_path / "hpm.conf").write_text(
        "[update]\ntimezone = Europe/Berlin\nreboot = never\n"
        "[window \"sunday-night\"]\ndays = Sun\nstart = 02:30\nduration = 1h\n"
        "[blackout \"easter\"]\nfrom = 2026-04-03\nuntil = 2026-04-06\n")
    p = json.loads(hpm(env, "policy", "--json").stdout)
    assert p["timezone"] == "Europe/Berlin" and p["reboot"] == "never"
    # 02:30 does not exist on 2026-03-29 in Berlin: the window opens at 03:30 CEST (01:30 UTC).
    assert p["now"]["window_open"] is False
    assert p["now"]["next_open"] == rfc3339(utc(2026, 3, 29, 1, 30))
    assert p["now"]["next_open_local"] == "2026-03-29 03:30 CEST"
    env["HPM_NOW"] = str(utc(2026, 3, 29, 2, 0))
    p = json.loads(hpm(env, "policy", "--json").stdout)
    assert p["now"]["window_open"] is True and p["now"]["window"] == "sunday-night"
    assert p["now"]["open_until"] == rfc3339(utc(2026, 3, 29, 2, 30))
    # Easter Sunday is blacked out: the next window is the Sunday after.
    env["HPM_NOW"] = str(utc(2026, 4, 1, 0, 0))
    p = json.loads(hpm(env, "policy", "--json").stdout)
    assert p["now"]["next_open"] == rfc3339(utc(2026, 4, 12, 0, 30))
    # machine values beside the words: the window's days and start, the
    # blackout's instants in UTC (Berlin midnight; until = the end of Apr 6)
    w, = p["windows"]
    assert (w["days"], w["date"], w["start"], w["duration_s"]) == (["Sun"], None, "02:30", 3600)
    b, = p["blackouts"]
    assert (b["from"], b["until"]) == ("2026-04-02T22:00:00Z", "2026-04-06T22:00:00Z")
    assert b["description"] == "from 2026-04-03 00:00 until 2026-04-06 (end of day)"
    env["HPM_NOW"] = str(utc(2026, 4, 5, 0, 45))
    p = json.loads(hpm(env, "policy", "--json").stdout)
    assert p["now"]["window_open"] is False and p["now"]["blackout"] == "easter"
    text = hpm(env, "policy").stdout
    assert 'in blackout "easter"' in text and 'window "sunday-night": every Sun 02:30 for 1h00m' in text


@pytest.mark.parametrize("conf,needles", [
    ("[update]\ndeadline_days = 30\nfrobnicate = 1\n", [":3:", "frobnicate: unknown key", "the keys are"]),
    ("[update]\nreboot = sometimes\n", [":2:", "reboot", "never, if-required or always"]),
    ("[window \"w\"]\ndays = Mon\nstart = 02:00\nduration = 3 hours\n", [":4:", "duration", "1h30m"]),
    ("[maintenance]\nx = 1\n", [":2:", "unknown section", "[window \"NAME\"]"]),
])
def test_bad_file_refused(env, tmp_path, conf, needles):
    (tmp_path / "hpm.conf").write_text(conf)
    for cmd in (["policy"], ["history"], ["enroll"]):
        r = hpm(env, *cmd)
        assert r.returncode == 2, (cmd, r.stdout, r.stderr)
        assert str(tmp_path / "hpm.conf") in r.stderr
        for n in needles:
            assert n in r.stderr, (n, r.stderr)


def test_enroll_rules(env, tmp_path):
    state = Path(env["HPM_STATE_DIR"])
    r = hpm(env, "enroll")
    assert r.returncode == 0 and "already enrolled" in r.stdout
    r = hpm(env, "unenroll", "--json")
    assert r.returncode == 0
    assert json.loads(r.stdout)["enrolled"] is False
    assert (state / "enrollment").read_text().startswith("hpm-enrollment 1\nenrolled=no\nbaseline=" + BASE_A)
    r = hpm(env, "unenroll")
    assert r.returncode == 0 and "already unenrolled" in r.stdout
    # Same baseline: refused, saying exactly what is needed.
    r = hpm(env, "enroll")
    assert r.returncode == 1
    assert "unenrolled while running baseline abababababababab" in r.stderr
    assert "re-enroll only once it runs a baseline newer than abababababababab" in r.stderr
    assert not list(state.glob("enrollment.tmp*"))
    # A newer baseline (a different digest, SVN not lower): allowed.
    env["HPM_BASELINE"] = BASE_B
    env["HPM_BASELINE_SVN"] = "3"
    r = hpm(env, "enroll", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["result"] == "ok"
    # Unenrolled at SVN 3; a baseline with SVN 2 is older: refused.
    assert hpm(env, "unenroll").returncode == 0
    env["HPM_BASELINE"] = BASE_A
    env["HPM_BASELINE_SVN"] = "2"
    assert hpm(env, "enroll").returncode == 1
    # No way to know the running baseline: refused.
    env.pop("HPM_BASELINE")
    env["HPM_EFIVARS"] = str(tmp_path / "no-efivars")
    r = hpm(env, "unenroll")
    if "hpm.baseline=" not in Path("/proc/cmdline").read_text():
        assert r.returncode == 1 and "cannot determine the running baseline" in r.stderr
    # A damaged state file is reported with its path and the fix, not guessed.
    env["HPM_BASELINE"] = BASE_A
    (state / "enrollment").write_text("garbage\n")
    r = hpm(env, "enroll")
    assert r.returncode == 1 and str(state / "enrollment") in r.stderr and "fix" in r.stderr
