package mergefile

import (
	"context"
	"fmt"
	"sync"

	"mergescale/checkpoint"
	"mergescale/merge"
)

// thresholdPass streams the experts (two or three times, see
// merge.MagnitudeHistogram) to find each expert's exact global magnitude
// threshold for TIES with trim_scope global, and stores the per-tensor
// thresholds in d.thresholds. Tensors are fed in name order, the plan's
// order; only merged tensors count. Memory: the base and every expert's
// copy of one tensor at a time, the same (k + 1) buffers as the merge.
func (d *driver) thresholdPass(ctx context.Context) error {
	k := len(d.plan.GlobalDensity)
	hists := make([]*merge.MagnitudeHistogram, k)
	for i := range hists {
		h, err := merge.NewMagnitudeHistogram(d.plan.GlobalDensity[i])
		if err != nil {
			return fmt.Errorf("merge: model %s: %w", d.plan.Experts[i], err)
		}
		hists[i] = h
	}
	pool := newBufPool(d.budget())
	for pass := 1; ; pass++ {
		var active []int
		for i, h := range hists {
			if !h.Done() {
				active = append(active, i)
			}
		}
		if len(active) == 0 {
			break
		}
		d.progress.setPhase(fmt.Sprintf("threshold pass %d", pass))
		for _, pt := range d.plan.Tensors {
			if pt.Action != ActionMerge {
				continue
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := d.histTensor(pt, active, hists, pool); err != nil {
				return err
			}
		}
		for _, i := range active {
			if err := hists[i].EndPass(); err != nil {
				return fmt.Errorf("merge: model %s: %w", d.plan.Experts[i], err)
			}
		}
	}
	d.thresholds = map[string][]*merge.Threshold{}
	for _, pt := range d.plan.Tensors {
		if pt.Action != ActionMerge {
			continue
		}
		ths := make([]*merge.Threshold, k)
		for i, h := range hists {
			th, err := h.Threshold(pt.Out.Name)
			if err != nil {
				return fmt.Errorf("merge: model %s: %w", d.plan.Experts[i], err)
			}
			ths[i] = &th
		}
		d.thresholds[pt.Out.Name] = ths
	}
	d.progress.setPhase("merge")
	return nil
}

// histTensor reads one tensor of the base and of the active experts and
// adds each expert's task vector to its histogram, experts in parallel.
// Global scope is planned for the models: syntax only, where every merged
// tensor has the same experts in the same order and the inputs' names are
// the output's.
func (d *driver) histTensor(pt PlannedTensor, active []int, hists []*merge.MagnitudeHistogram, pool *bufPool) error {
	name := pt.Out.Name
	n := int(pt.Out.NumElements())
	bbuf := pool.get(n)
	defer pool.put(bbuf)
	bc := d.in.models[pt.Base.Model]
	base, err := bc.Float32(pt.Base.Tensor, bbuf)
	bc.Release(pt.Base.Tensor)
	if err != nil {
		return fmt.Errorf("merge: base model %s: %w", d.plan.Base, err)
	}
	var read int64
	errs := make([]error, len(active))
	var wg sync.WaitGroup
	for a, i := range active {
		ec := d.in.models[pt.Experts[i].Model]
		et, _ := ec.Info(pt.Experts[i].Tensor)
		read += et.NumBytes()
		wg.Add(1)
		go func(a, i int, ec *checkpoint.Checkpoint) {
			defer wg.Done()
			errs[a] = d.histExpert(name, pt.Experts[i].Tensor, ec, hists[i], base, pool, n)
			if errs[a] != nil {
				errs[a] = fmt.Errorf("merge: model %s: %w", d.plan.Experts[i], errs[a])
			}
		}(a, i, ec)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	bt, _ := bc.Info(pt.Base.Tensor)
	d.progress.addBytes(read + bt.NumBytes())
	return nil
}

// histExpert adds one expert's tensor (src in c) to its histogram under
// the output name.
func (d *driver) histExpert(name, src string, c *checkpoint.Checkpoint, h *merge.MagnitudeHistogram, base []float32, pool *bufPool, n int) error {
	buf := pool.get(n)
	defer pool.put(buf)
	v, err := c.Float32(src, buf)
	c.Release(src)
	if err != nil {
		return err
	}
	return h.Add(name, v, base)
}
