package report

import (
	"fmt"
	"math"
	"testing"
)

// cellsResults builds Results from (base, size, method, k) → held-in,
// held-out: three subsets per cell at the value −.01, +0, +.01 (so that
// paired differences have no spread and each cell a CI).
func cellsResults(vals map[[4]string][2]float64, mt float64) *Results {
	r := &Results{Sizes: []SizeInfo{{"xs", 1000}, {"m", 100000}}, BaseTypes: []string{"pt", "it"},
		Methods: []string{"linear", "task_arithmetic"}, Ks: []int{2, 4}}
	for key, v := range vals {
		k := 2
		if key[3] == "4" {
			k = 4
		}
		c := Cell{BaseType: key[0], Size: key[1], Method: key[2], K: k}
		var in, out, mts []float64
		for i, d := range []float64{-0.01, 0, 0.01} {
			sc := nanScores()
			sc.HeldIn, sc.HeldOut = v[0]+d, v[1]+d
			c.Subsets = append(c.Subsets, SubsetResult{Subset: i, Categories: []string{fmt.Sprint(k, i)}, Merged: sc})
			in, out, mts = append(in, sc.HeldIn), append(out, sc.HeldOut), append(mts, mt)
		}
		c.HeldIn, c.HeldOut, c.MTHeldOut = newStat(in), newStat(out), newStat(mts)
		r.Cells = append(r.Cells, c)
	}
	return r
}

func TestFindingsVerdicts(t *testing.T) {
	// The paper's pattern reversed: PT better, smaller better, held-out falls
	// with k, methods diverge at scale; multitask beats merges by more than the CI.
	rev := map[[4]string][2]float64{}
	for _, b := range []string{"pt", "it"} {
		for _, s := range []string{"xs", "m"} {
			for _, m := range []string{"linear", "task_arithmetic"} {
				for _, k := range []string{"2", "4"} {
					in := 0.8
					if b == "it" {
						in -= 0.1
					}
					if s == "m" {
						in -= 0.1
						if m == "linear" {
							in -= 0.2 // spread grows at scale
						}
					}
					out := 1.1
					if k == "4" {
						out = 1.0
					}
					if s == "m" && m == "linear" {
						out -= 0.3
					}
					rev[[4]string{b, s, m, k}] = [2]float64{in, out}
				}
			}
		}
	}
	got := Findings(cellsResults(rev, 1.2), "task_arithmetic", nil)
	for _, f := range got {
		if f.Verdict != Contradicted {
			t.Errorf("%s: got %s (%s), want %s", f.ClaimID, f.Verdict, f.Sentence, Contradicted)
		}
	}
	// Multitask within the merge's CI: inconclusive (matches).
	got = Findings(cellsResults(rev, 1.02), "task_arithmetic", nil)
	if got[3].Verdict != Inconclusive {
		t.Errorf("beats_multitask with multitask inside the CI: got %s (%s)", got[3].Verdict, got[3].Sentence)
	}
	// Empty results: every claim is untestable, none panics.
	for _, f := range Findings(&Results{}, "task_arithmetic", nil) {
		if f.Verdict != Untestable {
			t.Errorf("%s on empty results: got %s", f.ClaimID, f.Verdict)
		}
	}
}

func TestSlope(t *testing.T) {
	// y = 2x + 1 exactly; a NaN point is skipped.
	if s := slope([]float64{0, 1, 2, 3}, []float64{1, 3, math.NaN(), 7}); !approxEq(s, 2) {
		t.Errorf("slope = %g, want 2", s)
	}
	if s := slope([]float64{1}, []float64{1}); !math.IsNaN(s) {
		t.Errorf("slope of one point = %g, want NaN", s)
	}
}
