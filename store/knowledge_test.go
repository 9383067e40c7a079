package store

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestKnowledgeRoundTrip: a run's world version and the knowledge probes
// come back from the snapshot, the typed reader and a gather.
func TestKnowledgeRoundTrip(t *testing.T) {
	ctx := context.Background()
	d := openTemp(t)
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if _, err := d.InsertRun(ctx, Run{Name: "k", ConfigHash: "h", CodeVersion: "v", StartedAt: at, WorldVersion: "suite-5"}); err != nil {
		t.Fatal(err)
	}
	ps := []KnowledgeProbe{
		{ModelID: "m1", Size: "xs", Params: 10, WorldVersion: "suite-5", Fact: "mira_holm/city", Attribute: "city", Exposures: 7, LogProb: -0.25},
		{ModelID: "m1", Size: "xs", Params: 10, WorldVersion: "suite-5", Fact: "ben_dahl/pet", Attribute: "pet", Exposures: 300, LogProb: -3},
	}
	if err := d.InsertKnowledge(ctx, ps); err != nil {
		t.Fatal(err)
	}
	if err := d.InsertKnowledge(ctx, []KnowledgeProbe{{ModelID: "m1", Fact: "x"}}); err == nil {
		t.Error("a probe without a world version was accepted")
	}
	s, err := d.Snapshot(ctx, ScoreFilter{})
	if err != nil {
		t.Fatal(err)
	}
	want := []KnowledgeProbe{ps[1], ps[0]} // by model, then fact
	if !slices.Equal(s.Knowledge, want) {
		t.Errorf("Knowledge = %+v, want %+v", s.Knowledge, want)
	}
	if s.Run == nil || s.Run.WorldVersion != "suite-5" {
		t.Errorf("Run = %+v, want world version suite-5", s.Run)
	}
	runs, err := d.Runs(ctx)
	if err != nil || len(runs) != 1 || runs[0].WorldVersion != "suite-5" {
		t.Errorf("Runs = %+v, %v", runs, err)
	}
	dst := filepath.Join(t.TempDir(), "all.db")
	st, err := Gather(ctx, dst, d.Path())
	if err != nil {
		t.Fatal(err)
	}
	if st.Knowledge != 2 || st.Runs != 1 {
		t.Errorf("gather stats %+v", st)
	}
	g, err := OpenReadOnly(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	gs, err := g.Snapshot(ctx, ScoreFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(gs.Knowledge, want) || gs.Run == nil || gs.Run.WorldVersion != "suite-5" {
		t.Errorf("gathered: run %+v, knowledge %+v", gs.Run, gs.Knowledge)
	}
}

// TestKnowledgeScores: rows by known flag come back from KnowledgeOf's
// sibling readers (snapshot, gather) in key order; bad rows are refused
// with the row named.
func TestKnowledgeScores(t *testing.T) {
	ctx := context.Background()
	d := openTemp(t)
	ks := []KnowledgeScore{
		{ModelID: "m", Task: "cbqa_fact", Split: Test, Known: KnownYes, Metric: "accuracy", Value: 0.8, N: 40},
		{ModelID: "m", Task: "cbqa_fact", Split: Test, Known: KnownNo, Metric: "accuracy", Value: 0.3, N: 10},
	}
	if err := d.Write(ctx, func(tx *Tx) error { return tx.InsertKnowledgeScores(ctx, ks) }); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []KnowledgeScore{
		{ModelID: "m", Task: "t", Split: Test, Known: "maybe", Metric: "accuracy", Value: 1, N: 1},
		{ModelID: "m", Task: "t", Split: "train", Known: KnownNo, Metric: "accuracy", Value: 1, N: 1},
		{ModelID: "m", Task: "t", Split: Test, Known: KnownNo, Metric: "accuracy", Value: 1, N: 0},
		{ModelID: "", Task: "t", Split: Test, Known: KnownNo, Metric: "accuracy", Value: 1, N: 1},
	} {
		err := d.Write(ctx, func(tx *Tx) error { return tx.InsertKnowledgeScores(ctx, []KnowledgeScore{bad}) })
		if err == nil {
			t.Errorf("accepted %+v", bad)
		}
	}
	want := []KnowledgeScore{ks[1], ks[0]} // by model, task, split, known
	s, err := d.Snapshot(ctx, ScoreFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.KnowledgeScores, want) {
		t.Errorf("snapshot %+v, want %+v", s.KnowledgeScores, want)
	}
	dst := filepath.Join(t.TempDir(), "all.db")
	st, err := Gather(ctx, dst, d.Path(), d.Path())
	if err != nil {
		t.Fatal(err)
	}
	if st.KnowledgeScores != 2 {
		t.Errorf("gather added %d knowledge scores, want 2 (the second source repeats the first)", st.KnowledgeScores)
	}
}
