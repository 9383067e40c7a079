package config

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// Problems collects the errors found in a loaded config by checks that
// loading does not make, those of the files it names (a run's first step).
// Each is located as loading locates its own: at the key's line in the
// config file, or at the MERGESCALE_* variable that set the key.
type Problems struct {
	p *parser
}

// Problems returns an empty collection of c's problems, the key lines read
// again from c.Text (no file is opened).
func (c *Config) Problems() *Problems {
	p := &parser{file: c.Path, lines: map[string]int{}, env: map[string]string{}}
	var doc yaml.Node
	if err := yaml.Unmarshal(c.Text, &doc); err == nil && len(doc.Content) > 0 {
		recordLines("", doc.Content[0], p.lines)
	}
	names := EnvKeys()
	for _, ov := range c.Overrides {
		name, _, _ := strings.Cut(ov, "=")
		if path, ok := names[name]; ok {
			p.env[path] = name
		}
	}
	return &Problems{p: p}
}

// Add records a problem with the value at key (a dotted path with list
// indexes, e.g. zoo.checkpoints[0].experts.sentiment).
func (ps *Problems) Add(key, format string, args ...any) {
	ps.p.errAt(key, format, args...)
}

// Err returns the problems ordered by line and joined, each an *Error, or
// nil when there are none.
func (ps *Problems) Err() error { return ps.p.result() }

// recordLines records the line of every mapping key and list element under
// n, by dotted path (list elements as path[i]); a repeated key keeps its
// first line.
func recordLines(prefix string, n *yaml.Node, lines map[string]int) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			path := join(prefix, n.Content[i].Value)
			if _, dup := lines[path]; !dup {
				lines[path] = n.Content[i].Line
			}
			recordLines(path, n.Content[i+1], lines)
		}
	case yaml.SequenceNode:
		for i, e := range n.Content {
			ep := fmt.Sprintf("%s[%d]", prefix, i)
			lines[ep] = e.Line
			recordLines(ep, e, lines)
		}
	}
}
