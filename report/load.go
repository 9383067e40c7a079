package report

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"sort"
	"strings"

	"mergescale/store"
)

// The report reads only these rows of the store: test-split scores, each
// task's by its own metric, where the paper shows accuracy.
const scoreSplit = "test"

// scoreMetrics lists the metrics a task's score may be, in the order the
// report prefers them for one task: its own metric is the first present
// (a task with options stores accuracy, and acc_norm when that is its
// metric; a task without options exact_match, and rouge_l or f1 when that
// is its metric).
var scoreMetrics = []string{"acc_norm", "accuracy", "rouge_l", "f1", "exact_match"}

// metricRank is a metric's place in scoreMetrics.
func metricRank(m string) int { return slices.Index(scoreMetrics, m) }

type modelRow struct {
	ID, Kind, Size     string
	Params             int64
	BaseType, Category string
	Variant            string          // canonical JSON of its swept zoo keys ("{}": none)
	TauNormRatio       sql.NullFloat64 // experts: ‖τ‖ ÷ ‖θ₀‖
}

type mergeRow struct {
	ModelID, Size, BaseType string
	K, Subset               int
	Categories              []string // sorted
	Method, Hparams         string
	Chosen                  bool
	Seed                    int64
	MeanCosine              sql.NullFloat64
	SignConflict            sql.NullFloat64
	Variant                 string
	BaseID                  string   // "" in stores from before schema version 3
	ExpertIDs               []string // parallel to Categories; nil in older stores
}

type scoreRow struct {
	Task, Category, Heldness string
	Metric                   string
	Value, Chance            float64
	N                        int
}

// storeData is everything the report reads from a store, in memory.
type storeData struct {
	models     map[string]modelRow
	merges     []mergeRow                     // ordered by model_id
	scores     map[string]map[string]scoreRow // model id → task → test accuracy
	runName    string
	configText string
	missing    []string // what the store lacks, in words
}

// openReadOnly opens the SQLite database at path read-only through the
// store package (which refuses a newer schema). A missing file is an error
// naming it.
func openReadOnly(path string) (*sql.DB, error) {
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("store %s: no such file", path)
		}
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	d, err := store.OpenReadOnly(path)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	return d.SQL(), nil
}

// loadStore reads the store at path into memory.
func loadStore(ctx context.Context, path string) (*storeData, error) {
	db, err := openReadOnly(path)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	d := &storeData{models: map[string]modelRow{}, scores: map[string]map[string]scoreRow{}}
	tables := map[string]bool{}
	rows, err := db.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type='table'`)
	if err != nil {
		return nil, fmt.Errorf("store %s: list tables: %w", path, err)
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store %s: list tables: %w", path, err)
		}
		tables[name] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store %s: list tables: %w", path, err)
	}
	for _, t := range []string{"runs", "models", "merges", "scores"} {
		if !tables[t] {
			d.missing = append(d.missing, fmt.Sprintf("the store has no %s table", t))
		}
	}
	if tables["runs"] {
		if err := d.loadRuns(ctx, db); err != nil {
			return nil, fmt.Errorf("store %s: table runs: %w", path, err)
		}
	}
	if tables["models"] {
		if err := d.loadModels(ctx, db); err != nil {
			return nil, fmt.Errorf("store %s: table models: %w", path, err)
		}
	}
	if tables["merges"] {
		if err := d.loadMerges(ctx, db); err != nil {
			return nil, fmt.Errorf("store %s: table merges: %w", path, err)
		}
	}
	if tables["scores"] {
		if err := d.loadScores(ctx, db); err != nil {
			return nil, fmt.Errorf("store %s: table scores: %w", path, err)
		}
	}
	return d, nil
}

func (d *storeData) loadRuns(ctx context.Context, db *sql.DB) error {
	var name, text sql.NullString
	err := db.QueryRowContext(ctx,
		`SELECT name, config_text FROM runs ORDER BY started_at DESC, id DESC LIMIT 1`).Scan(&name, &text)
	if errors.Is(err, sql.ErrNoRows) {
		d.missing = append(d.missing, "no run is recorded, so the run's config is unknown")
		return nil
	}
	if err != nil {
		return err
	}
	d.runName, d.configText = name.String, text.String
	return nil
}

// columns returns the column names of table.
func columns(ctx context.Context, db *sql.DB, table string) (map[string]bool, error) {
	rows, err := db.QueryContext(ctx, `SELECT name FROM pragma_table_info(?)`, table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		out[name] = true
	}
	return out, rows.Err()
}

// colOr selects column name when the table has it, else the literal def
// (stores from before schema version 3 lack the variant columns).
func colOr(cols map[string]bool, name, def string) string {
	if cols[name] {
		return name
	}
	return def
}

func (d *storeData) loadModels(ctx context.Context, db *sql.DB) error {
	cols, err := columns(ctx, db, "models")
	if err != nil {
		return err
	}
	rows, err := db.QueryContext(ctx, `SELECT id, COALESCE(kind,''), COALESCE(size,''),
		COALESCE(params,0), COALESCE(base_type,''), COALESCE(category,''),
		COALESCE(`+colOr(cols, "variant", "'{}'")+`,'{}'), `+colOr(cols, "tau_norm_ratio", "NULL")+`
		FROM models ORDER BY id`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var m modelRow
		if err := rows.Scan(&m.ID, &m.Kind, &m.Size, &m.Params, &m.BaseType, &m.Category, &m.Variant, &m.TauNormRatio); err != nil {
			return err
		}
		d.models[m.ID] = m
	}
	return rows.Err()
}

func (d *storeData) loadMerges(ctx context.Context, db *sql.DB) error {
	cols, err := columns(ctx, db, "merges")
	if err != nil {
		return err
	}
	rows, err := db.QueryContext(ctx, `SELECT model_id, COALESCE(size,''), COALESCE(base_type,''),
		COALESCE(k,0), COALESCE(subset,0), COALESCE(categories,''), COALESCE(method,''),
		COALESCE(hparams,''), COALESCE(chosen,0), COALESCE(seed,0), mean_cosine, sign_conflict,
		COALESCE(`+colOr(cols, "variant", "'{}'")+`,'{}'), COALESCE(`+colOr(cols, "base_id", "''")+`,''),
		COALESCE(`+colOr(cols, "expert_ids", "''")+`,'')
		FROM merges ORDER BY model_id`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var m mergeRow
		var cats, experts string
		var chosen int
		if err := rows.Scan(&m.ModelID, &m.Size, &m.BaseType, &m.K, &m.Subset, &cats, &m.Method,
			&m.Hparams, &chosen, &m.Seed, &m.MeanCosine, &m.SignConflict, &m.Variant, &m.BaseID, &experts); err != nil {
			return err
		}
		m.Chosen = chosen == 1
		type pair struct{ cat, expert string }
		var pairs []pair
		ids, cs := splitList(experts), splitList(cats)
		for i, c := range cs {
			p := pair{cat: c}
			if len(ids) == len(cs) {
				p.expert = ids[i]
			}
			pairs = append(pairs, p)
		}
		sort.SliceStable(pairs, func(i, j int) bool { return pairs[i].cat < pairs[j].cat })
		for _, p := range pairs {
			m.Categories = append(m.Categories, p.cat)
			if p.expert != "" {
				m.ExpertIDs = append(m.ExpertIDs, p.expert)
			}
		}
		d.merges = append(d.merges, m)
	}
	return rows.Err()
}

// splitList splits a comma-separated list, dropping empty entries.
func splitList(s string) []string {
	var out []string
	for _, c := range strings.Split(s, ",") {
		if c = strings.TrimSpace(c); c != "" {
			out = append(out, c)
		}
	}
	return out
}

func (d *storeData) loadScores(ctx context.Context, db *sql.DB) error {
	rows, err := db.QueryContext(ctx, `SELECT model_id, task, COALESCE(category,''),
		COALESCE(heldness,''), metric, value, COALESCE(n,0), COALESCE(chance,0)
		FROM scores WHERE split = ? AND metric IN (?, ?, ?, ?, ?) AND value IS NOT NULL`,
		scoreSplit, scoreMetrics[0], scoreMetrics[1], scoreMetrics[2], scoreMetrics[3], scoreMetrics[4])
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var s scoreRow
		if err := rows.Scan(&id, &s.Task, &s.Category, &s.Heldness, &s.Metric, &s.Value, &s.N, &s.Chance); err != nil {
			return err
		}
		if d.scores[id] == nil {
			d.scores[id] = map[string]scoreRow{}
		}
		if prev, ok := d.scores[id][s.Task]; !ok || metricRank(s.Metric) < metricRank(prev.Metric) {
			d.scores[id][s.Task] = s
		}
	}
	return rows.Err()
}

// taskMetrics lists the tasks whose scores are not accuracy, with their
// metric, sorted by task (a task seen under two metrics is listed under
// each).
func (d *storeData) taskMetrics() []TaskMetric {
	seen := map[TaskMetric]bool{}
	var out []TaskMetric
	for _, tasks := range d.scores {
		for _, s := range tasks {
			if tm := (TaskMetric{s.Task, s.Metric}); s.Metric != "accuracy" && !seen[tm] {
				seen[tm] = true
				out = append(out, tm)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Task != out[j].Task {
			return out[i].Task < out[j].Task
		}
		return out[i].Metric < out[j].Metric
	})
	return out
}
