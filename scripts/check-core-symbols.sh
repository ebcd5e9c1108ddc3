#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Usage: scripts/check-core-symbols.sh OBJECT...   (NM=nm by default)
#
# Enforces core/'s platform seam on the freestanding (EFI) core objects:
#   - every undefined symbol is core's own (hpm_*, which includes the
#     hpm_sys_* seam), memcpy/memmove/memset/memcmp, mbedtls_* or fdt_*;
#   - every global symbol an object defines is hpm_-prefixed.
# Anything else is listed with the object that references/defines it, and
# the script exits 1.
set -euo pipefail

NM=${NM:-nm}

if [ $# -eq 0 ]; then
  echo "check-core-symbols: no core objects given (is core/*.c empty?)" >&2
  exit 1
fi

bad=0
for obj in "$@"; do
  [ -f "$obj" ] || { echo "check-core-symbols: $obj: no such object" >&2; bad=1; continue; }

  undef=$("$NM" -u "$obj") || { echo "check-core-symbols: $NM -u $obj failed" >&2; exit 1; }
  defs=$("$NM" -g --defined-only "$obj") || { echo "check-core-symbols: $NM -g $obj failed" >&2; exit 1; }

  # Undefined references ("U NAME").
  while read -r _type sym; do
    [ -n "${sym:-}" ] || continue
    case $sym in
      hpm_* | mbedtls_* | fdt_* | memcpy | memmove | memset | memcmp) ;;
      # Defined by the linker itself for PIC code (-fpic global data access).
      _GLOBAL_OFFSET_TABLE_) ;;
      *)
        echo "check-core-symbols: $obj references '$sym': core may only call" \
             "hpm_*, memcpy/memmove/memset/memcmp, mbedtls_* and fdt_*" >&2
        bad=1
        ;;
    esac
  done <<< "$undef"

  # Global definitions (nm -g --defined-only: "ADDR TYPE NAME").
  while read -r _addr type sym; do
    [ -n "${sym:-}" ] || continue
    case $sym in
      hpm_*) ;;
      *)
        echo "check-core-symbols: $obj defines global '$sym' ($type): every global" \
             "symbol of core must start with hpm_ (make it static?)" >&2
        bad=1
        ;;
    esac
  done <<< "$defs"
done

if [ "$bad" -ne 0 ]; then
  echo "check-core-symbols: FAILED" >&2
  exit 1
fi
echo "check-core-symbols: $# objects ok"
