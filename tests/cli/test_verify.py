# SPDX-License-Identifier: MIT
"""hpm-sign verify / inspect: JSON schema, tampering, trust, thresholds, countersign."""
import hashlib
import json

import pytest

from hpmtest import (HEADER_SIZE, OK, REFUSED, SIG_ENTRY_SIZE, SIG_HEADER_SIZE,
                     SIG_OFF_DER, SIG_OFF_KEYID, USAGE, IOERR, flip, layout,
                     make_baseline, sign)

VERIFY_KEYS = {"file", "valid", "kind", "kind_source", "result", "message", "field", "detail",
               "threshold", "trusted_signers", "trusted_keys", "digest", "signatures"}
SIG_KEYS = {"index", "alg", "key_id", "status"}
INSPECT_KEYS = {"file", "size", "header", "tbs_size", "digest", "parse", "manifest", "payloads",
                "signatures", "verification"}
HEADER_KEYS = {"format_version", "kind", "kind_code", "header_size", "flags", "manifest_size",
               "payload_area_size"}
MANIFEST_KEYS = {"format", "kind", "compat", "version", "svn", "timestamp", "timestamp_utc",
                 "release", "classification", "id", "target_baseline", "sequence", "info_count"}
PAYLOAD_KEYS = {"name", "type", "size", "sha256", "embedded", "offset", "file", "kernel"}
PARSE_KEYS = {"ok", "result", "message", "field", "detail"}
VERIFICATION_KEYS = VERIFY_KEYS - {"file", "digest", "signatures"}


def test_verify_json_fields(baseline):
    out, _, pub, kid = baseline
    data = out.read_bytes()
    tbs, _, _ = layout(data)
    j = sign("verify", "--json", "--trust", pub, out, check=OK).json()
    assert set(j) == VERIFY_KEYS
    assert j["file"] == str(out)
    assert j["valid"] is True
    assert j["kind"] == "baseline" and j["kind_source"] == "header"
    assert j["result"] == "ok" and j["message"] == "valid"
    assert j["field"] is None and j["detail"] is None
    assert j["threshold"] == 1 and j["trusted_signers"] == 1
    assert j["trusted_keys"] == [kid]
    assert j["digest"] == hashlib.sha256(data[:tbs]).hexdigest()
    assert len(j["signatures"]) == 1
    s = j["signatures"][0]
    assert set(s) == SIG_KEYS
    assert s == {"index": 0, "alg": "ecdsa-p256-sha256", "key_id": kid, "status": "valid"}


def test_verify_json_failure_fields(baseline, keys):
    out, _, _, kid = baseline
    _, other_pub, other_kid = keys("other")
    r = sign("verify", "--json", "--trust", other_pub, "--kind", "baseline", out, check=REFUSED)
    j = r.json()
    assert set(j) == VERIFY_KEYS
    assert j["valid"] is False and j["result"] == "untrusted_key"
    assert j["kind_source"] == "option"
    assert j["field"] == "signatures" and j["detail"]
    assert kid in j["message"]
    assert j["trusted_keys"] == [other_kid] and j["trusted_signers"] == 0
    assert j["signatures"][0]["status"] == "unknown_key"
    assert kid in r.err and "not in the trust set (--trust)" in r.err


def test_inspect_json_fields_without_trust(baseline):
    out, _, _, kid = baseline
    data = out.read_bytes()
    tbs, _, _ = layout(data)
    j = sign("inspect", "--json", out, check=OK).json()
    assert set(j) == INSPECT_KEYS
    assert j["file"] == str(out) and j["size"] == len(data)
    assert set(j["header"]) == HEADER_KEYS
    h = j["header"]
    assert h["format_version"] == 1 and h["kind"] == "baseline" and h["kind_code"] == 1
    assert h["header_size"] == 64 and h["flags"] == 0
    assert HEADER_SIZE + h["manifest_size"] == tbs == j["tbs_size"]
    assert h["payload_area_size"] == sum(p["size"] for p in j["payloads"])
    assert j["digest"] == hashlib.sha256(data[:tbs]).hexdigest()
    assert set(j["parse"]) == PARSE_KEYS
    assert j["parse"]["ok"] is True and j["parse"]["result"] == "ok"
    assert set(j["manifest"]) == MANIFEST_KEYS
    m = j["manifest"]
    assert m["format"] == 1 and m["kind"] == "baseline"
    assert m["classification"] is None and m["id"] is None
    assert m["target_baseline"] is None and m["sequence"] is None
    assert m["info_count"] == 0
    for p in j["payloads"]:
        assert set(p) == PAYLOAD_KEYS
        assert p["embedded"] is True and p["file"] is None and isinstance(p["offset"], int)
        assert len(p["sha256"]) == 64
    assert [s["status"] for s in j["signatures"]] == ["not_checked"]
    assert j["signatures"][0]["key_id"] == kid
    assert j["verification"] is None


def test_inspect_json_with_trust(baseline):
    out, _, pub, kid = baseline
    j = sign("inspect", "--json", "--trust", pub, out, check=OK).json()
    v = j["verification"]
    assert set(v) == VERIFICATION_KEYS
    assert v["valid"] is True and v["result"] == "ok" and v["kind"] == "baseline"
    assert v["trusted_signers"] == 1 and v["threshold"] == 1 and v["trusted_keys"] == [kid]
    assert j["signatures"][0]["status"] == "valid"


def test_inspect_text_shows_every_field(baseline):
    out, _, _, kid = baseline
    r = sign("inspect", out, check=OK)
    for word in ["kind:", "baseline", "format version:", "manifest:", "payload area:",
                 "digest:", "compat:", "hpm-generic-x86_64", "version:", "svn:", "timestamp:",
                 "2023-11-14T22:13:20Z", "release:", "planned", "kernel", "initrd", "cmdline",
                 "embedded at offset 0", kid, "not checked", "not performed"]:
        assert word in r.out, word


def test_inspect_json_escapes_strings(tmp_path, keys, inputs):
    pem, _, _ = keys()
    out = tmp_path / 'we"ird\\name\x01.hpm'
    make_baseline(out, pem, *inputs, version='1.0"\\')
    j = json.loads(sign("inspect", "--json", out, check=OK).out)
    assert j["file"] == str(out)
    assert j["manifest"]["version"] == '1.0"\\'


def test_inspect_of_garbage(tmp_path):
    f = tmp_path / "junk.bin"
    f.write_bytes(b"this is not a container at all" * 10)
    r = sign("inspect", "--json", f, check=REFUSED)
    j = r.json()
    assert j["header"] is None and j["manifest"] is None and j["digest"] is None
    assert j["parse"]["ok"] is False and j["parse"]["result"] == "bad_magic"
    assert j["parse"]["field"] == "header.magic"
    assert "junk.bin" in r.err and "not an hpm container" in r.err


def test_inspect_missing_file(tmp_path):
    r = sign("inspect", tmp_path / "nope.hpm", check=IOERR)
    assert "nope.hpm" in r.err and "No such file" in r.err


# ---- tampering ----------------------------------------------------------

def _offsets(data):
    tbs, sig_off, _ = layout(data)
    entry = sig_off + SIG_HEADER_SIZE
    return {
        "header-magic": (1, ["header.magic"]),
        "header-format": (8, ["header.format_version"]),
        "header-kind": (12, ["header.kind"]),
        "header-flags": (20, ["header.flags"]),
        "header-reserved": (50, ["header.reserved"]),
        "header-payload-size": (33, ["payload area"]),
        "manifest-start": (HEADER_SIZE + 60, ["signatures/0", "does not verify"]),
        "manifest-middle": ((HEADER_SIZE + tbs) // 2, ["signatures/0", "does not verify"]),
        "manifest-last": (tbs - 1, ["signatures/0", "does not verify"]),
        "payload-kernel": (tbs + 7, ["payloads/kernel", "SHA-256"]),
        "payload-last": (sig_off - 1, ["payloads/cmdline", "SHA-256"]),
        "signature-der": (entry + SIG_OFF_DER + 20, ["signatures/0", "does not verify"]),
        "signature-keyid": (entry + SIG_OFF_KEYID + 3, ["not in the trust set"]),
        "signature-alg": (entry + 0, ["signatures/0", "algorithm"]),
        "signature-padding": (entry + SIG_ENTRY_SIZE - 1, ["signatures/0", "padding"]),
        "sigblock-magic": (sig_off + 2, ["signatures.magic"]),
        "sigblock-count": (sig_off + 9, ["signatures"]),
    }


TAMPER_CASES = ["header-magic", "header-format", "header-kind", "header-flags",
                "header-reserved", "header-payload-size", "manifest-start", "manifest-middle",
                "manifest-last", "payload-kernel", "payload-last", "signature-der",
                "signature-keyid", "signature-alg", "signature-padding", "sigblock-magic",
                "sigblock-count"]


@pytest.mark.parametrize("case", TAMPER_CASES)
def test_any_flipped_bit_fails_verification(baseline, tmp_path, case):
    out, _, pub, _ = baseline
    data = out.read_bytes()
    off, words = _offsets(data)[case]
    bad = flip(out, off, tmp_path / "tampered.hpm")
    r = sign("verify", "--trust", pub, bad, check=REFUSED)
    assert "tampered.hpm" in r.err
    for w in words:
        assert w in r.err, (case, r)
    assert "FAILED" in r.out
    j = sign("verify", "--json", "--trust", pub, bad, check=REFUSED).json()
    assert j["valid"] is False and j["result"] != "ok"
    # inspect --trust agrees
    sign("inspect", "--trust", pub, bad, check=REFUSED)


def test_every_byte_of_tbs_is_covered(baseline, tmp_path):
    """Flipping any byte of header+manifest makes verification fail."""
    out, _, pub, _ = baseline
    data = out.read_bytes()
    tbs, _, _ = layout(data)
    for off in range(0, tbs, max(1, tbs // 40)):
        bad = flip(out, off, tmp_path / "t.hpm")
        sign("verify", "--trust", pub, bad, check=REFUSED)


def test_truncated_and_trailing(baseline, tmp_path):
    out, _, pub, _ = baseline
    data = out.read_bytes()
    t = tmp_path / "t.hpm"
    for cut in [0, 7, 63, 64, 100, len(data) // 2, len(data) - 1]:
        t.write_bytes(data[:cut])
        r = sign("verify", "--trust", pub, t, check=REFUSED)
        assert "truncated" in r.err or "not an hpm container" in r.err or "shorter" in r.err \
            or "ends" in r.err, r
    t.write_bytes(data + b"\0")
    r = sign("verify", "--trust", pub, t, check=REFUSED)
    assert "follow the signature block" in r.err


def test_stripped_signatures(baseline, tmp_path):
    out, _, pub, _ = baseline
    data = bytearray(out.read_bytes())
    _, sig_off, count = layout(bytes(data))
    assert count == 1
    data[sig_off + 8:sig_off + 12] = (0).to_bytes(4, "little")
    t = tmp_path / "stripped.hpm"
    t.write_bytes(bytes(data[:sig_off + SIG_HEADER_SIZE]))
    r = sign("verify", "--trust", pub, t, check=REFUSED)
    assert "no signature" in r.err


def test_wrong_key(baseline, keys):
    out, _, _, kid = baseline
    _, wrong_pub, _ = keys("wrong")
    r = sign("verify", "--trust", wrong_pub, out, check=REFUSED)
    assert f"signed by key {kid} which is not in the trust set (--trust)" in r.err
    assert "unknown key" in r.out


def test_kind_mismatch(baseline):
    out, _, pub, _ = baseline
    r = sign("verify", "--trust", pub, "--kind", "hotpatch", out, check=REFUSED)
    assert "header.kind" in r.err and "expected a hotpatch" in r.err
    sign("verify", "--trust", pub, "--kind", "baseline", out, check=OK)


def test_verify_usage_errors(baseline, keys):
    out, _, pub, _ = baseline
    assert "--trust" in sign("verify", out, check=USAGE).err
    assert "FILE" in sign("verify", "--trust", pub, check=USAGE).err
    assert "--threshold" in sign("verify", "--trust", pub, "--threshold", "0", out,
                                check=USAGE).err
    assert "--threshold" in sign("verify", "--trust", pub, "--threshold", "2", out,
                                check=USAGE).err
    assert "--kind" in sign("verify", "--trust", pub, "--kind", "catalogue", out, check=USAGE).err
    assert "unexpected" in sign("verify", "--trust", pub, out, out, check=USAGE).err
    r = sign("verify", "--trust", out.parent / "missing.pub", out, check=IOERR)
    assert "missing.pub" in r.err


def test_same_trust_key_twice_counts_once(baseline):
    out, _, pub, _ = baseline
    r = sign("verify", "--trust", pub, "--trust", pub, "--threshold", "2", out, check=USAGE)
    assert "counts once" in r.err


# ---- m-of-n -------------------------------------------------------------

def test_threshold_two_of_three(tmp_path, keys, inputs):
    k1, p1, id1 = keys("k1")
    k2, p2, id2 = keys("k2")
    _, p3, _ = keys("k3")
    out = tmp_path / "rel.hpm"
    make_baseline(out, k1, *inputs)
    trust = ["--trust", p1, "--trust", p2, "--trust", p3]
    r = sign("verify", *trust, "--threshold", "2", out, check=REFUSED)
    assert "threshold" in r.err and "countersign" in r.err
    assert sign("verify", "--json", *trust, "--threshold", "2", out, check=None).json()["result"] == \
        "threshold_not_met"
    sign("verify", *trust, "--threshold", "1", out, check=OK)

    digest_before = sign("digest", out, check=OK).out
    r = sign("countersign", "--key", k2, out, check=OK)
    assert id2 in r.out
    assert sign("digest", out, check=OK).out == digest_before, "signatures are outside the TBS"

    j = sign("verify", "--json", *trust, "--threshold", "2", out, check=OK).json()
    assert j["trusted_signers"] == 2
    assert [s["key_id"] for s in j["signatures"]] == [id1, id2]
    assert [s["status"] for s in j["signatures"]] == ["valid", "valid"]
    r = sign("verify", *trust, "--threshold", "3", out, check=REFUSED)
    assert "threshold" in r.err


def test_duplicate_countersign_refused(baseline):
    out, pem, pub, kid = baseline
    before = out.read_bytes()
    r = sign("countersign", "--key", pem, out, check=REFUSED)
    assert "already signed by key" in r.err and kid in r.err
    assert out.read_bytes() == before


def test_countersign_out_leaves_original(baseline, keys, tmp_path):
    out, _, pub, _ = baseline
    k2, p2, _ = keys("second")
    before = out.read_bytes()
    out2 = tmp_path / "signed2.hpm"
    sign("countersign", "--key", k2, "--out", out2, out, check=OK)
    assert out.read_bytes() == before
    sign("verify", "--trust", pub, "--trust", p2, "--threshold", "2", out2, check=OK)


def test_countersign_with_trust_refuses_tampered(baseline, keys, tmp_path):
    out, _, pub, _ = baseline
    k2, _, _ = keys("second")
    data = out.read_bytes()
    tbs, _, _ = layout(data)
    # Change the version "1.0" to "1.1": still a well-formed manifest, but not the signed one.
    at = data.find(b"1.0\0", HEADER_SIZE, tbs)
    assert at > 0
    bad = flip(out, at + 2, tmp_path / "bad.hpm")
    assert sign("inspect", "--json", bad, check=OK).json()["manifest"]["version"] == "1.1"
    before = bad.read_bytes()
    r = sign("countersign", "--key", k2, "--trust", pub, bad, check=REFUSED)
    assert "refusing to countersign" in r.err
    assert bad.read_bytes() == before
    sign("countersign", "--key", k2, "--trust", pub, out, check=OK)


def test_bad_signature_by_trusted_key_is_never_outvoted(tmp_path, keys, inputs):
    k1, p1, _ = keys("k1")
    k2, p2, _ = keys("k2")
    out = tmp_path / "rel.hpm"
    make_baseline(out, k1, *inputs)
    sign("countersign", "--key", k2, out, check=OK)
    data = out.read_bytes()
    _, sig_off, _ = layout(data)
    second = sig_off + SIG_HEADER_SIZE + SIG_ENTRY_SIZE
    bad = flip(out, second + SIG_OFF_DER + 12, tmp_path / "bad.hpm")
    r = sign("verify", "--json", "--trust", p1, "--trust", p2, bad, check=REFUSED)
    j = r.json()
    assert j["result"] == "signature_invalid" and j["field"] == "signatures/1"
    assert [s["status"] for s in j["signatures"]] == ["valid", "invalid"]
    # Without the second key in the trust set its entry is ignored.
    sign("verify", "--trust", p1, bad, check=OK)


def test_countersign_sixteen_limit(tmp_path, keys, inputs):
    k0, _, _ = keys("s0")
    out = tmp_path / "many.hpm"
    make_baseline(out, k0, *inputs)
    for i in range(1, 16):
        k, _, _ = keys(f"s{i}")
        sign("countersign", "--key", k, out, check=OK)
    k, _, _ = keys("s16")
    r = sign("countersign", "--key", k, out, check=REFUSED)
    assert "16" in r.err
    assert len(sign("inspect", "--json", out, check=None).json()["signatures"]) == 16
