package world

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"strings"
)

// SplitCaps caps the examples of each split of every task; 0 leaves a
// split whole. It is a study's tasks.max_examples.
type SplitCaps struct {
	Train, Validation, Test int
}

// Cap returns the cap of a split (0: none).
func (c SplitCaps) Cap(sp Split) int {
	switch sp {
	case Train:
		return c.Train
	case Validation:
		return c.Validation
	case Test:
		return c.Test
	}
	return 0
}

// IsZero reports whether no split is capped.
func (c SplitCaps) IsZero() bool { return c == SplitCaps{} }

// Subsample keeps at most caps' examples of each split of every task,
// chosen at random by seed: the same examples for the same seed, caps and
// files, others for another seed. The kept examples stay in file order,
// and a larger cap keeps every example a smaller one keeps (each split is
// a prefix of one seeded permutation). Every split is drawn on its own
// (the seed, the task's name and the split's name seed it), so capping one
// task or split changes no other's draw. The examples left out are counted
// in ts.Dropped (DropMaxExamples), and the caps and the seed enter
// ts.Hash, so evaluations of two draws never share a job key. Zero caps
// change nothing, the hash included.
func (ts *TaskSet) Subsample(caps SplitCaps, seed uint64) {
	if caps.IsZero() {
		return
	}
	for _, t := range ts.Tasks {
		for _, sp := range []Split{Train, Validation, Test} {
			insts := t.Split(sp)
			n := caps.Cap(sp)
			if n <= 0 || len(insts) <= n {
				continue
			}
			kept := sampleIndexes(len(insts), n, seed, t.Name, sp)
			out := make([]Instance, len(kept))
			for i, j := range kept {
				out[i] = insts[j]
			}
			switch sp {
			case Train:
				t.Train = out
			case Validation:
				t.Validation = out
			case Test:
				t.Test = out
			}
			ts.Dropped = append(ts.Dropped, Dropped{Task: t.Name, Split: sp, Reason: DropMaxExamples, Count: len(insts) - n})
		}
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\nmax_examples train=%d validation=%d test=%d seed=%d\n", ts.Hash, caps.Train, caps.Validation, caps.Test, seed)
	ts.Hash = hex.EncodeToString(h.Sum(nil))
}

// sampleIndexes returns n of the indexes 0 … total−1, sorted: the first n
// of a permutation seeded by seed, task and split.
func sampleIndexes(total, n int, seed uint64, task string, sp Split) []int {
	f := fnv.New64a()
	fmt.Fprintf(f, "%s\x00%s", task, sp)
	r := rand.New(rand.NewPCG(seed, f.Sum64()))
	idx := r.Perm(total)[:n]
	slices.Sort(idx)
	return idx
}

// DroppedSummary sums drops per reason: "3 duplicate, 40 max_examples"
// ("" for none), reasons in the order of their constants.
func DroppedSummary(ds []Dropped) string {
	tot := map[string]int{}
	for _, d := range ds {
		tot[d.Reason] += d.Count
	}
	var parts []string
	for _, r := range []string{DropDuplicate, DropInValidation, DropInTest, DropMaxExamples} {
		if tot[r] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", tot[r], r))
		}
	}
	return strings.Join(parts, ", ")
}

// TestFromValidation lists the tasks whose test split holds their source
// data set's validation split (suite.json's "test_from"), in set order.
func (ts *TaskSet) TestFromValidation() []string {
	var out []string
	for _, t := range ts.Tasks {
		if t.TestFrom == TestFromValidation {
			out = append(out, t.Name)
		}
	}
	return out
}
