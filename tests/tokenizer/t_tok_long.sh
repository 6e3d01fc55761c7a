#!/usr/bin/env bash
# t_tok_long.sh - encoding a long line without whitespace (one BPE chunk: a base64 blob, a run of
# one character) is bounded in memory (issue 19, class 15): peak RSS grows by under 30 bytes per
# byte of the line (it was ~50), and the ids stay those of sentencepiece (spm_encode).
source "$(dirname "$0")/../lib.sh"
S=$SPINDLE
PY=/usr/bin/python3
cat /usr/share/common-licenses/GPL-3 /usr/share/common-licenses/Apache-2.0 > "$T/train.txt"
"$S" tok train -q --vocab-size 800 --user-defined-symbols '<tab>,@@' -o "$T/t.model" "$T/train.txt"
MODELS=("$T/t.model")
[ -s "$SHARED/llama2/tokenizer.model" ] && MODELS+=("$SHARED/llama2/tokenizer.model")
$PY - "$T/long.txt" <<'PYEOF'
import random, sys
r = random.Random(19)
with open(sys.argv[1], "w") as f:
    f.write("a" * 30000 + "\n")
    f.write("".join(r.choice("abcdefghijklmnopqrstuvwxyz0123456789+/=") for _ in range(40000)) + "\n")
    f.write("".join(chr(r.choice([0x4E00 + r.randrange(3000), 0x1F600 + r.randrange(50), 0x61 + r.randrange(26),
                                  0x3B1 + r.randrange(20)])) for _ in range(15000)) + "\n")
    f.write("ab" * 10000 + "x" + "ba" * 10000 + "\n")
    f.write("the" + "@@license<tab>" * 400 + "end\n")
    f.write("short words, then " + "Licensor" * 1000 + " and more\n")
PYEOF
command -v spm_encode > /dev/null || { skip "ids equal spm_encode's on long chunks" "no spm_encode"; SKIP_SPM=1; }
for m in "${MODELS[@]}"; do
	[ -n "${SKIP_SPM:-}" ] && break
	"$S" tok encode -q -m "$m" --text "$T/long.txt" | $PY -c "
import json, sys
for l in sys.stdin:
    d = json.loads(l); print(' '.join(map(str, d['ids'] if isinstance(d, dict) else d)))" > "$T/ours.txt"
	spm_encode --model="$m" --output_format=id < "$T/long.txt" > "$T/ref.txt"
	check_files "long chunks encode to spm_encode's ids ($(basename "$m"))" "$T/ref.txt" "$T/ours.txt"
done

# peak memory: a 2 MB line of one character against a one-line baseline
rss() { /usr/bin/time -f %M "$S" tok encode -q -m "$T/t.model" --text --format bin -o "$T/o.bin" "$1" 2>&1 >/dev/null | tail -1; }
echo hi > "$T/tiny.txt"
$PY -c "print('a' * 2000000)" > "$T/a2.txt"
base=$(rss "$T/tiny.txt")
big=$(rss "$T/a2.txt")
per=$(( (big - base) * 1024 / 2000000 ))
echo "# peak RSS $base KiB for one word, $big KiB for a 2 MB word: $per bytes per byte"
if ldd "$S" 2>/dev/null | grep -q libasan; then
	skip "a 2 MB line without whitespace takes under 30 bytes of memory per byte" "ASan build: its allocator's overhead is not the tool's"
else
	check "a 2 MB line without whitespace takes under 30 bytes of memory per byte" test "$per" -lt 30
fi
