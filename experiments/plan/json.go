package plan

import (
	"encoding/json"
	"io"
)

// jsonJob is one job of the plan's JSON rendering.
type jsonJob struct {
	Key    string   `json:"key"`
	Kind   Kind     `json:"kind"`
	Size   string   `json:"size"`
	Base   string   `json:"base"`
	K      int      `json:"k"`      // merges and the evaluations of a cell: experts merged; 0 otherwise
	Method string   `json:"method"` // merges and the evaluations of a cell; "" otherwise
	Deps   []string `json:"deps"`   // full keys, never null
}

// WriteJSON writes the plan as one JSON object, what `run --plan --json`
// prints for tools (adapters/plan_cost.py): {"jobs": [{"key", "kind",
// "size", "base", "k", "method", "deps"}], "counts": {kind: n}}, the jobs
// in plan order (dependencies first), the counts of the kinds Counts
// lists.
func WriteJSON(w io.Writer, p *Plan) error {
	doc := struct {
		Jobs   []jsonJob    `json:"jobs"`
		Counts map[Kind]int `json:"counts"`
	}{Jobs: make([]jsonJob, 0, len(p.Jobs)), Counts: map[Kind]int{}}
	for _, j := range p.Jobs {
		deps := j.Deps
		if deps == nil {
			deps = []string{}
		}
		doc.Jobs = append(doc.Jobs, jsonJob{Key: j.Key, Kind: j.Kind, Size: j.Size, Base: j.Base, K: j.K, Method: j.Method, Deps: deps})
	}
	for _, kc := range p.Counts() {
		doc.Counts[kc.Kind] = kc.Count
	}
	return json.NewEncoder(w).Encode(doc)
}
