#!/usr/bin/env python3
"""The cost of a study's grid before it runs.

Reads the plan that `mergescale run CONFIG --plan --json` prints (a file,
or - for stdin) and, from the parameter count of each size label and the
throughputs you state, prints a table per size: merges, the bytes they read
and write, merge hours, evaluations and GPU-hours, and the merged
checkpoints a shard holds at once (the scratch merged_dir needs).

    mergescale run configs/mine.yaml --plan --json > plan.json
    python3 adapters/plan_cost.py plan.json --params 1b=1.2e9,8b=8e9

The model (every number is a stated assumption, change it with a flag):

  - a merge of k experts reads the base and the k experts and writes one
    checkpoint, each params x --bytes-per-param (2: bfloat16); merge hours
    are bytes read / --read-gbps + bytes written / --write-gbps (the merge
    streams, so disk bandwidth bounds it);
  - an evaluation scores --eval-tokens tokens (context + continuation over
    every request of one evaluation job) at 2 x params FLOPs per token on
    GPUs delivering --gpu-tflops effective TFLOP/s each: GPU-hours =
    tokens x 2 x params / (tflops x 1e12) / 3600. Validation evaluations
    cover only held-in tasks, so this is an upper bound;
  - merged checkpoints at once (per shard): --workers cells x the largest
    grid of a cell x the checkpoint size + 10 %, as the runner's pruning
    rule allows (with sweep.keep_merged every merge is kept instead).

Standard library only.
"""

import argparse
import json
import sys


def parse_sizes(text, what):
    """Parses "1b=1.2e9,8b=8e9" into {"1b": 1.2e9, "8b": 8e9}."""
    out = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        label, sep, value = part.partition("=")
        if not sep:
            raise SystemExit(f"plan_cost: {what}: {part!r} is not SIZE=NUMBER")
        try:
            out[label] = float(value)
        except ValueError:
            raise SystemExit(f"plan_cost: {what}: {value!r} (size {label}) is not a number")
    return out


def human_bytes(n):
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000


def human_params(n):
    if n >= 1e9:
        return f"{n / 1e9:g}B"
    if n >= 1e6:
        return f"{n / 1e6:g}M"
    return f"{n:g}"


def cost(plan, params, args):
    """Returns the table's rows (one per size, then the total) as dicts."""
    jobs = plan.get("jobs")
    if not isinstance(jobs, list):
        raise SystemExit('plan_cost: the plan has no "jobs" list (want the output of run --plan --json)')
    by_key = {j["key"]: j for j in jobs}
    sizes = []
    for j in jobs:
        if j["kind"] in ("merge", "eval") and j["size"] not in sizes:
            sizes.append(j["size"])
    missing = [s for s in sizes if s not in params]
    if missing:
        raise SystemExit(f"plan_cost: --params lacks size(s) {', '.join(missing)} (the plan's sizes: {', '.join(sizes)})")
    sizes.sort(key=lambda s: params[s])
    bpp, rows = args.bytes_per_param, []
    points = {}  # size -> the largest grid of a cell (merges a selection chooses among)
    for j in jobs:
        if j["kind"] == "eval":
            cands = [d for d in j["deps"] if by_key.get(d, {}).get("kind") == "merge"]
            if cands:
                points[j["size"]] = max(points.get(j["size"], 0), len(cands))
    for s in sizes:
        p = params[s]
        ckpt = p * bpp
        merges = [j for j in jobs if j["kind"] == "merge" and j["size"] == s]
        evals = sum(1 for j in jobs if j["kind"] == "eval" and j["size"] == s)
        read = sum((j["k"] + 1) * ckpt for j in merges)
        written = len(merges) * ckpt
        merge_hours = (read / (args.read_gbps * 1e9) + written / (args.write_gbps * 1e9)) / 3600
        gpu_hours = evals * args.eval_tokens * 2 * p / (args.gpu_tflops * 1e12) / 3600
        at_once = min(args.workers * points.get(s, 1), len(merges)) * ckpt * 1.1
        rows.append({"size": s, "params": p, "merges": len(merges), "read": read, "written": written,
                     "merge_hours": merge_hours, "evals": evals, "gpu_hours": gpu_hours, "at_once": at_once})
    total = {"size": "total", "params": None}
    for k in ("merges", "read", "written", "merge_hours", "evals", "gpu_hours"):
        total[k] = sum(r[k] for r in rows)
    total["at_once"] = max((r["at_once"] for r in rows), default=0)
    rows.append(total)
    return rows


def render(rows, fmt):
    head = ["size", "params", "merges", "bytes read", "bytes written", "merge hours", "evaluations", "GPU-hours",
            "merged_dir at once"]
    body = []
    for r in rows:
        body.append([r["size"], human_params(r["params"]) if r["params"] else "", str(r["merges"]),
                     human_bytes(r["read"]), human_bytes(r["written"]), f"{r['merge_hours']:.1f}", str(r["evals"]),
                     f"{r['gpu_hours']:.1f}", human_bytes(r["at_once"])])
    if fmt == "csv":
        lines = [",".join(h.replace(" ", "_").replace("-", "_").lower() for h in head)]
        for r in rows:
            lines.append(",".join(str(x) for x in [r["size"], "" if r["params"] is None else f"{r['params']:.0f}",
                                                   r["merges"], f"{r['read']:.0f}", f"{r['written']:.0f}",
                                                   f"{r['merge_hours']:.3f}", r["evals"], f"{r['gpu_hours']:.3f}",
                                                   f"{r['at_once']:.0f}"]))
        return "\n".join(lines) + "\n"
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("plan", help="the output of `mergescale run CONFIG --plan --json` (- for stdin)")
    ap.add_argument("--params", required=True, help="parameters per size label, e.g. 1b=1.2e9,8b=8e9")
    ap.add_argument("--bytes-per-param", type=float, default=2, help="bytes per parameter of a checkpoint (default 2: bfloat16)")
    ap.add_argument("--read-gbps", type=float, default=2.0, help="GB/s a merge reads (default 2.0)")
    ap.add_argument("--write-gbps", type=float, default=1.0, help="GB/s a merge writes (default 1.0)")
    ap.add_argument("--eval-tokens", type=float, default=3e6, help="tokens scored per evaluation job (default 3e6)")
    ap.add_argument("--gpu-tflops", type=float, default=400, help="effective TFLOP/s per GPU (default 400)")
    ap.add_argument("--workers", type=int, default=1, help="workers per shard, for merged_dir at once (default 1)")
    ap.add_argument("--format", choices=("md", "csv"), default="md", help="Markdown table (default) or CSV")
    args = ap.parse_args(argv)
    for name in ("bytes_per_param", "read_gbps", "write_gbps", "eval_tokens", "gpu_tflops", "workers"):
        if getattr(args, name) <= 0:
            raise SystemExit(f"plan_cost: --{name.replace('_', '-')} must be positive")
    params = parse_sizes(args.params, "--params")
    try:
        text = sys.stdin.read() if args.plan == "-" else open(args.plan, encoding="utf-8").read()
        plan = json.loads(text)
    except OSError as e:
        raise SystemExit(f"plan_cost: {e}")
    except json.JSONDecodeError as e:
        raise SystemExit(f"plan_cost: {args.plan}: not JSON ({e}); want the output of run --plan --json")
    sys.stdout.write(render(cost(plan, params, args), args.format))


if __name__ == "__main__":
    main()
