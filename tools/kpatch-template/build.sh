#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Build a cumulative livepatch module for hpm from a replacement source.
#
#   build.sh --headers DIR --source FILE.c --sequence N [--prefix NAME] --out FILE.ko
#
# DIR is a kernel build tree: the headers of exactly the baseline's kernel
# (make deps puts Debian's in .deps/kernel-headers/build; on a Debian host
# /lib/modules/RELEASE/build).  The module is named PREFIX_N (default
# hpm_kp_N): the patch name under /sys/kernel/livepatch, distinct per
# sequence so sequence N can load while N-1 runs and replace it.
# Sign the .ko into a hotpatch with `hpm-sign hotpatch --kernel-module`.
set -euo pipefail

usage() { sed -n 's/^#   //p' "$0" >&2; exit 2; }
headers= source= seq= prefix=hpm_kp out=
while [ $# -gt 0 ]; do
  case $1 in
    --headers) headers=${2:?}; shift 2 ;;
    --source) source=${2:?}; shift 2 ;;
    --sequence) seq=${2:?}; shift 2 ;;
    --prefix) prefix=${2:?}; shift 2 ;;
    --out) out=${2:?}; shift 2 ;;
    -h|--help) sed -n 's/^#   //p' "$0"; exit 0 ;;
    *) usage ;;
  esac
done
[ -n "$headers" ] && [ -n "$source" ] && [ -n "$seq" ] && [ -n "$out" ] || usage
[[ $seq =~ ^[1-9][0-9]{0,8}$ ]] || { echo "build.sh: --sequence $seq: a number >= 1" >&2; exit 2; }
[[ $prefix =~ ^[a-z][a-z0-9_]{0,39}$ ]] || { echo "build.sh: --prefix $prefix: [a-z][a-z0-9_]* up to 40 characters" >&2; exit 2; }
[ -f "$headers/Makefile" ] || { echo "build.sh: $headers: no kernel build tree (no Makefile)" >&2; exit 2; }
[ -f "$source" ] || { echo "build.sh: $source: no such file" >&2; exit 2; }

here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/hpm-klp.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp "$here/Kbuild" "$here/hpm-klp.h" "$here/hpm-klp-main.c" "$work/"
cp "$source" "$work/fix.c"
name=${prefix}_$seq
make -s -C "$headers" M="$work" HPM_KLP_NAME="$name" HPM_KLP_SEQUENCE="$seq" modules >&2
objcopy --strip-debug "$work/$name.ko" "$out"
echo "$out: livepatch module $name (sequence $seq)"
