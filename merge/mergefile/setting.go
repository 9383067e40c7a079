package mergefile

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"mergescale/merge"
)

// Setting is the value of one parameter as a recipe writes it: a scalar, a
// gradient (a list of values), or a list of conditionals of which the first
// whose filter matches the tensor name gives the value. Exactly one of
// Value, List and Conditionals is set.
type Setting struct {
	// Value is a scalar: float64, bool or string.
	Value any
	// List is a gradient. Numbers are interpolated linearly at t ∈ [0, 1]
	// (the first value at t = 0, the last at t = 1); booleans and strings
	// are picked: element int(t·(n − 1)).
	List []any
	// Conditionals are tried in order; the first whose Filter is "", "*"
	// or a substring of the tensor name gives the value. When none matches
	// the setting gives no value and the lookup goes on to the next level.
	Conditionals []Conditional
}

// Conditional is one {filter, value} entry of a conditional setting.
type Conditional struct {
	// Filter is matched as a substring of the tensor name; "" and "*"
	// match every tensor.
	Filter string
	// Value is a scalar or a gradient (never conditionals).
	Value Setting
}

// ParamSet holds the parameters of one level of a recipe (top level, a
// slice, a model or slice source), by name.
type ParamSet map[string]Setting

// Scalar returns the setting of a single value: a number (any Go integer
// or float type, stored as float64), a bool or a string.
func Scalar(v any) Setting {
	switch x := v.(type) {
	case int:
		v = float64(x)
	case int64:
		v = float64(x)
	case float32:
		v = float64(x)
	}
	return Setting{Value: v}
}

// Gradient returns a gradient of numbers.
func Gradient(vs ...float64) Setting {
	l := make([]any, len(vs))
	for i, v := range vs {
		l[i] = v
	}
	return Setting{List: l}
}

// ParamSetOf converts typed parameters (every set field a scalar) into a
// ParamSet, for recipes built in code.
func ParamSetOf(p merge.Params) ParamSet {
	ps := ParamSet{}
	put := func(name string, v any) { ps[name] = Scalar(v) }
	if p.Weight != nil {
		put(merge.ParamWeight, *p.Weight)
	}
	if p.Density != nil {
		put(merge.ParamDensity, *p.Density)
	}
	if p.Lambda != nil {
		put(merge.ParamLambda, *p.Lambda)
	}
	if p.Normalize != nil {
		put(merge.ParamNormalize, *p.Normalize)
	}
	if p.Rescale != nil {
		put(merge.ParamRescale, *p.Rescale)
	}
	if p.RescaleMode != "" {
		put(merge.ParamRescaleMode, p.RescaleMode)
	}
	if p.TrimScope != "" {
		put(merge.ParamTrimScope, p.TrimScope)
	}
	if p.Gamma != nil {
		put(merge.ParamGamma, *p.Gamma)
	}
	if p.Epsilon != nil {
		put(merge.ParamEpsilon, *p.Epsilon)
	}
	if p.T != nil {
		put(merge.ParamT, *p.T)
	}
	if p.Scale != nil {
		put(merge.ParamScale, *p.Scale)
	}
	if len(ps) == 0 {
		return nil
	}
	return ps
}

// Eval returns the setting's value for a tensor at t, and false when a
// conditional list has no entry matching the tensor.
func (s Setting) Eval(tensor string, t float64) (any, bool) {
	switch {
	case s.Value != nil:
		return s.Value, true
	case len(s.List) > 0:
		return evalList(s.List, t), true
	}
	for _, c := range s.Conditionals {
		if c.Filter == "" || c.Filter == "*" || strings.Contains(tensor, c.Filter) {
			return c.Value.Eval(tensor, t)
		}
	}
	return nil, false
}

// evalList evaluates a non-empty gradient at t: numbers are interpolated
// between the two neighbouring values, other values are picked.
func evalList(l []any, t float64) any {
	n := len(l)
	scaled := t * float64(n-1)
	i0 := min(max(int(scaled), 0), n-1)
	if _, ok := l[0].(float64); !ok {
		return l[i0]
	}
	i1 := min(n-1, i0+1)
	frac := scaled - float64(i0)
	a, b := l[i0].(float64), l[i1].(float64)
	return (1-frac)*a + frac*b
}

// leaves returns every value the setting can produce at a list's points.
func (s Setting) leaves() []any {
	switch {
	case s.Value != nil:
		return []any{s.Value}
	case len(s.List) > 0:
		return s.List
	}
	var out []any
	for _, c := range s.Conditionals {
		out = append(out, c.Value.leaves()...)
	}
	return out
}

// check validates the setting of parameter name for a merge method: the
// structure (a non-empty gradient of one type; conditionals holding a
// scalar or a gradient), each value's type, and each value's range as the
// method checks it. where prefixes errors, e.g. "parameters.weight".
func (s Setting) check(method, name, where string) error {
	kind, ok := knownParams[name]
	if !ok {
		return fmt.Errorf("%s: unknown parameter %q (known: %s)", where, name, joinKeys(knownParams))
	}
	set := 0
	for _, isSet := range []bool{s.Value != nil, s.List != nil, s.Conditionals != nil} {
		if isSet {
			set++
		}
	}
	switch {
	case set == 0:
		return fmt.Errorf("%s: missing value", where)
	case set > 1:
		return fmt.Errorf("%s: give one of a value, a gradient or a list of conditionals, not %d", where, set)
	}
	if s.List != nil && len(s.List) == 0 {
		return fmt.Errorf("%s: a gradient with no values", where)
	}
	if s.Conditionals != nil {
		if len(s.Conditionals) == 0 {
			return fmt.Errorf("%s: an empty list of conditionals", where)
		}
		for i, c := range s.Conditionals {
			if c.Value.Conditionals != nil {
				return fmt.Errorf("%s[%d].value: want a value or a gradient, not conditionals", where, i)
			}
			if err := c.Value.check(method, name, fmt.Sprintf("%s[%d].value", where, i)); err != nil {
				return err
			}
		}
		return nil
	}
	for _, v := range s.leaves() {
		if !kindOf(v, kind) {
			return fmt.Errorf("%s: want %s, got %v", where, kindName(kind), v)
		}
		if f, ok := v.(float64); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
			return fmt.Errorf("%s: want a finite number, got %v", where, f)
		}
	}
	if method == "" {
		return nil
	}
	for _, v := range s.leaves() {
		var p merge.Params
		setParam(&p, name, v)
		if _, err := p.Resolve(method); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
	}
	return nil
}

// kindOf reports whether v has the type of kind.
func kindOf(v any, kind paramKind) bool {
	switch v.(type) {
	case float64:
		return kind == kindNumber
	case bool:
		return kind == kindBool
	case string:
		return kind == kindString
	}
	return false
}

// kindName describes a kind for errors.
func kindName(kind paramKind) string {
	return map[paramKind]string{kindNumber: "a number", kindBool: "true or false", kindString: "a string"}[kind]
}

// checkSet validates every setting of a ParamSet for a method.
func (ps ParamSet) checkSet(method, where string) error {
	for _, name := range slices.Sorted(maps.Keys(ps)) {
		if err := ps[name].check(method, name, where+"."+name); err != nil {
			return err
		}
	}
	return nil
}

// level is one place a parameter may be set, with the tensor name its
// filters are matched against.
type level struct {
	set    ParamSet
	tensor string
}

// lookup returns the value of parameter name from the first level that
// gives one at t, and false when none does.
func lookup(name string, t float64, levels ...level) (any, bool) {
	for _, l := range levels {
		s, ok := l.set[name]
		if !ok {
			continue
		}
		if v, ok := s.Eval(l.tensor, t); ok {
			return v, true
		}
	}
	return nil, false
}

// requiredParams lists the parameters a method needs for every model other
// than the base, as mergekit requires them: no default applies.
func requiredParams(method string) []string {
	switch method {
	case merge.Slerp:
		return []string{merge.ParamT}
	case merge.Linear, merge.TaskArithmetic, merge.TIES, merge.DareTIES, merge.DareLinear,
		merge.Breadcrumbs, merge.BreadcrumbsTIES, merge.Della, merge.DellaLinear:
		return []string{merge.ParamWeight}
	}
	return nil
}
