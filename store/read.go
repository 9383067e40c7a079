package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Runs returns every run, oldest first.
func (d *DB) Runs(ctx context.Context) ([]Run, error) {
	// A store opened read-only before schema version 5 has no
	// world_version: it reads as ''.
	var hasWorld int
	if err := d.db.QueryRowContext(ctx, `SELECT count(*) FROM pragma_table_info('runs') WHERE name = 'world_version'`).Scan(&hasWorld); err != nil {
		return nil, fmt.Errorf("store: %s: list runs: %w", d.path, err)
	}
	world := "''"
	if hasWorld > 0 {
		world = "world_version"
	}
	rows, err := d.db.QueryContext(ctx, `SELECT id, name, config_text, config_hash, code_version, shard, started_at, ended_at, `+world+`
		FROM runs ORDER BY started_at, id`)
	if err != nil {
		return nil, fmt.Errorf("store: %s: list runs: %w", d.path, err)
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		var r Run
		var started string
		var ended sql.NullString
		if err := rows.Scan(&r.ID, &r.Name, &r.ConfigText, &r.ConfigHash, &r.CodeVersion, &r.Shard, &started, &ended, &r.WorldVersion); err != nil {
			return nil, fmt.Errorf("store: %s: list runs: %w", d.path, err)
		}
		if r.StartedAt, err = time.Parse(timeLayout, started); err != nil {
			return nil, fmt.Errorf("store: %s: run %d: started_at: %w", d.path, r.ID, err)
		}
		if ended.Valid {
			if r.EndedAt, err = time.Parse(timeLayout, ended.String); err != nil {
				return nil, fmt.Errorf("store: %s: run %d: ended_at: %w", d.path, r.ID, err)
			}
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: %s: list runs: %w", d.path, err)
	}
	return out, nil
}

const modelColumns = `id, kind, size, params, base_type, category, path, steps, coalesce(final_loss, 0), wall_seconds,
	variant, tau_norm_ratio`

func scanModel(sc interface{ Scan(...any) error }) (Model, error) {
	var m Model
	var tau sql.NullFloat64
	err := sc.Scan(&m.ID, &m.Kind, &m.Size, &m.Params, &m.BaseType, &m.Category, &m.Path, &m.Steps, &m.FinalLoss, &m.WallSeconds,
		&m.Variant, &tau)
	if tau.Valid {
		m.TauNormRatio = &tau.Float64
	}
	return m, err
}

// Models returns every model, ordered by kind, size, base type, category and id.
func (d *DB) Models(ctx context.Context) ([]Model, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT `+modelColumns+` FROM models ORDER BY kind, size, base_type, category, id`)
	if err != nil {
		return nil, fmt.Errorf("store: %s: list models: %w", d.path, err)
	}
	defer rows.Close()
	var out []Model
	for rows.Next() {
		m, err := scanModel(rows)
		if err != nil {
			return nil, fmt.Errorf("store: %s: list models: %w", d.path, err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: %s: list models: %w", d.path, err)
	}
	return out, nil
}

// Model returns the model with this id; ok is false when there is none.
func (d *DB) Model(ctx context.Context, id string) (m Model, ok bool, err error) {
	m, err = scanModel(d.db.QueryRowContext(ctx, `SELECT `+modelColumns+` FROM models WHERE id=?`, id))
	if err == sql.ErrNoRows {
		return Model{}, false, nil
	}
	if err != nil {
		return Model{}, false, fmt.Errorf("store: %s: model %s: %w", d.path, id, err)
	}
	return m, true, nil
}

// Merges returns every merge, ordered by cell and hyperparameters.
func (d *DB) Merges(ctx context.Context) ([]Merge, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT model_id, size, base_type, k, subset, categories, method, hparams, chosen, seed,
			wall_seconds, coalesce(mean_cosine, 0), coalesce(sign_conflict, 0), coalesce(mass_removed, 0), coalesce(norm_ratio, 0), diagnostics,
			variant, base_id, expert_ids
		FROM merges ORDER BY variant, size, base_type, k, subset, method, hparams, model_id`)
	if err != nil {
		return nil, fmt.Errorf("store: %s: list merges: %w", d.path, err)
	}
	defer rows.Close()
	var out []Merge
	for rows.Next() {
		var m Merge
		var cats, experts string
		var chosen int
		var seed int64
		if err := rows.Scan(&m.ModelID, &m.Size, &m.BaseType, &m.K, &m.Subset, &cats, &m.Method, &m.HParams, &chosen, &seed,
			&m.WallSeconds, &m.MeanCosine, &m.SignConflict, &m.MassRemoved, &m.NormRatio, &m.Diagnostics,
			&m.Variant, &m.BaseID, &experts); err != nil {
			return nil, fmt.Errorf("store: %s: list merges: %w", d.path, err)
		}
		m.Categories = SplitCategories(cats)
		m.ExpertIDs = SplitCategories(experts)
		m.Chosen = chosen != 0
		m.Seed = uint64(seed)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: %s: list merges: %w", d.path, err)
	}
	return out, nil
}

// ChosenMerge returns the model id of the chosen merge of cell c; ok is
// false when the cell has none (its selection has not run).
func (d *DB) ChosenMerge(ctx context.Context, c Cell) (id string, ok bool, err error) {
	err = d.db.QueryRowContext(ctx, `SELECT model_id FROM merges
		WHERE variant=? AND size=? AND base_type=? AND k=? AND subset=? AND method=? AND chosen=1`,
		VariantOrEmpty(c.Variant), c.Size, c.BaseType, c.K, c.Subset, c.Method).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("store: %s: chosen merge of %+v: %w", d.path, c, err)
	}
	return id, true, nil
}

// ScoreFilter selects scores; empty fields match everything.
type ScoreFilter struct {
	ModelID  string
	Split    string
	Heldness string
	Task     string
	Category string
	Metric   string
}

// where renders f as SQL conditions (to be joined with AND) and their
// arguments.
func (f ScoreFilter) where() (conds []string, args []any) {
	add := func(col, val string) {
		if val != "" {
			conds = append(conds, col+"=?")
			args = append(args, val)
		}
	}
	add("model_id", f.ModelID)
	add("split", f.Split)
	add("heldness", f.Heldness)
	add("task", f.Task)
	add("category", f.Category)
	add("metric", f.Metric)
	return conds, args
}

// Scores returns the scores matching f, ordered by model, split, task and metric.
func (d *DB) Scores(ctx context.Context, f ScoreFilter) ([]Score, error) {
	where, args := f.where()
	q := `SELECT model_id, task, category, heldness, split, metric, value, n, chance FROM scores`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY model_id, split, task, metric"
	rows, err := d.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: %s: list scores: %w", d.path, err)
	}
	defer rows.Close()
	var out []Score
	for rows.Next() {
		var s Score
		if err := rows.Scan(&s.ModelID, &s.Task, &s.Category, &s.Heldness, &s.Split, &s.Metric, &s.Value, &s.N, &s.Chance); err != nil {
			return nil, fmt.Errorf("store: %s: list scores: %w", d.path, err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: %s: list scores: %w", d.path, err)
	}
	return out, nil
}

// HasScores reports whether any score of model modelID on split is stored.
func (d *DB) HasScores(ctx context.Context, modelID, split string) (bool, error) {
	var n int
	err := d.db.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT 1 FROM scores WHERE model_id=? AND split=? LIMIT 1)`, modelID, split).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("store: %s: scores of %s on %s: %w", d.path, modelID, split, err)
	}
	return n > 0, nil
}

// JobDone reports whether the plan job with this key has been marked done.
func (d *DB) JobDone(ctx context.Context, key string) (bool, error) {
	var n int
	if err := d.db.QueryRowContext(ctx, `SELECT count(*) FROM jobs WHERE key=?`, key).Scan(&n); err != nil {
		return false, fmt.Errorf("store: %s: job %s: %w", d.path, key, err)
	}
	return n > 0, nil
}

// DoneJobs returns the keys of every job marked done.
func (d *DB) DoneJobs(ctx context.Context) (map[string]bool, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT key FROM jobs`)
	if err != nil {
		return nil, fmt.Errorf("store: %s: list jobs: %w", d.path, err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, fmt.Errorf("store: %s: list jobs: %w", d.path, err)
		}
		out[k] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: %s: list jobs: %w", d.path, err)
	}
	return out, nil
}

// Table is the result of an ad-hoc query: column names and rows of values
// rendered as text (NULL as "NULL").
type Table struct {
	Columns []string
	Rows    [][]string
}

// Query runs one SQL statement and returns its result as text. On a
// database opened with OpenReadOnly every statement that writes fails.
func (d *DB) Query(ctx context.Context, query string, args ...any) (*Table, error) {
	rows, err := d.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: %s: query: %w", d.path, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, fmt.Errorf("store: %s: query: %w", d.path, err)
	}
	t := &Table{Columns: cols}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("store: %s: query: %w", d.path, err)
		}
		row := make([]string, len(cols))
		for i, v := range vals {
			row[i] = formatValue(v)
		}
		t.Rows = append(t.Rows, row)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: %s: query: %w", d.path, err)
	}
	return t, nil
}

func formatValue(v any) string {
	switch v := v.(type) {
	case nil:
		return "NULL"
	case []byte:
		return string(v)
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	case time.Time:
		return v.UTC().Format(timeLayout)
	default:
		return fmt.Sprint(v)
	}
}
