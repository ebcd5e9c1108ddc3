#!/bin/bash
# The hpm tour.  Today: release signing and verification of a baseline.
# Prints each step with its duration; exits non-zero if any step misbehaves.
set -euo pipefail
B=${B:-$(pwd)/build}
SIGN=$B/tools/hpm-sign
WORK=$(mktemp -d "${TMPDIR:-/tmp}/hpm-demo.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

bold() { if [ -t 1 ]; then printf '\033[1m%s\033[0m\n' "$*"; else printf '%s\n' "$*"; fi; }
declare -a TIMES=()
n=0
step() { # title, then a command
  local title=$1 t0 t1 ms
  shift
  n=$((n + 1))
  echo
  bold "[$n] $title"
  t0=$(date +%s%N)
  "$@"
  t1=$(date +%s%N)
  ms=$(( (t1 - t0) / 1000000 ))
  TIMES+=("$(printf '  [%d] %-52s %6d ms' "$n" "$title" "$ms")")
}
show() { printf '    $ %s\n' "$*"; "$@" 2>&1 | sed 's/^/    /'; }
expect_refusal() { # the command must fail with exit 1
  printf '    $ %s\n' "$*"
  set +e
  "$@" > "$WORK/out" 2>&1
  local st=$?
  set -e
  sed 's/^/    /' "$WORK/out"
  if [ $st -ne 1 ]; then echo "    demo: expected a refusal (exit 1), got exit $st" >&2; exit 1; fi
  echo "    -> refused (exit $st), as it must be"
}

cd "$WORK"
step "Generate a throwaway release key (ECDSA P-256)" \
  show "$SIGN" keygen --out release.pem --pub release.pub

make_sample() {
  # A stand-in kernel and initrd: the real boot path arrives with hpmboot.efi.
  head -c 4194304 /dev/urandom > vmlinuz
  head -c 1048576 /dev/urandom > initrd.img
  echo "    sample payloads: vmlinuz (4 MiB), initrd.img (1 MiB)"
}
step "Prepare sample baseline payloads" make_sample

step "Sign baseline 2026.11.0 (SVN 7) with the release key" \
  show env SOURCE_DATE_EPOCH=1764028800 "$SIGN" baseline --key release.pem \
    --kernel vmlinuz --initrd initrd.img --cmdline "console=ttyS0 quiet" \
    --version 2026.11.0 --svn 7 --out baseline.hpm

step "Inspect the signed container" show "$SIGN" inspect --trust release.pub baseline.hpm

step "Verify against the trust set" show "$SIGN" verify --trust release.pub baseline.hpm

tamper() {
  cp baseline.hpm tampered.hpm
  # Flip one byte in the middle of the embedded kernel.
  local off=$(( $(stat -c %s tampered.hpm) / 2 ))
  printf '\x5a' | dd of=tampered.hpm bs=1 seek="$off" conv=notrunc status=none
  echo "    flipped the byte at offset $off of a copy (inside the kernel payload)"
  expect_refusal "$SIGN" verify --trust release.pub tampered.hpm
}
step "Tamper with one byte of a copy and verify again" tamper

other_key() {
  "$SIGN" keygen --out attacker.pem --pub attacker.pub > /dev/null
  SOURCE_DATE_EPOCH=1764028800 "$SIGN" baseline --key attacker.pem --kernel vmlinuz \
    --version 2026.11.0 --svn 99 --out forged.hpm > /dev/null
  echo "    signed forged.hpm (SVN 99) with a key that is not in the trust set"
  expect_refusal "$SIGN" verify --trust release.pub forged.hpm
}
step "A baseline signed by an untrusted key" other_key

echo
bold "Summary"
printf '%s\n' "${TIMES[@]}"
echo "  the genuine baseline verified; the tampered and the forged ones were refused."
