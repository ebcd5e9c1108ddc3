# SPDX-License-Identifier: MIT
"""The health window on the demo service (docs/operations.md, "Health
window"): the real multi-threaded demo service, under its client's load,
gets a signed hotpatch whose new code crashes on a rare request.  The agent
sees the crash, reverts the hotpatch within its window and marks it bad; the
service, restarted by the test as its unit would, is not patched again and
answers every request; status and history say why."""
import json
import os
import signal
import socket
import subprocess
import time

from hpmtest import BUILD, HPM, PATCHGEN, REPO, digest, environ, run, sign

SERVICE = BUILD / "demo" / "hpm-demo-service"
CLIENT = BUILD / "demo" / "hpm-demo-client"

# demo/fix.c, plus a NULL dereference for one amount in 997: what a hasty fix
# of the tax bug might ship
CRASHY = """long quote_tax_fixed(long cents) {
  if (cents % 997 == 0) *(volatile long *)0 = cents;
  return cents * 19 / 100;
}
const char *quote_version_fixed(void) { return "v2 (hotpatched)"; }
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_service(port):
    p = subprocess.Popen([str(SERVICE), str(port)], stdout=subprocess.PIPE, text=True)
    assert "listening" in p.stdout.readline()
    return p


def ask(port, cents=1000):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
        c.sendall(f"quote {cents}\n".encode())
        return c.makefile().readline().strip()


def test_crashing_hotpatch_reverted_under_load(tmp_path, make_host):
    d = tmp_path / "rel"
    d.mkdir()
    sign("keygen", "--out", d / "release.pem")
    (d / "vmlinuz").write_bytes(b"MZ" + os.urandom(4096))
    b1 = d / "base.hpm"
    sign("baseline", "--key", d / "release.pem", "--kernel", d / "vmlinuz", "--version", "2026.1", "--svn", "4",
         "--out", b1)
    (d / "crashy.c").write_text(CRASHY)
    run(PATCHGEN, "--target", SERVICE, "--map", REPO / "demo" / "map", "--source", d / "crashy.c",
        "--out", d / "crashy.bin")
    hp = d / "hp-1.hpm"
    sign("hotpatch", "--key", d / "release.pem", "--baseline", b1, "--seq", "1", "--classification", "security",
         "--id", "HP-CRASHY-1", "--payload", f"svc={d / 'crashy.bin'}", "--out", hp)
    h = make_host(tmp_path / "host", d / "release.pub")
    h.boot(active="a", baseline=digest(b1), version="2026.1", svn=4, attempt=0, floor=4,
           slots={"a": (2, 0, 1, 4, "none", digest(b1)), "b": (1, 0, 0, 0, "none", "00" * 32)},
           reason="highest-priority slot, marked good")
    conf = tmp_path / "hpm.conf"
    conf.write_text("[health]\nwindow = 2m\ninterval = 10s\n"
                    f"checks = {tmp_path / 'no-checks'}\n")
    h.env.update(HPM_BASELINE=digest(b1), HPM_CONF=str(conf))

    port = free_port()
    svc = start_service(port)
    agent = subprocess.Popen([str(HPM), "agent"], env=environ(h.env), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    client = None
    try:
        assert agent.stdout.readline().startswith("agent: watching")
        client = subprocess.Popen([str(CLIENT), str(port), "60", "4"], stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
        time.sleep(1)
        t0 = time.time()
        h.hpm("apply", "--pid", svc.pid, hp)
        # the client's random amounts reach a multiple of 997 within moments
        assert svc.wait(timeout=30) == -signal.SIGSEGV
        client.terminate()
        out, _ = client.communicate(timeout=30)
        assert "fixed" in out, out  # the hotpatch did run before it crashed
        deadline = time.time() + 30
        while True:
            st = json.loads(h.hpm("status", "--json").stdout)["hotpatch"]
            if st["health"]["state"] == "reverted":
                break
            assert time.time() < deadline, st
            time.sleep(0.1)
        assert time.time() - t0 < 120, "reverted only after the window"
        reason = st["health"]["reason"]
        assert f"pid {svc.pid}" in reason and "died of SIGSEGV" in reason, reason
        assert "in the hotpatch's code" in reason, reason
        assert st["sequence"] == 0 and [b["id"] for b in st["bad"]] == ["HP-CRASHY-1"]

        # the unit restarts the service: the agent leaves it alone, and it answers everything
        svc = start_service(port)
        client = subprocess.Popen([str(CLIENT), str(port), "4", "4"], stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
        out, _ = client.communicate(timeout=60)
        assert client.returncode == 0, out  # no failed or wrong answer
        assert ask(port) == "total 1019 (tax 19) by v1 (buggy)"
        assert json.loads(h.hpm("list", "--json").stdout)["processes"] == []
        # installing it again is refused until a newer sequence arrives
        r = h.hpm("apply", hp, check=1)
        assert "reverted for its health" in r.stderr, r.stderr
        text = h.hpm("status").stdout
        assert "marked bad: HP-CRASHY-1 (sequence 1): pid" in text, text
        rows = json.loads(h.hpm("history", "--json").stdout)["entries"]
        hr = [r for r in rows if r["event"] == "health-revert"]
        assert len(hr) == 1 and hr[0]["ids"] == ["HP-CRASHY-1"] and "died of SIGSEGV" in hr[0]["detail"], json.dumps(hr, indent=1)
    finally:
        if client and client.poll() is None:
            client.kill()
            client.wait()
        agent.send_signal(signal.SIGTERM)
        agent.communicate(timeout=10)
        if svc.poll() is None:
            svc.kill()
        svc.wait()
