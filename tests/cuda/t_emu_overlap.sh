#!/usr/bin/env bash
# t_emu_overlap.sh - the gradient all-reduce overlapped with the backward (issue 18) on the CUDA
# trainer, run by the CUDA emulator with 2 ranks. Streams are synchronous there, so overlap cannot be
# timed; what decides it on a GPU is the order in which the host issues the work and on which stream,
# and the emulator's call trace (SPINDLE_EMU_TRACE, train/cuda/emu/emu_int.h) records exactly that.
#   weights: --bucket-mb 0.01 (a bucket per stage) and 0.2 (buckets of several stages) end with the
#     same weights as --bucket-mb 0 (whole arena after the backward), bit for bit: the emulated
#     all-reduce sums every element over the ranks in rank order and divides by the world size, the
#     same bits whichever calls the arena is split into (on a GPU, NCCL may pick other algorithms for
#     other sizes: there the runs would agree to rounding, not bit for bit). --accum 2: the first
#     micro-batch's backward must not reduce anything (its gradients are not final).
#   trace, every step of both ranks: each bucket is an event recorded on the default stream, the
#     bucket stream waiting for it, then a group of all-reduces on the bucket stream; the first bucket
#     goes before layer 0's backward kernels (a bucket per stage: before every layer's) and the buckets are spread through the backward (compute
#     between any two); the buckets' segments tile the gradient arena exactly once (their sizes sum to
#     the checkpoint's parameter count); the default stream waits for an event recorded on the bucket
#     stream after the last bucket and before the gradient norm's first kernel; no whole-arena
#     reduction. --bucket-mb 0: one whole-arena all-reduce per step on the default stream, no group.
#   Both ranks issue the same sequence of collectives (NCCL needs that).
# Verified here only: no GPU has run the overlap (train/cuda/nccl.cu).
source "$(dirname "$0")/../lib.sh"
cd "$(dirname "$0")/../.." || exit 1
E=${BUILD:-build}/bin/spindle-emu
case ${BUILD:-build} in *-san)
	skip "gradient all-reduce overlapped with the backward under the CUDA emulator" "normal pass only (the ASan pass runs the kernel tier)"
	exit 0 ;;
esac
if [ ! -x "$E" ]; then
	skip "gradient all-reduce overlapped with the backward under the CUDA emulator" "no $E (needs clang++)"
	exit 0
fi
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 SPINDLE_EMU_NCCL_TIMEOUT=60
doc_tokenizer 120 1.0
"$E" tok encode -q -m "$T/tok.model" --format bin "$T/docs.jsonl" | "$E" pack -q -m "$T/tok.model" --seq-len 33 -o "$T/shards"
check "packed shards for the ranks" test -d "$T/shards"

LAYERS=2 STEPS=3
# two ranks of one job, each tracing into OUT.rR.trace; extra arguments go to both
ranks() {
	local out=$1
	shift
	for r in 0 1; do
		SPINDLE_RANK=$r SPINDLE_WORLD_SIZE=2 SPINDLE_LOCAL_RANK=$r SPINDLE_JOB="emu-$$-$(basename "$out")" \
			SPINDLE_EMU_TRACE="$out.r$r.trace" \
			"$E" train pretrain --device cuda --data "$T/shards" --tokenizer "$T/tok.model" --dim 64 --layers $LAYERS \
			--heads 2 --kv-heads 1 --hidden 128 --seq-len 32 --batch 2 --accum 2 --steps $STEPS --lr 3e-3 --warmup 1 \
			--out "$out" "$@" >"$out.r$r.log" 2>&1 &
	done
	local rc=0
	wait %1 || rc=$?
	wait %2 || rc=$?
	return $rc
}
for b in 0 0.01 0.2; do
	mkdir -p "$T/b$b"
	if ranks "$T/b$b/run" --bucket-mb $b; then ok "2 ranks, --bucket-mb $b: both exit 0"
	else not_ok "2 ranks, --bucket-mb $b: both exit 0" "$(tail -n 3 "$T/b$b/run.r0.log" "$T/b$b/run.r1.log")"; fi
	check_eq "--bucket-mb $b: no emulator errors on either rank" 0 "$(cat "$T/b$b/run.r0.log" "$T/b$b/run.r1.log" | grep -c '^emu')"
done
w=$(ls "$T/b0/run" | grep -m1 'safetensors$')
for b in 0.01 0.2; do
	if [ -n "$w" ] && cmp -s "$T/b0/run/$w" "$T/b$b/run/$w"; then
		ok "--bucket-mb $b ends with the weights of --bucket-mb 0 (bit for bit)"
	else
		not_ok "--bucket-mb $b ends with the weights of --bucket-mb 0 (bit for bit)" "$(ls -l "$T/b0/run" "$T/b$b/run" | head)"
	fi
done

# the trace's checks; prints "ok - ..." / "not ok - ..." lines itself
cat > "$T/trace.py" <<'EOF'
import json, re, struct, sys
mode, st_path, layers, steps = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
traces = sys.argv[5:]
with open(st_path, 'rb') as f:
    hdr = json.loads(f.read(struct.unpack('<Q', f.read(8))[0]))
n_params = 0
for k, v in hdr.items():
    if k != '__metadata__':
        p = 1
        for d in v['shape']:
            p *= d
        n_params += p

def parse(path):
    out = []
    for line in open(path):
        w = line.split()
        if not w:
            continue
        kv = dict(x.split('=', 1) for x in w[1:] if '=' in x)
        name = w[1] if w[0] == 'kernel' else None
        out.append((w[0], name, kv))
    return out

def steps_of(tr):
    """the trace cut after each gradient norm's first kernel: one chunk per step"""
    chunks, cur = [], []
    for e in tr:
        cur.append(e)
        if e[0] == 'kernel' and e[1] == 'sumsq_partial_kernel':
            chunks.append(cur)
            cur = []
    return chunks

def on_default(e):
    return e[0] in ('kernel', 'gemm') and e[2].get('stream') == '0'

def check_overlap(ch, nb_want):
    """returns a list of failures for one step's chunk (ending at the norm's first kernel)"""
    bad = []
    groups, i = [], 0
    while i < len(ch):
        if ch[i][0] == 'group_start':
            j = i + 1
            while j < len(ch) and ch[j][0] != 'group_end':
                j += 1
            groups.append((i, j, [e[2] for e in ch[i + 1:j] if e[0] == 'allreduce']))
            i = j
        i += 1
    whole = [e for e in ch if e[0] == 'allreduce' and e[2]['group'] == '0' and int(e[2]['n']) > 1]
    if whole:
        bad.append('a reduction outside the buckets: %s' % whole[0][2])
    if nb_want and len(groups) != nb_want:
        bad.append('%d buckets, wanted %d' % (len(groups), nb_want))
    if len(groups) < 2:
        return bad + ['fewer than 2 buckets']
    comm = {g['stream'] for _, _, segs in groups for g in segs}
    if len(comm) != 1 or '0' in comm:
        bad.append('bucket all-reduces on streams %s, wanted one stream other than 0' % sorted(comm))
    cs = min(comm)
    for gi, (s, e, segs) in enumerate(groups):
        if not segs:
            bad.append('bucket %d: an empty group' % gi)
        if s < 2 or ch[s - 2][0] != 'record' or ch[s - 2][2]['stream'] != '0' or ch[s - 1][0] != 'wait' \
                or ch[s - 1][2]['stream'] != cs or ch[s - 1][2]['event'] != ch[s - 2][2]['event']:
            bad.append('bucket %d: not preceded by an event recorded on stream 0 that stream %s waits for' % (gi, cs))
    # the buckets are spread through the backward: compute on stream 0 between any two of them
    for gi in range(1, len(groups)):
        if not any(on_default(x) for x in ch[groups[gi - 1][1]:groups[gi][0]]):
            bad.append('buckets %d and %d issued with no compute between them' % (gi - 1, gi))
    swi = [k for k, x in enumerate(ch) if x[0] == 'kernel' and x[1] == 'swiglu_backward_kernel']
    enc = [k for k, x in enumerate(ch) if x[0] == 'kernel' and x[1] == 'encoder_backward_kernel']
    if not swi or not enc or not groups[0][0] < swi[-1]:
        bad.append("the first bucket is not issued before layer 0's backward")
    elif nb_want and sum(1 for k in swi if k > groups[0][0]) != layers:
        bad.append('%d layer backwards after the first bucket, wanted %d' % (sum(1 for k in swi if k > groups[0][0]), layers))
    if enc and groups[-1][0] < enc[-1]:
        bad.append('the last bucket (the embeddings) is issued before the embedding backward')
    # the segments tile the arena exactly once
    segs = sorted((int(g['ptr'], 16), int(g['n'])) for _, _, ss in groups for g in ss)
    if sum(n for _, n in segs) != n_params:
        bad.append('the buckets reduce %d floats, the model has %d' % (sum(n for _, n in segs), n_params))
    for (p0, n0), (p1, _) in zip(segs, segs[1:]):
        if p1 != p0 + 4 * n0:
            bad.append('segments overlap or leave a gap at %#x' % p1)
            break
    # the default stream waits for the bucket stream after the last bucket, before the norm
    last = groups[-1][1]
    rec = [k for k in range(last, len(ch)) if ch[k][0] == 'record' and ch[k][2]['stream'] == cs]
    wt = [k for k in range(last, len(ch)) if ch[k][0] == 'wait' and ch[k][2]['stream'] == '0' and rec
          and k > rec[0] and ch[k][2]['event'] == ch[rec[0]][2]['event']]
    if not rec or not wt:
        bad.append('stream 0 does not wait for an event of stream %s between the last bucket and the norm' % cs)
    elif any(x[0] == 'allreduce' and x[2]['stream'] == cs for x in ch[wt[0]:]):
        bad.append('a bucket reduction after the wait')
    return bad

def check_whole(ch):
    bad = []
    red = [e[2] for e in ch if e[0] == 'allreduce' and int(e[2]['n']) > 1]
    if len(red) != 1 or int(red[0]['n']) != n_params or red[0]['stream'] != '0' or red[0]['group'] != '0':
        bad.append('wanted one all-reduce of %d floats on stream 0 outside a group, got %s' % (n_params, red))
    if any(e[0] in ('group_start', 'wait') for e in ch):
        bad.append('a group or a stream wait without buckets')
    return bad

seqs = []
for r, path in enumerate(traces):
    tr = parse(path)
    seqs.append([(e[2]['n'], e[2]['group']) for e in tr if e[0] == 'allreduce'])
    ch = steps_of(tr)
    name = '%s, rank %d' % (mode, r)
    if len(ch) != steps:
        print('not ok - %s: %d gradient norms in the trace, wanted %d' % (name, len(ch), steps))
        continue
    bad = []
    for s, c in enumerate(ch):
        b = check_whole(c) if mode == 'whole' else check_overlap(c, layers + 2 if mode == 'stage' else 0)
        bad += ['step %d: %s' % (s + 1, x) for x in b]
    what = ('one whole-arena all-reduce per step, on the default stream' if mode == 'whole' else
            'each step: buckets after compute events, spread through the backward, tiling the arena once, '
            'waited for before the norm')
    if bad:
        print('not ok - %s: %s' % (name, what))
        for x in bad[:6]:
            print('  ' + x)
    else:
        print('ok - %s: %s' % (name, what))
print(('ok - ' if len(seqs) == 2 and seqs[0] == seqs[1] and seqs[0] else 'not ok - ') +
      '%s: both ranks issue the same sequence of all-reduces (%d)' % (mode, len(seqs[0]) if seqs else 0))
print(('ok - ' if n_params > 0 else 'not ok - ') + '%s: the checkpoint has %d parameters' % (mode, n_params))
EOF
run_checks() { # MODE DIR
	if [ -n "$w" ] && [ -s "$2/run.r0.trace" ] && [ -s "$2/run.r1.trace" ]; then
		python3 "$T/trace.py" "$1" "$2/run/$w" $LAYERS $STEPS "$2/run.r0.trace" "$2/run.r1.trace"
	else
		not_ok "$1: a trace from each rank" "$(ls -l "$2")"
	fi
}
run_checks whole "$T/b0"
run_checks stage "$T/b0.01"
run_checks multi "$T/b0.2"
# the multi-stage run really has buckets of several stages (fewer buckets than stages)
nb=$(awk '/sumsq_partial_kernel/{exit} /^group_start/{n++} END{print n+0}' "$T/b0.2/run.r0.trace")
if [ "$nb" -ge 2 ] && [ "$nb" -lt $((LAYERS + 2)) ]; then ok "--bucket-mb 0.2: $nb buckets for $((LAYERS + 2)) stages"
else not_ok "--bucket-mb 0.2: between 2 and $((LAYERS + 1)) buckets" "got $nb"; fi
