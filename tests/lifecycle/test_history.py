# SPDX-License-Identifier: MIT
"""hpm history: the SQLite history database under HPM_STATE_DIR.

Corrupt databases (garbage, truncated) are kept aside and replaced, never
reused; hpm processes killed with SIGKILL in the middle of writes leave a
consistent database; --since and the retention work on the injected clock.
"""
import getpass
import json
import random
import re
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

import hpmtest
from hpmtest import rfc3339

BASE_A = "ab" * 32
BASE_B = "cd" * 32
T0 = 1790000000  # 2026-09-21


@pytest.fixture
def env(tmp_path):
    """What hpm runs with (on top of the test's environment); an empty
    policy file: the documented defaults."""
    (tmp_path / "hpm.conf").write_text("")
    return {"HPM_STATE_DIR": str(tmp_path / "state"), "HPM_CONF": str(tmp_path / "hpm.conf"),
            "HPM_BASELINE": BASE_A, "HPM_NOW": str(T0), "HPM_BASELINE_SVN": None}


def hpm(env, *args):
    return hpmtest.hpm(*args, env=env, check=None)


def history(env, *args):
    r = hpm(env, "history", "--json", *args)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["schema"] == "hpm-json/1" and doc["command"] == "history"
    return doc["entries"]


def corrupt_copies(env):
    return sorted(p for p in Path(env["HPM_STATE_DIR"]).glob("history.db.corrupt-*") if not p.name.endswith("-wal"))


def test_empty_and_help(env):
    r = hpm(env, "history")
    assert r.returncode == 0 and "no history entries" in r.stdout
    assert history(env) == []
    r = hpm(env, "history", "--help")
    assert r.returncode == 0 and "--since" in r.stdout


def test_records_and_since(env):
    assert hpm(env, "unenroll").returncode == 0
    env["HPM_NOW"] = str(T0 + 2 * 86400)
    assert hpm(env, "enroll").returncode == 1  # refused, still recorded
    env["HPM_BASELINE"] = BASE_B
    env["HPM_NOW"] = str(T0 + 3 * 86400)
    assert hpm(env, "enroll").returncode == 0
    rows = history(env)
    assert [(r["event"], r["result"], r["time"]) for r in rows] == [
        ("unenroll", "ok", rfc3339(T0)), ("enroll", "refused", rfc3339(T0 + 2 * 86400)),
        ("enroll", "ok", rfc3339(T0 + 3 * 86400))]
    assert "re-enroll only once it runs" in rows[1]["error"]
    assert rows[0]["ids"] == [BASE_A] and rows[2]["ids"] == [BASE_B]
    assert [r["event"] for r in history(env, "--since", "36h")] == ["enroll", "enroll"]
    assert [r["time"] for r in history(env, "--since", "1h")] == [rfc3339(T0 + 3 * 86400)]
    # A date is local midnight in the policy's time zone (UTC here).
    assert [r["time"] for r in history(env, "--since", "2026-09-23")] == [rfc3339(T0 + 2 * 86400),
                                                                          rfc3339(T0 + 3 * 86400)]
    text = hpm(env, "history").stdout
    assert "unenroll" in text and "refused" in text
    r = hpm(env, "history", "--since", "last tuesday")
    assert r.returncode == 2 and "--since 'last tuesday'" in r.stderr


def test_show_entry_who_and_local_time(env, tmp_path):
    """Each entry keeps the command line and the user; 'history show ID'
    prints one in full; times are shown in the policy's time zone."""
    (tmp_path / "hpm.conf").write_text("[update]\ntimezone = Europe/Berlin\n")
    assert hpm(env, "unenroll", "--json").returncode == 0
    rows = history(env)
    assert len(rows) == 1
    r = rows[0]
    assert r["command"] == f"{hpmtest.HPM} unenroll --json" and r["user"] == getpass.getuser()
    assert r["time"] == "2026-09-21T14:13:20Z" and r["time_local"] == "2026-09-21 16:13 CEST"
    text = hpm(env, "history").stdout
    assert re.match(rf"^ +{r['id']}  2026-09-21 16:13 CEST  unenroll +ok", text), text
    one = hpm(env, "history", "show", str(r["id"])).stdout
    assert f"command: {hpmtest.HPM} unenroll --json\n" in one and f"user: {getpass.getuser()}\n" in one
    assert "time: 2026-09-21 16:13 CEST (2026-09-21T14:13:20Z)" in one
    j = json.loads(hpm(env, "history", "show", str(r["id"]), "--json").stdout)
    assert j["entry"] == r
    missing = hpm(env, "history", "show", "999")
    assert missing.returncode == 1 and "no entry 999" in missing.stderr
    # words with spaces or quotes are shell-quoted
    hpm(env, "apply", "--bogus", "it's a test")
    assert history(env)[-1]["command"] == f"{hpmtest.HPM} apply --bogus 'it'\\''s a test'"


@pytest.mark.parametrize("version", [1, 2])
def test_history_of_an_older_hpm_is_kept(env, version):
    """A schema 1 database (no command, no user, no detail) or schema 2 (no
    detail) is upgraded in place: its rows stay, with empty values for what
    they did not record, and new rows get them."""
    state = Path(env["HPM_STATE_DIR"])
    state.mkdir()
    db = sqlite3.connect(state / "history.db")
    more = " command TEXT NOT NULL DEFAULT '', user TEXT NOT NULL DEFAULT ''," if version == 2 else ""
    db.executescript("CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, time INTEGER NOT NULL,"
                     f" event TEXT NOT NULL, ids TEXT NOT NULL DEFAULT '', result TEXT NOT NULL,{more}"
                     " error TEXT NOT NULL DEFAULT '');"
                     f"INSERT INTO events(time, event, ids, result) VALUES ({T0 - 60}, 'apply', 'HP-1', 'ok');"
                     f"PRAGMA user_version={version};")
    db.close()
    assert hpm(env, "unenroll").returncode == 0
    rows = history(env)
    assert [(r["event"], r["ids"], r["command"], r["detail"]) for r in rows] == [
        ("apply", ["HP-1"], None, None), ("unenroll", [BASE_A], f"{hpmtest.HPM} unenroll", None)]
    assert "(not recorded)" in hpm(env, "history", "show", str(rows[0]["id"])).stdout
    assert sqlite3.connect(state / "history.db").execute("PRAGMA user_version").fetchone() == (3,)


def test_retention_prunes(env, tmp_path):
    (tmp_path / "hpm.conf").write_text("[history]\nretention_days = 2\n")
    assert hpm(env, "unenroll").returncode == 0
    env["HPM_NOW"] = str(T0 + 86400)
    assert hpm(env, "unenroll").returncode == 0
    assert len(history(env)) == 2
    env["HPM_NOW"] = str(T0 + 2 * 86400 + 1)
    rows = history(env)  # opening prunes
    assert [r["time"] for r in rows] == [rfc3339(T0 + 86400)]


def test_garbage_file_kept_aside(env):
    state = Path(env["HPM_STATE_DIR"])
    state.mkdir()
    junk = bytes((i * 7 + 3) & 0xff for i in range(16384))
    (state / "history.db").write_bytes(junk)
    r = hpm(env, "history", "--json")
    assert r.returncode == 0
    assert json.loads(r.stdout)["entries"] == []
    assert "corrupt" in r.stderr and "kept aside as" in r.stderr and "new, empty history" in r.stderr
    copies = corrupt_copies(env)
    assert len(copies) == 1 and copies[0].read_bytes() == junk
    # The new database is used from now on, silently.
    assert hpm(env, "unenroll").returncode == 0
    r = hpm(env, "history", "--json")
    assert r.stderr == "" and len(json.loads(r.stdout)["entries"]) == 1


def make_db(path, rows):
    db = sqlite3.connect(path)
    db.executescript("""
      PRAGMA journal_mode=WAL;
      CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, time INTEGER NOT NULL, event TEXT NOT NULL,
        ids TEXT NOT NULL DEFAULT '', result TEXT NOT NULL, error TEXT NOT NULL DEFAULT '');
      CREATE INDEX events_time ON events(time);
      PRAGMA user_version=1;""")
    db.executemany("INSERT INTO events(time, event, ids, result, error) VALUES (?, 'apply', 'HP', 'failed', ?)",
                   [(T0 + i, "x" * 1500) for i in range(rows)])
    db.commit()
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def test_truncated_db_kept_aside(env):
    state = Path(env["HPM_STATE_DIR"])
    state.mkdir()
    db = state / "history.db"
    make_db(db, 400)
    assert len(history(env)) == 400  # a healthy database is read as is
    size = db.stat().st_size
    assert size > 400 * 1500
    with open(db, "r+b") as f:
        f.truncate(size // 2)
    r = hpm(env, "history", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["entries"] == []
    assert "corrupt" in r.stderr
    copies = corrupt_copies(env)
    assert len(copies) == 1 and copies[0].stat().st_size == size // 2


def test_kill_9_during_writes(env):
    """SIGKILL hpm processes at random moments while they write; the
    database must always open clean, never be moved aside."""
    rnd = random.Random(6)
    assert hpm(env, "unenroll").returncode == 0
    killed = 0
    for i in range(40):
        p = subprocess.Popen([str(hpmtest.HPM), "enroll" if i % 2 else "unenroll"], env=hpmtest.environ(env),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rnd.uniform(0, 0.02))
        p.kill()
        if p.wait() == -9:
            killed += 1
    assert killed > 0
    rows = history(env)
    assert len(rows) >= 1 and corrupt_copies(env) == []
    db = sqlite3.connect(Path(env["HPM_STATE_DIR"]) / "history.db")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()
    # The enrollment file is whole: one of the two states, never torn.
    text = (Path(env["HPM_STATE_DIR"]) / "enrollment").read_text()
    assert text.startswith("hpm-enrollment 1\nenrolled=")
    assert hpm(env, "enroll").returncode in (0, 1)
