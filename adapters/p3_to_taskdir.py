#!/usr/bin/env python3
"""Convert P3-layout JSON Lines (T0's prompted data) into a mergescale task folder.

Input: one folder per P3 subset (a data set rendered with one template), each
holding <split>.jsonl with P3's fields, one row per line:

    inputs_pretokenized   the rendered prompt
    targets_pretokenized  the rendered target
    answer_choices        the rendered choices (templates with choices only)

(the README's recipe exports them from bigscience/P3 with `datasets`; this
script never touches the network). A mapping file, shaped like suite.json,
names the tasks: per category (held_in, held_out) the tasks, each with the
P3 subsets it reads (`"p3": "super_glue_rte_*"`, the star standing for the
template's name), the templates ("all", or a list of names), and optionally
metric, target_delimiter, eos, until, generative, test_from ("validation":
the data set's test labels are hidden, so P3's validation split becomes the
task's test split) and validation_from ("train", with validation_size: the
validation split is carved from train by row index, the same rows for every
template). adapters/t0_tasks.json is the mapping of the paper's tasks.

A task's metric decides its line shape: accuracy or acc_norm (the default)
make one {"prompt", "options", "answer"} line per row, `answer_choices`
giving the options and the target's place among them the answer;
exact_match, rouge_l or f1 make {"prompt", "target"} lines. With "templates":
"all", templates of the other shape are skipped (and listed in the report).

Output: <out>/suite.json, <out>/<task>/{train,validation,test}.jsonl and
<out>/convert_report.json, which counts every row read, skipped and dropped.
Repeated prompts are dropped within a split (the first stays), a train
prompt that is also in validation or test is dropped from train, a
validation prompt also in test from validation; test never gives way.

Bad input (a malformed line, a missing field, an answer not among the
choices, an empty target, an empty or missing split) stops the conversion
before anything is written; every problem is printed as file:line: message.

Standard library only. `--self-test` converts a small made-up tree and
checks the result and the errors.
"""

import argparse
import fnmatch
import json
import os
import random
import shutil
import sys
import tempfile

GENERATION_METRICS = ("exact_match", "rouge_l", "f1")
RANK_METRICS = ("accuracy", "acc_norm")
SPLITS = ("train", "validation", "test")
TASK_KEYS = {"name", "p3", "templates", "exclude", "metric", "target_delimiter", "eos", "until", "generative",
             "test_from", "validation_from", "validation_size", "comment"}
SCORING_KEYS = ("target_delimiter", "eos", "until", "metric")


class Problems:
    """Collects every problem of a conversion, each naming file and line."""

    def __init__(self):
        self.lines = []

    def add(self, where, msg):
        self.lines.append("%s: %s" % (where, msg))

    def __bool__(self):
        return bool(self.lines)


def load_mapping(path, probs):
    """Reads the mapping file: its tasks, in held-in then held-out order."""
    try:
        with open(path, encoding="utf-8") as f:
            m = json.load(f)
    except (OSError, ValueError) as e:
        probs.add(path, "unreadable mapping: %s" % e)
        return []
    defaults = m.get("defaults", {})
    tasks, seen = [], set()
    for held in ("held_in", "held_out"):
        for cat in m.get(held, []):
            for t in cat.get("tasks", []):
                t = dict(defaults, **t)
                t["category"], t["held"] = cat.get("category", ""), held
                name = t.get("name", "")
                unknown = sorted(set(t) - TASK_KEYS - {"category", "held"})
                if unknown:
                    probs.add(path, "task %r: unknown keys %s" % (name, ", ".join(unknown)))
                if not name or "/" in name or name in (".", "..") or name in seen:
                    probs.add(path, "task name %r is empty, not a folder name, or listed twice" % name)
                    continue
                seen.add(name)
                if not t["category"]:
                    probs.add(path, "task %r: its category has no name" % name)
                if t.get("p3", "").count("*") != 1:
                    probs.add(path, "task %r: p3 must be a subset name with one * for the template, got %r" % (name, t.get("p3")))
                metric = t.get("metric", "accuracy")
                if metric not in RANK_METRICS + GENERATION_METRICS:
                    probs.add(path, "task %r: unknown metric %r" % (name, metric))
                if t.get("test_from") not in (None, "validation"):
                    probs.add(path, "task %r: test_from must be \"validation\", got %r" % (name, t.get("test_from")))
                if t.get("validation_from") not in (None, "train"):
                    probs.add(path, "task %r: validation_from must be \"train\", got %r" % (name, t.get("validation_from")))
                if t.get("validation_from") and not (isinstance(t.get("validation_size"), int) and t["validation_size"] > 0):
                    probs.add(path, "task %r: validation_from needs a positive integer validation_size" % name)
                tmpl = t.get("templates", "all")
                if tmpl != "all" and not (isinstance(tmpl, list) and tmpl and all(isinstance(x, str) for x in tmpl)):
                    probs.add(path, "task %r: templates must be \"all\" or a list of template names" % name)
                tasks.append(t)
    if not tasks and not probs:
        probs.add(path, "lists no held_in or held_out tasks")
    return tasks


def find_templates(p3dir, task, probs):
    """Returns {template name: subset folder} of a task's P3 subsets."""
    pattern = task["p3"]
    head, tail = pattern.split("*")
    found = {}
    try:
        names = sorted(os.listdir(p3dir))
    except OSError as e:
        probs.add(p3dir, str(e))
        return {}
    for n in names:
        if not os.path.isdir(os.path.join(p3dir, n)) or not fnmatch.fnmatchcase(n, pattern):
            continue
        tmpl = n[len(head):len(n) - len(tail)]
        if tmpl.endswith("_score_eval") or n.endswith("_score_eval"):
            continue  # one row per (example, choice): rank evaluation's copy of the same data
        found[tmpl] = os.path.join(p3dir, n)
    want = task.get("templates", "all")
    if want == "all":
        if not found:
            probs.add(p3dir, "task %r: no subset matches %r" % (task["name"], pattern))
        excl = set(task.get("exclude", []))
        return {k: v for k, v in found.items() if k not in excl}
    out = {}
    for tmpl in want:
        if tmpl not in found:
            probs.add(p3dir, "task %r: template %r not found (no folder %s)" % (task["name"], tmpl, head + tmpl + tail))
        else:
            out[tmpl] = found[tmpl]
    return out


def count_lines(path):
    n = 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                n += 1
    return n


def read_rows(path, probs, keep=None):
    """Yields (line number, row index, row) of a P3 JSON Lines file; keep,
    when given, selects row indexes. A malformed line is a problem."""
    idx = -1
    with open(path, encoding="utf-8") as f:
        for ln, line in enumerate(f, 1):
            if not line.strip():
                continue
            idx += 1
            if keep is not None and idx not in keep:
                continue
            try:
                row = json.loads(line)
            except ValueError as e:
                probs.add("%s:%d" % (path, ln), "malformed JSON: %s" % e)
                continue
            if not isinstance(row, dict):
                probs.add("%s:%d" % (path, ln), "not a JSON object")
                continue
            yield ln, idx, row


def has_choices(row):
    c = row.get("answer_choices")
    return isinstance(c, list) and len(c) > 0


def first_row(path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                try:
                    row = json.loads(line)
                except ValueError:
                    return None
                return row if isinstance(row, dict) else None
    return None


def to_line(where, row, options_form, probs, test_from_hint):
    """Turns a P3 row into a task line, or records why it cannot."""
    for field in ("inputs_pretokenized", "targets_pretokenized"):
        if field not in row:
            probs.add(where, "missing field %r" % field)
            return None
        if not isinstance(row[field], str):
            probs.add(where, "field %r is not a string" % field)
            return None
    prompt, target = row["inputs_pretokenized"].strip(), row["targets_pretokenized"].strip()
    if not prompt:
        probs.add(where, "empty inputs_pretokenized")
        return None
    if not target:
        probs.add(where, "empty targets_pretokenized" + test_from_hint)
        return None
    if not options_form:
        return {"prompt": prompt, "target": target}
    if "answer_choices" not in row:
        probs.add(where, "missing field 'answer_choices' (a task with options; set a generation metric to score the target alone)")
        return None
    choices = row["answer_choices"]
    if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
        probs.add(where, "answer_choices is not a list of strings")
        return None
    options = [c.strip() for c in choices]
    if len(options) < 2:
        probs.add(where, "%d answer_choices (rank classification needs at least 2)" % len(options))
        return None
    if target not in options:
        probs.add(where, "answer %r is not among the choices %s" % (target, json.dumps(options, ensure_ascii=False)))
        return None
    return {"prompt": prompt, "options": options, "answer": options.index(target)}


def convert_task(p3dir, task, seed, probs, report, no_train=False):
    """Reads one task's rows into {split: [(line, where)]}, filling its
    report entry; None when the task has problems."""
    name = task["name"]
    metric = task.get("metric", "accuracy")
    options_form = metric in RANK_METRICS
    rep = {"category": task["category"], "held": task["held"], "metric": metric,
           "form": "options" if options_form else "target", "templates": [], "templates_skipped": {},
           "read": {s: 0 for s in SPLITS}, "dropped": {s: {} for s in SPLITS}, "written": {}}
    if task.get("test_from"):
        rep["test_from"] = task["test_from"]
        rep["not_read"] = "P3's test split (its labels are hidden): the task's test split is P3's validation split"
    if task.get("validation_from"):
        rep["validation_from"] = task["validation_from"]
    report["tasks"][name] = rep
    templates = find_templates(p3dir, task, probs)
    carve = task.get("validation_from") == "train"
    # Source split of each task split; None: not read.
    source = {"train": "train", "validation": "validation", "test": "test"}
    if task.get("test_from") == "validation":
        source["test"], source["validation"] = "validation", None
    if carve:
        source["validation"] = "train"
    required = {"test"} | ({"validation"} if task["held"] == "held_in" else set())
    hint = " (hidden test labels? set \"test_from\": \"validation\" in the mapping)" if not task.get("test_from") else ""

    # Shape of each template, from its first row.
    usable = {}
    for tmpl, folder in sorted(templates.items()):
        probe = None
        for s in SPLITS:
            p = os.path.join(folder, s + ".jsonl")
            if os.path.exists(p):
                probe = first_row(p)
                if probe is not None:
                    break
        if probe is None:
            probs.add(folder, "no rows in any split file")
            continue
        if task.get("templates", "all") == "all" and has_choices(probe) != options_form:
            rep["templates_skipped"][tmpl] = ("no answer_choices (the task has options)" if options_form
                                              else "has answer_choices (the task is scored by %s)" % metric)
            continue
        usable[tmpl] = folder
    rep["templates"] = sorted(usable)
    if not usable:
        if not probs:
            probs.add(p3dir, "task %r: no template of the task's shape (%s)" % (name, rep["form"]))
        return None

    # Rows carved from train for validation: the same row indexes in every
    # template, so an example's renderings land on one side.
    carved = set()
    if carve:
        sizes = [count_lines(os.path.join(f, "train.jsonl")) for f in usable.values()
                 if os.path.exists(os.path.join(f, "train.jsonl"))]
        n = max(sizes) if sizes else 0
        k = min(task["validation_size"], n)
        carved = set(random.Random("%d/%s" % (seed, name)).sample(range(n), k))

    out = {s: [] for s in SPLITS}
    for s in SPLITS:
        src = source[s]
        if src is None or (s == "train" and no_train):
            continue
        for tmpl, folder in sorted(usable.items()):
            path = os.path.join(folder, src + ".jsonl")
            if not os.path.exists(path):
                if s in required or (s == "train" and carve):
                    probs.add(path, "missing (task %r needs P3's %s split%s)" % (name, src, hint if s == "test" else ""))
                continue
            if s != "train" and count_lines(path) == 0:
                probs.add(path, "empty split")
                continue
            keep = None
            if carve and s == "validation":
                keep = carved
            rows = 0
            for ln, idx, row in read_rows(path, probs, keep):
                if carve and s == "train" and idx in carved:
                    continue
                rows += 1
                where = "%s:%d" % (path, ln)
                line = to_line(where, row, options_form, probs, hint if s == "test" else "")
                if line is not None:
                    out[s].append((line, where))
            if rows == 0 and s != "train" and not probs:
                probs.add(path, "empty split")
            rep["read"][s] += rows
    return out


def drop(rep, split, reason, n):
    if n:
        rep["dropped"][split][reason] = rep["dropped"][split].get(reason, 0) + n


def deduplicate(out, rep):
    """Drops repeated prompts within a split and prompts that leak from one
    split into another (see the module's doc)."""
    for s in SPLITS:
        seen, kept = set(), []
        for line, where in out[s]:
            if line["prompt"] in seen:
                drop(rep, s, "duplicate", 1)
                continue
            seen.add(line["prompt"])
            kept.append((line, where))
        out[s] = kept
    test = {l["prompt"] for l, _ in out["test"]}
    val = {l["prompt"] for l, _ in out["validation"]}
    for s, others in (("validation", [("in_test", test)]), ("train", [("in_test", test), ("in_validation", val)])):
        kept = []
        for line, where in out[s]:
            for reason, keys in others:
                if line["prompt"] in keys:
                    drop(rep, s, reason, 1)
                    break
            else:
                kept.append((line, where))
        out[s] = kept


def chance(lines):
    ks = [len(l["options"]) for l in lines if "options" in l]
    return sum(1.0 / k for k in ks) / len(ks) if ks else 0.0


def write_jsonl(path, lines):
    with open(path, "w", encoding="utf-8") as f:
        for l in lines:
            f.write(json.dumps(l, ensure_ascii=False) + "\n")


def convert(p3dir, mapping, outdir, seed=0, no_train=False, force=False):
    """Converts; returns the list of problems (empty on success)."""
    probs = Problems()
    tasks = load_mapping(mapping, probs)
    if probs:
        return probs.lines
    report = {"source": os.path.abspath(p3dir), "mapping": os.path.abspath(mapping), "seed": seed, "tasks": {}}
    converted = []
    for t in tasks:
        out = convert_task(p3dir, t, seed, probs, report, no_train)
        if out is None:
            continue
        rep = report["tasks"][t["name"]]
        deduplicate(out, rep)
        for s in ("validation", "test"):
            if rep["read"][s] and not out[s]:
                probs.add(os.path.join(p3dir, t["p3"]), "task %r: no %s examples left after dropping repeats" % (t["name"], s))
        if no_train:
            rep["not_read"] = "; ".join(x for x in (rep.get("not_read"), "train (--no-train)") if x)
        converted.append((t, out))
    if probs:
        return probs.lines
    if os.path.exists(outdir) and os.listdir(outdir) and not force:
        return ["%s: exists and is not empty (use --force to write into it)" % outdir]
    os.makedirs(outdir, exist_ok=True)
    suite = {"seed": seed, "held_in": [], "held_out": [], "instruction_mixture": []}
    cats = {}
    total = 0
    for t, out in converted:
        rep = report["tasks"][t["name"]]
        d = os.path.join(outdir, t["name"])
        os.makedirs(d, exist_ok=True)
        for s in SPLITS:
            p = os.path.join(d, s + ".jsonl")
            if out[s]:
                write_jsonl(p, [l for l, _ in out[s]])
            elif os.path.exists(p):
                os.remove(p)
            rep["written"][s] = len(out[s])
            total += sum(rep["dropped"][s].values())
        entry = {"name": t["name"], "chance": chance([l for l, _ in out["test"]]),
                 "generative": bool(t.get("generative", False))}
        for k in SCORING_KEYS:
            if k in t:
                entry[k] = t[k]
        if t.get("test_from"):
            entry["test_from"] = t["test_from"]
        entry.update({s: len(out[s]) for s in SPLITS})
        key = (t["held"], t["category"])
        if key not in cats:
            cats[key] = {"category": t["category"], "tasks": []}
            suite[t["held"]].append(cats[key])
        cats[key]["tasks"].append(entry)
    report["dropped_total"] = total
    with open(os.path.join(outdir, "suite.json"), "w", encoding="utf-8") as f:
        json.dump(suite, f, indent=2, ensure_ascii=False)
        f.write("\n")
    with open(os.path.join(outdir, "convert_report.json"), "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2, ensure_ascii=False)
        f.write("\n")
    return []


def self_test():
    """Converts a made-up tree and checks lines, drops and errors."""
    tmp = tempfile.mkdtemp()
    try:
        def write(rel, rows):
            p = os.path.join(tmp, "p3", rel)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "w", encoding="utf-8") as f:
                for r in rows:
                    f.write((r if isinstance(r, str) else json.dumps(r)) + "\n")

        def row(i, t, ch=None):
            r = {"inputs_pretokenized": i + "\n", "targets_pretokenized": t, "inputs": [1, 2]}
            if ch is not None:
                r["answer_choices"] = ch
            return r
        yn = ["yes", "no"]
        write("ds_a_t1/train.jsonl", [row("a1", "yes", yn), row("a1", "yes", yn), row("v1", "no", yn), row("s1", "no", yn)])
        write("ds_a_t1/validation.jsonl", [row("v1", "no", yn), row("v2", "yes", yn), row("s1", "no", yn)])
        write("ds_a_t1/test.jsonl", [row("s1", "no", yn), row("s2", "yes", yn)])
        write("ds_a_gen/train.jsonl", [row("g", "text")])
        write("ds_a_gen/validation.jsonl", [row("g2", "text")])
        write("ds_a_gen/test.jsonl", [row("g3", "text")])
        write("ds_a_t1_score_eval/test.jsonl", [row("x", "yes", yn)])
        write("ho_t/validation.jsonl", [row("h1", "no", yn), row("h2", "yes", yn)])
        write("ho_t/test.jsonl", [row("h3", "", yn)])
        mapping = os.path.join(tmp, "map.json")
        with open(mapping, "w") as f:
            json.dump({"held_in": [{"category": "c", "tasks": [{"name": "a", "p3": "ds_a_*"}]}],
                       "held_out": [{"category": "h", "tasks": [{"name": "h", "p3": "ho_*", "test_from": "validation"}]}]}, f)
        out = os.path.join(tmp, "out")
        probs = convert(os.path.join(tmp, "p3"), mapping, out)
        assert probs == [], probs
        rep = json.load(open(os.path.join(out, "convert_report.json")))
        a = rep["tasks"]["a"]
        assert a["templates"] == ["t1"] and "gen" in a["templates_skipped"], a
        assert a["dropped"] == {"train": {"duplicate": 1, "in_validation": 1, "in_test": 1},
                                "validation": {"in_test": 1}, "test": {}}, a["dropped"]
        assert a["written"] == {"train": 1, "validation": 2, "test": 2}, a["written"]
        test = [json.loads(l) for l in open(os.path.join(out, "a", "test.jsonl"))]
        assert test[0] == {"prompt": "s1", "options": ["yes", "no"], "answer": 1}, test
        suite = json.load(open(os.path.join(out, "suite.json")))
        h = suite["held_out"][0]["tasks"][0]
        assert h["test_from"] == "validation" and h["test"] == 2 and h["validation"] == 0, h
        assert not os.path.exists(os.path.join(out, "h", "validation.jsonl"))

        # Errors: an answer not among the choices, a missing field, an empty split.
        write("ds_a_t1/test.jsonl", [row("s1", "maybe", yn), {"inputs_pretokenized": "s2"}])
        write("ds_a_t1/validation.jsonl", [])
        probs = convert(os.path.join(tmp, "p3"), mapping, os.path.join(tmp, "out2"))
        text = "\n".join(probs)
        for want in ("ds_a_t1/test.jsonl:1: answer 'maybe' is not among the choices",
                     "ds_a_t1/test.jsonl:2: missing field 'targets_pretokenized'",
                     "ds_a_t1/validation.jsonl: empty split"):
            assert want in text, (want, text)
        assert not os.path.exists(os.path.join(tmp, "out2")), "wrote despite errors"
        # Hidden test labels without test_from: the error says what to do.
        with open(mapping, "w") as f:
            json.dump({"held_out": [{"category": "h", "tasks": [{"name": "h", "p3": "ho_*"}]}]}, f)
        text = "\n".join(convert(os.path.join(tmp, "p3"), mapping, os.path.join(tmp, "out3")))
        assert "ho_t/test.jsonl:1: empty targets_pretokenized (hidden test labels?" in text, text
        # Validation carved from train: the same row in every template.
        for tmpl in ("x", "y"):
            write("cv_%s/train.jsonl" % tmpl, [row("%s%d" % (tmpl, i), "yes", yn) for i in range(5)])
            write("cv_%s/validation.jsonl" % tmpl, [row("%s-v" % tmpl, "no", yn)])
        with open(mapping, "w") as f:
            json.dump({"held_in": [{"category": "c", "tasks": [{"name": "cv", "p3": "cv_*", "test_from": "validation",
                                                                 "validation_from": "train", "validation_size": 2}]}]}, f)
        out4 = os.path.join(tmp, "out4")
        assert convert(os.path.join(tmp, "p3"), mapping, out4, seed=3) == []
        val = [json.loads(l)["prompt"] for l in open(os.path.join(out4, "cv", "validation.jsonl"))]
        train = [json.loads(l)["prompt"] for l in open(os.path.join(out4, "cv", "train.jsonl"))]
        rows = sorted(p[1:] for p in val)
        assert len(val) == 4 and rows[0::2] == rows[1::2] and len(train) == 6, (val, train)
        assert not set(val) & set(train)
        # The shipped mapping of the paper's tasks reads cleanly.
        probs = Problems()
        shipped = load_mapping(os.path.join(os.path.dirname(os.path.abspath(__file__)), "t0_tasks.json"), probs)
        assert not probs and len(shipped) == 48, (len(shipped), probs.lines)
    finally:
        shutil.rmtree(tmp)
    print("self-test passed")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--p3", help="folder of P3 subsets: <subset>/<split>.jsonl")
    ap.add_argument("--mapping", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "t0_tasks.json"),
                    help="task mapping (default: adapters/t0_tasks.json, the paper's tasks)")
    ap.add_argument("--out", help="task folder to write")
    ap.add_argument("--seed", type=int, default=0, help="seed of the validation rows carved from train (validation_from)")
    ap.add_argument("--no-train", action="store_true",
                    help="read and write no train split (evaluation needs none; rows carved for validation_from are still read)")
    ap.add_argument("--force", action="store_true", help="write into a non-empty --out")
    ap.add_argument("--self-test", action="store_true", help="convert a made-up tree and check the result")
    a = ap.parse_args(argv)
    if a.self_test:
        self_test()
        return 0
    if not a.p3 or not a.out:
        ap.error("--p3 and --out are required")
    probs = convert(a.p3, a.mapping, a.out, seed=a.seed, no_train=a.no_train, force=a.force)
    if probs:
        for p in probs:
            print(p, file=sys.stderr)
        return 1
    rep = json.load(open(os.path.join(a.out, "convert_report.json"), encoding="utf-8"))
    print("converted %d tasks into %s (%d rows dropped; see convert_report.json)" % (len(rep["tasks"]), a.out, rep["dropped_total"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
