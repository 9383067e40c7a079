package mergefile

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"mergescale/merge"
)

// planLine is one line of merge_plan.jsonl: how one output tensor is made.
type planLine struct {
	Tensor  string         `json:"tensor"`
	DType   string         `json:"dtype"`
	Shape   []int64        `json:"shape"`
	Action  Action         `json:"action"`
	Slice   int            `json:"slice"`
	Layer   *int           `json:"layer"` // null outside the layers
	T       float64        `json:"t"`
	Base    *planSource    `json:"base,omitempty"`
	Sources []planSource   `json:"sources,omitempty"`
	Copy    *planSource    `json:"copy,omitempty"`
	Params  map[string]any `json:"params,omitempty"` // method-wide parameters
	Missing []int          `json:"missing_in,omitempty"`
}

// planSource is one input tensor of a plan line.
type planSource struct {
	Model  string         `json:"model"`
	Tensor string         `json:"tensor"`
	Params map[string]any `json:"params,omitempty"` // per-expert parameters
}

// lines returns the plan as planLines, in write order.
func (p *Plan) lines() []planLine {
	info, _ := merge.LookupMethod(p.Method)
	out := make([]planLine, len(p.Tensors))
	for i, t := range p.Tensors {
		l := planLine{Tensor: t.Out.Name, DType: string(t.Out.DType), Shape: t.Out.Shape, Action: t.Action,
			Slice: t.Slice, T: t.T, Missing: t.MissingIn}
		if l.Shape == nil {
			l.Shape = []int64{}
		}
		if t.Layer >= 0 {
			layer := t.Layer
			l.Layer = &layer
		}
		src := func(s Source) planSource { return planSource{Model: p.Models[s.Model], Tensor: s.Tensor} }
		if t.Copy != nil {
			c := src(*t.Copy)
			l.Copy = &c
		}
		if t.Base != nil && t.Action != ActionCopy {
			b := src(*t.Base)
			l.Base = &b
		}
		if t.Action != ActionCopy {
			for e, s := range t.Experts {
				ps := src(s)
				if e < len(t.Resolved) {
					ps.Params = map[string]any{}
					for _, name := range info.PerExpert {
						if slices.Contains(info.Params, name) {
							ps.Params[name] = resolvedValue(t.Resolved[e], name)
						}
					}
				}
				l.Sources = append(l.Sources, ps)
			}
			if len(t.Resolved) > 0 {
				l.Params = map[string]any{}
				for _, name := range info.Params {
					if !slices.Contains(info.PerExpert, name) {
						l.Params[name] = resolvedValue(t.Resolved[0], name)
					}
				}
				if len(l.Params) == 0 {
					l.Params = nil
				}
			}
		}
		out[i] = l
	}
	return out
}

// WriteJSONL writes the per-tensor plan as JSON lines, one output tensor
// a line, in write order: the output tensor, its action, slice, layer
// (null outside the layers) and t, the base's and each expert's model and
// tensor with the expert's resolved per-model parameters, and the resolved
// method-wide parameters. This is merge_plan.jsonl.
func (p *Plan) WriteJSONL(w io.Writer) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	for _, l := range p.lines() {
		if err := enc.Encode(l); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// WriteTable writes the per-tensor plan as a table: output tensor, action,
// slice, layer, t, sources (m<i> names Plan.Models[i], as Describe lists
// them; a source's tensor is shown when its name differs from the
// output's) and the resolved parameters.
func (p *Plan) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TENSOR\tACTION\tSLICE\tLAYER\tT\tSOURCES\tPARAMETERS")
	for _, l := range p.lines() {
		layer := "-"
		if l.Layer != nil {
			layer = fmt.Sprint(*l.Layer)
		}
		var srcs, params []string
		label := func(s planSource) string { return fmt.Sprintf("m%d", slices.Index(p.Models, s.Model)) }
		name := func(s planSource) string {
			if s.Tensor != l.Tensor {
				return label(s) + ":" + s.Tensor
			}
			return label(s)
		}
		if l.Copy != nil {
			srcs = append(srcs, name(*l.Copy))
		}
		if l.Base != nil {
			srcs = append(srcs, "base "+name(*l.Base))
		}
		for _, s := range l.Sources {
			srcs = append(srcs, name(s))
			if len(s.Params) > 0 {
				params = append(params, label(s)+"{"+formatParams(s.Params)+"}")
			}
		}
		if len(l.Params) > 0 {
			params = append(params, formatParams(l.Params))
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%.4g\t%s\t%s\n", l.Tensor, l.Action, l.Slice, layer, l.T,
			strings.Join(srcs, " "), strings.Join(params, " "))
	}
	return tw.Flush()
}

// formatParams prints parameters as "a=1 b=true", sorted by name.
func formatParams(m map[string]any) string {
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s=%v", k, m[k]))
	}
	return strings.Join(parts, " ")
}
