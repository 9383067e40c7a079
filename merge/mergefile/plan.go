package mergefile

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"mergescale/checkpoint"
	"mergescale/merge"
)

// Action says how an output tensor is produced.
type Action string

// The actions of a plan.
const (
	// ActionMerge merges the tensor of every expert (and the base).
	ActionMerge Action = "merge"
	// ActionCopy copies a non-float tensor from the base (the first model
	// when there is no base).
	ActionCopy Action = "copy"
	// ActionMissing copies the base's tensor because some expert lacks it
	// (only with Options.AllowMissing).
	ActionMissing Action = "copy-missing"
)

// Source is one input tensor of a planned output tensor.
type Source struct {
	// Model indexes Plan.Models.
	Model int
	// Tensor is the tensor's name in that model.
	Tensor string
}

// PlannedTensor is one output tensor of a plan: where it comes from and
// with which parameters.
type PlannedTensor struct {
	// Out is the output tensor: name, dtype and shape.
	Out checkpoint.TensorInfo
	// Action says how it is produced.
	Action Action
	// InputBytes is the number of bytes read for it from every input.
	InputBytes int64
	// MissingIn lists the experts (indexes into Experts) lacking the
	// tensor, for ActionMissing.
	MissingIn []int
	// Slice is the index of the output slice the tensor belongs to (0 in
	// the models: syntax); tensors before the layers belong to the first,
	// those after the layers to the last.
	Slice int
	// Layer is the output layer, −1 for tensors outside the layers.
	Layer int
	// T is where gradients are evaluated: layer i of a slice of L layers
	// has t = i ÷ (L − 1) (1 when L = 1); tensors outside layers have 0.
	T float64
	// Base is the base model's tensor, nil when no base takes part.
	Base *Source
	// Experts are the experts' tensors, in the slice's order.
	Experts []Source
	// Copy is the tensor copied for ActionCopy.
	Copy *Source
	// Params are each expert's parameters as the recipe gives them for
	// this tensor (unset: the method's default).
	Params []merge.Params
	// Resolved are each expert's parameters with the defaults filled in.
	Resolved []merge.Resolved
}

// Plan is the outcome of the pre-flight check: what Run will read and write.
type Plan struct {
	// Method is the merge method.
	Method string
	// Base is the base model's reference, "" when the merge has none.
	Base string
	// Models are every input's reference as the recipe gives it;
	// Source.Model indexes them.
	Models []string
	// Paths are where each model was found (a hub id's cache snapshot).
	Paths []string
	// Experts are the references of the models merged as experts, in
	// order of first appearance.
	Experts []string
	// Slices is the number of output slices.
	Slices int
	// Layers is the number of output layers.
	Layers int
	// Tensors are the output tensors in write order (by name).
	Tensors []PlannedTensor
	// InputBytes is the number of tensor bytes read from the inputs.
	InputBytes int64
	// OutputBytes is the size of the output tensors.
	OutputBytes int64
	// LargestElements is the element count of the largest merged tensor.
	LargestElements int64
	// MaxInputs is the largest number of inputs (base and experts) of one
	// merged tensor.
	MaxInputs int
	// StatsExperts is the number of experts the diagnostics cover: the
	// most experts of any merged tensor (expert i of the diagnostics is
	// the i-th expert of each tensor's slice).
	StatsExperts int
	// TwoPass is true when the method needs a first pass over the experts
	// (TIES with trim_scope: global).
	TwoPass bool
	// GlobalDensity is each expert's density for the first pass (TwoPass
	// only).
	GlobalDensity []float64
	// configModel indexes Models: the model config.json comes from.
	configModel int
	// layouts are the models' layer layouts, by model.
	layouts []layout
	// tokenizerDir is where tokenizer files come from when
	// tokenizer_source names a model ("" otherwise).
	tokenizerDir string
}

// WorkingSetBytes estimates the float32 buffers a merge holds at once
// with one tensor in flight: (inputs + 1) × the largest tensor.
func (p *Plan) WorkingSetBytes() int64 {
	return int64(p.MaxInputs+1) * 4 * p.LargestElements
}

// Describe prints a summary of the plan in a human-readable form.
func (p *Plan) Describe(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "method:   %s\n", p.Method)
	if p.Base != "" {
		fmt.Fprintf(&b, "base:     %s\n", p.Base)
	} else {
		fmt.Fprintf(&b, "base:     (none)\n")
	}
	for i, m := range p.Models {
		fmt.Fprintf(&b, "model m%d: %s", i, m)
		if p.Paths[i] != m {
			fmt.Fprintf(&b, " (%s)", p.Paths[i])
		}
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "layers:   %d in %d slice(s)\n", p.Layers, p.Slices)
	counts := map[Action]int{}
	dtypes := map[string]int{}
	for _, t := range p.Tensors {
		counts[t.Action]++
		dtypes[string(t.Out.DType)]++
	}
	var dt []string
	for _, d := range slices.Sorted(maps.Keys(dtypes)) {
		dt = append(dt, fmt.Sprintf("%s×%d", d, dtypes[d]))
	}
	fmt.Fprintf(&b, "tensors:  %d (%d merged, %d copied, %d copied from the base because missing); output dtypes %s\n",
		len(p.Tensors), counts[ActionMerge], counts[ActionCopy], counts[ActionMissing], strings.Join(dt, ", "))
	fmt.Fprintf(&b, "read:     %s of tensors", formatBytes(p.InputBytes))
	if p.TwoPass {
		b.WriteString(" (experts twice: trim_scope global needs a first pass)")
	}
	fmt.Fprintf(&b, "\nwrite:    %s\n", formatBytes(p.OutputBytes))
	fmt.Fprintf(&b, "memory:   about %s of buffers per tensor in flight (largest tensor %d elements)\n",
		formatBytes(p.WorkingSetBytes()), p.LargestElements)
	for _, t := range p.Tensors {
		if t.Action == ActionMissing {
			fmt.Fprintf(&b, "missing:  %s (experts %v): copied from the base\n", t.Out.Name, t.MissingIn)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// formatBytes prints a byte count with a binary unit.
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}

// PreflightError lists every problem the pre-flight check found, so a user
// fixes them all in one go. A per-tensor problem that holds for every
// tensor of a model (a parameter no level gives, a missing tensor, another
// shape) is one entry for that model, with the count of tensors.
type PreflightError struct {
	Problems []string
}

// maxListedProblems bounds how many problems Error spells out.
const maxListedProblems = 20

// Error returns one line naming every problem (up to 20, then a count).
func (e *PreflightError) Error() string {
	list := e.Problems
	more := 0
	if len(list) > maxListedProblems {
		more = len(list) - maxListedProblems
		list = list[:maxListedProblems]
	}
	s := fmt.Sprintf("pre-flight: %d problem(s): %s", len(e.Problems), strings.Join(list, "; "))
	if more > 0 {
		s += fmt.Sprintf("; and %d more", more)
	}
	return s
}

// shapeString prints a shape as [a b c].
func shapeString(s []int64) string { return fmt.Sprint(s) }
