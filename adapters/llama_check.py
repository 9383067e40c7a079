#!/usr/bin/env python3
"""Device check of adapters/hf_eval.py on a tiny random Llama-style model.

It builds, in a temporary folder and without downloads, a SentencePiece-style
tokenizer ("▁" for spaces, <s> added by the tokenizer, a chat template) and
a random two-layer LlamaForCausalLM, writes loglikelihood and
generate_until requests (contexts ending in white space, an empty context,
eos true and false, stop strings), answers them with hf_eval.py under
--bos auto, --bos off and --chat-template, and checks every answer against
the model's own forward written out plainly, one request at a time, with
lm-evaluation-harness v0.4.12's rules: log-probabilities within --tol,
identical is_greedy and generated texts. Exits 1 on a failure.

  python3 adapters/llama_check.py --device cuda:0
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

TEXTS = [
    "Question: is the dog red? Answer: yes",
    "Question: is the sky green? Answer: no",
    "The cat sat on the mat. The dog ran to the park.",
    "Summarize: the red fox jumped over the lazy dog. Summary: a fox jumped.",
    "Paris is the capital of France. Rome is the capital of Italy.",
]


def build(d):
    """Writes the tokenizer and the random model to d."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tk = Tokenizer(models.BPE(unk_token="<unk>"))
    try:
        tk.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
        tk.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first")
    except TypeError:  # tokenizers < 0.14
        tk.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", add_prefix_space=True)
        tk.decoder = decoders.Metaspace(replacement="▁", add_prefix_space=True)
    alphabet = sorted(set("".join(TEXTS)) | set("▁\n?.:!,"))
    tk.train_from_iterator(TEXTS * 20, trainers.BpeTrainer(vocab_size=200, special_tokens=["<unk>", "<s>", "</s>"],
                                                           initial_alphabet=alphabet, show_progress=False))
    tk.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                                      special_tokens=[("<s>", tk.token_to_id("<s>"))])
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    tok.chat_template = "{{ bos_token }}{% for m in messages %}[INST] {{ m['content'] }} [/INST]\n{% endfor %}"
    tok.save_pretrained(d)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=96,
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=None,
                      tie_word_embeddings=False)
    torch.manual_seed(0)
    LlamaForCausalLM(cfg).save_pretrained(d, safe_serialization=True)


def requests():
    reqs = []
    for i, (ctx, conts) in enumerate([
        ("Question: is the dog red? Answer:", [" yes", " no"]),
        ("Question: is the sky green? Answer: ", ["yes", "no"]),  # trailing space moves
        ("The cat sat on the\n", ["mat.", "park."]),
        ("", ["The dog ran", "Paris is"]),  # empty context
        ("Rome is the capital of " + "Italy. " * 30, [" France", " Italy"]),  # left truncation
    ]):
        for j, c in enumerate(conts):
            reqs.append({"id": f"ll/{i}/{j}", "type": "loglikelihood", "context": ctx, "continuation": c,
                         "eos": j == 0})
    for i, (ctx, until, n) in enumerate([
        ("Summarize: the red fox jumped over the lazy dog. Summary:", ["."], 12),
        ("Question: is the dog red? Answer:", ["\n", "?"], 8),
        ("Paris is the capital of", [], 10),
        ("The cat", ["a", "at"], 16),
    ]):
        reqs.append({"id": f"gen/{i}", "type": "generate_until", "context": ctx, "until": until, "max_gen_toks": n})
    return reqs


def reference(model, tok, reqs, device, bos, chat):
    """The answers of lm-eval v0.4.12's rules, one request at a time."""
    import torch

    def enc(text):
        if bos == "off" or text.startswith(tok.bos_token):
            return tok(text, add_special_tokens=False)["input_ids"]
        return tok(text)["input_ids"]

    def template(text):
        if not chat:
            return text
        return tok.apply_chat_template([{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True)

    limit = model.config.max_position_embeddings
    out = {}
    for r in reqs:
        ctx = template(r["context"])
        if r["type"] == "loglikelihood":
            cont = r["continuation"]
            if ctx == "":
                c, k = [tok.bos_token_id], tok(cont, add_special_tokens=False)["input_ids"]
            else:
                n = len(ctx) - len(ctx.rstrip())
                if n:
                    ctx, cont = ctx[:-n], ctx[-n:] + cont
                c = enc(ctx)
                k = enc(ctx + cont)[len(c):]
            if r["eos"]:
                k = k + [tok.eos_token_id]
            seq = (c + k)[-(limit + 1):]
            ids = torch.tensor([seq[:-1]], device=device)
            with torch.no_grad():
                logp = torch.log_softmax(model(input_ids=ids).logits[0].float(), dim=-1)
            rows = logp[len(seq) - 1 - len(k):]
            target = torch.tensor(k, device=device)
            out[r["id"]] = {"logprob": rows.gather(1, target[:, None]).sum().item(),
                            "is_greedy": bool((rows.argmax(-1) == target).all().item())}
        else:
            n = r["max_gen_toks"]
            c = (enc(ctx) or [tok.bos_token_id])[-(limit - n):]
            ids = torch.tensor([c], device=device)
            with torch.no_grad():
                gen = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=n,
                                     do_sample=False, num_beams=1, eos_token_id=tok.eos_token_id,
                                     pad_token_id=tok.eos_token_id)
            new = gen[0, len(c):].tolist()
            if tok.eos_token_id in new:
                new = new[:new.index(tok.eos_token_id)]
            text = tok.decode(new, skip_special_tokens=True)
            for u in r["until"] + [tok.eos_token]:
                text = text.split(u)[0]
            out[r["id"]] = {"text": text}
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda:0")
    ap.add_argument("--tol", type=float, default=1e-4)
    a = ap.parse_args()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = a.device if torch.cuda.is_available() or not a.device.startswith("cuda") else "cpu"
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    status = 0
    with tempfile.TemporaryDirectory() as d:
        mdir = os.path.join(d, "llama")
        build(mdir)
        tok = AutoTokenizer.from_pretrained(mdir)
        if tok("dog")["input_ids"][:1] != [tok.bos_token_id]:
            raise SystemExit("the tokenizer does not add <s>: the check would not test --bos auto")
        model = AutoModelForCausalLM.from_pretrained(mdir).to(device).eval()
        reqs = requests()
        rpath = os.path.join(d, "requests.jsonl")
        with open(rpath, "w", encoding="utf-8") as f:
            for r in reqs:
                f.write(json.dumps(r) + "\n")
        for bos, chat in [("auto", False), ("off", False), ("auto", True)]:
            opath = os.path.join(d, "answers.jsonl")
            cmd = [sys.executable, os.path.join(HERE, "hf_eval.py"), "--model", mdir, "--requests", rpath, "--out", opath,
                   "--device", device, "--dtype", "float32", "--batch-size", "3", "--bos", bos]
            if chat:
                cmd.append("--chat-template")
            subprocess.run(cmd, check=True)
            got = {}
            with open(opath, encoding="utf-8") as f:
                for line in f:
                    x = json.loads(line)
                    got[x.pop("id")] = x
            want = reference(model, tok, reqs, device, bos, chat)
            worst, bad = 0.0, 0
            for r in reqs:
                g, w = got[r["id"]], want[r["id"]]
                if "text" in w:
                    ok = g["text"] == w["text"]
                else:
                    d_lp = abs(g["logprob"] - w["logprob"])
                    worst = max(worst, d_lp)
                    ok = d_lp <= a.tol and g["is_greedy"] == w["is_greedy"]
                if not ok:
                    bad += 1
                    print(f"  bos={bos} chat={chat} {r['id']}: adapter {g}, model's forward {w}", file=sys.stderr)
            print(f"llama bos={bos} chat_template={chat}: {len(reqs)} requests, max |Δ logprob| {worst:.3g}, {bad} differ")
            status |= bad > 0
    return status


if __name__ == "__main__":
    sys.exit(main())
