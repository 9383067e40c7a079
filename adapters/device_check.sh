#!/bin/sh
# Device check of adapters/hf_eval.py, for a machine with PyTorch and
# transformers (pip install -r adapters/requirements.txt) and, ideally, a GPU.
# 1. GPT-2 format: it trains the tiny test zoo (seconds), writes the
#    requests of the tiny world's test split (and a copy with eos false and
#    stop strings, lm-evaluation-harness's settings), answers them with
#    `mergescale loglik` and with the adapter (float32, no TF32, --bos auto)
#    for four zoo models, and requires every log-probability within 1e-4
#    and identical argmaxes.
# 2. Llama style: adapters/llama_check.py builds a tiny random Llama model
#    with a SentencePiece-style tokenizer that adds <s> (no downloads) and
#    checks the adapter's answers under --bos auto, --bos off and
#    --chat-template against the model's own forward, one request at a time.
# 3. Large models (adapters/large_check.py, GPU 0 only, no lm_eval or vLLM):
#    continuation-only log-probabilities equal to the full computation on
#    tiny random Llama and GPT-2 models, the out-of-memory back-off under a
#    forced small memory cap, and --persistent answering two models in turn
#    as the per-call mode does.
# About two minutes on a GPU machine, at most 6.
#
#   DEVICE=cuda:0 adapters/device_check.sh
set -eu
cd "$(dirname "$0")/.."
device=${DEVICE:-cuda:0}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

go build -o "$work/mergescale" .
python3 adapters/hf_eval.py --self-test
MERGESCALE_OUT="$work/tiny" "$work/mergescale" run experiments/testdata/tiny.yaml > "$work/run.log" 2>&1 ||
	{ cat "$work/run.log"; exit 1; }
"$work/mergescale" suite --seed 3 --train 0 --validation 4 --test 8 --requests "$work/requests.jsonl"
# lm-evaluation-harness's settings: no <eos> after options, a stop string.
sed -e 's/"eos":true/"eos":false/' -e 's/"until":\[\]/"until":["<sep>"]/' "$work/requests.jsonl" > "$work/requests-lmeval.jsonl"

status=0
for model in $(ls -d "$work"/tiny/zoo/*/ | head -n 4); do
	for reqs in requests requests-lmeval; do
		"$work/mergescale" loglik --model "$model" --requests "$work/$reqs.jsonl" --out "$work/go.jsonl"
		python3 adapters/hf_eval.py --model "$model" --requests "$work/$reqs.jsonl" --out "$work/hf.jsonl" \
			--device "$device" --dtype float32 --batch-size 8
		printf '%s %s: ' "$(basename "$model")" "$reqs"
		python3 adapters/compare_answers.py "$work/$reqs.jsonl" "$work/go.jsonl" "$work/hf.jsonl" --tol 1e-4 || status=1
	done
done
if [ "$status" -ne 0 ]; then
	echo "device check FAILED: the adapter disagrees with mergescale loglik" >&2
	exit 1
fi
python3 adapters/llama_check.py --device "$device" || {
	echo "device check FAILED: the adapter disagrees with the Llama model's own forward" >&2
	exit 1
}
python3 adapters/large_check.py || {
	echo "device check FAILED: the large-model paths (continuation-only log-probabilities, back-off, persistent mode)" >&2
	exit 1
}
echo "device check passed on $device"
