# SPDX-License-Identifier: MIT
"""Rollouts through a real 3-member etcd (conftest.py): simulated hosts,
each a real `hpm fleet step --loop` with its own state directory and hooks
(rollout.py), the operator's commands, and an invariant checker that
replays every revision of etcd's history (never more than K out, never two
fault domains at once, at most 20 % of a domain, ring order, nobody out
without a slot)."""
import json
import time

from hpmtest import OK, REFUSED, USAGE, hpm, patch_payload, sign
from rollout import Gateway, Host, Operator, check_history, wait_for


def make_hosts(tmp_path, cluster, spec):
    """spec: [(name, domain)]; each host steps once (it registers)."""
    hosts = {n: Host(tmp_path, n, d, cluster.endpoints) for n, d in spec}
    for h in hosts.values():
        r = h.step()
        assert "no rollout" in r.stdout, r
    return hosts


def phases(op):
    return {h["host"]: h["phase"] for h in op.status()["hosts"]}


def test_rollout_completes_keeping_every_invariant(tmp_path, etcd_cluster):
    gw = Gateway(etcd_cluster.client["m1"])
    spec = [(f"a{i}", "rack-a") for i in range(1, 11)] + [("b1", "rack-b"), ("b2", "rack-b")]
    hosts = make_hosts(tmp_path, etcd_cluster, spec)
    op = Operator(tmp_path, etcd_cluster.endpoints)
    first, _ = gw.snapshot()
    r = op.fleet("rollout", "start", "--baseline-version", "2026.1", "--ring", "a1", "--ring", "a2,a3,a4,a5,a6,b1",
                 "--ring", "a7,a8,a9,a10,b2", "--max-out", "2")
    assert "12 hosts in 3 rings" in r.stdout
    st = op.status()
    assert st["rollout"]["state"] == "running" and st["rollout"]["budget"] == {"limit": 2, "used": 0}
    assert set(phases(op).values()) == {"waiting"}
    t0 = time.monotonic()
    for h in hosts.values():
        h.start()
    # one member dies mid-rollout: the hosts go on through the other two
    wait_for(lambda: sum(p == "done" for p in phases(op).values()) >= 3, 90, "three hosts done")
    etcd_cluster.kill("m3")
    # the operator's reads wait out the election the hosts ride through
    etcd_cluster.wait_leader("m1", "m2")
    assert sum(p == "done" for p in phases(op).values()) < 10, "the member died too late to matter"
    wait_for(lambda: op.status()["rollout"]["state"] == "done", 150, "the rollout is done")
    elapsed = time.monotonic() - t0
    st = op.status()
    assert all(h["phase"] == "done" for h in st["hosts"]), st
    assert st["slots"] == [] and st["rollout"]["budget"]["used"] == 0
    for h in hosts.values():
        h.kill()
        calls = [c.split()[0] for c in h.hook_calls()]
        # each host: gate, drain, install, reboot, verify, undrain, in that order
        assert calls[-5:] == ["drain", "install", "reboot", "verify", "undrain"], (h.name, calls)
        assert "install baseline 2026.1" in h.hook_calls()
        assert h.boots == 2, (h.name, h.boots)  # the reboot hook "rebooted" it once
    last, kv = gw.snapshot()
    # each record says how long its host took in every phase it went through
    for name in hosts:
        took = json.loads(kv[f"/hpm/fleet/hosts/{name}"])["took"]
        assert set(took) == {"waiting", "draining", "installing", "rebooting", "verifying"}, (name, took)
        assert all(isinstance(v, int) and 0 <= v <= elapsed + 1 for v in took.values()), (name, took)
    most, domains = check_history(gw, first, last, {"rack-a": 10, "rack-b": 2})
    assert most == 2, "K = 2 was never used"
    assert domains == {"rack-a", "rack-b"}
    print(f"12 hosts, K=2: done in {elapsed:.1f} s; revisions checked {first}..{last}")


def test_refusals_move_nobody(tmp_path, etcd_cluster):
    gw = Gateway(etcd_cluster.client["m1"])
    hosts = make_hosts(tmp_path, etcd_cluster, [("h1", "r1"), ("h2", "r2")])
    op = Operator(tmp_path, etcd_cluster.endpoints)
    r = op.fleet("rollout", "start", "--baseline-version", "2027.9", "--ring", "h1,h2", check=REFUSED)
    assert "baseline version 2027.9 is not in the signed catalog" in r.stderr
    r = op.fleet("rollout", "start", "--baseline-version", "2026.1", "--ring", "h1,h3", check=REFUSED)
    assert "unknown host h3: no /hpm/fleet/members/h3" in r.stderr
    r = op.fleet("rollout", "start", "--hotpatch", "7", "--ring", "h1", check=REFUSED)
    assert "hotpatch sequence 7 is not in the signed catalog" in r.stderr
    assert op.status()["rollout"] is None
    op.fleet("rollout", "start", "--baseline-version", "2026.1", "--ring", "h1,h2")
    # a record broken by hand: every reader of it names the key and the field; nobody moves
    _, kv = gw.snapshot()
    gw.put("/hpm/fleet/slots", '{"gen": 1, "holders": []}')
    r = op.fleet("status", check=REFUSED)
    assert 'etcd key /hpm/fleet/slots: field "last_start" is missing' in r.stderr
    for name in ("h1", "h2"):  # every host reads the slots
        r = hosts[name].step(check=REFUSED)
        assert 'etcd key /hpm/fleet/slots: field "last_start" is missing' in r.stderr
    gw.put("/hpm/fleet/slots", kv["/hpm/fleet/slots"])
    # a host's own record is read by that host and the operator (the others see the slots' phases)
    rec = json.loads(kv["/hpm/fleet/hosts/h2"])
    rec["phase"] = "sleeping"
    gw.put("/hpm/fleet/hosts/h2", json.dumps(rec))
    r = op.fleet("status", check=REFUSED)
    assert "etcd key /hpm/fleet/hosts/h2: field \"phase\": 'sleeping' is not one of" in r.stderr
    r = hosts["h2"].step(check=REFUSED)
    assert "etcd key /hpm/fleet/hosts/h2: field \"phase\"" in r.stderr
    # a record that disagrees with the slots' phases
    rec["phase"] = "installing"
    gw.put("/hpm/fleet/hosts/h2", json.dumps(rec))
    r = op.fleet("status", check=REFUSED)
    assert "etcd key /hpm/fleet/hosts/h2: phase installing, but /hpm/fleet/slots says 'w' for it" in r.stderr
    r = hosts["h2"].step(check=REFUSED)
    assert "etcd key /hpm/fleet/hosts/h2: phase installing" in r.stderr
    assert hosts["h1"].hook_calls() == [] and hosts["h2"].hook_calls() == []
    # the operator's mistakes
    op.fleet("rollout", "start", "--ring", "h1", check=USAGE)
    op.fleet("rollout", "start", "--baseline-version", "2026.1", check=USAGE)
    op.fleet("rollout", "frobnicate", check=USAGE)
    op.fleet("host", "release", check=USAGE)


def test_suspect_counts_and_comes_back(tmp_path, etcd_cluster):
    hosts = make_hosts(tmp_path, etcd_cluster, [(f"h{i}", "r1") for i in range(1, 5)])
    op = Operator(tmp_path, etcd_cluster.endpoints)
    (hosts["h2"].dir / "hang").touch()
    op.fleet("rollout", "start", "--baseline-version", "2026.1", "--ring", "h1,h2,h3,h4", "--budget", "1")
    hosts["h1"].start()
    wait_for(lambda: phases(op)["h1"] == "done", 60, "h1 done")
    hosts["h2"].start()
    wait_for(lambda: phases(op)["h2"] == "installing", 60, "h2 installing")
    hosts["h2"].kill()  # dies holding the slot
    for n in ("h3", "h4"):
        hosts[n].start()

    def suspect():
        h2 = [h for h in op.status()["hosts"] if h["host"] == "h2"][0]
        return h2["suspect"] and h2["holds_slot"]
    wait_for(suspect, 20, "h2 suspect")
    st = op.status()
    assert st["rollout"]["budget"]["used"] == 1 and st["rollout"]["state"] == "running"
    assert [s["host"] for s in st["slots"]] == ["h2"]
    time.sleep(2)  # the slot is not freed by the lease: nobody else goes
    assert phases(op)["h3"] == phases(op)["h4"] == "waiting"
    assert "1 of 1 slots taken (h2)" in op.status()["waiting"]
    # the operator may not release it before its deadline
    r = op.fleet("host", "release", "h2", check=REFUSED)
    assert "deadline" in r.stderr
    # it comes back healthy: it finishes its turn, the others follow
    (hosts["h2"].dir / "hang").unlink()
    hosts["h2"].start()
    wait_for(lambda: op.status()["rollout"]["state"] == "done", 90, "rollout done")
    assert set(phases(op).values()) == {"done"}
    for h in hosts.values():
        h.kill()


def test_release_after_deadline_and_budget_stop(tmp_path, etcd_cluster):
    hosts = make_hosts(tmp_path, etcd_cluster, [(f"h{i}", "r1") for i in range(1, 6)])
    op = Operator(tmp_path, etcd_cluster.endpoints)
    (hosts["h1"].dir / "hang").touch()
    (hosts["h3"].dir / "sick").touch()
    op.fleet("rollout", "start", "--baseline-version", "2026.1", "--ring", "h1,h2", "--ring", "h3", "--ring", "h4,h5",
             "--budget", "1", "--deadline", "installing=4s")
    hosts["h1"].start()
    wait_for(lambda: phases(op)["h1"] == "installing", 60, "h1 installing")
    hosts["h1"].kill()
    assert phases(op)["h2"] == "waiting"
    wait_for(lambda: [h for h in op.status()["hosts"] if h["host"] == "h1"][0]["suspect"], 20, "h1 suspect")
    wait_for(lambda: op.fleet("host", "release", "h1", check=None).returncode == OK, 20, "released after the deadline")
    st = op.status()
    h1 = [h for h in st["hosts"] if h["host"] == "h1"][0]
    assert h1["phase"] == "failed" and "released by the operator" in h1["reason"]
    assert st["slots"] == [] and st["rollout"]["budget"]["used"] == 1 and st["rollout"]["state"] == "running"
    # h3's verify fails: the second failure exceeds the budget of 1: the rollout stops itself
    for n in ("h2", "h3", "h4", "h5"):
        hosts[n].start()
    wait_for(lambda: op.status()["rollout"]["state"] == "stopped", 90, "stopped by the budget")
    st = op.status()
    assert "failure budget is exceeded" in st["rollout"]["reason"]
    p = phases(op)
    assert p["h3"] == "failed" and p["h2"] == "done"
    assert "service check failed" in [h for h in st["hosts"] if h["host"] == "h3"][0]["reason"]
    time.sleep(1.5)
    p = phases(op)
    assert p["h4"] == "waiting" and p["h5"] == "waiting"
    assert op.status()["slots"] == []
    assert hosts["h4"].hook_calls() == [] and hosts["h5"].hook_calls() == []
    for h in hosts.values():
        h.kill()


def test_pause_resume_abort(tmp_path, etcd_cluster):
    hosts = make_hosts(tmp_path, etcd_cluster, [(f"h{i}", "r1") for i in range(1, 5)])
    op = Operator(tmp_path, etcd_cluster.endpoints)
    op.fleet("rollout", "start", "--hotpatch", "1", "--ring", "h1,h2,h3,h4", check=REFUSED)
    op.fleet("rollout", "start", "--baseline-version", "2026.1", "--ring", "h1", "--ring", "h2,h3,h4")
    op.fleet("rollout", "pause")
    op.fleet("rollout", "pause", check=REFUSED)
    for h in hosts.values():
        h.start()
    time.sleep(2)
    assert set(phases(op).values()) == {"waiting"}
    assert "the rollout is paused" in op.status()["waiting"]
    for n in ("h2", "h3", "h4"):
        (hosts[n].dir / "hang").touch()
    op.fleet("rollout", "resume")
    wait_for(lambda: "installing" in [phases(op)[n] for n in ("h2", "h3", "h4")], 60, "ring 1 started")
    op.fleet("rollout", "abort")
    for n in ("h2", "h3", "h4"):
        (hosts[n].dir / "hang").unlink()
    # the host out finishes its turn; nobody else starts
    wait_for(lambda: op.status()["slots"] == [], 30, "the slot freed")
    time.sleep(1.5)
    st = op.status()
    assert st["rollout"]["state"] == "aborted" and st["slots"] == []
    p = phases(op)
    assert p["h1"] == "done"
    assert sorted(p[n] for n in ("h2", "h3", "h4")) == ["done", "waiting", "waiting"], p
    op.fleet("rollout", "resume", check=REFUSED)
    for h in hosts.values():
        h.kill()


def test_hung_hook_times_out_and_operator_fails_a_host(tmp_path, etcd_cluster):
    hosts = make_hosts(tmp_path, etcd_cluster, [(f"h{i}", "r1") for i in range(1, 4)])
    op = Operator(tmp_path, etcd_cluster.endpoints)
    (hosts["h1"].hooks / "drain").write_text("#!/bin/sh\necho drain >> %s\nexec sleep 60\n" % hosts["h1"].log)
    op.fleet("rollout", "start", "--baseline-version", "2026.1", "--ring", "h1", "--ring", "h2,h3", "--budget", "2")
    # the operator fails h3 before it starts: it never runs a hook, it counts against the budget
    r = op.fleet("host", "fail", "h3")
    assert "h3: failed" in r.stdout
    op.fleet("host", "fail", "h3", check=REFUSED)
    t0 = time.monotonic()
    for h in hosts.values():
        h.start()
    wait_for(lambda: phases(op)["h1"] == "failed", 30, "h1 failed")
    assert time.monotonic() - t0 >= 3  # hook_timeout = 3s
    st = op.status()
    h1 = [h for h in st["hosts"] if h["host"] == "h1"][0]
    assert h1["reason"] == "draining failed: hook drain did not finish within 3 s (killed)", h1
    wait_for(lambda: op.status()["rollout"]["state"] == "done", 60, "rollout done")
    st = op.status()
    assert phases(op) == {"h1": "failed", "h2": "done", "h3": "failed"}
    assert st["rollout"]["budget"] == {"limit": 2, "used": 2}
    assert [c.split()[0] for c in hosts["h1"].hook_calls()] == ["gate", "drain", "undrain"]
    assert hosts["h3"].hook_calls() == []
    h3 = [h for h in st["hosts"] if h["host"] == "h3"][0]
    assert h3["reason"] == "failed by the operator in phase waiting"
    for h in hosts.values():
        h.kill()


def test_a_gate_that_says_no_keeps_the_host_waiting(tmp_path, etcd_cluster):
    hosts = make_hosts(tmp_path, etcd_cluster, [("h1", "r1")])
    h = hosts["h1"]
    op = Operator(tmp_path, etcd_cluster.endpoints)
    op.fleet("rollout", "start", "--baseline-version", "2026.1", "--ring", "h1")
    (h.dir / "closed").touch()
    for _ in range(2):
        r = h.step()
        assert "waiting: the gate says no: hook gate exit 1: storage resync at 40 %" in r.stdout, r
    st = op.status()
    assert phases(op) == {"h1": "waiting"} and st["slots"] == [], st
    assert [c.split()[0] for c in h.hook_calls()] == ["gate", "gate"]
    (h.dir / "closed").unlink()
    h.step()
    assert phases(op)["h1"] not in ("waiting", "failed"), op.status()


def test_the_hosts_policy_says_when_it_may_ask(tmp_path, etcd_cluster):
    """The fleet says whether a host may go now; its own policy says when it
    may ask: a host outside its maintenance windows and a host in a
    blackout wait (no slot taken, no gate hook run, the reason said); a host
    inside its window goes."""
    policies = {
        "h1": '[window "new-year-2099"]\ndate = 2099-01-01\nstart = 02:00\nduration = 1h\n',
        "h2": '[blackout "freeze"]\nfrom = 2020-01-01\nuntil = 2098-12-31\n',
        "h3": '[window "always"]\ndays = daily\nstart = 00:00\nduration = 24h\n',
    }
    hosts = {n: Host(tmp_path, n, "r1", etcd_cluster.endpoints, extra=pol) for n, pol in policies.items()}
    for h in hosts.values():
        assert "no rollout" in h.step().stdout
    op = Operator(tmp_path, etcd_cluster.endpoints)
    op.fleet("rollout", "start", "--baseline-version", "2026.1", "--ring", "h1,h2,h3", "--max-out", "3")
    for _ in range(2):
        r1, r2 = hosts["h1"].step(), hosts["h2"].step()
        assert "waiting: outside this host's maintenance windows; none opens within 400 days" in r1.stdout, r1
        assert 'waiting: blackout "freeze" of this host\'s policy until 2099-01-01 00:00' in r2.stdout, r2
    hosts["h3"].step()
    st = op.status()
    assert phases(op)["h3"] not in ("waiting", "failed") and [s["host"] for s in st["slots"]] == ["h3"], st
    assert phases(op)["h1"] == phases(op)["h2"] == "waiting", st
    assert hosts["h1"].hook_calls() == [] and hosts["h2"].hook_calls() == []
    # without its window h1 may ask: now the fleet's rules keep it waiting
    # (one host of the domain is out), not its policy
    conf = hosts["h1"].conf
    conf.write_text(conf.read_text().split("[window")[0])
    r1 = hosts["h1"].step()
    assert "waiting: " in r1.stdout and "maintenance windows" not in r1.stdout, r1


def test_a_hotpatch_rollout_passes_windows_but_not_blackouts(tmp_path, etcd_cluster):
    """With [update] hotpatch_outside_windows = yes a host outside its
    windows may ask for a hotpatch's turn (no reboot); a blackout still
    keeps it waiting."""
    window = '[window "new-year-2099"]\ndate = 2099-01-01\nstart = 02:00\nduration = 1h\n'
    policies = {"h1": "[update]\nhotpatch_outside_windows = yes\n" + window,
                "h2": "[update]\nhotpatch_outside_windows = yes\n"
                      '[blackout "freeze"]\nfrom = 2020-01-01\nuntil = 2098-12-31\n'}
    hosts = {n: Host(tmp_path, n, "r" + n[1], etcd_cluster.endpoints, extra=pol) for n, pol in policies.items()}
    for h in hosts.values():
        assert "no rollout" in h.step().stdout
    op = Operator(tmp_path, etcd_cluster.endpoints)
    payload = patch_payload(op.dir / "p.bin")
    hp = op.dir / "hp1.hpm"
    sign("hotpatch", "--key", op.dir / "release.pem", "--baseline", op.base, "--seq", "1", "--classification",
         "security", "--id", "KB-1", "--payload", f"p0={payload}", "--out", hp)
    sign("catalog", "--key", op.dir / "release.pem", "--serial", "2", "--expires", "2082758400",
         "--out", op.www / "catalog.hpm", "--entry", f"{op.base}:class=critical,released=2026-01-10,url=base.hpm",
         "--entry", f"{hp}:class=security,released=2026-01-10,url=hp1.hpm")
    hpm("catalog", "--source", op.www, env=op.env)
    op.fleet("rollout", "start", "--hotpatch", "1", "--ring", "h1", "--ring", "h2")
    r2 = hosts["h2"].step()
    assert 'waiting: blackout "freeze"' in r2.stdout, r2
    hosts["h1"].step()
    assert phases(op)["h1"] not in ("waiting", "failed"), op.status()
    assert phases(op)["h2"] == "waiting" and hosts["h2"].hook_calls() == []
    # the same host without hotpatch_outside_windows waits for its window
    conf = hosts["h1"].conf
    conf.write_text(conf.read_text().replace("hotpatch_outside_windows = yes", "hotpatch_outside_windows = no"))
    r1 = hosts["h1"].step()  # h1 is already out: the policy only gates asking for a slot
    assert "maintenance windows" not in r1.stdout, r1


def test_two_of_three_members_down_nobody_moves_until_quorum_returns(tmp_path, etcd_cluster):
    hosts = make_hosts(tmp_path, etcd_cluster, [("h1", "r1"), ("h2", "r2")])
    op = Operator(tmp_path, etcd_cluster.endpoints)
    op.fleet("rollout", "start", "--baseline-version", "2026.1", "--ring", "h1", "--ring", "h2")
    etcd_cluster.kill("m2")
    etcd_cluster.kill("m3")
    for h in hosts.values():
        r = h.step(check=None)
        assert r.returncode != 0 and "failed at every member" in r.stderr, r
    assert all(not h.hook_calls() for h in hosts.values()), "a hook ran without quorum"
    etcd_cluster.restart("m2")
    etcd_cluster.restart("m3")
    etcd_cluster.wait_leader("m1", "m2", "m3", seconds=30)
    assert set(phases(op).values()) == {"waiting"}, op.status()  # nothing moved meanwhile
    for h in hosts.values():
        h.start()
    wait_for(lambda: op.status()["rollout"]["state"] == "done", 60, "the rollout is done after quorum returned")
    for h in hosts.values():
        h.kill()


def test_a_rollout_of_300_hosts_starts_in_batches(tmp_path, etcd_cluster):
    """More hosts than one etcd transaction takes (128 operations) and more
    keys than one page of a read (500): the records go in batches, then the
    rollout; the operator reads them back in pages; a rollout after it
    deletes the records of hosts it does not name."""
    gw = Gateway(etcd_cluster.client["m1"])
    names = [f"n{i:03d}" for i in range(300)]
    for i, n in enumerate(names):  # registered members, as their agents would write them
        gw.put(f"/hpm/fleet/members/{n}", json.dumps({"name": n, "domain": f"rack-{i % 3}"}))
    op = Operator(tmp_path, etcd_cluster.endpoints)
    r = op.fleet("rollout", "start", "--baseline-version", "2026.1", "--max-out", "3",
                 "--ring", ",".join(names[:6]), "--ring", ",".join(names[6:]))
    assert "300 hosts in 2 rings" in r.stdout
    st = op.status()
    assert len(st["hosts"]) == 300 and {h["phase"] for h in st["hosts"]} == {"waiting"}
    _, kv = gw.snapshot()
    ro = json.loads(kv["/hpm/fleet/rollout"])
    # within a ring, each fault domain's hosts follow each other
    assert ro["rings"][0] == ["n000", "n003", "n001", "n004", "n002", "n005"], ro["rings"][0]
    assert [d for d in ro["domains"][0]] == ["rack-0", "rack-0", "rack-1", "rack-1", "rack-2", "rack-2"]
    assert json.loads(kv["/hpm/fleet/slots"])["phases"] == "w" * 300
    assert all(json.loads(kv[f"/hpm/fleet/hosts/{n}"])["rollout"] == ro["id"] for n in names)
    op.fleet("rollout", "abort")
    op.fleet("rollout", "start", "--baseline-version", "2026.1", "--ring", "n001,n002")
    _, kv = gw.snapshot()
    assert sorted(k for k in kv if k.startswith("/hpm/fleet/hosts/")) == ["/hpm/fleet/hosts/n001",
                                                                          "/hpm/fleet/hosts/n002"]
    assert [h["host"] for h in op.status()["hosts"]] == ["n001", "n002"]
