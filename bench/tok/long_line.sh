#!/usr/bin/env bash
# bench/tok/long_line.sh - peak memory and time of `spindle tok encode --text` on one long line
# without whitespace (a single BPE chunk: base64, a run of one character) against spm_encode on the
# same line and tokenizer, as ratios (issue 19, class 15). Usage: bench/tok/long_line.sh [MB] [MODEL]
set -euo pipefail
cd "$(dirname "$0")/../.."
MB=${1:-5}
MODEL=${2:-../shared/llama2/tokenizer.model}
S=${SPINDLE:-bin/spindle}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
python3 - "$T" "$MB" <<'PYEOF'
import base64, os, random, sys
d, n = sys.argv[1], int(float(sys.argv[2]) * 1e6)
r = random.Random(1)
open(f"{d}/base64.txt", "w").write(base64.b64encode(r.randbytes(n * 3 // 4)).decode()[:n] + "\n")
open(f"{d}/run.txt", "w").write("a" * n + "\n")
open(f"{d}/prose.txt", "w").write((open("/usr/share/common-licenses/GPL-3").read().replace("\n", " ") * 200)[:n] + "\n")
PYEOF
printf '%-10s %12s %12s %10s %10s %8s %8s\n' line spindle_KB spm_KB spindle_s spm_s mem_x time_x
for f in base64 run prose; do
	read -r st sm < <(/usr/bin/time -f '%e %M' "$S" tok encode -q -m "$MODEL" --text --format bin -o /dev/null "$T/$f.txt" 2>&1 | tail -1)
	read -r rt rm < <(/usr/bin/time -f '%e %M' spm_encode --model="$MODEL" --output_format=id < "$T/$f.txt" 2>&1 >/dev/null | tail -1)
	awk -v f="$f" -v sm="$sm" -v rm="$rm" -v st="$st" -v rt="$rt" 'BEGIN { printf "%-10s %12d %12d %10.2f %10.2f %8.2f %8.2f\n", f, sm, rm, st, rt, sm / rm, st / rt }'
done
