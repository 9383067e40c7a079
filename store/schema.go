package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// migrations are applied in order; migrations[i] brings a database from
// schema version i to i+1. Never edit a released migration: append a new one.
// Table and column names are a contract with the report package and with
// users' saved queries (docs/DESIGN.md): only add.
var migrations = []string{
	// 1: the four tables of docs/DESIGN.md.
	`
CREATE TABLE runs (
	id           INTEGER PRIMARY KEY,
	name         TEXT NOT NULL,
	config_text  TEXT NOT NULL,
	config_hash  TEXT NOT NULL,
	code_version TEXT NOT NULL,
	shard        TEXT NOT NULL DEFAULT '',
	started_at   TEXT NOT NULL,
	ended_at     TEXT
);
CREATE TABLE models (
	id           TEXT PRIMARY KEY,
	kind         TEXT NOT NULL,
	size         TEXT NOT NULL,
	params       INTEGER NOT NULL DEFAULT 0,
	base_type    TEXT NOT NULL DEFAULT '',
	category     TEXT NOT NULL DEFAULT '',
	path         TEXT NOT NULL DEFAULT '',
	steps        INTEGER NOT NULL DEFAULT 0,
	final_loss   REAL,
	wall_seconds REAL NOT NULL DEFAULT 0
);
CREATE TABLE merges (
	model_id      TEXT PRIMARY KEY REFERENCES models(id),
	size          TEXT NOT NULL,
	base_type     TEXT NOT NULL,
	k             INTEGER NOT NULL,
	subset        INTEGER NOT NULL,
	categories    TEXT NOT NULL,
	method        TEXT NOT NULL,
	hparams       TEXT NOT NULL,
	chosen        INTEGER NOT NULL DEFAULT 0,
	seed          INTEGER NOT NULL,
	wall_seconds  REAL NOT NULL DEFAULT 0,
	mean_cosine   REAL,
	sign_conflict REAL,
	mass_removed  REAL,
	norm_ratio    REAL,
	diagnostics   TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE scores (
	model_id TEXT NOT NULL REFERENCES models(id),
	task     TEXT NOT NULL,
	category TEXT NOT NULL,
	heldness TEXT NOT NULL,
	split    TEXT NOT NULL,
	metric   TEXT NOT NULL,
	value    REAL NOT NULL,
	n        INTEGER NOT NULL,
	chance   REAL NOT NULL DEFAULT 0,
	PRIMARY KEY (model_id, task, split, metric)
);
`,
	// 2: finished-job markers, the runs' natural key (for gather) and
	// lookup indexes.
	`
CREATE TABLE jobs (
	key          TEXT PRIMARY KEY,
	kind         TEXT NOT NULL,
	model_id     TEXT NOT NULL DEFAULT '',
	wall_seconds REAL NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX runs_natural_key ON runs(name, config_hash, code_version, shard, started_at);
CREATE INDEX merges_cell ON merges(size, base_type, k, subset, method);
CREATE INDEX scores_split ON scores(split, heldness);
CREATE INDEX models_kind ON models(kind, size, base_type);
`,
	// 3: zoo variants. A model's and a merge's variant is the canonical
	// JSON of the swept zoo keys that determine it ('{}' without sweeps);
	// a merge records the models it was built from; an expert records
	// ‖τ‖ ÷ ‖θ₀‖ of its task vector.
	`
ALTER TABLE models ADD COLUMN variant TEXT NOT NULL DEFAULT '{}';
ALTER TABLE models ADD COLUMN tau_norm_ratio REAL;
ALTER TABLE merges ADD COLUMN variant TEXT NOT NULL DEFAULT '{}';
ALTER TABLE merges ADD COLUMN base_id TEXT NOT NULL DEFAULT '';
ALTER TABLE merges ADD COLUMN expert_ids TEXT NOT NULL DEFAULT '';
CREATE INDEX merges_variant_cell ON merges(variant, size, base_type, k, subset, method);
`,
	// 4: an evaluation job's evaluator output is kept in a log file; the
	// job row holds its path ('' for other jobs and older rows).
	`
ALTER TABLE jobs ADD COLUMN log_path TEXT NOT NULL DEFAULT '';
`,
	// 5: the world version of a run ('' for runs recorded before it was
	// kept: those ran suite-4 or older), and the knowledge probe of a base
	// (one row per base and fact of the suite-5 knowledge base: the base's
	// summed log-probability of the fact's value after its cloze, and how
	// many pretraining documents stated the fact).
	`
ALTER TABLE runs ADD COLUMN world_version TEXT NOT NULL DEFAULT '';
CREATE TABLE knowledge (
	model_id      TEXT NOT NULL,
	size          TEXT NOT NULL,
	params        INTEGER NOT NULL DEFAULT 0,
	world_version TEXT NOT NULL,
	fact          TEXT NOT NULL,
	attribute     TEXT NOT NULL,
	exposures     INTEGER NOT NULL,
	logprob       REAL NOT NULL,
	PRIMARY KEY (model_id, fact)
);
`,
	// 6: scores of knowledge tasks split by whether the model's base knows
	// the instance's fact (its knowledge probe: p > 0.5): one row per
	// model, task, split, known ('yes' or 'no') and metric (accuracy,
	// option_ce). The row over all instances is the scores table's.
	`
CREATE TABLE knowledge_scores (
	model_id TEXT NOT NULL,
	task     TEXT NOT NULL,
	split    TEXT NOT NULL,
	known    TEXT NOT NULL,
	metric   TEXT NOT NULL,
	value    REAL NOT NULL,
	n        INTEGER NOT NULL,
	PRIMARY KEY (model_id, task, split, known, metric)
);
`,
}

// SchemaVersion reports the database's schema version (0 for an empty file).
func (d *DB) SchemaVersion(ctx context.Context) (int, error) {
	return schemaVersion(ctx, d.db, d.path)
}

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func schemaVersion(ctx context.Context, q querier, path string) (int, error) {
	var n int
	err := q.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type='table' AND name='schema_version'`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: %s: read schema version: %w", path, err)
	}
	if n == 0 {
		return 0, nil
	}
	var v int
	err = q.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("store: %s: read schema version: %w", path, err)
	}
	return v, nil
}

// migrate applies the missing migrations up to version target, each in its
// own immediate transaction that re-reads the version first, so that several
// processes opening one new database at once migrate it exactly once.
func (d *DB) migrate(ctx context.Context, target int) error {
	for {
		done := false
		err := d.Write(ctx, func(tx *Tx) error {
			if _, err := tx.tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
				return fmt.Errorf("store: %s: create schema_version: %w", d.path, err)
			}
			v, err := schemaVersion(ctx, tx.tx, d.path)
			if err != nil {
				return err
			}
			if v > len(migrations) {
				return fmt.Errorf("store: %s has schema version %d, newer than this mergescale knows (%d)", d.path, v, len(migrations))
			}
			if v >= target {
				done = true
				return nil
			}
			if _, err := tx.tx.ExecContext(ctx, migrations[v]); err != nil {
				return fmt.Errorf("store: %s: migration %d: %w", d.path, v+1, err)
			}
			if _, err := tx.tx.ExecContext(ctx, `DELETE FROM schema_version`); err != nil {
				return fmt.Errorf("store: %s: migration %d: %w", d.path, v+1, err)
			}
			if _, err := tx.tx.ExecContext(ctx, `INSERT INTO schema_version(version) VALUES (?)`, v+1); err != nil {
				return fmt.Errorf("store: %s: migration %d: %w", d.path, v+1, err)
			}
			return nil
		})
		if err != nil || done {
			return err
		}
	}
}

// SchemaVersionLatest is the schema version this package writes.
func SchemaVersionLatest() int { return len(migrations) }
