#!/usr/bin/env bash
# tests/run.sh - runs the whole suite: Criterion unit binaries and fuzz replays (given as arguments),
# then every CLI test script tests/**/t_*.sh. Each CLI script reports cases as "ok - NAME" or
# "not ok - NAME" (tests/lib.sh). Ends with one line "check: N passed, N failed[, N skipped]".
set -u
cd "$(dirname "$0")/.."
: "${SPINDLE:?SPINDLE must name the binary under test}"
export SPINDLE
pass=0 fail=0 skip=0
failed=()
log=$(mktemp)
trap 'rm -f "$log"' EXIT

for bin in "$@"; do
	name=${bin##*/}
	case $name in
	*.unit)
		# Criterion: count its tests from the synthesis line.
		LSAN_OPTIONS=${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$PWD/tests/lsan-criterion.supp "$bin" --jobs 2 >"$log" 2>&1
		rc=$?
		line=$(grep -a 'Synthesis' "$log" | tail -1)
		p=$(sed -n 's/.*Passing: \([0-9]*\).*/\1/p' <<<"$line")
		f=$(sed -n 's/.*Failing: \([0-9]*\).*/\1/p' <<<"$line")
		c=$(sed -n 's/.*Crashing: \([0-9]*\).*/\1/p' <<<"$line")
		p=${p:-0} f=$(( ${f:-0} + ${c:-0} ))
		if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
		pass=$((pass + p)) fail=$((fail + f))
		echo "unit $name: $p passed, $f failed"
		if [ "$f" -ne 0 ]; then cat "$log"; failed+=("$name"); fi
		;;
	*.replay)
		fz=${name%.replay}
		if "$bin" tests/fuzz/corpus/"$fz" >"$log" 2>&1; then
			pass=$((pass + 1)); echo "ok - fuzz replay $fz ($(tail -1 "$log"))"
		else
			fail=$((fail + 1)); failed+=("fuzz $fz"); echo "not ok - fuzz replay $fz"; tail -20 "$log"
		fi
		;;
	esac
done

for t in $(find tests -name 't_*.sh' | sort); do
	bash "$t" >"$log" 2>&1
	rc=$?
	p=$(grep -c '^ok - ' "$log")
	f=$(grep -c '^not ok - ' "$log")
	s=$(grep -c '^skip - ' "$log")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; echo "not ok - $t exited $rc" >>"$log"; fi
	pass=$((pass + p)) fail=$((fail + f)) skip=$((skip + s))
	echo "cli $t: $p passed, $f failed, $s skipped"
	if [ "$f" -ne 0 ]; then grep -v '^ok - ' "$log" | tail -40; failed+=("$t"); fi
done

[ ${#failed[@]} -eq 0 ] || echo "FAILED: ${failed[*]}"
[ -z "${TALLY:-}" ] || echo "$pass $fail $skip" >> "$TALLY"
echo "check: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
