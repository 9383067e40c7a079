#!/usr/bin/env python3
"""Device check of adapters/hf_eval.py's large-model paths, on one GPU,
without lm_eval or vLLM (PyTorch and transformers only; no downloads).

1. Continuation-only log-probabilities: on a tiny random Llama model and a
   tiny random GPT-2 model (the two ways a body and an output layer split),
   the answers of --logits hidden (the output layer and log-softmax on the
   continuation rows only) equal those of the full computation (the whole
   logits), batched and one request at a time: |delta| <= --tol, identical
   is_greedy.
2. Out-of-memory back-off: on a wider random Llama with long requests, the
   GPU's memory for this process is capped (torch's per-process memory
   fraction) between what a batch of 1 and a batch of 64 need; a batch of 64
   must back off (halving) and give the uncapped answers; a cap with no room
   at all must end in the "out of memory with a batch of 1" error.
3. Persistent mode: `hf_eval.py --persistent --devices 0` answers the Llama
   model, then the GPT-2 one, then the Llama one again over the JSON Lines
   protocol, each as the per-call mode answers it, with protocol lines only
   on its standard output.

  python3 adapters/large_check.py            (about a minute on a GPU)

Exits 1 on a failure.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import hf_eval  # noqa: E402
import llama_check  # noqa: E402


def build_gpt2(src, d):
    """A tiny random GPT-2 model in d with the tokenizer of src."""
    import shutil

    import torch
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    tok = AutoTokenizer.from_pretrained(src)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(src):
        if f.startswith(("tokenizer", "special_tokens")):
            shutil.copy(os.path.join(src, f), d)
    cfg = GPT2Config(vocab_size=len(tok), n_embd=64, n_layer=2, n_head=4, n_positions=96,
                     bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    torch.manual_seed(1)
    GPT2LMHeadModel(cfg).save_pretrained(d, safe_serialization=True)


def build_wide(src, d):
    """A wider random Llama (long context) in d with the tokenizer of src,
    whose activations at a batch of 64 long requests take tens of MB."""
    import shutil

    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(src)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(src):
        if f.startswith(("tokenizer", "special_tokens")):
            shutil.copy(os.path.join(src, f), d)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=256, intermediate_size=1024, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=1024,
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, tie_word_embeddings=False,
                      attn_implementation="eager")
    torch.manual_seed(2)
    LlamaForCausalLM(cfg).save_pretrained(d, safe_serialization=True)


def settings(**kw):
    a = argparse.Namespace(device="cuda:0", dtype="float32", n_devices=0, memory_fraction=None, bos="auto",
                           chat_template=False, batch_size=8, logits="hidden")
    for k, v in kw.items():
        setattr(a, k, v)
    return a


def compare(name, a, b, tol):
    """Counts the loglikelihood answers of a and b (id -> (lp, greedy))
    that differ by more than tol or in is_greedy."""
    bad, worst = 0, 0.0
    for rid, (lp, g) in a.items():
        d = abs(lp - b[rid][0])
        worst = max(worst, d)
        if d > tol or g != b[rid][1]:
            bad += 1
            if bad <= 5:
                print(f"  {name}: request {rid}: {lp:.7g} {g} vs {b[rid][0]:.7g} {b[rid][1]}", file=sys.stderr)
    print(f"{name}: {len(a)} requests, max |delta logprob| {worst:.3g}, {bad} differ")
    return bad


def check_continuation_only(dirs, reqs, tol):
    import torch

    bad = 0
    ll = [r for r in reqs if r["type"] == "loglikelihood"]
    for name, d in dirs:
        ev = hf_eval.Evaluator(d, settings())
        full = hf_eval.Batcher(8, hf_eval.torch_is_oom)
        hidden = hf_eval.loglikelihood(ev.model, ev.enc, ev.device, ll, ev.batcher, "hidden")
        plain = hf_eval.loglikelihood(ev.model, ev.enc, ev.device, ll, full, "full")
        one = hf_eval.loglikelihood(ev.model, ev.enc, ev.device, ll, hf_eval.Batcher(1, hf_eval.torch_is_oom), "full")
        bad += compare(f"{name} hidden vs full (batch 8)", hidden, plain, tol)
        bad += compare(f"{name} hidden vs full (one at a time)", hidden, one, tol)
        del ev
        torch.cuda.empty_cache()
    return bad


def check_backoff(d, tol):
    import torch

    ev = hf_eval.Evaluator(d, settings())
    long_text = " ".join(llama_check.TEXTS) * 6
    reqs = [{"id": f"long/{i}", "type": "loglikelihood", "context": long_text[i:], "continuation": " the dog",
             "eos": False} for i in range(64)]

    def run(size):
        b = hf_eval.Batcher(size, hf_eval.torch_is_oom, hf_eval.torch_recover, log=lambda m: print("  " + m))
        return hf_eval.loglikelihood(ev.model, ev.enc, ev.device, reqs, b, "hidden"), b

    total = torch.cuda.get_device_properties(0).total_memory
    run(1)  # warm-up: cuBLAS workspaces and the like
    torch.cuda.empty_cache()
    base = torch.cuda.memory_reserved()
    peaks = {}
    for size in (1, 64):
        torch.cuda.reset_peak_memory_stats()
        ref, _ = run(size)
        peaks[size] = torch.cuda.max_memory_reserved() - base
        torch.cuda.empty_cache()
    print(f"backoff: {base / 2**20:.1f} MiB reserved after loading; a batch of 1 peaks at +{peaks[1] / 2**20:.1f} MiB, "
          f"of 64 at +{peaks[64] / 2**20:.1f} MiB")
    if peaks[64] < 4 * peaks[1] + (4 << 20):
        print("backoff: FAILED to calibrate (the batch of 64 needs too little more than a batch of 1)", file=sys.stderr)
        return 1
    bad = 0
    cap = base + max(2 * peaks[1], peaks[64] // 4)
    torch.cuda.set_per_process_memory_fraction(cap / total, 0)
    try:
        got, b = run(64)
        print(f"backoff: capped at +{(cap - base) / 2**20:.1f} MiB: batch sizes that ran out of memory {b.backoffs}, "
              f"finished at {b.size}")
        if not b.backoffs or b.size >= 64:
            print("backoff: FAILED: no back-off under the cap", file=sys.stderr)
            bad += 1
        bad += compare("backoff: capped vs uncapped", got, ref, tol)
        torch.cuda.empty_cache()
        torch.cuda.set_per_process_memory_fraction(base / total, 0)  # no room at all
        try:
            run(4)
            print("backoff: FAILED: no error with no memory left", file=sys.stderr)
            bad += 1
        except SystemExit as e:
            ok = "out of memory with a batch of 1" in str(e)
            print(f"backoff: no room at all: {'ok' if ok else 'FAILED'}: {str(e)[:160]}")
            bad += not ok
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0, 0)
        torch.cuda.empty_cache()
    return bad


def check_persistent(dirs, reqs, work, tol):
    """Two models in turn (and back) through --persistent, against per-call
    answers."""
    rpath = os.path.join(work, "requests.jsonl")
    with open(rpath, "w") as f:
        f.write("".join(json.dumps(r) + "\n" for r in reqs))
    per_call = {}
    for name, d in dirs:
        out = os.path.join(work, f"{name}.jsonl")
        subprocess.run([sys.executable, os.path.join(HERE, "hf_eval.py"), "--model", d, "--requests", rpath,
                        "--out", out, "--devices", "0", "--dtype", "float32", "--batch-size", "8"], check=True)
        with open(out) as f:
            per_call[name] = [json.loads(x) for x in f]
    p = subprocess.Popen([sys.executable, os.path.join(HERE, "hf_eval.py"), "--persistent", "--devices", "0",
                          "--dtype", "float32", "--batch-size", "8"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    bad = 0
    order = [dirs[0], dirs[1], dirs[0]]
    for name, d in order:
        p.stdin.write(json.dumps({"type": "load", "model": d}) + "\n")
        p.stdin.flush()
        line = json.loads(p.stdout.readline())
        if line != {"type": "loaded", "model": d}:
            print(f"persistent: {name}: {line} for a load", file=sys.stderr)
            bad += 1
            break
        p.stdin.write("".join(json.dumps(r) + "\n" for r in reqs) + json.dumps({"type": "end"}) + "\n")
        p.stdin.flush()
        got = [json.loads(p.stdout.readline()) for _ in reqs]
        want = per_call[name]
        diff = 0
        for g, w in zip(got, want):
            if g.get("id") != w["id"] or ("text" in w and g.get("text") != w["text"]) or \
                    ("logprob" in w and (abs(g.get("logprob", 1e9) - w["logprob"]) > tol or g["is_greedy"] != w["is_greedy"])):
                diff += 1
                if diff <= 3:
                    print(f"  persistent {name}: {g} vs per call {w}", file=sys.stderr)
        print(f"persistent: {name}: {len(got)} answers, {diff} differ from the per-call mode")
        bad += diff
    p.stdin.close()
    rest = p.stdout.read()
    if rest.strip():
        print(f"persistent: FAILED: stray output {rest[:200]!r}", file=sys.stderr)
        bad += 1
    if p.wait(timeout=60) != 0:
        print(f"persistent: FAILED: exit status {p.returncode}", file=sys.stderr)
        bad += 1
    return bad


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tol", type=float, default=1e-4)
    a = ap.parse_args()
    import torch

    if not torch.cuda.is_available():
        print("large_check: no CUDA device", file=sys.stderr)
        return 1
    torch.backends.cuda.matmul.allow_tf32 = False
    with tempfile.TemporaryDirectory() as work:
        llama, gpt2, wide = (os.path.join(work, n) for n in ("llama", "gpt2", "wide"))
        os.makedirs(llama)
        llama_check.build(llama)
        build_gpt2(llama, gpt2)
        build_wide(llama, wide)
        reqs = llama_check.requests()
        dirs = [("llama", llama), ("gpt2", gpt2)]
        bad = check_continuation_only(dirs, reqs, a.tol)
        bad += check_backoff(wide, a.tol)
        bad += check_persistent(dirs, reqs, work, a.tol)
    print("large check " + ("FAILED" if bad else "passed"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
