#!/bin/bash
# Run every test suite, keep going past failures, and end with one line:
#   N passed, N failed
# Each suite reports its own counts; a suite that cannot run at all counts
# as one failure so a broken suite can never look green.
set -u
B=${B:-$(pwd)/build}
R=$B/results
PY=${PYTHON:-/usr/bin/python3}
MAKE=${MAKE:-make}
mkdir -p "$R"
rm -f "$R"/*.txt "$R"/*.xml

total_pass=0
total_fail=0
summary=()

record() { # suite passed failed
  total_pass=$((total_pass + $2))
  total_fail=$((total_fail + $3))
  summary+=("$(printf '  %-12s %4d passed, %d failed' "$1" "$2" "$3")")
}

# A "suite: N passed, M failed" line written by a make target.
from_file() { # suite file status
  local line p f
  if [ -f "$2" ] && line=$(grep -Eo '[0-9]+ passed, [0-9]+ failed' "$2" | tail -1) && [ -n "$line" ]; then
    p=${line%% passed*}
    f=${line#*, }; f=${f%% failed*}
    if [ "$3" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    record "$1" "$p" "$f"
  else
    record "$1" 0 1
  fi
}

from_junit() { # suite xml status
  local counts
  counts=$("$PY" - "$2" <<'PYEOF' 2>/dev/null
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
t = sum(int(s.get("tests", 0)) for s in suites)
f = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
sk = sum(int(s.get("skipped", 0)) for s in suites)
print(t - f - sk, f)
PYEOF
)
  if [ -n "$counts" ]; then
    set -- "$1" $counts "$3"
    local f=$3
    if [ "$4" -ne 0 ] && [ "$4" -ne 5 ] && [ "$f" -eq 0 ]; then f=1; fi
    record "$1" "$2" "$f"
  else
    record "$1" 0 1
  fi
}

step() { echo; echo "=== $* ==="; }

# suite NAME RESULTS DESCRIPTION COMMAND...: run one suite (never stopping
# the others) and count it from what it wrote to RESULTS (a JUnit .xml or a
# "N passed, M failed" .txt).
suite() {
  local name=$1 results=$2 what=$3 st
  shift 3
  step "$what"
  "$@"; st=$?
  case $results in
    *.xml) from_junit "$name" "$results" "$st" ;;
    *)     from_file "$name" "$results" "$st" ;;
  esac
}

step "build"
if $MAKE -s all; then record build 1 0; else record build 0 1; fi

step "core symbol check (EFI build stays inside its seam)"
if $MAKE -s check-core-symbols; then record symbols 1 0; else record symbols 0 1; fi

suite unit "$R/unit.txt" "unit tests: core, host, runtime rooms (cmocka, ASan+UBSan)" $MAKE -s check-unit
suite cli "$R/cli.xml" "hpm-sign CLI tests (pytest)" $MAKE -s check-cli
suite deb "$R/deb.xml" "Debian packages: build, lintian, install into a scratch root (pytest)" $MAKE -s check-deb
suite fuzz "$R/fuzz.txt" "every fuzzer (short runs, one test each)" $MAKE -s check-fuzz
suite hotpatch "$R/hotpatch.xml" "hotpatch engine (real multi-threaded targets, pytest)" $MAKE -s check-hotpatch
suite patchgen "$R/patchgen.xml" "hpm-patchgen diff: crafted programs, one fix applied end to end (pytest)" \
  $MAKE -s check-patchgen
suite realprog "$R/realprog.xml" \
  "real programs: Debian 12 tinyproxy (.deb + dbgsym), memcached, rinetd hotpatched from upstream fixes under load (pytest)" \
  $MAKE -s check-realprog
suite lifecycle "$R/lifecycle.xml" \
  "host lifecycle: boot side, catalog and sources, policy, history, assess/install (pytest, loopback HTTP)" \
  $MAKE -s check-lifecycle
suite fleet "$R/fleet.xml" "fleet: the etcd client and rollouts of simulated hosts against a real 3-member etcd cluster (pytest, loopback)" \
  $MAKE -s check-fleet
suite firmware "$R/firmware.xml" "firmware tests (QEMU + OVMF)" $MAKE -s check-firmware

echo
echo "=== summary ==="
printf '%s\n' "${summary[@]}"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
