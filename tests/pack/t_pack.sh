#!/usr/bin/env bash
# t_pack.sh - `spindle pack` and `spindle shards` end to end: lossless round trip on real documents
# (checked by an independent Python reader of schemas/shards.md), provenance, compression, token
# widths, bad input, verify on corruption, SIGKILL + resume, --shard + merge, shuffle, stats, cat.
source "$(dirname "$0")/../lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3
READ="$PY $HERE/shards_read.py"
GEN="$PY $HERE/gen_tokens.py"
cd "$T"

# ---------------------------------------------------------------- real documents, byte-level ids
"$SPINDLE" corpus -q --max-docs 150 --max-bytes 20000 /usr/share/doc > docs.jsonl
$PY "$HERE/bytes_jsonl.py" < docs.jsonl > ids.jsonl
BYTES=(--vocab-size 259 --bos-id 1 --eos-id 2)

check "pack real documents (JSONL ids)" "$SPINDLE" pack -q "${BYTES[@]}" --seq-len 256 --shard-size 8 --no-sync -o plain ids.jsonl
$READ docs plain > back.jsonl 2> read.err
check_files "round trip: every document's ids and id come back, in order" ids.jsonl back.jsonl
$PY "$HERE/bytes_jsonl.py" --decode < back.jsonl > text.jsonl
$PY -c '
import json, sys
a = [json.loads(l) for l in open("docs.jsonl")]
b = [json.loads(l) for l in open("text.jsonl")]
sys.exit(0 if [(x["id"], x["text"]) for x in a] == [(y["id"], y["text"]) for y in b] else 1)'
[ $? -eq 0 ] && ok "round trip: the texts decode back exactly" || not_ok "round trip: the texts decode back exactly"
check "verify passes on a fresh dataset" "$SPINDLE" shards verify plain
check_grep "verify reports the sequences it checked" "ok, [0-9]* sequences checked" "$T/.out"

# sequence boundaries: every piece but the first of a sequence starts its document at offset 0, and
# a document continued across sequences resumes exactly where it stopped (the reader checks the
# latter); here: BOS at each document start, lengths add up to the manifest.
$READ seqs plain > seqs.jsonl
$PY - <<'EOF' > bound.txt
import json
man = json.load(open("plain/manifest.json"))
seqs = [json.loads(l) for l in open("seqs.jsonl")]
bad = 0
tokens = 0
for s in seqs:
    tokens += s["n_valid"]
    for i, (di, start, ln, doff, prov) in enumerate(s["pieces"]):
        if i > 0 and doff != 0: bad += 1
docs = {p[0] for s in seqs for p in s["pieces"]}
print("ok" if bad == 0 and tokens == man["n_tokens"] and len(docs) == man["n_documents"] == 150 else "bad %d %d %d" % (bad, tokens, len(docs)))
EOF
check_eq "boundaries: pieces start documents, counts match the manifest" "ok" "$(cat bound.txt)"

if $PY -c 'import jsonschema' 2>/dev/null; then
	check "manifest matches schemas/shards.manifest.schema.json" $PY -c '
import json, jsonschema, sys
jsonschema.validate(json.load(open(sys.argv[2])), json.load(open(sys.argv[1])))' "$HERE/../../schemas/shards.manifest.schema.json" plain/manifest.json
else
	skip "manifest matches its schema" "python3-jsonschema missing"
fi

# ---------------------------------------------------------------- compression, 32-bit tokens, provenance
check "pack with zstd frames" "$SPINDLE" pack -q "${BYTES[@]}" --seq-len 256 --shard-size 8 --zstd --no-sync -o z ids.jsonl
$READ docs z > backz.jsonl
check_files "zstd round trip is lossless" ids.jsonl backz.jsonl
check "verify passes on zstd shards" "$SPINDLE" shards verify z
check "pack with zstd in 3 threads" "$SPINDLE" pack -q "${BYTES[@]}" --seq-len 256 --shard-size 8 --zstd --threads 3 --no-sync -o z3 ids.jsonl
same=1; for f in z/*; do cmp -s "$f" "z3/${f##*/}" || same=0; done
[ $same -eq 1 ] && ok "--threads 3 writes byte-identical shards and manifest" || not_ok "--threads 3 writes byte-identical shards and manifest"
pb=$(cat plain/shard-*.bin | wc -c); zb=$(cat z/shard-*.bin | wc -c)
[ "$zb" -lt "$pb" ] && ok "zstd shards are smaller ($zb < $pb bytes)" || not_ok "zstd shards are smaller" "$zb vs $pb"

$GEN wide.bin 120 --vocab 70000 --no-ids --seed 3 --jsonl wide.jsonl
check "pack a token stream with a vocabulary over 65536" "$SPINDLE" pack -q --seq-len 100 --shard-size 5 --no-sync -o wide wide.bin
check_grep "ids over 65535 are stored in 32 bits" '"token_bytes": 4' wide/manifest.json
$READ docs wide > backw.jsonl
$PY -c '
import json
a = [json.loads(l)["ids"] for l in open("wide.jsonl")]
b = [json.loads(l) for l in open("backw.jsonl")]
ok = [x["ids"] for x in b] == a and [x["id"] for x in b] == ["wide.bin:%d" % (k + 1) for k in range(len(a))]
print("ok" if ok else "bad")' > w.txt
check_eq "32-bit round trip; documents without id are traced to FILE:RECORD" "ok" "$(cat w.txt)"

# ---------------------------------------------------------------- bad input
$GEN bad.bin 50 --vocab 500 --bad-id 17 --seed 4
check_rc "an id outside the vocabulary fails (exit 1)" 1 "$SPINDLE" pack -q --seq-len 64 --no-sync -o badout bad.bin
check_grep "the error names the input and record" "^spindle pack: bad.bin:18: token id 500 at position" "$T/.out"
[ ! -e badout/manifest.json ] && ok "a failed pack leaves no manifest" || not_ok "a failed pack leaves no manifest"
check "--on-error=skip skips and counts it" "$SPINDLE" pack -q --on-error=skip --stats st.json --seq-len 64 --no-sync -o badskip bad.bin
check_grep "stats count the bad document" '"bad_id":1' st.json
check "--stats matches schemas/stats.schema.json" $PY "$HERE/../schemas/validate.py" "$HERE/../../schemas/stats.schema.json" st.json
check_grep "49 documents remain" '"n_documents": 49' badskip/manifest.json

$GEN edge.bin 40 --vocab 500 --empty 5 --long 9:20000 --seed 5 --jsonl edge.jsonl
check "empty and very long documents" "$SPINDLE" pack -q --seq-len 64 --shard-size 16 --no-sync -o edge edge.bin
$READ docs edge > backe.jsonl
grep -v '"ids": \[\]' edge.jsonl > edge-nonempty.jsonl
check_files "the empty document is skipped, the 20000-token one spans 313 sequences intact" edge-nonempty.jsonl backe.jsonl
check_grep "39 documents" '"n_documents": 39' edge/manifest.json

$GEN trunc.bin 30 --vocab 500 --truncate --seed 6
check_rc "a truncated token stream is an error" 1 "$SPINDLE" pack -q --seq-len 64 --no-sync -o trunc trunc.bin
check_grep "it says where it was cut" "truncated token stream after document 30" "$T/.out"
head -c 1000 edge.bin > cut.bin
check_rc "a stream cut inside a document is an error" 1 "$SPINDLE" pack -q --seq-len 64 --no-sync -o cut cut.bin
check_grep "it names the document" "cut.bin:[0-9]*: truncated token stream in document" "$T/.out"
echo '[1, 2, "x"]' > badj.jsonl
check_rc "a malformed JSONL id list fails" 1 "$SPINDLE" pack -q --vocab-size 10 --no-sync -o badj badj.jsonl
check_grep "naming file and line" "badj.jsonl:1:" "$T/.out"
check_rc "JSONL without a vocabulary size is a usage error" 2 "$SPINDLE" pack -q --no-sync -o novocab ids.jsonl

# ---------------------------------------------------------------- verify catches corruption
cp -r plain broken
printf '\x55' | dd of=broken/shard-00003.bin bs=1 seek=300 conv=notrunc status=none
check_rc "verify fails on one flipped byte" 1 "$SPINDLE" shards verify broken
check_grep "and names the shard" "shard-00003.bin" "$T/.out"
check_grep "and the sequence" "sequence [0-9]* (dataset sequence [0-9]*)" "$T/.out"
for off in 10 -20; do
	rm -rf broken && cp -r plain broken
	size=$(stat -c %s broken/shard-00001.bin)
	pos=$(( off > 0 ? off : size + off ))
	printf '\x01' | dd of=broken/shard-00001.bin bs=1 seek=$pos conv=notrunc status=none
	check_rc "verify fails on a flipped byte in the header/footer (offset $off)" 1 "$SPINDLE" shards verify broken
	check_grep "naming the shard (offset $off)" "shard-00001.bin" "$T/.out"
done
rm -rf broken && cp -r plain broken && truncate -s -100 broken/shard-00002.bin
check_rc "verify fails on a truncated shard" 1 "$SPINDLE" shards verify broken
check_grep "naming it" "shard-00002.bin" "$T/.out"
rm -rf broken && cp -r plain broken && rm broken/shard-00004.bin
check_rc "verify fails on a missing shard" 3 "$SPINDLE" shards verify broken
check_grep "naming it" "shard-00004.bin" "$T/.out"
rm -rf broken && cp -r plain broken && sed -i 's/"n_documents": 150/"n_documents": 151/' broken/manifest.json
check_rc "verify fails on a manifest whose totals do not add up" 1 "$SPINDLE" shards verify broken
check_rc "a folder without a manifest is not a dataset" 1 "$SPINDLE" shards verify badout

# ---------------------------------------------------------------- SIGKILL mid-pack, rerun resumes
$GEN big.bin 3000 --vocab 32000 --seed 7 --max-len 400
PK=(pack -q --seq-len 128 --shard-size 20 --shuffle --seed 11 --shuffle-buffer 20000)
"$SPINDLE" "${PK[@]}" --no-sync -o whole < big.bin
half=$(( $(stat -c %s big.bin) / 2 ))
mkfifo fifo
( head -c $half big.bin; exec sleep 30 ) > fifo &
wpid=$!
"$SPINDLE" "${PK[@]}" -o killed < fifo &
ppid=$!
# wait until pack has eaten the first half and blocks inside a shard (count stable, a shard open)
prev=-1
for _ in $(seq 60); do
	sleep 0.5
	cur=$(ls killed/shard-*.bin 2>/dev/null | wc -l)
	[ "$cur" -gt 0 ] && [ "$cur" -eq "$prev" ] && ls killed/.shard-*.tmp.* >/dev/null 2>&1 && break
	prev=$cur
done
kill -9 $ppid; wait $ppid 2>/dev/null
kill $wpid; wait $wpid 2>/dev/null
n_before=$(ls killed/shard-*.bin 2>/dev/null | wc -l)
[ "$n_before" -gt 0 ] && [ ! -e killed/manifest.json ] && ls killed/.shard-*.tmp.* >/dev/null 2>&1 \
	&& ok "killed mid-shard: $n_before shards, a temporary file, no manifest" \
	|| not_ok "killed mid-shard: shards, a temporary file, no manifest" "$(ls -a killed)"
check_rc "the killed dataset does not pass verify" 1 "$SPINDLE" shards verify killed
"$SPINDLE" pack --seq-len 128 --shard-size 20 --shuffle --seed 11 --shuffle-buffer 20000 -o killed < big.bin 2> resume.err
check_grep "the rerun resumes" "(resumed)" resume.err
same=1
for f in whole/*; do cmp -s "$f" "killed/${f##*/}" || same=0; done
[ "$(ls -A killed | wc -l)" -eq "$(ls -A whole | wc -l)" ] || same=0
[ $same -eq 1 ] && ok "resumed dataset is byte-identical to the uninterrupted one" || not_ok "resumed dataset is byte-identical" "$(ls -A killed | head)"
check "the resumed dataset verifies" "$SPINDLE" shards verify killed
"$SPINDLE" "${PK[@]}" -o killed < big.bin > rerun.out 2>&1
check_eq "rerunning a finished pack is a no-op" 0 $?
check_grep "it says so" "already complete" rerun.out
check_rc "other options on a finished dataset are refused" 2 "$SPINDLE" pack -q --seq-len 64 -o killed < big.bin
check "--force replaces it" "$SPINDLE" pack -q --seq-len 64 --force --no-sync -o killed big.bin
check_grep "with the new options" '"seq_len": 64' killed/manifest.json

# ---------------------------------------------------------------- shuffle
$READ docs whole | $PY -c 'import sys, json; print("\n".join(sorted(json.dumps(json.loads(l)["id"]) for l in sys.stdin)))' > ids.shuf
"$SPINDLE" pack -q --seq-len 128 --shard-size 20 --no-sync -o ordered big.bin
$READ docs ordered | $PY -c 'import sys, json; print("\n".join(sorted(json.dumps(json.loads(l)["id"]) for l in sys.stdin)))' > ids.ord
check_files "shuffled dataset holds the same documents" ids.ord ids.shuf
$READ docs whole > all.shuf && head -20 all.shuf > first.shuf
$READ docs ordered > all.ord && head -20 all.ord > first.ord
cmp -s first.shuf first.ord && not_ok "documents are shuffled" || ok "documents are shuffled"
check_grep "the manifest records the sequence order seed" '"order_seed": 11' whole/manifest.json

# global two-pass shuffle through buckets: documents from the start of the input end up anywhere
"$SPINDLE" pack -q --seq-len 128 --shard-size 20 --shuffle --seed 5 --shuffle-buffer 2000 --no-sync -o localbuf big.bin
check "pack with --shuffle-buckets 16" "$SPINDLE" pack -q --seq-len 128 --shard-size 20 --shuffle --seed 5 --shuffle-buckets 16 --no-sync -o buckets big.bin
"$SPINDLE" pack -q --seq-len 128 --shard-size 20 --shuffle --seed 5 --shuffle-buckets 16 --no-sync -o buckets2 big.bin
same=1; for f in buckets/*; do cmp -s "$f" "buckets2/${f##*/}" || same=0; done
[ $same -eq 1 ] && ok "the bucket shuffle is deterministic" || not_ok "the bucket shuffle is deterministic"
[ -z "$(ls -A buckets | grep '^\.')" ] && ok "no bucket files are left behind" || not_ok "no bucket files are left behind" "$(ls -A buckets | head -3)"
check "the bucket-shuffled dataset verifies" "$SPINDLE" shards verify buckets
$READ docs buckets > all.bk
$PY -c 'import sys, json; print("\n".join(sorted(json.dumps(json.loads(l)["id"]) for l in open("all.bk"))))' > ids.bk
check_files "bucket-shuffled dataset holds the same documents" ids.ord ids.bk
spread() { $PY -c '
import json, sys
ids = [json.loads(l)["id"] for l in open(sys.argv[1])]
n = len(ids)
first = [k for k, i in enumerate(ids) if int(i.split("-")[1]) < n // 10]
print("%.2f" % (sum(first) / len(first) / n))' "$1"; }
sb=$(spread all.shuf); sl=$($READ docs localbuf > all.lb && spread all.lb); sk=$(spread all.bk)
awk -v b="$sk" -v l="$sl" 'BEGIN{exit !(b > 0.35 && b < 0.65 && l < 0.2)}' \
	&& ok "buckets spread the first 10% of documents over the whole dataset (mean position $sk; small buffer: $sl)" \
	|| not_ok "buckets spread the first 10% of documents" "buckets $sk, small buffer $sl, default buffer $sb"

# ---------------------------------------------------------------- --shard I/N and merge
for k in 0 1 2 3; do $GEN part$k.bin 60 --vocab 32000 --seed $((20 + k)) --max-len 200 --no-ids; done
for j in 0 1; do
	check "pack job $j of 2" "$SPINDLE" pack -q --shard $j/2 --seq-len 64 --shard-size 10 --no-sync -o job$j part0.bin part1.bin part2.bin part3.bin
done
check "merge the jobs" "$SPINDLE" shards merge -o merged job0 job1
check "the merged dataset verifies" "$SPINDLE" shards verify merged
$READ docs merged > mdocs.jsonl
$READ docs job0 > j0.jsonl
$READ docs job1 > j1.jsonl
cat j0.jsonl j1.jsonl > jcat.jsonl
check_files "merged = job 0 then job 1" jcat.jsonl mdocs.jsonl
cut -d'"' -f4 mdocs.jsonl | cut -d: -f1 | sort | uniq -c | awk '{print $2":"$1}' | tr '\n' ' ' > per.txt
check_eq "the jobs split the four files, each read once" "part0.bin:60 part1.bin:60 part2.bin:60 part3.bin:60 " "$(cat per.txt)"
check_rc "merging datasets of different seq-len is refused" 1 "$SPINDLE" shards merge -o mixed job0 plain

# ---------------------------------------------------------------- stats, cat, tail drop
check "stats" "$SPINDLE" shards stats plain
cp "$T/.out" stats.txt
nseq=$($PY -c 'import json; print(json.load(open("plain/manifest.json"))["n_sequences"])')
check_grep "stats: sequences" "^sequences  *$nseq of 256 tokens" stats.txt
check_grep "stats: documents" "^documents  *150 " stats.txt
check_grep "stats: padding fraction" "^padding  *0\.[0-9]* of all token slots" stats.txt
check_grep "stats: histogram" "^  \[[0-9]*, [0-9]*) *[0-9]* *#" stats.txt
check "cat --ids" "$SPINDLE" shards cat plain --seq 1 --ids
check_grep "cat marks documents" '^### doc [0-9]* "' "$T/.out"
check_rc "cat without a tokenizer asks for one" 2 "$SPINDLE" shards cat plain --seq 1
check "tail drop" "$SPINDLE" pack -q "${BYTES[@]}" --seq-len 256 --tail drop --no-sync -o drop ids.jsonl
check_grep "no padding when the tail is dropped" '"n_padding": 0,' drop/manifest.json
check "the dropped dataset verifies" "$SPINDLE" shards verify drop
