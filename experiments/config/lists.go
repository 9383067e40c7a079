package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// checkSweptList checks a zoo stage key given as a list of values (a
// variant axis) and records it.
func (p *parser) checkSweptList(path string, n *yaml.Node, k fieldKind) {
	if len(n.Content) == 0 {
		p.errAt(path, "must be %s or a non-empty list of them", k)
		return
	}
	var vals []float64
	ok := true
	for i, e := range n.Content {
		ep := fmt.Sprintf("%s[%d]", path, i)
		p.lines[ep] = e.Line
		if !scalarOK(e, k) {
			p.errAt(ep, "must be %s, got %s", k, describeNode(e))
			ok = false
			continue
		}
		x, err := strconv.ParseFloat(e.Value, 64)
		if err != nil {
			p.errAt(ep, "must be %s, got %s", k, describeNode(e))
			ok = false
			continue
		}
		if slices.Contains(vals, x) {
			p.errAt(ep, "value %v appears twice", x)
			ok = false
		}
		vals = append(vals, x)
	}
	if ok {
		p.swept = append(p.swept, SweptKey{Key: path, Values: vals})
	}
}

// checkMethods checks sweep.methods and builds the method grids.
func (p *parser) checkMethods(path string, n *yaml.Node) {
	if n.Kind != yaml.SequenceNode {
		p.errAt(path, "must be %s, got %s", kindMethods, describeNode(n))
		return
	}
	table := sweepMethods()
	for i, e := range n.Content {
		ep := fmt.Sprintf("%s[%d]", path, i)
		p.lines[ep] = e.Line
		if e.Kind != yaml.MappingNode {
			p.errAt(ep, "must be a mapping like {method: ties, density: [0.2], lambda: [1.0]}, got %s", describeNode(e))
			continue
		}
		// The method name first: it decides which parameters are allowed.
		var spec *methodSpec
		found := false
		for j := 0; j+1 < len(e.Content); j += 2 {
			if e.Content[j].Value != "method" {
				continue
			}
			found = true
			kn, vn := e.Content[j], e.Content[j+1]
			p.lines[ep+".method"] = kn.Line
			if !scalarOK(vn, kindString) {
				p.errAt(ep+".method", "must be a string, got %s", describeNode(vn))
				break
			}
			for k := range table {
				if table[k].name == vn.Value {
					spec = &table[k]
				}
			}
			if spec == nil {
				p.errAt(ep+".method", "unknown method %q (known: %s)", vn.Value, strings.Join(methodNames(table), ", "))
			}
		}
		if !found {
			p.errAt(ep, "method missing (e.g. method: ties)")
		}
		grid := MethodGrid{Params: map[string][]float64{}}
		if spec != nil {
			grid.Method = spec.name
		}
		seen := map[string]bool{}
		for j := 0; j+1 < len(e.Content); j += 2 {
			kn, vn := e.Content[j], e.Content[j+1]
			key := kn.Value
			kp := ep + "." + key
			if seen[key] {
				p.errs = append(p.errs, &Error{File: p.file, Line: kn.Line, Key: kp, Msg: "duplicate key"})
				continue
			}
			seen[key] = true
			if key == "method" {
				continue
			}
			p.lines[kp] = kn.Line
			if spec == nil {
				continue // the method's error is enough
			}
			ps, ok := spec.param(key)
			if !ok {
				p.errAt(kp, "method %s has no parameter %q (known: %s)", spec.name, key, strings.Join(spec.paramNames(), ", "))
				continue
			}
			vals := p.numbers(kp, vn)
			for vi, x := range vals {
				if !(x >= ps.min && x <= ps.max) || (ps.openMin && x == ps.min) {
					vp := kp
					if vn.Kind == yaml.SequenceNode {
						vp = fmt.Sprintf("%s[%d]", kp, vi)
					}
					p.errAt(vp, "must be in %s, got %v", ps.interval(), x)
				}
				for _, y := range vals[:vi] {
					if x == y {
						p.errAt(kp, "value %v appears twice", x)
					}
				}
			}
			if vals != nil {
				grid.Params[key] = vals
			}
		}
		if spec != nil {
			p.methods = append(p.methods, grid)
		}
	}
}

// numbers reads a number or a non-empty list of numbers.
func (p *parser) numbers(path string, n *yaml.Node) []float64 {
	parse := func(e *yaml.Node, ep string) (float64, bool) {
		if !scalarOK(e, kindFloat) {
			p.errAt(ep, "must be a number, got %s", describeNode(e))
			return 0, false
		}
		x, err := strconv.ParseFloat(e.Value, 64)
		if err != nil {
			p.errAt(ep, "must be a number, got %s", describeNode(e))
			return 0, false
		}
		return x, true
	}
	if n.Kind == yaml.SequenceNode {
		if len(n.Content) == 0 {
			p.errAt(path, "must list at least one value")
			return nil
		}
		var out []float64
		ok := true
		for i, e := range n.Content {
			ep := fmt.Sprintf("%s[%d]", path, i)
			p.lines[ep] = e.Line
			x, good := parse(e, ep)
			ok = ok && good
			out = append(out, x)
		}
		if !ok {
			return nil
		}
		return out
	}
	if x, ok := parse(n, path); ok {
		return []float64{x}
	}
	return nil
}
