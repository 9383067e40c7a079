package report

import (
	"context"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"testing"
	"time"

	"mergescale/store"
)

// fixture writes a small store through the store package's typed API
// (store.Open creates the schema), one write per row.
type fixture struct {
	t  *testing.T
	db *store.DB
	// Path is the database file.
	Path string
}

// newFixture creates a store; without schema, an empty file: a database
// without tables.
func newFixture(t *testing.T, withSchema bool) *fixture {
	t.Helper()
	path := filepath.Join(t.TempDir(), "results.db")
	if !withSchema {
		if err := os.WriteFile(path, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		return &fixture{t: t, Path: path}
	}
	d, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return &fixture{t: t, db: d, Path: path}
}

// write runs fn in one transaction of the store, failing the test on an
// error.
func (f *fixture) write(fn func(ctx context.Context, tx *store.Tx) error) {
	f.t.Helper()
	ctx := context.Background()
	if err := f.db.Write(ctx, func(tx *store.Tx) error { return fn(ctx, tx) }); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) run(name, config string) {
	f.t.Helper()
	r := store.Run{Name: name, ConfigText: config, ConfigHash: "hash", CodeVersion: "test",
		StartedAt: time.Date(2024, 10, 1, 0, 0, 0, 0, time.UTC)}
	f.write(func(ctx context.Context, tx *store.Tx) error { _, err := tx.InsertRun(ctx, r); return err })
}

func (f *fixture) model(id, kind, size string, params int64, base, category string) {
	f.t.Helper()
	m := store.Model{ID: id, Kind: kind, Size: size, Params: params, BaseType: base, Category: category}
	f.write(func(ctx context.Context, tx *store.Tx) error { return tx.UpsertModel(ctx, m) })
}

// score inserts a test-split accuracy.
func (f *fixture) score(id, task, category, heldness string, value, chance float64) {
	f.t.Helper()
	f.scoreSplit(id, task, category, heldness, store.Test, store.Accuracy, value, chance)
}

func (f *fixture) scoreSplit(id, task, category, heldness, split, metric string, value, chance float64) {
	f.t.Helper()
	s := store.Score{ModelID: id, Task: task, Category: category, Heldness: heldness, Split: split, Metric: metric,
		Value: value, N: 100, Chance: chance}
	f.write(func(ctx context.Context, tx *store.Tx) error { return tx.InsertScores(ctx, []store.Score{s}) })
}

// modelVariant sets a model's variant and, when tau > 0, its ‖τ‖/‖θ₀‖.
func (f *fixture) modelVariant(id, variant string, tau float64) {
	f.t.Helper()
	var p *float64
	if tau > 0 {
		p = &tau
	}
	f.write(func(ctx context.Context, tx *store.Tx) error { return tx.SetOrigin(ctx, id, variant, p, "", nil, nil) })
}

type mergeSpec struct {
	id, size, base, method, hparams string
	k, subset                       int
	cats                            []string
	chosen                          bool
	signConflict, meanCosine        float64
	// variant, baseID and expertIDs (parallel to cats) are the schema-3
	// columns; empty leaves the defaults (a merge from an older store).
	variant, baseID string
	expertIDs       []string
}

func (f *fixture) merge(m mergeSpec) {
	f.t.Helper()
	sm := store.Merge{ModelID: m.id, Size: m.size, BaseType: m.base, K: m.k, Subset: m.subset, Categories: m.cats,
		Method: m.method, HParams: m.hparams, Chosen: m.chosen, Seed: 7, MeanCosine: m.meanCosine,
		SignConflict: m.signConflict, Variant: m.variant, BaseID: m.baseID, ExpertIDs: m.expertIDs}
	f.write(func(ctx context.Context, tx *store.Tx) error { return tx.InsertMerge(ctx, sm) })
}

// jitter is a deterministic number in [-1, 1) from a key.
func jitter(key string) float64 {
	h := fnv.New64a()
	h.Write([]byte(key))
	return float64(h.Sum64()%2000)/1000 - 1
}

// Synthetic study layout used by the golden tests.
var (
	synthSizes   = []string{"xs", "s", "m"}
	synthParams  = map[string]int64{"xs": 120_000, "s": 480_000, "m": 1_920_000}
	synthBases   = []string{"pt", "it"}
	synthMethods = []string{"linear", "task_arithmetic", "ties", "dare_ties"}
	synthHeldIn  = map[string][]string{"c0": {"c0_a", "c0_b"}, "c1": {"c1_a", "c1_b"},
		"c2": {"c2_a", "c2_b"}, "c3": {"c3_a", "c3_b"}}
	synthHeldInCats = []string{"c0", "c1", "c2", "c3"}
	synthHeldOut    = map[string]string{"h0_a": "h0", "h0_b": "h0", "h1_a": "h1"}
	synthSubsets    = map[int][][]string{2: {{"c0", "c1"}, {"c2", "c3"}, {"c0", "c2"}}, 4: {{"c0", "c1", "c2", "c3"}}}
)

// synthStore builds a deterministic study in which the paper's claims hold
// with noise: IT merges better than PT, larger sizes merge better, held-out
// grows with k, and methods differ less at the largest size.
func synthStore(t *testing.T) *fixture {
	f := newFixture(t, true)
	f.run("synthetic", "name: synthetic\nout: results/synthetic\nsizes: [xs, s, m]\n")
	const chance = 0.25
	for si, size := range synthSizes {
		p := synthParams[size]
		for bi, base := range synthBases {
			q := 0.35 + 0.1*float64(bi) + 0.05*float64(si) // base's held-out quality
			baseID := fmt.Sprintf("base-%s-%s", base, size)
			f.model(baseID, "base", size, p, base, "")
			for task, cat := range synthHeldOut {
				f.score(baseID, task, cat, store.HeldOut, q+0.02*jitter(baseID+task), chance)
			}
			for _, cat := range synthHeldInCats {
				for _, task := range synthHeldIn[cat] {
					f.score(baseID, task, cat, store.HeldIn, 0.3+0.02*jitter(baseID+task), chance)
				}
				id := fmt.Sprintf("expert-%s-%s-%s", base, size, cat)
				f.model(id, "expert", size, p, base, cat)
				f.modelVariant(id, "{}", 0.05+0.01*float64(si)+0.02*float64(bi)+0.005*jitter(id))
				for _, task := range synthHeldIn[cat] {
					f.score(id, task, cat, store.HeldIn, 0.85+0.05*jitter(id+task), chance)
				}
				for task, hc := range synthHeldOut {
					f.score(id, task, hc, store.HeldOut, q*1.02+0.02*jitter(id+task), chance)
				}
			}
			mt := fmt.Sprintf("multitask-%s-%s", base, size)
			f.model(mt, "multitask", size, p, base, "")
			for _, cat := range synthHeldInCats {
				for _, task := range synthHeldIn[cat] {
					f.score(mt, task, cat, store.HeldIn, 0.82+0.03*jitter(mt+task), chance)
				}
			}
			for task, hc := range synthHeldOut {
				f.score(mt, task, hc, store.HeldOut, q*(1.08+0.01*float64(si))+0.01*jitter(mt+task), chance)
			}
			for mi, method := range synthMethods {
				for _, k := range []int{2, 4} {
					for sub, cats := range synthSubsets[k] {
						// Held-in retention: better for IT, for larger sizes, worse for larger k;
						// methods spread by 0.08 at xs and 0.02 at m.
						spread := 0.08 - 0.03*float64(si)
						keep := 0.55 + 0.12*float64(bi) + 0.08*float64(si) - 0.05*float64(k-2) +
							spread*(float64(mi)-1.5)/1.5
						gen := 1.0 + 0.02*float64(k) + 0.015*float64(si) + 0.02*float64(bi)
						for _, chosen := range []bool{true, false} {
							id := fmt.Sprintf("merge-%s-%s-%s-k%d-s%d-%v", base, size, method, k, sub, chosen)
							f.model(id, "merged", size, p, base, "")
							hp := `{"lambda":1}`
							if !chosen {
								hp = `{"lambda":0.5}`
							}
							var eids []string
							for _, c := range cats {
								eids = append(eids, fmt.Sprintf("expert-%s-%s-%s", base, size, c))
							}
							f.merge(mergeSpec{id: id, size: size, base: base, method: method, hparams: hp,
								k: k, subset: sub, cats: cats, chosen: chosen, baseID: baseID, expertIDs: eids,
								signConflict: 0.2 + 0.04*float64(k) - 0.03*float64(si) + 0.01*jitter(id),
								meanCosine:   0.05 + 0.04*float64(si) - 0.01*float64(k) + 0.01*jitter(id+"c")})
							off := 0.0
							if !chosen {
								off = -0.2 // never enters the aggregates
							}
							for _, cat := range synthHeldInCats {
								for _, task := range synthHeldIn[cat] {
									f.score(id, task, cat, store.HeldIn, 0.85*keep+off+0.03*jitter(id+task), chance)
								}
							}
							for task, hc := range synthHeldOut {
								f.score(id, task, hc, store.HeldOut, q*gen+off+0.03*jitter(id+task), chance)
							}
						}
					}
				}
			}
		}
	}
	return f
}
