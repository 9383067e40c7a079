package config

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"mergescale/eval"
	"mergescale/eval/command"
	"mergescale/merge"
	"mergescale/model"
	"mergescale/world"
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

// applyDerivedDefaults fills the defaults that depend on other keys and
// records them in p.derived.
func (p *parser) applyDerivedDefaults(c *Config) {
	if !p.has("out") && c.Name != "" {
		c.Out = "results/" + c.Name
		p.derived["out"] = true
	}
	if !p.has("world.seed") {
		c.World.Seed = c.Seed
		p.derived["world.seed"] = true
	}
	if p.has("tasks.max_examples") && !p.has("tasks.seed") {
		c.Tasks.Seed = c.Seed
		p.derived["tasks.seed"] = true
	}
}

// rule is what the schema cannot say of a key: the checks that involve
// other keys, the merge and model tables or a format. The schema walk
// (validate) runs a key's rule at the key's place in schema order.
type rule struct {
	// skip leaves the key out altogether: a section the config does not
	// use (the built-in zoo's keys beside zoo.checkpoints).
	skip func(c *Config) bool
	// required, when set, replaces the schema's required: a key needed
	// only by some configs.
	required func(c *Config) bool
	// after runs once the key (a section: its keys) passed the schema's
	// checks; it does not run for a required key that is missing.
	after func(c *Config)
}

// rules maps dotted key paths to their rules.
func (p *parser) rules() map[string]rule {
	checkpoints := func(*Config) bool { return p.has("zoo.checkpoints") }
	r := map[string]rule{
		"name": {after: func(c *Config) {
			if !nameRE.MatchString(c.Name) {
				p.errAt("name", "must be letters, digits, '.', '_' or '-' (it names the output folder), got %q", c.Name)
			}
		}},
		"out": {after: func(c *Config) {
			if c.Out == "" && p.has("out") {
				p.errAt("out", "must not be empty")
			}
		}},
		"merged_dir": {after: func(c *Config) {
			if c.MergedDir == "" && p.has("merged_dir") {
				p.errAt("merged_dir", "must not be empty (omit it for <out>/merged)")
			}
		}},
		"db": {after: func(c *Config) {
			switch {
			case c.DB == "" && p.has("db"):
				p.errAt("db", "must not be empty (omit it for <out>/results.db)")
			case strings.HasSuffix(c.DB, "/"):
				p.errAt("db", "must name a file (the results store), got the folder %q", c.DB)
			}
		}},
		"zoo_dir": {after: func(c *Config) {
			if c.ZooDir == "" && p.has("zoo_dir") {
				p.errAt("zoo_dir", "must not be empty (omit it for <out>/zoo)")
			}
		}},
		"world": {after: p.validateTasks},
		"world.version": {after: func(c *Config) {
			if !slices.Contains(world.Versions(), c.World.Version) {
				p.errAt("world.version", "unknown world version %q (known: %s)", c.World.Version, strings.Join(world.Versions(), ", "))
			}
		}},
		"zoo": {after: p.validateVariants},
		"zoo.checkpoints": {after: func(c *Config) {
			if !p.has("zoo.checkpoints") {
				return
			}
			for _, k := range []string{"zoo.sizes", "zoo.bases", "zoo.pretrain", "zoo.instruct", "zoo.expert", "zoo.multitask", "zoo_dir"} {
				if p.has(k) {
					p.errAt(k, "not used with zoo.checkpoints (the zoo is the listed checkpoints)")
				}
			}
			p.validateZooCheckpoints(c)
		}},
		"zoo.sizes":          {skip: checkpoints, after: p.validateSizes},
		"zoo.bases":          {skip: checkpoints, after: p.validateBases},
		"zoo.pretrain":       {skip: checkpoints},
		"zoo.instruct":       {skip: checkpoints},
		"zoo.expert":         {skip: checkpoints},
		"zoo.multitask":      {skip: checkpoints},
		"zoo.instruct.steps": {required: func(c *Config) bool { return c.UsesBase(BaseIT) }},
		"sweep.experts":      {after: p.validateExperts},
		"sweep.methods":      {after: p.validateMethods},
		"sweep.select_on": {after: func(c *Config) {
			if c.Sweep.SelectOn != "validation" {
				p.errAt("sweep.select_on", "must be validation (choosing on test would leak the test split), got %q", c.Sweep.SelectOn)
			}
		}},
		"sweep.dtype": {after: func(c *Config) {
			switch c.Sweep.DType {
			case "", "float32", "float16", "bfloat16":
			default:
				p.errAt("sweep.dtype", "must be float32, float16 or bfloat16, got %q", c.Sweep.DType)
			}
		}},
		"eval.backend": {after: p.validateBackend},
		"tasks.seed": {after: func(c *Config) {
			if p.has("tasks.seed") && !p.has("tasks.max_examples") {
				p.errAt("tasks.seed", "only used with tasks.max_examples (it draws the examples kept)")
			}
		}},
		"tasks.max_examples": {after: func(c *Config) {
			if p.has("tasks.max_examples") && !p.has("tasks.dir") {
				p.errAt("tasks.max_examples", "requires tasks.dir (the built-in world sets its sizes with world.validation, world.test, world.train)")
			}
		}},
		"eval.timeout": {after: func(c *Config) {
			if e := c.Eval; e.Timeout != "" {
				if d, err := time.ParseDuration(e.Timeout); err != nil || d <= 0 {
					p.errAt("eval.timeout", "must be a positive duration like 30m or 90s, got %q", e.Timeout)
				}
			}
		}},
		"eval.key_ignore": {after: func(c *Config) {
			e := c.Eval
			if len(e.KeyIgnore) > 0 && e.Backend != eval.BackendCommand {
				p.errAt("eval.key_ignore", "is only used by backend: command")
				return
			}
			for i, f := range e.KeyIgnore {
				switch {
				case !strings.HasPrefix(f, "-"):
					p.errAt(fmt.Sprintf("eval.key_ignore[%d]", i), "%q is not a flag (want e.g. --batch-size)", f)
				case !slices.ContainsFunc(e.Command, func(a string) bool { return a == f || strings.HasPrefix(a, f+"=") }):
					p.errAt(fmt.Sprintf("eval.key_ignore[%d]", i), "flag %q is not in eval.command", f)
				}
			}
		}},
		"eval.batch": {after: func(c *Config) {
			if c.Eval.Batch < 0 {
				p.errAt("eval.batch", "must be ≥ 0 (0: all requests of one evaluation in one call), got %d", c.Eval.Batch)
			}
		}},
	}
	// Only it models are instruction-tuned: without the it base, a listed
	// instruct key is an axis that varies nothing.
	for _, f := range stageSchema() {
		path := "zoo.instruct." + f.key
		rl := r[path]
		rl.after = func(c *Config) {
			if _, swept := c.sweptKey(path); swept && !c.UsesBase(BaseIT) {
				p.errAt(path, "a list of values needs the it base (zoo.bases lists only pt), since only it models are instruction-tuned")
			}
		}
		r[path] = rl
	}
	return r
}

// validate checks a decoded config: it walks the schema in order and, for
// each key, checks that a required key is present and that a number lies
// in its range (every value of a listed zoo key), then runs the key's rule.
// A number is checked when it is present or has a default (the schema's or
// a derived one); an absent key without one is unused.
func (p *parser) validate(c *Config) {
	v := reflect.ValueOf(c).Elem()
	rules := p.rules()
	var walk func(prefix string, fs []field)
	walk = func(prefix string, fs []field) {
		for _, f := range fs {
			path := join(prefix, f.key)
			r := rules[path]
			if r.skip != nil && r.skip(c) {
				continue
			}
			required := f.required
			if r.required != nil {
				required = r.required(c)
			}
			if required && !p.has(path) {
				p.errAt(path, "required key missing")
				continue
			}
			switch {
			case f.kind == kindMap:
				walk(path, f.fields)
			case f.rng == nil:
			case p.listed(path) != nil:
				for i, x := range p.listed(path).Values {
					var val any = x
					if f.kind == kindInt {
						val = int64(x)
					}
					if msg := f.rng.outside(val); msg != "" {
						p.errAt(fmt.Sprintf("%s[%d]", path, i), "%s", msg)
					}
				}
			case p.has(path) || f.def != "" || p.derived[path]:
				if msg := f.rng.outside(numberAt(v, f)); msg != "" {
					p.errAt(path, "%s", msg)
				}
			}
			if r.after != nil {
				r.after(c)
			}
		}
	}
	walk("", configSchema())
}

// listed returns the listed zoo key at path, or nil.
func (p *parser) listed(path string) *SweptKey {
	for i := range p.swept {
		if p.swept[i].Key == path {
			return &p.swept[i]
		}
	}
	return nil
}

// validateSizes checks zoo.sizes: known size presets, each once.
func (p *parser) validateSizes(c *Config) {
	if len(c.Zoo.Sizes) == 0 {
		p.errAt("zoo.sizes", "must list at least one size preset (known: %s)", strings.Join(sizeNames(), ", "))
	}
	for i, s := range c.Zoo.Sizes {
		path := fmt.Sprintf("zoo.sizes[%d]", i)
		if _, err := model.PresetByName(s); err != nil {
			p.errAt(path, "unknown size preset %q (known: %s)", s, strings.Join(sizeNames(), ", "))
		} else if slices.Contains(c.Zoo.Sizes[:i], s) {
			p.errAt(path, "%q appears twice", s)
		}
	}
}

// validateBases checks zoo.bases: pt, it or both.
func (p *parser) validateBases(c *Config) {
	if len(c.Zoo.Bases) == 0 {
		p.errAt("zoo.bases", "must list pt, it or both")
	}
	for i, b := range c.Zoo.Bases {
		path := fmt.Sprintf("zoo.bases[%d]", i)
		if b != BasePT && b != BaseIT {
			p.errAt(path, "unknown base %q (known: pt, it)", b)
		} else if slices.Contains(c.Zoo.Bases[:i], b) {
			p.errAt(path, "%q appears twice", b)
		}
	}
}

// validateVariants bounds the full product of the listed zoo keys.
func (p *parser) validateVariants(c *Config) {
	if p.has("zoo.checkpoints") {
		return
	}
	if n := c.numVariants(); n > maxVariants {
		p.errAt("zoo", "the listed zoo keys make %d variants (the full product), more than %d", n, maxVariants)
	}
}

// validateExperts checks sweep.experts: at least one k, each in [2, the
// number of held-in categories] and listed once. With tasks.dir the number
// of held-in categories is the folder's, known when a run reads it
// (run.Check checks the range then).
func (p *parser) validateExperts(c *Config) {
	if len(c.Sweep.Experts) == 0 {
		p.errAt("sweep.experts", "must list at least one number of experts")
	}
	ncat, folder := len(heldInCategories()), p.has("tasks.dir")
	for i, k := range c.Sweep.Experts {
		path := fmt.Sprintf("sweep.experts[%d]", i)
		if !folder && (k < 2 || k > ncat) {
			p.errAt(path, "%s", ExpertsRangeMsg(k, ncat))
		} else if k >= 2 && slices.Contains(c.Sweep.Experts[:i], k) {
			p.errAt(path, "%d appears twice", k)
		}
	}
}

// validateMethods checks sweep.methods as a whole (each entry was checked
// with the YAML tree): at least one, each method once.
func (p *parser) validateMethods(c *Config) {
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

// validateBackend checks eval.backend and the command it may need.
func (p *parser) validateBackend(c *Config) {
	e := c.Eval
	switch e.Backend {
	case eval.BackendBuiltin:
		for _, k := range []string{"eval.command", "eval.persistent", "eval.slots", "eval.gpus_per_worker"} {
			if p.has(k) {
				p.errAt(k, "is only used by backend: command")
			}
		}
	case eval.BackendCommand:
		if !p.has("eval.command") || len(e.Command) == 0 {
			p.errAt("eval.command", "backend command needs a command, e.g. [python3, adapters/hf_eval.py, --model, \"{model}\", --requests, \"{requests}\", --out, \"{out}\"]")
			break
		}
		if e.Command[0] == "" {
			p.errAt("eval.command[0]", "the program must not be empty")
		}
		for _, ph := range []string{command.PlaceholderModel, command.PlaceholderRequests, command.PlaceholderOut} {
			found := false
			for i, a := range e.Command {
				if strings.Contains(a, ph) && e.Persistent {
					p.errAt(fmt.Sprintf("eval.command[%d]", i), "a persistent evaluator is started once per evaluation slot and is sent its models and requests on standard input: %s has no meaning here", ph)
				}
				found = found || strings.Contains(a, ph)
			}
			if !found && !e.Persistent {
				p.errAt("eval.command", "must pass %s to the program", ph)
			}
		}
		if p.has("eval.gpus_per_worker") && !slices.ContainsFunc(e.Command, func(a string) bool { return strings.Contains(a, command.PlaceholderDevices) }) {
			p.errAt("eval.gpus_per_worker", "eval.command must pass {devices} (the slot's devices, e.g. --devices \"{devices}\"); {worker} is the slot's number, not its devices")
		}
	default:
		p.errAt("eval.backend", "unknown backend %q (known: builtin, command)", e.Backend)
	}
}
