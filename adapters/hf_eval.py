#!/usr/bin/env python3
"""Reference Hugging Face evaluator for mergescale's command backend.

It answers the harness's JSONL requests exactly as `mergescale loglik` does:

  {"id", "type": "loglikelihood", "context", "continuation", "eos": true}
      -> {"id", "logprob", "is_greedy"}
  {"id", "type": "generate_until", "context", "until", "max_gen_toks"}
      -> {"id", "text"}

Context and continuation are tokenized separately (no special tokens) and
joined; eos appends the tokenizer's end-of-sequence token to the
continuation. logprob is the sum of the continuation tokens' log-probabilities,
is_greedy whether each of them is the argmax. generate_until decodes greedily
for at most max_gen_toks tokens, stops at end-of-sequence and cuts the text
before the first `until` string. A context too long for the model loses its
oldest tokens (the continuation is never cut); a generation's context keeps
its last n_positions - max_gen_toks tokens; an empty context is the
beginning-of-sequence token.

Usage (a study's eval.command):
  python3 adapters/hf_eval.py --model {model} --requests {requests} --out {out} --device cuda:{worker}

bf16 on a GPU, float32 on the CPU (the fallback when CUDA is absent).
`python3 adapters/hf_eval.py --self-test` checks the protocol code without
PyTorch.
"""

import argparse
import json
import math
import os
import sys
import tempfile

# ---------------------------------------------------------------- protocol


def read_requests(path):
    """Reads and checks a requests file; errors name the line."""
    reqs, seen = [], {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                r = json.loads(line)
            except ValueError as e:
                raise SystemExit(f"{path}:{n}: malformed request: {e}")
            rid, typ = r.get("id"), r.get("type")
            if not isinstance(rid, str) or not rid:
                raise SystemExit(f"{path}:{n}: missing id")
            if rid in seen:
                raise SystemExit(f"{path}:{n}: id {rid!r} already used on line {seen[rid]}")
            seen[rid] = n
            if typ == "loglikelihood":
                if not r.get("continuation") and not r.get("eos"):
                    raise SystemExit(f"{path}:{n}: empty continuation without eos")
            elif typ == "generate_until":
                if int(r.get("max_gen_toks", 0)) <= 0:
                    raise SystemExit(f"{path}:{n}: generate_until needs max_gen_toks > 0")
            else:
                raise SystemExit(f"{path}:{n}: unknown type {typ!r}")
            reqs.append(r)
    return reqs


def write_answers(path, reqs, answers):
    """Writes one answer line per request, in request order, atomically."""
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".answers-")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        for r in reqs:
            a = answers[r["id"]]
            if r["type"] == "generate_until":
                line = {"id": r["id"], "text": a}
            else:
                lp, greedy = a
                if not math.isfinite(lp):
                    raise SystemExit(f"request {r['id']}: non-finite log-probability {lp}")
                line = {"id": r["id"], "logprob": lp, "is_greedy": bool(greedy)}
            f.write(json.dumps(line, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def cut_until(text, until):
    """Cuts text before the first occurrence of any stop string."""
    cut = len(text)
    for u in until or []:
        if u:
            i = text.find(u)
            if 0 <= i < cut:
                cut = i
    return text[:cut]


def join_for_scoring(ctx_ids, cont_ids, max_len):
    """Joins context and continuation ids, dropping the oldest context
    tokens when the sequence is longer than max_len + 1 (the last token is
    only predicted). Returns the input ids and the index of the first
    logit row that predicts a continuation token."""
    full = list(ctx_ids) + list(cont_ids)
    if len(full) - 1 > max_len:
        full = full[len(full) - 1 - max_len:]
    if len(full) < 2:
        raise ValueError("nothing to condition on: empty context")
    inputs = full[:-1]
    return inputs, len(inputs) - len(cont_ids)


def self_test():
    """Checks the protocol helpers (no PyTorch needed)."""
    assert cut_until("dark red x blue", [" x", "blue"]) == "dark red"
    assert cut_until("abc", []) == "abc"
    inputs, first = join_for_scoring([1, 2, 3], [4, 5], 10)
    assert inputs == [1, 2, 3, 4] and first == 2, (inputs, first)
    inputs, first = join_for_scoring([1, 2, 3], [4, 5], 3)
    assert inputs == [2, 3, 4] and first == 1, (inputs, first)
    with tempfile.TemporaryDirectory() as d:
        req = os.path.join(d, "r.jsonl")
        with open(req, "w") as f:
            f.write('{"id":"a","type":"loglikelihood","context":"q","continuation":" x","eos":true}\n\n')
            f.write('{"id":"b","type":"generate_until","context":"q","max_gen_toks":3}\n')
        reqs = read_requests(req)
        out = os.path.join(d, "o.jsonl")
        write_answers(out, reqs, {"a": (-1.5, True), "b": "red"})
        with open(out) as f:
            got = f.read()
        want = '{"id": "a", "logprob": -1.5, "is_greedy": true}\n{"id": "b", "text": "red"}\n'
        assert got == want, got
        with open(req, "w") as f:
            f.write('{"id":"a","type":"rolling","context":"q"}\n')
        try:
            read_requests(req)
            raise AssertionError("unknown type accepted")
        except SystemExit as e:
            assert "r.jsonl:1: unknown type 'rolling'" in str(e), e
    print("self-test ok")


# ------------------------------------------------------------------- model


def load(model_dir, device, dtype_name):
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if device.startswith("cuda") and not torch.cuda.is_available():
        print(f"hf_eval: {device} requested but CUDA is not available; using the CPU", file=sys.stderr)
        device = "cpu"
    if dtype_name == "auto":
        dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    else:
        dtype = getattr(torch, dtype_name)
    if dtype == torch.float32:
        # Full float32 products (no TF32), so float32 runs match the
        # built-in engine closely.
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    # transformers 4.56 renamed torch_dtype= to dtype=; older releases take
    # only torch_dtype= (and would silently ignore dtype=).
    major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
    kw = {"dtype": dtype} if (major, minor) >= (4, 56) else {"torch_dtype": dtype}
    model = AutoModelForCausalLM.from_pretrained(model_dir, **kw).to(device).eval()
    tok = AutoTokenizer.from_pretrained(model_dir)
    if tok.eos_token_id is None:
        raise SystemExit(f"{model_dir}: the tokenizer has no end-of-sequence token")
    word_level = type(getattr(tok, "backend_tokenizer", None) and tok.backend_tokenizer.model).__name__ == "WordLevel"
    return model, tok, device, word_level


def max_length(model):
    for k in ("max_position_embeddings", "n_positions", "n_ctx"):
        v = getattr(model.config, k, None)
        if isinstance(v, int) and v > 0:
            return v
    return 2048


def empty_context(tok):
    """An empty context stands for the beginning-of-sequence token (the
    end-of-sequence token when there is none), as in mergescale loglik."""
    return [tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id]


def encode(tok, text):
    return tok(text, add_special_tokens=False)["input_ids"]


def loglikelihood(model, tok, device, reqs, batch_size):
    """Scores loglikelihood requests in length-sorted batches."""
    import torch

    limit = max_length(model)
    items = []
    for r in reqs:
        cont = encode(tok, r.get("continuation", ""))
        if r.get("eos"):
            cont = cont + [tok.eos_token_id]
        if not cont:
            raise SystemExit(f"request {r['id']}: the continuation has no tokens")
        inputs, first = join_for_scoring(encode(tok, r["context"]) or empty_context(tok), cont, limit)
        items.append((r["id"], inputs, first, cont))
    items.sort(key=lambda it: -len(it[1]))
    out = {}
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    for lo in range(0, len(items), batch_size):
        batch = items[lo:lo + batch_size]
        width = max(len(it[1]) for it in batch)
        ids = torch.full((len(batch), width), pad, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, (_, inputs, _, _) in enumerate(batch):
            ids[i, :len(inputs)] = torch.tensor(inputs)
            mask[i, :len(inputs)] = 1
        with torch.no_grad():
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float()
        logp = torch.log_softmax(logits, dim=-1)
        for i, (rid, _, first, cont) in enumerate(batch):
            rows = logp[i, first:first + len(cont)]
            target = torch.tensor(cont, device=rows.device)
            lp = rows.gather(1, target[:, None]).sum().item()
            greedy = bool((rows.argmax(dim=-1) == target).all().item())
            out[rid] = (lp, greedy)
    return out


def generate(model, tok, device, reqs, word_level):
    """Greedy decoding, one request at a time (exactness over speed)."""
    import torch

    limit = max_length(model)
    out = {}
    for r in reqs:
        ctx = encode(tok, r["context"]) or empty_context(tok)
        n = int(r["max_gen_toks"])
        if not 1 <= n < limit:
            raise SystemExit(f"request {r['id']}: max_gen_toks {n} is not in [1, {limit})")
        ctx = ctx[-(limit - n):]  # room for the generation, as lm-evaluation-harness
        ids = torch.tensor([ctx], device=device)
        with torch.no_grad():
            # Plain greedy search whatever the checkpoint's
            # generation_config says (no beams, penalties or n-gram bans).
            gen = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=n, do_sample=False,
                                 num_beams=1, repetition_penalty=1.0, no_repeat_ngram_size=0,
                                 eos_token_id=tok.eos_token_id, pad_token_id=tok.eos_token_id)
        new = gen[0, len(ctx):].tolist()
        if tok.eos_token_id in new:
            new = new[:new.index(tok.eos_token_id)]
        if word_level:
            # A word-level vocabulary (the built-in models): words joined
            # by single spaces, as the built-in engine decodes.
            text = " ".join(tok.convert_ids_to_tokens(new))
        else:
            text = tok.decode(new, skip_special_tokens=False)
        out[r["id"]] = cut_until(text, r.get("until"))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model")
    ap.add_argument("--requests")
    ap.add_argument("--out")
    ap.add_argument("--device", default="cuda:0", help="cuda:N or cpu (cuda falls back to the CPU when absent)")
    ap.add_argument("--dtype", default="auto", help="auto (bf16 on a GPU, float32 on the CPU), bfloat16, float16 or float32")
    ap.add_argument("--batch-size", type=int, default=16, help="loglikelihood sequences per forward pass")
    ap.add_argument("--self-test", action="store_true", help="check the protocol code (no PyTorch needed) and exit")
    a = ap.parse_args()
    if a.self_test:
        self_test()
        return
    if not (a.model and a.requests and a.out):
        ap.error("--model, --requests and --out are required")
    reqs = read_requests(a.requests)
    model, tok, device, word_level = load(a.model, a.device, a.dtype)
    answers = loglikelihood(model, tok, device, [r for r in reqs if r["type"] == "loglikelihood"], max(1, a.batch_size))
    answers.update(generate(model, tok, device, [r for r in reqs if r["type"] == "generate_until"], word_level))
    write_answers(a.out, reqs, answers)


if __name__ == "__main__":
    main()
