package mergefile

import (
	"fmt"
	"io"
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

// PlannedTensor is one output tensor of a plan.
type PlannedTensor struct {
	// Out is the output tensor: name, dtype and shape.
	Out checkpoint.TensorInfo
	// Action says how it is produced.
	Action Action
	// InputBytes is the number of bytes read for it from every input.
	InputBytes int64
	// MissingIn lists the experts (indexes into Plan.Experts) lacking the
	// tensor, for ActionMissing.
	MissingIn []int
}

// Plan is the outcome of the pre-flight check: what Run will read and write.
type Plan struct {
	// Method is the merge method.
	Method string
	// Base is the base checkpoint's path, "" when the merge has none.
	Base string
	// Experts are the experts' paths in config order.
	Experts []string
	// Params are each expert's parameters (global ⊕ model), as configured.
	Params []Parameters
	// Resolved are each expert's parameters with the method's defaults.
	Resolved []merge.Resolved
	// Tensors are the output tensors in write order.
	Tensors []PlannedTensor
	// InputBytes is the number of tensor bytes read from the inputs.
	InputBytes int64
	// OutputBytes is the size of the output tensors.
	OutputBytes int64
	// LargestElements is the element count of the largest merged tensor.
	LargestElements int64
	// TwoPass is true when the method needs a first pass over the experts
	// (TIES with trim_scope: global).
	TwoPass bool
}

// WorkingSetBytes estimates the float32 buffers a merge holds at once
// with one tensor in flight: (inputs + 1) × the largest tensor.
func (p *Plan) WorkingSetBytes() int64 {
	n := int64(len(p.Experts) + 1)
	if p.Base != "" {
		n++
	}
	return n * 4 * p.LargestElements
}

// Describe prints the plan in a human-readable form.
func (p *Plan) Describe(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "method:   %s\n", p.Method)
	if p.Base != "" {
		fmt.Fprintf(&b, "base:     %s\n", p.Base)
	} else {
		fmt.Fprintf(&b, "base:     (none)\n")
	}
	for i, e := range p.Experts {
		fmt.Fprintf(&b, "expert %d: %s  %s\n", i, e, formatResolved(p.Method, p.Resolved[i]))
	}
	counts := map[Action]int{}
	dtypes := map[string]int{}
	for _, t := range p.Tensors {
		counts[t.Action]++
		dtypes[string(t.Out.DType)]++
	}
	var dt []string
	for _, d := range sortedKeys(dtypes) {
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

// formatResolved prints the parameters a method takes, with defaults filled
// in, as "{density: 0.2, lambda: 1}".
func formatResolved(method string, r merge.Resolved) string {
	info, err := merge.LookupMethod(method)
	if err != nil {
		return "{}"
	}
	parts := make([]string, len(info.Params))
	for i, name := range info.Params {
		parts[i] = fmt.Sprintf("%s: %v", name, resolvedValue(r, name))
	}
	return "{" + strings.Join(parts, ", ") + "}"
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
// fixes them all in one go.
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
