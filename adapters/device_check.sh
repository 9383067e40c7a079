#!/bin/sh
# Device check of adapters/hf_eval.py, for a machine with PyTorch and
# transformers (pip install -r adapters/requirements.txt) and, ideally, a GPU.
# It trains the tiny test zoo (seconds), writes the requests of the tiny
# world's test split, answers them with `mergescale loglik` and with the
# adapter (float32, no TF32) for four zoo models, and requires every
# log-probability within 1e-4 and identical argmaxes. About a minute on a
# GPU machine, at most 5.
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

status=0
for model in $(ls -d "$work"/tiny/zoo/*/ | head -n 4); do
	"$work/mergescale" loglik --model "$model" --requests "$work/requests.jsonl" --out "$work/go.jsonl"
	python3 adapters/hf_eval.py --model "$model" --requests "$work/requests.jsonl" --out "$work/hf.jsonl" \
		--device "$device" --dtype float32
	printf '%s: ' "$(basename "$model")"
	python3 adapters/compare_answers.py "$work/requests.jsonl" "$work/go.jsonl" "$work/hf.jsonl" --tol 1e-4 || status=1
done
if [ "$status" -ne 0 ]; then
	echo "device check FAILED: the adapter disagrees with mergescale loglik" >&2
	exit 1
fi
echo "device check passed on $device"
