#!/bin/bash
# Workload guest_start: how long from `scripts/sts-vm run` to the script's
# first line running in a fresh guest, cold (a boot) against restored (a
# copy of a guest saved once, --saved-state). One warm-up run of each (the
# first restored run saves the guest), then ROUNDS alternating rounds, the
# order turning each round; medians. Prints a table and one line
#   BENCH workload=guest_start restored_s=... cold_s=... ratio=...
# (ratio = cold_s / restored_s).
#   scripts/bench/guest-start.sh [ROUNDS] [-- sts-vm options...]
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
rounds=${1:-7}
shift || true
[ "${1:-}" = "--" ] && shift
vm_opts=("$@")

log=$(mktemp)
trap 'rm -f "$log"' EXIT

# start_s MODE...: seconds from starting sts-vm until the script printed
# its first line (the host reads the guest's terminal as it comes); when
# it never did, what sts-vm said goes to stderr
start_s() {
  local t0 line t1=""
  : > "$log"
  t0=$(date +%s.%N)
  while IFS= read -r line || [ -n "$line" ]; do
    printf '%s\n' "$line" >> "$log"
    if [ "$line" = "sts-bench: script started" ] && [ -z "$t1" ]; then t1=$(date +%s.%N); fi
  done < <("$top/scripts/sts-vm" -q --timeout 300 "${vm_opts[@]}" "$@" run -e 'print("sts-bench: script started")' 2>&1 || echo "sts-vm exit status $?")
  if [ -z "$t1" ]; then
    echo "guest-start: the script never started (${*:-cold boot}); sts-vm said:" >&2
    tail -n 20 "$log" | sed 's/^/  /' >&2
    exit 1
  fi
  echo "$t1 - $t0" | bc -l
}

median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

start_s > /dev/null                  # warm-up: kernel and base initramfs cached
start_s --saved-state > /dev/null    # warm-up: saves the guest
cold=() restored=()
for ((r = 0; r < rounds; r++)); do
  if ((r % 2 == 0)); then
    cold+=("$(start_s)"); restored+=("$(start_s --saved-state)")
  else
    restored+=("$(start_s --saved-state)"); cold+=("$(start_s)")
  fi
done
c=$(printf '%s\n' "${cold[@]}" | median)
s=$(printf '%s\n' "${restored[@]}" | median)
printf '%-14s %10s %10s\n' "guest start" "median_s" "samples"
printf '%-14s %10.2f %10d\n' cold "$c" "${#cold[@]}" restored "$s" "${#restored[@]}"
printf 'BENCH workload=guest_start restored_s=%.3f cold_s=%.3f ratio=%.2f\n' "$s" "$c" "$(echo "$c / $s" | bc -l)"
