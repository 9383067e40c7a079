package plan

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"mergescale/world"
)

// Print writes a summary of the plan to w: the grid, the expert subsets
// and the number of jobs per kind (evaluations broken down by role). With
// verbose it then lists every job, one line each, in dependency order.
func Print(w io.Writer, p *Plan, verbose bool) error {
	c := p.Config
	var b strings.Builder
	fmt.Fprintf(&b, "plan %s: shard %s, config %s\n", c.Name, p.Shard, c.Hash()[:12])
	if c.UsesCheckpoints() {
		labels := make([]string, len(c.Zoo.Checkpoints))
		for i, z := range c.Zoo.Checkpoints {
			labels[i] = fmt.Sprintf("%s (%d experts)", z.Label(), len(z.Experts))
		}
		fmt.Fprintf(&b, "checkpoints %s · k %s · %d held-in categories\n", strings.Join(labels, ", "), joinInts(c.Sweep.Experts), len(p.Categories))
	} else {
		fmt.Fprintf(&b, "sizes %s · bases %s · k %s · %d held-in categories\n",
			strings.Join(c.Zoo.Sizes, ", "), strings.Join(c.Zoo.Bases, ", "), joinInts(c.Sweep.Experts), len(p.Categories))
	}
	if ts := p.Tasks; ts != nil {
		fmt.Fprintf(&b, "tasks %s: %d tasks, data %s\n", ts.Dir, len(ts.Tasks), ts.Hash[:12])
		if caps := c.Tasks.Caps(); !caps.IsZero() {
			fmt.Fprintf(&b, "  max_examples: train %d · validation %d · test %d (0: all), seed %d\n", caps.Train, caps.Validation, caps.Test, c.Tasks.Seed)
		}
		if names := ts.TestFromValidation(); len(names) > 0 {
			fmt.Fprintf(&b, "  test from validation (test labels hidden): %s\n", strings.Join(names, ", "))
		}
		if d := world.DroppedSummary(ts.Dropped); d != "" {
			fmt.Fprintf(&b, "  lines dropped: %s (the run's log names each task and split)\n", d)
		}
	}
	if len(c.Zoo.Swept) > 0 {
		vs := c.Variants()
		axes := make([]string, len(c.Zoo.Swept))
		for i, sk := range c.Zoo.Swept {
			vals := make([]string, len(sk.Values))
			for j, x := range sk.Values {
				vals[j] = formatNumber(x)
			}
			axes[i] = fmt.Sprintf("%s [%s]", sk.Key, strings.Join(vals, ", "))
		}
		fmt.Fprintf(&b, "variants: %d (the full product of %s; the first is the default)\n", len(vs), strings.Join(axes, " × "))
		for i, v := range vs {
			fmt.Fprintf(&b, "  #%d  %s\n", i, variantLabel(v))
		}
	}
	ks := make([]int, 0, len(p.Subsets))
	for k := range p.Subsets {
		ks = append(ks, k)
	}
	sort.Ints(ks)
	if c.UsesCheckpoints() && len(c.Zoo.Checkpoints) > 1 {
		b.WriteString("subsets (of the first entry; each entry draws from its own experts' categories):\n")
	} else {
		b.WriteString("subsets:\n")
	}
	for _, k := range ks {
		for i, s := range p.Subsets[k] {
			fmt.Fprintf(&b, "  k=%d #%d  %s\n", k, i, strings.Join(s, ", "))
		}
	}
	b.WriteString("methods:\n")
	for _, g := range c.Sweep.Methods {
		pts := g.Points()
		hps := make([]string, len(pts))
		for i, pt := range pts {
			hps[i] = canonicalJSON(pt)
		}
		fmt.Fprintf(&b, "  %-16s %d point(s): %s\n", g.Method, len(pts), strings.Join(hps, " "))
	}
	fmt.Fprintf(&b, "cells: %d\n", len(p.Cells))

	var zooEval, valEval, selEval, chosenEval int
	for _, j := range p.Jobs {
		switch {
		case j.Kind != KindEval:
		case j.IsSelection():
			selEval++
		case j.IsChosenEval():
			chosenEval++
		case j.Cell != nil:
			valEval++
		default:
			zooEval++
		}
	}
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "jobs\tcount\t")
	total := 0
	for _, kc := range p.Counts() {
		note := ""
		if kc.Kind == KindEval {
			note = fmt.Sprintf("  (zoo models on test %d, merges on %s %d, chosen points on test %d, and on the other held-in tasks %d)",
				zooEval, c.Sweep.SelectOn, valEval, selEval, chosenEval)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\n", kc.Kind, kc.Count, note)
		total += kc.Count
	}
	fmt.Fprintf(tw, "total\t%d\t\n", total)
	if err := tw.Flush(); err != nil {
		return err
	}
	if verbose {
		b.WriteString("\njobs (key, kind, what, after):\n")
		for _, j := range p.Jobs {
			fmt.Fprintf(&b, "  %s  %-9s %s", j.Key[:12], j.Kind, p.Describe(j))
			if len(j.Deps) > 0 {
				short := make([]string, len(j.Deps))
				for i, d := range j.Deps {
					short[i] = d[:12]
				}
				fmt.Fprintf(&b, "  after %s", strings.Join(short, " "))
			}
			b.WriteString("\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ", ")
}
