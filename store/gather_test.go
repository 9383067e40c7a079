package store

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// dump returns every row of every result table as text, in a fixed order,
// without the runs' ids (which gather renumbers).
func dump(t *testing.T, d *DB) map[string][][]string {
	t.Helper()
	ctx := context.Background()
	out := map[string][][]string{}
	for table, q := range map[string]string{
		"runs":   `SELECT name, config_hash, code_version, shard, started_at, coalesce(ended_at, '') FROM runs ORDER BY 1, 2, 3, 4, 5`,
		"models": `SELECT * FROM models ORDER BY id`,
		"merges": `SELECT * FROM merges ORDER BY model_id`,
		"scores": `SELECT * FROM scores ORDER BY model_id, task, split, metric`,
		"jobs":   `SELECT * FROM jobs ORDER BY key`,
	} {
		tab, err := d.Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		out[table] = tab.Rows
	}
	return out
}

func TestGatherEqualsUnion(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	start := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)

	// The unsharded reference and two shards: the shared base model is in
	// both shards, each merge in one.
	whole, err := Open(filepath.Join(dir, "whole.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer whole.Close()
	var shards []string
	for i, tag := range []string{"a", "b"} {
		path := filepath.Join(dir, tag+".db")
		shards = append(shards, path)
		s, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range []*DB{s, whole} {
			if err := commitFixture(ctx, d, tag); err != nil {
				t.Fatal(err)
			}
			r := Run{Name: "quick", ConfigHash: "h", CodeVersion: "v", Shard: []string{"0/2", "1/2"}[i], StartedAt: start.Add(time.Duration(i) * time.Hour)}
			id, err := d.InsertRun(ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			if err := d.FinishRun(ctx, id, r.StartedAt.Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
		}
		if i == 1 {
			// The chosen flag of a merge travels with the gather.
			_, m, _ := fixture(tag)
			if err := s.SetChosen(ctx, Cell{Variant: m.Variant, Size: m.Size, BaseType: m.BaseType, K: m.K, Subset: m.Subset, Method: m.Method}, m.ModelID); err != nil {
				t.Fatal(err)
			}
			if _, err := whole.db.Exec(`UPDATE merges SET chosen = 1 WHERE model_id = ?`, m.ModelID); err != nil {
				t.Fatal(err)
			}
		}
		s.Close()
	}

	out := filepath.Join(dir, "out.db")
	st, err := Gather(ctx, out, shards...)
	if err != nil {
		t.Fatal(err)
	}
	want := GatherStats{Runs: 2, Models: 3, Merges: 2, Scores: 4, Jobs: 2}
	if st != want {
		t.Errorf("first gather added %+v, want %+v", st, want)
	}
	// Gathering again (in another order) adds nothing.
	st, err = Gather(ctx, out, shards[1], shards[0])
	if err != nil {
		t.Fatal(err)
	}
	if st != (GatherStats{}) {
		t.Errorf("second gather added %+v, want nothing", st)
	}
	g, err := OpenReadOnly(out)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	got, ref := dump(t, g), dump(t, whole)
	for table := range ref {
		if !reflect.DeepEqual(got[table], ref[table]) {
			t.Errorf("gathered %s:\n%v\nunsharded:\n%v", table, got[table], ref[table])
		}
	}
	if _, err := Gather(ctx, out, out); err == nil {
		t.Error("gathering a database into itself succeeded")
	}
	if _, err := Gather(ctx, out, filepath.Join(dir, "missing.db")); err == nil {
		t.Error("gathering a missing shard succeeded")
	}
}
