# SPDX-License-Identifier: MIT
"""`hpm fleet serve` against a real 3-member etcd (conftest.py): while a
rollout of simulated hosts runs (rollout.py), Debian's headless chromium
loads the status page and what it shows is checked against `hpm fleet
status --json`; /status.json is that document; /metrics parses with
Prometheus' own text parser (python3-prometheus-client) and agrees with it.
Refusals: a bad --listen, a port in use, etcd unreachable."""
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from html.parser import HTMLParser

from prometheus_client.parser import text_string_to_metric_families

from conftest import free_ports
from hpmtest import BUILD, HPM, USAGE, environ, hpm
from rollout import Gateway, Host, Operator, check_history, conf, wait_for

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
IOERR = 3


class Server:
    """hpm fleet serve in the background (under timeout), stopped by pid."""

    def __init__(self, config, tmp_path, listen=None, extra=()):
        self.port = free_ports(1)[0]
        listen = listen or f"127.0.0.1:{self.port}"
        self.url = f"http://{listen}"
        self.log = tmp_path / f"serve-{self.port}.log"
        out = open(self.log, "w")
        self.proc = subprocess.Popen(["timeout", "300", str(HPM), "--config", str(config), "fleet", "serve",
                                      "--listen", listen, "--refresh", "2", *extra],
                                     stdout=out, stderr=subprocess.STDOUT, env=environ(None))
        out.close()
        wait_for(lambda: "serving" in self.log.read_text() or self.proc.poll() is not None, 20, "serve started")
        assert self.proc.poll() is None, self.log.read_text()

    def get(self, path, method="GET"):
        req = urllib.request.Request(self.url + path, method=method)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.headers, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read().decode()

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)  # timeout passes it on to hpm
        return self.proc.wait(timeout=10)


class Page(HTMLParser):
    """The rows of the page's tables: {table id: [(tr attrs, {td class: text})]},
    the text of elements with an id, and every element name seen."""

    def __init__(self, html):
        super().__init__()
        self.tables, self.ids, self.tags = {}, {}, set()
        self.table = self.row = self.cell = None
        self.id_stack = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.add(tag)
        if tag == "table":
            self.table = self.tables.setdefault(a.get("id"), [])
        elif tag == "tr" and self.table is not None:
            self.row = (a, {})
            self.table.append(self.row)
        elif tag == "td" and self.row is not None:
            self.cell = a.get("class", "")
            self.row[1][self.cell] = ""
        if "id" in a and tag != "table":
            self.ids[a["id"]] = ""
            self.id_stack.append((tag, a["id"]))

    def handle_endtag(self, tag):
        if tag == "table":
            self.table = None
        elif tag == "tr":
            self.row = None
        elif tag == "td":
            self.cell = None
        if self.id_stack and self.id_stack[-1][0] == tag:
            self.id_stack.pop()

    def handle_data(self, data):
        if self.cell is not None:
            self.row[1][self.cell] += data
        for _, i in self.id_stack:
            self.ids[i] += data

    def rows(self, table):
        return [(a, c) for a, c in self.tables.get(table, []) if c]


def chromium(url, tmp_path, screenshot=None):
    """What headless chromium shows of url (the DOM after loading), and a
    screenshot when asked."""
    profile = tmp_path / "chromium-profile"
    base = ["timeout", "90", CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            f"--user-data-dir={profile}", "--hide-scrollbars"]
    if screenshot:
        r = subprocess.run(base + [f"--screenshot={screenshot}", "--window-size=1400,1100", url],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0 and screenshot.stat().st_size > 1000, r
    r = subprocess.run(base + ["--dump-dom", url], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "</html>" in r.stdout, r
    return r.stdout


def check_page_against_status(page: Page, st):
    """Everything the page shows agrees with the status document st."""
    assert page.ids["revision"] == str(st["revision"])
    ro = st["rollout"]
    rollout = {k: v for _, row in page.rows("rollout") for k, v in row.items()}
    assert rollout["id"] == ro["id"] and rollout["target"] == ro["target"] and rollout["kind"] == ro["kind"]
    assert rollout["state"] == ro["state"] and rollout["reason"] == ro["reason"]
    assert rollout["budget-used"] == str(ro["budget"]["used"]) and rollout["budget-limit"] == str(ro["budget"]["limit"])
    assert rollout["max-out"] == str(ro["max_out"]) and rollout["slots-used"] == str(len(st["slots"]))
    if st["waiting"]:
        assert page.ids["waiting"] == "Waiting: " + st["waiting"]
    else:
        assert "waiting" not in page.ids
    shown = {a["data-host"]: (a["data-phase"], c) for a, c in page.rows("hosts")}
    assert list(shown) == [h["host"] for h in st["hosts"]], "hosts in the order of status"
    for h in st["hosts"]:
        phase, c = shown[h["host"]]
        assert phase == h["phase"] and c["phase"] == h["phase"], h
        assert c["domain"] == h["domain"] and c["ring"] == str(h["ring"]) and c["reason"] == h["reason"], (h, c)
        lease = "SUSPECT" if h["suspect"] else "alive" if h["alive"] else "gone"
        assert c.get("lease", c.get("lease suspect")) == lease, (h, c)
        assert ("lease suspect" in c) == h["suspect"], (h, c)
        assert c["slot"] == ("holds" if h["holds_slot"] else "-"), (h, c)
        assert c["deadline"] == (h["deadline"] or "-"), (h, c)
        assert c["target"] == (ro["target"] if h["phase"] == "done" else c["target"]), (h, c)
    assert [a["data-host"] for a, _ in page.rows("slots") if "data-host" in a] == [s["host"] for s in st["slots"]]
    # every registered host with what it published about itself
    shown = {a["data-host"]: c for a, c in page.rows("members")}
    assert sorted(shown) == sorted(m["host"] for m in st["members"])
    phase_of = {h["host"]: h["phase"] for h in st["hosts"]}
    for m in st["members"]:
        c, f = shown[m["host"]], m["facts"]
        assert c["domain"] == m["domain"] and c["in-rollout"] == phase_of.get(m["host"], "no"), (m, c)
        if f is None:
            assert c["facts"] == "nothing published yet", (m, c)
            continue
        assert c["baseline"] == f["baseline"] + (f" ({f['slot']})" if f["slot"] else ""), (m, c)
        hp = f["hotpatch"]
        assert c["hotpatch"] == (f"{hp['id']} (sequence {hp['sequence']})" if hp else "none"), (m, c)
        assert c["health"] == f["health"] and c["compliance"] == f["compliance"], (m, c)
        rows = "".join(f"#{r['id']} {r['time']} {r['event']} {r['result']}" + (f" {r['ids']}" if r["ids"] else "")
                       for r in f["history"])
        assert c["history"] == (rows or "none"), (m, c)
    rings = page.rows("rings")
    assert len(rings) == ro["rings"]
    for a, c in rings:
        ring = [h for h in st["hosts"] if h["ring"] == int(a["data-ring"])]
        assert c["members"].split() == [h["host"] for h in ring]
        assert c["done"] == f"{sum(h['phase'] == 'done' for h in ring)}/{len(ring)}"


def metrics(server):
    status, headers, text = server.get("/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4"), (status, text)
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for f in fams.values() for s in f.samples}, fams


def check_metrics_against_status(m, st):
    ro = st["rollout"]
    assert m[("hpm_fleet_read_ok", ())] == 1
    assert m[("hpm_fleet_etcd_revision", ())] >= st["revision"]
    for phase in ("waiting", "draining", "installing", "rebooting", "verifying", "done", "failed"):
        assert m[("hpm_fleet_hosts", (("phase", phase),))] == sum(h["phase"] == phase for h in st["hosts"]), phase
    assert m[("hpm_fleet_budget_used", ())] == ro["budget"]["used"]
    assert m[("hpm_fleet_budget_max", ())] == ro["budget"]["limit"]
    assert m[("hpm_fleet_slots_max", ())] == ro["max_out"]
    assert m[("hpm_fleet_slots_used", ())] == len(st["slots"])
    for s in ("running", "paused", "aborted", "stopped", "done"):
        assert m[("hpm_fleet_rollout_state", (("state", s),))] == (s == ro["state"]), s
    assert m[("hpm_fleet_rollout_info", (("id", ro["id"]), ("kind", ro["kind"]), ("target", ro["target"])))] == 1
    holders = {dict(k[1])["host"] for k in m if k[0] == "hpm_fleet_slot_holder_seconds"}
    assert holders == {s["host"] for s in st["slots"]}
    for h in st["hosts"]:
        key = (("domain", h["domain"]), ("host", h["host"]), ("phase", h["phase"]))
        assert m[("hpm_fleet_host_phase_seconds", key)] >= 0
        assert m[("hpm_fleet_host_phase", key + (("ring", str(h["ring"])),))] == 1


def settle(op, quiet=3.0):
    """Until etcd's revision holds still for quiet seconds (the leases of
    hosts that finished have expired): the status document it returns is
    then what the page, /status.json and /metrics show too."""
    st, since = op.status(), time.monotonic()
    end = since + 30
    while time.monotonic() - since < quiet:
        assert time.monotonic() < end, "etcd's revision does not hold still"
        time.sleep(0.3)
        now = op.status()
        if now["revision"] != st["revision"]:
            st, since = now, time.monotonic()
    return st


def test_page_metrics_and_json_agree_with_status_while_a_rollout_runs(tmp_path, etcd_cluster):
    spec = [("a1", "rack-a"), ("a2", "rack-a"), ("a3", "rack-a"), ("a4", "rack-a"), ("b1", "rack-b"), ("b2", "rack-b")]
    hosts = {n: Host(tmp_path, n, d, etcd_cluster.endpoints) for n, d in spec}
    a3 = hosts["a3"].conf  # its install hook will hang a while (no keepalive while a hook runs)
    a3.write_text(a3.read_text().replace("hook_timeout = 3s", "hook_timeout = 120s")
                  .replace("lease_ttl = 2s", "lease_ttl = 120s"))
    for h in hosts.values():
        h.step()
    op = Operator(tmp_path, etcd_cluster.endpoints)
    srv = Server(op.conf, tmp_path)
    try:
        # before any rollout: the page says so and lists the registered hosts
        page = Page(chromium(srv.url + "/", tmp_path))
        assert page.ids["no-rollout"] == "No rollout."
        assert sorted(a["data-host"] for a, _ in page.rows("members")) == sorted(hosts)

        # a3's install waits (and is given the time to): the rollout holds still there
        (hosts["a3"].dir / "hang").touch()
        op.fleet("rollout", "start", "--baseline-version", "2026.1", "--ring", "a1", "--ring", "a2,a3,b1",
                 "--ring", "a4,b2", "--max-out", "1")
        for h in hosts.values():
            h.start()

        def a3_installing():
            st = op.status()
            return st if {h["host"]: h["phase"] for h in st["hosts"]}["a3"] == "installing" else None
        wait_for(a3_installing, 90, "a3 installing")
        settle(op)

        # the rollout runs (a3 out, the others done or waiting): the page, the
        # JSON and the metrics show what hpm fleet status --json says
        results = BUILD / "results"
        results.mkdir(exist_ok=True)
        shot = results / "fleet-serve.png"
        html = chromium(srv.url + "/", tmp_path, screenshot=shot)
        st = op.status()
        assert st["rollout"]["state"] == "running" and [s["host"] for s in st["slots"]] == ["a3"]
        assert {h["phase"] for h in st["hosts"]} >= {"done", "installing", "waiting"}
        assert st["rollout"]["budget"]["used"] == 0 and st["waiting"]
        check_page_against_status(Page(html), st)
        status, headers, body = srv.get("/status.json")
        assert status == 200 and headers["Content-Type"] == "application/json"
        assert json.loads(body) == st
        assert body == hpm("--config", op.conf, "fleet", "status", "--json").stdout, "byte for byte"
        m, fams = metrics(srv)
        check_metrics_against_status(m, st)
        assert fams["hpm_fleet_hosts"].type == "gauge" and fams["hpm_fleet_read_errors"].type == "counter"

        # the rollout goes on to its end; the page follows
        (hosts["a3"].dir / "hang").unlink()
        wait_for(lambda: op.status()["rollout"]["state"] == "done", 120, "the rollout is done")
        st = settle(op)
        page = Page(chromium(srv.url + "/", tmp_path))
        check_page_against_status(page, st)
        assert {a["data-phase"] for a, _ in page.rows("hosts")} == {"done"}
        # every host published its facts (these hosts have no boot variables
        # and no catalog: unknown baseline and compliance, no hotpatch)
        for mb in st["members"]:
            f = mb["facts"]
            assert f and f["baseline"] == "unknown" and f["hotpatch"] is None and f["health"] == "none", mb
            assert f["compliance"] == "unknown: no catalog fetched yet (hpm catalog)", mb
        m, fams = metrics(srv)
        check_metrics_against_status(m, st)
        # every host went through every phase but failed: each phase's
        # histogram counts all six, its buckets never decrease
        assert fams["hpm_fleet_phase_duration_seconds"].type == "histogram"
        for phase in ("waiting", "draining", "installing", "rebooting", "verifying"):
            assert m[("hpm_fleet_phase_duration_seconds_count", (("phase", phase),))] == len(hosts), phase
            b = [v for (n, lab), v in sorted(m.items(), key=lambda kv: float(dict(kv[0][1]).get("le", 0)))
                 if n == "hpm_fleet_phase_duration_seconds_bucket" and dict(lab)["phase"] == phase]
            assert b == sorted(b) and b[-1] == len(hosts), (phase, b)

        # text from etcd is text on the page, never markup
        gw = Gateway(etcd_cluster.client["m1"])
        _, kv = gw.snapshot()
        rec = json.loads(kv["/hpm/fleet/hosts/b2"])
        evil = "<script>document.title='owned'</script><img src=x onerror=alert(1)> & \"'"
        rec["reason"] = evil
        gw.put("/hpm/fleet/hosts/b2", json.dumps(rec))
        html = chromium(srv.url + "/", tmp_path)
        page = Page(html)
        assert "script" not in page.tags and "img" not in page.tags
        assert {a["data-host"]: c for a, c in page.rows("hosts")}["b2"]["reason"] == evil
        assert "<title>hpm fleet</title>" in html
        check_page_against_status(page, op.status())

        # read-only: other methods and paths are refused
        assert srv.get("/", method="POST")[0] == 405
        assert srv.get("/status.json", method="DELETE")[0] == 405
        assert srv.get("/nope")[0] == 404
        assert srv.get("/", method="HEAD")[0] == 200
    finally:
        for h in hosts.values():
            h.kill()
        rc = srv.stop()
    assert rc == 0, srv.log.read_text()
    assert "stopped" in srv.log.read_text()


def test_serve_refusals(tmp_path, etcd_cluster):
    op_conf = conf(tmp_path / "hpm.conf", etcd_cluster.endpoints, "viewer")
    serve = lambda *a, check: hpm("--config", op_conf, "fleet", "serve", *a, check=check)
    for bad, why in (("nonsense", "expected ADDRESS:PORT"), ("127.0.0.1:0", "port must be a number 1..65535"),
                     ("127.0.0.1:99999", "port must be a number 1..65535"), ("127.0.0.1:", "port must be"),
                     ("localhost:9479", "is not an IPv4 or [IPv6] address"), (":9479", "expected ADDRESS:PORT")):
        r = serve("--listen", bad, check=USAGE)
        assert why in r.stderr and bad in r.stderr, r
    assert "--refresh" in serve("--refresh", "x", check=USAGE).stderr
    assert "unexpected argument 'extra'" in serve("extra", check=USAGE).stderr
    # a port another program holds
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    try:
        r = serve("--listen", f"127.0.0.1:{port}", check=IOERR)
        assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in r.stderr
        assert "pick another with --listen" in r.stderr
    finally:
        s.close()
    # no etcd configured
    bare = tmp_path / "bare.conf"
    bare.write_text("[fleet]\nhost = viewer\n")
    r = hpm("--config", bare, "fleet", "serve", check=2)
    assert "[fleet] endpoints is not set" in r.stderr

    # etcd unreachable: the server runs and says so on every page
    dead = ",".join(f"http://127.0.0.1:{p}" for p in free_ports(2))
    down = conf(tmp_path / "down.conf", dead, "viewer")
    srv = Server(down, tmp_path)
    try:
        status, _, body = srv.get("/")
        assert status == 503
        page = Page(body)
        assert page.ids["error"].startswith("etcd cannot be read: etcd kv/range failed at every member")
        assert dead.split(",")[0] in page.ids["error"]
        dom = Page(chromium(srv.url + "/", tmp_path))
        assert dom.ids["error"] == page.ids["error"]
        status, _, body = srv.get("/status.json")
        doc = json.loads(body)
        r = hpm("--config", down, "fleet", "status", "--json", check=IOERR)
        assert status == 503 and doc["error"]["kind"] == r.json()["error"]["kind"] == "io"
        assert doc["error"]["exit"] == r.json()["error"]["exit"] == IOERR
        assert "failed at every member" in doc["error"]["message"]
        m, _ = metrics(srv)
        assert m[("hpm_fleet_read_ok", ())] == 0
        assert m[("hpm_fleet_read_errors_total", ())] == 4
        assert not any(k[0] == "hpm_fleet_hosts" for k in m)
    finally:
        rc = srv.stop()
    assert rc == 0, srv.log.read_text()
    # an IPv6 address in brackets
    six = Server(down, tmp_path, listen=f"[::1]:{free_ports(1)[0]}")
    try:
        status, _, body = six.get("/metrics")
        assert status == 200 and "hpm_fleet_read_ok 0" in body
    finally:
        assert six.stop() == 0


def fleetlock(server, op, client, group="rack-a", header=True, body=None):
    """One FleetLock request: (HTTP status, the answer's JSON)."""
    data = body if body is not None else json.dumps({"client_params": {"id": client, "group": group}}).encode()
    headers = {"Content-Type": "application/json"}
    if header:
        headers["fleet-lock-protocol"] = "true"
    req = urllib.request.Request(server.url + "/v1/" + op, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_fleetlock_clients_share_the_slots_of_hpm_hosts(tmp_path, etcd_cluster):
    gw = Gateway(etcd_cluster.client["m1"])
    h1 = Host(tmp_path, "h1", "rack-a", etcd_cluster.endpoints)
    h1.conf.write_text(h1.conf.read_text().replace("hook_timeout = 3s", "hook_timeout = 120s")
                       .replace("lease_ttl = 2s", "lease_ttl = 120s"))
    h1.step()
    op = Operator(tmp_path, etcd_cluster.endpoints)
    srv = Server(op.conf, tmp_path, extra=["--fleetlock"])
    ro = Server(op.conf, tmp_path)  # without --fleetlock
    try:
        status, ans = fleetlock(ro, "pre-reboot", "z1")
        assert status == 404 and ans["kind"] == "fleetlock_off", ans
        # the protocol's refusals
        assert fleetlock(srv, "pre-reboot", "z1", header=False) == \
            (400, {"kind": "missing_header", "value": "the header fleet-lock-protocol: true is missing"})
        for body, why in ((b"{", "not one JSON object"), (b'{"client_params": 1}', "client_params"),
                          (b'{"client_params": {"id": "a/b", "group": "x"}}', "client_params.id"),
                          (b'{"client_params": {"id": "z1", "group": "x_y"}}', "client_params.group"),
                          (b'{"client_params": {"id": "z1", "group": "x"}} x', "after the JSON"),
                          (b"x" * 5000, "larger than 4096")):
            status, ans = fleetlock(srv, "pre-reboot", "z1", body=body)
            assert status == 400 and ans["kind"] == "bad_request" and why in ans["value"], (body, ans)
        assert srv.get("/v1/pre-reboot")[0] == 405
        # Zincati's start: steady-state; it registers the client in its group
        assert fleetlock(srv, "steady-state", "z1")[0] == 200
        # the protocol's first version named the client node_uuid
        body = json.dumps({"client_params": {"node_uuid": "z2", "group": "rack-a"}}).encode()
        assert fleetlock(srv, "steady-state", "z2", body=body)[0] == 200
        members = {m["host"]: m["domain"] for m in op.status()["members"]}
        assert members == {"h1": "rack-a", "z1": "rack-a", "z2": "rack-a"}
        status, ans = fleetlock(srv, "pre-reboot", "z1")
        assert status == 409 and ans["kind"] == "not_in_rollout" and "no rollout names z1" in ans["value"]

        # a rollout names hpm's host h1 and the FleetLock clients z1, z2: one slot
        first, _ = gw.snapshot()
        (h1.dir / "hang").touch()
        op.fleet("rollout", "start", "--baseline-version", "2026.1", "--ring", "h1,z1,z2", "--max-out", "1",
                 "--deadline", "rebooting=4s")
        h1.start()
        wait_for(lambda: [s["host"] for s in op.status()["slots"]] == ["h1"], 60, "h1 holds the slot")
        status, ans = fleetlock(srv, "pre-reboot", "z1")
        assert status == 409 and ans["kind"] == "failed_lock" and "1 of 1 slots taken (h1)" in ans["value"], ans
        (h1.dir / "hang").unlink()
        wait_for(lambda: {h["host"]: h["phase"] for h in op.status()["hosts"]}["h1"] == "done", 60, "h1 done")

        # z2 takes the slot and never reports back: past its deadline (4 s) it
        # is suspect, counts against the budget, and keeps the slot until released
        status, ans = fleetlock(srv, "pre-reboot", "z2")
        assert status == 200 and "z2 holds a slot" in ans["value"], ans
        assert fleetlock(srv, "pre-reboot", "z2")[0] == 200  # recursive
        st = op.status()
        z2 = {h["host"]: h for h in st["hosts"]}["z2"]
        assert [s["host"] for s in st["slots"]] == ["z2"] and z2["phase"] == "rebooting" and z2["alive"], st
        status, ans = fleetlock(srv, "pre-reboot", "z1")
        assert status == 409 and "1 of 1 slots taken (z2)" in ans["value"], ans

        def suspect():
            z2 = {h["host"]: h for h in op.status()["hosts"]}["z2"]
            return z2["suspect"] and z2["holds_slot"]
        wait_for(suspect, 20, "z2 suspect")
        st = op.status()
        assert st["rollout"]["budget"]["used"] == 1 and [s["host"] for s in st["slots"]] == ["z2"]
        status, ans = fleetlock(srv, "pre-reboot", "z1")
        assert status == 409 and "1 of 1 slots taken (z2)" in ans["value"], ans
        time.sleep(1)
        op.fleet("host", "release", "z2")
        st = op.status()
        assert {h["host"]: h["phase"] for h in st["hosts"]}["z2"] == "failed" and st["slots"] == []

        # z1 goes (the budget is used, not exceeded); its steady state after
        # the reboot frees the slot, and as the last host it ends the rollout
        status, ans = fleetlock(srv, "pre-reboot", "z1")
        assert status == 200 and "z1 holds a slot" in ans["value"], ans
        status, ans = fleetlock(srv, "steady-state", "z1")
        assert status == 200 and "freed its slot" in ans["value"], ans
        assert fleetlock(srv, "steady-state", "z1")[0] == 200  # nothing held: fine
        status, ans = fleetlock(srv, "pre-reboot", "z1")
        assert status == 409 and ans["kind"] == "turn_over", ans
        st = op.status()
        assert {h["host"]: h["phase"] for h in st["hosts"]} == {"h1": "done", "z1": "done", "z2": "failed"}
        assert st["slots"] == [] and st["rollout"]["state"] == "done", st
        assert st["rollout"]["reason"] == "every host is done or failed"
        last, _ = gw.snapshot()
        most, domains = check_history(gw, first, last, {"rack-a": 3})
        assert most == 1 and domains == {"rack-a"}
        log = srv.log.read_text()
        assert "FleetLock pre-reboot z1 (group rack-a): 200" in log and "FleetLock steady-state z1" in log
    finally:
        h1.kill()
        assert srv.stop() == 0 and ro.stop() == 0
