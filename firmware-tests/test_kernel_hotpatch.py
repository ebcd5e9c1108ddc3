# SPDX-License-Identifier: MIT
"""Kernel hotpatches end to end, in QEMU: Debian's kernel booted through the
real hpmboot.efi, the real `hpm` in its initramfs.

Livepatch modules are built at test time with tools/kpatch-template against
the headers of exactly that kernel (.deps/kernel-headers, scripts/deps.sh)
and signed into hotpatches bound to the baseline and to the kernel's GNU
build-id (read from the vmlinuz by tools/kpatch-template/kernel-build-id;
hpm compares it with /sys/kernel/notes).  One boot, while a shell loop
reads /proc/version all the time:

- sequence 1 (/proc/version names it) is applied: the fix is visible;
  sequence 2 replaces it in one transition (atomic replace), module 1 is
  unloaded; list and status show the kernel part;
- refused: a lower sequence, a kernel part for another kernel build,
  module bytes that differ from the signed ones;
- a transition held by a task (a process sleeping in pause(2) while
  sequence 3 replaces pause) misses its deadline: hpm reverses it, names
  the task, and the kernel still runs sequence 2;
- `revert --to 1` goes back to sequence 1;
- hpm killed right after loading a module, and right after disabling one:
  `hpm recover` finishes each;
- the reader saw only the old or the new text, never an error.
"""
import json
import os
import random
import re
import subprocess
from pathlib import Path

import pytest

import hpmtest
import hpmvm
import lifecycle_vm as lv

TEMPLATE = hpmtest.REPO / "tools" / "kpatch-template"
HEADERS = hpmvm.DEPS / "kernel-headers" / "build"
HERE = Path(__file__).resolve().parent

PLAN = r"""
v() { echo "HPMTEST: version $1 $(cat /proc/version)"; }
mods() { echo "HPMTEST: modules $1 $(cut -d' ' -f1 /proc/modules | grep hpm_kp | tr '\n' ' ')"; }
v before
# the reader: every read must be the old or the new text
( n=0; bad=0; while [ ! -f /tmp/stop ]; do
    t=$(cat /proc/version) || bad=$((bad + 1))
    case "$t" in "Linux version "*) n=$((n + 1)) ;; *) bad=$((bad + 1)) ;; esac
  done; echo "$n $bad" > /tmp/reader ) &
reader=$!
run apply1 hpm apply /src/hp1.hpm
v after1
mods after1
run list1 hpm list
echo "HPMTEST: json list1 $(hpm list --json)"
run apply2 hpm apply --json /src/hp2.hpm
v after2
mods after2
echo "HPMTEST: json status2 $(hpm status --json)"
run lower hpm apply /src/hp1.hpm
run otherbuild hpm apply /src/hp-otherbuild.hpm
run tampered hpm apply /src/hp-tampered.hpm
cp /src/pauser /tmp/pauser && chmod +x /tmp/pauser
/tmp/pauser & pauser=$!
sleep 1
run deadline hpm apply --kernel-deadline 4 /src/hp-block.hpm
kill $pauser
v afterdeadline
mods afterdeadline
run revertto hpm revert --to 1
v afterrevertto
mods afterrevertto
HPM_TEST_EXIT_AT=kernel-loaded hpm apply /src/hp2.hpm > /tmp/out 2>&1; echo "HPMTEST: rc killapply=$?"
run recover1 hpm recover
v afterrecover1
echo "HPMTEST: json status3 $(hpm status --json)"
HPM_TEST_EXIT_AT=kernel-disabled hpm revert --all > /tmp/out 2>&1; echo "HPMTEST: rc killrevert=$?"
run recover2 hpm recover
v afterrecover2
mods afterrecover2
echo "HPMTEST: livepatches $(ls /sys/kernel/livepatch | tr '\n' ' ')"
touch /tmp/stop
wait $reader
echo "HPMTEST: reader $(cat /tmp/reader)"
"""


def build_module(source, seq, out):
    subprocess.run([TEMPLATE / "build.sh", "--headers", HEADERS, "--source", source, "--sequence", str(seq),
                    "--out", out], check=True, capture_output=True, timeout=300)
    return out


def sign_hotpatch(out, baseline, seq, module, build_id):
    hpmtest.sign("hotpatch", "--key", hpmvm.TRUSTED_KEY, "--baseline", baseline, "--seq", str(seq),
                 "--classification", "security", "--id", f"KB-K{seq}", "--kernel-module", module,
                 "--kernel-build-id", build_id, "--timestamp", hpmtest.SOURCE_DATE_EPOCH, "--out", out)
    return out


@pytest.fixture(scope="module")
def inputs():
    fx = hpmvm.fixtures()
    assert (HEADERS / "Makefile").is_file(), f"{HEADERS} missing: run scripts/deps.sh (make deps)"
    root = fx.root / "kernel-hotpatch"
    root.mkdir(parents=True, exist_ok=True)
    initrd = lv.build_initramfs(root / "initrd.cpio", lv.kernel_modules(root))
    base = hpmvm.sign_baseline(root / "base.hpm", hpmvm.KERNEL, initrd, hpmvm.BASE_CMDLINE, "kp-1", 5)
    bid = subprocess.run([TEMPLATE / "kernel-build-id", hpmvm.KERNEL], check=True, capture_output=True,
                         text=True).stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{40}", bid), bid
    example = TEMPLATE / "example-proc-version.c"
    out = {"base": base, "build_id": bid}
    for seq in (1, 2):
        ko = build_module(example, seq, root / f"hpm_kp_{seq}.ko")
        out[f"hp{seq}"] = sign_hotpatch(root / f"hp{seq}.hpm", base, seq, ko, bid)
    ko3 = build_module(example, 3, root / "hpm_kp_3.ko")
    other = "%040x" % (int(bid, 16) ^ 1)  # another build of the same release
    out["hp-otherbuild"] = sign_hotpatch(root / "hp-otherbuild.hpm", base, 3, ko3, other)
    tampered = bytearray(sign_hotpatch(root / "hp-t.hpm", base, 3, ko3, bid).read_bytes())
    i = tampered.find(b"vermagic=6.1")  # in the module's .modinfo, not in the manifest
    assert i > 0
    tampered[i] ^= 0x20  # one byte of the module, after signing
    (root / "hp-tampered.hpm").write_bytes(bytes(tampered))
    out["hp-tampered"] = root / "hp-tampered.hpm"
    kow = build_module(HERE / "kernel" / "warn-fix.c", 2, root / "hpm_kp_2_warn.ko")
    out["hp-warn"] = sign_hotpatch(root / "hp-warn.hpm", base, 2, kow, bid)
    kob = build_module(HERE / "kernel" / "pause-fix.c", 3, root / "hpm_kp_3_pause.ko")
    out["hp-block"] = sign_hotpatch(root / "hp-block.hpm", base, 3, kob, bid)
    pauser = root / "pauser"
    subprocess.run(["gcc", "-static", "-O2", "-o", pauser, HERE / "kernel" / "pauser.c"], check=True)
    out["pauser"] = pauser
    return out


def versions(boot):
    return lv.markers(boot, "version")


def test_kernel_hotpatch(tmp_path, inputs):
    m = lv.LifecycleMachine(tmp_path)
    m.put_slot("a", inputs["base"])
    for name in ("hp1", "hp2", "hp-otherbuild", "hp-tampered", "hp-block"):
        m.put_src(inputs[name], name + ".hpm")
    m.put_src(inputs["pauser"], "pauser")
    m.set_plan(PLAN)
    boot = m.boot(timeout=400)
    assert "HPMTEST: done" in boot.serial, boot.describe()
    rc = lv.rcs(boot)
    v = versions(boot)
    serial = boot.serial

    # apply, then replace
    assert "hpm-kernel-hotpatch" not in v["before"]
    assert v["before"].startswith("Linux version 6.1.0-"), v
    assert rc["apply1"] == 0, boot.describe()
    assert v["after1"].endswith("hpm-kernel-hotpatch=1"), v
    assert "kernel: livepatch hpm_kp_1 enabled" in serial
    assert lv.markers(boot, "modules")["after1"].split() == ["hpm_kp_1"]
    assert re.search(r"HPMTEST: out kernel: livepatch hpm_kp_1 seq 1 KB-K1 since \S+, enabled, transition complete",
                     serial), boot.describe()
    lst = json.loads(lv.markers(boot, "json")["list1"])
    assert lst["kernel"]["module"] == "hpm_kp_1" and lst["kernel"]["enabled"] is True
    assert lst["kernel"]["transition"] is False and lst["kernel"]["sequence"] == 1
    assert rc["apply2"] == 0, boot.describe()
    out2 = [json.loads(t[len("HPMTEST: out "):]) for t in serial.splitlines()
            if t.startswith("HPMTEST: out {") and '"command":"apply"' in t.replace(" ", "")]
    assert out2 and out2[-1]["kernel"]["module"] == "hpm_kp_2" and out2[-1]["kernel"]["replaced"] == "hpm_kp_1"
    assert v["after2"].endswith("hpm-kernel-hotpatch=2"), v
    assert lv.markers(boot, "modules")["after2"].split() == ["hpm_kp_2"], "the replaced module is unloaded"
    st = json.loads(lv.markers(boot, "json")["status2"])["hotpatch"]
    assert st["sequence"] == 2 and st["kernel"]["module"] == "hpm_kp_2" and st["kernel"]["pending"] is False

    # refusals
    assert rc["lower"] == 1 and "sequence 1 is not higher than the applied sequence 2" in serial
    assert rc["otherbuild"] == 1, boot.describe()
    assert "another build of 6.1.0-" in serial and inputs["build_id"] in serial
    assert rc["tampered"] == 1 and "payloads/livepatch" in serial, boot.describe()

    # a transition held past its deadline is reversed, naming the task
    assert rc["deadline"] == 4, boot.describe()
    assert re.search(r"kernel: livepatch hpm_kp_3 did not finish its transition within 4000 ms \(\d+ task\(s\) held it\): "
                     r"reverted", serial), boot.describe()
    assert re.search(r"kernel: livepatch hpm_kp_3: blocked by pid \d+ \(pauser\) patch_state 0", serial), boot.describe()
    assert v["afterdeadline"].endswith("hpm-kernel-hotpatch=2"), v
    assert lv.markers(boot, "modules")["afterdeadline"].split() == ["hpm_kp_2"]

    # revert --to 1: module 1 replaces module 2
    assert rc["revertto"] == 0, boot.describe()
    assert v["afterrevertto"].endswith("hpm-kernel-hotpatch=1"), v
    assert lv.markers(boot, "modules")["afterrevertto"].split() == ["hpm_kp_1"]

    # hpm killed after loading: recover keeps the enabled patch
    assert rc["killapply"] == 9 and rc["recover1"] == 0, boot.describe()
    assert "kernel: recovered: livepatch hpm_kp_2 (sequence 2) is enabled; finished" in serial
    assert v["afterrecover1"].endswith("hpm-kernel-hotpatch=2"), v
    assert json.loads(lv.markers(boot, "json")["status3"])["hotpatch"]["kernel"]["module"] == "hpm_kp_2"
    # hpm killed after disabling: recover finishes the revert
    assert rc["killrevert"] == 9 and rc["recover2"] == 0, boot.describe()
    assert "kernel: recovered: finished the revert of livepatch hpm_kp_2" in serial
    assert v["afterrecover2"] == v["before"]
    assert lv.markers(boot, "modules")["afterrecover2"].split() == []
    assert [t.split()[2:] for t in serial.splitlines() if t.startswith("HPMTEST: livepatches")] == [[]]

    # the reader: many reads, none failed or torn
    reader = [t for t in serial.splitlines() if t.startswith("HPMTEST: reader ")]
    assert reader, boot.describe()
    n, bad = (int(x) for x in reader[-1].split()[2:4])
    assert n > 50 and bad == 0, reader


# ---- hpm killed at seeded instants during load, replace and revert ----------
# HPM_KKILL_RUNS runs in one boot (12 in `make check`, LONG_KKILL_RUNS in
# `make check-long`), HPM_KKILL_SEED choosing each kill's instant as a
# fraction of that operation's duration measured unkilled in the same boot.
KKILL_RUNS = int(os.environ.get("HPM_KKILL_RUNS", "12"))
KKILL_SEED = int(os.environ.get("HPM_KKILL_SEED", "20261205"))
# kind: (setup, killed command, old, new) -- the kernel must end on old or new
KINDS = {
    "load": ("hpm revert --all", "hpm apply /src/hp1.hpm", "none", "1"),
    "replace": ("hpm revert --all && hpm apply /src/hp1.hpm", "hpm apply /src/hp2.hpm", "1", "2"),
    "revert": ("hpm revert --all && hpm apply /src/hp2.hpm", "hpm revert --all", "2", "none"),
}

KILL_HEAD = r"""
ver() { cat /proc/version | grep -o 'hpm-kernel-hotpatch=[0-9]*' | cut -d= -f2 | grep . || echo none; }
kmods() { cut -d' ' -f1 /proc/modules | grep hpm_kp | tr '\n' ' '; }
lp() { for d in /sys/kernel/livepatch/*; do [ -d "$d" ] && echo -n "${d##*/}:$(cat $d/enabled) "; done; }
trans() { cat /sys/kernel/livepatch/*/transition 2>/dev/null | tr -d '\n'; }
kstate() { sed -n 's/^module //p' /var/lib/hpm/kernel.state 2>/dev/null; }
up() { cut -d' ' -f1 /proc/uptime | tr -d .; }
# the duration of each killed command, unkilled (centiseconds)
time_op() { hpm revert --all > /dev/null 2>&1; sh -c "$1" > /dev/null 2>&1; t0=$(up); sh -c "$2" > /dev/null 2>&1; echo $(( $(up) - t0 )); }
D_load=$(time_op "true" "hpm apply /src/hp1.hpm")
D_replace=$(time_op "hpm apply /src/hp1.hpm" "hpm apply /src/hp2.hpm")
D_revert=$(time_op "hpm apply /src/hp2.hpm" "hpm revert --all")
echo "HPMTEST: timing $D_load $D_replace $D_revert"
# killrun RUN KIND PERMILLE SETUP CMD: SETUP, then CMD killed at PERMILLE/1000 of its duration, then recover
killrun() {
  sh -c "$4" > /tmp/sout 2>&1 || { echo "HPMTEST: setupfail $1"; sed "s/^/HPMTEST: sout $1 /" /tmp/sout; }
  eval "d=\$D_$2"
  sh -c "exec $5" > /tmp/kout 2>&1 & p=$!
  usleep $((d * 10000 * $3 / 1000)); kill -9 $p 2>/dev/null; wait $p; krc=$?
  echo "HPMTEST: killed $1 rc=$krc ver=$(ver) trans=$(trans)"
  hpm recover > /tmp/rout 2>&1; rrc=$?
  echo "HPMTEST: recovered $1 rc=$rrc ver=$(ver) mods=$(kmods)| lp=$(lp)| state=$(kstate)| pending=$(ls /var/lib/hpm | grep -c pending)"
  sed "s/^/HPMTEST: rout $1 /" /tmp/rout
}
"""


def kill_plan(runs, seed):
    rnd = random.Random(seed)
    lines, plan = [], []
    for i in range(runs):
        kind = list(KINDS)[i % len(KINDS)]
        permille = rnd.randrange(0, 800)  # of the unkilled duration: most kills land inside
        setup, cmd, _, _ = KINDS[kind]
        plan.append((i, kind, permille))
        lines.append(f'killrun {i} {kind} {permille} "{setup}" "{cmd}"')
    return KILL_HEAD + "\n".join(lines) + "\nhpm revert --all > /dev/null 2>&1\n" + \
        'echo "HPMTEST: end ver=$(ver) mods=$(kmods)| lp=$(lp)|"\n', plan


KILLED_RE = re.compile(r"^HPMTEST: killed (\d+) rc=(\d+) ver=(\S+) trans=(\S*)$", re.M)
RECOVERED_RE = re.compile(r"^HPMTEST: recovered (\d+) rc=(\d+) ver=(\S+) mods=([^|]*)\| lp=([^|]*)\| state=([^|]*)\| "
                          r"pending=(\d+)$", re.M)


def check_run(kind, killed, recovered):
    """Assert one run: the kernel on old or new code right after the kill and
    after recovery, which leaves nothing half done.  Returns (killed inside
    the operation, the new state)."""
    _, _, old, new = KINDS[kind]
    krc, kver, ktrans = killed
    assert kver in (old, new), f"right after the kill the kernel ran sequence {kver}, not {old} or {new}"
    rrc, ver, mods, lp, state, pending = recovered
    assert rrc == 0, "hpm recover failed"
    assert ver in (old, new), f"after recovery the kernel runs sequence {ver}, not {old} or {new}"
    want = [] if ver == "none" else [f"hpm_kp_{ver}"]
    assert mods.split() == want, f"modules loaded {mods.split()}, expected {want} (sequence {ver})"
    assert lp.split() == [f"{m}:1" for m in want], f"livepatches {lp.split()}, expected {want} enabled"
    assert state.strip() == (want[0] if want else ""), f"kernel.state names '{state.strip()}' for sequence {ver}"
    assert pending == "0", "a journal record is still pending after recovery"
    return krc == 137, ver == new


def test_kernel_killed_at_seeded_instants(tmp_path, inputs, request):
    plan_text, plan = kill_plan(KKILL_RUNS, KKILL_SEED)
    m = lv.LifecycleMachine(tmp_path)
    m.put_slot("a", inputs["base"])
    for name in ("hp1", "hp2"):
        m.put_src(inputs[name], name + ".hpm")
    m.set_plan(plan_text)
    with hpmtest.Figures("kernel-kill", request, KKILL_SEED, KKILL_RUNS, tmp_path,
                         HPM_KKILL_SEED=KKILL_SEED, HPM_KKILL_RUNS=KKILL_RUNS) as fig:
        boot = m.boot(timeout=240 + 20 * KKILL_RUNS)
        assert "HPMTEST: done" in boot.serial, boot.describe()
        timing = lv.markers(boot, "timing")
        print("durations (cs) load/replace/revert:", timing)
        killed = {int(g[0]): (int(g[1]), g[2], g[3]) for g in KILLED_RE.findall(boot.serial)}
        recovered = {int(g[0]): (int(g[1]), g[2], g[3], g[4], g[5], g[6]) for g in RECOVERED_RE.findall(boot.serial)}
        landed = 0
        for i, kind, permille in plan:
            try:
                assert f"HPMTEST: setupfail {i}" not in [t.strip() for t in boot.serial.splitlines()], \
                    "its set-up failed"
                assert i in killed and i in recovered, "no result"
                inside, new = check_run(kind, killed[i], recovered[i])
                landed += inside
                fig.run_done(inside and "1" in killed[i][2], new)
                print(f"run {i:3d}: {kind:7s} killed at {permille / 10:4.1f}% (rc {killed[i][0]}) -> "
                      f"sequence {recovered[i][1]}")
            except AssertionError as e:
                fig.fail(i, f"{kind} killed at {permille / 10:.1f}%: {e}: " +
                         " | ".join(t for t in boot.serial.splitlines() if re.match(rf"HPMTEST: \w+ {i}( |$)", t)))
        assert [t for t in boot.serial.splitlines() if t.startswith("HPMTEST: end ")] == \
            ["HPMTEST: end ver=none mods=| lp=|"], boot.describe()
        # the kills must really land inside the operations, not after them
        assert landed >= len(plan) // 2, f"only {landed} of {len(plan)} kills landed before hpm finished"
    assert not fig.d["failed"], "\n".join(f"run {f['run']}: {f['error']}\nreplay: {f['replay']}"
                                          for f in fig.d["failed"])


# ---- the verifying window's kernel signal (issue 17) ------------------------
WARN_PLAN = r"""
printf '[health]\nwindow = 5m\ninterval = 1s\n' > /tmp/hpm.conf
export HPM_CONF=/tmp/hpm.conf
v() { echo "HPMTEST: version $1 $(cat /proc/version)"; }
run apply1 hpm apply /src/hp1.hpm
v after1
run tick1 hpm agent --once --no-assess
echo "HPMTEST: json status1 $(hpm status --json)"
run apply2 hpm apply /src/hp-warn.hpm
v after2
echo "HPMTEST: taint $(cat /proc/sys/kernel/tainted)"
run tick2 hpm agent --once --no-assess
v aftertick2
echo "HPMTEST: json status2 $(hpm status --json)"
echo "HPMTEST: json history $(hpm history --json)"
run again hpm apply /src/hp-warn.hpm
printf '[health]\nwindow = 5m\ninterval = 1s\nkernel_log = no\n' > /tmp/hpm.conf
run forced hpm apply --force /src/hp-warn.hpm
run tick3 hpm agent --once --no-assess
echo "HPMTEST: json status3 $(hpm status --json)"
"""


def test_kernel_warn_fails_the_window(tmp_path, inputs):
    """A kernel part whose replacement hits a WARN_ON: the next look at the
    window (the agent's) finds the kernel's WARNING record since the apply,
    reverts to sequence 1 and marks it bad; the healthy sequence 1 before it
    was not held against (loading a livepatch taints the kernel K/O/E, not
    W); with [health] kernel_log = no the same WARN is not a signal."""
    m = lv.LifecycleMachine(tmp_path)
    m.put_slot("a", inputs["base"])
    m.put_src(inputs["hp1"], "hp1.hpm")
    m.put_src(inputs["hp-warn"], "hp-warn.hpm")
    m.set_plan(WARN_PLAN)
    boot = m.boot(timeout=400)
    assert "HPMTEST: done" in boot.serial, boot.describe()
    rc, v, js = lv.rcs(boot), lv.markers(boot, "version"), lv.markers(boot, "json")
    assert rc["apply1"] == 0 and rc["tick1"] == 0 and v["after1"].endswith("hpm-kernel-hotpatch=1"), boot.describe()
    h1 = json.loads(js["status1"])["hotpatch"]["health"]
    assert h1["state"] == "verifying" and h1["sequence"] == 1, h1
    assert rc["apply2"] == 0 and v["after2"].endswith("hpm-kernel-hotpatch=2"), boot.describe()
    taint = re.search(r"^HPMTEST: taint (\d+)", boot.serial, re.M)
    assert taint and int(taint.group(1)) & (1 << 9), "the replacement's WARN_ON set taint W"
    assert rc["tick2"] == 0, boot.describe()
    assert v["aftertick2"].endswith("hpm-kernel-hotpatch=1"), v
    st = json.loads(js["status2"])["hotpatch"]
    assert st["sequence"] == 1 and st["health"]["state"] == "reverted", st
    reason = st["health"]["reason"]
    assert reason.startswith('kernel log since the apply: "WARNING: CPU:') and "hpm_warn_version_proc_show" in reason, \
        reason
    assert "(kernel tainted W since)" in reason, reason
    assert [b["sequence"] for b in st["bad"]] == [2] and st["bad"][0]["reason"] == reason, st["bad"]
    rows = [e for e in json.loads(js["history"])["entries"] if e["event"] == "health-revert"]
    assert rows and rows[-1]["result"] == "ok" and "WARNING: CPU:" in rows[-1]["detail"], rows
    assert rc["again"] == 1 and "was reverted for its health on this host" in boot.serial, boot.describe()
    # kernel_log = no: the WARN (the kernel warns once; its W taint stays) is not counted
    assert rc["forced"] == 0 and rc["tick3"] == 0, boot.describe()
    h3 = json.loads(js["status3"])["hotpatch"]
    assert h3["sequence"] == 2 and h3["health"]["state"] == "verifying", h3
