package eval

import (
	"math"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-12 }

func TestNormalizeHandComputed(t *testing.T) {
	// Held-in: categories A (tasks a1, a2) and B (task b1); experts' own scores
	// are the references; scores of an expert on other categories are ignored.
	experts := map[string][]TaskScore{
		"A": {{Task: "a1", Category: "A", Value: 0.8}, {Task: "a2", Category: "A", Value: 0.5}, {Task: "b1", Category: "B", Value: 0.3}},
		"B": {{Task: "b1", Category: "B", Value: 0.9}},
	}
	ref := HeldInReference(experts)
	if len(ref) != 3 || ref["b1"] != 0.9 {
		t.Fatalf("reference %v", ref)
	}
	merged := []TaskScore{
		{Task: "a1", Category: "A", Value: 0.6, Chance: 0.5},
		{Task: "a2", Category: "A", Value: 0.5, Chance: 0.25},
		{Task: "b1", Category: "B", Value: 0.45, Chance: 0.25},
	}
	n, err := Normalize(merged, ref, DefaultChanceFloor)
	if err != nil {
		t.Fatal(err)
	}
	// ratios: a1 0.6/0.8 = 0.75, a2 1, b1 0.5; A = 0.875, B = 0.5, overall 0.6875.
	// chance-adjusted: a1 (0.1)/(0.3) = 1/3, a2 1, b1 0.2/0.65; A = 2/3.
	if !near(n.Tasks[0].Ratio, 0.75) || !near(n.Categories[0].Ratio, 0.875) || !near(n.Categories[1].Ratio, 0.5) || !near(n.Ratio, 0.6875) {
		t.Fatalf("ratios %+v", n)
	}
	wantAdj := (2.0/3 + 0.2/0.65) / 2
	if !near(n.Categories[0].ChanceAdjusted, 2.0/3) || !near(n.ChanceAdjusted, wantAdj) {
		t.Fatalf("chance-adjusted %+v, want overall %v", n, wantAdj)
	}
	if len(n.Flagged) != 0 {
		t.Fatalf("flagged %v", n.Flagged)
	}

	// Held-out: a base at chance on one task is flagged and its adjusted score undefined.
	base := []TaskScore{{Task: "h1", Category: "H", Value: 0.5, Chance: 0.5}, {Task: "h2", Category: "H", Value: 0.4, Chance: 0.25}}
	n, err = Normalize([]TaskScore{{Task: "h1", Category: "H", Value: 0.6, Chance: 0.5}, {Task: "h2", Category: "H", Value: 0.55, Chance: 0.25}},
		HeldOutReference(base), DefaultChanceFloor)
	if err != nil {
		t.Fatal(err)
	}
	if len(n.Flagged) != 1 || n.Flagged[0] != "h1" || !n.Tasks[0].NearChance || !math.IsNaN(n.Tasks[0].ChanceAdjusted) {
		t.Fatalf("flagging %+v", n)
	}
	if !near(n.Ratio, (1.2+1.375)/2) || !near(n.ChanceAdjusted, 0.3/0.15) {
		t.Fatalf("held-out %+v", n)
	}
}

func TestNormalizeErrors(t *testing.T) {
	s := []TaskScore{{Task: "x", Category: "X", Value: 0.5}}
	for _, ref := range []map[string]float64{{}, {"x": 0}} {
		if _, err := Normalize(s, ref, 0); err == nil {
			t.Errorf("reference %v accepted", ref)
		}
	}
	if _, err := Normalize(nil, nil, 0); err == nil {
		t.Error("empty scores accepted")
	}
}
