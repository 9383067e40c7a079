package report

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// synthLaw generates observations of the law with parameters truth at the
// paper config's sizes and k: 8 experts at k = 1, subsets at k ∈ {2, 4, 6}
// and one at k = 8. A subset's noise is shared by every size (its
// categories are the same there) plus a part of its own, both shrinking as
// 1/√k, as the spread over subsets does in the paper.
func synthLaw(truth lawParams, seed uint64, subsets int) []lawObs {
	rng := rand.New(rand.NewPCG(seed, 1))
	sizes := []struct {
		name   string
		params int64
	}{{"xs", 22240}, {"s", 85632}, {"m", 282000}, {"l", 870656}}
	var obs []lawObs
	for _, k := range []int{1, 2, 4, 6, 8} {
		n := subsets
		switch k {
		case 1:
			n = 8
		case 8:
			n = 1
		}
		for s := range n {
			id := fmt.Sprintf("k%d#%d", k, s)
			shared := 0.03 * rng.NormFloat64() / math.Sqrt(float64(k))
			for _, sz := range sizes {
				own := 0.015 * rng.NormFloat64() / math.Sqrt(float64(k))
				y := truth.eval(float64(sz.params)/lawParamsUnit, float64(k)) + shared + own
				obs = append(obs, lawObs{Size: sz.name, Params: sz.params, K: k, ID: id, Loss: y})
			}
		}
	}
	return obs
}

func TestLawFitRecoversSyntheticParameters(t *testing.T) {
	truth := lawParams{0.4, 0.25, 0.4, 0.6, 0.3, 0.5}
	res, err := fitLaw(synthLaw(truth, 11, 6), 1)
	if err != nil {
		t.Fatal(err)
	}
	if !res.HasCI {
		t.Fatal("no bootstrap CIs")
	}
	for i, name := range lawParamNames {
		lo, hi := res.CI[i][0], res.CI[i][1]
		t.Logf("%-6s true %+.3f  fitted %+.3f  [%+.3f, %+.3f]", name, truth[i], res.Params[i], lo, hi)
		if !(lo <= truth[i] && truth[i] <= hi) {
			t.Errorf("%s: true %.3f outside the 95%% CI [%.3f, %.3f] (fitted %.3f)", name, truth[i], lo, hi, res.Params[i])
		}
		if !(lo <= res.Params[i] && res.Params[i] <= hi) {
			t.Errorf("%s: the estimate %.3f is outside its own CI [%.3f, %.3f]", name, res.Params[i], lo, hi)
		}
	}
	t.Logf("R² %.4f, held-out size MAE %.4f over %d cells, k_saturation %g [%g, %g]",
		res.R2, res.Holdout, res.HoldoutCells, res.KSat, res.KSatCI[0], res.KSatCI[1])
	if res.R2 < 0.98 {
		t.Errorf("R² = %.4f on data from the law itself", res.R2)
	}
	if res.HoldoutCells != 5 || !(res.Holdout < 0.05) {
		t.Errorf("held-out size: error %.4f over %d cells (%s), want < 0.05 over 5", res.Holdout, res.HoldoutCells, res.HoldoutWhy)
	}
	wantK, _ := truth.kSaturation(float64(870656) / lawParamsUnit)
	if !res.KSatOK || !res.KSatHasCI || !(res.KSatCI[0] <= wantK && wantK <= res.KSatCI[1]) {
		t.Errorf("k_saturation %g [%g, %g], true %g", res.KSat, res.KSatCI[0], res.KSatCI[1], wantK)
	}

	// Deterministic: the same data and seed give the same fit and CIs.
	again, err := fitLaw(synthLaw(truth, 11, 6), 1)
	if err != nil {
		t.Fatal(err)
	}
	if again.Params != res.Params || again.CI != res.CI || again.R2 != res.R2 {
		t.Error("refitting the same data gave a different result")
	}
}

func TestLawFitDegenerate(t *testing.T) {
	truth := lawParams{0.4, 0.25, 0.4, 0.6, 0.3, 0.5}
	full := synthLaw(truth, 3, 6)
	keep := func(f func(lawObs) bool) []lawObs {
		var out []lawObs
		for _, o := range full {
			if f(o) {
				out = append(out, o)
			}
		}
		return out
	}
	constant := keep(func(lawObs) bool { return true })
	for i := range constant {
		constant[i].Loss = 1.25
	}
	nan := keep(func(lawObs) bool { return true })
	for i := range nan {
		if nan[i].Size != "l" {
			nan[i].Loss = math.NaN()
		}
	}
	cases := []struct {
		name string
		obs  []lawObs
		want string
	}{
		{"no observations", nil, "no (size, k) cell"},
		{"one size", keep(func(o lawObs) bool { return o.Size == "m" }), "1 size(s) with losses; the law needs at least 3"},
		{"two sizes", keep(func(o lawObs) bool { return o.Size == "m" || o.Size == "l" }), "2 size(s)"},
		{"two values of k", keep(func(o lawObs) bool { return o.K <= 2 }), "2 value(s) of k"},
		{"constant losses", constant, "the losses are constant"},
		{"losses missing at all but one size", nan, "1 size(s)"},
		{"too few cells", keep(func(o lawObs) bool {
			return (o.Size == "xs" && (o.K == 1 || o.K == 2 || o.K == 8)) || (o.Size == "s" && o.K <= 2) || (o.Size == "m" && o.K == 1)
		}), "6 (size, k) cells for 6 parameters"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := fitLaw(tc.obs, 1)
			if !errors.Is(err, errLaw) {
				t.Fatalf("err = %v, want a scaling-law error", err)
			}
			if got := lawReason(err); !strings.Contains(got, tc.want) {
				t.Errorf("reason %q, want it to say %q", got, tc.want)
			}
		})
	}

	// Missing cells that leave enough data still fit; three sizes fit but
	// have no held-out-size error.
	t.Run("missing cells", func(t *testing.T) {
		res, err := fitLaw(keep(func(o lawObs) bool { return !(o.Size == "s" && o.K == 4) && !(o.Size == "m" && o.K == 8) }), 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Cells) != 18 || res.HoldoutCells != 5 {
			t.Errorf("%d cells, holdout over %d, want 18 and 5", len(res.Cells), res.HoldoutCells)
		}
	})
	t.Run("three sizes", func(t *testing.T) {
		res, err := fitLaw(keep(func(o lawObs) bool { return o.Size != "xs" }), 1)
		if err != nil {
			t.Fatal(err)
		}
		if res.HoldoutCells != 0 || !strings.Contains(res.HoldoutWhy, "needs at least 4") {
			t.Errorf("holdout %v over %d cells (%q), want n/a with 3 sizes", res.Holdout, res.HoldoutCells, res.HoldoutWhy)
		}
		for i, x := range res.Params {
			if !isNum(x) || !isNum(res.CI[i][0]) || !isNum(res.CI[i][1]) {
				t.Errorf("%s: %v [%v, %v] is not finite", lawParamNames[i], x, res.CI[i][0], res.CI[i][1])
			}
		}
	})
}
