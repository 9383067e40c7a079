package report

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"sort"

	"mergescale/store"
)

// scoreMetrics lists the metrics a task's score may be, in the order the
// report prefers them for one task: its own metric is the first present
// (a task with options stores accuracy, and acc_norm when that is its
// metric; a task without options exact_match, and rouge_l or f1 when that
// is its metric). The report reads test-split scores, each task's by its
// own metric, where the paper shows accuracy.
var scoreMetrics = []string{"acc_norm", store.Accuracy, "rouge_l", "f1", store.ExactMatch}

// metricRank is a metric's place in scoreMetrics (-1: not a score the
// report reads).
func metricRank(m string) int { return slices.Index(scoreMetrics, m) }

// storeData is everything the report reads from a store, in memory.
type storeData struct {
	models map[string]store.Model
	// merges are ordered by model id; each one's Categories sorted, and
	// its ExpertIDs parallel to them or nil.
	merges     []store.Merge
	scores     map[string]map[string]store.Score // model id → task → test score by the task's own metric
	ce         map[string]map[string]store.Score // model id → task → test option_ce
	nll        map[string]map[string]store.Score // model id → task → test gold_nll
	hasCE      bool                              // some model has an option_ce score
	runName    string
	configText string
	missing    []string // what the store lacks, in words
	knowledge  []store.KnowledgeProbe
	// kscores are the knowledge tasks' test scores by known flag: model id
	// → task → known → score; knowledgeTasks the tasks that have them.
	kscores        map[string]map[string]map[string]knownScore
	knowledgeTasks map[string]bool
}

// loadStore reads the store at path into memory: a snapshot of the store
// package (which refuses a newer schema and fills in what an older one
// lacks) holding the test-split scores: each task's by its own metric, and
// the cross-entropies (option_ce, gold_nll) kept apart from them. A missing
// file is an error naming it.
func loadStore(ctx context.Context, path string) (*storeData, error) {
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("store %s: no such file", path)
		}
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	db, err := store.OpenReadOnly(path)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	defer db.Close()
	snap, err := db.Snapshot(ctx, store.ScoreFilter{Split: store.Test})
	if err != nil {
		return nil, err
	}
	d := &storeData{models: map[string]store.Model{}, scores: map[string]map[string]store.Score{},
		ce: map[string]map[string]store.Score{}, nll: map[string]map[string]store.Score{}}
	for _, t := range snap.Absent {
		d.missing = append(d.missing, fmt.Sprintf("the store has no %s table", t))
	}
	switch {
	case snap.Run != nil:
		d.runName, d.configText = snap.Run.Name, snap.Run.ConfigText
	case !slices.Contains(snap.Absent, "runs"):
		d.missing = append(d.missing, "no run is recorded, so the run's config is unknown")
	}
	for _, m := range snap.Models {
		d.models[m.ID] = m
	}
	d.knowledge = snap.Knowledge
	d.kscores, d.knowledgeTasks = map[string]map[string]map[string]knownScore{}, map[string]bool{}
	for _, k := range snap.KnowledgeScores {
		if k.Split != store.Test {
			continue
		}
		d.knowledgeTasks[k.Task] = true
		if d.kscores[k.ModelID] == nil {
			d.kscores[k.ModelID] = map[string]map[string]knownScore{}
		}
		if d.kscores[k.ModelID][k.Task] == nil {
			d.kscores[k.ModelID][k.Task] = map[string]knownScore{}
		}
		ks := d.kscores[k.ModelID][k.Task][k.Known]
		switch k.Metric {
		case store.Accuracy:
			ks.acc = k.Value
		case store.OptionCE:
			ks.ce = k.Value
		}
		d.kscores[k.ModelID][k.Task][k.Known] = ks
	}
	for _, m := range snap.Merges {
		d.merges = append(d.merges, sortedCategories(m))
	}
	for _, s := range snap.Scores {
		var into map[string]map[string]store.Score
		switch s.Metric {
		case store.OptionCE:
			into, d.hasCE = d.ce, true
		case store.GoldNLL:
			into = d.nll
		}
		if into != nil {
			if into[s.ModelID] == nil {
				into[s.ModelID] = map[string]store.Score{}
			}
			into[s.ModelID][s.Task] = s
			continue
		}
		rank := metricRank(s.Metric)
		if rank < 0 {
			continue
		}
		if d.scores[s.ModelID] == nil {
			d.scores[s.ModelID] = map[string]store.Score{}
		}
		if prev, ok := d.scores[s.ModelID][s.Task]; !ok || rank < metricRank(prev.Metric) {
			d.scores[s.ModelID][s.Task] = s
		}
	}
	return d, nil
}

// taskMetrics lists the tasks whose scores are not accuracy, with their
// metric, sorted by task (a task seen under two metrics is listed under
// each).
func (d *storeData) taskMetrics() []TaskMetric {
	seen := map[TaskMetric]bool{}
	var out []TaskMetric
	for _, tasks := range d.scores {
		for _, s := range tasks {
			if tm := (TaskMetric{s.Task, s.Metric}); s.Metric != store.Accuracy && !seen[tm] {
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

// sortedCategories returns m with its categories sorted and its expert ids
// kept parallel to them; expert ids that are not one per category are
// dropped.
func sortedCategories(m store.Merge) store.Merge {
	type pair struct{ cat, expert string }
	var pairs []pair
	ids, cs := m.ExpertIDs, m.Categories
	for i, c := range cs {
		p := pair{cat: c}
		if len(ids) == len(cs) {
			p.expert = ids[i]
		}
		pairs = append(pairs, p)
	}
	sort.SliceStable(pairs, func(i, j int) bool { return pairs[i].cat < pairs[j].cat })
	m.Categories, m.ExpertIDs = nil, nil
	for _, p := range pairs {
		m.Categories = append(m.Categories, p.cat)
		if p.expert != "" {
			m.ExpertIDs = append(m.ExpertIDs, p.expert)
		}
	}
	return m
}
