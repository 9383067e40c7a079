package mergefile

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"unsafe"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"

	"mergescale/checkpoint"
	"mergescale/merge"
)

// minBudget is the least memory budget for float32 buffers, so that models
// made of many small tensors still merge several tensors at once.
const minBudget = 64 << 20

// driver streams one merge.
type driver struct {
	cfg      *Config
	plan     *Plan
	in       *inputs
	workers  int
	progress *progress
	// thresholds[name][i] is expert i's global magnitude threshold for the
	// named tensor (TIES with trim_scope global only).
	thresholds map[string][]*merge.Threshold
}

// job is one output tensor in flight.
type job struct {
	pt     PlannedTensor
	cost   int64       // budget bytes held from dispatch until written
	inCost int64       // part of cost given back as soon as the merge is done
	bufs   [][]float32 // widened inputs, then out (out is last)
	out    []float32
	stats  merge.TensorStats
	err    error
	done   chan struct{}
}

// budget returns the memory budget for float32 buffers: the largest
// tensor's k + 2 buffers plus one more, so that the next tensor can be read
// and merged while the previous one's output is being written; at least
// minBudget.
func (d *driver) budget() int64 {
	return max(d.plan.WorkingSetBytes()+4*d.plan.LargestElements, minBudget)
}

// jobCost is the bytes of float32 buffers a tensor needs.
func (d *driver) jobCost(pt PlannedTensor) int64 {
	n := pt.Out.NumElements() * 4
	switch pt.Action {
	case ActionCopy:
		return 0
	case ActionMissing:
		return n
	}
	k := int64(len(pt.Experts) + 1)
	if pt.Base != nil {
		k++
	}
	return k * n
}

// stream merges every tensor into a model directory at dir and returns the
// aggregated diagnostics.
//
// Jobs are started in output order, each after acquiring its buffers' bytes
// from a budget semaphore; the writer (this goroutine) writes them in the
// same order and only then gives their bytes back. Because bytes are taken
// in order, the oldest unwritten job always holds its bytes, so the pipeline
// cannot deadlock, and memory stays within the budget.
func (d *driver) stream(ctx context.Context, dir string) (*merge.Stats, error) {
	infos := make([]checkpoint.TensorInfo, len(d.plan.Tensors))
	for i, t := range d.plan.Tensors {
		infos[i] = t.Out
	}
	meta := map[string]string{"format": "pt", "mergescale_merge_method": d.plan.Method}
	w, err := checkpoint.CreateDir(dir, infos, meta, d.cfg.OutShardSize)
	if err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	defer w.Abort()

	budget := d.budget()
	mem := semaphore.NewWeighted(budget)
	slots := semaphore.NewWeighted(int64(d.workers))
	pool := newBufPool(budget)
	jobs := make([]*job, len(d.plan.Tensors))
	for i, pt := range d.plan.Tensors {
		j := &job{pt: pt, cost: min(d.jobCost(pt), budget), done: make(chan struct{})}
		if pt.Action == ActionMerge {
			j.inCost = max(j.cost-4*pt.Out.NumElements(), 0)
		}
		jobs[i] = j
	}

	var running sync.WaitGroup
	defer running.Wait() // started jobs read the inputs: let them end first
	g, gctx := errgroup.WithContext(ctx)
	// Dispatcher: start jobs in order as memory and a worker slot allow.
	g.Go(func() error {
		for _, j := range jobs {
			if err := mem.Acquire(gctx, j.cost); err != nil {
				return err
			}
			if err := slots.Acquire(gctx, 1); err != nil {
				mem.Release(j.cost)
				return err
			}
			running.Add(1)
			go func(j *job) {
				defer running.Done()
				defer slots.Release(1)
				defer close(j.done)
				j.err = d.compute(j, pool)
				if j.err == nil && j.inCost > 0 {
					// The inputs are released: only out waits for the writer.
					for _, b := range j.bufs[:len(j.bufs)-1] {
						pool.put(b)
					}
					j.bufs = j.bufs[len(j.bufs)-1:]
					mem.Release(j.inCost)
					j.cost -= j.inCost
				}
			}(j)
		}
		return nil
	})
	acc := merge.NewAccumulator(d.plan.StatsExperts)
	g.Go(func() error {
		for _, j := range jobs {
			select {
			case <-j.done:
			case <-gctx.Done():
				return gctx.Err()
			}
			err := j.err
			if err == nil {
				err = d.write(w, j)
			}
			if err == nil && j.pt.Action == ActionMerge {
				err = acc.Add(j.stats)
			}
			for _, b := range j.bufs {
				pool.put(b)
			}
			j.bufs, j.out = nil, nil
			mem.Release(j.cost)
			if err != nil {
				return err
			}
			d.progress.tensorDone(j.pt)
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	st := acc.Stats()
	return &st, nil
}

// compute reads a job's inputs and merges them into j.out.
func (d *driver) compute(j *job, pool *bufPool) error {
	name := j.pt.Out.Name
	n := int(j.pt.Out.NumElements())
	switch j.pt.Action {
	case ActionCopy:
		return nil // the writer copies raw bytes
	case ActionMissing:
		b := pool.get(n)
		j.bufs = append(j.bufs, b)
		base := d.in.models[j.pt.Base.Model]
		out, err := base.Float32(j.pt.Base.Tensor, b)
		base.Release(j.pt.Base.Tensor)
		if err != nil {
			return fmt.Errorf("merge: base model %s: %w", d.plan.Base, err)
		}
		j.out = out
		return nil
	}

	k := len(j.pt.Experts)
	in := merge.Input{Name: name, Experts: make([][]float32, k), Weights: make([]float64, k), Params: make([]merge.Params, k)}
	// Read every input in parallel: the reads (page-cache copies and
	// widening) dominate simple merges, and the buffers exist anyway.
	readers := make([]*checkpoint.Checkpoint, 0, k+1)
	names := make([]string, 0, k+1)
	dsts := make([]*[]float32, 0, k+1)
	labels := make([]string, 0, k+1)
	if b := j.pt.Base; b != nil {
		readers = append(readers, d.in.models[b.Model])
		names = append(names, b.Tensor)
		dsts = append(dsts, &in.Base)
		labels = append(labels, "base model "+d.plan.Base)
	}
	for i, e := range j.pt.Experts {
		readers = append(readers, d.in.models[e.Model])
		names = append(names, e.Tensor)
		dsts = append(dsts, &in.Experts[i])
		labels = append(labels, "model "+d.plan.Models[e.Model])
	}
	// F32 inputs are used in place, as views of the mapped files (zero
	// copy: one pass over the data instead of two); the others are widened
	// into pooled buffers. Either way each input's pages are released once
	// the tensor is merged.
	defer func() {
		for r, c := range readers {
			c.Release(names[r])
		}
	}()
	errs := make([]error, len(readers))
	var wg sync.WaitGroup
	for r, c := range readers {
		if v, ok := f32View(c, names[r]); ok {
			*dsts[r] = v
			continue
		}
		buf := pool.get(n)
		j.bufs = append(j.bufs, buf)
		wg.Add(1)
		go func(r int) {
			defer wg.Done()
			v, err := readers[r].Float32(names[r], buf)
			if err != nil {
				errs[r] = fmt.Errorf("merge: %s: %w", labels[r], err)
				return
			}
			*dsts[r] = v
		}(r)
	}
	out := pool.get(n)
	j.bufs = append(j.bufs, out)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	for i := range in.Experts {
		in.Params[i] = j.pt.Params[i]
		in.Weights[i] = j.pt.Resolved[i].Weight
		if d.thresholds != nil {
			in.Params[i].Threshold = d.thresholds[name][i]
		}
	}
	st, err := merge.MergeTensor(d.plan.Method, in, d.cfg.Seed, out)
	if err != nil {
		return fmt.Errorf("merge: %w", d.nameModels(err, j.pt))
	}
	j.out = out
	j.stats = padStats(st, d.plan.StatsExperts)
	return nil
}

// f32View returns the named F32 tensor as a read-only float32 view of the
// mapped file, when the machine is little-endian and the data is aligned.
// The view is valid until the checkpoint is closed; Release only drops its
// pages (they are re-read on access).
func f32View(c *checkpoint.Checkpoint, name string) ([]float32, bool) {
	ti, ok := c.Info(name)
	if !ok || ti.DType != checkpoint.F32 || !littleEndian() {
		return nil, false
	}
	raw, err := c.Raw(name)
	if err != nil || len(raw) == 0 || uintptr(unsafe.Pointer(&raw[0]))%4 != 0 {
		return nil, false
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&raw[0])), len(raw)/4), true
}

// littleEndian reports whether float32 values are stored little-endian in
// memory, as safetensors stores them.
func littleEndian() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}

// write writes a finished job to the output.
func (d *driver) write(w *checkpoint.DirWriter, j *job) error {
	name := j.pt.Out.Name
	if j.pt.Action == ActionCopy {
		src, label := d.in.models[j.pt.Copy.Model], "model "+d.plan.Models[j.pt.Copy.Model]
		raw, err := src.Raw(j.pt.Copy.Tensor)
		if err != nil {
			return fmt.Errorf("merge: %s: %w", label, err)
		}
		err = w.WriteRaw(name, raw)
		src.Release(j.pt.Copy.Tensor)
		if err != nil {
			return fmt.Errorf("merge: writing %s: %w", name, err)
		}
		return nil
	}
	if err := w.WriteFloat32(name, j.out); err != nil {
		return fmt.Errorf("merge: writing %s: %w", name, err)
	}
	return nil
}

// nameModels appends to an error of package merge, which names inputs as
// "base" and "expert i", the paths of the models it mentions.
func (d *driver) nameModels(err error, pt PlannedTensor) error {
	msg := err.Error()
	var legend []string
	if strings.Contains(msg, "base ") && d.plan.Base != "" {
		legend = append(legend, "base = "+d.plan.Base)
	}
	for i, e := range pt.Experts {
		p := d.plan.Models[e.Model]
		tag := fmt.Sprintf("expert %d", i)
		if idx := strings.Index(msg, tag); idx >= 0 {
			rest := msg[idx+len(tag):]
			if rest == "" || rest[0] < '0' || rest[0] > '9' {
				legend = append(legend, tag+" = "+p)
			}
		}
	}
	if len(legend) == 0 {
		return err
	}
	return fmt.Errorf("%w (%s)", err, strings.Join(legend, ", "))
}

// bufPool recycles float32 buffers by length, keeping at most limit bytes
// idle, so the steady state of a merge allocates nothing.
type bufPool struct {
	mu    sync.Mutex
	free  map[int][][]float32
	idle  int64
	limit int64
}

// newBufPool returns a pool keeping at most limit idle bytes.
func newBufPool(limit int64) *bufPool {
	return &bufPool{free: map[int][][]float32{}, limit: limit}
}

// get returns a buffer of length n (contents undefined).
func (p *bufPool) get(n int) []float32 {
	p.mu.Lock()
	if l := p.free[n]; len(l) > 0 {
		b := l[len(l)-1]
		p.free[n] = l[:len(l)-1]
		p.idle -= int64(4 * n)
		p.mu.Unlock()
		return b
	}
	// Drop idle buffers of other sizes when this one would exceed the limit.
	for size, l := range p.free {
		if p.idle+int64(4*n) <= p.limit {
			break
		}
		p.idle -= int64(4*size) * int64(len(l))
		delete(p.free, size)
	}
	p.mu.Unlock()
	return make([]float32, n)
}

// put returns a buffer to the pool.
func (p *bufPool) put(b []float32) {
	if cap(b) == 0 {
		return
	}
	b = b[:cap(b)]
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.idle+int64(4*len(b)) > p.limit {
		return
	}
	p.free[len(b)] = append(p.free[len(b)], b)
	p.idle += int64(4 * len(b))
}
