#!/bin/bash
# The whole test suite: Criterion unit tests (ESP vectors, replay window,
# config validation, BPF program), a short run of each fuzz target (libFuzzer,
# ASan, UBSan), then end-to-end tests in network
# namespaces. Prints one line per suite and "N passed, M failed".
# Usage: tests/run.sh [unit|fuzz|e2e] [NAME-FILTER]
set -u
cd "$(dirname "$0")/.."
what=${1:-all}
filter=${2:-}
pass=0 failed=0 failures=()
logdir=$(mktemp -d /tmp/espresso-tests.XXXXXX)

# Sanitizer reports of any process a test starts (daemons in the
# background, espressoctl, unit tests) fail the test, whatever its own
# verdict. ASan and LSan write theirs to files in $sandir, one per process
# (the daemons drop capabilities, hence a directory anyone may write).
# UBSan, linked with ASan, writes to stderr whatever its log_path: the
# test's output is searched for its "FILE:LINE:COL: runtime error:", and
# lib.sh's topo_down copies the daemon logs holding one into $sandir.
# LSan runs at every exit: a daemon must free all it holds on SIGTERM.
sandir=$logdir/sanitizers
mkdir -p "$sandir"
chmod 1777 "$sandir"
ubsan_re='\.(c|h):[0-9]+:[0-9]+: runtime error: '
san_env=(ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=0:log_path=$sandir/asan}"
	UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
	LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$PWD/tests/lsan.supp:print_suppressions=0}"
	ESPRESSO_SAN_DIR="$sandir")

run() { # run NAME CMD...
	local name=$1 t0 rc log r
	shift
	log=$logdir/${name//\//_}.log
	[ -n "$filter" ] && [[ $name != *$filter* ]] && return
	t0=$(date +%s)
	if [[ $name == fuzz/* ]]; then # libFuzzer reports on its own
		"$@" >"$log" 2>&1
	else
		env "${san_env[@]}" "$@" >"$log" 2>&1
	fi
	rc=$?
	if grep -qE "$ubsan_re" "$log"; then
		echo "UBSan report in the test's output (above)" >>"$log"
		[ $rc != 0 ] || rc=99
	fi
	for r in "$sandir"/*; do
		[ -f "$r" ] || continue
		echo "sanitizer report ($r):" >>"$log"
		cat "$r" >>"$log"
		mv "$r" "$logdir/${name//\//_}.$(basename "$r")"
		[ $rc != 0 ] || rc=99
	done
	if [ $rc = 0 ]; then
		pass=$((pass + 1))
		printf 'PASS %-28s %3ss\n' "$name" $(( $(date +%s) - t0 ))
	else
		failed=$((failed + 1))
		failures+=("$name")
		printf 'FAIL %-28s %3ss (rc %d)\n' "$name" $(( $(date +%s) - t0 )) $rc
		tail -40 "$log" | sed 's/^/    /'
	fi
}

if [ "$(id -u)" != 0 ]; then
	echo "tests need root (network namespaces, XDP, AF_XDP)" >&2
	exit 1
fi

[ "${SANITIZE:-}" = 1 ] && echo "(make check SANITIZE=1: espressod, espressoctl and the unit tests built with ASan and UBSan)"
if [ "$what" = all ] || [ "$what" = unit ]; then
	for t in build/tests/test_*; do
		[ -x "$t" ] || continue
		run "unit/$(basename "$t")" "$t" --jobs 1
	done
fi
if [ "$what" = all ] || [ "$what" = fuzz ]; then
	# every parser, FUZZ_SECS each (a crash is a failure). libFuzzer reads
	# every corpus dir and writes new finds to the first: build/corpus/NAME;
	# the seeds in tests/fuzz/corpus/NAME (tests/fuzz/make_seeds.py, and
	# regress-* inputs of bugs found) are only read
	for t in build/fuzz/fuzz_*; do
		[ -x "$t" ] || continue
		name=$(basename "$t")
		seeds=()
		[ -d "tests/fuzz/corpus/$name" ] && seeds=("tests/fuzz/corpus/$name")
		mkdir -p "build/corpus/$name"
		run "fuzz/$name" "$t" -max_total_time="${FUZZ_SECS:-8}" \
			-max_len=4096 "build/corpus/$name" "${seeds[@]}"
	done
fi
if [ "$what" = all ] || [ "$what" = e2e ]; then
	for t in tests/e2e/test_*.sh; do
		run "e2e/$(basename "$t" .sh)" bash "$t"
	done
fi
echo
echo "logs: $logdir"
[ $failed = 0 ] || echo "failed: ${failures[*]}"
echo "$pass passed, $failed failed"
[ $failed = 0 ]
