#!/usr/bin/env bash
# t_train.sh - `spindle train` end to end on tiny models: the pretrain interface (shards from
# `spindle pack` when it is built in, synthetic rows otherwise), falling loss, checkpoint files,
# resume equal to an uninterrupted run, tokenizer-identity refusal, eval, plot, SFT and reward-model
# training from annotate-format exports, and sampling into annotate response records.
source "$(dirname "$0")/../lib.sh"
PY=/usr/bin/python3
S="$SPINDLE"
J() { $PY -c "import json,sys; d=[json.loads(l) for l in open(sys.argv[1]) if l.strip()]; $2" "$1"; }

check_rc "train --help exits 0" 0 "$S" train --help
check_rc "unknown train command is a usage error" 2 "$S" train frobnicate
check_rc "pretrain without --data is a usage error" 2 "$S" train pretrain --out "$T/x"

# A tokenizer trained on real text (this machine's documentation), small vocabulary for speed.
doc_tokenizer 120 1.0 4000
check "spm_train made a tokenizer" test -s "$T/tok.model"

if "$S" pack --help >/dev/null 2>&1; then
	"$S" tok encode -q -m "$T/tok.model" --format bin "$T/docs.jsonl" | "$S" pack -q -m "$T/tok.model" --seq-len 65 -o "$T/shards"
	DATA="$T/shards" DROP=0.3
	check_rc "pretrain (acceptance interface) on packed shards" 0 \
		"$S" train pretrain --data "$DATA" --preset tiny --steps 40 --lr 3e-3 --out "$T/run"
	cp "$T/.out" "$T/log.txt"
	if [ -s ../shared/llama2/tokenizer.model ]; then
		check_rc "shards made with another tokenizer are refused" 1 \
			"$S" train pretrain --data "$DATA" --preset tiny --steps 2 --out "$T/bad" --tokenizer ../shared/llama2/tokenizer.model
		check_grep "the refusal names the tokenizer mismatch" "tokenizer" "$T/.out"
	else
		skip "shards made with another tokenizer are refused" "no ../shared/llama2"
	fi
	check_rc "eval on held-out shards" 0 "$S" train eval --model "$T/run" --data "$DATA" --max-batches 2
	cp "$T/.out" "$T/eval.out"
	check "eval prints loss and perplexity" $PY -c "
import json,sys,math; d=json.loads(open('$T/eval.out').read().strip().splitlines()[-1]); assert d['tokens']>0 and abs(math.exp(d['loss'])-d['perplexity'])<1e-2*d['perplexity']"
	# half-precision checkpoints (as HuggingFace publishes Llama): BF16 and F16 copies of the model
	# (rounded by numpy) must evaluate exactly like F32 files holding the same rounded values
	$PY - "$T/run" "$T" <<'PYEOF'
import json, os, shutil, struct, sys
import numpy as np
src, out = sys.argv[1], sys.argv[2]
f = open(os.path.join(src, "model.safetensors"), "rb")
n = struct.unpack("<Q", f.read(8))[0]
head = json.loads(f.read(n))
data = f.read()
def write(d, tensors, dtype):
    os.makedirs(d, exist_ok=True)
    shutil.copy(os.path.join(src, "config.json"), d)
    h, blobs, at = {"__metadata__": {"format": "pt"}}, [], 0
    for name, arr in tensors:
        b = arr.tobytes()
        h[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [at, at + len(b)]}
        blobs.append(b)
        at += len(b)
    j = json.dumps(h).encode()
    j += b" " * (-len(j) % 8)
    with open(os.path.join(d, "model.safetensors"), "wb") as g:
        g.write(struct.pack("<Q", len(j)) + j + b"".join(blobs))
ts = [(k, np.frombuffer(data[v["data_offsets"][0]:v["data_offsets"][1]], "<f4").reshape(v["shape"]))
      for k, v in head.items() if k != "__metadata__"]
u = [(k, a.view("<u4")) for k, a in ts]
bf = [(k, ((x + 0x7FFF + ((x >> 16) & 1)) >> 16).astype("<u2")) for k, x in u]   # round to nearest even
write(os.path.join(out, "m_bf16"), bf, "BF16")
write(os.path.join(out, "m_bf16_f32"), [(k, (x.astype("<u4") << 16).view("<f4")) for k, x in bf], "F32")
write(os.path.join(out, "m_f16"), [(k, a.astype("<f2")) for k, a in ts], "F16")
write(os.path.join(out, "m_f16_f32"), [(k, a.astype("<f2").astype("<f4")) for k, a in ts], "F32")
write(os.path.join(out, "m_f64"), [(k, a.astype("<f8")) for k, a in ts], "F64")
PYEOF
	for m in m_bf16 m_bf16_f32 m_f16 m_f16_f32 m_f64; do
		"$S" train eval --model "$T/$m" --data "$DATA" --max-batches 2 > "$T/$m.eval" 2>/dev/null
	done
	check "a BF16 checkpoint loads (evaluates)" test -s "$T/m_bf16.eval"
	check_files "BF16 checkpoint == F32 of the same bf16 values" "$T/m_bf16.eval" "$T/m_bf16_f32.eval"
	check_files "F16 checkpoint == F32 of the same f16 values" "$T/m_f16.eval" "$T/m_f16_f32.eval"
	"$S" train eval --model "$T/run" --data "$DATA" --max-batches 2 > "$T/m_f32.eval" 2>/dev/null
	check_files "F64 checkpoint of the F32 weights == the F32 checkpoint" "$T/m_f64.eval" "$T/m_f32.eval"
	# a sharded checkpoint (model.safetensors.index.json + two files, as HuggingFace splits big models)
	$PY - "$T/m_bf16" "$T/m_shard" <<'PYEOF'
import json, os, shutil, struct, sys
src, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
shutil.copy(os.path.join(src, "config.json"), out)
f = open(os.path.join(src, "model.safetensors"), "rb")
n = struct.unpack("<Q", f.read(8))[0]
head = json.loads(f.read(n))
data = f.read()
names = [k for k in head if k != "__metadata__"]
parts, wmap = [names[: len(names) // 2], names[len(names) // 2 :]], {}
for i, part in enumerate(parts):
    fn = "model-%05d-of-%05d.safetensors" % (i + 1, len(parts))
    h, blobs, at = {"__metadata__": {"format": "pt"}}, [], 0
    for k in part:
        b = data[head[k]["data_offsets"][0]:head[k]["data_offsets"][1]]
        h[k] = {"dtype": head[k]["dtype"], "shape": head[k]["shape"], "data_offsets": [at, at + len(b)]}
        blobs.append(b)
        at += len(b)
        wmap[k] = fn
    j = json.dumps(h).encode()
    j += b" " * (-len(j) % 8)
    open(os.path.join(out, fn), "wb").write(struct.pack("<Q", len(j)) + j + b"".join(blobs))
json.dump({"metadata": {}, "weight_map": wmap}, open(os.path.join(out, "model.safetensors.index.json"), "w"))
PYEOF
	"$S" train eval --model "$T/m_shard" --data "$DATA" --max-batches 2 > "$T/m_shard.eval" 2>/dev/null
	check_files "a sharded (index.json) BF16 checkpoint == the one-file one" "$T/m_shard.eval" "$T/m_bf16.eval"
	sed -i 's/model-00002-of-00002/model-00001-of-00002/g' "$T/m_shard/model.safetensors.index.json"
	check_rc "an index that maps tensors to a file without them is refused" 1 "$S" train eval --model "$T/m_shard" --data "$DATA" --max-batches 2
	check_grep "the refusal names the index" "model.safetensors.index.json" "$T/.out"
	# hostile indexes: clear refusals naming the file, never a read outside the folder
	for bad in 'not json' '{"weight_map": []}' '{"weight_map": {"model.norm.weight": "../m_bf16/model.safetensors"}}' \
		'{"weight_map": {"model.norm.weight": 7}}' '{"weight_map": {}}'; do
		printf '%s' "$bad" > "$T/m_shard/model.safetensors.index.json"
		check_rc "a bad index is refused: $bad" 1 "$S" train eval --model "$T/m_shard" --data "$DATA" --max-batches 2
		check_grep "and the refusal names it: $bad" "model.safetensors.index.json" "$T/.out"
	done
	check "the rounding to half precision changed the loss a little" $PY -c "
import json; a, b = (json.loads(open(p).read().strip().splitlines()[-1])['loss'] for p in ('$T/m_f32.eval', '$T/m_bf16.eval')); assert a != b and abs(a - b) < 0.05, (a, b)"
	# resume in the middle of a shard sequence: 64-token sequences, 32-token rows, 3 rows a batch
	R2="--data $DATA --preset tiny --seq-len 32 --batch 3 --steps 6 --lr 1e-3 --threads 1"
	"$S" train pretrain $R2 --out "$T/sa" 2>/dev/null | sed 's/"tokens_per_s":[0-9.]*,//' > "$T/sa.log"
	"$S" train pretrain $R2 --out "$T/sb" --stop-after 3 2>/dev/null | sed 's/"tokens_per_s":[0-9.]*,//' > "$T/sb.log"
	check_grep "the checkpoint's shard cursor is inside a sequence" '"row":1' "$T/sb/trainer_state.json"
	"$S" train pretrain $R2 --out "$T/sb" --resume 2>/dev/null | sed 's/"tokens_per_s":[0-9.]*,//' >> "$T/sb.log"
	check_files "resumed shard run logs the same steps" "$T/sa.log" "$T/sb.log"
	check_files "resumed shard run ends with identical weights" "$T/sa/model.safetensors" "$T/sb/model.safetensors"
	check_rc "doc-mask pretraining runs" 0 "$S" train pretrain --data "$DATA" --preset tiny --steps 3 --doc-mask --out "$T/run_dm"
else
	skip "pretrain on packed shards" "spindle pack not built in"
	DATA=synthetic:500 DROP=0.02
	"$S" train pretrain --data "$DATA" --preset tiny --steps 40 --lr 3e-3 --out "$T/run" --tokenizer "$T/tok.model" >"$T/log.txt" 2>&1
fi
grep '^{"step"' "$T/log.txt" > "$T/log.jsonl"
check_eq "one JSON object per step with a loss" 40 "$(J "$T/log.jsonl" 'print(sum(1 for x in d if "loss" in x and "lr" in x and "grad_norm" in x and "tokens_per_s" in x and "cursor" in x))')"
check "loss falls over 40 steps" J "$T/log.jsonl" 'a=sum(x["loss"] for x in d[:5])/5; b=sum(x["loss"] for x in d[-5:])/5; assert b < a - '$DROP', (a, b)'
check "checkpoint has model.safetensors and config.json" test -s "$T/run/model.safetensors" -a -s "$T/run/config.json"
check "config.json is a HuggingFace Llama config" $PY -c "
import json; c=json.load(open('$T/run/config.json')); assert c['model_type']=='llama' and c['architectures']==['LlamaForCausalLM'] and c['num_key_value_heads']<c['num_attention_heads']"
check "model.safetensors has HuggingFace tensor names" $PY -c "
import json,struct; f=open('$T/run/model.safetensors','rb'); n=struct.unpack('<Q',f.read(8))[0]; h=json.loads(f.read(n))
for k in ['model.embed_tokens.weight','model.layers.1.self_attn.k_proj.weight','model.layers.0.mlp.down_proj.weight','model.norm.weight','lm_head.weight']: assert k in h, k"

# Resume: 3 steps, stop, resume to 6 == 6 steps straight (losses and weights bit for bit).
R="--data synthetic:500 --preset tiny --seq-len 32 --batch 2 --steps 6 --lr 1e-2"
"$S" train pretrain $R --out "$T/ra" 2>/dev/null | grep '^{"step"' | sed 's/"tokens_per_s":[0-9.]*,//' > "$T/ra.log"
"$S" train pretrain $R --out "$T/rb" --stop-after 3 2>/dev/null | grep '^{"step"' | sed 's/"tokens_per_s":[0-9.]*,//' > "$T/rb.log"
"$S" train pretrain $R --out "$T/rb" --resume 2>/dev/null | grep '^{"step"' | sed 's/"tokens_per_s":[0-9.]*,//' >> "$T/rb.log"
check_files "resumed run logs the same steps as the uninterrupted run" "$T/ra.log" "$T/rb.log"
check_files "resumed run ends with identical weights" "$T/ra/model.safetensors" "$T/rb/model.safetensors"
check_files "resumed run ends with identical optimizer state" "$T/ra/optimizer.safetensors" "$T/rb/optimizer.safetensors"

check_rc "plot writes a PNG" 0 "$S" train plot "$T/log.jsonl" -o "$T/loss.png"
check_grep "plot prints a sparkline" "▁" "$T/.out"
check "the PNG is a PNG" $PY -c "assert open('$T/loss.png','rb').read(8)==b'\x89PNG\r\n\x1a\n'"

# Sampling from the pretrained model (raw completion) and from prompts (annotate response records).
check_rc "sample completes a raw prompt" 0 "$S" train sample --model "$T/run" --tokenizer "$T/tok.model" --prompt "The license" --max-new-tokens 12 --seed 3
check_grep "the completion is printed as JSON" '"completion"' "$T/.out"
cat > "$T/prompts.jsonl" <<'P'
{"id":"p1","category":"helpfulness","dialog":[{"role":"user","content":"How do I read a manual page?"}]}
{"id":"p2","category":"safety","dialog":[{"role":"system","content":"Be brief."},{"role":"user","content":"What is a license?"},{"role":"assistant","content":"A grant of rights."},{"role":"user","content":"Which one is free?"}]}
P
"$S" train sample --model "$T/run" --tokenizer "$T/tok.model" --prompt "The" --max-new-tokens 12 --temperature 0 > "$T/greedy.txt" 2>/dev/null
"$S" train sample --model "$T/run" --tokenizer "$T/tok.model" --prompt "The" --max-new-tokens 12 --temperature 1.5 --top-k 1 --seed 5 > "$T/topk1.txt" 2>/dev/null
check "sample --top-k 1 is greedy at any temperature" test -s "$T/greedy.txt"
check_files "sample --top-k 1 == --temperature 0" "$T/greedy.txt" "$T/topk1.txt"
check_rc "sample writes response records for prompts" 0 "$S" train sample --model "$T/run" --tokenizer "$T/tok.model" --prompts "$T/prompts.jsonl" -n 2 --max-new-tokens 8 --variant step-40 -o "$T/responses.jsonl"
check "response records have annotate's required fields" J "$T/responses.jsonl" '
assert len(d)==4
for r in d:
    assert set(r) <= {"id","prompt_id","response","model","variant","temperature","top_p","top_k","max_new_tokens","seed","n_tokens","finish_reason","created_at","meta"}, r
    assert r["prompt_id"] in ("p1","p2") and isinstance(r["response"],str) and r["model"] and r["temperature"]>=0 and r["finish_reason"] in ("stop","length")'
if /usr/bin/python3 -c 'import jsonschema' 2>/dev/null; then
	check "response records validate against annotate-response.schema.json" $PY tests/schemas/validate.py schemas/annotate-response.schema.json "$T/responses.jsonl"
	grep '^{' "$T/log.txt" > "$T/log_all.jsonl"
	check "step logs validate against train-log.schema.json" $PY tests/schemas/validate.py schemas/train-log.schema.json "$T/log_all.jsonl"
else
	skip "schema validation" "python3-jsonschema missing"
fi
"$S" train sample --model "$T/run" --tokenizer "$T/tok.model" --prompts "$T/prompts.jsonl" --max-new-tokens 8 --seed 5 -o "$T/s1.jsonl" 2>/dev/null
"$S" train sample --model "$T/run" --tokenizer "$T/tok.model" --prompts "$T/prompts.jsonl" --max-new-tokens 8 --seed 5 -o "$T/s2.jsonl" 2>/dev/null
check_eq "sampling is reproducible with a seed" "$(cut -d, -f1-2 "$T/s1.jsonl")" "$(cut -d, -f1-2 "$T/s2.jsonl")"

# SFT and reward models from annotate-format exports.
$PY - "$T" <<'P'
import json, sys
t = sys.argv[1]
topics = ["manual pages", "licenses", "compression", "the shell", "packages", "fonts"]
with open(t + "/sft.jsonl", "w") as f:
    for i, x in enumerate(topics * 3):
        f.write(json.dumps({"id": f"sft-{i}", "prompt_id": f"p{i}", "category": "helpfulness", "dialog": [{"role": "user", "content": f"Tell me about {x}."}],
                            "response": f"Here is a short note about {x}.", "source": "written", "annotator": "a", "created_at": "2026-01-01T00:00:00Z"}) + "\n")
ratings = ["significantly_better", "better", "slightly_better", "negligibly_better"]
with open(t + "/prefs.jsonl", "w") as f:
    for i, x in enumerate(topics * 4):
        f.write(json.dumps({"id": f"pref-{i}", "prompt_id": f"p{i}", "category": ["helpfulness", "safety"][i % 2],
                            "dialog": [{"role": "user", "content": f"Explain {x}."}], "chosen": f"{x} explained clearly and politely.",
                            "rejected": "no", "chosen_id": "c", "rejected_id": "r", "rating": ratings[i % 4], "level": 3 - i % 4,
                            "margin": [1, 2/3, 1/3, 0][i % 4], "annotator": "a", "created_at": "2026-01-01T00:00:00Z"}) + "\n")
P
check_rc "sft from the pretrained checkpoint" 0 "$S" train sft --data "$T/sft.jsonl" --tokenizer "$T/tok.model" --init-from "$T/run" --steps 30 --batch 2 --lr 3e-3 --out "$T/sft"
grep '^{"step"' "$T/.out" > "$T/sft.log"
check "sft loss falls" J "$T/sft.log" 'assert d[-1]["loss"] < d[0]["loss"] - 0.5, (d[0]["loss"], d[-1]["loss"])'
check_rc "reward model on helpfulness pairs" 0 "$S" train rm --data "$T/prefs.jsonl" --tokenizer "$T/tok.model" --init-from "$T/run" --category helpfulness --margins large --steps 30 --batch 4 --lr 3e-3 --out "$T/rm"
grep '^{"step"' "$T/.out" > "$T/rm.log"
check_grep "rm counted only helpfulness pairs" "12 preference pairs" "$T/.out"
check "rm loss falls and accuracy is logged" J "$T/rm.log" 'assert "accuracy" in d[-1] and d[-1]["loss"] < d[0]["loss"], (d[0], d[-1])'
check "rm checkpoint is a sequence classifier with a score head" $PY -c "
import json,struct; c=json.load(open('$T/rm/config.json')); assert c['architectures']==['LlamaForSequenceClassification'] and c['num_labels']==1
f=open('$T/rm/model.safetensors','rb'); n=struct.unpack('<Q',f.read(8))[0]; h=json.loads(f.read(n)); assert h['score.weight']['shape']==[1,c['hidden_size']] and 'lm_head.weight' not in h"
check_rc "rm eval reports accuracy per rating" 0 "$S" train eval --model "$T/rm" --data "$T/prefs.jsonl" --tokenizer "$T/tok.model" --category helpfulness
cp "$T/.out" "$T/rm_eval.out"
check "rm eval output has every rating level" $PY -c "
import json; d=json.loads(open('$T/rm_eval.out').read().strip().splitlines()[-1]); assert d['pairs']==12 and set(d['by_rating'])=={'significantly_better','better','slightly_better','negligibly_better'} and d['accuracy']>0.5, d"

# Hostile checkpoints.
head -c 100 "$T/run/model.safetensors" > "$T/trunc.safetensors"
mkdir -p "$T/broken" && cp "$T/run/config.json" "$T/broken/" && cp "$T/trunc.safetensors" "$T/broken/model.safetensors"
check_rc "a truncated model.safetensors is refused with exit 1" 1 "$S" train sample --model "$T/broken" --tokenizer "$T/tok.model" --prompt x
check_grep "the error names the file" "broken/model.safetensors" "$T/.out"
