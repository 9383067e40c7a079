package experiments

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"mergescale/checkpoint"
	"mergescale/world"
)

// ZooCheckpoint is one entry of zoo.checkpoints: the existing checkpoints of
// one (size, base, variant): a base model, experts per held-in category and
// optionally a multitask model. Paths are model dirs or .safetensors files,
// as `mergescale merge` takes them, relative to the current directory.
type ZooCheckpoint struct {
	Size      string            `json:"size"`              // a label; the parameter count is read from the checkpoint
	Base      string            `json:"base"`              // pt or it
	Variant   string            `json:"variant,omitempty"` // the zoo-variant label
	BaseModel string            `json:"base_model"`
	Experts   map[string]string `json:"experts"` // category → checkpoint
	Multitask string            `json:"multitask,omitempty"`
}

// Label names the entry in messages: size/base or size/base/variant.
func (z ZooCheckpoint) Label() string {
	if z.Variant != "" {
		return z.Size + "/" + z.Base + "/" + z.Variant
	}
	return z.Size + "/" + z.Base
}

// checkpointKeys are the keys of a zoo.checkpoints entry.
func checkpointKeys() []string {
	return []string{"size", "base", "variant", "base_model", "experts", "multitask"}
}

// checkCheckpoints checks the YAML shape of zoo.checkpoints and builds the
// entries; the files are checked later, in validateCheckpoints.
func (p *parser) checkCheckpoints(path string, n *yaml.Node) {
	if n.Kind != yaml.SequenceNode {
		p.errAt(path, "must be %s, got %s", kindCheckpoints, describeNode(n))
		return
	}
	if len(n.Content) == 0 {
		p.errAt(path, "must list at least one entry")
	}
	for i, e := range n.Content {
		ep := fmt.Sprintf("%s[%d]", path, i)
		p.lines[ep] = e.Line
		if e.Kind != yaml.MappingNode {
			p.errAt(ep, "must be a mapping like {size: 1b, base: it, base_model: DIR, experts: {CATEGORY: DIR, ...}}, got %s", describeNode(e))
			continue
		}
		var z ZooCheckpoint
		seen := map[string]bool{}
		for j := 0; j+1 < len(e.Content); j += 2 {
			kn, vn := e.Content[j], e.Content[j+1]
			kp := ep + "." + kn.Value
			if seen[kn.Value] {
				p.errs = append(p.errs, &ConfigError{File: p.file, Line: kn.Line, Key: kp, Msg: "duplicate key"})
				continue
			}
			seen[kn.Value] = true
			p.lines[kp] = kn.Line
			str := func() string {
				if !scalarOK(vn, kindString) || vn.Value == "" {
					p.errAt(kp, "must be a non-empty string, got %s", describeNode(vn))
					return ""
				}
				return vn.Value
			}
			switch kn.Value {
			case "size":
				z.Size = str()
			case "base":
				z.Base = str()
			case "variant":
				z.Variant = str()
			case "base_model":
				z.BaseModel = str()
			case "multitask":
				z.Multitask = str()
			case "experts":
				if vn.Kind != yaml.MappingNode {
					p.errAt(kp, "must be a mapping of category: checkpoint, got %s", describeNode(vn))
					continue
				}
				z.Experts = map[string]string{}
				for k := 0; k+1 < len(vn.Content); k += 2 {
					cn, pn := vn.Content[k], vn.Content[k+1]
					cp := kp + "." + cn.Value
					p.lines[cp] = cn.Line
					if _, dup := z.Experts[cn.Value]; dup {
						p.errAt(cp, "duplicate category")
						continue
					}
					if !scalarOK(pn, kindString) || pn.Value == "" {
						p.errAt(cp, "must be a checkpoint path, got %s", describeNode(pn))
						continue
					}
					z.Experts[cn.Value] = pn.Value
				}
			default:
				p.errAt(kp, "unknown key (known: %s)", strings.Join(checkpointKeys(), ", "))
			}
		}
		for _, req := range []string{"size", "base", "base_model", "experts"} {
			if !seen[req] {
				p.errAt(ep, "%s missing", req)
			}
		}
		p.checkpoints = append(p.checkpoints, z)
	}
}

// validateZooCheckpoints checks the entries against the file system and the
// task set (categories, the held-in categories of the task set), reporting
// every problem with its key: a missing path, an unreadable checkpoint, an
// expert whose tensor names or shapes differ from its base, a category the
// task set does not have, a k of sweep.experts larger than an entry's
// experts.
func (p *parser) validateZooCheckpoints(c *Config, categories []string) {
	type ident struct{ size, base, variant string }
	seen := map[ident]int{}
	seenSB := map[[2]string]int{}
	for i, z := range c.Zoo.Checkpoints {
		ep := fmt.Sprintf("zoo.checkpoints[%d]", i)
		if z.Size != "" && !nameRE.MatchString(z.Size) {
			p.errAt(ep+".size", "must be letters, digits, '.', '_' or '-', got %q", z.Size)
		}
		if z.Variant != "" && !nameRE.MatchString(z.Variant) {
			p.errAt(ep+".variant", "must be letters, digits, '.', '_' or '-', got %q", z.Variant)
		}
		if z.Base != "" && z.Base != BasePT && z.Base != BaseIT {
			p.errAt(ep+".base", "unknown base %q (known: pt, it)", z.Base)
		}
		id := ident{z.Size, z.Base, z.Variant}
		if prev, dup := seen[id]; dup {
			p.errAt(ep, "%s is also zoo.checkpoints[%d]", z.Label(), prev)
		} else if prev, dup := seenSB[[2]string{z.Size, z.Base}]; dup {
			// The store's variants are the numeric values of listed zoo
			// keys; a label does not map onto them, so two labels of one
			// (size, base) would share cells.
			p.errAt(ep, "size %s base %s is also zoo.checkpoints[%d] (one entry per size and base: a variant label is not a store variant)", z.Size, z.Base, prev)
		}
		seen[id] = i
		seenSB[[2]string{z.Size, z.Base}] = i

		var base *checkpoint.Checkpoint
		if z.BaseModel != "" {
			base = p.openCheckpoint(ep+".base_model", z.BaseModel)
		}
		if z.Experts != nil && len(z.Experts) < 2 {
			p.errAt(ep+".experts", "must list at least 2 experts, got %d", len(z.Experts))
		}
		cats := make([]string, 0, len(z.Experts))
		for cat := range z.Experts {
			cats = append(cats, cat)
		}
		sort.Strings(cats)
		for _, cat := range cats {
			kp := ep + ".experts." + cat
			if !slices.Contains(categories, cat) {
				p.errAt(kp, "category %q is not a held-in category of the task set (known: %s)", cat, strings.Join(categories, ", "))
			}
			if ex := p.openCheckpoint(kp, z.Experts[cat]); ex != nil {
				if base != nil {
					if diff := tensorDiff(base, ex); diff != "" {
						p.errAt(kp, "%s does not match the base model %s: %s", z.Experts[cat], z.BaseModel, diff)
					}
				}
				ex.Close()
			}
		}
		if z.Multitask != "" {
			if mt := p.openCheckpoint(ep+".multitask", z.Multitask); mt != nil {
				mt.Close()
			}
		}
		if base != nil {
			base.Close()
		}
		for ki, k := range c.Sweep.Experts {
			if z.Experts != nil && k > len(z.Experts) {
				p.errAt(fmt.Sprintf("sweep.experts[%d]", ki), "k = %d, but zoo.checkpoints[%d] (%s) has %d experts", k, i, z.Label(), len(z.Experts))
			}
		}
	}
}

// openCheckpoint opens the checkpoint at path, reporting a missing or
// unreadable one at key.
func (p *parser) openCheckpoint(key, path string) *checkpoint.Checkpoint {
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			p.errAt(key, "%s does not exist", path)
		} else {
			p.errAt(key, "%v", err)
		}
		return nil
	}
	ck, err := checkpoint.Open(path)
	if err != nil {
		p.errAt(key, "unreadable checkpoint: %v", err)
		return nil
	}
	return ck
}

// tensorDiff describes how b's tensor names and shapes differ from a's ("" :
// they agree), naming at most three tensors.
func tensorDiff(a, b *checkpoint.Checkpoint) string {
	var diffs []string
	for _, t := range a.Tensors() {
		u, ok := b.Info(t.Name)
		switch {
		case !ok:
			diffs = append(diffs, "no tensor "+t.Name)
		case !slices.Equal(t.Shape, u.Shape):
			diffs = append(diffs, fmt.Sprintf("%s has shape %v, the base %v", t.Name, u.Shape, t.Shape))
		}
	}
	for _, u := range b.Tensors() {
		if _, ok := a.Info(u.Name); !ok {
			diffs = append(diffs, "extra tensor "+u.Name)
		}
	}
	if len(diffs) > 3 {
		diffs = append(diffs[:3], fmt.Sprintf("and %d more", len(diffs)-3))
	}
	return strings.Join(diffs, "; ")
}

// validateTasks checks tasks.dir: it needs zoo.checkpoints, excludes the
// world section, and must read as a valid task set (each of its problems is
// reported at tasks.dir).
func (p *parser) validateTasks(c *Config) {
	if !p.has("tasks.dir") {
		return
	}
	if !p.has("zoo.checkpoints") {
		p.errAt("tasks.dir", "requires zoo.checkpoints (the built-in zoo is trained on the built-in world)")
	}
	for _, k := range []string{"world", "world.seed", "world.validation", "world.test", "world.train"} {
		if p.has(k) {
			p.errAt(k, "not used with tasks.dir (the task set comes from the folder)")
			if k == "world" {
				break // the section's line says it all
			}
		}
	}
	if c.Tasks.Dir == "" {
		p.errAt("tasks.dir", "must not be empty")
		return
	}
	ts, err := world.ReadTaskDir(c.Tasks.Dir)
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			p.errAt("tasks.dir", "%s", line)
		}
		return
	}
	if n := len(ts.Categories(world.HeldIn)); n < 2 {
		p.errAt("tasks.dir", "%s has %d held-in categories; merging needs at least 2", c.Tasks.Dir, n)
	}
	c.TaskSet = ts
}
