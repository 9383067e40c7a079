package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mergescale/store"
)

// TestKnowledgeCommand pretrains a micro base for a few steps in a small
// suite-5 world, probes it, runs the closed-book check, and records the
// run and the probes in a store; a second call probes the saved base
// without training it again and writes the same table.
func TestKnowledgeCommand(t *testing.T) {
	dir := t.TempDir()
	out, db := filepath.Join(dir, "k"), filepath.Join(dir, "results.db")
	args := []string{"knowledge", "--sizes", "micro", "--steps", "4", "--batch", "8", "--people", "20", "--out", out, "--db", db, "--cbqa-steps", "2", "--scatter", "--templates", "3", "--qa-share", "0.5"}
	var so, se bytes.Buffer
	if code := Execute(args, strings.NewReader(""), &so, &se); code != 0 {
		t.Fatalf("exit %d: %s", code, se.String())
	}
	for _, want := range []string{"micro: ", "facts known", "closed-book expert (2 steps, lr 0.002)", "question-form probe of the base on test people"} {
		if !strings.Contains(so.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, so.String())
		}
	}
	table, err := os.ReadFile(filepath.Join(out, "table_knowledge.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(table), "size,exposure_bin,facts,fraction_known,value_ce\nmicro,") {
		t.Errorf("table_knowledge.csv:\n%s", table)
	}
	d, err := store.OpenReadOnly(db)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := d.Snapshot(context.Background(), store.ScoreFilter{})
	d.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Knowledge) != 20*8 || snap.Run == nil || snap.Run.WorldVersion != "suite-5" {
		t.Fatalf("store: %d probes, run %+v", len(snap.Knowledge), snap.Run)
	}
	so.Reset()
	args2 := []string{"knowledge", "--sizes", "micro", "--steps", "4", "--batch", "8", "--people", "20", "--out", out, "--scatter", "--templates", "3", "--qa-share", "0.5"}
	if code := Execute(args2, strings.NewReader(""), &so, &se); code != 0 {
		t.Fatalf("second call: exit %d: %s", code, se.String())
	}
	if strings.Contains(so.String(), "steps, final loss") {
		t.Errorf("the saved base was trained again:\n%s", so.String())
	}
	again, err := os.ReadFile(filepath.Join(out, "table_knowledge.csv"))
	if err != nil || !bytes.Equal(again, table) {
		t.Errorf("second call's table differs (%v)", err)
	}
}

// TestKnowledgeCommandBadWorld: a world parameter out of range is one
// error naming it, before any training.
func TestKnowledgeCommandBadWorld(t *testing.T) {
	var so, se bytes.Buffer
	args := []string{"knowledge", "--sizes", "micro", "--steps", "4", "--people", "20", "--out", t.TempDir(), "--templates", "4"}
	if code := Execute(args, strings.NewReader(""), &so, &se); code == 0 || !strings.Contains(se.String(), "templates 4 must be in [1, 3]") {
		t.Fatalf("exit %d, stderr %q", code, se.String())
	}
}
