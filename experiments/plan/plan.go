package plan

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"

	"mergescale/experiments/config"
)

// Kind is the kind of a plan job.
type Kind string

// Job kinds, in the order they run.
const (
	KindPretrain   Kind = "pretrain"   // train the pt base of a size from scratch on the corpus
	KindInstruct   Kind = "instruct"   // instruction-tune the pt base into the it base
	KindExpert     Kind = "expert"     // fine-tune a base on one held-in category
	KindMultitask  Kind = "multitask"  // fine-tune a base on all held-in categories
	KindCheckpoint Kind = "checkpoint" // record an existing checkpoint of zoo.checkpoints (no training)
	KindMerge      Kind = "merge"      // merge k experts of one base at one hyperparameter point
	KindEval       Kind = "eval"       // evaluate a model on one split
)

// Kinds returns every job kind in execution order.
func Kinds() []Kind {
	return []Kind{KindPretrain, KindInstruct, KindExpert, KindMultitask, KindCheckpoint, KindMerge, KindEval}
}

// IsTraining reports whether jobs of kind k train a zoo model.
func (k Kind) IsTraining() bool {
	return k == KindPretrain || k == KindInstruct || k == KindExpert || k == KindMultitask
}

// StageVersion is the code version of a stage. It is part of every job key
// of that kind: bump it when a change to the stage's code changes its
// artifacts, and exactly those jobs (and the jobs that depend on them) get
// new keys.
func StageVersion(k Kind) string {
	switch k {
	case KindPretrain, KindInstruct, KindExpert, KindMultitask:
		return "train-1"
	case KindCheckpoint:
		return "checkpoint-1"
	case KindMerge:
		return "merge-1"
	case KindEval:
		return "eval-1"
	}
	return "unknown"
}

// Scope says which tasks an evaluation covers.
type Scope struct {
	HeldIn  []string `json:"held_in"`  // held-in categories whose tasks are evaluated, canonical order
	HeldOut bool     `json:"held_out"` // whether every held-out task is evaluated too
}

// Cell is one (variant, size, base, k, subset, method) of the sweep: the
// merges that compete in one hyperparameter selection.
type Cell struct {
	// Variant is the canonical JSON of the listed zoo keys that determine
	// the cell's base and experts ("{}" without lists).
	Variant    string
	Size       string
	Base       string // config.BasePT or config.BaseIT
	K          int
	Subset     int      // index among the subsets of k
	Categories []string // the merged experts' categories, canonical order
	Method     string
	// Key is a hash of the cell's content (base and expert keys, method). A
	// cell's merges and evaluations all land in the shard this key picks.
	Key string
	// Last is the key of the cell's last job: the evaluation of its chosen
	// point on the held-in tasks outside its categories, or its selection
	// when the cell merges every category. Once it is done no merged
	// checkpoint of the cell is needed.
	Last string
}

// Job is one node of the plan. Fields that do not apply to a kind are zero.
type Job struct {
	// Key is the job's content address: a hex SHA-256 of everything that
	// determines its artifact (see the package doc). Training and merge
	// artifacts live under ArtifactDir.
	Key  string
	Kind Kind
	// Deps are the keys of the jobs that must finish first, in a fixed order.
	Deps []string

	Size string
	// Base is the base type of the produced model: pt for pretrain, it for
	// instruct, and the base the model descends from for expert, multitask
	// and merge jobs.
	Base string
	// Category is an expert's held-in category.
	Category string
	// Role (checkpoint jobs) is the store kind of the registered model:
	// base, expert or multitask; Path is the checkpoint's absolute path.
	Role, Path string
	// Categories are a multitask model's or a merge's categories.
	Categories []string
	// Stage holds the training settings of a training job.
	Stage config.Stage
	// Variant is the canonical JSON of the listed zoo keys that determine
	// the job's model ("{}" without lists); set on training and merge jobs.
	Variant string
	// Seed seeds the job's randomness (training data order and init, DARE's
	// drops). It derives from the config seed and the job's identity.
	Seed uint64

	// Merge jobs: Parent is the base model's job key; Experts the expert
	// job keys in Categories order.
	Parent  string
	Experts []string
	Method  string
	// HParams is the hyperparameter point; HParamsJSON its canonical JSON
	// (sorted keys), as stored in merges.hparams.
	HParams     map[string]float64
	HParamsJSON string

	// Cell is set on merge jobs and their evaluations.
	Cell *Cell
	K    int // merge: number of experts
	// Subset is the merge's subset index among the subsets of K.
	Subset int

	// Eval jobs: Model is the key of the job whose model is evaluated.
	// A selection eval instead has Candidates, the cell's merge keys: it
	// picks the one with the best mean score of its validation eval (the
	// matching entry of Deps), marks it chosen, and evaluates it on Split.
	Model      string
	Candidates []string
	// Chosen (an evaluation of a cell's chosen point beyond its selection)
	// is the key of the selection job whose chosen merge it evaluates;
	// Deps holds it too.
	Chosen string
	Split  string // "validation" or "test"
	Scope  Scope
}

// IsSelection reports whether j is the evaluation of a cell's chosen point.
func (j *Job) IsSelection() bool { return j.Kind == KindEval && len(j.Candidates) > 0 }

// IsChosenEval reports whether j evaluates the point that a cell's
// selection chose (on tasks beyond the selection's own scope).
func (j *Job) IsChosenEval() bool { return j.Kind == KindEval && j.Chosen != "" }

// ClosesCell reports whether j is its cell's last job.
func (j *Job) ClosesCell() bool { return j.Cell != nil && j.Cell.Last == j.Key }

// ArtifactDir is where a training or merge job's model lives, relative to
// the config's out dir: zoo/<key> or merged/<key>. Eval jobs have none: their
// scores go to the store.
//
// A checkpoint job's model lives outside out/, at Path.
func (j *Job) ArtifactDir() string {
	switch {
	case j.Kind.IsTraining():
		return "zoo/" + j.Key
	case j.Kind == KindMerge:
		return "merged/" + j.Key
	}
	return ""
}

// ShardKey is the hash that decides a job's shard: the cell key for a merge
// and its evaluations (so a cell's selection sees all its points), the job
// key for other evaluations.
func (j *Job) ShardKey() string {
	if j.Cell != nil {
		return j.Cell.Key
	}
	return j.Key
}

// hashJSON returns the hex SHA-256 of v's JSON encoding (maps encode with
// sorted keys, so equal content gives equal hashes).
func hashJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		// Only non-finite floats make Marshal fail, and checked configs
		// have none; fold the error in rather than panic.
		b = fmt.Appendf(nil, "unencodable %#v: %v", v, err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// deriveSeed maps its parts to a 63-bit seed (63 so it fits SQLite's
// signed integers).
func deriveSeed(parts ...any) uint64 {
	b, _ := hex.DecodeString(hashJSON(append([]any{"seed"}, parts...)))
	return binary.BigEndian.Uint64(b[:8]) >> 1
}

// canonicalJSON encodes a hyperparameter point with sorted keys.
func canonicalJSON(m map[string]float64) string {
	if len(m) == 0 {
		return "{}"
	}
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Sprintf("%v", m)
	}
	return string(b)
}

// Subsets returns the expert subsets for k experts out of cats: the
// min(want, C(len(cats), k)) combinations that rank first by a hash of
// (seed, k, combination). They are therefore distinct, depend only on the
// seed, and a larger want only appends subsets. Each subset lists its
// categories in the order of cats.
func Subsets(seed int64, cats []string, k, want int) [][]string {
	if k <= 0 || k > len(cats) || want <= 0 {
		return nil
	}
	type ranked struct {
		rank string
		set  []string
	}
	var all []ranked
	idx := make([]int, k)
	for i := range idx {
		idx[i] = i
	}
	for {
		set := make([]string, k)
		for i, x := range idx {
			set[i] = cats[x]
		}
		all = append(all, ranked{rank: hashJSON([]any{"subset", seed, k, set}), set: set})
		// Next combination in lexicographic order.
		i := k - 1
		for i >= 0 && idx[i] == len(cats)-k+i {
			i--
		}
		if i < 0 {
			break
		}
		idx[i]++
		for j := i + 1; j < k; j++ {
			idx[j] = idx[j-1] + 1
		}
	}
	sort.Slice(all, func(a, b int) bool { return all[a].rank < all[b].rank })
	if want > len(all) {
		want = len(all)
	}
	out := make([][]string, want)
	for i := range out {
		out[i] = all[i].set
	}
	return out
}
