package mergefile

import (
	"fmt"
	"slices"

	"mergescale/checkpoint"
	"mergescale/merge"
)

// globalScopeMethods are the methods whose trim_scope: global needs a first
// pass over the experts.
var globalScopeMethods = []string{merge.TIES}

// inputs holds the opened checkpoints of a merge.
type inputs struct {
	base    *checkpoint.Checkpoint // nil without base
	experts []*checkpoint.Checkpoint
}

// close closes every opened checkpoint.
func (in *inputs) close() {
	if in.base != nil {
		in.base.Close()
	}
	for _, c := range in.experts {
		if c != nil {
			c.Close()
		}
	}
}

// Check runs the pre-flight check of Run without merging: it validates the
// config against the method, opens every input's header, checks that every
// tensor exists in every model with the same shape, and returns the plan.
// All problems are reported at once in a *PreflightError.
func Check(cfg *Config, opts Options) (*Plan, error) {
	plan, in, err := preflight(cfg, opts)
	if in != nil {
		in.close()
	}
	return plan, err
}

// preflight validates cfg, opens the inputs and plans the output. On success
// the caller owns the returned inputs; on error they are closed.
func preflight(cfg *Config, opts Options) (*Plan, *inputs, error) {
	if cfg == nil {
		return nil, nil, fmt.Errorf("merge: nil config")
	}
	if err := cfg.Validate(); err != nil {
		return nil, nil, err
	}
	experts := cfg.Experts()
	var problems []string
	plan := &Plan{Method: cfg.MergeMethod, Base: cfg.BaseModel}
	for i, m := range experts {
		plan.Experts = append(plan.Experts, m.Model)
		p := cfg.Resolved(i)
		r, err := p.Resolve(cfg.MergeMethod)
		if err != nil { // Validate has checked this already
			return nil, nil, fmt.Errorf("parameters of model %s: %w", m.Model, err)
		}
		plan.Params = append(plan.Params, p)
		plan.Resolved = append(plan.Resolved, r)
		if r.TrimScope == merge.ScopeGlobal && slices.Contains(globalScopeMethods, cfg.MergeMethod) {
			plan.TwoPass = true
		}
	}
	if opts.AllowMissing && cfg.BaseModel == "" {
		problems = append(problems, "--allow-missing copies missing tensors from the base, but the config has no base_model")
	}

	// Open every input, collecting every failure.
	in := &inputs{experts: make([]*checkpoint.Checkpoint, len(experts))}
	if cfg.BaseModel != "" {
		c, err := checkpoint.Open(cfg.BaseModel)
		if err != nil {
			problems = append(problems, fmt.Sprintf("base model: %v", err))
		}
		in.base = c
	}
	for i, m := range experts {
		c, err := checkpoint.Open(m.Model)
		if err != nil {
			problems = append(problems, fmt.Sprintf("model: %v", err))
		}
		in.experts[i] = c
	}
	fail := func() (*Plan, *inputs, error) {
		in.close()
		return nil, nil, &PreflightError{Problems: problems}
	}
	if len(problems) > 0 {
		return fail()
	}

	// The reference model decides the tensor list and, by default, dtypes.
	ref, refName := in.base, "base model "+cfg.BaseModel
	if ref == nil {
		ref, refName = in.experts[0], "model "+experts[0].Model
	}
	var outDType checkpoint.DType
	if cfg.DType != "" {
		outDType = checkpoint.DType(dtypes[cfg.DType])
	}
	inRef := map[string]bool{}
	for _, t := range ref.Tensors() {
		inRef[t.Name] = true
		pt := PlannedTensor{Out: t, Action: ActionMerge}
		pt.Out.Shape = append([]int64(nil), t.Shape...)
		if !t.DType.IsFloat() {
			pt.Action = ActionCopy
		} else if outDType != "" {
			pt.Out.DType = outDType
		}
		for i, c := range in.experts {
			if c == ref {
				continue
			}
			et, ok := c.Info(t.Name)
			switch {
			case !ok && opts.AllowMissing && pt.Action == ActionMerge:
				pt.MissingIn = append(pt.MissingIn, i)
			case !ok:
				problems = append(problems, fmt.Sprintf("model %s: tensor %s is missing (present in %s)", experts[i].Model, t.Name, refName))
			case !slices.Equal(et.Shape, t.Shape):
				problems = append(problems, fmt.Sprintf("model %s: tensor %s has shape %s, %s has %s",
					experts[i].Model, t.Name, shapeString(et.Shape), refName, shapeString(t.Shape)))
			case et.DType.IsFloat() != t.DType.IsFloat():
				problems = append(problems, fmt.Sprintf("model %s: tensor %s has dtype %s, %s has %s",
					experts[i].Model, t.Name, et.DType, refName, t.DType))
			}
		}
		if len(pt.MissingIn) > 0 {
			pt.Action = ActionMissing
		}
		pt.InputBytes = t.NumBytes()
		if pt.Action == ActionMerge {
			if n := t.NumElements(); n > plan.LargestElements {
				plan.LargestElements = n
			}
			for _, c := range in.experts {
				if c != ref {
					et, _ := c.Info(t.Name)
					pt.InputBytes += et.NumBytes()
				}
			}
		}
		plan.InputBytes += pt.InputBytes
		plan.OutputBytes += pt.Out.NumBytes()
		plan.Tensors = append(plan.Tensors, pt)
	}
	for i, c := range in.experts {
		if c == ref {
			continue
		}
		for _, t := range c.Tensors() {
			if !inRef[t.Name] {
				problems = append(problems, fmt.Sprintf("model %s: tensor %s is not in %s", experts[i].Model, t.Name, refName))
			}
		}
	}
	if len(problems) > 0 {
		return fail()
	}
	if plan.TwoPass {
		// The first pass reads the merged tensors of every expert once more.
		for _, t := range plan.Tensors {
			if t.Action == ActionMerge {
				for _, c := range in.experts {
					et, _ := c.Info(t.Out.Name)
					plan.InputBytes += et.NumBytes()
				}
			}
		}
	}
	return plan, in, nil
}
