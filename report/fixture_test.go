package report

import (
	"database/sql"
	"fmt"
	"hash/fnv"
	"path/filepath"
	"strings"
	"testing"

	"mergescale/store"
)

// fixture writes a small store through database/sql: the schema is the
// store package's (store.Open), the rows are inserted directly so that tests
// control every column.
type fixture struct {
	t  *testing.T
	db *sql.DB
	// Path is the database file.
	Path string
}

func newFixture(t *testing.T, withSchema bool) *fixture {
	t.Helper()
	path := filepath.Join(t.TempDir(), "results.db")
	var db *sql.DB
	if withSchema {
		// The real schema, created and migrated by the store package.
		d, err := store.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		db = d.SQL()
	} else {
		var err error
		if db, err = sql.Open("sqlite3", "file:"+path); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if _, err := db.Exec(`CREATE TABLE unrelated(x INTEGER)`); err != nil {
			t.Fatal(err)
		}
	}
	db.SetMaxOpenConns(1) // the pragma below holds per connection
	if _, err := db.Exec(`PRAGMA synchronous=OFF`); err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, db: db, Path: path}
}

func (f *fixture) exec(q string, args ...any) {
	f.t.Helper()
	if _, err := f.db.Exec(q, args...); err != nil {
		f.t.Fatalf("%s: %v", q, err)
	}
}

func (f *fixture) run(name, config string) {
	f.exec(`INSERT INTO runs(name, config_text, config_hash, code_version, started_at) VALUES(?,?,?,?,?)`,
		name, config, "hash", "test", "2024-10-01T00:00:00Z")
}

func (f *fixture) model(id, kind, size string, params int64, base, category string) {
	f.exec(`INSERT INTO models(id, kind, size, params, base_type, category, path) VALUES(?,?,?,?,?,?,'')`,
		id, kind, size, params, base, category)
}

// score inserts a test-split accuracy.
func (f *fixture) score(id, task, category, heldness string, value, chance float64) {
	f.scoreSplit(id, task, category, heldness, "test", "accuracy", value, chance)
}

func (f *fixture) scoreSplit(id, task, category, heldness, split, metric string, value, chance float64) {
	f.exec(`INSERT INTO scores(model_id, task, category, heldness, split, metric, value, n, chance)
		VALUES(?,?,?,?,?,?,?,?,?)`, id, task, category, heldness, split, metric, value, 100, chance)
}

// modelVariant sets a model's variant and, when tau > 0, its ‖τ‖/‖θ₀‖.
func (f *fixture) modelVariant(id, variant string, tau float64) {
	if tau > 0 {
		f.exec(`UPDATE models SET variant=?, tau_norm_ratio=? WHERE id=?`, variant, tau, id)
	} else {
		f.exec(`UPDATE models SET variant=? WHERE id=?`, variant, id)
	}
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
	chosen := 0
	if m.chosen {
		chosen = 1
	}
	if m.variant == "" {
		m.variant = "{}"
	}
	f.exec(`INSERT INTO merges(model_id, size, base_type, k, subset, categories, method, hparams,
		chosen, seed, mean_cosine, sign_conflict, variant, base_id, expert_ids) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		m.id, m.size, m.base, m.k, m.subset, strings.Join(m.cats, ","), m.method, m.hparams,
		chosen, 7, m.meanCosine, m.signConflict, m.variant, m.baseID, strings.Join(m.expertIDs, ","))
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
				f.score(baseID, task, cat, heldOut, q+0.02*jitter(baseID+task), chance)
			}
			for _, cat := range synthHeldInCats {
				for _, task := range synthHeldIn[cat] {
					f.score(baseID, task, cat, heldIn, 0.3+0.02*jitter(baseID+task), chance)
				}
				id := fmt.Sprintf("expert-%s-%s-%s", base, size, cat)
				f.model(id, "expert", size, p, base, cat)
				f.modelVariant(id, "{}", 0.05+0.01*float64(si)+0.02*float64(bi)+0.005*jitter(id))
				for _, task := range synthHeldIn[cat] {
					f.score(id, task, cat, heldIn, 0.85+0.05*jitter(id+task), chance)
				}
				for task, hc := range synthHeldOut {
					f.score(id, task, hc, heldOut, q*1.02+0.02*jitter(id+task), chance)
				}
			}
			mt := fmt.Sprintf("multitask-%s-%s", base, size)
			f.model(mt, "multitask", size, p, base, "")
			for _, cat := range synthHeldInCats {
				for _, task := range synthHeldIn[cat] {
					f.score(mt, task, cat, heldIn, 0.82+0.03*jitter(mt+task), chance)
				}
			}
			for task, hc := range synthHeldOut {
				f.score(mt, task, hc, heldOut, q*(1.08+0.01*float64(si))+0.01*jitter(mt+task), chance)
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
									f.score(id, task, cat, heldIn, 0.85*keep+off+0.03*jitter(id+task), chance)
								}
							}
							for task, hc := range synthHeldOut {
								f.score(id, task, hc, heldOut, q*gen+off+0.03*jitter(id+task), chance)
							}
						}
					}
				}
			}
		}
	}
	return f
}
