package store

import (
	"context"
	"database/sql"
	"math"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestSnapshotReadsWhatIsWritten: on a database of the current schema the
// snapshot holds what the typed readers return, the latest run and only the
// scores of its filter.
func TestSnapshotReadsWhatIsWritten(t *testing.T) {
	ctx := context.Background()
	d := openTemp(t)
	start := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	for i, name := range []string{"first", "second", "third"} {
		// second and third start at the same time: the later id wins.
		at := start.Add(time.Duration(min(i, 1)) * time.Hour)
		if _, err := d.InsertRun(ctx, Run{Name: name, ConfigText: "name: " + name, ConfigHash: "h", CodeVersion: "v", StartedAt: at}); err != nil {
			t.Fatal(err)
		}
	}
	if err := commitFixture(ctx, d, "a"); err != nil {
		t.Fatal(err)
	}
	s, err := d.Snapshot(ctx, ScoreFilter{Split: Test, Metric: Accuracy})
	if err != nil {
		t.Fatal(err)
	}
	if s.Absent != nil {
		t.Errorf("Absent = %v, want none", s.Absent)
	}
	if s.Run == nil || s.Run.Name != "third" || s.Run.ConfigText != "name: third" || !s.Run.StartedAt.Equal(start.Add(time.Hour)) {
		t.Errorf("Run = %+v, want the third run", s.Run)
	}
	models, err := d.Models(ctx)
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(models, func(a, b Model) int { return strings.Compare(a.ID, b.ID) })
	if !reflect.DeepEqual(s.Models, models) {
		t.Errorf("Models = %+v, want %+v", s.Models, models)
	}
	merges, err := d.Merges(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s.Merges, merges) {
		t.Errorf("Merges = %+v, want %+v", s.Merges, merges)
	}
	scores, err := d.Scores(ctx, ScoreFilter{Split: Test, Metric: Accuracy})
	if err != nil {
		t.Fatal(err)
	}
	if len(scores) != 1 || !reflect.DeepEqual(s.Scores, scores) {
		t.Errorf("Scores = %+v, want %+v", s.Scores, scores)
	}
}

// TestSnapshotDiagnosticNaN: a diagnostic written as NaN is stored as NULL
// and read back as NaN (DB.Merges reads 0).
func TestSnapshotDiagnosticNaN(t *testing.T) {
	ctx := context.Background()
	d := openTemp(t)
	if err := d.UpsertModel(ctx, Model{ID: "m", Kind: KindMerged, Size: "xs"}); err != nil {
		t.Fatal(err)
	}
	nan := math.NaN()
	if err := d.InsertMerge(ctx, Merge{ModelID: "m", Size: "xs", Method: "linear", MeanCosine: nan, SignConflict: 0.5, MassRemoved: nan, NormRatio: nan}); err != nil {
		t.Fatal(err)
	}
	s, err := d.Snapshot(ctx, ScoreFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Merges) != 1 {
		t.Fatalf("%d merges, want 1", len(s.Merges))
	}
	m := s.Merges[0]
	if !math.IsNaN(m.MeanCosine) || m.SignConflict != 0.5 || !math.IsNaN(m.MassRemoved) || !math.IsNaN(m.NormRatio) {
		t.Errorf("diagnostics %v %v %v %v, want NaN 0.5 NaN NaN", m.MeanCosine, m.SignConflict, m.MassRemoved, m.NormRatio)
	}
	if s.Run != nil {
		t.Errorf("Run = %+v without runs", s.Run)
	}
}

// TestSnapshotOlderSchemas reads databases that predate schema version 3:
// a real version-2 database, and hand-made tables that lack columns and
// hold NULLs. The columns they lack read as their defaults.
func TestSnapshotOlderSchemas(t *testing.T) {
	ctx := context.Background()
	wantModels := []Model{
		{ID: "b", Kind: KindBase, Size: "s", Params: 10, BaseType: "it", Variant: "{}"},
		{ID: "eA", Kind: KindExpert, Size: "s", Params: 10, BaseType: "it", Category: "A", Variant: "{}"},
		{ID: "m", Kind: KindMerged, Size: "s", Params: 10, BaseType: "it", Variant: "{}"},
	}
	wantScores := []Score{
		{ModelID: "b", Task: "x1", Category: "X", Heldness: HeldOut, Split: Test, Metric: Accuracy, Value: 0.5, N: 100, Chance: 0.25},
		{ModelID: "m", Task: "a1", Category: "A", Heldness: HeldIn, Split: Test, Metric: Accuracy, Value: 0.4, N: 100, Chance: 0.25},
	}
	rows := []string{
		`INSERT INTO models(id, kind, size, params, base_type, category, path) VALUES
			('b', 'base', 's', 10, 'it', '', ''), ('eA', 'expert', 's', 10, 'it', 'A', ''), ('m', 'merged', 's', 10, 'it', '', '')`,
		`INSERT INTO scores(model_id, task, category, heldness, split, metric, value, n, chance) VALUES
			('b', 'x1', 'X', 'held_out', 'test', 'accuracy', 0.5, 100, 0.25),
			('m', 'a1', 'A', 'held_in', 'test', 'accuracy', 0.4, 100, 0.25),
			('m', 'a1', 'A', 'held_in', 'validation', 'accuracy', 0.9, 100, 0.25)`,
	}
	tests := []struct {
		name   string
		create func(t *testing.T, path string) *sql.DB
		merge  string
		want   Merge
	}{
		{"version 2", func(t *testing.T, path string) *sql.DB {
			d, err := open(path, false, 2)
			if err != nil {
				t.Fatal(err)
			}
			return d.db
		}, `INSERT INTO merges(model_id, size, base_type, k, subset, categories, method, hparams, chosen, seed, mean_cosine)
			VALUES ('m', 's', 'it', 2, 0, 'A,B', 'ties', '{}', 1, 7, 0.25)`,
			Merge{ModelID: "m", Size: "s", BaseType: "it", K: 2, Categories: []string{"A", "B"}, Method: "ties", HParams: "{}",
				Chosen: true, Seed: 7, MeanCosine: 0.25, SignConflict: math.NaN(), MassRemoved: math.NaN(), NormRatio: math.NaN(),
				Diagnostics: "{}", Variant: "{}"}},
		{"hand-made tables", func(t *testing.T, path string) *sql.DB {
			db, err := sql.Open("sqlite3", "file:"+path)
			if err != nil {
				t.Fatal(err)
			}
			for _, q := range []string{
				`CREATE TABLE runs (id INTEGER PRIMARY KEY, name TEXT, config_text TEXT, config_hash TEXT, code_version TEXT, shard TEXT, started_at TEXT, ended_at TEXT)`,
				`CREATE TABLE models (id TEXT PRIMARY KEY, kind TEXT, size TEXT, params INTEGER, base_type TEXT, category TEXT, path TEXT)`,
				`CREATE TABLE merges (model_id TEXT PRIMARY KEY, size TEXT, base_type TEXT, k INTEGER, subset INTEGER, categories TEXT,
					method TEXT, hparams TEXT, chosen INTEGER, seed INTEGER, mean_cosine REAL, sign_conflict REAL)`,
				`CREATE TABLE scores (model_id TEXT, task TEXT, category TEXT, heldness TEXT, split TEXT, metric TEXT, value REAL, n INTEGER, chance REAL)`,
			} {
				if _, err := db.Exec(q); err != nil {
					t.Fatal(err)
				}
			}
			return db
		}, `INSERT INTO merges(model_id, size, base_type, k, categories, method, chosen, seed)
			VALUES ('m', 's', 'it', 2, 'A', 'ties', 1, 7)`,
			Merge{ModelID: "m", Size: "s", BaseType: "it", K: 2, Categories: []string{"A"}, Method: "ties",
				Chosen: true, Seed: 7, MeanCosine: math.NaN(), SignConflict: math.NaN(), MassRemoved: math.NaN(), NormRatio: math.NaN(),
				Diagnostics: "{}", Variant: "{}"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "old.db")
			db := tt.create(t, path)
			for _, q := range append(rows, tt.merge) {
				if _, err := db.Exec(q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			db.Close()
			d, err := OpenReadOnly(path)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			s, err := d.Snapshot(ctx, ScoreFilter{Split: Test, Metric: Accuracy})
			if err != nil {
				t.Fatal(err)
			}
			if s.Absent != nil || s.Run != nil {
				t.Errorf("Absent %v, Run %+v; want none", s.Absent, s.Run)
			}
			if !reflect.DeepEqual(s.Models, wantModels) {
				t.Errorf("Models = %+v, want %+v", s.Models, wantModels)
			}
			if !reflect.DeepEqual(s.Scores, wantScores) {
				t.Errorf("Scores = %+v, want %+v", s.Scores, wantScores)
			}
			if len(s.Merges) != 1 || !sameMerge(s.Merges[0], tt.want) {
				t.Errorf("Merges = %+v, want [%+v]", s.Merges, tt.want)
			}
		})
	}
}

// sameMerge is reflect.DeepEqual with NaN equal to NaN.
func sameMerge(a, b Merge) bool {
	for _, p := range [][2]*float64{{&a.MeanCosine, &b.MeanCosine}, {&a.SignConflict, &b.SignConflict},
		{&a.MassRemoved, &b.MassRemoved}, {&a.NormRatio, &b.NormRatio}} {
		if math.IsNaN(*p[0]) != math.IsNaN(*p[1]) {
			return false
		}
		if math.IsNaN(*p[0]) {
			*p[0], *p[1] = 0, 0
		}
	}
	return reflect.DeepEqual(a, b)
}

// TestSnapshotWithoutTables: a file that is not a results database is no
// error; the snapshot says which tables it lacks.
func TestSnapshotWithoutTables(t *testing.T) {
	path := filepath.Join(t.TempDir(), "other.db")
	db, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE unrelated(x INTEGER)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	d, err := OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	s, err := d.Snapshot(context.Background(), ScoreFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"runs", "models", "merges", "scores"}; !reflect.DeepEqual(s.Absent, want) {
		t.Errorf("Absent = %v, want %v", s.Absent, want)
	}
	if s.Run != nil || s.Models != nil || s.Merges != nil || s.Scores != nil {
		t.Errorf("snapshot of a database without tables: %+v", s)
	}
}
