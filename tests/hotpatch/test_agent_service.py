"""hpm agent under a service manager, without one running: the notification
protocol (READY=1, STATUS=, WATCHDOG=1) on a socket the test listens on,
SIGHUP (`systemctl reload`) re-reading the policy file, a broken policy file
failing the start, and journald priority prefixes (JOURNAL_STREAM)."""
import os
import queue
import signal
import socket
import subprocess
import threading
import time

import pytest

from hpmtest import HPM


class Notify:
    """A unix datagram socket standing in for systemd's NOTIFY_SOCKET."""

    def __init__(self, path):
        self.path = str(path)
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.s.bind(self.path)
        self.got = []  # (monotonic time, {field: value})

    def messages(self, seconds):
        """Each message received within seconds, as {field: value}."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.s.settimeout(max(0.01, end - time.monotonic()))
            try:
                data = self.s.recv(4096).decode()
            except socket.timeout:
                return
            fields = dict(x.split("=", 1) for x in data.split("\n") if "=" in x)
            self.got.append((time.monotonic(), fields))
            yield fields

    def wait(self, pred, timeout=20):
        """Messages until one satisfies pred(fields); returns it."""
        for fields in self.messages(timeout):
            if pred(fields):
                return fields
        raise AssertionError(f"no such notification; got {[f for _, f in self.got]}")

    def drain(self, seconds):
        for _ in self.messages(seconds):
            pass

    def close(self):
        self.s.close()


@pytest.fixture
def notify(tmp_path):
    n = Notify(tmp_path / "notify")
    yield n
    n.close()


def start_agent(ws, state, env, *args, watchdog_pid="self"):
    """hpm agent with env added; WATCHDOG_PID is the agent's own pid (as
    systemd sets it) unless watchdog_pid names another."""
    full = ws.hpm_env(state)
    full.update({k: str(v) for k, v in env.items()})
    pid = "$$" if watchdog_pid == "self" else str(watchdog_pid)
    return subprocess.Popen(["sh", "-c", f'WATCHDOG_PID={pid} exec "$0" agent "$@"', str(HPM), *args], env=full,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stop(agent):
    agent.send_signal(signal.SIGTERM)
    if hasattr(agent, "lines"):  # stdout is read_until's
        agent.wait(timeout=20)
        return agent.returncode, "", agent.stderr.read()
    out, err = agent.communicate(timeout=20)
    return agent.returncode, out, err


def test_ready_status_and_watchdog_pings(ws, state, notify, tmp_path):
    conf = tmp_path / "hpm.conf"
    conf.write_text("")
    agent = start_agent(ws, state, {"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": 400000, "HPM_CONF": conf},
                        "--no-assess")
    try:
        ready = notify.wait(lambda f: f.get("READY") == "1")
        assert ready["STATUS"].startswith("watching new processes"), ready
        assert "assessment by hpm-assess.timer" in ready["STATUS"], ready
        t0 = time.monotonic()
        notify.drain(2.0)
        pings = [t for t, f in notify.got if f.get("WATCHDOG") == "1" and t >= t0]
        # every half interval (0.2 s) from the loop: about 10 in 2 s
        assert len(pings) >= 5, notify.got
        gaps = [b - a for a, b in zip(pings, pings[1:])]
        assert max(gaps) < 0.4, gaps  # never as late as the watchdog interval
        assert min(gaps) > 0.1, gaps  # and not on every turn of the loop
    finally:
        rc, out, err = stop(agent)
    assert rc == 0, err
    notify.drain(0.5)
    assert any(f.get("STATUS") == "stopping" for _, f in notify.got)


def test_no_watchdog_pings_for_another_pid(ws, state, notify, tmp_path):
    """WATCHDOG_PID names another process (a wrapper's child): no pings."""
    conf = tmp_path / "hpm.conf"
    conf.write_text("")
    agent = start_agent(ws, state, {"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": 200000, "HPM_CONF": conf},
                        "--no-assess", watchdog_pid=1)
    try:
        notify.wait(lambda f: f.get("READY") == "1")
        notify.drain(1.0)
        assert not any(f.get("WATCHDOG") for _, f in notify.got), notify.got
    finally:
        assert stop(agent)[0] == 0


def test_sighup_rereads_the_policy_file_and_keeps_it_when_broken(ws, state, notify, tmp_path):
    conf = tmp_path / "hpm.conf"
    conf.write_text("[health]\nwindow = 5m\n")
    agent = start_agent(ws, state, {"NOTIFY_SOCKET": notify.path, "HPM_CONF": conf}, "--no-assess")
    try:
        notify.wait(lambda f: f.get("READY") == "1")
        read_until(agent, "agent: watching")
        # a broken file: the error names file, line and key; the agent runs on
        conf.write_text("[health]\nwindow = 5m\nfrobnicate = 1\n")
        agent.send_signal(signal.SIGHUP)
        notify.wait(lambda f: f.get("RELOADING") == "1")
        back = notify.wait(lambda f: f.get("READY") == "1")
        assert "reload failed" in back["STATUS"] and f"{conf}:3" in back["STATUS"], back
        line = agent.stderr.readline()
        assert f"{conf}:3" in line and "frobnicate" in line and "the policy read before stays in use" in line, line
        assert agent.poll() is None
        # fixed: read again
        conf.write_text("[health]\nwindow = 10m\n")
        agent.send_signal(signal.SIGHUP)
        notify.wait(lambda f: f.get("RELOADING") == "1")
        back = notify.wait(lambda f: f.get("READY") == "1")
        assert "reload failed" not in back["STATUS"], back
        lines = read_until(agent, "agent: reloaded")
        assert lines[-1].strip() == f"agent: reloaded {conf}", lines
    finally:
        rc, out, err = stop(agent)
    assert rc == 0, err


def read_until(agent, prefix, timeout=20):
    """The agent's stdout lines up to the first starting with prefix; fails
    (instead of blocking) when none comes within timeout."""
    if not hasattr(agent, "lines"):
        agent.lines = queue.Queue()
        threading.Thread(target=lambda: [agent.lines.put(x) for x in agent.stdout], daemon=True).start()
    deadline = time.time() + timeout
    lines = []
    while time.time() < deadline:
        try:
            lines.append(agent.lines.get(timeout=max(0.01, deadline - time.time())))
        except queue.Empty:
            break
        if lines[-1].startswith(prefix):
            return lines
    raise AssertionError(f"no line starting {prefix!r}: {lines}")


def test_sighup_applies_the_new_policy(ws, state, notify, tmp_path):
    """What the re-read file says takes effect: the periodic assessment,
    off without a source, starts on the new file's source and interval."""
    conf = tmp_path / "hpm.conf"
    conf.write_text("")
    agent = start_agent(ws, state, {"NOTIFY_SOCKET": notify.path, "HPM_CONF": conf})
    try:
        notify.wait(lambda f: f.get("READY") == "1")
        read_until(agent, "agent: no update source configured")
        conf.write_text(f"[update]\nsource = {tmp_path / 'nowhere'}\nassess_interval_hours = 7\n")
        agent.send_signal(signal.SIGHUP)
        read_until(agent, "agent: reloaded")
        assert read_until(agent, "agent: periodic assessment every")[-1].startswith(
            "agent: periodic assessment every 7 h"), "the new interval is not in use"
        # the source cannot be reached: the assessment fails and is retried soon
        assert "try 1 of 4" in read_until(agent, "agent: assessment failed")[-1]
    finally:
        rc, out, err = stop(agent)
    assert rc == 0, err


def journal_pipe():
    """A pipe for stderr and the JOURNAL_STREAM value naming it."""
    r, w = os.pipe()
    st = os.fstat(w)
    return r, w, f"{st.st_dev}:{st.st_ino}"


def run_with_stderr(cmd, env, stream):
    r, w, value = journal_pipe()
    env = dict(env, JOURNAL_STREAM=value if stream == "match" else stream)
    p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=w, text=True, timeout=60)
    os.close(w)
    with os.fdopen(r) as f:
        return p, f.read()


def test_broken_policy_fails_the_start_with_a_priority(ws, state, tmp_path):
    """A broken hpm.conf: exit 2 (RestartPreventExitStatus=2 in the unit)
    with one error line naming file, line and key; on the journal it carries
    priority 3 (error)."""
    conf = tmp_path / "hpm.conf"
    conf.write_text("[update]\nassess_interval_hours = soon\n")
    env = dict(ws.hpm_env(state), HPM_CONF=str(conf))
    p, err = run_with_stderr([str(HPM), "agent", "--no-assess"], env, "match")
    assert p.returncode == 2, err
    assert err.startswith(f"<3>hpm: {conf}:2: "), err
    assert "assess_interval_hours" in err
    assert p.stdout == ""  # never got as far as watching


@pytest.mark.parametrize("stream", ["other", "unset"])
def test_no_priority_prefix_off_the_journal(ws, state, tmp_path, stream):
    """On a terminal, a file or a pipe that is not the journal (another
    stream's JOURNAL_STREAM is inherited, or none), lines are unchanged."""
    conf = tmp_path / "hpm.conf"
    conf.write_text("[update]\nassess_interval_hours = soon\n")
    env = dict(ws.hpm_env(state), HPM_CONF=str(conf))
    if stream == "unset":
        env.pop("JOURNAL_STREAM", None)
        p = subprocess.run([str(HPM), "agent"], env=env, capture_output=True, text=True, timeout=60)
        err = p.stderr
    else:
        p, err = run_with_stderr([str(HPM), "agent"], env, "1:2")
    assert p.returncode == 2
    assert err.startswith(f"hpm: {conf}:2: "), err


def test_warning_priority(ws, state, tmp_path):
    """A warning line ("warning: ...") carries priority 4: here the
    watchdog settings the agent cannot read."""
    conf = tmp_path / "hpm.conf"
    conf.write_text("")
    env = dict(ws.hpm_env(state), HPM_CONF=str(conf), WATCHDOG_USEC="soon")
    p, err = run_with_stderr([str(HPM), "agent", "--once", "--no-assess"], env, "match")
    assert p.returncode == 0, err
    assert "<4>hpm: warning: service watchdog settings not understood" in err, err
