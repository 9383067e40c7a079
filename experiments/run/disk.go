package run

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"mergescale/checkpoint"
	"mergescale/eval"
	"mergescale/experiments/plan"
	"mergescale/model"
	"mergescale/world"
)

// The disk pre-flight. Before a run writes anything (the identity cache,
// the store, a folder), it estimates everything it will write and checks
// the free space of each file system it writes to:
//
//   - the identity cache (<out>/checkpoint-identity.json, rewritten whole);
//   - the store (db or <out>/results.db, or the shard's store beside it):
//     room for SQLite's write-ahead log and the rows of the jobs not done;
//   - the zoo models still to train (zoo_dir or <out>/zoo), in float32;
//   - the merged checkpoints that exist at once (merged_dir or
//     <out>/merged) per the pruning rule: workers cells × the largest grid,
//     each of the largest base's merged size (every merge with
//     keep_merged), plus 10 %;
//   - one evaluation log per evaluation job not done (<out>/logs/eval);
//   - with eval.backend command, the request and answer files of one
//     evaluation per worker (<out>/eval-tmp).
//
// Locations on one file system add up. Before the first merge of each
// base the runner checks merged_dir again with the base's real size
// (preflightDisk), since the built-in zoo's bases do not exist before it.

// Estimates of what a run writes besides checkpoints.
const (
	storeBaseBytes = 4<<20 + 256<<10 // SQLite's write-ahead log (1000 pages) and the schema
	scoreRowBytes  = 256             // one score row with its index entries
	jobRowBytes    = 4 << 10         // a model, merge (diagnostics) or job row
	evalLogBytes   = 64 << 10        // one evaluation's log
	modelFileBytes = 64 << 10        // config.json, tokenizer, summaries beside a model's weights
)

// statfsFree returns the bytes available to an unprivileged user on the
// file system holding path.
func statfsFree(path string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, fmt.Errorf("free space of %s: %w", path, err)
	}
	return st.Bavail * uint64(st.Bsize), nil
}

// existingAncestor returns path or its nearest ancestor that exists: the
// folder whose file system a path not yet created will be on.
func existingAncestor(path string) string {
	p, err := filepath.Abs(path)
	if err != nil {
		p = path
	}
	for {
		if _, err := os.Stat(p); err == nil || !errors.Is(err, os.ErrNotExist) {
			return p
		}
		parent := filepath.Dir(p)
		if parent == p {
			return p
		}
		p = parent
	}
}

// deviceOf identifies the file system of an existing path (0 when unknown:
// then every location counts on its own).
func deviceOf(path string) uint64 {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return 0
	}
	return uint64(st.Dev)
}

// diskNeed is one thing a run writes to one location.
type diskNeed struct {
	what  string // e.g. "store /data/results.db"
	dir   string // the folder it goes into
	bytes int64
	note  string // how it was counted, for the message
}

// runPreflight is the check of the run's disk needs, before any write.
type runPreflight struct {
	r       *runner // the plan, config, workers, tasks (no store yet)
	cache   *identityCache
	dbPath  string
	done    map[string]bool // jobs done before this run (read-only look at the store)
	vocab   int             // the built-in world's vocabulary size (0 with zoo.checkpoints)
	perBase map[string]int64
}

// needs lists everything the run will write, by location.
func (pf *runPreflight) needs() ([]diskNeed, error) {
	r, c := pf.r, pf.r.cfg
	var out []diskNeed
	if pf.cache != nil {
		if n := pf.cache.pendingBytes(); n > 0 {
			if fi, err := os.Stat(pf.cache.path); err == nil {
				n += fi.Size()
			}
			out = append(out, diskNeed{what: "identity cache " + pf.cache.path, dir: filepath.Dir(pf.cache.path), bytes: n})
		}
	}
	var rows int64 = storeBaseBytes
	var evals, merges, trains int
	var trainBytes int64
	for _, j := range r.plan.Jobs {
		if pf.done[j.Key] {
			continue
		}
		switch {
		case j.Kind == plan.KindEval:
			evals++
			rows += scoreRowBytes * int64(2*len(r.scopeTasks(j.Scope))+1)
		case j.Kind == plan.KindMerge:
			merges++
			rows += jobRowBytes
		case j.Kind.IsTraining():
			rows += jobRowBytes
			if _, err := os.Stat(r.modelDir(j)); err == nil {
				continue // trained already (another shard, an earlier run)
			}
			trains++
			trainBytes += pf.trainedBytes(j) + modelFileBytes
		default:
			rows += jobRowBytes
		}
	}
	out = append(out, diskNeed{what: "store " + pf.dbPath, dir: filepath.Dir(pf.dbPath), bytes: rows})
	if trains > 0 {
		zoo := filepath.Join(c.Out, "zoo")
		if c.ZooDir != "" {
			zoo = c.ZooDir
		}
		out = append(out, diskNeed{what: "zoo " + zoo, dir: zoo, bytes: trainBytes, note: fmt.Sprintf("%d models to train", trains)})
	}
	if merges > 0 {
		n, size, note, err := pf.mergedAtOnce(merges)
		if err != nil {
			return nil, err
		}
		out = append(out, diskNeed{what: "merged checkpoints " + c.MergedPath(), dir: c.MergedPath(),
			bytes: int64(float64(size) * float64(n) * 1.1), note: note})
	}
	if evals > 0 {
		logs := filepath.Join(c.Out, "logs", "eval")
		out = append(out, diskNeed{what: "evaluation logs " + logs, dir: logs, bytes: int64(evals) * evalLogBytes,
			note: fmt.Sprintf("%d evaluations", evals)})
		if c.Eval.Backend == eval.BackendCommand {
			n, err := pf.requestBytes()
			if err != nil {
				return nil, err
			}
			tmp := filepath.Join(c.Out, "eval-tmp")
			out = append(out, diskNeed{what: "evaluator files " + tmp, dir: tmp, bytes: 2 * n * int64(r.workers),
				note: fmt.Sprintf("requests and answers of %d evaluations at once", r.workers)})
		}
	}
	return out, nil
}

// trainedBytes is the size of a zoo model's weights in float32.
func (pf *runPreflight) trainedBytes(j *plan.Job) int64 {
	p, err := model.PresetByName(j.Size)
	if err != nil || pf.vocab == 0 {
		return 0
	}
	return 4 * int64(model.NumParamsOf(p.Config(pf.vocab)))
}

// baseMergedBytes is the size of a merged checkpoint of the base of job
// key: from its header when the base exists, else (a built-in base not yet
// trained) its parameters in the merged dtype.
func (pf *runPreflight) baseMergedBytes(key string) (int64, error) {
	if n, ok := pf.perBase[key]; ok {
		return n, nil
	}
	base, ok := pf.r.plan.Job(key)
	if !ok {
		return 0, fmt.Errorf("base job %s is not in the plan", plan.ShortKey(key))
	}
	var n int64
	dir := pf.r.modelDir(base)
	if _, err := os.Stat(dir); err == nil {
		if n, err = mergedBytes(dir, pf.r.mergeDType()); err != nil {
			return 0, fmt.Errorf("disk pre-flight: %w", err)
		}
	} else {
		n = pf.trainedBytes(base)
		if d := pf.r.mergeDType(); d == "float16" || d == "bfloat16" {
			n /= 2
		}
	}
	pf.perBase[key] = n
	return n, nil
}

// mergedAtOnce is the most merged checkpoints the run holds at once and
// the largest merged size among the bases of its pending merges.
func (pf *runPreflight) mergedAtOnce(pending int) (n int, size int64, note string, err error) {
	r := pf.r
	var total int64
	for _, j := range r.plan.Jobs {
		if j.Kind != plan.KindMerge || pf.done[j.Key] {
			continue
		}
		b, err := pf.baseMergedBytes(j.Parent)
		if err != nil {
			return 0, 0, "", err
		}
		size = max(size, b)
		total += b
	}
	if r.cfg.Sweep.KeepMerged {
		return 1, total, fmt.Sprintf("%d merges kept, + 10 %%", pending), nil
	}
	points := 1
	for _, g := range r.cfg.Sweep.Methods {
		points = max(points, len(g.Points()))
	}
	n = min(r.workers*points, pending)
	return n, size, fmt.Sprintf("%d at once of %s + 10 %%", n, humanBytes(uint64(size))), nil
}

// requestBytes is the size of the requests file of the largest evaluation
// (every task on test).
func (pf *runPreflight) requestBytes() (int64, error) {
	reqs, err := eval.TaskRequests(pf.r.tasks, world.Test, eval.Options{})
	if err != nil {
		return 0, err
	}
	var b bytes.Buffer
	if err := eval.WriteRequests(&b, reqs); err != nil {
		return 0, err
	}
	return int64(b.Len()), nil
}

// check compares the needs with the free space of each file system and
// fails, naming every location of a file system that is short, its need
// and its free space.
func (pf *runPreflight) check() error {
	needs, err := pf.needs()
	if err != nil {
		return err
	}
	type fs struct {
		at    string // the existing folder free space is measured at
		needs []diskNeed
		total int64
	}
	var order []uint64
	byDev := map[uint64]*fs{}
	for i, n := range needs {
		at := existingAncestor(n.dir)
		dev := deviceOf(at)
		if dev == 0 {
			dev = ^uint64(i) // unknown: on its own
		}
		f, ok := byDev[dev]
		if !ok {
			f = &fs{at: at}
			byDev[dev] = f
			order = append(order, dev)
		}
		f.needs = append(f.needs, n)
		f.total += n.bytes
	}
	var short []string
	for _, dev := range order {
		f := byDev[dev]
		free, err := pf.r.freeSpace(f.at)
		if err != nil {
			return fmt.Errorf("disk pre-flight: %w", err)
		}
		if free >= uint64(f.total) {
			continue
		}
		sort.SliceStable(f.needs, func(a, b int) bool { return f.needs[a].bytes > f.needs[b].bytes })
		parts := make([]string, len(f.needs))
		for i, n := range f.needs {
			parts[i] = fmt.Sprintf("%s %s", n.what, humanBytes(uint64(n.bytes)))
			if n.note != "" {
				parts[i] += " (" + n.note + ")"
			}
		}
		short = append(short, fmt.Sprintf("%s has %s free, this run writes up to %s there: %s",
			f.at, humanBytes(free), humanBytes(uint64(f.total)), strings.Join(parts, ", ")))
	}
	if len(short) > 0 {
		return fmt.Errorf("disk pre-flight, before any write: %s; free space, lower workers, or move merged_dir or db to another file system",
			strings.Join(short, "; "))
	}
	return nil
}

// mergedBytes is the size of a merged checkpoint of base in dtype ("" : the
// base's own dtypes): its float tensors in dtype, the others as they are.
func mergedBytes(base, dtype string) (int64, error) {
	ck, err := checkpoint.Open(base)
	if err != nil {
		return 0, err
	}
	defer ck.Close()
	out := map[string]checkpoint.DType{"float32": checkpoint.F32, "float16": checkpoint.F16, "bfloat16": checkpoint.BF16}[dtype]
	var n int64
	for _, t := range ck.Tensors() {
		if out != "" && t.DType.IsFloat() {
			n += t.NumElements() * int64(out.Size())
		} else {
			n += t.NumBytes()
		}
	}
	return n, nil
}

// maxLiveMerges is the most merged checkpoints of one base the runner keeps
// at once: workers cells of at most the largest grid each, or, with
// keep_merged, every merge of the base.
func (r *runner) maxLiveMerges(base string) int {
	if r.cfg.Sweep.KeepMerged {
		n := 0
		for _, j := range r.plan.Jobs {
			if j.Kind == plan.KindMerge && j.Parent == base {
				n++
			}
		}
		return n
	}
	points := 1
	for _, g := range r.cfg.Sweep.Methods {
		points = max(points, len(g.Points()))
	}
	return r.workers * points
}

// preflightDisk checks, before the first merge of a base in this run, that
// the file system of merged_dir has room for the merged checkpoints the
// runner may hold at once (maxLiveMerges × the merged size) plus 10 %, and
// fails with a clear error instead of filling the disk.
func (r *runner) preflightDisk(j *plan.Job) error {
	r.diskMu.Lock()
	defer r.diskMu.Unlock()
	if r.diskChecked[j.Parent] {
		return nil
	}
	base, ok := r.plan.Job(j.Parent)
	if !ok {
		return fmt.Errorf("base job %s is not in the plan", plan.ShortKey(j.Parent))
	}
	size, err := mergedBytes(r.modelDir(base), r.mergeDType())
	if err != nil {
		return fmt.Errorf("disk pre-flight: %w", err)
	}
	dir := r.cfg.MergedPath()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	free, err := r.freeSpace(dir)
	if err != nil {
		return fmt.Errorf("disk pre-flight: %w", err)
	}
	n := r.maxLiveMerges(j.Parent)
	need := uint64(float64(size) * float64(n) * 1.1)
	if free < need {
		return fmt.Errorf("disk pre-flight: %s has %s free, merging %s %s needs %s (%d merged checkpoints of %s at once + 10 %%); free space or lower workers",
			dir, humanBytes(free), base.Size, base.Base, humanBytes(need), n, humanBytes(uint64(size)))
	}
	r.diskChecked[j.Parent] = true
	return nil
}

// humanBytes formats a byte count with a binary unit.
func humanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
