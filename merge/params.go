package merge

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// Method names accepted by MergeTensor.
const (
	Linear          = "linear"
	TaskArithmetic  = "task_arithmetic"
	TIES            = "ties"
	DareTIES        = "dare_ties"
	DareLinear      = "dare_linear"
	Breadcrumbs     = "breadcrumbs"
	BreadcrumbsTIES = "breadcrumbs_ties"
	Della           = "della"
	DellaLinear     = "della_linear"
	Slerp           = "slerp"
	ModelStock      = "model_stock"
	Passthrough     = "passthrough"
)

// Parameter names, as they appear in a mergekit-style config.
const (
	ParamWeight      = "weight"
	ParamDensity     = "density"
	ParamLambda      = "lambda"
	ParamNormalize   = "normalize"
	ParamRescale     = "rescale"
	ParamRescaleMode = "rescale_mode"
	ParamTrimScope   = "trim_scope"
	ParamGamma       = "gamma"
	ParamEpsilon     = "epsilon"
	ParamT           = "t"
	ParamScale       = "scale"
)

// Values of the string parameters.
const (
	RescaleInverse = "inverse" // rescale kept entries by 1/p
	RescaleL1      = "l1"      // rescale each tensor to keep its L1 norm
	ScopeTensor    = "tensor"  // TIES trims within each tensor
	ScopeGlobal    = "global"  // TIES trims over the expert's whole task vector
)

// MethodInfo describes one merge method so that a config can be validated
// before any tensor is read.
type MethodInfo struct {
	Name string
	// NeedsBase reports whether the method needs a base model θ₀.
	NeedsBase bool
	// Params lists the parameter names the method accepts (others are errors).
	Params []string
	// PerExpert lists the parameters that may differ between experts; the
	// others must resolve to the same value for every expert of a tensor.
	PerExpert []string
	// MinModels and MaxModels bound the number of experts (models other than
	// the base); MaxModels 0 means unbounded.
	MinModels, MaxModels int
	// Defaults holds the value used for every accepted parameter left unset.
	Defaults Resolved
}

// Resolved holds a method's parameters for one expert with every default
// filled in.
type Resolved struct {
	Weight      float64
	Density     float64
	Lambda      float64
	Normalize   bool
	Rescale     bool
	RescaleMode string
	TrimScope   string
	Gamma       float64
	Epsilon     float64
	T           float64
	Scale       float64
	// Threshold is copied from Params.Threshold (global-scope TIES only).
	Threshold *Threshold
}

var (
	taParams    = []string{ParamWeight, ParamLambda, ParamNormalize}
	tiesParams  = []string{ParamWeight, ParamDensity, ParamLambda, ParamNormalize, ParamTrimScope}
	dareParams  = []string{ParamWeight, ParamDensity, ParamLambda, ParamNormalize, ParamRescale, ParamRescaleMode}
	crumbParams = []string{ParamWeight, ParamDensity, ParamGamma, ParamLambda, ParamNormalize}
	dellaParams = []string{ParamWeight, ParamDensity, ParamEpsilon, ParamLambda, ParamNormalize, ParamRescale}
	perExpert   = []string{ParamWeight, ParamDensity, ParamGamma, ParamEpsilon}
)

func base(normalize, rescale bool) Resolved {
	return Resolved{Weight: 1, Density: 1, Lambda: 1, Normalize: normalize, Rescale: rescale,
		RescaleMode: RescaleInverse, TrimScope: ScopeTensor, Gamma: 0.01, Epsilon: 0.15, T: math.NaN(), Scale: 1}
}

// Methods returns every supported method, sorted by name. The slice is new
// on every call.
func Methods() []MethodInfo {
	ms := []MethodInfo{
		{Name: Linear, Params: []string{ParamWeight}, PerExpert: []string{ParamWeight}, MinModels: 1, Defaults: base(true, false)},
		{Name: TaskArithmetic, NeedsBase: true, Params: taParams, PerExpert: perExpert, MinModels: 1, Defaults: base(false, false)},
		{Name: TIES, NeedsBase: true, Params: tiesParams, PerExpert: perExpert, MinModels: 1, Defaults: base(true, false)},
		{Name: DareTIES, NeedsBase: true, Params: dareParams, PerExpert: perExpert, MinModels: 1, Defaults: base(true, true)},
		{Name: DareLinear, NeedsBase: true, Params: dareParams, PerExpert: perExpert, MinModels: 1, Defaults: base(false, true)},
		{Name: Breadcrumbs, NeedsBase: true, Params: crumbParams, PerExpert: perExpert, MinModels: 1, Defaults: base(false, false)},
		{Name: BreadcrumbsTIES, NeedsBase: true, Params: crumbParams, PerExpert: perExpert, MinModels: 1, Defaults: base(false, false)},
		{Name: Della, NeedsBase: true, Params: dellaParams, PerExpert: perExpert, MinModels: 1, Defaults: base(true, true)},
		{Name: DellaLinear, NeedsBase: true, Params: dellaParams, PerExpert: perExpert, MinModels: 1, Defaults: base(false, true)},
		{Name: Slerp, NeedsBase: true, Params: []string{ParamT}, MinModels: 1, MaxModels: 1, Defaults: base(false, false)},
		{Name: ModelStock, NeedsBase: true, MinModels: 2, Defaults: base(false, false)},
		{Name: Passthrough, Params: []string{ParamScale}, PerExpert: []string{ParamScale}, MinModels: 0, MaxModels: 1, Defaults: base(false, false)},
	}
	slices.SortFunc(ms, func(a, b MethodInfo) int { return strings.Compare(a.Name, b.Name) })
	return ms
}

// LookupMethod returns the description of the named method.
func LookupMethod(name string) (MethodInfo, error) {
	for _, m := range Methods() {
		if m.Name == name {
			return m, nil
		}
	}
	names := make([]string, 0, 12)
	for _, m := range Methods() {
		names = append(names, m.Name)
	}
	return MethodInfo{}, fmt.Errorf("unknown merge method %q (known: %s)", name, strings.Join(names, ", "))
}

// Params are a method's hyperparameters for one expert, as written in a
// config. A nil pointer or empty string means "unset": Resolve then uses the
// method's default. Params.Merge layers a model's parameters over the global
// ones.
type Params struct {
	Weight      *float64 `json:"weight,omitempty" yaml:"weight,omitempty"`
	Density     *float64 `json:"density,omitempty" yaml:"density,omitempty"`
	Lambda      *float64 `json:"lambda,omitempty" yaml:"lambda,omitempty"`
	Normalize   *bool    `json:"normalize,omitempty" yaml:"normalize,omitempty"`
	Rescale     *bool    `json:"rescale,omitempty" yaml:"rescale,omitempty"`
	RescaleMode string   `json:"rescale_mode,omitempty" yaml:"rescale_mode,omitempty"`
	TrimScope   string   `json:"trim_scope,omitempty" yaml:"trim_scope,omitempty"`
	Gamma       *float64 `json:"gamma,omitempty" yaml:"gamma,omitempty"`
	Epsilon     *float64 `json:"epsilon,omitempty" yaml:"epsilon,omitempty"`
	T           *float64 `json:"t,omitempty" yaml:"t,omitempty"`
	Scale       *float64 `json:"scale,omitempty" yaml:"scale,omitempty"`

	// Threshold is not a config key: the streaming driver sets it, per expert
	// and per tensor, for TIES with trim_scope global (see MagnitudeHistogram).
	// MergeTensor returns an error when trim_scope is global and it is nil.
	Threshold *Threshold `json:"-" yaml:"-"`
}

// F64 returns a pointer to v, for filling Params in code.
func F64(v float64) *float64 { return &v }

// Bool returns a pointer to v, for filling Params in code.
func Bool(v bool) *bool { return &v }

// Merge returns p with every field that is set in over replaced by over's.
func (p Params) Merge(over Params) Params {
	r := p
	if over.Weight != nil {
		r.Weight = over.Weight
	}
	if over.Density != nil {
		r.Density = over.Density
	}
	if over.Lambda != nil {
		r.Lambda = over.Lambda
	}
	if over.Normalize != nil {
		r.Normalize = over.Normalize
	}
	if over.Rescale != nil {
		r.Rescale = over.Rescale
	}
	if over.RescaleMode != "" {
		r.RescaleMode = over.RescaleMode
	}
	if over.TrimScope != "" {
		r.TrimScope = over.TrimScope
	}
	if over.Gamma != nil {
		r.Gamma = over.Gamma
	}
	if over.Epsilon != nil {
		r.Epsilon = over.Epsilon
	}
	if over.T != nil {
		r.T = over.T
	}
	if over.Scale != nil {
		r.Scale = over.Scale
	}
	if over.Threshold != nil {
		r.Threshold = over.Threshold
	}
	return r
}

// SetNames returns the names of the config parameters set in p, in a fixed
// order.
func (p Params) SetNames() []string {
	var s []string
	add := func(set bool, name string) {
		if set {
			s = append(s, name)
		}
	}
	add(p.Weight != nil, ParamWeight)
	add(p.Density != nil, ParamDensity)
	add(p.Lambda != nil, ParamLambda)
	add(p.Normalize != nil, ParamNormalize)
	add(p.Rescale != nil, ParamRescale)
	add(p.RescaleMode != "", ParamRescaleMode)
	add(p.TrimScope != "", ParamTrimScope)
	add(p.Gamma != nil, ParamGamma)
	add(p.Epsilon != nil, ParamEpsilon)
	add(p.T != nil, ParamT)
	add(p.Scale != nil, ParamScale)
	return s
}

// Resolve fills every unset parameter with the method's default and checks
// that every set parameter is accepted by the method and in range.
func (p Params) Resolve(method string) (Resolved, error) {
	info, err := LookupMethod(method)
	if err != nil {
		return Resolved{}, err
	}
	for _, name := range p.SetNames() {
		if !slices.Contains(info.Params, name) {
			return Resolved{}, fmt.Errorf("method %s does not accept parameter %q (accepted: %s)",
				method, name, strings.Join(info.Params, ", "))
		}
	}
	r := info.Defaults
	setF := func(dst *float64, src *float64) {
		if src != nil {
			*dst = *src
		}
	}
	setF(&r.Weight, p.Weight)
	setF(&r.Density, p.Density)
	setF(&r.Lambda, p.Lambda)
	setF(&r.Gamma, p.Gamma)
	setF(&r.Epsilon, p.Epsilon)
	setF(&r.T, p.T)
	setF(&r.Scale, p.Scale)
	if p.Normalize != nil {
		r.Normalize = *p.Normalize
	}
	if p.Rescale != nil {
		r.Rescale = *p.Rescale
	}
	if p.RescaleMode != "" {
		r.RescaleMode = p.RescaleMode
	}
	if p.TrimScope != "" {
		r.TrimScope = p.TrimScope
	}
	r.Threshold = p.Threshold
	return r, r.check(method)
}

func (r Resolved) check(method string) error {
	finite := func(name string, v float64) error {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%s: parameter %s must be a finite number, got %v", method, name, v)
		}
		return nil
	}
	unit := func(name string, v float64) error {
		if !(v >= 0 && v <= 1) {
			return fmt.Errorf("%s: parameter %s must be in [0, 1], got %v", method, name, v)
		}
		return nil
	}
	for _, c := range []struct {
		name string
		v    float64
	}{{ParamWeight, r.Weight}, {ParamLambda, r.Lambda}, {ParamScale, r.Scale}} {
		if err := finite(c.name, c.v); err != nil {
			return err
		}
	}
	if err := unit(ParamDensity, r.Density); err != nil {
		return err
	}
	if err := unit(ParamGamma, r.Gamma); err != nil {
		return err
	}
	if err := unit(ParamEpsilon, r.Epsilon); err != nil {
		return err
	}
	if r.RescaleMode != RescaleInverse && r.RescaleMode != RescaleL1 {
		return fmt.Errorf("%s: parameter rescale_mode must be %q or %q, got %q", method, RescaleInverse, RescaleL1, r.RescaleMode)
	}
	if r.TrimScope != ScopeTensor && r.TrimScope != ScopeGlobal {
		return fmt.Errorf("%s: parameter trim_scope must be %q or %q, got %q", method, ScopeTensor, ScopeGlobal, r.TrimScope)
	}
	switch method {
	case Slerp:
		if math.IsNaN(r.T) {
			return fmt.Errorf("slerp: parameter t is required")
		}
		if err := finite(ParamT, r.T); err != nil {
			return err
		}
	case Della, DellaLinear:
		if r.Density < 1 && (r.Density-r.Epsilon < 0 || r.Density+r.Epsilon > 1) {
			return fmt.Errorf("%s: density ± epsilon must lie in [0, 1], got density %v, epsilon %v", method, r.Density, r.Epsilon)
		}
	}
	return nil
}
