package store

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
)

// GatherStats counts the rows Gather added to the destination, per table.
type GatherStats struct {
	Runs, Models, Merges, Scores, Jobs, Knowledge, KnowledgeScores int64
}

// gatherTables lists the tables Gather copies, parents before children so
// that foreign keys hold at every step, with the statement that copies
// them from the attached database "src".
var gatherTables = []struct {
	name string
	sql  string
}{
	{"runs", `INSERT INTO main.runs(name, config_text, config_hash, code_version, shard, started_at, ended_at, world_version)
		SELECT name, config_text, config_hash, code_version, shard, started_at, ended_at, world_version FROM src.runs WHERE true
		ON CONFLICT(name, config_hash, code_version, shard, started_at)
		DO UPDATE SET ended_at = coalesce(runs.ended_at, excluded.ended_at)`},
	{"models", `INSERT INTO main.models(id, kind, size, params, base_type, category, path, steps, final_loss, wall_seconds,
			variant, tau_norm_ratio)
		SELECT id, kind, size, params, base_type, category, path, steps, final_loss, wall_seconds,
			variant, tau_norm_ratio FROM src.models WHERE true
		ON CONFLICT(id) DO UPDATE SET variant = excluded.variant,
			tau_norm_ratio = coalesce(excluded.tau_norm_ratio, models.tau_norm_ratio)`},
	{"merges", `INSERT INTO main.merges(model_id, size, base_type, k, subset, categories, method, hparams, chosen, seed,
			wall_seconds, mean_cosine, sign_conflict, mass_removed, norm_ratio, diagnostics, variant, base_id, expert_ids)
		SELECT model_id, size, base_type, k, subset, categories, method, hparams, chosen, seed,
			wall_seconds, mean_cosine, sign_conflict, mass_removed, norm_ratio, diagnostics, variant, base_id, expert_ids
		FROM src.merges WHERE true
		ON CONFLICT(model_id) DO UPDATE SET chosen = max(merges.chosen, excluded.chosen), variant = excluded.variant,
			base_id = CASE WHEN excluded.base_id <> '' THEN excluded.base_id ELSE merges.base_id END,
			expert_ids = CASE WHEN excluded.expert_ids <> '' THEN excluded.expert_ids ELSE merges.expert_ids END`},
	{"scores", `INSERT OR IGNORE INTO main.scores(model_id, task, category, heldness, split, metric, value, n, chance)
		SELECT model_id, task, category, heldness, split, metric, value, n, chance FROM src.scores`},
	{"jobs", `INSERT INTO main.jobs(key, kind, model_id, wall_seconds, log_path)
		SELECT key, kind, model_id, wall_seconds, log_path FROM src.jobs WHERE true
		ON CONFLICT(key) DO UPDATE SET log_path = CASE WHEN jobs.log_path = '' THEN excluded.log_path ELSE jobs.log_path END`},
	{"knowledge", `INSERT OR IGNORE INTO main.knowledge(model_id, size, params, world_version, fact, attribute, exposures, logprob)
		SELECT model_id, size, params, world_version, fact, attribute, exposures, logprob FROM src.knowledge`},
	{"knowledge_scores", `INSERT OR IGNORE INTO main.knowledge_scores(model_id, task, split, known, metric, value, n)
		SELECT model_id, task, split, known, metric, value, n FROM src.knowledge_scores`},
}

// Gather merges the shard databases srcs into the database dst (created when
// missing). It is idempotent: rows already in dst (by the tables' unique
// keys; runs by name, config hash, code version, shard and start time) are
// not added again, so gathering the same shards twice, or a shard into a
// database that already holds part of it, yields the union. A merge that is
// chosen in any source stays chosen. A row already present takes the
// source's variant (the source is the later run's), and its missing
// tau_norm_ratio, base_id and expert_ids from the source. Each source is copied in one
// transaction. Sources are only read.
func Gather(ctx context.Context, dst string, srcs ...string) (GatherStats, error) {
	var st GatherStats
	if len(srcs) == 0 {
		return st, fmt.Errorf("store: gather into %s: no shard databases given", dst)
	}
	dstAbs, _ := filepath.Abs(dst)
	for _, src := range srcs {
		if a, _ := filepath.Abs(src); a == dstAbs {
			return st, fmt.Errorf("store: gather: %s is both the destination and a shard", src)
		}
		s, err := OpenReadOnly(src)
		if err != nil {
			return st, fmt.Errorf("store: gather: %w", err)
		}
		v, err := s.SchemaVersion(ctx)
		s.Close()
		if err != nil {
			return st, fmt.Errorf("store: gather: %w", err)
		}
		if v != len(migrations) {
			return st, fmt.Errorf("store: gather: %s has schema version %d, want %d (open it read-write once with this mergescale to migrate it)", src, v, len(migrations))
		}
	}
	d, err := Open(dst)
	if err != nil {
		return st, err
	}
	defer d.Close()
	for _, src := range srcs {
		if err := d.gatherOne(ctx, src, &st); err != nil {
			return st, err
		}
	}
	return st, nil
}

func (d *DB) gatherOne(ctx context.Context, src string, st *GatherStats) (err error) {
	conn, err := d.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("store: gather %s: %w", src, err)
	}
	defer conn.Close()
	uri := "file:" + strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(src) + "?mode=ro"
	if _, err := conn.ExecContext(ctx, `ATTACH DATABASE ? AS src`, uri); err != nil {
		return fmt.Errorf("store: gather: attach %s: %w", src, err)
	}
	defer func() {
		if _, derr := conn.ExecContext(context.Background(), `DETACH DATABASE src`); derr != nil && err == nil {
			err = fmt.Errorf("store: gather: detach %s: %w", src, derr)
		}
	}()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: gather %s: begin: %w", src, err)
	}
	defer tx.Rollback()
	added := make([]int64, len(gatherTables))
	for i, t := range gatherTables {
		var before, after int64
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM main.`+t.name).Scan(&before); err != nil {
			return fmt.Errorf("store: gather %s: count %s: %w", src, t.name, err)
		}
		if _, err := tx.ExecContext(ctx, t.sql); err != nil {
			return fmt.Errorf("store: gather %s: copy %s: %w", src, t.name, err)
		}
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM main.`+t.name).Scan(&after); err != nil {
			return fmt.Errorf("store: gather %s: count %s: %w", src, t.name, err)
		}
		added[i] = after - before
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: gather %s: commit: %w", src, err)
	}
	st.Runs += added[0]
	st.Models += added[1]
	st.Merges += added[2]
	st.Scores += added[3]
	st.Jobs += added[4]
	st.Knowledge += added[5]
	st.KnowledgeScores += added[6]
	return nil
}
