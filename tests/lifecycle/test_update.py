# SPDX-License-Identifier: MIT
"""hpm assess / hpm install / the agent's periodic assessment, end to end:
a release (two baselines, a hotpatch for the first that fixes the demo
service) published with a signed catalog on a loopback HTTP server; a fake
booted host (efivars directory and ESP folder, as tests/lifecycle/
conftest.py) running the real multi-threaded demo service; the clock
driven by HPM_NOW.  Every decision is acted on for real (hpm apply patches
the running service, hpm stage writes the ESP and the slot request) and
recorded in the history.
"""
import datetime
import hashlib
import json
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from hpmtest import BUILD, HPM, digest, environ, sign

SERVICE = BUILD / "demo" / "hpm-demo-service"
FIX = BUILD / "demo" / "fix.bin"

DAY = 86400
T0 = 1767225600                 # 2026-01-01T00:00:00Z: baseline 2026.1 released
HP_AT = T0 + 40 * DAY           # 2026-02-10: its hotpatch
B2_AT = T0 + 90 * DAY           # 2026-04-01: the next planned baseline
EXPIRES = T0 + 4000 * DAY     # 2037: after the real clock (hpm-sign refuses an expired catalog)


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    d = tmp_path_factory.mktemp("rel")
    sign("keygen", "--out", d / "release.pem")
    (d / "vmlinuz").write_bytes(b"MZ" + os.urandom(4096))
    b1, b2, hp = d / "base-2026.1.hpm", d / "base-2026.2.hpm", d / "hp-1.hpm"
    sign("baseline", "--key", d / "release.pem", "--kernel", d / "vmlinuz", "--version", "2026.1",
         "--svn", "4", "--timestamp", T0, "--out", b1)
    sign("baseline", "--key", d / "release.pem", "--kernel", d / "vmlinuz", "--version", "2026.2",
         "--svn", "5", "--timestamp", B2_AT, "--out", b2)
    sign("hotpatch", "--key", d / "release.pem", "--baseline", b1, "--seq", "1", "--classification",
         "security", "--id", "HP-2026.1-1", "--payload", f"svc={FIX}", "--timestamp", HP_AT, "--out", hp)
    www = d / "www"
    (www / "b").mkdir(parents=True)
    (www / "h").mkdir()
    for f, sub in ((b1, "b"), (b2, "b"), (hp, "h")):
        (www / sub / f.name).write_bytes(f.read_bytes())
    sign("catalog", "--key", d / "release.pem", "--serial", "7", "--expires", EXPIRES, "--timestamp", B2_AT,
         "--entry", f"{b1}:class=security,url=b/{b1.name}",
         "--entry", f"{hp}:url=h/{hp.name}",
         "--entry", f"{b2}:class=security,url=b/{b2.name}",
         "--out", www / "catalog.hpm")
    return {"dir": d, "www": www, "pub": d / "release.pub", "b1": b1, "b2": b2, "hp": hp}


@pytest.fixture
def server(release, serve):
    return serve(release["www"])


class Service:
    def __init__(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.p = subprocess.Popen([str(SERVICE), str(self.port)], stdout=subprocess.PIPE, text=True)
        assert "listening" in self.p.stdout.readline()

    def ask(self, cents=1000):
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as c:
            c.sendall(f"quote {cents}\n".encode())
            return c.makefile().readline().strip()

    def stop(self):
        self.p.kill()
        self.p.wait()


@pytest.fixture
def host(tmp_path, release, server, make_host):
    h = make_host(tmp_path / "host", release["pub"])
    b1 = digest(release["b1"])
    (h.hpmdir / "slot-a.hpm").write_bytes(release["b1"].read_bytes())
    h.boot(active="a", baseline=b1, version="2026.1", svn=4, attempt=0, floor=4,
           slots={"a": (2, 0, 1, 4, "none", b1), "b": (1, 0, 0, 0, "none", "00" * 32)},
           reason="highest-priority slot, marked good")
    h.conf = tmp_path / "hpm.conf"
    h.conf.write_text(f"[update]\nsource = {server.url}\n")
    h.reboots = tmp_path / "reboots"
    h.env.update(HPM_BASELINE=b1, HPM_CONF=str(h.conf), HPM_REBOOT_CMD=f"echo reboot >> {h.reboots}")
    h.b1 = b1
    svc = Service()
    h.svc = svc
    yield h
    svc.stop()


def hpm(h, *args, now=HP_AT + DAY, check=0, env=None):
    """hpm on host h at time now (default: a day after the hotpatch's release)."""
    return h.hpm(*args, env=dict(env or {}, HPM_NOW=now), check=check)


def history(h, now):
    return json.loads(hpm(h, "history", "--json", now=now).stdout)["entries"]


def events(h, now):
    return [(r["event"], ",".join(r["ids"]), r["result"]) for r in history(h, now)]


def test_assess_then_install_hotpatch_into_running_service(host):
    assert "v1 (buggy)" in host.svc.ask()
    # Before the hotpatch is released: nothing applies.
    out = json.loads(hpm(host, "assess", "--json", now=T0 + DAY).stdout)
    assert out["items"] == [] and out["host"]["baseline"] == host.b1
    # After: the hotpatch applies now (security, auto); the newer baseline is not out yet.
    now = HP_AT + DAY
    out = json.loads(hpm(host, "assess", "--json", now=now).stdout)
    assert [(i["id"], i["install_now"]) for i in out["items"]] == [("HP-2026.1-1", True)]
    assert "v1 (buggy)" in host.svc.ask(), "assess must change nothing"
    r = hpm(host, "install", "--json", now=now)
    out = json.loads(r.stdout)
    assert out["actions"] == [{"id": "HP-2026.1-1", "action": "apply", "result": "ok", "exit": 0}]
    assert out["reboot_requested"] is False
    assert host.svc.ask() == "total 1190 (tax 190) by v2 (hotpatched)"
    # Now up to date: assessing again offers nothing.
    out = json.loads(hpm(host, "assess", "--json", now=now + 60).stdout)
    assert out["host"]["hotpatch_sequence"] == 1 and out["items"] == []
    ev = events(host, now + 60)
    assert ("apply", "HP-2026.1-1", "ok") in ev and ("install", "HP-2026.1-1", "ok") in ev
    # Four assessments ran; the first (40 days earlier) is past the 30-day retention.
    assert sum(1 for e in ev if e[0] == "assess") == 3
    assert not host.reboots.exists()
    # Unenrolled, the host still runs sequence 1: assess says what status says.
    hpm(host, "unenroll", now=now + 120)
    out = json.loads(hpm(host, "assess", "--json", now=now + 120).stdout)
    st = json.loads(hpm(host, "status", "--json", now=now + 120).stdout)
    assert out["host"]["hotpatch_sequence"] == st["hotpatch"]["sequence"] == 1


def test_install_stages_required_baseline_and_requests_reboot(host, release):
    now = B2_AT + DAY  # the hotpatch chain of 2026.1 ended with 2026.2
    # an old download nothing uses; with cache_keep = 0 the install removes it
    cache = host.root / "state" / "cache"
    cache.mkdir(parents=True)
    stale = cache / (hashlib.sha256(b"2025.9").hexdigest() + ".hpm")
    stale.write_bytes(b"2025.9")
    host.conf.write_text(host.conf.read_text() + "cache_keep = 0\n")
    out = json.loads(hpm(host, "assess", "--json", now=now).stdout)
    items = {i["id"]: i for i in out["items"]}
    assert items["2026.2"]["required"] and items["2026.2"]["needs_reboot"]
    r = hpm(host, "install", "--reboot", "if-required", "--json", now=now)
    out = json.loads(r.stdout)
    acts = {a["id"]: a for a in out["actions"]}
    assert acts["2026.2"]["result"] == "ok"
    assert out["reboot_requested"] is True
    assert host.reboots.read_text() == "reboot\n"
    assert digest(host.hpmdir / "slot-b.hpm") == digest(release["b2"])
    # the staged baseline's download stays (slot b holds it), the stale one is gone
    left = {p.name for p in cache.iterdir()}
    assert hashlib.sha256(release["b2"].read_bytes()).hexdigest() + ".hpm" in left and stale.name not in left
    assert f"cache: removed {stale}" in r.stderr
    seq, entries = host.slotreq()
    assert seq == 3 and entries[0][1] == 1, entries  # slot b activated
    status = json.loads(hpm(host, "status", "--json", now=now).stdout)
    assert status["boot"]["reboot_pending"] is True
    # Installing again: the staged baseline is not copied twice.
    out = json.loads(hpm(host, "install", "--reboot", "never", "--json", now=now + 60).stdout)
    assert all(a["id"] != "2026.2" or a["result"] == "ok" for a in out["actions"])
    assert [i["already_staged"] for i in out["items"] if i["id"] == "2026.2"] == [True]
    ev = events(host, now + 60)
    assert ("stage", "2026.2", "ok") in ev and ("reboot-request", "2026.2", "ok") in ev
    assert sum(1 for e in ev if e[0] == "stage") == 1


def test_install_refuses_unknown_include_and_honours_exclude(host):
    now = HP_AT + DAY
    r = hpm(host, "install", "--include", "NOPE-1", now=now, check=2)
    assert "NOPE-1" in r.stderr
    out = json.loads(hpm(host, "install", "--exclude", "HP-2026.1-1", "--json", now=now).stdout)
    assert out["actions"] == [] and "v1 (buggy)" in host.svc.ask()
    out = json.loads(hpm(host, "install", "--dry-run", "--json", now=now).stdout)
    assert out["actions"][0]["result"] == "dry-run" and "v1 (buggy)" in host.svc.ask()


def test_install_dry_run_changes_nothing(host):
    """--dry-run: no history row (not even the assessment's), no stored
    catalog, no download, nothing applied."""
    now = HP_AT + DAY
    state = host.root / "state"
    out = json.loads(hpm(host, "install", "--dry-run", "--json", now=now).stdout)
    assert out["actions"] and all(a["result"] == "dry-run" for a in out["actions"])
    assert "v1 (buggy)" in host.svc.ask()
    assert not (state / "catalog.hpm").exists()
    assert not (state / "cache").exists() or not list((state / "cache").iterdir())
    assert events(host, now) == []
    # the real assessment afterwards stores the catalog and records itself
    hpm(host, "assess", now=now)
    assert (state / "catalog.hpm").exists() and [e[0] for e in events(host, now)] == ["assess"]


def test_failed_apply_is_recorded_with_its_error(host, release):
    now = HP_AT + DAY
    # The hotpatch targets 2026.1; claim the host runs another baseline whose
    # catalog entry is unknown: the newest baseline is then required, and an
    # explicit apply of the hotpatch is refused with a reason in the history.
    r = hpm(host, "apply", release["hp"], now=now, env={"HPM_BASELINE": "cd" * 32}, check=None)
    assert r.returncode != 0
    ev = [e for e in events(host, now) if e[0] == "apply"]
    assert ev and ev[-1][1] == "HP-2026.1-1" and ev[-1][2] != "ok"
    rows = history(host, now)
    assert any(r_["event"] == "apply" and r_.get("error") for r_ in rows)


def test_agent_periodic_assessment_installs_automatically(host):
    now = HP_AT + DAY
    env = environ(dict(host.env, HPM_NOW=now))
    agent = subprocess.Popen([str(HPM), "agent"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True)
    lines = []
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            line = agent.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "assessment done" in line:
                break
        assert any("assessment done (exit 0)" in x for x in lines), "".join(lines)
        assert host.svc.ask() == "total 1190 (tax 190) by v2 (hotpatched)"
        assert (Path(host.env["HPM_STATE_DIR"]) / "assessed").read_text().strip() == str(now)
    finally:
        agent.terminate()
        agent.wait(timeout=30)
    ev = events(host, now)
    assert ("apply", "HP-2026.1-1", "ok") in ev


def agent_lines(host, env, until, timeout=60):
    """hpm agent's stdout lines up to the first containing until."""
    agent = subprocess.Popen([str(HPM), "agent"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True)
    lines = []
    try:
        deadline = time.time() + timeout
        while time.time() < deadline:
            line = agent.stdout.readline()
            if not line:
                break
            lines.append(line)
            if until in line:
                break
    finally:
        agent.terminate()
        agent.wait(timeout=30)
    return lines


def test_a_fleet_host_installs_only_in_its_rollout_turns(host):
    """With [fleet] endpoints the automatic installs (hpm install --auto,
    the agent's assessment) only assess: the host installs in its turns of
    a fleet rollout.  An operator's hpm install still acts, with a warning."""
    host.conf.write_text(host.conf.read_text() + "[fleet]\nendpoints = http://127.0.0.1:9\n")
    now = HP_AT + DAY
    before = host.svc.ask()
    r = hpm(host, "install", "--auto", now=now)
    assert "not installed: this host takes part in a fleet" in r.stdout, r.stdout
    assert host.svc.ask() == before  # nothing applied
    assert [e for e in events(host, now) if e[0] == "install"] == [("install", "", "unchanged")], events(host, now)
    j = json.loads(hpm(host, "install", "--auto", "--json", now=now).stdout)
    assert j["actions"] == [] and j["reboot_requested"] is False, j
    r = hpm(host, "install", now=now)  # the operator, by hand
    assert "installing outside a rollout bypasses the fleet's turns" in r.stderr, r.stderr
    assert host.svc.ask() == "total 1190 (tax 190) by v2 (hotpatched)"


def test_install_auto_is_the_periodic_assessment_and_the_agent_does_not_repeat_it(host):
    """`hpm install --auto` (hpm-assess.service) installs what the policy
    installs automatically and records the time; an agent that assesses
    itself then waits for the next turn instead of assessing again."""
    now = HP_AT + DAY
    state = Path(host.env["HPM_STATE_DIR"])
    r = hpm(host, "install", "--auto", now=now)
    assert "HP-2026.1-1" in r.stdout
    assert host.svc.ask() == "total 1190 (tax 190) by v2 (hotpatched)"
    assert (state / "assessed").read_text().strip() == str(now)
    lines = agent_lines(host, environ(dict(host.env, HPM_NOW=now)), "periodic assessment every")
    nxt = [x for x in lines if "periodic assessment every" in x]
    assert nxt, lines
    at = datetime.datetime.strptime(nxt[0].split("next at ")[1].strip(), "%Y-%m-%dT%H:%M:%SZ")
    # the next one is a day (plus the host's jitter) away: no second assessment now
    assert at.replace(tzinfo=datetime.timezone.utc).timestamp() >= now + 24 * 3600, nxt
    assert hpm(host, "history", "--json", now=now).stdout.count('"install"') == 1
    assert [e for e in events(host, now) if e[0] == "assess"] == [("assess", "HP-2026.1-1", "ok")]


def test_install_auto_refuses_selections(host):
    for extra in (["--include", "HP-2026.1-1"], ["--classification", "other"], ["--reboot", "always"]):
        r = hpm(host, "install", "--auto", *extra, check=2)
        assert "--auto" in r.stderr and extra[0] in r.stderr, r.stderr
    assert "v1 (buggy)" in host.svc.ask()


def test_failed_periodic_assessment_is_retried_soon(host, tmp_path):
    """The source cannot be reached: the agent tries again in 15 minutes,
    not a day later, and does not record the failed turn as done."""
    now = HP_AT + DAY
    host.conf.write_text(f"[update]\nsource = {tmp_path / 'nowhere'}\n")
    lines = agent_lines(host, environ(dict(host.env, HPM_NOW=now)), "assessment failed")
    failed = [x for x in lines if "assessment failed" in x]
    again = datetime.datetime.fromtimestamp(now + 900, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert failed and "try 1 of 4" in failed[0] and f"again at {again}" in failed[0], lines
    assert not (Path(host.env["HPM_STATE_DIR"]) / "assessed").exists()


# ---- refusals: each exits with its documented code, names what to fix and
# changes nothing


def test_no_source_configured(host):
    host.conf.write_text("[update]\n")
    for cmd in ("assess", "install"):
        r = hpm(host, cmd, check=2)
        assert "no update source" in r.stderr and str(host.conf) in r.stderr, r.stderr
    assert "v1 (buggy)" in host.svc.ask()


def test_bad_options(host):
    assert "--classification" in hpm(host, "install", "--classification", "urgent", check=2).stderr
    assert "--reboot" in hpm(host, "install", "--reboot", "sometimes", check=2).stderr
    assert "unexpected argument" in hpm(host, "assess", "extra", check=2).stderr
    assert "v1 (buggy)" in host.svc.ask()


def test_expired_catalog_refused(host):
    r = hpm(host, "install", now=EXPIRES + DAY, check=1)
    assert "expire" in r.stderr, r.stderr
    assert "v1 (buggy)" in host.svc.ask()
    rows = history(host, EXPIRES + DAY)
    assert [r_["result"] for r_ in rows if r_["event"] == "install"] == ["refused"]


def test_running_baseline_unknown(host):
    r = hpm(host, "assess", env={"HPM_BASELINE": "", "HPM_EFIVARS": host.root / "no-efivars"}, check=3)
    assert "running" in r.stderr and "HPM_BASELINE" in r.stderr, r.stderr


def test_install_refuses_under_signed_downloads(host, tmp_path):
    """hpm install refuses a download with fewer trusted signers than the
    host requires for its kind ([trust] in hpm.conf), says so, and changes
    nothing: the release is signed by one key; the host trusts a second."""
    sign("keygen", "--out", tmp_path / "second.pem")
    (host.trust / "second.pub").write_bytes((tmp_path / "second.pub").read_bytes())
    # the catalog (one signer) is accepted; the hotpatch it lists is not
    host.conf.write_text(host.conf.read_text() + "[trust]\nhotpatch_signers = 2\n")
    r = hpm(host, "install", "--json", check=1)
    want = (f"1 trusted signature, this host requires 2 for hotpatches "
            f"([trust] hotpatch_signers in {host.conf})")
    assert want in r.stderr, r.stderr
    acts = json.loads(r.stdout)["actions"]
    assert [(a["id"], a["result"]) for a in acts] == [("HP-2026.1-1", "refused")], acts
    assert "v1 (buggy)" in host.svc.ask()
    hist = history(host, HP_AT + DAY)
    rows = hist["entries"] if isinstance(hist, dict) else hist
    applied = [e for e in rows if e["event"] == "apply"]
    assert applied and applied[-1]["result"] == "refused" and want in applied[-1]["error"], applied
    # baselines: the same for install's stage of the next baseline
    host.conf.write_text(host.conf.read_text().replace("hotpatch_signers", "baseline_signers"))
    r = hpm(host, "install", "--include", "2026.2", "--json", now=HP_AT + 60 * DAY, check=1)
    assert ("1 trusted signature, this host requires 2 for baselines "
            f"([trust] baseline_signers in {host.conf})") in r.stderr, r.stderr
    assert host.getvar("HpmSlotRequest") is None and "slot-b.hpm" not in host.tree()
