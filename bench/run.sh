#!/bin/bash
# Verify throughput of core (host build, -O2) against sha256sum and
# openssl dgst -sha256 on the same payload, in the same run.
# Figures, not pass/fail: the exit status is 0 unless something could not
# run at all.
#   bench/run.sh <bench_verify binary> <work dir> [MiB (256)] [runs (3)]
set -euo pipefail
BIN=$1
DIR=$2
MIB=${3:-256}
RUNS=${4:-3}
mkdir -p "$DIR"

# The files are made once per size (they are large and deterministic).
if [ ! -f "$DIR/bench.hpm" ] || [ ! -f "$DIR/payload.bin" ] ||
   [ "$(stat -c %s "$DIR/payload.bin")" != $((MIB * 1024 * 1024)) ] ||
   [ "$BIN" -nt "$DIR/bench.hpm" ]; then
  "$BIN" make "$DIR" "$MIB"
fi
PAYLOAD=$DIR/payload.bin
BYTES=$(stat -c %s "$PAYLOAD")

# Warm the page cache for everyone.
cat "$PAYLOAD" "$DIR/bench.hpm" > /dev/null

best_of() { # command...: best wall time in seconds over RUNS runs
  local best="" t0 t1 t
  for _ in $(seq "$RUNS"); do
    t0=$(date +%s.%N)
    "$@" > /dev/null
    t1=$(date +%s.%N)
    t=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }')
    if [ -z "$best" ] || awk -v t="$t" -v b="$best" 'BEGIN { exit !(t < b) }'; then best=$t; fi
  done
  echo "$best"
}

# (awk, not bc: bc is not in a minimal Debian)
mbs() { awk -v n="$1" -v t="$2" 'BEGIN { printf "%.1f", n / t / 1e6 }'; } # bytes seconds -> MB/s
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }

declare -A secs
while read -r name bytes t; do
  [ "$bytes" = "$BYTES" ] || { echo "bench: $name measured $bytes bytes, expected $BYTES" >&2; exit 1; }
  secs[$name]=$t
done < <("$BIN" run "$DIR" "$RUNS")
secs[sha256sum]=$(best_of sha256sum "$PAYLOAD")
secs[openssl]=$(best_of openssl dgst -sha256 "$PAYLOAD")

echo
echo "verify throughput, $((BYTES / 1024 / 1024)) MiB embedded payload, best of $RUNS (MB = 10^6 bytes)"
printf '  %-36s %9s MB/s  %8s s\n' \
  "hpm_container_verify (core, -O2)" "$(mbs "$BYTES" "${secs[hpm_container_verify]}")" "${secs[hpm_container_verify]}" \
  "sha256sum $(sha256sum --version | head -n1 | awk '{print $NF}')" "$(mbs "$BYTES" "${secs[sha256sum]}")" "${secs[sha256sum]}" \
  "openssl dgst -sha256 ($(openssl version | awk '{print $2}'))" "$(mbs "$BYTES" "${secs[openssl]}")" "${secs[openssl]}"
echo "  breakdown (in-process, same bytes):"
printf '  %-36s %9s MB/s  %8s s\n' \
  "  mbedtls_sha256 alone" "$(mbs "$BYTES" "${secs[mbedtls_sha256]}")" "${secs[mbedtls_sha256]}" \
  "  hpm_sha256" "$(mbs "$BYTES" "${secs[hpm_sha256]}")" "${secs[hpm_sha256]}"
# throughput ratios (= inverse time ratios)
r_sum=$(ratio "${secs[sha256sum]}" "${secs[hpm_container_verify]}")
r_ossl=$(ratio "${secs[openssl]}" "${secs[hpm_container_verify]}")
r_mbed=$(ratio "${secs[mbedtls_sha256]}" "${secs[hpm_container_verify]}")
echo "  ratio hpm/sha256sum      $r_sum"
echo "  ratio hpm/openssl        $r_ossl"
echo "  ratio hpm/mbedtls_sha256 $r_mbed  (1.0 = verification costs no more than hashing the payload)"
if awk -v r="$r_sum" 'BEGIN { exit !(r >= 0.9) }'; then
  echo "  goal hpm >= 0.9 x sha256sum: met"
else
  echo "  goal hpm >= 0.9 x sha256sum: NOT met"
fi
