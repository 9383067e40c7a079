package mergefile

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"mergescale/checkpoint"
	"mergescale/merge"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// goldenModel writes a model whose tensors cover the driver's paths: a
// tensor spanning several of merge's chunks with a length that is not a
// multiple of 8, one large enough for the sampled top-k selection, small
// ones, a non-float tensor that is copied, in the given dtype (F32 inputs
// are used in place, others widened).
func goldenModel(t *testing.T, dir string, dtype checkpoint.DType, shard int64, seed uint64) string {
	t.Helper()
	shapes := []struct {
		name  string
		shape []int64
	}{
		{"a.big", []int64{1531, 211}},  // 323,041 entries: chunks, sampled selection, odd tail
		{"b.mid", []int64{257, 255}},   // 65,535 entries: below one chunk
		{"c.small", []int64{3, 5, 7}},  // 105 entries
		{"d.scalar", []int64{}},        // a scalar
		{"e.vec", []int64{4099}},       // odd vector
		{"f.wide", []int64{64, 4096}},  // 262,144 entries: exactly four chunks
		{"g.last", []int64{17, 1024}},  // 17,408 entries
		{"h.zero", []int64{0, 8}},      // no entries
		{"i.tiny", []int64{1}},         // one entry
		{"j.rect", []int64{300, 1001}}, // 300,300 entries
	}
	centre := rand.New(rand.NewPCG(7, 7))
	r := rand.New(rand.NewPCG(seed, 77))
	var ts []tensor
	for _, s := range shapes {
		n := int64(1)
		for _, d := range s.shape {
			n *= d
		}
		data := make([]float32, n)
		for i := range data {
			// A shared centre with small, heavy-tailed expert offsets, and
			// some exact ties and zeros, as trimmed task vectors have.
			c := float32(centre.NormFloat64())
			switch v := r.IntN(16); {
			case v == 0:
				data[i] = c // τ = 0
			case v == 1:
				data[i] = c + 0.0625 // equal magnitudes
			default:
				data[i] = c + 0.05*float32(r.NormFloat64()*r.ExpFloat64())
			}
		}
		ts = append(ts, tensor{name: s.name, dtype: dtype, shape: s.shape, data: data})
	}
	ts = append(ts, tensor{name: "k.mask", dtype: checkpoint.U8, shape: []int64{5}, raw: []byte{1, 0, 1, 1, 0}})
	return writeModel(t, dir, shard, ts...)
}

// TestOutputBytesGolden merges fixed inputs with every streaming path
// (f32 views and widened bf16 inputs, f32/bf16/f16 outputs, single and
// sharded outputs, copied and merged tensors, one and several workers) and
// compares the SHA-256 of each weights file (and of the diagnostics) with testdata/output_sha256.golden,
// recorded before the I/O path was reworked: the output bytes must never
// change. Rewrite with -update only for an intended change of results.
func TestOutputBytesGolden(t *testing.T) {
	dir := t.TempDir()
	inputs := map[checkpoint.DType][]string{}
	for _, dt := range []checkpoint.DType{checkpoint.F32, checkpoint.BF16} {
		for i := range 4 { // base and three experts
			inputs[dt] = append(inputs[dt], goldenModel(t, filepath.Join(dir, fmt.Sprintf("%s-%d", dt, i)), dt, 0, uint64(100+i)))
		}
	}
	cases := []struct {
		name    string
		in      checkpoint.DType
		method  string
		params  merge.Params
		dtype   string
		shard   int64
		noBase  bool
		workers int
	}{
		{name: "linear-nobase-f32", in: checkpoint.F32, method: "linear", noBase: true},
		{name: "linear-base-bf16out", in: checkpoint.F32, method: "linear", dtype: "bfloat16"},
		{name: "task_arithmetic-f32", in: checkpoint.F32, method: "task_arithmetic", params: merge.Params{Lambda: f64(0.7)}},
		{name: "task_arithmetic-bf16in-sharded", in: checkpoint.BF16, method: "task_arithmetic", shard: 1 << 20},
		{name: "task_arithmetic-f16out-1worker", in: checkpoint.F32, method: "task_arithmetic", dtype: "float16", workers: 1},
		{name: "ties-f32", in: checkpoint.F32, method: "ties", params: merge.Params{Density: f64(0.2)}},
		{name: "ties-f32-1worker", in: checkpoint.F32, method: "ties", params: merge.Params{Density: f64(0.2)}, workers: 1},
		{name: "ties-bf16in", in: checkpoint.BF16, method: "ties", params: merge.Params{Density: f64(0.3)}, dtype: "bfloat16"},
		{name: "ties-global", in: checkpoint.F32, method: "ties", params: merge.Params{Density: f64(0.2), TrimScope: "global"}},
		{name: "dare_ties-f32", in: checkpoint.F32, method: "dare_ties", params: merge.Params{Density: f64(0.3)}},
		{name: "dare_ties-f32-sharded", in: checkpoint.F32, method: "dare_ties", params: merge.Params{Density: f64(0.3)}, shard: 3 << 20},
		{name: "dare_linear-bf16in", in: checkpoint.BF16, method: "dare_linear", params: merge.Params{Density: f64(0.5)}},
		{name: "breadcrumbs_ties-f32", in: checkpoint.F32, method: "breadcrumbs_ties", params: merge.Params{Density: f64(0.3), Gamma: f64(0.01)}},
		{name: "della-f32", in: checkpoint.F32, method: "della", params: merge.Params{Density: f64(0.4), Epsilon: f64(0.1)}},
	}
	var got strings.Builder
	for _, c := range cases {
		models := inputs[c.in]
		p := c.params
		if p.Weight == nil {
			p.Weight = f64(1) // required since mergekit recipes (weight has no default)
		}
		cfg := &Config{MergeMethod: c.method, BaseModel: models[0], Parameters: ParamSetOf(p), DType: c.dtype, Seed: 11, OutShardSize: c.shard}
		if c.noBase {
			cfg.BaseModel = ""
		}
		for _, m := range models[1:] {
			cfg.Models = append(cfg.Models, ModelRef{Model: m})
		}
		out, _ := run(t, cfg, Options{Workers: c.workers})
		names := dirEntries(t, out)
		slices.Sort(names)
		for _, n := range names {
			b, err := os.ReadFile(filepath.Join(out, n))
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case n == StatsFileName:
				// The diagnostics only: the file also names the (temporary) inputs.
				var sf statsFile
				if err := json.Unmarshal(b, &sf); err != nil {
					t.Fatal(err)
				}
				if b, err = json.Marshal(sf.Stats); err != nil {
					t.Fatal(err)
				}
			case !strings.HasSuffix(n, ".safetensors") && n != checkpoint.IndexFileName:
				continue // the other side files name temporary paths
			}
			sum := sha256.Sum256(b)
			fmt.Fprintf(&got, "%s %s %s\n", c.name, n, hex.EncodeToString(sum[:]))
		}
	}
	golden := filepath.Join("testdata", "output_sha256.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, []byte(got.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to record)", err)
	}
	if got.String() != string(want) {
		t.Errorf("output bytes changed (GOMAXPROCS %d):\ngot:\n%s\nwant:\n%s", runtime.GOMAXPROCS(0), got.String(), want)
	}
}
