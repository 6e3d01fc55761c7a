# tests/lib.sh - helpers for CLI test scripts (tests/**/t_*.sh), sourced by each.
# A script runs cases; each reports "ok - NAME", "not ok - NAME" or "skip - NAME (why)".
# $SPINDLE is the binary under test; $T is a fresh temporary folder removed on exit.
set -u
: "${SPINDLE:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/bin/spindle}"
T=$(mktemp -d "${TMPDIR:-/tmp}/spindle-test.XXXXXX")
trap 'rm -rf "$T"' EXIT
SHARED=${SPINDLE_SHARED:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/shared}

ok() { echo "ok - $1"; }
not_ok() { echo "not ok - $1"; shift; [ $# -gt 0 ] && printf '  %s\n' "$@"; true; }
skip() { echo "skip - $1 ($2)"; }

# check NAME COMMAND...: the command must succeed.
check() { local n=$1; shift; if "$@" >"$T/.out" 2>&1; then ok "$n"; else not_ok "$n" "$(tail -5 "$T/.out")"; fi; }
# check_eq NAME EXPECTED ACTUAL
check_eq() { if [ "$2" == "$3" ]; then ok "$1"; else not_ok "$1" "expected: $(head -c 300 <<<"$2")" "actual:   $(head -c 300 <<<"$3")"; fi; }
# check_files NAME A B: files identical
check_files() { if cmp -s "$2" "$3"; then ok "$1"; else not_ok "$1" "$(diff <(head -c 2000 "$2") <(head -c 2000 "$3") | head -10)"; fi; }
# check_grep NAME PATTERN FILE
check_grep() { if grep -q -- "$2" "$3"; then ok "$1"; else not_ok "$1" "no '$2' in: $(head -c 400 "$3")"; fi; }
# check_rc NAME EXPECTED_RC COMMAND...: exit status must be EXPECTED_RC; output in $T/.out
check_rc() { local n=$1 want=$2; shift 2; "$@" >"$T/.out" 2>&1; local rc=$?; if [ "$rc" -eq "$want" ]; then ok "$n"; else not_ok "$n" "exit $rc, wanted $want" "$(tail -3 "$T/.out")"; fi; }

# A small real corpus: this machine's documentation (N docs), cached per run in $T.
doc_corpus() { "$SPINDLE" corpus -q --max-docs "${1:-200}" --max-bytes 200000 /usr/share/doc > "$T/docs.jsonl"; echo "$T/docs.jsonl"; }
# doc_tokenizer N COVERAGE [CHARS]: spm_train's 500-piece BPE tokenizer with byte fallback ($T/tok.model)
# on N documents of this machine's documentation ($T/docs.jsonl), one line of at most CHARS (3000)
# characters each ($T/docs.txt).
doc_tokenizer() {
	doc_corpus "$1" >/dev/null
	/usr/bin/python3 -c "
import json
with open('$T/docs.jsonl') as f, open('$T/docs.txt','w') as o:
    for l in f: o.write(json.loads(l)['text'].replace('\\n',' ')[:${3:-3000}]+'\\n')"
	spm_train --input="$T/docs.txt" --model_prefix="$T/tok" --vocab_size=500 --model_type=bpe \
		--character_coverage="$2" --byte_fallback=true --minloglevel=2 >/dev/null 2>&1
}
