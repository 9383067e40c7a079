#!/usr/bin/env python3
"""Compares two answer files of one requests file (e.g. `mergescale loglik`
and adapters/hf_eval.py): every log-probability within --tol, and the same
argmax option for every instance (requests whose ids share everything up to
the last "/"). Exits 1 on a failure. Generated texts are compared and
reported. --argmax-only checks the argmaxes alone (vLLM against
transformers: their log-probabilities differ beyond 1e-4)."""

import argparse
import json
import sys


def load(path):
    out = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                a = json.loads(line)
                out[a["id"]] = a
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("requests")
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--argmax-only", action="store_true", help="fail on differing argmaxes only")
    args = ap.parse_args()
    reqs = [json.loads(l) for l in open(args.requests, encoding="utf-8") if l.strip()]
    a, b = load(args.a), load(args.b)
    worst, bad, groups, texts, same_text = 0.0, 0, {}, 0, 0
    for r in reqs:
        rid = r["id"]
        if rid not in a or rid not in b:
            print(f"request {rid}: missing from {args.a if rid not in a else args.b}", file=sys.stderr)
            return 1
        if r["type"] == "generate_until":
            texts += 1
            same_text += a[rid]["text"] == b[rid]["text"]
            continue
        d = abs(a[rid]["logprob"] - b[rid]["logprob"])
        worst = max(worst, d)
        if d > args.tol:
            bad += 1
            if bad <= 5:
                print(f"request {rid}: logprob {a[rid]['logprob']:.7g} vs {b[rid]['logprob']:.7g}", file=sys.stderr)
        groups.setdefault(rid.rsplit("/", 1)[0], []).append(rid)
    argmax_diff = 0
    for g, ids in groups.items():
        pa = max(range(len(ids)), key=lambda i: (a[ids[i]]["logprob"], -i))
        pb = max(range(len(ids)), key=lambda i: (b[ids[i]]["logprob"], -i))
        argmax_diff += pa != pb
    print(f"{len(reqs)} requests: max |Δ logprob| {worst:.3g} ({bad} over {args.tol:g}); "
          f"{argmax_diff} of {len(groups)} argmaxes differ; {same_text} of {texts} generations identical")
    if args.argmax_only:
        return 1 if argmax_diff else 0
    return 1 if bad or argmax_diff else 0


if __name__ == "__main__":
    sys.exit(main())
