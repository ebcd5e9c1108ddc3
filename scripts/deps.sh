#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# hpm dependency set-up.  Usage: bash scripts/deps.sh DEPSDIR
#
#   1. installs the Debian packages below that are missing (apt-get is only
#      called when something is missing);
#   2. fetches the pinned third-party source tarballs into DEPSDIR/dl and
#      checks their sha256 (Debian pool first, `apt-get source` as fallback);
#   3. unpacks them into DEPSDIR/src/mbedtls-<ver> and DEPSDIR/src/libfdt;
#   4. fetches the Debian kernel the firmware tests boot (the current
#      linux-image-6.1.0-NN-amd64 that linux-image-amd64 depends on) with
#      apt-get download, checks its sha256 against the archive's Packages
#      entry, and extracts vmlinuz + efivarfs.ko into DEPSDIR/kernel.
#
# Idempotent: run it again and it only does what is missing.  Third-party
# sources are never committed: DEPSDIR is git-ignored.
set -euo pipefail

# ---- Debian packages (extend this list; one package per word) ------------
DEB_PACKAGES=(
  build-essential gnu-efi libmbedtls-dev libfdt-dev libcmocka-dev
  python3-pytest python3-pexpect clang libclang-rt-14-dev llvm openssl
  xz-utils curl ca-certificates pkg-config dosfstools mtools ovmf
  qemu-system-x86 qemu-utils sbsigntool efitools
  libelf-dev libdw-dev libzydis-dev libssl-dev busybox-static cpio
  swtpm swtpm-tools tpm2-tools libsqlite3-dev sqlite3 libcurl4-openssl-dev
  libinih-dev libcjson-dev tzdata python3-jsonschema scdoc man-db groff-base
  etcd-server
  # sd_notify/sd_watchdog_enabled for hpm-agent.service (Type=notify, WatchdogSec=): runtime/service.c
  libsystemd-dev
  # the Debian packages (debian/, make deb) and their test (tests/deb): debhelper builds them
  # (dpkg-dev comes with build-essential), lintian checks them, fakeroot lets dpkg install them
  # into a scratch root without root
  debhelper lintian fakeroot
  # one-step HSM signing (hpm-sign --key pkcs11:URI): OpenSSL's pkcs11 engine, and the
  # SoftHSM2 token, pkcs11-tool (opensc) and p11tool (gnutls-bin) the tests use
  softhsm2 libengine-pkcs11-openssl opensc gnutls-bin
  libblkid-dev   # hpm setup: the partition type of a mounted ESP (runtime/boot/setup.c)
  efibootmgr     # hpm setup creates the firmware boot entry with it; copied into the firmware test's guest
  bear           # hpm-patchgen diff --build-cmd records the compile database with it (tools/hpm-patchgen/buildcmd.c)
  fdisk          # sfdisk: the GPT-partitioned ESP disk of firmware-tests/test_setup.py
  # hpm fleet serve: libmicrohttpd serves the status page and metrics (runtime/fleet/serve.c)
  libmicrohttpd-dev
  # its test: Debian's chromium (headless) loads the page, prometheus_client parses the metrics
  chromium python3-prometheus-client
  # hpm-patchgen diff applies .patch files (diff, for line numbers, is essential)
  patch
  # tests/realprog: bear records compile databases; ab (apache2-utils) and memcaslap
  # (libmemcached-tools) are the load generators
  bear apache2-utils libmemcached-tools
  # tests/realprog: build dependencies of tinyproxy (dpkg-buildpackage checks them) and memcached
  asciidoc xmlto libevent-dev libsasl2-dev
)

# ---- pinned sources --------------------------------------------------------
DEBIAN_POOL=http://deb.debian.org/debian/pool/main

MBEDTLS_VERSION=2.28.3
MBEDTLS_TARBALL=mbedtls_${MBEDTLS_VERSION}.orig.tar.gz
MBEDTLS_SHA256=3b4953aa55a681e084d31892d9904cc5328d6b4958ea57b90ae4b4f94ae69a8d
MBEDTLS_URL=$DEBIAN_POOL/m/mbedtls/$MBEDTLS_TARBALL
MBEDTLS_SRCPKG=mbedtls

# libfdt (same API as libfdt-dev 1.6.1) comes from Debian's xen sources: the
# device-tree-compiler tarballs are not in the archive.
XEN_VERSION=4.17.5+72-g01140da4e8
XEN_TARBALL=xen_${XEN_VERSION}.orig.tar.xz
XEN_SHA256=53922f4d0a02c577f2ea9d63f65989cd88715779eebeed879ca1d314103ee06e
XEN_URL=$DEBIAN_POOL/x/xen/$XEN_TARBALL
XEN_SRCPKG=xen

# ---------------------------------------------------------------------------
if [ $# -ne 1 ] || [ -z "$1" ]; then
  echo "usage: bash scripts/deps.sh DEPSDIR" >&2
  exit 2
fi
mkdir -p "$1"
DEPSDIR=$(cd "$1" && pwd)
DL=$DEPSDIR/dl
SRC=$DEPSDIR/src
mkdir -p "$DL" "$SRC"

log() { echo "deps: $*"; }
die() { echo "deps: error: $*" >&2; exit 1; }

if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
else
  command -v sudo >/dev/null 2>&1 || die "not root and sudo is not installed"
  SUDO=(sudo)
fi
as_root() { "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive "$@"; }

APT_UPDATED=0
apt_update() {
  if [ "$APT_UPDATED" -eq 0 ]; then
    as_root apt-get update -q >/dev/null || die "apt-get update failed"
    APT_UPDATED=1
  fi
}

# ---- 1. packages -----------------------------------------------------------
missing=()
for pkg in "${DEB_PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${#missing[@]} packages: ${missing[*]}"
  apt_update
  as_root apt-get install -y -q --no-install-recommends "${missing[@]}" \
    || die "apt-get install failed"
else
  log "${#DEB_PACKAGES[@]} packages present"
fi

# ---- 2. sources ------------------------------------------------------------
sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# Add a deb-src entry mirroring the main archive's deb entry (for the
# apt-get source fallback).  Only when no deb-src entry exists yet.
ensure_deb_src() {
  if grep -rqsE '^(Types:.*deb-src|deb-src[[:space:]])' \
       /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null; then
    return 0
  fi
  local f=/etc/apt/sources.list.d/debian.sources uris="" suites="" comps="" signed=""
  if [ -r "$f" ]; then
    # First deb822 stanza whose URIs is not the security archive.
    eval "$(awk '
      BEGIN { RS=""; FS="\n" }
      {
        u=s=c=k=""; isdeb=0
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^Types:/ && $i ~ /[[:space:]]deb([[:space:]]|$)/) isdeb=1
          if ($i ~ /^URIs:/)       { u=$i; sub(/^URIs:[[:space:]]*/, "", u) }
          if ($i ~ /^Suites:/)     { s=$i; sub(/^Suites:[[:space:]]*/, "", s) }
          if ($i ~ /^Components:/) { c=$i; sub(/^Components:[[:space:]]*/, "", c) }
          if ($i ~ /^Signed-By:/)  { k=$i; sub(/^Signed-By:[[:space:]]*/, "", k) }
        }
        if (isdeb && u != "" && u !~ /security/) {
          printf "uris=\"%s\"; suites=\"%s\"; comps=\"%s\"; signed=\"%s\"\n", u, s, c, k
          exit
        }
      }' "$f")"
  fi
  if [ -z "$uris" ] && [ -r /etc/apt/sources.list ]; then
    read -r uris suites comps < <(awk '$1 == "deb" && $2 !~ /^\[/ && $2 !~ /security/ {
        print $2, $3, $4; exit }' /etc/apt/sources.list) || true
  fi
  [ -n "$uris" ] && [ -n "$suites" ] || die "cannot find the Debian archive entry to mirror as deb-src"
  log "adding a deb-src entry for $uris $suites"
  {
    echo "Types: deb-src"
    echo "URIs: $uris"
    echo "Suites: $suites"
    echo "Components: ${comps:-main}"
    [ -z "$signed" ] || echo "Signed-By: $signed"
  } | "${SUDO[@]}" tee /etc/apt/sources.list.d/hpm-deb-src.sources >/dev/null
  APT_UPDATED=0
}

# fetch NAME TARBALL SHA256 URL SRCPKG: leaves DL/TARBALL with the right hash.
fetch() {
  local name=$1 tarball=$2 want=$3 url=$4 srcpkg=$5
  local dest=$DL/$tarball got
  if [ -f "$dest" ]; then
    got=$(sha256_of "$dest")
    [ "$got" = "$want" ] && return 0
    log "$tarball: hash mismatch ($got), fetching again"
    rm -f "$dest"
  fi
  local tmp=$DL/.tmp.$tarball.$$
  rm -f "$tmp"
  log "fetching $tarball"
  if ! curl -fsSL --retry 3 --connect-timeout 20 -o "$tmp" "$url"; then
    rm -f "$tmp"
    log "$name: direct download failed, trying apt-get source"
    ensure_deb_src
    apt_update
    local sdir
    sdir=$(mktemp -d "$DL/.apt-source.XXXXXX")
    chmod 755 "$sdir" # readable by apt's _apt sandbox user
    (cd "$sdir" && apt-get source -q --download-only "$srcpkg" >/dev/null) \
      || { rm -rf "$sdir"; die "$name: apt-get source --download-only $srcpkg failed"; }
    [ -f "$sdir/$tarball" ] \
      || { rm -rf "$sdir"; die "$name: apt-get source did not provide $tarball"; }
    mv "$sdir/$tarball" "$tmp"
    rm -rf "$sdir"
  fi
  got=$(sha256_of "$tmp")
  if [ "$got" != "$want" ]; then
    rm -f "$tmp"
    die "sha256 mismatch for $tarball: expected $want, got $got"
  fi
  mv -f "$tmp" "$dest"
}

fetch mbedtls "$MBEDTLS_TARBALL" "$MBEDTLS_SHA256" "$MBEDTLS_URL" "$MBEDTLS_SRCPKG"
fetch libfdt "$XEN_TARBALL" "$XEN_SHA256" "$XEN_URL" "$XEN_SRCPKG"

# ---- 3. unpack -------------------------------------------------------------
# Each unpacked tree carries a marker holding the sha256 it came from; a tree
# without the right marker is rebuilt from scratch (temp dir, then rename).
MARKER=.hpm-source-sha256

unpacked_ok() { [ -f "$1/$MARKER" ] && [ "$(cat "$1/$MARKER")" = "$2" ]; }

# mbedTLS: the whole tree (the tarball's single top folder).
MBEDTLS_DIR=$SRC/mbedtls-$MBEDTLS_VERSION
if ! unpacked_ok "$MBEDTLS_DIR" "$MBEDTLS_SHA256"; then
  tmp=$(mktemp -d "$SRC/.tmp.mbedtls.XXXXXX")
  tar -xzf "$DL/$MBEDTLS_TARBALL" -C "$tmp"
  top=$(find "$tmp" -mindepth 1 -maxdepth 1 -type d)
  [ -n "$top" ] && [ "$(echo "$top" | wc -l)" -eq 1 ] && [ -f "$top/include/mbedtls/version.h" ] \
    || { rm -rf "$tmp"; die "$MBEDTLS_TARBALL: unexpected layout"; }
  echo "$MBEDTLS_SHA256" > "$top/$MARKER"
  rm -rf "$MBEDTLS_DIR"
  mv "$top" "$MBEDTLS_DIR"
  rm -rf "$tmp"
fi
grep -q "MBEDTLS_VERSION_STRING *\"$MBEDTLS_VERSION\"" "$MBEDTLS_DIR/include/mbedtls/version.h" \
  || die "$MBEDTLS_DIR is not mbedTLS $MBEDTLS_VERSION"
log "mbedtls $MBEDTLS_VERSION ok"

# libfdt: xen/common/libfdt/*.[ch] and xen/include/xen/libfdt/*.h, flattened.
# Xen's libfdt_env.h is left out on purpose: it pulls in Xen headers, and the
# sources include it as "libfdt_env.h" (their own folder is searched first),
# so the EFI build's own efi/libfdt_env.h could not win if it were there.
LIBFDT_DIR=$SRC/libfdt
if ! unpacked_ok "$LIBFDT_DIR" "$XEN_SHA256"; then
  tmp=$(mktemp -d "$SRC/.tmp.libfdt.XXXXXX")
  tar -xJf "$DL/$XEN_TARBALL" -C "$tmp" --wildcards --no-wildcards-match-slash \
    '*/xen/common/libfdt/*.c' '*/xen/common/libfdt/*.h' '*/xen/include/xen/libfdt/*.h'
  mkdir "$tmp/out"
  find "$tmp" -path "$tmp/out" -prune -o -type f \( -name '*.c' -o -name '*.h' \) \
       ! -name libfdt_env.h -exec cp {} "$tmp/out/" \;
  for f in fdt.c fdt_ro.c fdt_wip.c fdt_sw.c fdt_rw.c fdt_strerror.c fdt_check.c \
           fdt.h libfdt.h libfdt_internal.h; do
    [ -f "$tmp/out/$f" ] || { rm -rf "$tmp"; die "$XEN_TARBALL: $f missing"; }
  done
  echo "$XEN_SHA256" > "$tmp/out/$MARKER"
  rm -rf "$LIBFDT_DIR"
  mv "$tmp/out" "$LIBFDT_DIR"
  rm -rf "$tmp"
fi
log "libfdt (xen $XEN_VERSION) ok"

# ---- tests/realprog: Debian 12 source packages, pinned -------------------
# NAME POOL-DIR VERSION SHA256-OF-THE-.DSC: the .dsc is checked against its
# pinned sha256, and every file it lists against the .dsc's Checksums-Sha256
# (dpkg-source -x checks them again when the test unpacks the package).
REALPROG_DSCS=(
  "tinyproxy t/tinyproxy 1.11.1-2.1+deb12u1 8741be861e85204fa49be56fe782c9b5a57c4d5843d1937dc9c75d4c47b902d9"
  "memcached m/memcached 1.6.18-1 0bd1bdc252f699ef4bcf083b39650a18b11e8d4aed8564bd702a7092d392b1f7"
  "rinetd r/rinetd 0.73-1 950f6edb778dbaeb914a78abc1b56d6349382db51b2a896f3a2cb201d4ee295d"
)
fetch_dsc() { # NAME POOL-DIR VERSION SHA256
  local name=$1 dir=$2 ver=$3 sha=$4 dsc f fsha
  dsc=${name}_${ver}.dsc
  fetch "$name" "$dsc" "$sha" "$DEBIAN_POOL/$dir/$dsc" "$name"
  while read -r fsha _ f; do
    fetch "$name" "$f" "$fsha" "$DEBIAN_POOL/$dir/$f" "$name"
  done < <(awk '/^Checksums-Sha256:/ { on = 1; next } on && /^ / { print $1, $2, $3; next } { on = 0 }' "$DL/$dsc")
}
for entry in "${REALPROG_DSCS[@]}"; do
  # shellcheck disable=SC2086 # four words
  fetch_dsc $entry
done
log "${#REALPROG_DSCS[@]} source packages of tests/realprog ok"

# A package of the archive at one version, downloaded into DL and checked
# against the sha256 of the archive's (signed) Packages index; a copy already
# in DL with that sha256 is reused.
fetch_archive_deb() { # PACKAGE VERSION -> path of the checked .deb in DL
  local pkg=$1 ver=$2 info sha deb sdir got
  info=$(apt-cache show "$pkg=$ver" 2>/dev/null) || { apt_update; info=$(apt-cache show "$pkg=$ver"); } \
    || die "$pkg $ver is not in the archive index (apt-cache show $pkg=$ver)"
  sha=$(sed -n 's/^SHA256: //p' <<< "$info" | head -n1)
  [[ $sha =~ ^[0-9a-f]{64}$ ]] || die "$pkg $ver: no SHA256 in the archive index"
  deb=$DL/${pkg}_${ver}_amd64.deb
  if [ ! -f "$deb" ] || [ "$(sha256_of "$deb")" != "$sha" ]; then
    rm -f "$deb"
    log "fetching $pkg $ver" >&2
    sdir=$(mktemp -d "$DL/.apt-download.XXXXXX")
    chmod 755 "$sdir"
    (cd "$sdir" && apt-get download -q "$pkg=$ver" >/dev/null) \
      || { rm -rf "$sdir"; die "apt-get download $pkg=$ver failed"; }
    mv "$sdir"/*.deb "$deb.tmp" && rm -rf "$sdir"
    got=$(sha256_of "$deb.tmp")
    [ "$got" = "$sha" ] || { rm -f "$deb.tmp"; die "sha256 mismatch for $pkg: expected $sha, got $got"; }
    mv -f "$deb.tmp" "$deb"
  fi
  echo "$deb"
}

# ---- 4. the firmware tests' Linux kernel ------------------------------------
# Not pinned to one build: Debian replaces kernel packages on security
# updates and removes the old ones from the archive.  The meta package names
# the current one; its sha256 comes from the (signed) archive index.  The
# extracted kernel is never installed on this machine.
KDIR=$DEPSDIR/kernel
kpkg=$(apt-cache show --no-all-versions linux-image-amd64 2>/dev/null \
         | sed -n 's/^Depends:.*\(linux-image-6\.1\.0-[0-9]*-amd64\).*/\1/p' | head -n1)
if [ -z "$kpkg" ]; then
  apt_update
  kpkg=$(apt-cache show --no-all-versions linux-image-amd64 \
           | sed -n 's/^Depends:.*\(linux-image-6\.1\.0-[0-9]*-amd64\).*/\1/p' | head -n1)
fi
[ -n "$kpkg" ] || die "cannot resolve the kernel package from linux-image-amd64"
kinfo=$(apt-cache show --no-all-versions "$kpkg") || die "apt-cache show $kpkg failed"
kver=$(sed -n 's/^Version: //p' <<< "$kinfo" | head -n1)
ksha=$(sed -n 's/^SHA256: //p' <<< "$kinfo" | head -n1)
[ -n "$kver" ] && [[ $ksha =~ ^[0-9a-f]{64}$ ]] || die "$kpkg: no version/SHA256 in the archive index"
kabi=${kpkg#linux-image-}
if ! unpacked_ok "$KDIR" "$ksha"; then
  kdeb=$(fetch_archive_deb "$kpkg" "$kver")
  tmp=$(mktemp -d "$DEPSDIR/.tmp.kernel.XXXXXX")
  dpkg -x "$kdeb" "$tmp/x" || { rm -rf "$tmp"; die "dpkg -x $kdeb failed"; }
  mkdir "$tmp/out"
  cp "$tmp/x/boot/vmlinuz-$kabi" "$tmp/out/vmlinuz" \
    && cp "$tmp/x/lib/modules/$kabi/kernel/fs/efivarfs/efivarfs.ko" "$tmp/out/efivarfs.ko" \
    || { rm -rf "$tmp"; die "$kpkg: vmlinuz or efivarfs.ko missing"; }
  echo "$kpkg $kver" > "$tmp/out/VERSION"
  echo "$ksha" > "$tmp/out/$MARKER"
  rm -rf "$KDIR"
  mv "$tmp/out" "$KDIR"
  rm -rf "$tmp"
  # Keep only the current kernel package in DL.
  find "$DL" -maxdepth 1 -name 'linux-image-*.deb' ! -name "$(basename "$kdeb")" -delete
fi
log "kernel $(cat "$KDIR/VERSION") ok"

# ---- 5. the same kernel's headers, for building livepatch modules ----------
# linux-headers-<abi> (its Makefile includes the -common tree) and
# linux-kbuild (scripts, modpost) of exactly the kernel fetched in step 4:
# the package names follow from its ABI and the version is the image's, each
# .deb checked against the archive's Packages entry and extracted with dpkg -x
# into one root, DEPSDIR/kernel-headers, never installed.  The packages refer
# to each other by absolute paths (/usr/src/..., /usr/lib/linux-kbuild-6.1);
# the links below make those paths resolve inside the root.
# Build a module with: make -C DEPSDIR/kernel-headers/build M=<dir>
KHDIR=$DEPSDIR/kernel-headers
kbuild_series=$(sed -n 's/^\([0-9]*\.[0-9]*\)\..*/\1/p' <<< "$kver")
hpkgs=("linux-headers-$kabi" "linux-headers-${kabi%-*}-common" "linux-kbuild-$kbuild_series")
hsum="$kver $ksha 2"
if ! unpacked_ok "$KHDIR" "$hsum"; then
  tmp=$(mktemp -d "$DEPSDIR/.tmp.kernel-headers.XXXXXX")
  for p in "${hpkgs[@]}"; do
    deb=$(fetch_archive_deb "$p" "$kver")
    dpkg -x "$deb" "$tmp/root" || { rm -rf "$tmp"; die "dpkg -x $deb failed"; }
  done
  hdir=$tmp/root/usr/src/linux-headers-$kabi
  [ -f "$hdir/Makefile" ] && [ -d "$tmp/root/usr/lib/linux-kbuild-$kbuild_series" ] \
    || { rm -rf "$tmp"; die "headers of $kabi: Makefile or linux-kbuild-$kbuild_series missing"; }
  # Absolute links inside the packages (scripts -> /usr/lib/linux-kbuild-*)
  # become links relative to the root, and the root's own /usr/src and
  # /usr/lib are reached from where the packages' Makefiles expect them.
  find "$tmp/root" -type l | while read -r l; do
    t=$(readlink "$l")
    case $t in /*) ln -sfn "$(realpath -m --relative-to="$(dirname "$l")" "$tmp/root$t")" "$l" ;; esac
  done
  # The headers' Makefile includes the -common one by absolute path: make it
  # relative to its own folder.
  sed -i 's|^include /usr/src/\(linux-headers-[^/]*-common\)/Makefile$|include $(dir $(realpath $(lastword $(MAKEFILE_LIST))))../\1/Makefile|' "$hdir/Makefile"
  grep -q '^include $(dir' "$hdir/Makefile" || { rm -rf "$tmp"; die "$hdir/Makefile: unexpected include line"; }
  ln -s "usr/src/linux-headers-$kabi" "$tmp/root/build"
  echo "$kabi" > "$tmp/root/RELEASE"
  echo "$hsum" > "$tmp/root/$MARKER"
  rm -rf "$KHDIR"
  mv "$tmp/root" "$KHDIR"
  rm -rf "$tmp"
  find "$DL" -maxdepth 1 \( -name 'linux-headers-*.deb' -o -name 'linux-kbuild-*.deb' \) \
       ! -name "*_${kver}_amd64.deb" -delete
fi
log "kernel headers $kabi $kver ok"
