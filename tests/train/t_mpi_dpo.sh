#!/usr/bin/env bash
# t_mpi_dpo.sh - `spindle train dpo` data-parallel under mpirun (issue 18): 2 ranks with --accum 1
# equal one process with --accum 2 bit for bit (step log with its reward_* statistics, held-out eval
# lines, weights, optimizer moments, trainer state, the reference cache); rank 0 alone logs, prints
# and saves; a 2-rank run stopped with --stop-after and resumed equals the straight run, and its
# checkpoint continues in one process with --accum 2. Fixtures as t_dpo.sh's: a tokenizer from this
# machine's documentation, a tiny SFT model, a dozen preference pairs.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/mpi_lib.sh"
PY=/usr/bin/python3
S="$SPINDLE"
mpi_available || { skip "mpirun data-parallel dpo" "$MPI_SKIP_REASON"; exit 0; }

# step lines without what differs between runs (speed) or layouts (ranks, comm_s)
steps() { grep '^{"step"' "$1" | sed -E 's/"tokens_per_s":[0-9.e+-]*,//; s/,"ranks":[0-9]+,"comm_s":[0-9.]+(,"buckets":[0-9]+,"buckets_early":[0-9]+)?//'; }

doc_tokenizer 60 0.9995
check "spm_train made a tokenizer" test -s "$T/tok.model"
$PY tests/train/dpo_fixture.py "$T" 11 --mixed-ratings   # 11 pairs: steps of 4 pairs cross epochs mid-step
M="--dim 32 --layers 2 --heads 4 --kv-heads 2 --hidden 64 --seq-len 48"
"$S" train sft --data "$T/sft.jsonl" --tokenizer "$T/tok.model" $M --steps 6 --batch 4 --lr 3e-3 --threads 1 --out "$T/sft" >/dev/null 2>&1
check "a tiny SFT model to start from" test -s "$T/sft/model.safetensors"

D=(--data "$T/prefs.jsonl" --tokenizer "$T/tok.model" --init-from "$T/sft" --threads 1 --steps 6 --batch 2
	--lr 3e-3 --beta 0.5 --margins small --save-every 0)

# 1. 2 ranks x 2 pairs == 1 process x 2 pairs x accum 2: the gradient summed in rank order, the
# statistics (loss, reward_*) summed over ranks before rank 0 logs them
"$S" train dpo "${D[@]}" --accum 2 --eval-data "$T/heldout.jsonl" --out "$T/a1" > "$T/a1.log" 2>"$T/a1.err"
mpi_run 2 "$S" train dpo "${D[@]}" --eval-data "$T/heldout.jsonl" --out "$T/a2" > "$T/a2.log" 2>"$T/a2.err"
check_eq "2-rank dpo ran 6 steps, rank 0 alone logging them, with its ranks" 6 "$(grep -c '^{"step".*"ranks":2' "$T/a2.log")"
check_eq "... and no step line without them (no other rank logs)" 6 "$(grep -c '^{"step"' "$T/a2.log")"
check "the implicit rewards moved (the reward_* comparison below means something)" $PY -c "
import json, sys
s = [json.loads(l) for l in open('$T/a2.log') if l.startswith('{\"step\"')]
assert all('reward_margin' in x for x in s), s[0]
assert abs(s[-1]['reward_margin']) > 1e-3 and s[-1]['reward_chosen'] != s[-1]['reward_rejected'], s[-1]"
check_files "2 ranks log 1 process's steps (loss, reward_accuracy/chosen/rejected/margin, cursor)" \
	<(steps "$T/a1.log") <(steps "$T/a2.log")
check_files "... and its held-out eval lines, before and after" <(grep '"event":"eval"' "$T/a1.log") <(grep '"event":"eval"' "$T/a2.log")
check_eq "... two of them (rank 0's)" 2 "$(grep -c '"event":"eval"' "$T/a2.log")"
check_files "2 ranks end with 1 process's weights, bit for bit" "$T/a1/model.safetensors" "$T/a2/model.safetensors"
check_files "... and its optimizer moments" "$T/a1/optimizer.safetensors" "$T/a2/optimizer.safetensors"
check_files "... and its trainer state (step, RNG, cursor, save id)" "$T/a1/trainer_state.json" "$T/a2/trainer_state.json"
# the exchange overlapped with the backward in small buckets (one per stage), with --accum 2 (the
# earlier micro-batch joins each bucket as it starts): the bits of the exchange after the backward
mpi_run_noleak 2 "$S" train dpo "${D[@]}" --accum 2 --bucket-mb 0.002 --out "$T/b2" > "$T/b2.log" 2>/dev/null
mpi_run_noleak 2 "$S" train dpo "${D[@]}" --accum 2 --bucket-mb 0 --out "$T/b0" > "$T/b0.log" 2>/dev/null
check_eq "--bucket-mb 0.002: a bucket per stage of the backward (2 layers + head + embeddings), every step" 6 \
	"$(grep -c '"buckets":4,' "$T/b2.log")"
check_files "overlapped dpo logs the steps of the exchange after the backward" <(steps "$T/b0.log") <(steps "$T/b2.log")
check_files "... and ends with its weights, bit for bit" "$T/b0/model.safetensors" "$T/b2/model.safetensors"
check_files "... and its reference cache" "$T/a1/dpo_ref_logps.json" "$T/a2/dpo_ref_logps.json"
check_eq "the run folder's train_log.jsonl has each step once" 6 "$(grep -c '^{"step"' "$T/a2/train_log.jsonl")"
check_eq "rank 0 alone prints the reference's message" 1 "$(grep -c 'log-probabilities of 11 pairs computed' "$T/a2.err")"
check_eq "... and the final one" 1 "$(grep -c 'checkpoint in' "$T/a2.err")"
check "data-parallel dpo step logs validate against train-log.schema.json" $PY tests/schemas/validate.py \
	schemas/train-log.schema.json "$T/a2/train_log.jsonl"
# another 2-rank run finds the cache rank 0 wrote (every rank reads it)
mkdir -p "$T/a3" && cp "$T/a2/dpo_ref_logps.json" "$T/a3/"
mpi_run_noleak 2 "$S" train dpo "${D[@]}" --steps 1 --out "$T/a3" > /dev/null 2>"$T/a3.err"
check_grep "a 2-rank run reads the cache rank 0 wrote" "read from the cache" "$T/a3.err"

# 2. resume: 2 ranks stopped after 3 steps, resumed by 2 ranks == the straight 2-rank run; the
# same checkpoint continued by one process with --accum 2 (the same global batch) == it too
mpi_run_noleak 2 "$S" train dpo "${D[@]}" --stop-after 3 --out "$T/r2" > "$T/r2.log" 2>/dev/null
cp -r "$T/r2" "$T/r1"
mpi_run_noleak 2 "$S" train dpo "${D[@]}" --resume --out "$T/r2" >> "$T/r2.log" 2>"$T/r2.err"
check_grep "the resumed 2-rank run says where it resumes" "resuming .* at step 3" "$T/r2.err"
check_files "stopped and resumed 2-rank dpo logs the straight run's steps" <(steps "$T/a2.log") <(steps "$T/r2.log")
check_files "... ends with its weights" "$T/a2/model.safetensors" "$T/r2/model.safetensors"
check_files "... and optimizer moments" "$T/a2/optimizer.safetensors" "$T/r2/optimizer.safetensors"
check_eq "... and its train_log.jsonl has each step once" \
	"$(steps "$T/a2/train_log.jsonl" | head -6)" "$(steps "$T/r2/train_log.jsonl")"
"$S" train dpo "${D[@]}" --accum 2 --resume --out "$T/r1" > /dev/null 2>"$T/r1.err"
check_grep "a 2-rank checkpoint resumes in one process" "resuming .* at step 3" "$T/r1.err"
check_files "... and ends with the 2-rank run's weights, bit for bit" "$T/a2/model.safetensors" "$T/r1/model.safetensors"
