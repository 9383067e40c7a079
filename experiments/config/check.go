package config

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"mergescale/eval"
	"mergescale/eval/world"
	"mergescale/merge"
	"mergescale/model"
)

// heldInCategories is the single place the harness learns the task suite's
// held-in categories, in the suite's canonical order.
func heldInCategories() []string { return world.HeldInCategories() }

// HeldInCategories returns the built-in world's held-in categories, the
// ones experts are trained on, in canonical order (a new slice on every
// call). With tasks.dir the folder's held-in categories take their place.
func HeldInCategories() []string { return heldInCategories() }

// ExpertsRangeMsg is the message for a k of sweep.experts outside [2,
// ncat], ncat being the number of held-in categories of the task set.
func ExpertsRangeMsg(k, ncat int) string {
	return fmt.Sprintf("must be in [2, %d] (the number of held-in categories), got %d", max(ncat, 2), k)
}

// paramSpec is the allowed range of one sweep hyperparameter.
type paramSpec struct {
	name     string
	min, max float64
	openMin  bool // min itself is excluded
}

func (ps paramSpec) interval() string {
	lo := "["
	if ps.openMin {
		lo = "("
	}
	return fmt.Sprintf("%s%v, %v]", lo, ps.min, ps.max)
}

// methodSpec is a merge method the sweep may use and the hyperparameters it
// may grid over.
type methodSpec struct {
	name   string
	params []paramSpec
}

func (m methodSpec) param(name string) (paramSpec, bool) {
	for _, p := range m.params {
		if p.name == name {
			return p, true
		}
	}
	return paramSpec{}, false
}

func (m methodSpec) paramNames() []string {
	if len(m.params) == 0 {
		return []string{"none"}
	}
	names := make([]string, len(m.params))
	for i, p := range m.params {
		names[i] = p.name
	}
	return names
}

// sweepParamSpecs are the numeric hyperparameters a sweep may grid over,
// with their allowed ranges. Booleans (normalize, rescale) are written 0 or 1.
func sweepParamSpecs() map[string]paramSpec {
	return map[string]paramSpec{
		merge.ParamLambda:    {name: merge.ParamLambda, min: 0, max: 10, openMin: true},
		merge.ParamDensity:   {name: merge.ParamDensity, min: 0, max: 1, openMin: true},
		merge.ParamGamma:     {name: merge.ParamGamma, min: 0, max: 1},
		merge.ParamEpsilon:   {name: merge.ParamEpsilon, min: 0, max: 0.5},
		merge.ParamNormalize: {name: merge.ParamNormalize, min: 0, max: 1},
		merge.ParamRescale:   {name: merge.ParamRescale, min: 0, max: 1},
	}
}

// sweepMethods lists the methods a sweep may use and the hyperparameters it
// may grid over, from the merge package's method table: every method that
// merges any number of experts into a base (or averages them), which leaves
// out slerp (two models) and passthrough (one). The paper's four are linear,
// task_arithmetic, ties and dare_ties.
func sweepMethods() []methodSpec {
	specs := sweepParamSpecs()
	var out []methodSpec
	for _, mi := range merge.Methods() {
		if mi.MaxModels != 0 || mi.Name == merge.Passthrough {
			continue
		}
		ms := methodSpec{name: mi.Name}
		for _, p := range mi.Params {
			if ps, ok := specs[p]; ok {
				ms.params = append(ms.params, ps)
			}
		}
		out = append(out, ms)
	}
	return out
}

func methodNames(ms []methodSpec) []string {
	names := make([]string, len(ms))
	for i, m := range ms {
		names[i] = m.name
	}
	return names
}

// sizeNames lists the known size presets.
func sizeNames() []string {
	var names []string
	for _, p := range model.Presets() {
		names = append(names, p.Name)
	}
	return names
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// applyDerivedDefaults fills the defaults that depend on other keys.
func (p *parser) applyDerivedDefaults(c *Config) {
	if !p.has("out") && c.Name != "" {
		c.Out = "results/" + c.Name
	}
	if !p.has("world.seed") {
		c.World.Seed = c.Seed
	}
}

// validate checks required keys and ranges.
func (p *parser) validate(c *Config) {
	required := func(path string) bool {
		if !p.has(path) {
			p.errAt(path, "required key missing")
			return false
		}
		return true
	}
	intIn := func(path string, v, lo, hi int64) {
		if v < lo || v > hi {
			p.errAt(path, "must be in [%d, %d], got %d", lo, hi, v)
		}
	}
	floatIn := func(path string, v, lo, hi float64, openHi bool) {
		if v < lo || v > hi || (openHi && v == hi) {
			r := "]"
			if openHi {
				r = ")"
			}
			p.errAt(path, "must be in [%v, %v%s, got %v", lo, hi, r, v)
		}
	}

	if required("name") && !nameRE.MatchString(c.Name) {
		p.errAt("name", "must be letters, digits, '.', '_' or '-' (it names the output folder), got %q", c.Name)
	}
	intIn("seed", c.Seed, 0, 1<<62)
	if c.Out == "" && p.has("out") {
		p.errAt("out", "must not be empty")
	}
	if c.ZooDir == "" && p.has("zoo_dir") {
		p.errAt("zoo_dir", "must not be empty (omit it for <out>/zoo)")
	}
	intIn("world.seed", c.World.Seed, 0, 1<<62)
	intIn("world.validation", int64(c.World.Validation), 1, 100000)
	intIn("world.test", int64(c.World.Test), 1, 100000)
	intIn("world.train", int64(c.World.Train), 0, 1000000)

	p.validateTasks(c)
	if p.has("zoo.checkpoints") {
		for _, k := range []string{"zoo.sizes", "zoo.bases", "zoo.pretrain", "zoo.instruct", "zoo.expert", "zoo.multitask", "zoo_dir"} {
			if p.has(k) {
				p.errAt(k, "not used with zoo.checkpoints (the zoo is the listed checkpoints)")
			}
		}
		p.validateZooCheckpoints(c)
	} else {
		p.validateBuiltinZoo(c, required, intIn, floatIn)
	}

	if required("sweep.experts") {
		if len(c.Sweep.Experts) == 0 {
			p.errAt("sweep.experts", "must list at least one number of experts")
		}
		// With tasks.dir the number of held-in categories is the folder's,
		// known when a run reads it (run.Check checks the range then).
		ncat, folder := len(heldInCategories()), p.has("tasks.dir")
		for i, k := range c.Sweep.Experts {
			path := fmt.Sprintf("sweep.experts[%d]", i)
			if !folder && (k < 2 || k > ncat) {
				p.errAt(path, "%s", ExpertsRangeMsg(k, ncat))
			} else if k >= 2 && containsInt(c.Sweep.Experts[:i], k) {
				p.errAt(path, "%d appears twice", k)
			}
		}
	}
	intIn("sweep.subsets", int64(c.Sweep.Subsets), 1, 100)
	if required("sweep.methods") {
		if len(c.Sweep.Methods) == 0 && len(p.errs) == 0 {
			p.errAt("sweep.methods", "must list at least one method")
		}
		for i, m := range c.Sweep.Methods {
			for _, prev := range c.Sweep.Methods[:i] {
				if prev.Method == m.Method {
					p.errAt(fmt.Sprintf("sweep.methods[%d].method", i), "method %s appears twice; list all its values in one entry", m.Method)
				}
			}
		}
	}
	if c.Sweep.SelectOn != "validation" {
		p.errAt("sweep.select_on", "must be validation (choosing on test would leak the test split), got %q", c.Sweep.SelectOn)
	}
	switch c.Sweep.DType {
	case "", "float32", "float16", "bfloat16":
	default:
		p.errAt("sweep.dtype", "must be float32, float16 or bfloat16, got %q", c.Sweep.DType)
	}
	intIn("workers", int64(c.Workers), 1, 256)
	p.validateEval(c)
}

// validateBuiltinZoo checks the built-in zoo's sizes, bases and stages.
func (p *parser) validateBuiltinZoo(c *Config, required func(string) bool, intIn func(string, int64, int64, int64), floatIn func(string, float64, float64, float64, bool)) {
	if required("zoo.sizes") {
		if len(c.Zoo.Sizes) == 0 {
			p.errAt("zoo.sizes", "must list at least one size preset (known: %s)", strings.Join(sizeNames(), ", "))
		}
		for i, s := range c.Zoo.Sizes {
			path := fmt.Sprintf("zoo.sizes[%d]", i)
			if _, err := model.PresetByName(s); err != nil {
				p.errAt(path, "unknown size preset %q (known: %s)", s, strings.Join(sizeNames(), ", "))
			} else if contains(c.Zoo.Sizes[:i], s) {
				p.errAt(path, "%q appears twice", s)
			}
		}
	}
	if required("zoo.bases") {
		if len(c.Zoo.Bases) == 0 {
			p.errAt("zoo.bases", "must list pt, it or both")
		}
		for i, b := range c.Zoo.Bases {
			path := fmt.Sprintf("zoo.bases[%d]", i)
			if b != BasePT && b != BaseIT {
				p.errAt(path, "unknown base %q (known: pt, it)", b)
			} else if contains(c.Zoo.Bases[:i], b) {
				p.errAt(path, "%q appears twice", b)
			}
		}
	}
	stages := []struct {
		key   string
		s     Stage
		using bool
	}{
		{"pretrain", c.Zoo.Pretrain, true},
		{"instruct", c.Zoo.Instruct, c.UsesBase(BaseIT)},
		{"expert", c.Zoo.Expert, true},
		{"multitask", c.Zoo.Multitask, true},
	}
	for _, st := range stages {
		pre := "zoo." + st.key + "."
		if st.using {
			required(pre + "steps")
		}
		for _, key := range stageKeys {
			path := pre + key
			if sk, ok := c.sweptKey(path); ok {
				for i, v := range sk.Values {
					p.checkStageValue(fmt.Sprintf("%s[%d]", path, i), key, v, intIn, floatIn)
				}
				if !st.using {
					p.errAt(path, "a list of values needs the it base (zoo.bases lists only pt), since only it models are instruction-tuned")
				}
				continue
			}
			if key == "steps" && !p.has(path) {
				continue
			}
			p.checkStageValue(path, key, stageGet(st.s, key), intIn, floatIn)
		}
	}
	if n := c.numVariants(); n > maxVariants {
		p.errAt("zoo", "the listed zoo keys make %d variants (the full product), more than %d", n, maxVariants)
	}

}

// validateEval checks the eval section.
func (p *parser) validateEval(c *Config) {
	e := c.Eval
	switch e.Backend {
	case eval.BackendBuiltin:
		if p.has("eval.command") {
			p.errAt("eval.command", "is only used by backend: command")
		}
	case eval.BackendCommand:
		if !p.has("eval.command") || len(e.Command) == 0 {
			p.errAt("eval.command", "backend command needs a command, e.g. [python3, adapters/hf_eval.py, --model, \"{model}\", --requests, \"{requests}\", --out, \"{out}\"]")
			break
		}
		if e.Command[0] == "" {
			p.errAt("eval.command[0]", "the program must not be empty")
		}
		for _, ph := range []string{eval.PlaceholderModel, eval.PlaceholderRequests, eval.PlaceholderOut} {
			found := false
			for _, a := range e.Command {
				found = found || strings.Contains(a, ph)
			}
			if !found {
				p.errAt("eval.command", "must pass %s to the program", ph)
			}
		}
	default:
		p.errAt("eval.backend", "unknown backend %q (known: builtin, command)", e.Backend)
	}
	if e.Timeout != "" {
		if d, err := time.ParseDuration(e.Timeout); err != nil || d <= 0 {
			p.errAt("eval.timeout", "must be a positive duration like 30m or 90s, got %q", e.Timeout)
		}
	}
	if e.Batch < 0 {
		p.errAt("eval.batch", "must be ≥ 0 (0: all requests of one evaluation in one call), got %d", e.Batch)
	}
}

// checkStageValue checks the value of one zoo stage key (key is its last
// part, e.g. lr) found at path.
func (p *parser) checkStageValue(path, key string, v float64,
	intIn func(string, int64, int64, int64), floatIn func(string, float64, float64, float64, bool)) {
	switch key {
	case "steps":
		intIn(path, int64(v), 1, 10000000)
	case "batch":
		intIn(path, int64(v), 1, 4096)
	case "lr":
		if v <= 0 || v > 1 {
			p.errAt(path, "must be in (0, 1], got %v", v)
		}
	case "weight_decay", "warmup_frac":
		floatIn(path, v, 0, 1, false)
	case "clip_norm":
		floatIn(path, v, 0, 1e6, false)
	case "dropout":
		floatIn(path, v, 0, 1, true)
	}
}

func containsInt(s []int, x int) bool {
	for _, y := range s {
		if y == x {
			return true
		}
	}
	return false
}
