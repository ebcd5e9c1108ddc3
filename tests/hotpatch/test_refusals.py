"""Everything hpm must refuse, and that a refusal leaves the target untouched."""
import subprocess
import time

from hpmtest import HPM
from workspace import Target


def refused(ws, state, h, env=None):
    """Apply h to a fresh pad target: refused, the target untouched.  The
    refusal's stderr."""
    with Target(ws.target("pad")) as t:
        r = ws.hpm(state, "apply", "--pid", t.pid, h, check=None, extra_env=env)
        assert r.returncode != 0, r.stdout
        assert t.version() == (0, 0)
        t.assert_healthy()
        return r.stderr


def test_bad_signature(ws, state):
    h = ws.hotpatch([ws.payload("pad", 1)], 1, key="rogue.pem", name="rogue.hpm")
    err = refused(ws, state, h)
    assert "UNTRUSTED" in err.upper() or "trust" in err


def test_tampered_payload(ws, state):
    h = ws.hotpatch([ws.payload("pad", 1)], 1, name="tamper.hpm")
    b = bytearray(h.read_bytes())
    b[len(b) // 2] ^= 0x40  # inside the payload area
    bad = h.with_name("tampered.hpm")
    bad.write_bytes(bytes(b))
    refused(ws, state, bad)


def test_wrong_baseline(ws, state):
    h = ws.hotpatch([ws.payload("pad", 1)], 1, baseline="other-base.hpm", name="otherbase.hpm")
    assert "baseline" in refused(ws, state, h)


def test_no_baseline_known(ws, state):
    h = ws.hotpatch([ws.payload("pad", 1)], 1)
    refused(ws, state, h, env={"HPM_BASELINE": None})


def test_wrong_build_id(ws, state):
    h = ws.hotpatch([ws.payload("plain", 1)], 1)  # built for another binary
    assert "build-id" in refused(ws, state, h)


def test_original_bytes_mismatch(ws, state):
    p = ws.payload("pad", 1, name="mismatch.bin")
    b = bytearray(p.read_bytes())
    b[112 + 32] = 0x91  # first expected original byte of the first function
    p.write_bytes(bytes(b))
    h = ws.hotpatch([p], 1, name="mismatch.hpm")
    assert "differ" in refused(ws, state, h)


def test_lower_sequence(ws, state):
    h1 = ws.hotpatch([ws.payload("pad", 1)], 1)
    h2 = ws.hotpatch([ws.payload("pad", 2)], 2)
    with Target(ws.target("pad")) as t:
        ws.hpm(state, "apply", "--pid", t.pid, h2)
        r = ws.hpm(state, "apply", "--pid", t.pid, h1, check=None)
        assert r.returncode != 0 and "sequence" in r.stderr
        r = ws.hpm(state, "apply", "--pid", t.pid, h2, check=None)
        assert r.returncode != 0
        assert t.version() == (2, 2)


def test_target_gone_mid_apply(ws, state):
    h1 = ws.hotpatch([ws.payload("pad", 1)], 1)
    t = Target(ws.target("pad"))
    env = ws.hpm_env(state)
    env["HPM_TEST_DELAY_MS"] = "300"
    p = subprocess.Popen([str(HPM), "apply", "--pid", str(t.pid), str(h1)], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.1)
    t.p.kill()
    t.p.wait()
    out, err = p.communicate(timeout=30)
    assert p.returncode != 0
    assert "exited" in err or "gone" in err or "build-id" in err
    # the journal holds no trace of it
    r = ws.hpm(state, "list", "--json")
    assert str(t.pid) not in r.stdout
