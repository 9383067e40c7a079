package run

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"mergescale/checkpoint"
	"mergescale/experiments/plan"
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
// the file system of <out>/merged has room for the merged checkpoints the
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
	dir := filepath.Join(r.cfg.Out, "merged")
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
