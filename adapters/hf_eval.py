#!/usr/bin/env python3
"""Reference Hugging Face evaluator for mergescale's command backend.

It answers the harness's JSONL requests with the request semantics of
lm-evaluation-harness v0.4.12's HF model (lm_eval/models/huggingface.py,
lm_eval/api/model.py; released 2026-05-11):

  {"id", "type": "loglikelihood", "context", "continuation", "eos"}
      -> {"id", "logprob", "is_greedy"}
  {"id", "type": "generate_until", "context", "until", "max_gen_toks"}
      -> {"id", "text"}

Loglikelihood. The context's trailing white space moves to the start of
the continuation; context + continuation is encoded as one text and the
continuation's tokens are those past the context's own encoding (lm-eval's
_encode_pair), so a SentencePiece tokenizer sees " red" after "Answer:" as
the one token it is in running text. An empty context stands for the
beginning-of-sequence token (the end-of-sequence token when there is none)
with the continuation encoded without special tokens. eos: true appends the
tokenizer's end-of-sequence token to the continuation (the harness's own
default for the built-in suite; lm-eval appends none, so task folders that
match lm-eval set "eos": false). logprob is the sum of the continuation
tokens' log-probabilities, is_greedy whether each is the argmax. A sequence
too long for the model loses its oldest tokens:
(context + continuation)[-(max_length + 1):][:-1], as lm-eval.

Beginning of sequence (--bos):
  auto  lm-eval v0.4.12's default (add_bos_token=None): the tokenizer's own
        special tokens (add_special_tokens=True: Llama, Mistral and Gemma
        tokenizers add <s>/<bos>, GPT-2 and Qwen ones nothing), except for a
        text that already starts with the BOS token's text (a chat template
        that writes it);
  on    always one BOS token first (lm-eval's add_bos_token=True);
  off   never (add_special_tokens=False; lm-eval up to v0.4.9 did this by
        default for every model type but Gemma's).

generate_until. Greedy decoding in batches (left padding), at most
max_gen_toks new tokens; the context keeps its last max_length -
max_gen_toks tokens. Decoding stops at the end-of-sequence token or once
the text holds a stop string; the text (special tokens skipped) is cut at
each string of until and then at the end-of-sequence token's text, one
after the other, as lm-eval does. A word-level tokenizer (the built-in
models) joins its words by single spaces, as the built-in engine decodes.

--chat-template wraps each context in the tokenizer's own chat template as
one user turn with the generation prompt (lm-eval's --apply_chat_template);
lm-eval then also drops the target delimiter, so a task folder meant for it
sets "target_delimiter": "".

Usage (a study's eval.command):
  python3 adapters/hf_eval.py --model {model} --requests {requests} --out {out} --device cuda:{worker}

bf16 on a GPU, float32 on the CPU (the fallback when CUDA is absent).
`python3 adapters/hf_eval.py --self-test` checks the protocol and encoding
code with toy tokenizers, without PyTorch or transformers.
"""

import argparse
import json
import math
import os
import sys
import tempfile

LM_EVAL_VERSION = "0.4.12"

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
            if not isinstance(r, dict):
                raise SystemExit(f"{path}:{n}: a request is a JSON object")
            rid, typ = r.get("id"), r.get("type")
            if not isinstance(rid, str) or not rid:
                raise SystemExit(f"{path}:{n}: missing id")
            if rid in seen:
                raise SystemExit(f"{path}:{n}: id {rid!r} already used on line {seen[rid]}")
            seen[rid] = n
            if not isinstance(r.get("context"), str):
                raise SystemExit(f"{path}:{n}: context must be a string")
            if typ == "loglikelihood":
                if not isinstance(r.get("continuation", ""), str) or not isinstance(r.get("eos", False), bool):
                    raise SystemExit(f"{path}:{n}: continuation must be a string and eos a boolean")
                if not r.get("continuation") and not r.get("eos"):
                    raise SystemExit(f"{path}:{n}: empty continuation without eos")
            elif typ == "generate_until":
                until = r.get("until", [])
                if not isinstance(until, list) or not all(isinstance(u, str) and u for u in until):
                    raise SystemExit(f"{path}:{n}: until must be a list of non-empty strings")
                if not isinstance(r.get("max_gen_toks"), int) or r["max_gen_toks"] <= 0:
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
    """Cuts text at each stop string in turn (lm-eval's
    postprocess_generated_text: text.split(term)[0] for every term)."""
    for u in until or []:
        if u:
            text = text.split(u)[0]
    return text


def holds_stop(text, until):
    """Whether a generation can stop: its text holds a stop string."""
    return any(u and u in text for u in until)


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


# ---------------------------------------------------------------- encoding


class Encoder:
    """lm-eval v0.4.12's tokenization of requests, over any tokenizer with
    Hugging Face's interface (encode(text, add_special_tokens=...),
    decode(ids, skip_special_tokens=...), bos/eos token ids and texts,
    apply_chat_template)."""

    def __init__(self, tok, bos="auto", chat_template=False, word_level=False):
        if bos not in ("auto", "on", "off"):
            raise ValueError(f"--bos {bos!r}: want auto, on or off")
        if tok.eos_token_id is None:
            raise ValueError("the tokenizer has no end-of-sequence token")
        if bos == "on" and tok.bos_token_id is None:
            raise ValueError("--bos on, but the tokenizer has no beginning-of-sequence token")
        if chat_template and not getattr(tok, "chat_template", None):
            raise ValueError("--chat-template, but the tokenizer has no chat template")
        self.tok, self.bos, self.chat, self.word_level = tok, bos, chat_template, word_level

    def prefix_token(self):
        """The token that stands for an empty context (lm-eval's
        prefix_token_id)."""
        t = self.tok
        return t.bos_token_id if t.bos_token_id is not None else t.eos_token_id

    def encode(self, text):
        """lm-eval's tok_encode(text) under the --bos setting."""
        t = self.tok
        if self.bos == "off":
            return list(t.encode(text, add_special_tokens=False))
        if self.bos == "on":
            ids = list(t.encode(text, add_special_tokens=False))
            return ids if ids[:1] == [t.bos_token_id] else [t.bos_token_id] + ids
        bos_text = t.bos_token if t.bos_token_id is not None else None
        if bos_text and text.startswith(bos_text):
            return list(t.encode(text, add_special_tokens=False))
        return list(t.encode(text, add_special_tokens=True))

    def context(self, text):
        """The context as the model reads it: the chat template's user turn
        with the generation prompt when --chat-template is on."""
        if not self.chat:
            return text
        return self.tok.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                            add_generation_prompt=True)

    def pair(self, context, continuation, eos):
        """Context and continuation ids of a loglikelihood request."""
        context = self.context(context)
        if context == "":
            cont = list(self.tok.encode(continuation, add_special_tokens=False))
            if cont[:1] == [self.prefix_token()]:
                ctx, cont = cont[:1], cont[1:]
            else:
                ctx = [self.prefix_token()]
        else:
            n = len(context) - len(context.rstrip())
            if n:
                context, continuation = context[:-n], context[-n:] + continuation
            whole = self.encode(context + continuation)
            ctx = self.encode(context)
            cont = whole[len(ctx):]
            if not ctx:  # a context of white space only
                ctx = [self.prefix_token()]
        if eos:
            cont = cont + [self.tok.eos_token_id]
        return ctx, cont

    def generation_context(self, context):
        """Context ids of a generate_until request."""
        return self.encode(self.context(context)) or [self.prefix_token()]

    def finish(self, new_ids, until):
        """The answer text of generated ids: up to the first
        end-of-sequence token, decoded without special tokens, cut at each
        stop string and then at the end-of-sequence token's text."""
        t = self.tok
        if t.eos_token_id in new_ids:
            new_ids = new_ids[:new_ids.index(t.eos_token_id)]
        if self.word_level:
            text = " ".join(t.convert_ids_to_tokens(new_ids))
        else:
            text = t.decode(new_ids, skip_special_tokens=True)
        return cut_until(text, list(until or []) + [t.eos_token])


# ---------------------------------------------------------------- self-test


class ToySentencePiece:
    """A SentencePiece-style tokenizer for the self-test (no downloads):
    spaces become "▁", a text gets a leading "▁" (SentencePiece's dummy
    prefix), pieces match greedily by length, and special tokens written in
    the text are matched first. With adds_bos it adds <s> for
    add_special_tokens=True (Llama-2, Mistral); without it nothing (GPT-2,
    Qwen)."""

    PIECES = ["<unk>", "<s>", "</s>", "▁", "▁Answer", ":", "▁red", "▁blue", "red", "▁the", "▁dog", "▁is",
              ".", "\n", "[INST]", "[/INST]", "▁Q", "▁A"] + list("abcdefghijklmnopqrstuvwxyzAQ")

    def __init__(self, adds_bos=True):
        self.vocab = {p: i for i, p in enumerate(self.PIECES)}
        self.adds_bos = adds_bos
        self.bos_token, self.eos_token = "<s>", "</s>"
        self.bos_token_id, self.eos_token_id = 1, 2
        self.chat_template = "toy"

    def _pieces(self, text):
        s, out, i = text.replace(" ", "▁"), [], 0
        while i < len(s):
            for n in range(min(len(s) - i, 12), 0, -1):
                if s[i:i + n] in self.vocab:
                    out.append(self.vocab[s[i:i + n]])
                    i += n
                    break
            else:
                out.append(0)
                i += 1
        return out

    def encode(self, text, add_special_tokens=True):
        ids, first = [], True
        for seg in _split_specials(text, ["<s>", "</s>"]):
            if seg in ("<s>", "</s>"):
                ids.append(self.vocab[seg])
            elif seg:
                ids += self._pieces(("▁" if first else "") + seg)
            first = False
        return ([self.bos_token_id] if add_special_tokens and self.adds_bos else []) + ids

    def decode(self, ids, skip_special_tokens=False):
        text = "".join(self.PIECES[i] for i in ids if not (skip_special_tokens and i in (1, 2)))
        text = text.replace("▁", " ")
        return text[1:] if text.startswith(" ") else text

    def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=True):
        assert not tokenize and add_generation_prompt and len(messages) == 1
        return "<s>[INST] " + messages[0]["content"] + " [/INST]\n"


def _split_specials(text, specials):
    out, i, start = [], 0, 0
    while i < len(text):
        for s in specials:
            if text.startswith(s, i):
                out += [text[start:i], s]
                i += len(s)
                start = i
                break
        else:
            i += 1
    return out + [text[start:]]


def self_test():
    """Checks the protocol helpers and lm-eval's encoding rules on toy
    tokenizers (no PyTorch, no transformers)."""
    assert cut_until("dark red x blue", [" x", "blue"]) == "dark red"
    assert cut_until("abc", []) == "abc"
    # Stop strings apply one after the other, as lm-eval's: "a" first cuts
    # "xba" to "xb", where "ba" would have cut at 1.
    assert cut_until("xba", ["a", "ba"]) == "xb"
    assert holds_stop("red.\n", ["\n"]) and not holds_stop("red", ["\n"])
    inputs, first = join_for_scoring([1, 2, 3], [4, 5], 10)
    assert inputs == [1, 2, 3, 4] and first == 2, (inputs, first)
    inputs, first = join_for_scoring([1, 2, 3], [4, 5], 3)
    assert inputs == [2, 3, 4] and first == 1, (inputs, first)

    sp = ToySentencePiece()
    v = sp.vocab
    # Joint encoding: " red" after "Answer:" is the one piece "▁red" ...
    off = Encoder(sp, bos="off")
    ctx, cont = off.pair("Answer:", " red", eos=False)
    assert ctx == [v["▁Answer"], v[":"]] and cont == [v["▁red"]], (ctx, cont)
    # ... where encoding it on its own adds SentencePiece's dummy prefix.
    assert sp.encode(" red", add_special_tokens=False) == [v["▁"], v["▁red"]]
    # The context's trailing white space moves into the continuation.
    assert off.pair("Answer: ", "red", eos=False) == (ctx, cont)
    # eos appends the end-of-sequence token.
    assert off.pair("Answer:", " red", eos=True)[1] == [v["▁red"], sp.eos_token_id]
    # BOS: auto follows the tokenizer (Llama-style adds <s>, GPT-2-style
    # nothing), on always adds one, off never; the continuation never gets it.
    auto = Encoder(sp, bos="auto")
    assert auto.pair("Answer:", " red", eos=False) == ([1] + ctx, cont)
    gpt2ish = ToySentencePiece(adds_bos=False)
    assert Encoder(gpt2ish, bos="auto").pair("Answer:", " red", eos=False) == (ctx, cont)
    assert Encoder(gpt2ish, bos="on").pair("Answer:", " red", eos=False) == ([1] + ctx, cont)
    # An empty context is the prefix token, the continuation encoded alone.
    assert auto.pair("", "red", eos=False) == ([1], [v["▁red"]])
    # The chat template writes <s> itself: auto adds no second one, and the
    # template's trailing newline moves into the continuation.
    chat = Encoder(sp, bos="auto", chat_template=True)
    cctx, ccont = chat.pair("Q", " red", eos=False)
    assert cctx == [1, v["[INST]"], v["▁Q"], v["▁"], v["[/INST]"]], cctx
    assert ccont == [v["\n"], v["▁red"]], ccont
    assert chat.generation_context("Q") == cctx + [v["\n"]]
    # Generations: cut at the end-of-sequence token, special tokens skipped,
    # then at each stop string.
    gen = [v["▁red"], v["."], v["\n"], v["▁blue"], sp.eos_token_id, v["▁dog"]]
    assert auto.finish(gen, []) == "red.\n blue", auto.finish(gen, [])
    assert auto.finish(gen, ["\n"]) == "red."
    assert auto.finish([v["▁the"], 1, v["▁dog"]], ["."]) == "the dog"
    try:
        Encoder(gpt2ish, bos="sometimes")
        raise AssertionError("bad --bos accepted")
    except ValueError:
        pass

    with tempfile.TemporaryDirectory() as d:
        req = os.path.join(d, "r.jsonl")
        with open(req, "w") as f:
            f.write('{"id":"a","type":"loglikelihood","context":"q","continuation":" x","eos":true}\n\n')
            f.write('{"id":"b","type":"generate_until","context":"q","until":["\\n"],"max_gen_toks":3}\n')
        reqs = read_requests(req)
        assert reqs[1]["until"] == ["\n"]
        out = os.path.join(d, "o.jsonl")
        write_answers(out, reqs, {"a": (-1.5, True), "b": "red"})
        with open(out) as f:
            got = f.read()
        want = '{"id": "a", "logprob": -1.5, "is_greedy": true}\n{"id": "b", "text": "red"}\n'
        assert got == want, got
        for line, msg in [('{"id":"a","type":"rolling","context":"q"}', "r.jsonl:1: unknown type 'rolling'"),
                          ('{"id":"a","type":"generate_until","context":"q","until":"\\n","max_gen_toks":3}',
                           "r.jsonl:1: until must be a list"),
                          ('{"id":"a","type":"loglikelihood","context":"q","continuation":" x","eos":"yes"}',
                           "eos a boolean")]:
            with open(req, "w") as f:
                f.write(line + "\n")
            try:
                read_requests(req)
                raise AssertionError(f"accepted {line}")
            except SystemExit as e:
                assert msg in str(e), e
    print(f"self-test ok (lm-evaluation-harness {LM_EVAL_VERSION} request semantics)")


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
    for k in ("n_positions", "max_position_embeddings", "n_ctx"):
        v = getattr(model.config, k, None)
        if isinstance(v, int) and v > 0:
            return v
    return 2048


def pad_id(tok):
    return tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id


def loglikelihood(model, enc, device, reqs, batch_size):
    """Scores loglikelihood requests in length-sorted batches."""
    import torch

    limit = max_length(model)
    items = []
    for r in reqs:
        ctx, cont = enc.pair(r["context"], r.get("continuation", ""), bool(r.get("eos")))
        if not cont:
            raise SystemExit(f"request {r['id']}: the continuation has no tokens")
        inputs, first = join_for_scoring(ctx, cont, limit)
        items.append((r["id"], inputs, first, cont))
    items.sort(key=lambda it: -len(it[1]))
    out = {}
    pad = pad_id(enc.tok)
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


def generate(model, enc, device, reqs, batch_size):
    """Greedy decoding in batches of requests with the same budget and
    stop strings, longest contexts first, left-padded."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    tok = enc.tok
    limit = max_length(model)
    items = []
    for r in reqs:
        n = int(r["max_gen_toks"])
        if not 1 <= n < limit:
            raise SystemExit(f"request {r['id']}: max_gen_toks {n} is not in [1, {limit})")
        ctx = enc.generation_context(r["context"])[-(limit - n):]  # room for the generation, as lm-eval
        items.append((r["id"], ctx, n, tuple(r.get("until") or [])))
    items.sort(key=lambda it: (it[2], it[3], -len(it[1])))
    groups = {}
    for it in items:
        groups.setdefault((it[2], it[3]), []).append(it)

    class StopStrings(StoppingCriteria):
        """Per sequence: done once its new text holds a stop string."""

        def __init__(self, start, until):
            self.start, self.until = start, until

        def __call__(self, input_ids, scores, **kwargs):
            done = [holds_stop(tok.decode(row[self.start:].tolist(), skip_special_tokens=True), self.until)
                    for row in input_ids]
            return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

    out, pad = {}, pad_id(tok)
    for (n, until), group in groups.items():
        for lo in range(0, len(group), batch_size):
            batch = group[lo:lo + batch_size]
            width = max(len(it[1]) for it in batch)
            ids = torch.full((len(batch), width), pad, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for i, (_, ctx, _, _) in enumerate(batch):
                ids[i, width - len(ctx):] = torch.tensor(ctx)
                mask[i, width - len(ctx):] = 1
            stops = StoppingCriteriaList([StopStrings(width, until)]) if until else None
            with torch.no_grad():
                # Plain greedy search whatever the checkpoint's
                # generation_config says (no beams, penalties or n-gram bans).
                gen = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), max_new_tokens=n,
                                     do_sample=False, num_beams=1, repetition_penalty=1.0, no_repeat_ngram_size=0,
                                     eos_token_id=tok.eos_token_id, pad_token_id=pad, stopping_criteria=stops)
            for i, (rid, _, _, _) in enumerate(batch):
                out[rid] = enc.finish(gen[i, width:].tolist(), until)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model")
    ap.add_argument("--requests")
    ap.add_argument("--out")
    ap.add_argument("--device", default="cuda:0", help="cuda:N or cpu (cuda falls back to the CPU when absent)")
    ap.add_argument("--dtype", default="auto", help="auto (bf16 on a GPU, float32 on the CPU), bfloat16, float16 or float32")
    ap.add_argument("--batch-size", type=int, default=16, help="sequences per forward pass or generation batch")
    ap.add_argument("--bos", default="auto", choices=["auto", "on", "off"],
                    help=f"beginning-of-sequence token: auto (lm-evaluation-harness {LM_EVAL_VERSION}: the tokenizer's "
                         "own special tokens), on (always) or off (never)")
    ap.add_argument("--chat-template", action="store_true",
                    help="wrap each context in the tokenizer's chat template (one user turn, generation prompt)")
    ap.add_argument("--self-test", action="store_true", help="check the protocol and encoding code (no PyTorch needed) and exit")
    a = ap.parse_args()
    if a.self_test:
        self_test()
        return
    if not (a.model and a.requests and a.out):
        ap.error("--model, --requests and --out are required")
    reqs = read_requests(a.requests)
    model, tok, device, word_level = load(a.model, a.device, a.dtype)
    try:
        enc = Encoder(tok, bos=a.bos, chat_template=a.chat_template, word_level=word_level)
    except ValueError as e:
        raise SystemExit(f"{a.model}: {e}")
    bs = max(1, a.batch_size)
    answers = loglikelihood(model, enc, device, [r for r in reqs if r["type"] == "loglikelihood"], bs)
    answers.update(generate(model, enc, device, [r for r in reqs if r["type"] == "generate_until"], bs))
    write_answers(a.out, reqs, answers)


if __name__ == "__main__":
    main()
