#!/bin/bash
# make check-long: the crash-safety scenarios run long (not part of
# `make check`, which runs them short), then their figures.
#
#   hpm killed:  tests/hotpatch/test_crash.py, in rounds of LONG_ROUND runs,
#                round r with HPM_CRASH_SEED = seed + r:
#                  test_real_sigkill_at_random_instants (HPM_SIGKILL_RUNS),
#                  LONG_SIGKILL_RUNS runs in all (default 200);
#                  test_killed_at_every_step (HPM_CRASH_RUNS),
#                  LONG_CRASH_RUNS runs in all (default 200).
#   power cut:   firmware-tests/test_boot_powercut.py, LONG_POWERCUT_RUNS runs
#                (default 100; QEMU + OVMF under TCG, two at a time), run i
#                with the seed HPM_POWERCUT_SEED = seed + i.
#   kernel part: firmware-tests/test_kernel_hotpatch.py::
#                test_kernel_killed_at_seeded_instants, hpm killed during a
#                livepatch load, replace and revert, LONG_KKILL_RUNS runs
#                (default 60) in one guest boot, HPM_KKILL_SEED = seed.
#
# The seed is LONG_SEED, else the current time; it is printed first.  Every
# test appends its figures (hpmtest.Figures) to $B/results/long.jsonl; the
# summary (scripts/long_figures.py) prints per scenario the runs, the kills
# that landed inside a transition, the outcomes (old/new state afterwards)
# and the failures with the one command that replays each, and writes it to
# $B/results/long.txt.  A pytest run that fails keeps its folder under
# $B/long/ (state dirs, target binaries; cores go where
# /proc/sys/kernel/core_pattern says: `ulimit -c unlimited` is set here);
# folders of passing runs are removed.  Exit status 0 only if every run of
# every scenario was done and passed.
set -u
B=${B:-$(pwd)/build}
PY=${PYTHON:-/usr/bin/python3}
SEED=${LONG_SEED:-$(date +%s)}
ROUND=${LONG_ROUND:-50}
SIGKILL_RUNS=${LONG_SIGKILL_RUNS:-200}
CRASH_RUNS=${LONG_CRASH_RUNS:-200}
POWERCUT_RUNS=${LONG_POWERCUT_RUNS:-100}
KKILL_RUNS=${LONG_KKILL_RUNS:-60}
R=$B/results
W=$B/long
F=$R/long.jsonl

for v in SEED ROUND SIGKILL_RUNS CRASH_RUNS POWERCUT_RUNS KKILL_RUNS; do
  if ! [[ ${!v} =~ ^[0-9]+$ ]]; then
    echo "check-long: LONG_$v=${!v} is not a whole number: set it to one (make check-long LONG_$v=N)" >&2
    exit 2
  fi
done
if [ "$ROUND" -lt 2 ] || [ $((ROUND % 2)) -ne 0 ]; then
  echo "check-long: LONG_ROUND=$ROUND: a round runs half its runs per target variant; set an even number >= 2" >&2
  exit 2
fi

mkdir -p "$R"
rm -f "$F" "$R/long.txt"
rm -rf "$W"
mkdir -p "$W"
ulimit -c unlimited
export HPM_BUILD=$B HPM_FIGURES=$F
echo "check-long: seed $SEED (replay all: make check-long LONG_SEED=$SEED)"
echo "check-long: $SIGKILL_RUNS SIGKILL runs and $CRASH_RUNS every-step runs in rounds of $ROUND, $POWERCUT_RUNS power cuts," \
  "$KKILL_RUNS kernel-part kills"

failed_runs=0
# pytest_run NAME ENV... -- ARGS...: one pytest run in its own folder, kept if it fails.
pytest_run() {
  local name=$1 dir=$W/$1 st
  shift
  local envs=()
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done
  shift
  echo
  echo "=== $name: ${envs[*]}"
  env "${envs[@]}" "$PY" -m pytest -q -p no:cacheprovider --basetemp="$dir" "$@"
  st=$?
  if [ "$st" -eq 0 ]; then
    rm -rf "$dir"
  else
    echo "check-long: $name failed (pytest exit $st); its folder is kept: $dir"
    failed_runs=$((failed_runs + 1))
  fi
}

# rounds TEST RUNS_VAR TOTAL: ceil(TOTAL / ROUND) rounds of TEST.
rounds() {
  local test=$1 var=$2 total=$3 r=0 left=$3 n
  while [ "$left" -gt 0 ]; do
    n=$ROUND
    [ "$left" -lt "$n" ] && n=$(((left + 1) / 2 * 2))
    pytest_run "$test-seed$((SEED + r))" HPM_CRASH_SEED=$((SEED + r)) "$var=$n" -- \
      "tests/hotpatch/test_crash.py::$test"
    left=$((left - n))
    r=$((r + 1))
  done
}

rounds test_real_sigkill_at_random_instants HPM_SIGKILL_RUNS "$SIGKILL_RUNS"
rounds test_killed_at_every_step HPM_CRASH_RUNS "$CRASH_RUNS"
if [ "$POWERCUT_RUNS" -gt 0 ]; then
  pytest_run "powercut-seed$SEED" HPM_POWERCUT_SEED="$SEED" HPM_POWERCUT_RUNS="$POWERCUT_RUNS" -- \
    firmware-tests/test_boot_powercut.py -s
fi
if [ "$KKILL_RUNS" -gt 0 ]; then
  pytest_run "kernel-kill-seed$SEED" HPM_KKILL_SEED="$SEED" HPM_KKILL_RUNS="$KKILL_RUNS" -- \
    firmware-tests/test_kernel_hotpatch.py::test_kernel_killed_at_seeded_instants -s
fi

echo
"$PY" "$(dirname "$0")/long_figures.py" "$F" --seed "$SEED" \
  --expect sigkill="$SIGKILL_RUNS" --expect every-step="$CRASH_RUNS" --expect powercut="$POWERCUT_RUNS" --expect kernel-kill="$KKILL_RUNS" \
  --pytest-failures "$failed_runs" | tee "$R/long.txt"
exit "${PIPESTATUS[0]}"
