#!/usr/bin/env python3
"""mergescale's command backend through lm-evaluation-harness's model classes.

It answers the harness's JSONL requests (see adapters/hf_eval.py) with an
lm-eval model class, so that the models are run as lm-eval runs them:

  --backend hf    lm_eval.models.huggingface.HFLM: with more than one
                  device, parallelize=True (device_map="auto" over the slot's
                  GPUs); batch_size="auto" by default (lm-eval finds the
                  largest batch that fits)
  --backend vllm  lm_eval.models.vllm_causallms.VLLM:
                  tensor_parallel_size = the slot's number of GPUs,
                  batch_size="auto"

Requests become lm-eval Instances: loglikelihood -> (context, continuation),
with the tokenizer's end-of-sequence token text appended to the
continuation for "eos": true (the real-scoring issue's setting; lm-eval's
own tasks append none, so task folders meant to match lm-eval set "eos":
false); generate_until -> (context, {"until": until, "max_gen_toks": n,
"do_sample": False, "temperature": 0}): lm-eval's greedy decoding, which also
stops at the end-of-sequence token; the text is cut at each stop string
again (a no-op for lm-eval's classes). --bos maps to add_bos_token (auto:
None, the class's default; on: True; off: False); --chat-template applies
the class's apply_chat_template to each context (one user turn, the
generation prompt).

vLLM's log-probabilities do not match transformers' to 1e-4 (other
kernels, bf16 paths): compare which option wins (adapters/compare_answers.py
--argmax-only), not the values.

Usage (eval.command):
  python3 adapters/lmeval_eval.py --backend hf --model {model} --requests {requests} --out {out} --devices {devices}
  python3 adapters/lmeval_eval.py --backend vllm --persistent --devices {devices}     (eval.persistent)

--persistent speaks the persistent protocol (load / loaded, requests, end,
error lines) as hf_eval.py --persistent does. --model-class FILE.py:NAME
(or MODULE:NAME) uses another class with lm-eval's interface: the tests'
stub (adapters/testdata/stub_lm.py), or a wrapper of your own.
`python3 adapters/lmeval_eval.py --self-test` runs the stub through both
modes; it needs neither lm_eval nor a GPU.
"""

import argparse
import gc
import importlib
import importlib.util
import io
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import hf_eval  # noqa: E402  (the protocol helpers beside this file)


class Instance:
    """lm_eval.api.instance.Instance's fields, for model classes used
    without lm_eval installed (the stub)."""

    def __init__(self, request_type, doc, arguments, idx):
        self.request_type, self.doc, self.arguments, self.idx = request_type, doc, arguments, idx

    @property
    def args(self):
        return self.arguments if isinstance(self.arguments, tuple) else (self.arguments,)


def instance_class():
    """lm-eval's Instance when lm_eval is installed, this file's otherwise."""
    try:
        from lm_eval.api.instance import Instance as LMInstance
        return LMInstance
    except ImportError:
        return Instance


def model_class(backend, spec=None):
    """The model class: spec "FILE.py:NAME" or "MODULE:NAME", or lm-eval's
    registered class of backend (hf, vllm)."""
    if spec:
        where, _, name = spec.rpartition(":")
        if not where or not name:
            raise SystemExit(f"--model-class {spec!r}: want FILE.py:NAME or MODULE:NAME")
        if where.endswith(".py"):
            sp = importlib.util.spec_from_file_location(os.path.basename(where)[:-3], where)
            mod = importlib.util.module_from_spec(sp)
            sp.loader.exec_module(mod)
        else:
            mod = importlib.import_module(where)
        return getattr(mod, name)
    try:
        from lm_eval.api.registry import get_model
    except ImportError:
        raise SystemExit("lm_eval is not installed: pip install lm-eval (and vllm for --backend vllm)")
    return get_model(backend)


def model_kwargs(backend, path, a):
    """The class's constructor arguments for model path under the settings
    a (backend, dtype, batch_size, max_batch_size, max_length, bos,
    n_devices, device, gpu_memory_utilization)."""
    bos = {"auto": None, "on": True, "off": False}[a.bos]
    batch = a.batch_size if a.batch_size == "auto" else int(a.batch_size)
    if backend == "hf":
        kw = {"pretrained": path, "dtype": a.dtype, "batch_size": batch, "max_batch_size": a.max_batch_size}
        if a.n_devices > 1:
            kw["parallelize"] = True  # device_map="auto" over the visible GPUs: the slot's
        else:
            kw["device"] = a.device
        if a.max_length:
            kw["max_length"] = a.max_length
    elif backend == "vllm":
        kw = {"pretrained": path, "dtype": a.dtype, "batch_size": batch, "max_batch_size": a.max_batch_size,
              "tensor_parallel_size": max(a.n_devices, 1), "gpu_memory_utilization": a.gpu_memory_utilization}
        if a.max_length:
            kw["max_model_len"] = a.max_length
    else:
        raise SystemExit(f"--backend {backend!r}: want hf or vllm")
    if bos is not None:
        kw["add_bos_token"] = bos
    return kw


class Evaluator:
    """A model of an lm-eval class: answer(reqs) answers protocol requests."""

    def __init__(self, lm, chat_template=False):
        self.lm, self.chat = lm, chat_template
        tok = getattr(lm, "tokenizer", None)
        self.eos_text = getattr(tok, "eos_token", None)
        if not self.eos_text:
            raise SystemExit("the model's tokenizer has no end-of-sequence token text")
        self.Instance = instance_class()

    def context(self, text):
        if not self.chat:
            return text
        return self.lm.apply_chat_template([{"role": "user", "content": text}])

    def answer(self, reqs):
        out = {}
        ll = [r for r in reqs if r["type"] == "loglikelihood"]
        if ll:
            inst = [self.Instance("loglikelihood", {}, (self.context(r["context"]),
                                                        r.get("continuation", "") + (self.eos_text if r.get("eos") else "")), i)
                    for i, r in enumerate(ll)]
            res = self.lm.loglikelihood(inst)
            if len(res) != len(ll):
                raise SystemExit(f"the model class answered {len(res)} of {len(ll)} loglikelihood requests")
            for r, (lp, greedy) in zip(ll, res):
                out[r["id"]] = (float(lp), bool(greedy))
        gen = [r for r in reqs if r["type"] == "generate_until"]
        if gen:
            inst = [self.Instance("generate_until", {}, (self.context(r["context"]),
                                                         {"until": list(r.get("until") or []), "max_gen_toks": int(r["max_gen_toks"]),
                                                          "do_sample": False, "temperature": 0.0}), i)
                    for i, r in enumerate(gen)]
            res = self.lm.generate_until(inst)
            if len(res) != len(gen):
                raise SystemExit(f"the model class answered {len(res)} of {len(gen)} generate_until requests")
            for r, text in zip(gen, res):
                out[r["id"]] = hf_eval.cut_until(text, list(r.get("until") or []) + [self.eos_text])
        return out


def release():
    """Frees what a dropped model held: the GPU cache, vLLM's parallel
    state (best effort: vLLM does not promise to free a model in
    process)."""
    gc.collect()
    if "vllm" in sys.modules:
        try:
            from vllm.distributed.parallel_state import destroy_distributed_environment, destroy_model_parallel
            destroy_model_parallel()
            destroy_distributed_environment()
        except Exception:  # noqa: BLE001
            pass
    if "torch" in sys.modules:
        import torch
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def parser():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--backend", default="hf", choices=["hf", "vllm"])
    ap.add_argument("--model")
    ap.add_argument("--requests")
    ap.add_argument("--out")
    ap.add_argument("--persistent", action="store_true", help="serve the persistent protocol on standard input and output")
    ap.add_argument("--devices", help="the slot's GPUs, comma-separated ({devices})")
    ap.add_argument("--device", default="cuda", help="hf with one device and no --devices: cuda, cuda:N or cpu")
    ap.add_argument("--dtype", default="auto")
    ap.add_argument("--batch-size", default="auto", help="auto (lm-eval finds it) or a number")
    ap.add_argument("--max-batch-size", type=int, default=64)
    ap.add_argument("--max-length", type=int, help="the model's context length (vLLM: max_model_len)")
    ap.add_argument("--gpu-memory-utilization", type=float, default=0.9, help="vllm")
    ap.add_argument("--bos", default="auto", choices=["auto", "on", "off"], help="add_bos_token: None, True, False")
    ap.add_argument("--chat-template", action="store_true")
    ap.add_argument("--model-class", help="FILE.py:NAME or MODULE:NAME instead of lm-eval's class of --backend")
    ap.add_argument("--self-test", action="store_true", help="run the stub model class through both modes and exit")
    return ap


def main(argv=None):
    ap = parser()
    a = ap.parse_args(argv)
    if a.self_test:
        self_test()
        return
    if a.batch_size != "auto":
        try:
            a.batch_size = int(a.batch_size)
        except ValueError:
            ap.error("--batch-size: auto or a number")
    a.n_devices = 0
    if a.devices:
        devs = hf_eval.parse_devices(a.devices)
        # Before lm_eval, PyTorch or vLLM start CUDA: the process sees the
        # slot's GPUs only.
        os.environ["CUDA_VISIBLE_DEVICES"] = hf_eval.visible_devices(devs, os.environ)
        a.n_devices, a.device = len(devs), "cuda:0"
    cls = model_class(a.backend, a.model_class)

    def load(path):
        return Evaluator(cls(**model_kwargs(a.backend, path, a)), a.chat_template)

    if a.persistent:
        if a.model or a.requests or a.out:
            ap.error("--persistent takes its models and requests on standard input: no --model, --requests or --out")
        inp, out = hf_eval.protocol_streams()
        hf_eval.serve(inp, out, load, lambda ev, reqs: ev.answer(reqs), release)
        return
    if not (a.model and a.requests and a.out):
        ap.error("--model, --requests and --out are required")
    reqs = hf_eval.read_requests(a.requests)
    hf_eval.write_answers(a.out, reqs, load(a.model).answer(reqs))


# ---------------------------------------------------------------- self-test


def self_test():
    """The stub model class (adapters/testdata/stub_lm.py) through the
    constructor arguments, both modes and the request mapping."""
    import tempfile

    stub = os.path.join(HERE, "testdata", "stub_lm.py")
    spec = stub + ":StubLM"
    args = lambda *extra: parser().parse_args(list(extra))  # noqa: E731

    a = args("--backend", "hf")
    a.n_devices = 2
    assert model_kwargs("hf", "/m", a) == {"pretrained": "/m", "dtype": "auto", "batch_size": "auto",
                                           "max_batch_size": 64, "parallelize": True}, model_kwargs("hf", "/m", a)
    a = args("--backend", "hf", "--batch-size", "8", "--bos", "on", "--max-length", "4096")
    a.batch_size, a.n_devices, a.device = 8, 1, "cuda:0"
    assert model_kwargs("hf", "/m", a) == {"pretrained": "/m", "dtype": "auto", "batch_size": 8, "max_batch_size": 64,
                                           "device": "cuda:0", "max_length": 4096, "add_bos_token": True}
    a = args("--backend", "vllm", "--bos", "off")
    a.n_devices = 4
    assert model_kwargs("vllm", "/m", a) == {"pretrained": "/m", "dtype": "auto", "batch_size": "auto",
                                             "max_batch_size": 64, "tensor_parallel_size": 4,
                                             "gpu_memory_utilization": 0.9, "add_bos_token": False}

    cls = model_class("hf", spec)
    ev = Evaluator(cls(pretrained="/models/m1", batch_size="auto"))
    reqs = [
        {"id": "a", "type": "loglikelihood", "context": "Q: colour? A:", "continuation": " red", "eos": False},
        {"id": "b", "type": "loglikelihood", "context": "Q: colour? A:", "continuation": " dark blue", "eos": True},
        {"id": "c", "type": "generate_until", "context": "Q: colour?", "until": ["\n"], "max_gen_toks": 5},
        {"id": "d", "type": "generate_until", "context": "Q: colour?", "until": [], "max_gen_toks": 5},
    ]
    got = ev.answer(reqs)
    # The stub scores minus the continuation's words, 0.5 more for the
    # end-of-sequence text, greedy for " red"; the eos request reached it as
    # " dark blue</s>".
    assert got["a"] == (-1.0, True) and got["b"] == (-2.5, False), got
    seen = ev.lm.seen
    assert seen[0] == ("loglikelihood", ("Q: colour? A:", " red")), seen
    assert seen[1] == ("loglikelihood", ("Q: colour? A:", " dark blue</s>")), seen
    assert seen[2] == ("generate_until", ("Q: colour?", {"until": ["\n"], "max_gen_toks": 5, "do_sample": False,
                                                         "temperature": 0.0})), seen
    # Stop strings, then the end-of-sequence text, as lm-eval cuts.
    assert got["c"] == "m1 says red.", got
    assert got["d"] == "m1 says red.\nblue", got
    chat = Evaluator(cls(pretrained="/models/m1"), chat_template=True)
    chat.answer(reqs[:1])
    assert chat.lm.seen[0][1][0] == "<user>Q: colour? A:</user>\n", chat.lm.seen

    # Per-call mode, end to end through main().
    with tempfile.TemporaryDirectory() as d:
        rp, op = os.path.join(d, "r.jsonl"), os.path.join(d, "o.jsonl")
        with open(rp, "w") as f:
            f.write("".join(json.dumps(r) + "\n" for r in reqs))
        main(["--model-class", spec, "--model", "/models/m2", "--requests", rp, "--out", op])
        with open(op) as f:
            lines = [json.loads(x) for x in f]
        assert [x["id"] for x in lines] == ["a", "b", "c", "d"] and lines[2]["text"] == "m2 says red.", lines

    # Persistent mode: two models in turn, a failed load, through serve().
    made, settings = [], _ns(args("--backend", "hf"), n_devices=0)

    def load(path):
        made.append(path)
        return Evaluator(cls(**model_kwargs("hf", path, settings)))

    lines = [{"type": "load", "model": "/models/m1"}] + reqs[2:3] + [{"type": "end"},
             {"type": "load", "model": "/models/missing"},
             {"type": "load", "model": "/models/m2"}] + reqs[:1] + [{"type": "end"}]
    out = io.StringIO()
    hf_eval.serve(io.StringIO("".join(json.dumps(x) + "\n" for x in lines)), out, load, lambda e, r: e.answer(r))
    got = [json.loads(x) for x in out.getvalue().splitlines()]
    assert got[0] == {"type": "loaded", "model": "/models/m1"} and got[1] == {"id": "c", "text": "m1 says red."}, got
    assert got[2]["type"] == "error" and "/models/missing is not a model folder" in got[2]["message"], got
    assert got[3:] == [{"type": "loaded", "model": "/models/m2"}, {"id": "a", "logprob": -1.0, "is_greedy": True}], got
    assert made == ["/models/m1", "/models/missing", "/models/m2"], made
    print("self-test ok (lm-eval model-class adapter, stub model class)")


def _ns(a, **kw):
    """a with the attributes kw set."""
    for k, v in kw.items():
        setattr(a, k, v)
    return a


if __name__ == "__main__":
    main()
