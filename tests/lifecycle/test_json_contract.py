# SPDX-License-Identifier: MIT
"""The JSON contract (docs/json.md): every hpm command given --json answers
with one document that docs/hpm-json.schema.json accepts, on success and on
refusal; hpmtest.run checks each one (check_hpm_json), this test makes sure
every command is exercised both ways on one fake host."""
import json
import subprocess

import pytest

from hpmtest import HPM, digest, environ, keygen, make_baseline, make_boot_image, patch_payload, run, sign

T0 = 1767225600          # 2026-01-01T00:00:00Z
EXPIRES = T0 + 4000 * 86400

ALL = ["apply", "revert", "list", "status", "mark-good", "stage", "rollback", "catalog", "assess", "install",
       "policy", "history", "enroll", "unenroll", "clean", "commit", "setup", "restore"]


@pytest.fixture
def host(tmp_path, make_host):
    d = tmp_path / "rel"
    d.mkdir()
    keygen(d / "release.pem", d / "release.pub")
    (d / "k").write_bytes(b"kernel" * 300)
    b1, b2 = d / "b1.hpm", d / "b2.hpm"
    make_baseline(b1, d / "release.pem", d / "k", version="2026.1", svn=4, timestamp=T0)
    (d / "k").write_bytes(b"kernel2" * 300)
    make_baseline(b2, d / "release.pem", d / "k", version="2026.2", svn=5, timestamp=T0 + 10)
    hp = d / "hp-1.hpm"
    sign("hotpatch", "--key", d / "release.pem", "--baseline", b1, "--seq", 1, "--classification", "security",
         "--id", "HP-1", "--payload", patch_payload(d / "fix.bin"), "--timestamp", T0 + 20, "--out", hp)
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for f in (b1, b2, hp):
        (mirror / f.name).write_bytes(f.read_bytes())
    sign("catalog", "--key", d / "release.pem", "--serial", 3, "--expires", EXPIRES, "--timestamp", T0 + 30,
         "--entry", f"{mirror / b1.name}:class=security", "--entry", f"{mirror / b2.name}:class=other",
         "--entry", str(mirror / hp.name), "--out", mirror / "catalog.hpm")
    h = make_host(tmp_path / "host", d / "release.pub")
    (h.hpmdir / "slot-a.hpm").write_bytes(b1.read_bytes())
    (h.hpmdir / "slot-b.hpm").write_bytes(b2.read_bytes())
    h.boot(active="a", baseline=digest(b1), version="2026.1", svn=4, attempt=1,
           slots={"a": (2, 2, 0, 4, "none", digest(b1)), "b": (1, 0, 1, 4, "none", digest(b2))})
    conf = tmp_path / "hpm.conf"
    conf.write_text(f"[update]\nsource = {mirror}\nreboot = never\ntimezone = UTC\n"
                    "[window \"w\"]\ndays = Sat\nstart = 01:00\nduration = 2h\n"
                    "[blackout \"b\"]\nfrom = 2026-12-24\nuntil = 2026-12-26\n")
    h.env.update(HPM_CONF=str(conf), HPM_BASELINE=digest(b1), HPM_NOW=str(T0 + 86400))
    h.files = {"b1": b1, "b2": b2, "hp": hp}
    return h


def doc(host, *args, rc=0):
    r = host.hpm(*args, "--json", check=rc)  # hpmtest.run validates it against the schema
    return json.loads(r.stdout)


def test_every_command_answers_in_the_contract(host, tmp_path):
    seen = set()

    def ok(*args):
        d = doc(host, *args)
        assert "error" not in d, d
        seen.add(d["command"])
        return d

    assert ok("status")["boot"]["slots"][1]["version"] == "2026.2"
    assert ok("policy")["blackouts"][0]["until"] == "2026-12-27T00:00:00Z"  # through the end of the 26th
    ok("catalog")
    assert [i["id"] for i in ok("assess")["items"]] == ["HP-1", "2026.2"]
    assert [a["id"] for a in ok("install", "--dry-run")["actions"]] == ["HP-1"]
    ok("install")  # no process runs the target: recorded, nothing patched
    ok("list")
    ok("revert", "--all")
    ok("apply", "--dry-run", host.files["hp"])
    ok("apply", host.files["hp"])
    assert ok("status")["hotpatch"]["health"]["state"] == "verifying"
    assert ok("commit")["sequence"] == 1
    assert ok("restore")["outcome"] == "restored"
    ok("mark-good")
    ok("stage", host.files["b2"])
    ok("rollback")
    assert ok("enroll")["result"] == "unchanged"
    assert ok("unenroll")["result"] == "ok"
    ok("clean", "--dry-run")
    img = tmp_path / "hpmboot.efi"
    make_boot_image(img, [host.trust / "release.pub"])
    assert ok("setup", "--efi", img, "--no-bootentry", "--dry-run", host.files["b1"])["dry_run"] is True
    ok("history")
    assert seen == set(ALL), set(ALL) - seen


@pytest.mark.parametrize("cmd,args,rc", [
    ("apply", ["/nonexistent.hpm"], 3), ("revert", ["--to", "9"], 1), ("list", ["extra"], 2),
    ("status", ["--bogus"], 2), ("mark-good", ["extra"], 2), ("stage", ["/etc/hostname"], 1),
    ("rollback", ["--tries", "2"], 2), ("catalog", ["--source", "/nonexistent"], 3),
    ("assess", ["--source", "ftp://x"], 2), ("install", ["--include", "NOPE"], 2), ("policy", ["x"], 2),
    ("history", ["show", "999"], 1), ("enroll", ["x"], 2), ("unenroll", ["x"], 2), ("clean", ["x"], 2),
    ("commit", [], 1), ("setup", ["/etc/hostname"], 1), ("restore", ["extra"], 2),
    # fleet: no [fleet] endpoints here; its documents with a real etcd are checked in tests/fleet
    ("fleet", ["status"], 2),
])
def test_refusals_answer_with_an_error_document(host, cmd, args, rc):
    d = doc(host, cmd, *args, rc=rc)
    assert d["command"] == cmd and d["error"]["exit"] == rc and d["error"]["message"]


def test_broken_policy_file_is_an_error_document(host, tmp_path):
    (tmp_path / "hpm.conf").write_text("[update\n")
    r = run(HPM, "status", "--json", env=host.env, check=2)
    assert "section header needs its closing ]" in json.loads(r.stdout)["error"]["message"]


def test_non_utf8_names_stay_valid_json(host, tmp_path):
    """A file name is any bytes: JSON output stays valid UTF-8 (U+FFFD)."""
    odd = tmp_path / b"caf\xe9.hpm".decode("utf-8", "surrogateescape")
    odd.write_bytes(b"junk")
    p = subprocess.run([str(HPM), "apply", "--json", str(odd)], capture_output=True, env=environ(host.env),
                       timeout=30)
    assert p.returncode == 1
    d = json.loads(p.stdout.decode("utf-8"))  # strict: valid UTF-8
    assert "caf\ufffd.hpm" in d["error"]["message"]
