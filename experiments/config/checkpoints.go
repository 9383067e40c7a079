package config

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
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
// entries; the files are checked when a run starts.
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
				p.errs = append(p.errs, &Error{File: p.file, Line: kn.Line, Key: kp, Msg: "duplicate key"})
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

// validateZooCheckpoints checks what the entries say of themselves and of
// the sweep: labels, bases, one entry per (size, base), at least 2 experts,
// no k of sweep.experts larger than an entry's experts. The files and the
// categories are checked when a run starts (run.Check), since loading a
// config opens no file but the config.
func (p *parser) validateZooCheckpoints(c *Config) {
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

		if z.Experts != nil && len(z.Experts) < 2 {
			p.errAt(ep+".experts", "must list at least 2 experts, got %d", len(z.Experts))
		}
		for ki, k := range c.Sweep.Experts {
			if z.Experts != nil && k > len(z.Experts) {
				p.errAt(fmt.Sprintf("sweep.experts[%d]", ki), "k = %d, but zoo.checkpoints[%d] (%s) has %d experts", k, i, z.Label(), len(z.Experts))
			}
		}
	}
}

// validateTasks checks tasks.dir: it needs zoo.checkpoints, excludes the
// world section and must not be empty. The folder itself is read when a
// run starts (run.Check).
func (p *parser) validateTasks(c *Config) {
	if !p.has("tasks.dir") {
		return
	}
	if !p.has("zoo.checkpoints") {
		p.errAt("tasks.dir", "requires zoo.checkpoints (the built-in zoo is trained on the built-in world)")
	}
	for _, k := range []string{"world", "world.seed", "world.validation", "world.test", "world.train", "world.version"} {
		if p.has(k) {
			p.errAt(k, "not used with tasks.dir (the task set comes from the folder)")
			if k == "world" {
				break // the section's line says it all
			}
		}
	}
	if c.Tasks.Dir == "" {
		p.errAt("tasks.dir", "must not be empty")
	}
}
