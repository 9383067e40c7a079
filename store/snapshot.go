package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Snapshot is a results database read into memory at once, for readers
// that aggregate a whole study (the report). Unlike the other readers it
// reads databases of every schema version, and files that hold only some of
// the tables (or none): a column an older schema lacks reads as its
// default, and so does a NULL in a column that should not hold one.
type Snapshot struct {
	// Absent names the tables among runs, models, merges and scores (in
	// that order) that the database lacks; all four for a file that is not
	// a results database. The fields below that such a table would fill are
	// empty.
	Absent []string
	// Run is the latest run, by start time and then id; nil when none is
	// recorded.
	Run *Run
	// Models are every model, ordered by id. Before schema version 3 their
	// Variant reads "{}" and TauNormRatio nil.
	Models []Model
	// Merges are every merge, ordered by model id. Before schema version 3
	// their Variant reads "{}", BaseID "" and ExpertIDs nil. A diagnostic
	// stored as NULL (a NaN written) reads as NaN, not 0 as in DB.Merges.
	Merges []Merge
	// Scores are the scores matching the filter given to DB.Snapshot,
	// ordered by model, task, split and metric.
	Scores []Score
	// Knowledge are the knowledge probes, ordered by model and fact; empty
	// before schema version 5 (the table is not among Absent's).
	Knowledge []KnowledgeProbe
	// KnowledgeScores are the knowledge tasks' scores by known flag,
	// ordered by model, task, split, known and metric; empty before schema
	// version 6.
	KnowledgeScores []KnowledgeScore
}

// snapshotTables are the tables a snapshot reads, in the order of
// Snapshot.Absent.
var snapshotTables = []string{"runs", "models", "merges", "scores"}

// column is one column a snapshot selects: a required one (def "") is
// selected as it is; an optional one is selected as COALESCE(name, def), or
// as def when the table lacks it. def "NULL" keeps a NULL.
type column struct {
	name, def string
}

// selectList renders cols for a table that has the columns in have.
func selectList(cols []column, have map[string]bool) string {
	parts := make([]string, len(cols))
	for i, c := range cols {
		switch {
		case c.def == "" || (c.def == "NULL" && have[c.name]):
			parts[i] = c.name
		case have[c.name]:
			parts[i] = "COALESCE(" + c.name + ", " + c.def + ")"
		default:
			parts[i] = c.def
		}
	}
	return strings.Join(parts, ", ")
}

var (
	snapshotRunColumns = []column{{"id", ""}, {"name", "''"}, {"config_text", "''"}, {"config_hash", "''"},
		{"code_version", "''"}, {"shard", "''"}, {"started_at", "''"}, {"ended_at", "NULL"}, {"world_version", "''"}}
	snapshotModelColumns = []column{{"id", ""}, {"kind", "''"}, {"size", "''"}, {"params", "0"}, {"base_type", "''"},
		{"category", "''"}, {"path", "''"}, {"steps", "0"}, {"final_loss", "0"}, {"wall_seconds", "0"},
		{"variant", "'{}'"}, {"tau_norm_ratio", "NULL"}}
	snapshotMergeColumns = []column{{"model_id", ""}, {"size", "''"}, {"base_type", "''"}, {"k", "0"}, {"subset", "0"},
		{"categories", "''"}, {"method", "''"}, {"hparams", "''"}, {"chosen", "0"}, {"seed", "0"},
		{"wall_seconds", "0"}, {"mean_cosine", "NULL"}, {"sign_conflict", "NULL"}, {"mass_removed", "NULL"},
		{"norm_ratio", "NULL"}, {"diagnostics", "'{}'"}, {"variant", "'{}'"}, {"base_id", "''"}, {"expert_ids", "''"}}
	snapshotScoreColumns = []column{{"model_id", ""}, {"task", ""}, {"category", "''"}, {"heldness", "''"},
		{"split", "''"}, {"metric", "''"}, {"value", ""}, {"n", "0"}, {"chance", "0"}}
)

// Snapshot reads the latest run, every model and merge, and the scores
// that match f (empty fields match everything) into memory, in one
// deferred read transaction: a concurrent writer neither waits for it nor
// shows half of its work in it.
func (d *DB) Snapshot(ctx context.Context, f ScoreFilter) (s *Snapshot, err error) {
	conn, err := d.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: %s: snapshot: %w", d.path, err)
	}
	defer conn.Close()
	// A plain BEGIN, not the handle's BEGIN IMMEDIATE: reading takes no
	// write lock.
	if _, err := conn.ExecContext(ctx, `BEGIN`); err != nil {
		return nil, fmt.Errorf("store: %s: snapshot: begin: %w", d.path, err)
	}
	defer func() {
		if _, rerr := conn.ExecContext(context.Background(), `ROLLBACK`); rerr != nil && err == nil {
			s, err = nil, fmt.Errorf("store: %s: snapshot: end: %w", d.path, rerr)
		}
	}()
	tables, err := tableNames(ctx, conn)
	if err != nil {
		return nil, fmt.Errorf("store: %s: snapshot: list tables: %w", d.path, err)
	}
	s = &Snapshot{}
	for _, t := range snapshotTables {
		if !tables[t] {
			s.Absent = append(s.Absent, t)
			continue
		}
		have, err := columnNames(ctx, conn, t)
		if err != nil {
			return nil, fmt.Errorf("store: %s: snapshot: columns of %s: %w", d.path, t, err)
		}
		switch t {
		case "runs":
			s.Run, err = snapshotRun(ctx, conn, have)
		case "models":
			s.Models, err = snapshotModels(ctx, conn, have)
		case "merges":
			s.Merges, err = snapshotMerges(ctx, conn, have)
		case "scores":
			s.Scores, err = snapshotScores(ctx, conn, have, f)
		}
		if err != nil {
			return nil, fmt.Errorf("store: %s: snapshot: table %s: %w", d.path, t, err)
		}
	}
	if tables["knowledge"] {
		if s.Knowledge, err = snapshotKnowledge(ctx, conn); err != nil {
			return nil, fmt.Errorf("store: %s: snapshot: table knowledge: %w", d.path, err)
		}
	}
	if tables["knowledge_scores"] {
		if s.KnowledgeScores, err = snapshotKnowledgeScores(ctx, conn); err != nil {
			return nil, fmt.Errorf("store: %s: snapshot: table knowledge_scores: %w", d.path, err)
		}
	}
	return s, nil
}

func snapshotKnowledgeScores(ctx context.Context, conn *sql.Conn) ([]KnowledgeScore, error) {
	rows, err := conn.QueryContext(ctx, `SELECT model_id, task, split, known, metric, value, n
		FROM knowledge_scores ORDER BY model_id, task, split, known, metric`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []KnowledgeScore
	for rows.Next() {
		var k KnowledgeScore
		if err := rows.Scan(&k.ModelID, &k.Task, &k.Split, &k.Known, &k.Metric, &k.Value, &k.N); err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

func snapshotKnowledge(ctx context.Context, conn *sql.Conn) ([]KnowledgeProbe, error) {
	rows, err := conn.QueryContext(ctx, `SELECT model_id, size, params, world_version, fact, attribute, exposures, logprob
		FROM knowledge ORDER BY model_id, fact`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []KnowledgeProbe
	for rows.Next() {
		var p KnowledgeProbe
		if err := rows.Scan(&p.ModelID, &p.Size, &p.Params, &p.WorldVersion, &p.Fact, &p.Attribute, &p.Exposures, &p.LogProb); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// tableNames returns the names of the database's tables.
func tableNames(ctx context.Context, conn *sql.Conn) (map[string]bool, error) {
	return names(ctx, conn, `SELECT name FROM sqlite_master WHERE type='table'`)
}

// columnNames returns the column names of table.
func columnNames(ctx context.Context, conn *sql.Conn, table string) (map[string]bool, error) {
	return names(ctx, conn, `SELECT name FROM pragma_table_info(?)`, table)
}

// names runs a query of one text column and returns its values as a set.
func names(ctx context.Context, conn *sql.Conn, query string, args ...any) (map[string]bool, error) {
	rows, err := conn.QueryContext(ctx, query, args...)
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

func snapshotRun(ctx context.Context, conn *sql.Conn, have map[string]bool) (*Run, error) {
	var r Run
	var started string
	var ended sql.NullString
	err := conn.QueryRowContext(ctx, `SELECT `+selectList(snapshotRunColumns, have)+`
		FROM runs ORDER BY started_at DESC, id DESC LIMIT 1`).
		Scan(&r.ID, &r.Name, &r.ConfigText, &r.ConfigHash, &r.CodeVersion, &r.Shard, &started, &ended, &r.WorldVersion)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if started != "" {
		if r.StartedAt, err = time.Parse(timeLayout, started); err != nil {
			return nil, fmt.Errorf("run %d: started_at: %w", r.ID, err)
		}
	}
	if ended.Valid {
		if r.EndedAt, err = time.Parse(timeLayout, ended.String); err != nil {
			return nil, fmt.Errorf("run %d: ended_at: %w", r.ID, err)
		}
	}
	return &r, nil
}

func snapshotModels(ctx context.Context, conn *sql.Conn, have map[string]bool) ([]Model, error) {
	rows, err := conn.QueryContext(ctx, `SELECT `+selectList(snapshotModelColumns, have)+` FROM models ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Model
	for rows.Next() {
		m, err := scanModel(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

func snapshotMerges(ctx context.Context, conn *sql.Conn, have map[string]bool) ([]Merge, error) {
	rows, err := conn.QueryContext(ctx, `SELECT `+selectList(snapshotMergeColumns, have)+` FROM merges ORDER BY model_id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Merge
	for rows.Next() {
		var m Merge
		var cats, experts string
		var chosen int
		var seed int64
		var cosine, conflict, removed, ratio sql.NullFloat64
		if err := rows.Scan(&m.ModelID, &m.Size, &m.BaseType, &m.K, &m.Subset, &cats, &m.Method, &m.HParams, &chosen, &seed,
			&m.WallSeconds, &cosine, &conflict, &removed, &ratio, &m.Diagnostics,
			&m.Variant, &m.BaseID, &experts); err != nil {
			return nil, err
		}
		m.Categories = SplitCategories(cats)
		m.ExpertIDs = SplitCategories(experts)
		m.Chosen = chosen != 0
		m.Seed = uint64(seed)
		m.MeanCosine, m.SignConflict = orNaN(cosine), orNaN(conflict)
		m.MassRemoved, m.NormRatio = orNaN(removed), orNaN(ratio)
		out = append(out, m)
	}
	return out, rows.Err()
}

// orNaN is v's value, or NaN when it is NULL.
func orNaN(v sql.NullFloat64) float64 {
	if !v.Valid {
		return math.NaN()
	}
	return v.Float64
}

func snapshotScores(ctx context.Context, conn *sql.Conn, have map[string]bool, f ScoreFilter) ([]Score, error) {
	where, args := f.where()
	where = append(where, "value IS NOT NULL")
	rows, err := conn.QueryContext(ctx, `SELECT `+selectList(snapshotScoreColumns, have)+` FROM scores
		WHERE `+strings.Join(where, " AND ")+` ORDER BY model_id, task, split, metric`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Score
	for rows.Next() {
		var s Score
		if err := rows.Scan(&s.ModelID, &s.Task, &s.Category, &s.Heldness, &s.Split, &s.Metric, &s.Value, &s.N, &s.Chance); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
