# SPDX-License-Identifier: MIT
"""hpm policy, hpm enroll / unenroll: the policy file as operators see it,
window state across a DST change, refusals naming file/line/key, and the
re-enrollment rule."""
import calendar
import json
from pathlib import Path

import pytest

import hpmtest

BASE_A = "ab" * 32
BASE_B = "cd" * 32


def utc(*a):
    return calendar.timegm((*a, 0, 0, 0, 0)[:6] + (0, 0, 0))


@pytest.fixture
def env(tmp_path):
    """What hpm runs with (on top of the test's environment)."""
    return {"HPM_STATE_DIR": str(tmp_path / "state"), "HPM_CONF": str(tmp_path / "hpm.conf"),
            "HPM_BASELINE": BASE_A, "HPM_NOW": str(utc(2026, 3, 28, 12, 0)), "HPM_BASELINE_SVN": None}


def hpm(env, *args):
    return hpmtest.hpm(*args, env=env, check=None)


def test_defaults_without_file(env):
    r = hpm(env, "policy", "--json")
    assert r.returncode == 0, r.stderr
    p = json.loads(r.stdout)
    assert p["file_present"] is False
    assert p["auto_classifications"] == "critical,security"
    assert p["deadline_days"] == 30 and p["retention_days"] == 30 and p["reboot"] == "if-required"
    assert p["hotpatch_outside_windows"] is True and p["windows"] == []
    r = hpm(env, "policy")
    assert "missing: documented defaults" in r.stdout
    assert hpm(env, "policy", "--help").returncode == 0


def test_window_across_spring_forward(env, tmp_path):
    (tmp_path / "hpm.conf").write_text(
        "[update]\ntimezone = Europe/Berlin\nreboot = never\n"
        "[window \"sunday-night\"]\ndays = Sun\nstart = 02:30\nduration = 1h\n"
        "[blackout \"easter\"]\nfrom = 2026-04-03\nuntil = 2026-04-06\n")
    p = json.loads(hpm(env, "policy", "--json").stdout)
    assert p["timezone"] == "Europe/Berlin" and p["reboot"] == "never"
    # 02:30 does not exist on 2026-03-29 in Berlin: the window opens at 03:30 CEST (01:30 UTC).
    assert p["now"]["window_open"] is False
    assert p["now"]["next_open"] == utc(2026, 3, 29, 1, 30)
    assert p["now"]["next_open_local"] == "2026-03-29 03:30 CEST"
    env["HPM_NOW"] = str(utc(2026, 3, 29, 2, 0))
    p = json.loads(hpm(env, "policy", "--json").stdout)
    assert p["now"]["window_open"] is True and p["now"]["window"] == "sunday-night"
    assert p["now"]["open_until"] == utc(2026, 3, 29, 2, 30)
    # Easter Sunday is blacked out: the next window is the Sunday after.
    env["HPM_NOW"] = str(utc(2026, 4, 1, 0, 0))
    p = json.loads(hpm(env, "policy", "--json").stdout)
    assert p["now"]["next_open"] == utc(2026, 4, 12, 0, 30)
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
