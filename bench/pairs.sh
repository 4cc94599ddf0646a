#!/usr/bin/env bash
# Interleaved pairs: how BENCHMARKS.md's fifth measurement was taken.
#
#   bench/pairs.sh ROUNDS BENCHTIME BASE CANDIDATE...
#   bench/pairs.sh 9 1s Connect/raw Connect/lcsock Connect/lcsock-client
#   bench/pairs.sh 9 16384x Bulk/raw Bulk/lcsock-lend
#
# It builds the test binary once, then runs BASE and each CANDIDATE one
# after the other, ROUNDS times, each in a fresh process, BASE first in
# odd rounds and last in even ones. Every round
# gives a ratio CANDIDATE rate / BASE rate (BASE ns/op / CANDIDATE ns/op)
# measured moments apart, so that the slow drift of a shared machine
# (raw bulk moved between 1.4 and 2.9 GB/s within one session here)
# cancels out; the median of those ratios is the figure reported.
set -euo pipefail
if [ $# -lt 4 ]; then
	sed -n '3,5p' "$0" >&2
	exit 2
fi
rounds=$1 benchtime=$2 base=$3
shift 3
cd "$(dirname "$0")/.."
bin=$(mktemp -d)/lcsock.test
trap 'rm -rf "$(dirname "$bin")"' EXIT
go test -c -o "$bin" .

nsop() { # benchmark → ns/op of one run
	"$bin" -test.timeout 10m -test.run '^$' -test.bench "^Benchmark$1\$" \
		-test.benchtime "$benchtime" | awk '/^Benchmark/ { print $3 }'
}
median() { # numbers, one per line → "median [min..max]"
	sort -g | awk '{ a[NR] = $1 } END {
		m = NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
		printf "%s [%s..%s]", m, a[1], a[NR] }'
}

declare -A ns ratios
for round in $(seq "$rounds"); do
	# Odd rounds run BASE first, even rounds last: a run that comes
	# second may be slowed by the first, and the order must not favour
	# either side.
	declare -A v=()
	if ((round % 2)); then
		v[$base]=$(nsop "$base")
	fi
	for c in "$@"; do
		v[$c]=$(nsop "$c")
	done
	if ((round % 2 == 0)); then
		v[$base]=$(nsop "$base")
	fi
	b=${v[$base]}
	ns[$base]+="$b"$'\n'
	for c in "$@"; do
		ns[$c]+="${v[$c]}"$'\n'
		ratios[$c]+="$(awk -v b="$b" -v c="${v[$c]}" 'BEGIN { printf "%.3f", b / c }')"$'\n'
	done
done
printf '%s: ns/op %s\n' "$base" "$(printf '%s' "${ns[$base]}" | median)"
for c in "$@"; do
	printf '%s: ns/op %s, ratio to %s %s; rounds: %s\n' "$c" \
		"$(printf '%s' "${ns[$c]}" | median)" "$base" \
		"$(printf '%s' "${ratios[$c]}" | median)" \
		"$(printf '%s' "${ratios[$c]}" | tr '\n' ' ')"
done
