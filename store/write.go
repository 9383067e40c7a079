package store

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Model kinds (models.kind).
const (
	KindUntrained = "untrained"
	KindBase      = "base" // base_type pt (pretrained) or it (instruction-tuned)
	KindExpert    = "expert"
	KindMultitask = "multitask"
	KindMerged    = "merged"
)

// Score vocabularies (scores.heldness, scores.split, scores.metric).
const (
	HeldIn     = "held_in"
	HeldOut    = "held_out"
	Validation = "validation"
	Test       = "test"
	Accuracy   = "accuracy"
	ExactMatch = "exact_match"
	// OptionCE is the mean over examples of −log softmax, over a task's
	// options, of the options' log-likelihoods at the gold option; its
	// chance is the mean of ln K (K options).
	OptionCE = "option_ce"
	// GoldNLL is the mean over examples of the gold continuation's negative
	// log-likelihood divided by its UTF-8 bytes as sent; no chance level.
	GoldNLL = "gold_nll"
)

// Run is one invocation of a config (a row of runs).
type Run struct {
	ID          int64
	Name        string
	ConfigText  string
	ConfigHash  string
	CodeVersion string
	Shard       string    // "i/n", or "" for an unsharded run
	StartedAt   time.Time // stored as RFC 3339 UTC with nanoseconds
	EndedAt     time.Time // zero while the run is going (or was killed)
	// WorldVersion is the world the run generated its data from
	// (world.version, e.g. "suite-4"); "" for runs recorded before schema
	// version 5.
	WorldVersion string
}

// KnowledgeProbe is one fact of the suite-5 knowledge base as one base
// model knows it (a row of knowledge).
type KnowledgeProbe struct {
	ModelID      string
	Size         string
	Params       int64
	WorldVersion string
	Fact         string  // "<first>_<surname>/<attribute>"
	Attribute    string  // the fact's attribute
	Exposures    int     // pretraining documents that state the fact
	LogProb      float64 // Σ log p(value tokens | <bos> cloze context)
}

// KnowledgeScore is a knowledge task's score over the instances whose fact
// the model's base knows (Known "yes") or does not (Known "no"): a row of
// knowledge_scores. The score over all instances is a Score.
type KnowledgeScore struct {
	ModelID string
	Task    string
	Split   string
	Known   string // KnownYes or KnownNo
	Metric  string // "accuracy" or OptionCE
	Value   float64
	N       int
}

// The values of KnowledgeScore.Known.
const (
	KnownYes = "yes"
	KnownNo  = "no"
)

// Model is a trained or merged model (a row of models).
type Model struct {
	ID          string // content hash of everything that determines it
	Kind        string // KindUntrained, KindBase, KindExpert, KindMultitask or KindMerged
	Size        string // size preset name
	Params      int64  // parameter count
	BaseType    string // "pt" or "it"; "" for untrained
	Category    string // an expert's held-in category, "" otherwise
	Path        string // artifact dir relative to out/; "" once pruned
	Steps       int
	FinalLoss   float64
	WallSeconds float64
	// Variant is the canonical JSON of the swept zoo keys that determine
	// the model, e.g. {"zoo.expert.lr":0.002}; "" stores "{}" (no sweep).
	Variant string
	// TauNormRatio is an expert's ‖θ − θ₀‖ ÷ ‖θ₀‖ over all its tensors, θ₀
	// its base; nil when not recorded (other kinds, older stores).
	TauNormRatio *float64
}

// Merge describes how a merged model was made (a row of merges). Its model
// must be inserted first (or in the same transaction).
type Merge struct {
	ModelID      string
	Size         string
	BaseType     string
	K            int
	Subset       int      // index of the subset among the subsets of its k
	Categories   []string // the merged experts' categories; stored sorted, comma-separated
	Method       string
	HParams      string // canonical JSON of the hyperparameter point, e.g. {"density":0.2,"lambda":1}
	Chosen       bool   // selected on validation for its cell
	Seed         uint64
	WallSeconds  float64
	MeanCosine   float64
	SignConflict float64
	MassRemoved  float64
	NormRatio    float64
	Diagnostics  string // the merge engine's full statistics as JSON; "" stores "{}"
	// Variant is the canonical JSON of the swept zoo keys that determine
	// the merge (those of its base and experts); "" stores "{}".
	Variant string
	// BaseID is the id of the base model the merge was built on.
	BaseID string
	// ExpertIDs are the merged experts' model ids, parallel to Categories
	// (ExpertIDs[i] is the expert of Categories[i]); stored in the order
	// of the sorted categories, comma-separated. Empty or of Categories'
	// length.
	ExpertIDs []string
}

// Score is one metric of one model on one task split (a row of scores).
type Score struct {
	ModelID  string
	Task     string
	Category string
	Heldness string // HeldIn or HeldOut
	Split    string // Validation or Test
	Metric   string // Accuracy, ExactMatch, OptionCE or GoldNLL
	Value    float64
	N        int     // number of examples
	Chance   float64 // the metric's expected value for a uniform guess
}

// Cell identifies the merges that compete in one hyperparameter selection.
type Cell struct {
	Variant  string // canonical JSON of the merges' swept zoo keys; "" means "{}"
	Size     string
	BaseType string
	K        int
	Subset   int
	Method   string
}

const timeLayout = time.RFC3339Nano

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// InsertRun records the start of a run and returns its id. A run with the
// same (name, config hash, code version, shard, start time) is not added
// twice; its existing id is returned.
func (d *DB) InsertRun(ctx context.Context, r Run) (int64, error) {
	var id int64
	err := d.Write(ctx, func(tx *Tx) error {
		var err error
		id, err = tx.InsertRun(ctx, r)
		return err
	})
	return id, err
}

// InsertRun is DB.InsertRun inside a transaction.
func (tx *Tx) InsertRun(ctx context.Context, r Run) (int64, error) {
	if r.StartedAt.IsZero() {
		return 0, fmt.Errorf("store: run %q: start time missing", r.Name)
	}
	var ended any
	if !r.EndedAt.IsZero() {
		ended = formatTime(r.EndedAt)
	}
	started := formatTime(r.StartedAt)
	_, err := tx.tx.ExecContext(ctx, `INSERT OR IGNORE INTO runs(name, config_text, config_hash, code_version, shard, started_at, ended_at, world_version)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, r.Name, r.ConfigText, r.ConfigHash, r.CodeVersion, r.Shard, started, ended, r.WorldVersion)
	if err != nil {
		return 0, fmt.Errorf("store: insert run %q: %w", r.Name, err)
	}
	var id int64
	err = tx.tx.QueryRowContext(ctx, `SELECT id FROM runs WHERE name=? AND config_hash=? AND code_version=? AND shard=? AND started_at=?`,
		r.Name, r.ConfigHash, r.CodeVersion, r.Shard, started).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("store: insert run %q: %w", r.Name, err)
	}
	return id, nil
}

// InsertKnowledge records knowledge probes, replacing a model's earlier
// probe of the same fact.
func (d *DB) InsertKnowledge(ctx context.Context, ps []KnowledgeProbe) error {
	return d.Write(ctx, func(tx *Tx) error { return tx.InsertKnowledge(ctx, ps) })
}

// InsertKnowledge is DB.InsertKnowledge inside a transaction.
func (tx *Tx) InsertKnowledge(ctx context.Context, ps []KnowledgeProbe) error {
	stmt, err := tx.tx.PrepareContext(ctx, `INSERT OR REPLACE INTO knowledge(model_id, size, params, world_version, fact, attribute, exposures, logprob)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("store: insert knowledge: %w", err)
	}
	defer stmt.Close()
	for _, p := range ps {
		if p.ModelID == "" || p.Fact == "" || p.WorldVersion == "" {
			return fmt.Errorf("store: knowledge probe %+v: model id, fact and world version are required", p)
		}
		if _, err := stmt.ExecContext(ctx, p.ModelID, p.Size, p.Params, p.WorldVersion, p.Fact, p.Attribute, p.Exposures, p.LogProb); err != nil {
			return fmt.Errorf("store: insert knowledge %s/%s: %w", p.ModelID, p.Fact, err)
		}
	}
	return nil
}

// InsertKnowledgeScores records knowledge-task scores by known flag (rows
// already present are kept: scores are deterministic).
func (tx *Tx) InsertKnowledgeScores(ctx context.Context, ks []KnowledgeScore) error {
	if len(ks) == 0 {
		return nil
	}
	stmt, err := tx.tx.PrepareContext(ctx, `INSERT OR IGNORE INTO knowledge_scores(model_id, task, split, known, metric, value, n)
		VALUES (?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("store: insert knowledge scores: %w", err)
	}
	defer stmt.Close()
	for _, k := range ks {
		where := fmt.Sprintf("store: knowledge score %s/%s/%s/%s/%s", k.ModelID, k.Task, k.Split, k.Known, k.Metric)
		switch {
		case k.ModelID == "" || k.Task == "" || k.Metric == "":
			return fmt.Errorf("%s: model, task and metric are required", where)
		case k.Known != KnownYes && k.Known != KnownNo:
			return fmt.Errorf("%s: known %q is neither %q nor %q", where, k.Known, KnownYes, KnownNo)
		case k.Split != Validation && k.Split != Test:
			return fmt.Errorf("%s: split %q is neither %q nor %q", where, k.Split, Validation, Test)
		case k.N <= 0 || math.IsNaN(k.Value) || math.IsInf(k.Value, 0):
			return fmt.Errorf("%s: value %g over %d instances", where, k.Value, k.N)
		}
		if _, err := stmt.ExecContext(ctx, k.ModelID, k.Task, k.Split, k.Known, k.Metric, k.Value, k.N); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
	}
	return nil
}

// KnowledgeOf returns the knowledge probes of one model, ordered by fact.
func (d *DB) KnowledgeOf(ctx context.Context, modelID string) ([]KnowledgeProbe, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT model_id, size, params, world_version, fact, attribute, exposures, logprob
		FROM knowledge WHERE model_id = ? ORDER BY fact`, modelID)
	if err != nil {
		return nil, fmt.Errorf("store: %s: knowledge of %s: %w", d.path, modelID, err)
	}
	defer rows.Close()
	var out []KnowledgeProbe
	for rows.Next() {
		var p KnowledgeProbe
		if err := rows.Scan(&p.ModelID, &p.Size, &p.Params, &p.WorldVersion, &p.Fact, &p.Attribute, &p.Exposures, &p.LogProb); err != nil {
			return nil, fmt.Errorf("store: %s: knowledge of %s: %w", d.path, modelID, err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// FinishRun sets the end time of run id.
func (d *DB) FinishRun(ctx context.Context, id int64, end time.Time) error {
	return d.Write(ctx, func(tx *Tx) error {
		res, err := tx.tx.ExecContext(ctx, `UPDATE runs SET ended_at=? WHERE id=?`, formatTime(end), id)
		if err != nil {
			return fmt.Errorf("store: finish run %d: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("store: finish run %d: no such run", id)
		}
		return nil
	})
}

// UpsertModel inserts m, or updates every column of the model with m's id.
func (d *DB) UpsertModel(ctx context.Context, m Model) error {
	return d.Write(ctx, func(tx *Tx) error { return tx.UpsertModel(ctx, m) })
}

// UpsertModel is DB.UpsertModel inside a transaction.
func (tx *Tx) UpsertModel(ctx context.Context, m Model) error {
	if err := checkModel(m); err != nil {
		return err
	}
	var tau any
	if m.TauNormRatio != nil {
		tau = *m.TauNormRatio
	}
	_, err := tx.tx.ExecContext(ctx, `INSERT INTO models(id, kind, size, params, base_type, category, path, steps, final_loss, wall_seconds,
			variant, tau_norm_ratio)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(id) DO UPDATE SET kind=excluded.kind, size=excluded.size, params=excluded.params,
			base_type=excluded.base_type, category=excluded.category, path=excluded.path, steps=excluded.steps,
			final_loss=excluded.final_loss, wall_seconds=excluded.wall_seconds, variant=excluded.variant,
			tau_norm_ratio=excluded.tau_norm_ratio`,
		m.ID, m.Kind, m.Size, m.Params, m.BaseType, m.Category, m.Path, m.Steps, m.FinalLoss, m.WallSeconds,
		VariantOrEmpty(m.Variant), tau)
	if err != nil {
		return fmt.Errorf("store: upsert model %s: %w", m.ID, err)
	}
	return nil
}

func checkModel(m Model) error {
	if m.ID == "" {
		return fmt.Errorf("store: model of kind %q has no id", m.Kind)
	}
	switch m.Kind {
	case KindUntrained, KindBase, KindExpert, KindMultitask, KindMerged:
	default:
		return fmt.Errorf("store: model %s: unknown kind %q", m.ID, m.Kind)
	}
	if m.Size == "" {
		return fmt.Errorf("store: model %s: size missing", m.ID)
	}
	return nil
}

// SetOrigin brings the recorded origin of model id in line with the plan
// that made it: its variant (models.variant, and merges.variant for a
// merge), an expert's ‖τ‖ ÷ ‖θ₀‖ when tau is non-nil, and a merge's base and
// experts (expertIDs parallel to cats) when baseID is non-empty. A content
// hash names the same model under any config, so a rerun relabels models a
// new config lists zoo keys for (or no longer does); rows it does not
// concern are left alone. A missing model is not an error.
func (tx *Tx) SetOrigin(ctx context.Context, id, variant string, tau *float64, baseID string, cats, expertIDs []string) error {
	v := VariantOrEmpty(variant)
	if _, err := tx.tx.ExecContext(ctx, `UPDATE models SET variant=? WHERE id=? AND variant<>?`, v, id, v); err != nil {
		return fmt.Errorf("store: set origin of model %s: %w", id, err)
	}
	if tau != nil {
		if _, err := tx.tx.ExecContext(ctx, `UPDATE models SET tau_norm_ratio=? WHERE id=?`, *tau, id); err != nil {
			return fmt.Errorf("store: set origin of model %s: %w", id, err)
		}
	}
	if _, err := tx.tx.ExecContext(ctx, `UPDATE merges SET variant=? WHERE model_id=? AND variant<>?`, v, id, v); err != nil {
		return fmt.Errorf("store: set origin of merge %s: %w", id, err)
	}
	if baseID != "" {
		if len(expertIDs) != len(cats) {
			return fmt.Errorf("store: set origin of merge %s: %d expert ids for %d categories", id, len(expertIDs), len(cats))
		}
		if _, err := tx.tx.ExecContext(ctx, `UPDATE merges SET base_id=?, expert_ids=? WHERE model_id=?`,
			baseID, joinExpertIDs(cats, expertIDs), id); err != nil {
			return fmt.Errorf("store: set origin of merge %s: %w", id, err)
		}
	}
	return nil
}

// SetModelPath changes the artifact path of model id ("" once its checkpoint
// is deleted).
func (d *DB) SetModelPath(ctx context.Context, id, path string) error {
	return d.Write(ctx, func(tx *Tx) error { return tx.SetModelPath(ctx, id, path) })
}

// SetModelPath is DB.SetModelPath inside a transaction.
func (tx *Tx) SetModelPath(ctx context.Context, id, path string) error {
	res, err := tx.tx.ExecContext(ctx, `UPDATE models SET path=? WHERE id=?`, path, id)
	if err != nil {
		return fmt.Errorf("store: set path of model %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("store: set path of model %s: no such model", id)
	}
	return nil
}

// InsertMerge records a merge; a merge already recorded for the model is
// left as it is.
func (d *DB) InsertMerge(ctx context.Context, m Merge) error {
	return d.Write(ctx, func(tx *Tx) error { return tx.InsertMerge(ctx, m) })
}

// InsertMerge is DB.InsertMerge inside a transaction.
func (tx *Tx) InsertMerge(ctx context.Context, m Merge) error {
	if m.ModelID == "" {
		return fmt.Errorf("store: merge %s/%s k=%d: model id missing", m.Size, m.Method, m.K)
	}
	diag := m.Diagnostics
	if diag == "" {
		diag = "{}"
	}
	hp := m.HParams
	if hp == "" {
		hp = "{}"
	}
	if len(m.ExpertIDs) != 0 && len(m.ExpertIDs) != len(m.Categories) {
		return fmt.Errorf("store: insert merge %s: %d expert ids for %d categories", m.ModelID, len(m.ExpertIDs), len(m.Categories))
	}
	_, err := tx.tx.ExecContext(ctx, `INSERT OR IGNORE INTO merges(model_id, size, base_type, k, subset, categories, method, hparams,
			chosen, seed, wall_seconds, mean_cosine, sign_conflict, mass_removed, norm_ratio, diagnostics,
			variant, base_id, expert_ids)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		m.ModelID, m.Size, m.BaseType, m.K, m.Subset, JoinCategories(m.Categories), m.Method, hp,
		boolInt(m.Chosen), int64(m.Seed), m.WallSeconds, m.MeanCosine, m.SignConflict, m.MassRemoved, m.NormRatio, diag,
		VariantOrEmpty(m.Variant), m.BaseID, joinExpertIDs(m.Categories, m.ExpertIDs))
	if err != nil {
		return fmt.Errorf("store: insert merge %s: %w", m.ModelID, err)
	}
	return nil
}

// SetChosen marks modelID as the chosen point of cell c and every other
// merge of the cell as not chosen.
func (d *DB) SetChosen(ctx context.Context, c Cell, modelID string) error {
	return d.Write(ctx, func(tx *Tx) error { return tx.SetChosen(ctx, c, modelID) })
}

// SetChosen is DB.SetChosen inside a transaction.
func (tx *Tx) SetChosen(ctx context.Context, c Cell, modelID string) error {
	_, err := tx.tx.ExecContext(ctx, `UPDATE merges SET chosen = (model_id = ?)
		WHERE variant=? AND size=? AND base_type=? AND k=? AND subset=? AND method=?`,
		modelID, VariantOrEmpty(c.Variant), c.Size, c.BaseType, c.K, c.Subset, c.Method)
	if err != nil {
		return fmt.Errorf("store: choose %s for %+v: %w", modelID, c, err)
	}
	var n int
	if err := tx.tx.QueryRowContext(ctx, `SELECT count(*) FROM merges WHERE model_id=? AND chosen=1`, modelID).Scan(&n); err != nil {
		return fmt.Errorf("store: choose %s for %+v: %w", modelID, c, err)
	}
	if n != 1 {
		return fmt.Errorf("store: choose %s for %+v: the merge is not in that cell", modelID, c)
	}
	return nil
}

// InsertScores records scores; a score already recorded under the same
// (model, task, split, metric) is left as it is.
func (d *DB) InsertScores(ctx context.Context, scores []Score) error {
	return d.Write(ctx, func(tx *Tx) error { return tx.InsertScores(ctx, scores) })
}

// InsertScores is DB.InsertScores inside a transaction.
func (tx *Tx) InsertScores(ctx context.Context, scores []Score) error {
	if len(scores) == 0 {
		return nil
	}
	stmt, err := tx.tx.PrepareContext(ctx, `INSERT OR IGNORE INTO scores(model_id, task, category, heldness, split, metric, value, n, chance)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("store: insert scores: %w", err)
	}
	defer stmt.Close()
	for _, s := range scores {
		if err := checkScore(s); err != nil {
			return err
		}
		if _, err := stmt.ExecContext(ctx, s.ModelID, s.Task, s.Category, s.Heldness, s.Split, s.Metric, s.Value, s.N, s.Chance); err != nil {
			return fmt.Errorf("store: insert score %s/%s/%s/%s: %w", s.ModelID, s.Task, s.Split, s.Metric, err)
		}
	}
	return nil
}

func checkScore(s Score) error {
	where := fmt.Sprintf("store: score %s/%s/%s/%s", s.ModelID, s.Task, s.Split, s.Metric)
	if s.ModelID == "" || s.Task == "" || s.Metric == "" {
		return fmt.Errorf("%s: model, task and metric are required", where)
	}
	if s.Heldness != HeldIn && s.Heldness != HeldOut {
		return fmt.Errorf("%s: heldness %q is neither %q nor %q", where, s.Heldness, HeldIn, HeldOut)
	}
	if s.Split != Validation && s.Split != Test {
		return fmt.Errorf("%s: split %q is neither %q nor %q", where, s.Split, Validation, Test)
	}
	return nil
}

// MarkJobDone records that the plan job with this key has finished; commit
// it in the transaction that holds the job's results. Marking twice is a
// no-op.
func (tx *Tx) MarkJobDone(ctx context.Context, key, kind, modelID string, wallSeconds float64) error {
	if key == "" {
		return fmt.Errorf("store: mark %s job done: empty key", kind)
	}
	_, err := tx.tx.ExecContext(ctx, `INSERT OR IGNORE INTO jobs(key, kind, model_id, wall_seconds) VALUES (?, ?, ?, ?)`,
		key, kind, modelID, wallSeconds)
	if err != nil {
		return fmt.Errorf("store: mark job %s done: %w", key, err)
	}
	return nil
}

// SetJobLog records the log file of a job marked done in this transaction
// (an evaluation's evaluator output), as a path relative to the study's
// out folder.
func (tx *Tx) SetJobLog(ctx context.Context, key, path string) error {
	if _, err := tx.tx.ExecContext(ctx, `UPDATE jobs SET log_path = ? WHERE key = ?`, path, key); err != nil {
		return fmt.Errorf("store: set the log of job %s: %w", key, err)
	}
	return nil
}

// Exec runs one arbitrary statement inside the transaction (for the rare
// write the typed API lacks).
func (tx *Tx) Exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return tx.tx.ExecContext(ctx, query, args...)
}

// JoinCategories is the stored form of a category list: sorted and
// comma-separated.
func JoinCategories(cats []string) string {
	s := append([]string(nil), cats...)
	slices.Sort(s)
	return strings.Join(s, ",")
}

// VariantOrEmpty is the stored form of a variant: "{}" for "".
func VariantOrEmpty(v string) string {
	if v == "" {
		return "{}"
	}
	return v
}

// joinExpertIDs orders ids like JoinCategories orders cats (ids[i] is the
// expert of cats[i]) and joins them with commas.
func joinExpertIDs(cats, ids []string) string {
	if len(ids) == 0 {
		return ""
	}
	idx := make([]int, len(cats))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return strings.Compare(cats[a], cats[b]) })
	out := make([]string, len(ids))
	for i, j := range idx {
		out[i] = ids[j]
	}
	return strings.Join(out, ",")
}

// SplitCategories is the inverse of JoinCategories.
func SplitCategories(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
