# SPDX-License-Identifier: MIT
"""Refusals of hpm assess / hpm install (runtime/update.c): no source
configured, bad options, a catalog the source check refuses, and no way to
tell the running baseline.  Each must exit with its documented code and
name what to fix, and must change nothing."""
import json
import os

from test_update import DAY, EXPIRES, HP_AT, HPM, sh  # noqa: F401  (helpers, not fixtures)
from test_update import host, release, server  # noqa: F401  (fixtures)


def run(h, *args, env=None, check=0):
    e = dict(h.env, HPM_NOW=str(HP_AT + DAY))
    e.update(env or {})
    return sh(HPM, *args, env=e, check=check)


def test_no_source_configured(host):
    host.conf.write_text("[update]\n")
    for cmd in ("assess", "install"):
        r = run(host, cmd, check=2)
        assert "no update source" in r.stderr and str(host.conf) in r.stderr, r.stderr
    assert "v1 (buggy)" in host.svc.ask()


def test_bad_options(host):
    assert "--classification" in run(host, "install", "--classification", "urgent", check=2).stderr
    assert "--reboot" in run(host, "install", "--reboot", "sometimes", check=2).stderr
    assert "unexpected argument" in run(host, "assess", "extra", check=2).stderr
    assert "v1 (buggy)" in host.svc.ask()


def test_expired_catalog_refused(host):
    r = run(host, "install", env={"HPM_NOW": str(EXPIRES + DAY)}, check=1)
    assert "expire" in r.stderr, r.stderr
    assert "v1 (buggy)" in host.svc.ask()
    rows = json.loads(run(host, "history", "--json", env={"HPM_NOW": str(EXPIRES + DAY)}).stdout)
    rows = rows["entries"] if isinstance(rows, dict) else rows
    assert [r_["result"] for r_ in rows if r_["event"] == "install"] == ["refused"]


def test_running_baseline_unknown(host):
    env = {"HPM_BASELINE": "", "HPM_EFIVARS": str(host.root / "no-efivars")}
    r = run(host, "assess", env=env, check=3)
    assert "running" in r.stderr and "HPM_BASELINE" in r.stderr, r.stderr
