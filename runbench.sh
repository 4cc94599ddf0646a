#!/bin/sh
# Runs the lcsock-vs-net benchmarks as recorded in BENCHMARKS.md.
set -e
cd "$(dirname "$0")"
B="go test -run ^\$ -count 3"
$B -bench 'RoundTrip' -benchtime 2s
$B -bench 'Bulk' -benchtime 16384x
$B -bench 'Connect' -benchtime 2s
$B -bench 'IdleSocketMemory' -benchtime 1x
$B -bench 'Scale10k' -benchtime 100000x
$B -bench 'SmallWrite' -benchtime 1s
$B -bench 'Dispatch' -benchtime 1s
