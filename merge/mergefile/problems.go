package mergefile

import "fmt"

// A problem is one pre-flight problem: a line of its own, or the failure
// of a per-tensor check for one tensor of one model, which is folded into
// one line for the model when the check fails the same way for every
// tensor it ran on.
type problem struct {
	text string // the line of a problem of its own, or of one tensor

	// For a per-tensor problem: the check and the model it ran for, and
	// the line for all n tensors of the model (group(0) tells failures of
	// the same kind apart).
	check, model string
	group        func(n int) string
}

// checkKey names a per-tensor check of one model.
type checkKey struct{ check, model string }

// problem records a pre-flight problem of its own.
func (p *planner) problem(format string, args ...any) {
	p.problems = append(p.problems, problem{text: fmt.Sprintf(format, args...)})
}

// checked counts one run of a per-tensor check for model; tensorProblem
// folds a check's failures into one line when their number reaches the
// count.
func (p *planner) checked(check, model string) {
	if p.checks == nil {
		p.checks = map[checkKey]int{}
	}
	p.checks[checkKey{check, model}]++
}

// tensorProblem records the failure of a per-tensor check for model: line
// names the tensor, group(n) says the same of all n tensors.
func (p *planner) tensorProblem(check, model, line string, group func(n int) string) {
	p.problems = append(p.problems, problem{text: line, check: check, model: model, group: group})
}

// problemLines renders the problems in the order found: a per-tensor
// failure that holds for every tensor the check ran on (two or more) is
// one line for the model, at the place of its first tensor.
func (p *planner) problemLines() []string {
	type key struct {
		checkKey
		line string
	}
	keyOf := func(pr problem) key { return key{checkKey{pr.check, pr.model}, pr.group(0)} }
	count := map[key]int{}
	for _, pr := range p.problems {
		if pr.group != nil {
			count[keyOf(pr)]++
		}
	}
	var lines []string
	done := map[key]bool{}
	for _, pr := range p.problems {
		if pr.group == nil {
			lines = append(lines, pr.text)
			continue
		}
		k := keyOf(pr)
		n := count[k]
		if n < 2 || n < p.checks[k.checkKey] {
			lines = append(lines, pr.text)
			continue
		}
		if !done[k] {
			done[k] = true
			lines = append(lines, pr.group(n))
		}
	}
	return lines
}

// failed returns the PreflightError of the problems found.
func (p *planner) failed() error {
	return &PreflightError{Problems: p.problemLines()}
}
