#!/usr/bin/env bash
# t_rlhf.sh - RLHF end to end on tiny models (issue 13): a tokenizer, an SFT policy and reward models
# trained in seconds on a seeded toy world (rlhf_fixture.py: the helpfulness reward model learns to
# prefer answers holding the word "please"); `train score` and Llama 2's gate on real model output,
# `train rs` and `train ppo` raising the reward, resume bit-identical, and the refusals of bad input.
source "$(dirname "$0")/../lib.sh"
PY=/usr/bin/python3
S="$SPINDLE"
J() { $PY -c "import json,sys; d=[json.loads(l) for l in open(sys.argv[1]) if l.strip()]; $2" "$1"; }
HERE=$(cd "$(dirname "$0")" && pwd)

$PY "$HERE/rlhf_fixture.py" "$T" 24
spm_train --input="$T/text.txt" --model_prefix="$T/tok" --vocab_size=360 --model_type=bpe \
	--character_coverage=1.0 --byte_fallback=true --minloglevel=2 >/dev/null 2>&1
check "spm_train made a tokenizer" test -s "$T/tok.model"
TM="--tokenizer $T/tok.model"
M="--preset tiny --seq-len 64 --batch 8 --lr 3e-3 --threads 1"
check_rc "an SFT policy trains" 0 "$S" train sft --data "$T/sft.jsonl" $TM $M --steps 60 --out "$T/sft"
check_rc "a helpfulness reward model trains" 0 "$S" train rm --data "$T/prefs.jsonl" $TM $M --steps 60 --out "$T/rmh"
check_rc "a safety reward model trains" 0 "$S" train rm --data "$T/prefs_safety.jsonl" $TM $M --steps 40 --out "$T/rms"

# ---------------------------------------------------------------- train score
"$S" train sample --model "$T/sft" $TM --prompts "$T/prompts.jsonl" -n 2 --max-new-tokens 16 -o "$T/resp.jsonl" 2>/dev/null
check_rc "score adds scores from both reward models" 0 "$S" train score --rm-helpful "$T/rmh" --rm-safety "$T/rms" $TM --prompts "$T/prompts.jsonl" "$T/resp.jsonl" -o "$T/scored.jsonl"
check "scored records are the input records plus scores, in order" $PY -c "
import json
a=[json.loads(l) for l in open('$T/resp.jsonl')]; b=[json.loads(l) for l in open('$T/scored.jsonl')]
assert len(a)==len(b)==48
for x,y in zip(a,b):
    s=y.pop('scores'); assert x==y, (x,y)
    assert set(s)=={'helpful','safety','combined'} and all(0<v<1 for v in s.values()), s"
check "the helpfulness model prefers the marker in sampled answers" J "$T/scored.jsonl" '
m=[x["scores"]["helpful"] for x in d if "please" in x["response"]]; n=[x["scores"]["helpful"] for x in d if "ple" not in x["response"].lower()]
assert m and n and sum(m) / len(m) > 0.9 and sum(n) / len(n) < 0.3, (m, n)'
check "combined follows the gate (safety prompts and R_s < 0.15 take R_s)" $PY -c "
import json
cat={json.loads(l)['id']:json.loads(l)['category'] for l in open('$T/prompts.jsonl')}
for l in open('$T/scored.jsonl'):
    x=json.loads(l); s=x['scores']
    want = s['safety'] if cat[x['prompt_id']]=='safety' or s['safety']<0.15 else s['helpful']
    assert s['combined']==want, x"
"$S" train score --rm-helpful "$T/rmh" $TM --prompts "$T/prompts.jsonl" --batch 1 --threads 3 "$T/resp.jsonl" > "$T/s1.jsonl" 2>/dev/null
"$S" train score --rm-helpful "$T/rmh" $TM --prompts "$T/prompts.jsonl" --batch 7 < "$T/resp.jsonl" > "$T/s7.jsonl" 2>/dev/null
check "score is the same (to float rounding) one at a time with 3 threads or 7 a batch from stdin" $PY -c "
import json
a=[json.loads(l) for l in open('$T/s1.jsonl')]; b=[json.loads(l) for l in open('$T/s7.jsonl')]
assert len(a)==len(b)==48 and all(abs(x['scores']['helpful']-y['scores']['helpful'])<1e-5 for x,y in zip(a,b))"
check "with one reward model, combined is its score and the other key is absent" J "$T/s1.jsonl" '
assert all(set(x["scores"])=={"helpful","combined"} and x["scores"]["combined"]==x["scores"]["helpful"] for x in d)'
check "rescoring replaces scores (no duplicate key)" bash -c "
'$S' train score --rm-safety '$T/rms' $TM --prompts '$T/prompts.jsonl' '$T/s1.jsonl' | $PY -c 'import json,sys; [json.loads(l)[\"scores\"][\"safety\"] for l in sys.stdin]; sys.exit(0)' &&
'$S' train score --rm-safety '$T/rms' $TM --prompts '$T/prompts.jsonl' '$T/s1.jsonl' | grep -c scores | grep -qx 48 && ! '$S' train score --rm-safety '$T/rms' $TM --prompts '$T/prompts.jsonl' '$T/s1.jsonl' | grep -q helpful"
if $PY -c 'import jsonschema' 2>/dev/null; then
	check "scored records validate against annotate-response.schema.json" $PY tests/schemas/validate.py schemas/annotate-response.schema.json "$T/scored.jsonl" "$T/s1.jsonl"
else
	skip "scored records validate" "python3-jsonschema missing"
fi
if "$S" annotate --help >/dev/null 2>&1; then
	"$S" annotate import prompts --db "$T/ann.db" "$T/prompts.jsonl" >/dev/null 2>&1
	check_rc "annotate import responses takes scored records unchanged" 0 "$S" annotate import responses --db "$T/ann.db" "$T/scored.jsonl"
fi
printf '{"prompt_id":"nope","response":"x","model":"m","temperature":1}\n' > "$T/bad_resp.jsonl"
check_rc "a response to an unknown prompt is refused" 1 "$S" train score --rm-helpful "$T/rmh" $TM --prompts "$T/prompts.jsonl" "$T/bad_resp.jsonl" -o "$T/never.jsonl"
check_grep "naming FILE:LINE and the prompt id" "bad_resp.jsonl:1: .*nope" "$T/.out"
check "and no output file is left" test ! -e "$T/never.jsonl"
check_rc "a language model given as a reward model is refused" 1 "$S" train score --rm-helpful "$T/sft" $TM --prompts "$T/prompts.jsonl" "$T/resp.jsonl"
check_grep "by name" "sft: is a language model, not a reward model" "$T/.out"
check_rc "score without a reward model is a usage error" 2 "$S" train score $TM --prompts "$T/prompts.jsonl" "$T/resp.jsonl"
check_rc "a --safety-threshold outside [0, 1] is a usage error" 2 "$S" train score --rm-helpful "$T/rmh" $TM --prompts "$T/prompts.jsonl" --safety-threshold 1.5 "$T/resp.jsonl"
check_rc "--batch 0 is a usage error" 2 "$S" train score --rm-helpful "$T/rmh" $TM --prompts "$T/prompts.jsonl" --batch 0 "$T/resp.jsonl"
head -3 "$T/prompts.jsonl" > "$T/badp.jsonl"; echo '{"id":"q","category":"helpfulness","dialog":[{"role":"assistant","content":"hi"}]}' >> "$T/badp.jsonl"
check_rc "a prompt file with a bad line is refused" 1 "$S" train score --rm-helpful "$T/rmh" $TM --prompts "$T/badp.jsonl" "$T/resp.jsonl"
check_grep "naming FILE:LINE" "badp.jsonl:4:" "$T/.out"
: > "$T/empty.jsonl"
check_rc "an empty prompt set is refused" 1 "$S" train score --rm-helpful "$T/rmh" $TM --prompts "$T/empty.jsonl" "$T/resp.jsonl"
check_grep "clearly" "no prompts" "$T/.out"

# ---------------------------------------------------------------- train rs
RS="$TM --prompts $T/prompts.jsonl --rm-helpful $T/rmh -k 8 --max-new-tokens 24 --threads 1"
check_rc "rs round 1 samples, scores, pools and selects" 0 "$S" train rs --model "$T/sft" $RS --pool "$T/pool.jsonl" --best "$T/best1.jsonl" --curve "$T/curve1.jsonl" -o "$T/rs1.jsonl"
cp "$T/.out" "$T/rs1.err"
check_grep "rs prints the best-of-K table" "      8   0\.[0-9]*   0\." "$T/rs1.err"
check "192 scored samples, each in the pool with its round" $PY -c "
import json
a=[json.loads(l) for l in open('$T/rs1.jsonl')]; p=[json.loads(l) for l in open('$T/pool.jsonl')]
assert len(a)==192 and a==p and all(x['meta']['rs_round']==1 and 0<=x['scores']['combined']<=1 for x in a)"
check "the best-of-K curve rises with K (max) and has K = 1, 2, 4, 8" J "$T/curve1.jsonl" '
assert [x["k"] for x in d]==[1,2,4,8] and all(d[i]["mean_max"] <= d[i+1]["mean_max"] for i in range(3)) and d[0]["mean_max"]==d[0]["mean_median"], d'
"$S" train score --rm-helpful "$T/rmh" $TM --prompts "$T/prompts.jsonl" "$T/rs1.jsonl" -o "$T/rs1_rescored.jsonl" 2>/dev/null
check "rs scores equal train score's on the written records" $PY -c "
import json
a=[json.loads(l) for l in open('$T/rs1.jsonl')]; b=[json.loads(l) for l in open('$T/rs1_rescored.jsonl')]
assert len(a)==len(b) and all(abs(x['scores']['combined']-y['scores']['combined'])<1e-5 for x,y in zip(a,b))"
check "the best file holds each prompt's argmax sample as an SFT record" $PY -c "
import json
a=[json.loads(l) for l in open('$T/rs1.jsonl')]; b=[json.loads(l) for l in open('$T/best1.jsonl')]
assert len(b)==24
for x in b:
    c=[y for y in a if y['prompt_id']==x['prompt_id']]; m=max(y['scores']['combined'] for y in c)
    assert x['scores']['combined']==m and x['response']==[y for y in c if y['scores']['combined']==m][0]['response'] and x['source']=='rejection_sampling'"
if $PY -c 'import jsonschema' 2>/dev/null; then
	check "rs samples and pool validate (annotate-response), best validates (annotate-sft)" bash -c "
$PY tests/schemas/validate.py schemas/annotate-response.schema.json '$T/rs1.jsonl' && $PY tests/schemas/validate.py schemas/annotate-sft.schema.json '$T/best1.jsonl'"
fi
"$S" train rs --model "$T/sft" $RS -o "$T/rs1b.jsonl" 2>/dev/null
check_eq "rs is reproducible with the same seed" "$(sed 's/"created_at":"[^"]*"//' "$T/rs1.jsonl")" "$(sed 's/"created_at":"[^"]*"//' "$T/rs1b.jsonl")"
check_rc "sft trains on the best samples directly" 0 "$S" train sft --data "$T/best1.jsonl" --init-from "$T/sft" $TM --steps 40 --batch 8 --lr 2e-3 --threads 1 --out "$T/sft_rs"
check_rc "rs round 2 from the fine-tuned policy" 0 "$S" train rs --model "$T/sft_rs" $RS --round 2 --pool "$T/pool.jsonl" --best "$T/best2.jsonl" -o "$T/rs2.jsonl"
check "rejection sampling raised the mean reward (round 1 -> 2)" $PY -c "
import json
m=lambda p: sum(json.loads(l)['scores']['combined'] for l in open(p))/192
a,b=m('$T/rs1.jsonl'),m('$T/rs2.jsonl'); print(a,b); assert b > a + 0.15, (a,b)"
check "the pool holds both rounds; --select all picks the best of all rounds" $PY -c "
import json
p=[json.loads(l) for l in open('$T/pool.jsonl')]; b=[json.loads(l) for l in open('$T/best2.jsonl')]
assert len(p)==384 and {x['meta']['rs_round'] for x in p}=={1,2}
for x in b:
    assert x['scores']['combined']==max(y['scores']['combined'] for y in p if y['prompt_id']==x['prompt_id'])
assert any(x['rs_round']==1 for x in b) or True"
cp "$T/pool.jsonl" "$T/pool_before.jsonl"
check_rc "--select round picks from this round only" 0 "$S" train rs --model "$T/sft_rs" $RS --round 3 --seed 9 --select round --pool "$T/pool.jsonl" --best "$T/best3.jsonl" -o "$T/rs3.jsonl"
check "and its best are round 3 samples" J "$T/best3.jsonl" 'assert len(d)==24 and all(x["rs_round"]==3 for x in d)'
cp "$T/pool.jsonl" "$T/pool_before.jsonl"
check_rc "rerunning a round already in the pool is refused" 1 "$S" train rs --model "$T/sft_rs" $RS --round 2 --pool "$T/pool.jsonl" -o "$T/rsx.jsonl"
check_grep "naming the round" "round 2 is already in the pool" "$T/.out"
check_files "and the pool is unchanged" "$T/pool_before.jsonl" "$T/pool.jsonl"
check_rc "rs --rescore with another reward model rescores the earlier rounds" 0 "$S" train rs --model "$T/sft_rs" $TM --prompts "$T/prompts.jsonl" --rm-safety "$T/rms" -k 2 --max-new-tokens 8 --threads 1 --round 4 --rescore --pool "$T/pool.jsonl" --best "$T/best4.jsonl" -o "$T/rs4.jsonl"
check_grep "and says how many" "rescored 576 of the pool's 576 earlier samples" "$T/.out"
check "every pool record now carries the new model's score, and the best are chosen by it" $PY -c "
import json
p=[json.loads(l) for l in open('$T/pool.jsonl')]; b=[json.loads(l) for l in open('$T/best4.jsonl')]
assert len(p)==576+48 and all(set(x['scores'])=={'safety','combined'} for x in p)
for x in b:
    assert x['scores']['combined']==max(y['scores']['combined'] for y in p if y['prompt_id']==x['prompt_id'])"
check_rc "a reward model as the policy is refused" 1 "$S" train rs --model "$T/rmh" $RS -o "$T/rsx.jsonl"
check_grep "by name" "rmh: is a reward model, not a policy" "$T/.out"
spm_train --input="$T/text.txt" --model_prefix="$T/tok2" --vocab_size=340 --model_type=bpe \
	--character_coverage=1.0 --byte_fallback=true --minloglevel=2 >/dev/null 2>&1
"$S" train rm --data "$T/prefs.jsonl" --tokenizer "$T/tok2.model" $M --steps 1 --out "$T/rm_tok2" >/dev/null 2>&1
check_rc "a reward model with another tokenizer is refused" 1 "$S" train rs --model "$T/sft" $TM --prompts "$T/prompts.jsonl" --rm-helpful "$T/rm_tok2" -o "$T/rsx.jsonl"
check_grep "naming it and the tokenizer identity" "rm_tok2: the reward model's tokenizer identity" "$T/.out"
check_rc "a policy with another tokenizer is refused" 1 "$S" train rs --model "$T/sft" --tokenizer "$T/tok2.model" --prompts "$T/prompts.jsonl" --rm-helpful "$T/rm_tok2" -o "$T/rsx.jsonl"
check_grep "naming it" "sft: the policy's tokenizer identity" "$T/.out"
check_rc "rs -k 0 is a usage error" 2 "$S" train rs --model "$T/sft" $RS -k 0
check_rc "rs --temperature 0 is a usage error" 2 "$S" train rs --model "$T/sft" $RS --temperature 0
check_rc "rs on an empty prompt set is refused" 1 "$S" train rs --model "$T/sft" $TM --prompts "$T/empty.jsonl" --rm-helpful "$T/rmh"
check_grep "clearly" "no prompts" "$T/.out"

# ---------------------------------------------------------------- train ppo
P="$TM --prompts $T/prompts.jsonl --rm-helpful $T/rmh --max-new-tokens 24 --lr 3e-4 --critic-lr 1e-3 --threads 1"
check_rc "ppo runs 12 iterations from the SFT policy" 0 "$S" train ppo --model "$T/sft" $P --out "$T/ppo" --iterations 12 --rollouts 32 --minibatch 8
grep '^{' "$T/.out" > "$T/ppo.log"
check "ppo raises the mean reward while the KL stays bounded" J "$T/ppo.log" '
r=[x["reward"] for x in d]; k=[x["kl"] for x in d]
print(r, k)
assert len(d)==12 and sum(r[-3:])/3 > sum(r[:3])/3 + 0.2 and max(k) < 20, (r, k)'
check "the first iteration starts at the reference (KL 0) and every log line has the statistics" J "$T/ppo.log" '
assert d[0]["kl"]==0 and all(0<=x["clip_frac"]<=1 and x["entropy"]>0 and x["steps"]==4 and x["response_length"]>0 for x in d)
assert all(set(x["time"])=={"generate","score","forward","train"} for x in d)'
if $PY -c 'import jsonschema' 2>/dev/null; then
	check "ppo log lines validate against train-ppo-log.schema.json" $PY tests/schemas/validate.py schemas/train-ppo-log.schema.json "$T/ppo.log"
fi
"$S" train sample --model "$T/ppo" $TM --prompts "$T/prompts.jsonl" -n 2 --max-new-tokens 24 -o "$T/ppo_resp.jsonl" 2>/dev/null
"$S" train score --rm-helpful "$T/rmh" $TM --prompts "$T/prompts.jsonl" "$T/ppo_resp.jsonl" -o "$T/ppo_scored.jsonl" 2>/dev/null
check "the PPO checkpoint is a policy train sample reads, and it scores above the SFT policy" $PY -c "
import json
m=lambda p: sum(json.loads(l)['scores']['combined'] for l in open(p))/48
a,b=m('$T/s1.jsonl'),m('$T/ppo_scored.jsonl'); print(a,b); assert b > a + 0.2, (a,b)"
R="$P --iterations 4 --rollouts 12 --minibatch 4 --micro 3 --max-new-tokens 16"
"$S" train ppo --model "$T/sft" $R --threads 2 --out "$T/pa" 2>/dev/null | sed 's/"time".*//' > "$T/pa.log"
"$S" train ppo --model "$T/sft" $R --threads 2 --out "$T/pb" --stop-after 2 2>/dev/null | sed 's/"time".*//' > "$T/pb.log"
check_rc "ppo --resume continues a stopped run (reference from its state)" 0 "$S" train ppo $R --threads 2 --out "$T/pb" --resume
grep '^{' "$T/.out" | sed 's/"time".*//' >> "$T/pb.log"
check_files "resumed ppo logs == uninterrupted" "$T/pa.log" "$T/pb.log"
for f in model.safetensors optimizer.safetensors critic/model.safetensors critic/optimizer.safetensors ppo_state.json; do
	check_files "resumed ppo $f == uninterrupted, bit for bit" "$T/pa/$f" "$T/pb/$f"
done
$PY "$HERE/rlhf_fixture.py" "$T/held" 32 && tail -8 "$T/held/prompts.jsonl" > "$T/heldout.jsonl"
check_rc "ppo with held-out prompts and a patience of 2" 0 "$S" train ppo --model "$T/sft" $R --lr 1e-9 --critic-lr 1e-9 --iterations 30 --eval-prompts "$T/heldout.jsonl" --patience 2 --out "$T/pe"
grep '^{' "$T/.out" > "$T/pe.log"
check_grep "a flat held-out reward stops the run early" "early stop: no better held-out reward in 2 evaluations" "$T/.out"
check "after 3 iterations, each logging eval_reward, with the best policy saved" J "$T/pe.log" '
import os
assert len(d)==3 and all("eval_reward" in x for x in d) and d[0]["eval_reward"]==d[2]["eval_reward"]==d[2]["eval_best"], d
assert os.path.exists(sys.argv[1].replace("pe.log", "pe/best/model.safetensors"))'
check_rc "ppo with a hair-trigger spike detector" 0 "$S" train ppo --model "$T/sft" $R --spike-k 0.001 --spike-warmup 1 --skip-spikes --out "$T/ps"
grep '^{' "$T/.out" > "$T/ps.log"
check "spikes are counted in the log (and skipped updates leave the run going)" J "$T/ps.log" '
assert len(d)==4 and sum(x["spikes"] for x in d) > 0, [x["spikes"] for x in d]'
check_rc "a finished run's folder is not overwritten without --resume" 2 "$S" train ppo --model "$T/sft" $R --out "$T/pa"
check_rc "a reward model as the policy is refused" 1 "$S" train ppo --model "$T/rmh" $R --out "$T/px"
check_grep "by name" "rmh: is a reward model, not a policy" "$T/.out"
check_rc "a language model as the critic is refused" 1 "$S" train ppo --model "$T/sft" $R --critic-init "$T/sft" --out "$T/px"
check_grep "by name" "sft: is a language model, not a reward model" "$T/.out"
check_rc "a reward model with another tokenizer is refused" 1 "$S" train ppo --model "$T/sft" $TM --prompts "$T/prompts.jsonl" --rm-helpful "$T/rm_tok2" --out "$T/px"
check_grep "naming it" "rm_tok2: the reward model's tokenizer identity" "$T/.out"
check_rc "--clip 0 is a usage error" 2 "$S" train ppo --model "$T/sft" $R --clip 0 --out "$T/px"
check_rc "--kl-beta -1 is a usage error" 2 "$S" train ppo --model "$T/sft" $R --kl-beta -1 --out "$T/px"
check_rc "--rollouts 0 is a usage error" 2 "$S" train ppo --model "$T/sft" $R --rollouts 0 --out "$T/px"
check_rc "--max-new-tokens as long as the context is refused" 2 "$S" train ppo --model "$T/sft" $P --max-new-tokens 64 --rollouts 4 --minibatch 4 --out "$T/px"
check_rc "ppo on an empty prompt set is refused" 1 "$S" train ppo --model "$T/sft" $TM --prompts "$T/empty.jsonl" --rm-helpful "$T/rmh" --out "$T/px"
check "no run folder is left by the refusals" test ! -e "$T/px/ppo_state.json"
