package report

import (
	_ "embed"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

//go:embed paper_reference.yaml
var paperReferenceYAML []byte

// PaperReference holds the numbers of "What Matters for Model Merging at
// Scale?" (Yadav et al., 2024) that the report prints beside ours. It is
// parsed from the embedded report/paper_reference.yaml, which records where
// each value comes from.
type PaperReference struct {
	// Sizes are the paper's model sizes in billions of parameters, ascending.
	Sizes []int
	// TaskArithmetic maps base type ("pt", "it") → size (billions) → values;
	// a size the paper reports no numbers for is absent.
	TaskArithmetic map[string]map[int]PaperCell
	// MethodsAtScale holds the four methods at 64B, IT, k=8: metric
	// ("held_in", "held_out") → method name as in the paper → value.
	MethodsAtScale map[string]map[string]float64
	// Claims are the paper's five claims with its own evidence.
	Claims []PaperClaim
}

// PaperCell is the paper's task-arithmetic numbers for one base type and size.
type PaperCell struct {
	HeldIn, HeldOut                   KValues
	MultitaskHeldIn, MultitaskHeldOut KValues
}

// KValues maps a number of merged experts k to a value. A value the paper
// gives without k applies to every k and is stored under key 0.
type KValues map[int]float64

// At returns the value at k, falling back to the k-independent value.
func (v KValues) At(k int) (float64, bool) {
	if x, ok := v[k]; ok {
		return x, true
	}
	x, ok := v[0]
	return x, ok
}

// UnmarshalYAML accepts either a scalar (k-independent) or a mapping
// {k2: 0.9, k8: 0.8}.
func (v *KValues) UnmarshalYAML(n *yaml.Node) error {
	*v = KValues{}
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return nil
		}
		x, err := strconv.ParseFloat(n.Value, 64)
		if err != nil {
			return fmt.Errorf("line %d: value %q: %w", n.Line, n.Value, err)
		}
		(*v)[0] = x
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i].Value
			k, err := strconv.Atoi(strings.TrimPrefix(key, "k"))
			if err != nil || !strings.HasPrefix(key, "k") {
				return fmt.Errorf("line %d: key %q is not of the form kN", n.Content[i].Line, key)
			}
			x, err := strconv.ParseFloat(n.Content[i+1].Value, 64)
			if err != nil {
				return fmt.Errorf("line %d: key %q: %w", n.Content[i].Line, key, err)
			}
			(*v)[k] = x
		}
	default:
		return fmt.Errorf("line %d: want a number or a {kN: value} mapping", n.Line)
	}
	return nil
}

// PaperClaim is one of the paper's five claims.
type PaperClaim struct {
	ID       string `yaml:"id"`
	Text     string `yaml:"text"`
	Evidence string `yaml:"evidence"`
}

type paperFile struct {
	Setup struct {
		Sizes []int `yaml:"sizes_billion_params"`
	} `yaml:"setup"`
	TaskArithmetic map[string]map[int]*struct {
		HeldIn    KValues `yaml:"held_in"`
		HeldOut   KValues `yaml:"held_out"`
		Multitask struct {
			HeldIn  KValues `yaml:"held_in"`
			HeldOut KValues `yaml:"held_out"`
		} `yaml:"multitask"`
	} `yaml:"task_arithmetic"`
	MethodsAtScale map[string]map[string]float64 `yaml:"methods_at_64b_it_k8"`
	Claims         []PaperClaim                  `yaml:"claims"`
}

// LoadPaperReference parses the embedded paper_reference.yaml.
func LoadPaperReference() (*PaperReference, error) {
	return parsePaperReference(paperReferenceYAML)
}

func parsePaperReference(b []byte) (*PaperReference, error) {
	var f paperFile
	if err := yaml.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("paper_reference.yaml: %w", err)
	}
	if len(f.Setup.Sizes) == 0 {
		return nil, fmt.Errorf("paper_reference.yaml: setup.sizes_billion_params is empty")
	}
	ref := &PaperReference{
		Sizes:          append([]int(nil), f.Setup.Sizes...),
		TaskArithmetic: map[string]map[int]PaperCell{},
		MethodsAtScale: f.MethodsAtScale,
		Claims:         f.Claims,
	}
	sort.Ints(ref.Sizes)
	for base, bySize := range f.TaskArithmetic {
		ref.TaskArithmetic[base] = map[int]PaperCell{}
		for size, c := range bySize {
			if c == nil {
				continue // the paper reports nothing for this size
			}
			ref.TaskArithmetic[base][size] = PaperCell{
				HeldIn: c.HeldIn, HeldOut: c.HeldOut,
				MultitaskHeldIn: c.Multitask.HeldIn, MultitaskHeldOut: c.Multitask.HeldOut,
			}
		}
	}
	return ref, nil
}

// paperSizeFor maps our i-th size (of n, ascending by parameter count) to a
// paper size by relative rank: the smallest to 1B, the largest to 64B and
// the others to the nearest rank in between. With 4 sizes this is 1:1; a
// single size maps to the smallest paper size.
func (r *PaperReference) paperSizeFor(i, n int) int {
	if n <= 1 {
		return r.Sizes[0]
	}
	m := len(r.Sizes) - 1
	j := (i*m*2 + (n - 1)) / (2 * (n - 1)) // round(i*m/(n-1))
	return r.Sizes[j]
}
