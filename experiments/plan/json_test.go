package plan

import (
	"bytes"
	"encoding/json"
	"testing"
)

// TestWriteJSON checks the JSON rendering of `run --plan --json`: exactly
// the documented fields, every job once in plan order (dependencies
// first), k and method on merges, and counts that agree with Counts.
func TestWriteJSON(t *testing.T) {
	p := mustPlan(t, baseConfig)
	var b bytes.Buffer
	if err := WriteJSON(&b, p); err != nil {
		t.Fatal(err)
	}
	var raw struct {
		Jobs   []map[string]json.RawMessage `json:"jobs"`
		Counts map[string]int               `json:"counts"`
	}
	if err := json.Unmarshal(b.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	if len(raw.Jobs) != len(p.Jobs) {
		t.Fatalf("%d jobs, want %d", len(raw.Jobs), len(p.Jobs))
	}
	for _, j := range raw.Jobs {
		if len(j) != 7 {
			t.Fatalf("job has fields %v, want key, kind, size, base, k, method, deps", j)
		}
		for _, f := range []string{"key", "kind", "size", "base", "k", "method", "deps"} {
			if _, ok := j[f]; !ok {
				t.Fatalf("job lacks %q: %v", f, j)
			}
		}
	}
	var doc struct {
		Jobs []struct {
			Key, Kind, Size, Base, Method string
			K                             int
			Deps                          []string
		}
		Counts map[string]int
	}
	json.Unmarshal(b.Bytes(), &doc)
	seen := map[string]bool{}
	for i, j := range doc.Jobs {
		if j.Key != p.Jobs[i].Key || j.Kind != string(p.Jobs[i].Kind) || j.Deps == nil {
			t.Fatalf("job %d: %+v, want %s %s", i, j, p.Jobs[i].Kind, p.Jobs[i].Key)
		}
		for _, d := range j.Deps {
			if !seen[d] {
				t.Fatalf("job %d (%s) depends on %s, not listed before it", i, j.Kind, ShortKey(d))
			}
		}
		seen[j.Key] = true
		if j.Kind == "merge" && (j.K < 2 || j.Method == "" || j.Size == "" || j.Base == "") {
			t.Errorf("merge %+v lacks its k, method, size or base", j)
		}
	}
	for _, kc := range p.Counts() {
		if doc.Counts[string(kc.Kind)] != kc.Count {
			t.Errorf("counts[%s] = %d, want %d", kc.Kind, doc.Counts[string(kc.Kind)], kc.Count)
		}
	}
	if len(doc.Counts) != len(p.Counts()) {
		t.Errorf("counts %v, want the kinds of %v", doc.Counts, p.Counts())
	}
}
