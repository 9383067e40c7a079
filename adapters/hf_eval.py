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
or, with eval.persistent (one process per evaluation slot, models loaded
on request; eval.gpus_per_worker devices each):
  python3 adapters/hf_eval.py --persistent --devices {devices}

Large models. --devices LIST (the slot's GPUs, e.g. "2,3") makes only those
GPUs visible to the process and, with more than one, places the model over
them with device_map="auto" (accelerate), never on the CPU: a model that
does not fit is a clear error. Log-probabilities come from the
continuation positions only: the model's body gives the hidden states, and
the output layer and the log-softmax run on the continuation rows alone
(with the model's final logit soft-capping or scale, where its config has
one), never on the whole sequence x vocabulary; --logits full computes them
the plain way (the device check compares both). On CUDA out-of-memory a
batch is retried at half the size, down to 1, and the smaller size is kept;
out of memory at 1 is an error that says so.

Persistent mode (--persistent) speaks mergescale's JSON Lines on standard
input and output: {"type": "load", "model": PATH} -> {"type": "loaded",
"model": PATH}; request lines, then {"type": "end"} -> one answer line per
request, in order; a failure -> {"type": "error", "message": ...}. Standard
output carries protocol lines only (anything else the process prints goes
to standard error). It exits at the end of its input.

bf16 on a GPU, float32 on the CPU (the fallback when CUDA is absent).
`python3 adapters/hf_eval.py --self-test` checks the protocol, persistent
mode, out-of-memory back-off and encoding code with toy tokenizers, without
PyTorch or transformers.
"""

import argparse
import gc
import io
import json
import math
import os
import sys
import tempfile

LM_EVAL_VERSION = "0.4.12"

# ---------------------------------------------------------------- protocol


def check_request(r, where, seen):
    """Checks one request (a decoded line); where names it in errors and
    seen maps the ids so far to their places. Raises SystemExit."""
    if not isinstance(r, dict):
        raise SystemExit(f"{where}: a request is a JSON object")
    rid, typ = r.get("id"), r.get("type")
    if not isinstance(rid, str) or not rid:
        raise SystemExit(f"{where}: missing id")
    if rid in seen:
        raise SystemExit(f"{where}: id {rid!r} already used on line {seen[rid]}")
    if not isinstance(r.get("context"), str):
        raise SystemExit(f"{where}: context must be a string")
    if typ == "loglikelihood":
        if not isinstance(r.get("continuation", ""), str) or not isinstance(r.get("eos", False), bool):
            raise SystemExit(f"{where}: continuation must be a string and eos a boolean")
        if not r.get("continuation") and not r.get("eos"):
            raise SystemExit(f"{where}: empty continuation without eos")
    elif typ == "generate_until":
        until = r.get("until", [])
        if not isinstance(until, list) or not all(isinstance(u, str) and u for u in until):
            raise SystemExit(f"{where}: until must be a list of non-empty strings")
        if not isinstance(r.get("max_gen_toks"), int) or r["max_gen_toks"] <= 0:
            raise SystemExit(f"{where}: generate_until needs max_gen_toks > 0")
    else:
        raise SystemExit(f"{where}: unknown type {typ!r}")


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
            check_request(r, f"{path}:{n}", seen)
            seen[r["id"]] = n
            reqs.append(r)
    return reqs


def answer_line(r, a):
    """The answer line (a dict) of request r: a is (logprob, is_greedy) or a
    text."""
    if r["type"] == "generate_until":
        return {"id": r["id"], "text": a}
    lp, greedy = a
    if not math.isfinite(lp):
        raise SystemExit(f"request {r['id']}: non-finite log-probability {lp}")
    return {"id": r["id"], "logprob": lp, "is_greedy": bool(greedy)}


def write_answers(path, reqs, answers):
    """Writes one answer line per request, in request order, atomically."""
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".answers-")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        for r in reqs:
            f.write(json.dumps(answer_line(r, answers[r["id"]]), ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def serve(inp, out, load, answer, release=lambda: None):
    """The persistent protocol (--persistent) over the text streams inp and
    out. load(path) returns a loaded model's state; answer(state, reqs)
    returns the answers by id (see answer_line); release() frees what a
    dropped state held (a GPU's cache). A failure answers an error line
    and the process goes on; the model stays loaded unless its load
    failed. Returns at the end of inp."""

    def send(obj):
        out.write(json.dumps(obj, ensure_ascii=False) + "\n")
        out.flush()

    def fail(message):
        send({"type": "error", "message": message})

    state, reqs, seen, failed = None, [], {}, None
    for n, line in enumerate(inp, 1):
        if not line.strip():
            continue
        try:
            msg = json.loads(line)
        except ValueError as e:
            failed = failed or f"stdin:{n}: malformed line: {e}"
            continue
        typ = msg.get("type") if isinstance(msg, dict) else None
        if typ == "load":
            reqs, seen, failed = [], {}, None
            state = None
            gc.collect()
            release()
            path = msg.get("model")
            try:
                if not isinstance(path, str) or not path:
                    raise SystemExit("load needs a model path")
                state = load(path)
            except (Exception, SystemExit) as e:
                fail(f"load {path}: {e}")
                continue
            send({"type": "loaded", "model": path})
        elif typ == "end":
            try:
                if failed:
                    raise SystemExit(failed)
                if state is None:
                    raise SystemExit("requests before a model was loaded")
                answers = answer(state, reqs)
                lines = [answer_line(r, answers[r["id"]]) for r in reqs]
            except (Exception, SystemExit) as e:
                fail(str(e) or type(e).__name__)
            else:
                for a in lines:
                    send(a)
            reqs, seen, failed = [], {}, None
        else:
            try:
                check_request(msg, f"stdin:{n}", seen)
            except SystemExit as e:
                failed = failed or str(e)
                continue
            seen[msg["id"]] = n
            reqs.append(msg)


def protocol_streams():
    """Standard input, and a stream on the process's original standard
    output for protocol lines; file descriptor 1 (and sys.stdout) then go
    to standard error, so that nothing a library prints reaches the
    protocol."""
    proto = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return sys.stdin, proto


# ------------------------------------------------------- batches and memory


class Batcher:
    """Runs work in batches of at most size items; on out-of-memory (is_oom)
    it calls recover(), halves the size and retries the same items, down to
    1, and keeps the smaller size for later batches. Out of memory at 1 is a
    SystemExit that says so."""

    def __init__(self, size, is_oom, recover=lambda: None, log=None):
        self.size, self.is_oom, self.recover = max(1, int(size)), is_oom, recover
        self.log = log or (lambda m: print(m, file=sys.stderr))
        self.backoffs = []  # the sizes that ran out of memory

    def run(self, items, fn, describe=lambda it: ""):
        """fn(batch) -> list of results, one per item; returns them all."""
        out, i = [], 0
        while i < len(items):
            batch = items[i:i + self.size]
            oom = None
            try:
                res = fn(batch)
            except Exception as e:  # noqa: BLE001 (re-raised unless out of memory)
                if not self.is_oom(e):
                    raise
                oom = str(e).split("\n")[0][:200]
            if oom is None:
                out.extend(res)
                i += len(batch)
                continue
            # Outside the except block: the exception's frames (holding
            # the batch's tensors) are gone before memory is released.
            self.recover()
            self.backoffs.append(self.size)
            if self.size == 1:
                raise SystemExit(f"out of memory with a batch of 1 ({describe(batch[0])}): {oom}. The model and one "
                                 "sequence do not fit in this slot's devices: give it more (eval.gpus_per_worker) "
                                 "or use shorter requests")
            self.size = max(1, self.size // 2)
            self.log(f"hf_eval: out of memory with a batch of {self.backoffs[-1]}; retrying with {self.size}")
        return out


def torch_is_oom(e):
    """Whether e is CUDA's (or another device's) out-of-memory error."""
    import torch

    oom = getattr(torch.cuda, "OutOfMemoryError", None)
    return (oom is not None and isinstance(e, oom)) or (isinstance(e, RuntimeError) and "out of memory" in str(e))


def torch_recover():
    """Frees the memory of a failed batch."""
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def visible_devices(devices, env):
    """The CUDA_VISIBLE_DEVICES value that shows only devices (a list of
    indexes) to the process, the indexes read relative to an existing
    CUDA_VISIBLE_DEVICES in env (a cluster's allocation)."""
    have = env.get("CUDA_VISIBLE_DEVICES")
    if have is None or have.strip() == "":
        return ",".join(str(d) for d in devices)
    ids = [x.strip() for x in have.split(",") if x.strip()]
    for d in devices:
        if d >= len(ids):
            raise SystemExit(f"--devices {','.join(map(str, devices))}: device {d} is not among the "
                             f"{len(ids)} of CUDA_VISIBLE_DEVICES={have}")
    return ",".join(ids[d] for d in devices)


def parse_devices(text):
    """--devices: comma-separated device indexes."""
    try:
        devs = [int(x) for x in text.split(",") if x.strip() != ""]
    except ValueError:
        raise SystemExit(f"--devices {text!r}: want comma-separated GPU indexes such as 0,1")
    if not devs or any(d < 0 for d in devs) or len(set(devs)) != len(devs):
        raise SystemExit(f"--devices {text!r}: want distinct GPU indexes such as 0,1")
    return devs


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
    self_test_backoff()
    self_test_serve()
    assert parse_devices("2,3") == [2, 3]
    assert visible_devices([2, 3], {}) == "2,3"
    assert visible_devices([0, 1], {"CUDA_VISIBLE_DEVICES": "4,5,6,7"}) == "4,5"
    for bad in ("", "a", "1,1", "-1"):
        try:
            parse_devices(bad)
            raise AssertionError(f"--devices {bad!r} accepted")
        except SystemExit:
            pass
    print(f"self-test ok (lm-evaluation-harness {LM_EVAL_VERSION} request semantics; persistent protocol; "
          "out-of-memory back-off)")


class FakeOOM(RuntimeError):
    """The simulated device's out-of-memory error."""


def self_test_backoff():
    """The out-of-memory back-off on a simulated device: a batch costs the
    sum of its items' sizes and more than 10 units runs out of memory."""
    calls, freed, logged = [], [], []

    def fn(batch):
        calls.append(len(batch))
        if sum(batch) > 10:
            raise FakeOOM("CUDA out of memory. Tried to allocate 2.00 GiB")
        return [x * 10 for x in batch]

    b = Batcher(16, lambda e: isinstance(e, FakeOOM), lambda: freed.append(1), logged.append)
    items = [3] * 9
    assert b.run(items, fn) == [30] * 9
    # 16 -> 8 -> 4 -> 2 (three back-offs), then 2 at a time: 9 = 4 x 2 + 1.
    assert calls == [9, 8, 4, 2, 2, 2, 2, 1], calls
    assert b.backoffs == [16, 8, 4] and b.size == 2 and len(freed) == 3, (b.backoffs, b.size)
    assert logged[0] == "hf_eval: out of memory with a batch of 16; retrying with 8", logged
    # The smaller size stays for the next call.
    calls.clear()
    assert b.run([1, 1, 1], fn) == [10] * 3 and calls == [2, 1], calls
    # Out of memory at 1: a clear error naming the item.
    try:
        b.run([3, 20], fn, describe=lambda x: f"item of size {x}")
        raise AssertionError("no error at a batch of 1")
    except SystemExit as e:
        assert "out of memory with a batch of 1 (item of size 20)" in str(e) and "eval.gpus_per_worker" in str(e), e
    # Other errors pass through, with no retry.
    try:
        Batcher(4, lambda e: isinstance(e, FakeOOM)).run([1], lambda b: 1 / 0)
        raise AssertionError("ZeroDivisionError swallowed")
    except ZeroDivisionError:
        pass


def self_test_serve():
    """The persistent protocol with a fake model: loads, answers in order,
    error lines for a failed load, a bad request and requests without a
    model; the process goes on after each."""
    loads = []

    def load(path):
        if path.endswith("missing"):
            raise SystemExit(f"{path}: no config.json")
        loads.append(path)
        return path

    def answer(state, reqs):
        return {r["id"]: (-len(r.get("continuation", "")), True) if r["type"] == "loglikelihood"
                else state + ":" + r["context"] for r in reqs}

    lines = [
        {"id": "a", "type": "loglikelihood", "context": "q", "continuation": " xy", "eos": False},
        {"type": "end"},
        {"type": "load", "model": "/m/1"},
        {"id": "a", "type": "loglikelihood", "context": "q", "continuation": " xy", "eos": False},
        {"id": "b", "type": "generate_until", "context": "q", "until": [], "max_gen_toks": 2},
        {"type": "end"},
        {"id": "c", "type": "generate_until", "context": "r", "until": [], "max_gen_toks": 0},
        {"type": "end"},
        {"id": "d", "type": "generate_until", "context": "s", "until": [], "max_gen_toks": 1},
        {"type": "end"},
        {"type": "load", "model": "/m/missing"},
        {"type": "load", "model": "/m/2"},
        {"id": "e", "type": "generate_until", "context": "t", "until": [], "max_gen_toks": 1},
        {"type": "end"},
    ]
    inp = io.StringIO("\n".join(json.dumps(x) for x in lines) + "\n\n")
    out = io.StringIO()
    serve(inp, out, load, answer)
    got = [json.loads(x) for x in out.getvalue().splitlines()]
    want = [
        {"type": "error", "message": "requests before a model was loaded"},
        {"type": "loaded", "model": "/m/1"},
        {"id": "a", "logprob": -3, "is_greedy": True},
        {"id": "b", "text": "/m/1:q"},
        {"type": "error", "message": "stdin:7: generate_until needs max_gen_toks > 0"},
        {"id": "d", "text": "/m/1:s"},
        {"type": "error", "message": "load /m/missing: /m/missing: no config.json"},
        {"type": "loaded", "model": "/m/2"},
        {"id": "e", "text": "/m/2:t"},
    ]
    assert got == want, got
    assert loads == ["/m/1", "/m/2"], loads


# ------------------------------------------------------------------- model


def load(model_dir, device, dtype_name, n_devices=0, memory_fraction=None):
    """Loads the model and tokenizer. n_devices > 1 (--devices, which set
    CUDA_VISIBLE_DEVICES) places the model over the visible GPUs with
    device_map="auto", never on the CPU or disk; memory_fraction caps each
    GPU's share for this process (the device check's forced small memory).
    Returns (model, tok, input device, word_level)."""
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if device.startswith("cuda") and not torch.cuda.is_available():
        print(f"hf_eval: {device} requested but CUDA is not available; using the CPU", file=sys.stderr)
        device, n_devices = "cpu", 0
    if n_devices and torch.cuda.device_count() < n_devices:
        raise SystemExit(f"--devices names {n_devices} GPUs, {torch.cuda.device_count()} are visible")
    if memory_fraction and device.startswith("cuda"):
        for i in range(max(n_devices, 1)):
            torch.cuda.set_per_process_memory_fraction(memory_fraction, i)
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
    if n_devices > 1:
        # Over the slot's GPUs only: without a "cpu" entry nothing is
        # offloaded, and a model too large is an error (below). 10% of each
        # GPU stays free for activations; the batch back-off does the rest.
        cap = memory_fraction or 0.9
        kw["device_map"] = "auto"
        kw["max_memory"] = {i: int(torch.cuda.get_device_properties(i).total_memory * cap) for i in range(n_devices)}
        try:
            model = AutoModelForCausalLM.from_pretrained(model_dir, **kw).eval()
        except ValueError as e:
            if "offload" in str(e) or "disk" in str(e):
                raise SystemExit(f"{model_dir}: does not fit in the {n_devices} GPUs of this slot: "
                                 f"raise eval.gpus_per_worker ({e})")
            raise
        placed = set(getattr(model, "hf_device_map", {}).values())
        if placed & {"cpu", "disk"}:
            raise SystemExit(f"{model_dir}: does not fit in the {n_devices} GPUs of this slot "
                             f"(placed on {sorted(map(str, placed))}): raise eval.gpus_per_worker")
    else:
        model = AutoModelForCausalLM.from_pretrained(model_dir, **kw).to(device).eval()
    tok = AutoTokenizer.from_pretrained(model_dir)
    if tok.eos_token_id is None:
        raise SystemExit(f"{model_dir}: the tokenizer has no end-of-sequence token")
    word_level = type(getattr(tok, "backend_tokenizer", None) and tok.backend_tokenizer.model).__name__ == "WordLevel"
    return model, tok, model.get_input_embeddings().weight.device, word_level


def max_length(model):
    for k in ("n_positions", "max_position_embeddings", "n_ctx"):
        v = getattr(model.config, k, None)
        if isinstance(v, int) and v > 0:
            return v
    return 2048


def pad_id(tok):
    return tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id


def split_head(model):
    """(body, head): the model's body, whose last_hidden_state feeds the
    output layer head, or None when the model does not split so (then
    log-probabilities come from the full logits)."""
    head = model.get_output_embeddings()
    body = getattr(model, "base_model", None)
    if head is None or body is None or body is model:
        return None
    return body, head


def finish_logits(model, logits):
    """What the model's own forward does to the output layer's logits after
    the layer: Gemma-2's final soft-capping, Cohere's logit_scale,
    Granite's logits_scaling."""
    import torch

    cfg = model.config
    cap = getattr(cfg, "final_logit_softcapping", None)
    if cap:
        logits = torch.tanh(logits / cap) * cap
    scale = getattr(model, "logit_scale", None)
    if isinstance(scale, (int, float)) and scale != 1:
        logits = logits * scale
    div = getattr(cfg, "logits_scaling", None)
    if isinstance(div, (int, float)) and div not in (0, 1):
        logits = logits / div
    return logits


def continuation_logprobs(model, ids, mask, spans, mode="hidden", rows_per_chunk=512):
    """Log-probabilities of the continuation tokens of a batch: spans[i] is
    (first logit row, continuation ids) of row i. Returns, per row, a
    tensor of the continuation tokens' log-probabilities and whether each
    is the argmax. mode "hidden": the body's hidden states at the
    continuation rows only go through the output layer and the log-softmax
    (float32), rows_per_chunk rows at a time; "full": the model's whole
    logits, as the plain computation."""
    import torch

    parts = split_head(model) if mode == "hidden" else None
    with torch.no_grad():
        if parts is None:
            logits = model(input_ids=ids, attention_mask=mask).logits
            out = []
            for i, (first, cont) in enumerate(spans):
                rows = torch.log_softmax(logits[i, first:first + len(cont)].float(), dim=-1)
                target = torch.tensor(cont, device=rows.device)
                out.append((rows.gather(1, target[:, None])[:, 0], rows.argmax(dim=-1) == target))
            return out
        body, head = parts
        hidden = body(input_ids=ids, attention_mask=mask).last_hidden_state
        bi = torch.cat([torch.full((len(c),), i, dtype=torch.long) for i, (_, c) in enumerate(spans)])
        ti = torch.cat([torch.arange(f, f + len(c)) for f, c in spans])
        targets = torch.tensor([t for _, c in spans for t in c])
        picked = hidden[bi.to(hidden.device), ti.to(hidden.device)]  # [N, H]: the continuation rows only
        del hidden
        hdev = head.weight.device
        lps, greedy = [], []
        for lo in range(0, picked.shape[0], rows_per_chunk):
            h = picked[lo:lo + rows_per_chunk].to(hdev)
            logp = torch.log_softmax(finish_logits(model, head(h).float()), dim=-1)
            t = targets[lo:lo + rows_per_chunk].to(hdev)
            lps.append(logp.gather(1, t[:, None])[:, 0])
            greedy.append(logp.argmax(dim=-1) == t)
            del logp
        lp, gr = torch.cat(lps), torch.cat(greedy)
        out, at = [], 0
        for _, c in spans:
            out.append((lp[at:at + len(c)], gr[at:at + len(c)]))
            at += len(c)
        return out


def loglikelihood(model, enc, device, reqs, batcher, mode="hidden"):
    """Scores loglikelihood requests in length-sorted batches, longest first
    (an out-of-memory shows at once)."""
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
    pad = pad_id(enc.tok)

    def score(batch):
        width = max(len(it[1]) for it in batch)
        ids = torch.full((len(batch), width), pad, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, (_, inputs, _, _) in enumerate(batch):
            ids[i, :len(inputs)] = torch.tensor(inputs)
            mask[i, :len(inputs)] = 1
        res = continuation_logprobs(model, ids.to(device), mask.to(device), [(f, c) for _, _, f, c in batch], mode)
        return [(rid, (lp.sum().item(), bool(g.all().item()))) for (rid, _, _, _), (lp, g) in zip(batch, res)]

    return dict(batcher.run(items, score, describe=lambda it: f"request {it[0]}, {len(it[1])} tokens"))


def generate(model, enc, device, reqs, batcher):
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

    pad = pad_id(tok)
    out = {}
    for (n, until), group in groups.items():
        def decode(batch, n=n, until=until):
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
            return [(rid, enc.finish(gen[i, width:].tolist(), until)) for i, (rid, _, _, _) in enumerate(batch)]

        out.update(batcher.run(group, decode, describe=lambda it: f"request {it[0]}, {len(it[1])} tokens"))
    return out


class Evaluator:
    """A loaded model with its settings: answer(reqs) answers requests."""

    def __init__(self, path, a):
        self.model, tok, self.device, word_level = load(path, a.device, a.dtype, a.n_devices, a.memory_fraction)
        try:
            self.enc = Encoder(tok, bos=a.bos, chat_template=a.chat_template, word_level=word_level)
        except ValueError as e:
            raise SystemExit(f"{path}: {e}")
        self.batcher = Batcher(a.batch_size, torch_is_oom, torch_recover)
        self.mode = a.logits

    def answer(self, reqs):
        answers = loglikelihood(self.model, self.enc, self.device, [r for r in reqs if r["type"] == "loglikelihood"],
                                self.batcher, self.mode)
        answers.update(generate(self.model, self.enc, self.device, [r for r in reqs if r["type"] == "generate_until"],
                                self.batcher))
        return answers


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model")
    ap.add_argument("--requests")
    ap.add_argument("--out")
    ap.add_argument("--persistent", action="store_true",
                    help="serve mergescale's persistent protocol on standard input and output (eval.persistent)")
    ap.add_argument("--device", default="cuda:0", help="cuda:N or cpu (cuda falls back to the CPU when absent)")
    ap.add_argument("--devices", help="the slot's GPUs, comma-separated ({devices}); more than one: device_map=auto over them")
    ap.add_argument("--memory-fraction", type=float, help="cap each GPU's memory for this process (a fraction in (0, 1])")
    ap.add_argument("--dtype", default="auto", help="auto (bf16 on a GPU, float32 on the CPU), bfloat16, float16 or float32")
    ap.add_argument("--batch-size", type=int, default=16,
                    help="sequences per forward pass or generation batch, halved on out-of-memory down to 1")
    ap.add_argument("--logits", default="hidden", choices=["hidden", "full"],
                    help="hidden: output layer on the continuation rows only; full: the whole logits")
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
    if a.memory_fraction is not None and not 0 < a.memory_fraction <= 1:
        ap.error("--memory-fraction must be in (0, 1]")
    a.n_devices = 0
    if a.devices:
        devs = parse_devices(a.devices)
        # Before PyTorch starts CUDA: the process sees the slot's GPUs only,
        # as cuda:0 ... cuda:N-1.
        os.environ["CUDA_VISIBLE_DEVICES"] = visible_devices(devs, os.environ)
        a.device, a.n_devices = "cuda:0", len(devs)
    if a.persistent:
        if a.model or a.requests or a.out:
            ap.error("--persistent takes its models and requests on standard input: no --model, --requests or --out")
        inp, out = protocol_streams()
        serve(inp, out, lambda path: Evaluator(path, a), lambda ev, reqs: ev.answer(reqs), torch_recover)
        return
    if not (a.model and a.requests and a.out):
        ap.error("--model, --requests and --out are required")
    reqs = read_requests(a.requests)
    write_answers(a.out, reqs, Evaluator(a.model, a).answer(reqs))


if __name__ == "__main__":
    main()
