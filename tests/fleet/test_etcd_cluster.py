# SPDX-License-Identifier: MIT
"""The etcd client (runtime/fleet/etcd.c) against a real 3-member etcd 3.4
cluster on loopback (conftest.py), driven through tests/fleet/etcdctl_hpm.c
(the client built with ASan+UBSan): put/get/delete, compare-and-swap
transactions and a race of writers, leases that expire or are kept alive,
and failover when members die."""
import json
import subprocess
import time

from hpmtest import ETCDCTL_HPM, OK, REFUSED, environ, run

FAILED = 3  # etcdctl_hpm: no member answered, or a bad answer
TIMEOUT_MS = 1500


def ctl(cluster, *args, endpoints=None, check=OK, timeout_ms=TIMEOUT_MS):
    return run(ETCDCTL_HPM, "--endpoints", endpoints or cluster.endpoints, "--timeout-ms", timeout_ms,
               *args, check=check, timeout=60)


def get(cluster, key, **kw):
    return ctl(cluster, "get", key, **kw).json()


def test_put_get_delete(etcd_cluster):
    c = etcd_cluster
    put = ctl(c, "put", "fleet/hosts/a", "ring-1").json()
    assert put["revision"] > 1 and put["uncertain"] is False
    ctl(c, "put", "fleet/hosts/b", "ring-2")
    ctl(c, "put", "fleet/other", "x")

    one = get(c, "fleet/hosts/a")
    assert one["count"] == 1 and len(one["kvs"]) == 1
    kv = one["kvs"][0]
    assert (kv["key"], kv["value"]) == ("fleet/hosts/a", "ring-1")
    assert kv["create_revision"] == kv["mod_revision"] == put["revision"] and kv["version"] == 1

    # Each member answers the same data (the client asks the first that answers).
    for n in c.names:
        assert get(c, "fleet/hosts/a", endpoints=c.client[n])["kvs"][0]["value"] == "ring-1"

    hosts = ctl(c, "get", "fleet/hosts/", "--prefix").json()
    assert [(k["key"], k["value"]) for k in hosts["kvs"]] == [("fleet/hosts/a", "ring-1"), ("fleet/hosts/b", "ring-2")]

    gone = ctl(c, "del", "fleet/hosts/", "--prefix").json()
    assert gone["deleted"] == 2 and gone["revision"] > hosts["revision"]
    assert get(c, "fleet/hosts/a") == {"revision": gone["revision"], "count": 0, "more": False, "kvs": []}
    assert get(c, "fleet/other")["kvs"][0]["value"] == "x"
    assert ctl(c, "del", "fleet/hosts/a").json()["deleted"] == 0


def test_txn_compare_and_swap(etcd_cluster):
    c = etcd_cluster
    # create_revision 0: the key must not exist yet.
    first = ctl(c, "cas", "fleet/slot", "create", "0", "host-a").json()
    assert first["succeeded"] is True and first["current"] is None
    lost = ctl(c, "cas", "fleet/slot", "create", "0", "host-b").json()
    assert lost["succeeded"] is False
    assert lost["current"]["value"] == "host-a" and lost["current"]["mod_revision"] == first["revision"]
    # mod_revision: only a writer that saw the latest revision wins.
    stale = first["revision"] - 1
    assert ctl(c, "cas", "fleet/slot", "mod", stale, "host-c").json()["succeeded"] is False
    won = ctl(c, "cas", "fleet/slot", "mod", first["revision"], "host-d").json()
    assert won["succeeded"] is True and won["revision"] == first["revision"] + 1
    # value
    assert ctl(c, "cas", "fleet/slot", "value", "host-a", "host-e").json()["succeeded"] is False
    assert ctl(c, "cas", "fleet/slot", "value", "host-d", "host-f").json()["succeeded"] is True
    assert get(c, "fleet/slot")["kvs"][0]["value"] == "host-f"


def test_racing_writers_exactly_one_wins(etcd_cluster):
    c = etcd_cluster
    base = ctl(c, "put", "fleet/lock", "free").json()["revision"]
    for rnd in range(5):
        writers = [f"w{rnd}-{i}" for i in range(4)]
        # All writers read the same revision, then race their txns, each
        # through a different first member.
        eps = [",".join(c.client[n] for n in c.names[i % 3:] + c.names[:i % 3]) for i in range(len(writers))]
        procs = [subprocess.Popen([str(ETCDCTL_HPM), "--endpoints", ep, "--timeout-ms", str(TIMEOUT_MS),
                                   "cas", "fleet/lock", "mod", str(base), w],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environ())
                 for w, ep in zip(writers, eps)]
        results = []
        for p in procs:
            out, err = p.communicate(timeout=60)
            assert p.returncode == OK, err
            results.append(json.loads(out))
        winners = [w for w, r in zip(writers, results) if r["succeeded"]]
        assert len(winners) == 1, results
        assert not any(r["uncertain"] for r in results)
        now = get(c, "fleet/lock")["kvs"][0]
        assert now["value"] == winners[0]
        for w, r in zip(writers, results):
            if not r["succeeded"]:
                # A loser saw the winner's write (or, if it ran first, the old value).
                assert r["current"]["mod_revision"] in (base, now["mod_revision"])
        base = now["mod_revision"]


def wait_gone(c, key, seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if get(c, key)["count"] == 0:
            return True
        time.sleep(0.25)
    return False


def test_lease_expiry_removes_key(etcd_cluster):
    c = etcd_cluster
    lease = ctl(c, "grant", "2").json()
    assert lease["ttl"] == 2 and lease["id"] > 0
    ctl(c, "put", "fleet/alive/a", "up", "--lease", lease["id"])
    assert get(c, "fleet/alive/a")["kvs"][0]["lease"] == lease["id"]
    start = time.monotonic()
    assert wait_gone(c, "fleet/alive/a", 10), "the key outlived its lease"
    assert time.monotonic() - start > 1.0, "the key went before its lease could expire"
    r = ctl(c, "keepalive", lease["id"], check=REFUSED)
    assert "expired or was revoked" in r.err and "code 5" in r.err
    r = ctl(c, "put", "fleet/alive/b", "up", "--lease", lease["id"], check=REFUSED)
    assert "kv/put at http://127.0.0.1:" in r.err
    assert "requested lease not found (code 5)" in r.err


def test_keepalive_keeps_key(etcd_cluster):
    c = etcd_cluster
    lease = ctl(c, "grant", "2").json()
    ctl(c, "put", "fleet/alive/a", "up", "--lease", lease["id"])
    end = time.monotonic() + 5  # 2.5 TTLs
    while time.monotonic() < end:
        assert ctl(c, "keepalive", lease["id"]).json()["ttl"] == 2
        time.sleep(0.5)
    assert get(c, "fleet/alive/a")["kvs"][0]["value"] == "up"
    ctl(c, "revoke", lease["id"])
    assert get(c, "fleet/alive/a")["count"] == 0
    r = ctl(c, "revoke", lease["id"], check=REFUSED)
    assert "lease/revoke at" in r.err and "requested lease not found (code 5)" in r.err


def timed(fn):
    t = time.monotonic()
    r = fn()
    return r, time.monotonic() - t


def test_failover_when_members_die(etcd_cluster):
    c = etcd_cluster
    ctl(c, "put", "fleet/k", "v0")
    # m1 is tried first: dead, the client goes on to m2 and m3.
    c.kill("m1")
    # If m1 led, the others elect a new leader first (etcd holds requests
    # meanwhile); what is tested is the client, not etcd's election time.
    c.wait_leader("m2", "m3")
    r, took = timed(lambda: ctl(c, "put", "fleet/k", "v1").json())
    assert r["revision"] > 0 and took < TIMEOUT_MS / 1000 * 3
    assert get(c, "fleet/k")["kvs"][0]["value"] == "v1"
    mod = get(c, "fleet/k")["kvs"][0]["mod_revision"]
    assert ctl(c, "cas", "fleet/k", "mod", mod, "v2").json()["succeeded"] is True
    lease = ctl(c, "grant", "5").json()
    assert ctl(c, "keepalive", lease["id"]).json()["ttl"] == 5
    assert ctl(c, "del", "fleet/k").json()["deleted"] == 1

    # Two of three gone: no quorum.  Every member is tried once; the call
    # fails within about (members x timeout) and says why for each member.
    c.kill("m2")
    for args in (("get", "fleet/k"), ("put", "fleet/k", "v3")):
        r, took = timed(lambda: ctl(c, *args, check=FAILED))
        assert took < 3 * TIMEOUT_MS / 1000 + 3, f"{args} took {took:.1f} s"
        path = "kv/range" if args[0] == "get" else "kv/put"
        assert f"etcd {path} failed at every member" in r.err
        for n in ("m1", "m2"):
            assert f"{c.client[n]}: " in r.err and "Failed to connect" in r.err
        assert f"{c.client['m3']}: no answer within {TIMEOUT_MS} ms" in r.err


def test_failover_past_members_in_trouble(etcd_cluster, fake_member):
    """A member that never answers, answers garbage or says it has no leader
    is passed over for the next; a write retried that way says it may have
    been applied twice (uncertain).  An etcd error that is the cluster's
    answer ends the call at the member that gave it."""
    c = etcd_cluster
    for mode in ("stall", "garbage", "unavailable"):
        fake = fake_member(mode)
        eps = f"{fake.url},{c.client['m1']}"
        put, took = timed(lambda: ctl(c, "put", f"fleet/{mode}", "v", endpoints=eps).json())
        assert put["uncertain"] is True, mode
        assert fake.requests == ["/v3/kv/put"], mode
        if mode == "stall":
            assert TIMEOUT_MS / 1000 <= took < TIMEOUT_MS / 1000 + 3
        got = get(c, f"fleet/{mode}", endpoints=eps)
        assert got["kvs"][0]["value"] == "v" and fake.requests == ["/v3/kv/put", "/v3/kv/range"], mode
        # A read retried elsewhere is simply answered; a CAS reports its doubt.
        cas = ctl(c, "cas", f"fleet/{mode}", "value", "v", "w", endpoints=eps).json()
        assert cas["succeeded"] is True and cas["uncertain"] is True
    # Only the fake answers for the others too: every member's reason is said.
    r = ctl(c, "put", "fleet/x", "v", endpoints=fake_member("garbage").url, check=FAILED)
    assert "not a JSON object" in r.err and "it may have been applied" in r.err
    fake = fake_member("lease-gone")
    r = ctl(c, "put", "fleet/x", "v", "--lease", "7", endpoints=f"{fake.url},{c.client['m1']}", check=REFUSED)
    assert f"etcd kv/put at {fake.url}: etcdserver: requested lease not found (code 5)" in r.err
    assert get(c, "fleet/x")["count"] == 0
