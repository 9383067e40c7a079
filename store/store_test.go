package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func openTemp(t *testing.T) *DB {
	t.Helper()
	d, err := Open(filepath.Join(t.TempDir(), "results.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func count(t *testing.T, d *DB, table string) int {
	t.Helper()
	var n int
	if err := d.db.QueryRow(`SELECT count(*) FROM ` + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// fixture is one job's worth of results: a base, an expert, a merge of the
// expert and its scores.
func fixture(tag string) ([]Model, Merge, []Score) {
	models := []Model{
		{ID: "base-xs-pt", Kind: KindBase, Size: "xs", Params: 1000, BaseType: "pt", Path: "zoo/base", Steps: 10, FinalLoss: 2.5, WallSeconds: 1,
			Variant: "{}"},
		{ID: "merged-" + tag, Kind: KindMerged, Size: "xs", Params: 1000, BaseType: "pt", Path: "merged/" + tag,
			Variant: `{"zoo.expert.lr":0.002}`, TauNormRatio: nil},
	}
	m := Merge{ModelID: "merged-" + tag, Size: "xs", BaseType: "pt", K: 2, Subset: 0,
		Categories: []string{"sentiment", "extractive_qa"}, Method: "ties", HParams: `{"density":0.2,"lambda":1}`,
		Seed: 1<<63 + 5, WallSeconds: 0.5, MeanCosine: 0.1, SignConflict: 0.2, MassRemoved: 0.8, NormRatio: 0.9,
		Variant: `{"zoo.expert.lr":0.002}`, BaseID: "base-xs-pt", ExpertIDs: []string{"expert-sentiment", "expert-extractive"}}
	scores := []Score{
		{ModelID: "merged-" + tag, Task: "sentiment_a", Category: "sentiment", Heldness: HeldIn, Split: Validation, Metric: Accuracy, Value: 0.75, N: 32, Chance: 0.5},
		{ModelID: "merged-" + tag, Task: "nli_a", Category: "nli", Heldness: HeldOut, Split: Test, Metric: Accuracy, Value: 0.4, N: 64, Chance: 1.0 / 3},
	}
	return models, m, scores
}

func commitFixture(ctx context.Context, d *DB, tag string) error {
	models, m, scores := fixture(tag)
	return d.Write(ctx, func(tx *Tx) error {
		for _, mod := range models {
			if err := tx.UpsertModel(ctx, mod); err != nil {
				return err
			}
		}
		if err := tx.InsertMerge(ctx, m); err != nil {
			return err
		}
		if err := tx.InsertScores(ctx, scores); err != nil {
			return err
		}
		if err := tx.MarkJobDone(ctx, "job-"+tag, "merge", m.ModelID, 0.5); err != nil {
			return err
		}
		return tx.SetJobLog(ctx, "job-"+tag, "logs/eval/job-"+tag+".log")
	})
}

func TestOpenMigratesToLatest(t *testing.T) {
	d := openTemp(t)
	v, err := d.SchemaVersion(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if v != SchemaVersionLatest() || v < 3 {
		t.Fatalf("schema version %d, want %d", v, SchemaVersionLatest())
	}
	for _, table := range []string{"runs", "models", "merges", "scores", "jobs"} {
		count(t, d, table) // fails the test when the table is missing
	}
	var mode string
	if err := d.db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode %q (%v), want wal", mode, err)
	}
}

func TestMigrationFromVersion1KeepsData(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	old, err := open(path, false, 1)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := old.SchemaVersion(ctx); v != 1 {
		t.Fatalf("old schema version %d, want 1", v)
	}
	models, _, _ := fixture("a")
	b := models[0]
	// The typed API writes the latest schema's columns; a version-1 row is
	// inserted by hand.
	if _, err := old.db.Exec(`INSERT INTO models(id, kind, size, params, base_type, category, path, steps, final_loss, wall_seconds)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, b.ID, b.Kind, b.Size, b.Params, b.BaseType, b.Category, b.Path, b.Steps, b.FinalLoss, b.WallSeconds); err != nil {
		t.Fatal(err)
	}
	old.Close()

	d, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if v, _ := d.SchemaVersion(ctx); v != SchemaVersionLatest() {
		t.Fatalf("migrated schema version %d, want %d", v, SchemaVersionLatest())
	}
	got, ok, err := d.Model(ctx, models[0].ID)
	if err != nil || !ok || !reflect.DeepEqual(got, models[0]) {
		t.Fatalf("model after migration = %+v, %v, %v; want %+v", got, ok, err, models[0])
	}
	if err := commitFixture(ctx, d, "a"); err != nil { // needs version 2's jobs table
		t.Fatal(err)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new.db")
	d, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.db.Exec(`UPDATE schema_version SET version = 99`); err != nil {
		t.Fatal(err)
	}
	d.Close()
	want := fmt.Sprintf("has schema version 99, newer than this mergescale knows (%d)", SchemaVersionLatest())
	if _, err := Open(path); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Open: %v, want error containing %q", err, want)
	}
	if _, err := OpenReadOnly(path); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("OpenReadOnly: %v, want error containing %q", err, want)
	}
}

func TestCommitIsIdempotent(t *testing.T) {
	ctx := context.Background()
	d := openTemp(t)
	for i := 0; i < 3; i++ {
		if err := commitFixture(ctx, d, "a"); err != nil {
			t.Fatal(err)
		}
	}
	for table, want := range map[string]int{"models": 2, "merges": 1, "scores": 2, "jobs": 1} {
		if n := count(t, d, table); n != want {
			t.Errorf("%s has %d rows after 3 identical commits, want %d", table, n, want)
		}
	}
	_, m, scores := fixture("a")
	merges, err := d.Merges(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m.Categories = []string{"extractive_qa", "sentiment"}           // stored sorted
	m.ExpertIDs = []string{"expert-extractive", "expert-sentiment"} // in the order of the sorted categories
	m.Diagnostics = "{}"                                            // "" is stored as an empty object
	if len(merges) != 1 || !reflect.DeepEqual(merges[0], m) {
		t.Fatalf("merges = %+v, want [%+v]", merges, m)
	}
	got, err := d.Scores(ctx, ScoreFilter{Split: Validation})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != scores[0] {
		t.Fatalf("validation scores = %+v, want [%+v]", got, scores[0])
	}
	for _, c := range []struct {
		split string
		want  bool
	}{{Validation, true}, {Test, true}} {
		if has, err := d.HasScores(ctx, "merged-a", c.split); err != nil || has != c.want {
			t.Errorf("HasScores(merged-a, %s) = %v, %v; want %v", c.split, has, err, c.want)
		}
	}
	if has, _ := d.HasScores(ctx, "base-xs-pt", Test); has {
		t.Error("HasScores(base-xs-pt, test) = true for a model without scores")
	}
	if done, _ := d.JobDone(ctx, "job-a"); !done {
		t.Error("JobDone(job-a) = false after commit")
	}
	if done, _ := d.JobDone(ctx, "job-b"); done {
		t.Error("JobDone(job-b) = true for a job never committed")
	}

	// A run with the same natural key is one row.
	start := time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)
	r := Run{Name: "quick", ConfigText: "name: quick\n", ConfigHash: "h", CodeVersion: "v", StartedAt: start}
	id1, err := d.InsertRun(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	id2, err := d.InsertRun(ctx, r)
	if err != nil || id1 != id2 {
		t.Fatalf("second InsertRun = %d, %v; want %d", id2, err, id1)
	}
	end := start.Add(90 * time.Second)
	if err := d.FinishRun(ctx, id1, end); err != nil {
		t.Fatal(err)
	}
	runs, err := d.Runs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r.ID, r.EndedAt = id1, end
	if len(runs) != 1 || !reflect.DeepEqual(runs[0], r) {
		t.Fatalf("runs = %+v, want [%+v]", runs, r)
	}
	if err := d.FinishRun(ctx, 999, end); err == nil {
		t.Error("FinishRun of a missing run succeeded")
	}
}

func TestWriteRollsBackOnError(t *testing.T) {
	ctx := context.Background()
	d := openTemp(t)
	models, _, _ := fixture("a")
	boom := errors.New("boom")
	err := d.Write(ctx, func(tx *Tx) error {
		if err := tx.UpsertModel(ctx, models[0]); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Write = %v, want boom", err)
	}
	if n := count(t, d, "models"); n != 0 {
		t.Fatalf("%d models after a rolled-back transaction", n)
	}
}

func TestInvalidRowsRejected(t *testing.T) {
	ctx := context.Background()
	d := openTemp(t)
	_, _, scores := fixture("a")
	bad := scores[0]
	bad.Heldness = "held-in"
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"kind", d.UpsertModel(ctx, Model{ID: "x", Kind: "instruct", Size: "xs"}), `store: model x: unknown kind "instruct"`},
		{"id", d.UpsertModel(ctx, Model{Kind: KindBase, Size: "xs"}), `store: model of kind "base" has no id`},
		{"heldness", d.InsertScores(ctx, []Score{bad}), `store: score merged-a/sentiment_a/validation/accuracy: heldness "held-in" is neither "held_in" nor "held_out"`},
		{"foreign key", d.InsertScores(ctx, scores[:1]), `FOREIGN KEY constraint failed`},
	}
	for _, c := range cases {
		if c.err == nil || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, c.err, c.want)
		}
	}
}

func TestSetChosen(t *testing.T) {
	ctx := context.Background()
	d := openTemp(t)
	_, m, _ := fixture("a")
	cell := Cell{Variant: m.Variant, Size: m.Size, BaseType: m.BaseType, K: m.K, Subset: m.Subset, Method: m.Method}
	err := d.Write(ctx, func(tx *Tx) error {
		for i, hp := range []string{`{"lambda":0.5}`, `{"lambda":1}`} {
			id := fmt.Sprintf("m%d", i)
			if err := tx.UpsertModel(ctx, Model{ID: id, Kind: KindMerged, Size: "xs", BaseType: "pt"}); err != nil {
				return err
			}
			mm := m
			mm.ModelID, mm.HParams = id, hp
			if err := tx.InsertMerge(ctx, mm); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	chosen := func() []string {
		ms, err := d.Merges(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range ms {
			if m.Chosen {
				out = append(out, m.ModelID)
			}
		}
		return out
	}
	for _, id := range []string{"m0", "m1", "m1"} {
		if err := d.SetChosen(ctx, cell, id); err != nil {
			t.Fatal(err)
		}
		if got := chosen(); !reflect.DeepEqual(got, []string{id}) {
			t.Fatalf("after SetChosen(%s) chosen = %v", id, got)
		}
	}
	other := cell
	other.Subset = 1
	if err := d.SetChosen(ctx, other, "m0"); err == nil {
		t.Error("SetChosen with a merge of another cell succeeded")
	}
}

// TestConcurrentWriters commits from several goroutines through two
// handles (as two processes would) and checks that no write is lost.
func TestConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "results.db")
	handles := make([]*DB, 2)
	for i := range handles {
		d, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		handles[i] = d
	}
	const writers, perWriter = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers*perWriter)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			d := handles[w%len(handles)]
			for i := 0; i < perWriter; i++ {
				id := fmt.Sprintf("m-%d-%d", w, i)
				err := d.Write(ctx, func(tx *Tx) error {
					// Read then write inside the transaction: the pattern
					// that deferred transactions turn into lock errors.
					if _, err := tx.Exec(ctx, `SELECT count(*) FROM models`); err != nil {
						return err
					}
					if err := tx.UpsertModel(ctx, Model{ID: id, Kind: KindMerged, Size: "xs", BaseType: "it"}); err != nil {
						return err
					}
					return tx.InsertScores(ctx, []Score{{ModelID: id, Task: "t", Category: "c", Heldness: HeldIn, Split: Test, Metric: Accuracy, Value: float64(i), N: 1}})
				})
				if err != nil {
					errs <- err
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := count(t, handles[0], "scores"); n != writers*perWriter {
		t.Fatalf("%d scores, want %d", n, writers*perWriter)
	}
}

func TestReadOnlyRefusesWrites(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "results.db")
	d, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := commitFixture(ctx, d, "a"); err != nil {
		t.Fatal(err)
	}
	d.Close()

	ro, err := OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	for _, q := range []string{
		`DELETE FROM scores`,
		`INSERT INTO jobs(key, kind) VALUES ('x', 'eval')`,
		`DROP TABLE scores`,
		`UPDATE models SET path = ''`,
	} {
		if _, err := ro.Query(ctx, q); err == nil {
			t.Errorf("read-only Query(%q) succeeded", q)
		}
	}
	if err := ro.UpsertModel(ctx, Model{ID: "x", Kind: KindBase, Size: "xs"}); err == nil {
		t.Error("read-only UpsertModel succeeded")
	}
	tab, err := ro.Query(ctx, `SELECT task, value, n, NULL AS missing FROM scores WHERE split = ? ORDER BY task`, Test)
	if err != nil {
		t.Fatal(err)
	}
	want := &Table{Columns: []string{"task", "value", "n", "missing"}, Rows: [][]string{{"nli_a", "0.4", "64", "NULL"}}}
	if !reflect.DeepEqual(tab, want) {
		t.Fatalf("Query = %+v, want %+v", tab, want)
	}
	if n := count(t, ro, "scores"); n != 2 {
		t.Fatalf("%d scores after refused writes, want 2", n)
	}
	if _, err := OpenReadOnly(filepath.Join(t.TempDir(), "missing.db")); err == nil {
		t.Error("OpenReadOnly of a missing file succeeded")
	}
}

// TestMigrationToVariants opens a version-2 database holding a merge and
// checks that version 3 adds the variant columns with their defaults and
// keeps every row.
func TestMigrationToVariants(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v2.db")
	old, err := open(path, false, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO models(id, kind, size, base_type) VALUES ('b', 'base', 'xs', 'it'), ('m', 'merged', 'xs', 'it')`,
		`INSERT INTO merges(model_id, size, base_type, k, subset, categories, method, hparams, chosen, seed)
			VALUES ('m', 'xs', 'it', 2, 0, 'a,b', 'ties', '{}', 1, 3)`,
	} {
		if _, err := old.db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	old.Close()
	d, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ms, err := d.Merges(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 1 || ms[0].Variant != "{}" || ms[0].BaseID != "" || ms[0].ExpertIDs != nil || !ms[0].Chosen {
		t.Fatalf("merge after migration: %+v", ms)
	}
	m, ok, err := d.Model(ctx, "b")
	if err != nil || !ok || m.Variant != "{}" || m.TauNormRatio != nil {
		t.Fatalf("model after migration: %+v, %v, %v", m, ok, err)
	}
	// The old cell (no variant given) is the '{}' variant.
	if err := d.SetChosen(ctx, Cell{Size: "xs", BaseType: "it", K: 2, Subset: 0, Method: "ties"}, "m"); err != nil {
		t.Fatal(err)
	}
}

func TestModelVariantAndTauRoundTrip(t *testing.T) {
	ctx := context.Background()
	d := openTemp(t)
	tau := 0.125
	want := Model{ID: "e", Kind: KindExpert, Size: "xs", BaseType: "pt", Category: "sentiment",
		Variant: `{"zoo.expert.lr":0.0003}`, TauNormRatio: &tau}
	if err := d.UpsertModel(ctx, want); err != nil {
		t.Fatal(err)
	}
	got, ok, err := d.Model(ctx, "e")
	if err != nil || !ok || !reflect.DeepEqual(got, want) {
		t.Fatalf("Model = %+v, %v, %v; want %+v", got, ok, err, want)
	}
	if err := d.InsertMerge(ctx, Merge{ModelID: "e", Size: "xs", Categories: []string{"a", "b"}, ExpertIDs: []string{"x"}}); err == nil {
		t.Error("a merge with 1 expert id for 2 categories was accepted")
	}
}

// TestSetChosenPerVariant: two variants share (size, base, k, subset,
// method); choosing in one leaves the other's choice alone.
func TestSetChosenPerVariant(t *testing.T) {
	ctx := context.Background()
	d := openTemp(t)
	variants := []string{`{"zoo.expert.lr":0.002}`, `{"zoo.expert.lr":0.0003}`}
	err := d.Write(ctx, func(tx *Tx) error {
		for vi, v := range variants {
			for _, hp := range []string{"0.5", "1"} {
				id := fmt.Sprintf("v%d-%s", vi, hp)
				if err := tx.UpsertModel(ctx, Model{ID: id, Kind: KindMerged, Size: "xs", BaseType: "it", Variant: v}); err != nil {
					return err
				}
				if err := tx.InsertMerge(ctx, Merge{ModelID: id, Size: "xs", BaseType: "it", K: 2, Method: "ties",
					Categories: []string{"a", "b"}, HParams: `{"lambda":` + hp + `}`, Variant: v}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	cell := func(v string) Cell {
		return Cell{Variant: v, Size: "xs", BaseType: "it", K: 2, Subset: 0, Method: "ties"}
	}
	if err := d.SetChosen(ctx, cell(variants[0]), "v0-1"); err != nil {
		t.Fatal(err)
	}
	if err := d.SetChosen(ctx, cell(variants[1]), "v1-0.5"); err != nil {
		t.Fatal(err)
	}
	ms, err := d.Merges(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var chosen []string
	for _, m := range ms {
		if m.Chosen {
			chosen = append(chosen, m.ModelID)
		}
	}
	slices.Sort(chosen)
	if want := []string{"v0-1", "v1-0.5"}; !reflect.DeepEqual(chosen, want) {
		t.Fatalf("chosen %v, want %v (one per variant)", chosen, want)
	}
	if err := d.SetChosen(ctx, cell(variants[0]), "v1-1"); err == nil {
		t.Error("SetChosen with a merge of another variant succeeded")
	}
}

func TestSetOrigin(t *testing.T) {
	ctx := context.Background()
	d := openTemp(t)
	if err := commitFixture(ctx, d, "a"); err != nil {
		t.Fatal(err)
	}
	tau := 0.25
	v := `{"zoo.expert.lr":0.0003}`
	err := d.Write(ctx, func(tx *Tx) error {
		if err := tx.SetOrigin(ctx, "merged-a", v, nil, "base-2", []string{"sentiment", "extractive_qa"}, []string{"s2", "e2"}); err != nil {
			return err
		}
		if err := tx.SetOrigin(ctx, "base-xs-pt", "", &tau, "", nil, nil); err != nil {
			return err
		}
		return tx.SetOrigin(ctx, "no-such-model", v, nil, "", nil, nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	ms, _ := d.Merges(ctx)
	if len(ms) != 1 || ms[0].Variant != v || ms[0].BaseID != "base-2" || !reflect.DeepEqual(ms[0].ExpertIDs, []string{"e2", "s2"}) {
		t.Errorf("merge after SetOrigin: %+v", ms)
	}
	m, _, _ := d.Model(ctx, "merged-a")
	b, _, _ := d.Model(ctx, "base-xs-pt")
	if m.Variant != v || b.Variant != "{}" || b.TauNormRatio == nil || *b.TauNormRatio != tau {
		t.Errorf("models after SetOrigin: %+v, %+v", m, b)
	}
	err = d.Write(ctx, func(tx *Tx) error {
		return tx.SetOrigin(ctx, "merged-a", v, nil, "base-2", []string{"sentiment"}, []string{"s2", "e2"})
	})
	if err == nil {
		t.Error("SetOrigin with 2 expert ids for 1 category succeeded")
	}
}
