package config

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"mergescale/world"
)

// Config is a study: the task-suite world, the model zoo and the merge
// sweep. Field comments give the YAML key; configs/README.md documents each.
type Config struct {
	Name string `mapstructure:"name" json:"name" schema:"required"`                      // name
	Seed int64  `mapstructure:"seed" json:"seed" schema:"range=[0,4611686018427387904]"` // seed: derives every job's seed and the expert subsets
	Out  string `mapstructure:"out" json:"out"`                                          // out: output dir (default results/<name>)
	// MergedDir is where merged checkpoints live while a cell needs them
	// (merged_dir; default <out>/merged), e.g. a node's local scratch. A
	// location, never part of a key.
	MergedDir string `mapstructure:"merged_dir" json:"merged_dir,omitempty"`
	// DB is the results store (db; default <out>/results.db); the stores of
	// shards go beside it. A location, never part of a key.
	DB string `mapstructure:"db" json:"db,omitempty"`
	// ZooDir is where trained models live (zoo_dir; default <out>/zoo).
	// Studies that name one directory share every model whose settings
	// agree, since a model's directory is its content-addressed job key.
	ZooDir  string `mapstructure:"zoo_dir" json:"zoo_dir,omitempty"`
	World   World  `mapstructure:"world" json:"world"`                                      // world
	Zoo     Zoo    `mapstructure:"zoo" json:"zoo"`                                          // zoo
	Sweep   Sweep  `mapstructure:"sweep" json:"sweep"`                                      // sweep
	Workers int    `mapstructure:"workers" json:"workers" schema:"default=1 range=[1,256]"` // workers: parallel jobs
	// Eval selects the evaluator backend; omitted from the hash when it is
	// the default, so configs without the section keep their hash.
	Eval EvalConfig `mapstructure:"eval" json:"eval,omitzero"`
	// Tasks reads the task set from a folder instead of the built-in world.
	Tasks TasksConfig `mapstructure:"tasks" json:"tasks,omitzero"`

	// Path is the file the config was read from ("" when parsed from bytes
	// without a name).
	Path string `mapstructure:"-" json:"-"`
	// Text is the file's content as read, before environment overrides.
	Text []byte `mapstructure:"-" json:"-"`
	// Overrides lists the MERGESCALE_* variables that changed a key, as
	// "NAME=value", sorted.
	Overrides []string `mapstructure:"-" json:"-"`
}

// World configures the task suite.
type World struct {
	Seed       int64 `mapstructure:"seed" json:"seed" schema:"range=[0,4611686018427387904]"`           // world.seed (default: the top-level seed)
	Validation int   `mapstructure:"validation" json:"validation" schema:"default=32 range=[1,100000]"` // examples per task in the validation split
	Test       int   `mapstructure:"test" json:"test" schema:"default=64 range=[1,100000]"`             // examples per task in the test split
	Train      int   `mapstructure:"train" json:"train" schema:"range=[0,1000000]"`                     // training examples per task; 0: the suite's default
	// Version selects the world's generator (world.Versions): suite-4, the
	// default, or suite-5, the knowledge world. The default is left out of
	// the config's JSON (Hash), so configs written before the key existed
	// keep their hash.
	Version string `mapstructure:"version" json:"version,omitempty" schema:"default=suite-4"`
}

// TasksConfig is the tasks section.
type TasksConfig struct {
	Dir string `mapstructure:"dir" json:"dir,omitempty"` // a folder in the layout of `mergescale suite --export`
	// Seed draws the examples tasks.max_examples keeps (tasks.seed;
	// default: the top-level seed).
	Seed int64 `mapstructure:"seed" json:"seed,omitempty" schema:"range=[0,4611686018427387904]"`
	// MaxExamples caps the examples of each split of every task
	// (tasks.max_examples: one integer for every split, or a mapping of
	// train, validation and test; 0 or absent: no cap).
	MaxExamples MaxExamples `mapstructure:"max_examples" json:"max_examples,omitzero" schema:"int"`
}

// MaxExamples is tasks.max_examples: the most examples kept per task in
// each split (0: all).
type MaxExamples struct {
	Train      int `mapstructure:"train" json:"train,omitempty" schema:"range=[0,1000000000]"`
	Validation int `mapstructure:"validation" json:"validation,omitempty" schema:"range=[0,1000000000]"`
	Test       int `mapstructure:"test" json:"test,omitempty" schema:"range=[0,1000000000]"`
}

// Caps returns tasks.max_examples as the task set's split caps.
func (t TasksConfig) Caps() world.SplitCaps {
	return world.SplitCaps{Train: t.MaxExamples.Train, Validation: t.MaxExamples.Validation, Test: t.MaxExamples.Test}
}

// Zoo configures the models every merge starts from: the built-in zoo
// (sizes, bases and training stages) or existing checkpoints.
type Zoo struct {
	// Checkpoints replaces the built-in zoo with existing checkpoints.
	Checkpoints []ZooCheckpoint `mapstructure:"-" json:"checkpoints,omitempty"`
	// RawCheckpoints receives zoo.checkpoints from viper; Checkpoints is
	// built from the checked YAML tree.
	RawCheckpoints []map[string]any `mapstructure:"checkpoints" json:"-" schema:"kind=checkpoints"`

	Sizes     []string `mapstructure:"sizes" json:"sizes" schema:"required"` // model size presets
	Bases     []string `mapstructure:"bases" json:"bases" schema:"required"` // "pt" and/or "it"
	Pretrain  Stage    `mapstructure:"pretrain" json:"pretrain"`             // language-model pretraining (the pt base)
	Instruct  Stage    `mapstructure:"instruct" json:"instruct"`             // instruction tuning of pt (the it base)
	Expert    Stage    `mapstructure:"expert" json:"expert"`                 // one expert per held-in category
	Multitask Stage    `mapstructure:"multitask" json:"multitask"`           // all held-in categories at once

	// Swept lists the stage keys given as lists, in file order. The Stage
	// fields above hold each list's first value (the default variant);
	// Variants expands the full product.
	Swept []SweptKey `mapstructure:"-" json:"swept,omitempty"`
}

// SweptKey is a zoo training key given as a list of values: every value is
// tried, in every combination with the other swept keys' values.
type SweptKey struct {
	Key    string    `json:"key"`    // dotted path, e.g. zoo.expert.lr
	Values []float64 `json:"values"` // in file order; integers for integer keys
}

// Stage holds the training settings of one zoo stage; the fields match
// model.TrainConfig.
type Stage struct {
	Steps       int     `mapstructure:"steps" json:"steps" schema:"required range=[1,10000000] list"`
	Batch       int     `mapstructure:"batch" json:"batch" schema:"default=16 range=[1,4096] list"`
	LR          float64 `mapstructure:"lr" json:"lr" schema:"default=0.001 range=(0,1] list"`
	WeightDecay float64 `mapstructure:"weight_decay" json:"weight_decay" schema:"default=0.01 range=[0,1] list"`
	WarmupFrac  float64 `mapstructure:"warmup_frac" json:"warmup_frac" schema:"default=0.05 range=[0,1] list"`
	ClipNorm    float64 `mapstructure:"clip_norm" json:"clip_norm" schema:"default=1 range=[0,1e6] list"`
	Dropout     float64 `mapstructure:"dropout" json:"dropout" schema:"range=[0,1) list"`
}

// Sweep configures the merges.
type Sweep struct {
	Experts []int        `mapstructure:"experts" json:"experts" schema:"required"`                // numbers of merged experts k
	Subsets int          `mapstructure:"subsets" json:"subsets" schema:"default=3 range=[1,100]"` // random category subsets per k (at most C(8, k))
	Methods []MethodGrid `mapstructure:"-" json:"methods"`                                        // methods and their hyperparameter grids
	// RawMethods receives sweep.methods from viper; Methods is built from it.
	RawMethods []map[string]any `mapstructure:"methods" json:"-" schema:"required kind=methods"`
	SelectOn   string           `mapstructure:"select_on" json:"select_on" schema:"default=validation"` // split the best grid point is chosen on
	KeepMerged bool             `mapstructure:"keep_merged" json:"keep_merged"`                         // keep merged checkpoints once scored
	// DType is the merged checkpoints' dtype: "" keeps the base's (float32
	// for the built-in zoo), or float32, float16, bfloat16.
	DType string `mapstructure:"dtype" json:"dtype,omitempty"`
}

// MethodGrid is one merge method and the values to try for each of its
// hyperparameters; the grid is their Cartesian product.
type MethodGrid struct {
	Method string               `json:"method"`
	Params map[string][]float64 `json:"params,omitempty"` // parameter name → values, in config order
}

// Bases.
const (
	BasePT = "pt" // pretrained
	BaseIT = "it" // instruction-tuned from pt
)

// Load reads, checks and returns the config at path, with the process's
// MERGESCALE_* environment variables applied. It reads no file but path.
func Load(path string) (*Config, error) {
	return LoadEnv(path, os.LookupEnv)
}

// LoadEnv is Load with the environment given as a lookup function
// (os.LookupEnv, or a map in tests).
func LoadEnv(path string, lookup func(string) (string, bool)) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, data, lookup)
}

// StorePath is the results database of the config: db, else
// <out>/results.db.
func (c *Config) StorePath() string {
	if c.DB != "" {
		return c.DB
	}
	return filepath.Join(c.Out, "results.db")
}

// MergedPath is the folder of merged checkpoints: merged_dir, else
// <out>/merged.
func (c *Config) MergedPath() string {
	if c.MergedDir != "" {
		return c.MergedDir
	}
	return filepath.Join(c.Out, "merged")
}

// Hash is a hex SHA-256 of the effective config (after defaults and
// environment overrides), for the runs table.
func (c *Config) Hash() string {
	h := *c
	if h.World.Version == world.Version {
		h.World.Version = ""
	}
	b, err := json.Marshal(&h)
	if err != nil {
		// Only non-finite numbers, which a checked config never holds,
		// make Marshal fail; hash the Go syntax then.
		b = fmt.Appendf(nil, "%#v", *c)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// UsesCheckpoints reports whether the zoo is made of existing checkpoints.
func (c *Config) UsesCheckpoints() bool { return len(c.Zoo.Checkpoints) > 0 }

// UsesBase reports whether the zoo includes base type b.
func (c *Config) UsesBase(b string) bool {
	for _, x := range c.Zoo.Bases {
		if x == b {
			return true
		}
	}
	return false
}
