#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Usage: scripts/hpmboot-trust.sh KEYS THRESHOLD VERSION OUT.c [FORBIDDEN [KCERTS [KFORBIDDEN [KIND]]]]
#   KEYS       comma-separated PEM public keys (SubjectPublicKeyInfo)
#   THRESHOLD  distinct trusted signers a baseline needs (1..number of keys)
#   FORBIDDEN  comma-separated public keys that must not be among KEYS (the
#              development keys of the build tree, for a release image);
#              compared by their bytes; files that do not exist are skipped
#   KCERTS     comma-separated X.509 certificates (PEM or DER, RSA keys) of
#              the kernel module signing keys hpmboot.efi hands to the kernel
#              (MokListRT, docs/kernel-hotpatch.md "Secure Boot"); empty or
#              "none": none
#   KFORBIDDEN comma-separated certificates that must not be among KCERTS
#              (the build tree's development one, for a release image)
#   KIND       "development" or "release" (default): what the image says it is
#
# Writes the C file that builds the trusted baseline keys into hpmboot.efi:
# each key as DER SubjectPublicKeyInfo (converted with openssl).  Fails on a
# missing or unparsable key or a bad threshold: hpmboot.efi is never built
# without a trust store.
#
# The same keys, threshold and kind also go into the image's `.hpmkeys`
# section as one record that `hpm setup` reads out of the file, so it checks
# a baseline with exactly the keys the image will use (docs/format.md "The
# boot image's key record"; parser: runtime/boot/setup_parse.c):
#   "HPMKEYS" NUL, u32 format (1), u32 threshold, u32 count, u32 flags
#   (bit 0: development image), then per key: u16 DER length, u8 name
#   length, the name, the DER SubjectPublicKeyInfo.  Little-endian.
set -euo pipefail
[ $# -ge 4 ] && [ $# -le 8 ] || { echo "usage: $0 KEYS THRESHOLD VERSION OUT.c [FORBIDDEN [KCERTS [KFORBIDDEN [KIND]]]]" >&2; exit 2; }
keys=$1 threshold=$2 version=$3 out=$4 forbidden=${5:-} kcerts=${6:-} kforbidden=${7:-} kind=${8:-release}
[ "$kcerts" != none ] || kcerts=
die() { echo "hpmboot-trust: error: $*" >&2; exit 1; }

IFS=, read -r -a files <<< "$keys"
[ ${#files[@]} -ge 1 ] && [ -n "${files[0]}" ] || die "HPM_TRUST_KEYS is empty: name at least one .pub file"
[ ${#files[@]} -le 16 ] || die "at most 16 trusted keys"
[[ $threshold =~ ^[1-9][0-9]*$ ]] && [ "$threshold" -le ${#files[@]} ] \
  || die "HPM_TRUST_THRESHOLD=$threshold: must be 1..${#files[@]}"
[[ $version =~ ^[A-Za-z0-9._+-]{1,40}$ ]] || die "bad version string '$version'"
case $kind in development) flags=1 ;; release) flags=0 ;; *) die "KIND '$kind': development or release" ;; esac

spki() { openssl pkey -pubin -in "$1" -outform DER 2>/dev/null | od -An -v -tx1; }
IFS=, read -r -a no <<< "$forbidden"
for f in "${files[@]}"; do
  for d in "${no[@]}"; do
    [ -n "$d" ] && [ -r "$d" ] && [ -r "$f" ] || continue
    [ "$(spki "$f")" != "$(spki "$d")" ] \
      || die "$f is the development key $d of this build tree: a release image must not trust it; name the release signers' keys in HPM_TRUST_KEYS"
  done
done

# A certificate as DER (PEM or DER input), hex bytes as od prints them.
cert_der() { { openssl x509 -in "$1" -outform DER 2>/dev/null || openssl x509 -inform DER -in "$1" -outform DER 2>/dev/null; } | od -An -v -tx1; }
IFS=, read -r -a cfiles <<< "$kcerts"
IFS=, read -r -a cno <<< "$kforbidden"
[ ${#cfiles[@]} -le 8 ] || die "at most 8 kernel certificates (HPM_KERNEL_CERTS)"
for f in "${cfiles[@]}"; do
  [ -r "$f" ] || die "$f: cannot read kernel certificate (HPM_KERNEL_CERTS)"
  [ -n "$(cert_der "$f")" ] || die "$f: not an X.509 certificate, PEM or DER (HPM_KERNEL_CERTS)"
  pem=$(openssl x509 -in "$f" 2>/dev/null || openssl x509 -inform DER -in "$f")
  openssl x509 -noout -text <<< "$pem" | grep -q 'Public Key Algorithm: rsaEncryption' \
    || die "$f: not an RSA certificate; the kernel verifies module signatures with RSA only (HPM_KERNEL_CERTS)"
  for d in "${cno[@]}"; do
    [ -n "$d" ] && [ -r "$d" ] || continue
    [ "$(cert_der "$f")" != "$(cert_der "$d")" ] \
      || die "$f is the development kernel certificate $d of this build tree: a release image must not hand it to the kernel; name the release's module signing certificate in HPM_KERNEL_CERTS"
  done
done

key_der() {
  local d
  [ -r "$1" ] || die "$1: cannot read trusted key"
  d=$(spki "$1") || die "$1: not a PEM public key (openssl pkey -pubin failed)"
  [ -n "$d" ] || die "$1: empty key"
  echo "$d"
}

# emit TABLE PREFIX CONVERT FILE...: each file's DER (CONVERT FILE prints it
# as od does) as an array PREFIXn, then `const hpmboot_key TABLE[]` naming
# them and TABLE's count (TABLE without its final s, _count).
emit() {
  local table=$1 prefix=$2 convert=$3 n=0 der f
  shift 3
  for f in "$@"; do
    der=$("$convert" "$f")
    echo "static const uint8_t $prefix$n[] = {"
    echo "$der" | sed -E 's/ ([0-9a-f]{2})/0x\1,/g'
    echo "};"
    n=$((n + 1))
  done
  echo "const hpmboot_key $table[] = {"
  n=0
  for f in "$@"; do
    echo "  {$prefix$n, sizeof $prefix$n, \"$(basename "$f" | tr -cd 'A-Za-z0-9._-')\"},"
    n=$((n + 1))
  done
  [ $# -gt 0 ] || echo "  {0, 0, 0},"
  echo "};"
  echo "const size_t ${table%s}_count = $#;"
}

tmp=$(mktemp "$out.XXXXXX")
rec=$(mktemp "$out.rec.XXXXXX")
trap 'rm -f "$tmp" "$rec"' EXIT
le() { # le BYTES VALUE: VALUE as BYTES little-endian bytes
  local i
  for ((i = 0; i < $1; i++)); do printf '\\x%02x' $((($2 >> (8 * i)) & 255)); done
}
{
  printf 'HPMKEYS\0'
  printf "$(le 4 1)$(le 4 "$threshold")$(le 4 ${#files[@]})$(le 4 "$flags")"
  for f in "${files[@]}"; do
    [ -r "$f" ] || die "$f: cannot read trusted key"
    name=$(basename "$f" | tr -cd 'A-Za-z0-9._-' | cut -c1-64)
    len=$(openssl pkey -pubin -in "$f" -outform DER 2>/dev/null | wc -c)
    [ "$len" -gt 0 ] || die "$f: not a PEM public key (openssl pkey -pubin failed)"
    printf "$(le 2 "$len")$(le 1 ${#name})%s" "$name"
    openssl pkey -pubin -in "$f" -outform DER 2>/dev/null
  done
} > "$rec"
{
  echo "/* Generated by scripts/hpmboot-trust.sh: do not edit. */"
  echo '#include "hpmboot.h"'
  emit hpmboot_trusted_keys key key_der "${files[@]}"
  emit hpmboot_kernel_certs cert cert_der "${cfiles[@]}"
  echo "const unsigned hpmboot_trust_threshold = $threshold;"
  echo "const char hpmboot_version[] = \"$version\";"
  echo "/* The key record for hpm setup (read from the file, never by hpmboot.efi). */"
  echo "__attribute__((section(\".hpmkeys\"), used, aligned(8)))"
  echo "const uint8_t hpmboot_key_record[] = {"
  od -An -v -tx1 "$rec" | sed -E 's/ ([0-9a-f]{2})/0x\1,/g'
  echo "};"
} > "$tmp"
mv -f "$tmp" "$out"
trap - EXIT
