package mergefile

import (
	"fmt"
	"os"
	"slices"

	"mergescale/checkpoint"
	"mergescale/merge"
)

// globalScopeMethods are the methods whose trim_scope: global needs a first
// pass over the experts.
var globalScopeMethods = []string{merge.TIES}

// inputs holds the opened checkpoints of a merge, indexed like Plan.Models.
type inputs struct {
	models []*checkpoint.Checkpoint
}

// close closes every opened checkpoint.
func (in *inputs) close() {
	for _, c := range in.models {
		if c != nil {
			c.Close()
		}
	}
}

// Check runs the pre-flight check of Run without merging: it validates the
// config against the method, opens every input's header, resolves every
// output tensor (sources, layer, t, parameters) and checks that every
// source tensor exists with the same shape, and returns the plan. All
// problems are reported at once in a *PreflightError.
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
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	p := &planner{cfg: cfg, opts: opts, index: map[string]int{}, plan: &Plan{Method: cfg.MergeMethod, Base: cfg.BaseModel}}
	in, err := p.open(getenv)
	if err != nil {
		return nil, nil, err
	}
	if err := p.build(in); err != nil {
		in.close()
		return nil, nil, err
	}
	return p.plan, in, nil
}

// planner builds a Plan.
type planner struct {
	cfg      *Config
	opts     Options
	plan     *Plan
	index    map[string]int // reference → model index
	slices   []Slice        // the recipe as slices, layer ranges known
	problems []problem
	checks   map[checkKey]int // runs of each per-tensor check
	ckpts    []*checkpoint.Checkpoint
}

// label names a model in problems: "base model X" or "model X".
func (p *planner) label(m int) string {
	if p.cfg.BaseModel != "" && samePath(p.plan.Models[m], p.cfg.BaseModel) {
		return "base model " + p.plan.Models[m]
	}
	return "model " + p.plan.Models[m]
}

// model returns the index of a reference, adding it when new.
func (p *planner) model(ref string) int {
	for r, i := range p.index {
		if samePath(r, ref) {
			return i
		}
	}
	i := len(p.plan.Models)
	p.index[ref] = i
	p.plan.Models = append(p.plan.Models, ref)
	return i
}

// open locates, opens and lays out every model of the recipe, collecting
// every failure.
func (p *planner) open(getenv func(string) string) (*inputs, error) {
	cfg := p.cfg
	if len(cfg.Slices) > 0 {
		p.slices = slices.Clone(cfg.Slices)
	} else {
		p.slices = []Slice{cfg.modelSlice()}
	}
	if cfg.BaseModel != "" {
		p.model(cfg.BaseModel)
	}
	for _, s := range p.slices {
		for _, src := range s.Sources {
			p.model(src.Model)
		}
	}
	if p.opts.AllowMissing && cfg.BaseModel == "" {
		p.problem("--allow-missing copies missing tensors from the base, but the config has no base_model")
	}
	n := len(p.plan.Models)
	in := &inputs{models: make([]*checkpoint.Checkpoint, n)}
	p.plan.Paths = make([]string, n)
	p.plan.layouts = make([]layout, n)
	for i, ref := range p.plan.Models {
		path, err := locateModel(ref, getenv)
		if err != nil {
			p.problem("%v", err)
			continue
		}
		p.plan.Paths[i] = path
		c, err := checkpoint.Open(path)
		if err != nil {
			if i == 0 && cfg.BaseModel != "" {
				p.problem("base model: %v", err)
			} else {
				p.problem("model: %v", err)
			}
			continue
		}
		in.models[i] = c
		l, err := detectLayout(path, c)
		if err != nil {
			p.problem("%s: %v", p.label(i), err)
			continue
		}
		p.plan.layouts[i] = l
	}
	p.plan.tokenizerDir = p.checkTokenizerSource(getenv)
	if len(p.problems) > 0 {
		in.close()
		return nil, p.failed()
	}
	p.ckpts = in.models
	return in, nil
}

// build fixes the layer ranges and plans every output tensor.
func (p *planner) build(in *inputs) error {
	cfg, plan := p.cfg, p.plan

	// Layer ranges: every layer in the models: syntax, checked otherwise.
	if len(cfg.Slices) == 0 {
		s := &p.slices[0]
		for j := range s.Sources {
			m := p.index[s.Sources[j].Model]
			s.Sources[j].LayerRange = [2]int{0, plan.layouts[m].layers}
		}
		for _, src := range s.Sources[1:] {
			if src.Len() != s.Sources[0].Len() {
				p.problem("models: %s has %d layers, %s has %d: the models must have the same number of layers",
					s.Sources[0].Model, s.Sources[0].Len(), src.Model, src.Len())
			}
		}
	} else {
		for i, s := range p.slices {
			for j, src := range s.Sources {
				l := plan.layouts[p.index[src.Model]]
				if src.LayerRange[1] > l.layers {
					p.problem("slices[%d].sources[%d]: layer_range [%d, %d) is outside the %d layers of model %s",
						i, j, src.LayerRange[0], src.LayerRange[1], l.layers, src.Model)
				}
			}
		}
	}
	if len(p.problems) > 0 {
		return p.failed()
	}
	plan.Slices = len(p.slices)
	plan.configModel = 0 // the base, else the first model
	out := plan.layouts[plan.configModel]

	// Tensors before the layers, the layers slice by slice, the tensors
	// after them.
	var tensors []PlannedTensor
	p.outside(&tensors, 0, out, true)
	layer := 0
	for si, s := range p.slices {
		n := s.Sources[0].Len()
		for i := range n {
			t := 1.0
			if n > 1 {
				t = float64(i) / float64(n-1)
			}
			p.layer(&tensors, si, i, layer, t, out)
			layer++
		}
	}
	p.outside(&tensors, len(p.slices)-1, out, false)
	plan.Layers = layer
	if len(cfg.Slices) == 0 {
		p.checkExtra()
	}
	if len(p.problems) > 0 {
		return p.failed()
	}
	slices.SortFunc(tensors, func(a, b PlannedTensor) int {
		switch {
		case a.Out.Name < b.Out.Name:
			return -1
		case a.Out.Name > b.Out.Name:
			return 1
		}
		return 0
	})
	for i := 1; i < len(tensors); i++ {
		if tensors[i].Out.Name == tensors[i-1].Out.Name {
			p.problem("output tensor %s is planned twice", tensors[i].Out.Name)
		}
	}
	p.finish(tensors)
	if len(p.problems) > 0 {
		return p.failed()
	}
	return nil
}

// sliceRoles returns the base source (−1 when none) and the experts'
// sources of slice si, as indexes into its Sources.
func (p *planner) sliceRoles(si int) (int, []int) {
	base := -1
	var experts []int
	for j, src := range p.slices[si].Sources {
		if p.cfg.BaseModel != "" && samePath(src.Model, p.cfg.BaseModel) {
			base = j
		} else {
			experts = append(experts, j)
		}
	}
	return base, experts
}

// refSource is the source whose tensor list a slice follows: the base,
// else the first source.
func (p *planner) refSource(si int) int {
	if b, _ := p.sliceRoles(si); b >= 0 {
		return b
	}
	return 0
}

// outside plans the tensors outside the layers that come from slice si:
// before the layers (pre) or after them, at t = 0.
func (p *planner) outside(tensors *[]PlannedTensor, si int, out layout, pre bool) {
	s := p.slices[si]
	ref := p.refSource(si)
	rm := p.index[s.Sources[ref].Model]
	rl := p.plan.layouts[rm]
	for _, ti := range p.ckpts[rm].Tensors() {
		key, layer, _ := rl.split(ti.Name)
		if layer >= 0 || isPre(key) != pre {
			continue
		}
		// The output follows the naming of the model config.json comes
		// from: its own name for the key, else the key under its root
		// when the source's name had a root.
		outName, ok := out.find(p.ckpts[p.plan.configModel], key)
		if !ok {
			outName = key
			if ti.Name != key {
				outName = out.root + key
			}
		}
		names := make([]string, len(s.Sources))
		for j, src := range s.Sources {
			m := p.index[src.Model]
			if name, ok := p.plan.layouts[m].find(p.ckpts[m], key); ok {
				names[j] = name
			}
		}
		names[ref] = ti.Name
		*tensors = append(*tensors, p.tensor(si, -1, 0, outName, names))
	}
}

// layer plans output layer outLayer: layer i of slice si.
func (p *planner) layer(tensors *[]PlannedTensor, si, i, outLayer int, t float64, out layout) {
	s := p.slices[si]
	ref := p.refSource(si)
	rm := p.index[s.Sources[ref].Model]
	rl := p.plan.layouts[rm]
	var rests []string
	for _, ti := range p.ckpts[rm].Tensors() {
		if _, layer, rest := rl.split(ti.Name); layer == s.Sources[ref].LayerRange[0]+i {
			rests = append(rests, rest)
		}
	}
	for j, src := range s.Sources {
		if j == ref {
			continue
		}
		m := p.index[src.Model]
		l := p.plan.layouts[m]
		idx := src.LayerRange[0] + i
		for _, ti := range p.ckpts[m].Tensors() {
			if _, layer, rest := l.split(ti.Name); layer == idx {
				p.checked("extra", src.Model)
				if !slices.Contains(rests, rest) {
					p.tensorProblem("extra", src.Model,
						fmt.Sprintf("model %s: tensor %s is not in layer %d of %s", src.Model, ti.Name, s.Sources[ref].LayerRange[0]+i, p.label(rm)),
						p.noneIn(src.Model, rm))
				}
			}
		}
	}
	for _, rest := range rests {
		names := make([]string, len(s.Sources))
		for j, src := range s.Sources {
			names[j] = p.plan.layouts[p.index[src.Model]].layerName(src.LayerRange[0]+i, rest)
		}
		*tensors = append(*tensors, p.tensor(si, outLayer, t, out.layerName(outLayer, rest), names))
	}
}

// noneIn is the line for a model none of whose tensors is in model rm.
func (p *planner) noneIn(model string, rm int) func(n int) string {
	label := p.label(rm)
	return func(n int) string {
		return fmt.Sprintf("model %s: none of its %d tensors is in %s", model, n, label)
	}
}

// checkExtra reports tensors outside the layers of a models: syntax
// expert that the reference model lacks.
func (p *planner) checkExtra() {
	ref := p.refSource(0)
	s := p.slices[0]
	rm := p.index[s.Sources[ref].Model]
	rl := p.plan.layouts[rm]
	for j, src := range s.Sources {
		if j == ref {
			continue
		}
		m := p.index[src.Model]
		l := p.plan.layouts[m]
		for _, ti := range p.ckpts[m].Tensors() {
			key, layer, _ := l.split(ti.Name)
			if layer >= 0 {
				continue // layer checks the layers
			}
			p.checked("extra", src.Model)
			if _, ok := rl.find(p.ckpts[rm], key); !ok {
				p.tensorProblem("extra", src.Model,
					fmt.Sprintf("model %s: tensor %s is not in %s", src.Model, ti.Name, p.label(rm)),
					p.noneIn(src.Model, rm))
			}
		}
	}
}

// tensor plans one output tensor of slice si from the named tensor of each
// source ("" when the source lacks it).
func (p *planner) tensor(si, layer int, t float64, outName string, names []string) PlannedTensor {
	s := p.slices[si]
	ref := p.refSource(si)
	rm := p.index[s.Sources[ref].Model]
	rt, _ := p.ckpts[rm].Info(names[ref])
	pt := PlannedTensor{Out: rt, Action: ActionMerge, Slice: si, Layer: layer, T: t}
	pt.Out.Name = outName
	pt.Out.Shape = slices.Clone(rt.Shape)
	if !rt.DType.IsFloat() {
		pt.Action = ActionCopy
		pt.Copy = &Source{Model: rm, Tensor: names[ref]}
	} else if d := p.cfg.outDType(); d != "" {
		pt.Out.DType = checkpoint.DType(dtypes[d])
	}
	base, experts := p.sliceRoles(si)
	if base >= 0 {
		pt.Base = &Source{Model: p.index[s.Sources[base].Model], Tensor: names[base]}
	}
	for e, j := range experts {
		src := s.Sources[j]
		m := p.index[src.Model]
		pt.Experts = append(pt.Experts, Source{Model: m, Tensor: names[j]})
		if j == ref {
			continue
		}
		et, ok := p.ckpts[m].Info(names[j])
		p.checked("tensor", src.Model)
		problem := func(line string, group func(n int) string) {
			p.tensorProblem("tensor", src.Model, line, group)
		}
		refLabel := p.label(rm)
		switch {
		case !ok && p.opts.AllowMissing && pt.Action == ActionMerge && base >= 0:
			pt.MissingIn = append(pt.MissingIn, e)
		case !ok:
			missing := names[ref]
			if names[j] != "" {
				missing = names[j]
			}
			problem(fmt.Sprintf("model %s: tensor %s is missing (present in %s)", src.Model, missing, refLabel),
				func(n int) string {
					return fmt.Sprintf("model %s: all %d tensors are missing (present in %s)", src.Model, n, refLabel)
				})
		case !slices.Equal(et.Shape, rt.Shape):
			problem(fmt.Sprintf("model %s: tensor %s has shape %s, %s has %s",
				src.Model, names[j], shapeString(et.Shape), refLabel, shapeString(rt.Shape)),
				func(n int) string {
					return fmt.Sprintf("model %s: all %d tensors have shape %s, %s has %s",
						src.Model, n, shapeString(et.Shape), refLabel, shapeString(rt.Shape))
				})
		case et.DType.IsFloat() != rt.DType.IsFloat():
			problem(fmt.Sprintf("model %s: tensor %s has dtype %s, %s has %s",
				src.Model, names[j], et.DType, refLabel, rt.DType),
				func(n int) string {
					return fmt.Sprintf("model %s: all %d tensors have dtype %s, %s has %s",
						src.Model, n, et.DType, refLabel, rt.DType)
				})
		}
	}
	if len(pt.MissingIn) > 0 {
		pt.Action = ActionMissing
	}
	if pt.Action == ActionMerge || pt.Action == ActionMissing {
		p.resolveParams(&pt, si, names, experts)
	}
	return pt
}

// resolveParams looks up every parameter of the method for each expert of
// a tensor: the source's parameters (matched against its tensor name), then
// the slice's and the top level's (matched against the output name). A
// required parameter that no level gives, a value out of range and
// method-wide parameters that differ between experts are problems.
func (p *planner) resolveParams(pt *PlannedTensor, si int, names []string, experts []int) {
	cfg := p.cfg
	s := p.slices[si]
	info, _ := merge.LookupMethod(cfg.MergeMethod)
	required := requiredParams(cfg.MergeMethod)
	for _, j := range experts {
		src := s.Sources[j]
		var params merge.Params
		lacking := false // a required parameter is missing
		for _, name := range info.Params {
			v, ok := lookup(name, pt.T,
				level{src.Parameters, names[j]},
				level{s.Parameters, pt.Out.Name},
				level{cfg.Parameters, pt.Out.Name})
			if slices.Contains(required, name) {
				p.checked("required "+name, src.Model)
				if !ok {
					lacking = true
					p.tensorProblem("required "+name, src.Model,
						fmt.Sprintf("parameter %s is required for model %s, tensor %s, and no level of the recipe gives it", name, src.Model, pt.Out.Name),
						func(n int) string {
							return fmt.Sprintf("parameter %s is required for model %s, all %d tensors, and no level of the recipe gives it", name, src.Model, n)
						})
				}
			}
			if !ok {
				continue
			}
			setParam(&params, name, v)
		}
		r, err := params.Resolve(cfg.MergeMethod)
		p.checked("resolve", src.Model)
		if err != nil && !lacking { // a missing parameter is reported above
			p.tensorProblem("resolve", src.Model,
				fmt.Sprintf("model %s, tensor %s: %v", src.Model, pt.Out.Name, err),
				func(n int) string { return fmt.Sprintf("model %s, all %d tensors: %v", src.Model, n, err) })
		}
		pt.Params = append(pt.Params, params)
		pt.Resolved = append(pt.Resolved, r)
	}
	for e := 1; e < len(pt.Resolved); e++ {
		for _, name := range info.Params {
			if slices.Contains(info.PerExpert, name) {
				continue
			}
			first, other := s.Sources[experts[0]].Model, s.Sources[experts[e]].Model
			p.checked("same "+name, other)
			if a, b := resolvedValue(pt.Resolved[0], name), resolvedValue(pt.Resolved[e], name); a != b {
				what := fmt.Sprintf("parameter %s must be the same for every model of a %s merge (%v for %s, %v for %s)",
					name, cfg.MergeMethod, a, first, b, other)
				p.tensorProblem("same "+name, other, fmt.Sprintf("tensor %s: %s", pt.Out.Name, what),
					func(n int) string { return fmt.Sprintf("all %d tensors: %s", n, what) })
			}
		}
	}
}

// finish fills in the plan's totals and the first pass of global-scope
// TIES.
func (p *planner) finish(tensors []PlannedTensor) {
	plan := p.plan
	plan.Tensors = tensors
	seen := map[int]bool{}
	for _, pt := range tensors {
		for _, e := range pt.Experts {
			if !seen[e.Model] {
				seen[e.Model] = true
				plan.Experts = append(plan.Experts, plan.Models[e.Model])
			}
		}
	}
	for i := range plan.Tensors {
		pt := &plan.Tensors[i]
		info := func(s Source) checkpoint.TensorInfo {
			ti, _ := p.ckpts[s.Model].Info(s.Tensor)
			return ti
		}
		switch pt.Action {
		case ActionCopy:
			pt.InputBytes = info(*pt.Copy).NumBytes()
		case ActionMissing:
			pt.InputBytes = info(*pt.Base).NumBytes()
		case ActionMerge:
			inputs := len(pt.Experts)
			if pt.Base != nil {
				inputs++
				pt.InputBytes += info(*pt.Base).NumBytes()
			}
			for _, e := range pt.Experts {
				pt.InputBytes += info(e).NumBytes()
			}
			plan.MaxInputs = max(plan.MaxInputs, inputs)
			plan.StatsExperts = max(plan.StatsExperts, len(pt.Experts))
			plan.LargestElements = max(plan.LargestElements, pt.Out.NumElements())
			for _, r := range pt.Resolved {
				if r.TrimScope == merge.ScopeGlobal && slices.Contains(globalScopeMethods, plan.Method) {
					plan.TwoPass = true
				}
			}
		}
		plan.InputBytes += pt.InputBytes
		plan.OutputBytes += pt.Out.NumBytes()
	}
	if !plan.TwoPass {
		return
	}
	if len(p.cfg.Slices) > 0 {
		p.problem("not supported yet: trim_scope global with slices")
		return
	}
	for _, pt := range plan.Tensors {
		if pt.Action != ActionMerge {
			continue
		}
		if plan.GlobalDensity == nil {
			for _, r := range pt.Resolved {
				plan.GlobalDensity = append(plan.GlobalDensity, r.Density)
			}
		}
		for e, r := range pt.Resolved {
			if r.Density != plan.GlobalDensity[e] {
				p.problem("not supported yet: trim_scope global with a density that varies by tensor (model %s)", plan.Models[pt.Experts[e].Model])
				return
			}
		}
		// The first pass reads the merged tensors of every expert once more.
		for _, e := range pt.Experts {
			ti, _ := p.ckpts[e.Model].Info(e.Tensor)
			plan.InputBytes += ti.NumBytes()
		}
	}
}
