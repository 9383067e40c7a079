"""A stub of lm-evaluation-harness's model-class interface (HFLM, VLLM) for
the tests of adapters/lmeval_eval.py: no model, no lm_eval, no GPU.

loglikelihood scores minus the number of words of the continuation, 0.5
less when it ends in the end-of-sequence text "</s>", greedy for " red";
generate_until answers "<model name> says red.\\nblue" cut at each stop
string and at "</s>", as lm-eval's classes cut, with "[devices
CUDA_VISIBLE_DEVICES; key=value ...]" of the constructor's arguments first
when the context asks "kwargs?". It records every request's type and
arguments in seen.
"""

import os


class _Tokenizer:
    eos_token = "</s>"


class StubLM:
    """lm-eval's LM interface over nothing."""

    def __init__(self, pretrained, **kwargs):
        if "missing" in pretrained:
            raise OSError(f"{pretrained} is not a model folder")
        self.name = os.path.basename(pretrained.rstrip("/"))
        self.kwargs = kwargs
        self.tokenizer = _Tokenizer()
        self.seen = []

    def loglikelihood(self, requests):
        out = []
        for r in requests:
            assert r.request_type == "loglikelihood"
            ctx, cont = r.args
            self.seen.append((r.request_type, r.args))
            words = cont.replace("</s>", " ").split()
            out.append((-float(len(words)) - (0.5 if cont.endswith("</s>") else 0.0), cont == " red"))
        return out

    def generate_until(self, requests):
        out = []
        for r in requests:
            assert r.request_type == "generate_until"
            ctx, kw = r.args
            assert kw["do_sample"] is False and kw["max_gen_toks"] > 0
            self.seen.append((r.request_type, r.args))
            text = f"{self.name} says red.\nblue</s>more"
            if ctx.endswith("kwargs?"):
                settings = " ".join(f"{k}={v}" for k, v in sorted(self.kwargs.items()))
                text = f"[devices {os.environ.get('CUDA_VISIBLE_DEVICES', '')}; {settings}] " + text
            for u in list(kw["until"]) + ["</s>"]:
                text = text.split(u)[0]
            out.append(text)
        return out

    def apply_chat_template(self, chat_history, add_generation_prompt=True):
        assert add_generation_prompt and len(chat_history) == 1
        return f"<user>{chat_history[0]['content']}</user>\n"
