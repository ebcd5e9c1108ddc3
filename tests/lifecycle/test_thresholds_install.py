# SPDX-License-Identifier: MIT
"""hpm install refuses a download with fewer trusted signers than the host
requires for its kind ([trust] in hpm.conf), with the message that says so,
and changes nothing: the fake booted host and the running demo service of
test_update.py; the release there is signed by one key; the host trusts a
second one."""
import json

from test_boot_side import SIGN
from test_update import DAY, HP_AT, HPM, sh
from test_update import host, release, server  # noqa: F401  (fixtures)


def test_install_refuses_an_under_signed_hotpatch(host, tmp_path):
    sh(SIGN, "keygen", "--out", tmp_path / "second.pem")
    (host.trust / "second.pub").write_bytes((tmp_path / "second.pub").read_bytes())
    # the catalog (one signer) is accepted; the hotpatch it lists is not
    host.conf.write_text(host.conf.read_text() + "[trust]\nhotpatch_signers = 2\n")
    now = HP_AT + DAY
    env = dict(host.env, HPM_NOW=str(now))
    r = sh(HPM, "install", "--json", env=env, check=None)
    assert r.returncode == 1, r.stdout + r.stderr
    want = (f"1 trusted signature, this host requires 2 for hotpatches "
            f"([trust] hotpatch_signers in {host.conf})")
    assert want in r.stderr, r.stderr
    acts = json.loads(r.stdout)["actions"]
    assert [(a["id"], a["result"]) for a in acts] == [("HP-2026.1-1", "refused")], acts
    assert "v1 (buggy)" in host.svc.ask()
    rows = json.loads(sh(HPM, "history", "--json", env=env).stdout)
    rows = rows["entries"] if isinstance(rows, dict) else rows
    apply = [r_ for r_ in rows if r_["event"] == "apply"]
    assert apply and apply[-1]["result"] == "refused" and want in apply[-1]["error"], apply
    # baselines: the same for hpm install's stage of the next baseline
    host.conf.write_text(host.conf.read_text().replace("hotpatch_signers", "baseline_signers"))
    env["HPM_NOW"] = str(HP_AT + 60 * DAY)
    r = sh(HPM, "install", "--include", "2026.2", "--json", env=env, check=None)
    assert r.returncode == 1, r.stdout + r.stderr
    assert ("1 trusted signature, this host requires 2 for baselines "
            f"([trust] baseline_signers in {host.conf})") in r.stderr, r.stderr
    assert host.getvar("HpmSlotRequest") is None and "slot-b.hpm" not in host.tree()
