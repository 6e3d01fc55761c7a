#!/usr/bin/env bash
# t_ckpt_kill.sh - a checkpoint is one consistent unit (issue 19, class 3): files of two saves are
# refused by name on --resume, stale temporary files of a killed save are removed, and runs killed
# with SIGKILL at random moments during --save-every 1 either refuse to resume clearly or continue
# to the same weights, optimizer moments and state as a run never interrupted.
source "$(dirname "$0")/../lib.sh"
S="$SPINDLE"
PY=/usr/bin/python3
ARGS=(--data synthetic:64 --preset tiny --dim 32 --layers 1 --heads 2 --kv-heads 1 --hidden 64 --seq-len 16
      --batch 2 --threads 1 --save-every 1)
N=${CKPT_STEPS:-40}
# the checkpoint minus its save ids: tensor bytes and the trainer state without "checkpoint"
digest() {
	$PY - "$1" <<'PYEOF'
import hashlib, json, struct, sys
d = sys.argv[1]; h = hashlib.sha256()
for name in ("model.safetensors", "optimizer.safetensors"):
    b = open(f"{d}/{name}", "rb").read(); n = struct.unpack("<Q", b[:8])[0]
    head = json.loads(b[8:8 + n]); head.pop("__metadata__", None)
    h.update(json.dumps(head, sort_keys=True).encode()); h.update(b[8 + n:])
s = json.load(open(f"{d}/trainer_state.json")); s.pop("checkpoint", None)
h.update(json.dumps(s, sort_keys=True).encode()); h.update(open(f"{d}/config.json", "rb").read())
print(h.hexdigest())
PYEOF
}

t0=$(date +%s%N)
"$S" train pretrain "${ARGS[@]}" --steps "$N" --out "$T/ref" >/dev/null 2>&1
REF_MS=$(( ($(date +%s%N) - t0) / 1000000 ))
check "an uninterrupted run saves a checkpoint" test -s "$T/ref/trainer_state.json"
REF=$(digest "$T/ref")

# files of two saves: step 5's optimizer with step 6's model and state
"$S" train pretrain "${ARGS[@]}" --steps "$N" --stop-after 5 --out "$T/a" >/dev/null 2>&1
cp -r "$T/a" "$T/a5"
"$S" train pretrain "${ARGS[@]}" --steps "$N" --stop-after 1 --resume --out "$T/a" >/dev/null 2>&1
cp "$T/a5/optimizer.safetensors" "$T/a/optimizer.safetensors"
check_rc "a mixed checkpoint (optimizer of another save) is refused" 1 "$S" train pretrain "${ARGS[@]}" --steps "$N" --resume --out "$T/a"
check_grep "the refusal names the file and says mixed" "optimizer.safetensors: mixed checkpoint" "$T/.out"
cp "$T/a5/model.safetensors" "$T/a/model.safetensors"
check_rc "a mixed checkpoint (model of another save) is refused" 1 "$S" train pretrain "${ARGS[@]}" --steps "$N" --resume --out "$T/a"
check_grep "the refusal names the model file" "model.safetensors: mixed checkpoint" "$T/.out"
# a consistent checkpoint resumes; a killed save's temp file (dead pid) is removed, a live one's kept
cp "$T/a5/"* "$T/a/"
: > "$T/a/.model.safetensors.tmp.999999999.0"
: > "$T/a/.optimizer.safetensors.tmp.$$.3"
check_rc "a consistent checkpoint resumes" 0 "$S" train pretrain "${ARGS[@]}" --steps "$N" --resume --out "$T/a"
check "the temp file of a dead process is removed" test ! -e "$T/a/.model.safetensors.tmp.999999999.0"
check "a live process's temp file is kept" test -e "$T/a/.optimizer.safetensors.tmp.$$.3"
rm -f "$T/a/.optimizer.safetensors.tmp.$$.3"
check_eq "the resumed run ends where the uninterrupted one does" "$REF" "$(digest "$T/a")"

# random SIGKILLs during --save-every 1, then --resume until done
RANDOM=${CKPT_SEED:-7}
kills=0 refused=0 bad=0
for round in $(seq 1 "${CKPT_KILLS:-$([ "${SPINDLE_SLOW:-0}" = 1 ] && echo 12 || echo 4)}"); do
	rm -rf "$T/k"
	while :; do
		[ -s "$T/k/trainer_state.json" ] && r=(--resume) || r=()
		"$S" train pretrain "${ARGS[@]}" --steps "$N" "${r[@]}" --out "$T/k" >/dev/null 2>"$T/k.err" &
		pid=$!
		# a random moment inside the run: 5-95% of an uninterrupted run's time (a fixed range missed
		# every run on a fast machine, where they all ended before the kill)
		ms=$(( REF_MS * (5 + RANDOM % 91) / 100 ))
		sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
		if kill -9 "$pid" 2>/dev/null; then
			wait "$pid" 2>/dev/null
			kills=$((kills + 1))
			continue
		fi
		wait "$pid"
		rc=$?
		[ $rc -eq 0 ] && break
		if grep -q "mixed checkpoint" "$T/k.err"; then refused=$((refused + 1)); rm -rf "$T/k"; continue; fi
		bad=$((bad + 1)); cat "$T/k.err" >&2; break
	done
	[ "$(digest "$T/k")" == "$REF" ] || bad=$((bad + 1))
	ls -a "$T/k" | grep -q '\.tmp\.' && bad=$((bad + 1))
done
echo "# $kills kills, $refused mixed checkpoints refused"
check "the kills happened" test "$kills" -gt 0
check_eq "killed and resumed runs end bit-identical to the uninterrupted one (or refuse clearly)" 0 "$bad"
