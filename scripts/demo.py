#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""make demo: the whole of hpm in a few minutes, in QEMU + OVMF.

Release side: a throwaway release key, hpmboot.efi built to trust it, three
signed baselines (Debian's kernel + a small initramfs carrying hpm and a
demo service) and a signed hotpatch.  Host side: one VM booted four times
through hpmboot.efi: the demo service is hotpatched while a client keeps
calling it, the boot is marked good, a new baseline is staged and booted,
then a broken baseline is staged and the boot stage falls back by itself.
The flow and its checks are firmware-tests/demo_vm.py (the firmware test
test_demo_lifecycle.py runs the same flow with assertions).

Non-interactive; prints step names and durations and a summary; exits 1 if
any step fails.  Work files: $B/demo-run (kept for inspection).
"""
import os
import re
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "firmware-tests"))
import demo_vm  # noqa: E402
import hpmvm  # noqa: E402

TTY = sys.stdout.isatty()
steps = []


def bold(s):
    return f"\033[1m{s}\033[0m" if TTY else s


def show(text, indent="    "):
    for line in text.splitlines():
        print(indent + line)


class Failed(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failed(what)
    print(f"    ok: {what}")


def step(title):
    def wrap(fn):
        def run(*a):
            n = len(steps) + 1
            print()
            print(bold(f"[{n}] {title}"))
            t0 = time.monotonic()
            try:
                r = fn(*a)
            except Failed as e:
                steps.append((title, time.monotonic() - t0, False))
                raise Failed(f"step {n} ({title}): {e}") from None
            steps.append((title, time.monotonic() - t0, True))
            return r
        return run
    return wrap


def console(boot):
    print("    boot stage console (hpmboot.efi):")
    show("\n".join(l for l in demo_vm.boot_banner(boot) if not l.startswith("hpm: trust")), "      ")


def ran(boot, name, label=None):
    rc = demo_vm.rcs(boot).get(name)
    out = demo_vm.outputs(boot, name)
    print(f"    $ {label or name}   (exit {rc})")
    show("\n".join(out), "      ")
    return rc


def main():
    work = hpmvm.BUILD / "demo-run"
    shutil.rmtree(work, ignore_errors=True)
    hpmvm.check_prerequisites()
    d = demo_vm.Demo(work)
    facts = {}

    @step("Release engineering: throwaway key, hpmboot.efi trusting it, signed baselines and hotpatch")
    def release():
        rel = d.release()
        facts["rel"] = rel
        print(f"    release key id {rel['keyid'][:16]}… (private key stays here; hosts get the .pub)")
        print(f"    hpmboot.efi: {rel['hpmboot_bytes']} bytes, trusts only that key")
        for n, v in (("v1", "2026.1"), ("v2", "2026.2"), ("v3", "2026.3-broken")):
            print(f"    baseline {v:<14} {rel['sizes'][n]:>9} bytes  digest {rel['digests'][n][:16]}…")
        print("    hotpatch HP-2026.1-1 (seq 1, security) for 2026.1: fixes quote_tax() of the demo service")
        check(rel["tampered_refused"], "a one-bit tampered copy of 2026.1 is refused: "
              + rel["tampered_msg"].splitlines()[-1][:100])
        d.machine()

    @step("Boot 1: hpmboot.efi verifies 2026.1 and boots it; hotpatch the running service under load")
    def boot1():
        b = d.boot(demo_vm.PLAN_1)
        console(b)
        answers = dict(demo_vm.lines(b, "answer"))
        print(f"    service answer before: {answers.get('before')}")
        ran(b, "apply", f"hpm apply --budget-us {demo_vm.APPLY_BUDGET_US} fix.hpm   (emulated CPU: 10x the default "
                        "pause budget; hpm-demo-client keeps 4 connections busy)")
        client = demo_vm.outputs(b, "client")
        show("\n".join(client[-3:]), "      ")
        print(f"    service answer after:  {answers.get('after')}")
        ran(b, "list", "hpm list")
        ran(b, "status", "hpm status")
        summary = client[-1] if client else ""
        m = re.search(r"(\d+) buggy, (\d+) fixed, (\d+) failed", summary)
        check(m and int(m.group(1)) > 0 and int(m.group(2)) > 0 and int(m.group(3)) == 0,
              "answers changed from buggy to fixed with no restart and no failed request")
        check(answers.get("after") == "total 1190 (tax 190) by v2 (hotpatched)", "the fix is live")
        facts["client"] = summary
        facts["boot1"] = b

    @step("Mark the boot good and stage 2026.2; reboot into it")
    def boot2():
        b1 = facts["boot1"]
        ran(b1, "markgood", "hpm mark-good")
        rc = ran(b1, "stage", "hpm stage --tries 2 2026.2.hpm")
        check(rc == 0, "2026.2 staged into slot b")
        b = d.boot(demo_vm.PLAN_2)
        console(b)
        st = demo_vm.status_json(b)
        ran(b, "status", "hpm status")
        check(st and st["boot"]["slot"] == "b" and st["boot"]["version"] == "2026.2",
              "the VM rebooted into 2026.2 (slot b, on trial)")
        ran(b, "markgood", "hpm mark-good")
        rc = ran(b, "stage", "hpm stage --tries 1 2026.3-broken.hpm")
        check(rc == 0, "the broken baseline staged into slot a with one try")

    @step("Boot 3: the broken baseline gets its one try and never becomes healthy")
    def boot3():
        b = d.boot("")
        console(b)
        print("    " + next(l for l in b.serial.splitlines() if "health check failed" in l))
        check("health check failed" in b.serial, "no mark-good: the tries run out")

    @step("Boot 4: hpmboot.efi falls back to the last good baseline by itself")
    def boot4():
        b = d.boot(demo_vm.PLAN_4)
        console(b)
        ran(b, "status", "hpm status")
        st = demo_vm.status_json(b)
        check(st and st["boot"]["slot"] == "b" and st["boot"]["version"] == "2026.2"
              and st["boot"]["marked_good"], "back on 2026.2 (slot b, marked good)")
        check(st["boot"]["floor"] == 2, "rollback floor raised to SVN 2 when 2026.2 was marked good")
        facts["final"] = st

    ok = True
    try:
        release()
        boot1()
        boot2()
        boot3()
        boot4()
    except (Failed, RuntimeError) as e:
        ok = False
        print(f"\ndemo: FAILED: {e}", file=sys.stderr)

    print()
    print(bold("Summary"))
    for i, (title, sec, good) in enumerate(steps, 1):
        print(f"  [{i}] {'ok  ' if good else 'FAIL'} {sec:6.1f} s  {title}")
    if ok:
        rel = facts["rel"]
        print(f"  verified: 3 baselines and 1 hotpatch signed by key {rel['keyid'][:16]}…; a tampered copy refused")
        print("  booted:   2026.1 (a) -> 2026.2 (b, on trial, marked good) -> 2026.3-broken (a, 1 try) "
              "-> 2026.2 (b, fallback)")
        print(f"  patched:  demo service, in memory, under load: {facts['client'].replace('client: ', '')}")
        print(f"  total {sum(s for _, s, _ in steps):.0f} s; work files in {work}")
    return 0 if ok else 1


if __name__ == "__main__":
    os.environ.setdefault("HPM_BUILD", str(hpmvm.BUILD))
    sys.exit(main())
