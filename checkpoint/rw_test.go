package checkpoint

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

var allDTypes = []DType{F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL}

// testTensors declares one tensor of every dtype plus a scalar and an empty
// tensor, with deterministic bytes for each.
func testTensors(seed uint64) ([]TensorInfo, map[string][]byte) {
	rng := rand.New(rand.NewPCG(seed, 1))
	var infos []TensorInfo
	data := map[string][]byte{}
	for i, d := range allDTypes {
		t := TensorInfo{Name: "t." + strings.ToLower(string(d)), DType: d, Shape: []int64{int64(i%3 + 1), 5}}
		b := make([]byte, t.NumBytes())
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		if d == BOOL {
			for j := range b {
				b[j] &= 1
			}
		}
		infos = append(infos, t)
		data[t.Name] = b
	}
	infos = append(infos,
		TensorInfo{Name: "scalar", DType: F32, Shape: []int64{}},
		TensorInfo{Name: "empty", DType: BF16, Shape: []int64{4, 0}})
	data["scalar"] = []byte{0, 0, 0x20, 0x40} // 2.5
	data["empty"] = []byte{}
	return infos, data
}

func writeAll(t *testing.T, w interface {
	WriteRaw(string, []byte) error
	Close() error
}, infos []TensorInfo, data map[string][]byte) {
	t.Helper()
	for _, ti := range infos {
		if err := w.WriteRaw(ti.Name, data[ti.Name]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// checkContents opens path and compares every tensor's info and bytes.
func checkContents(t *testing.T, path string, infos []TensorInfo, data map[string][]byte, meta map[string]string) {
	t.Helper()
	c, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := len(c.Tensors()); got != len(infos) {
		t.Fatalf("%d tensors, want %d", got, len(infos))
	}
	for i := 1; i < len(c.Tensors()); i++ {
		if c.Tensors()[i-1].Name >= c.Tensors()[i].Name {
			t.Fatalf("Tensors not sorted: %q before %q", c.Tensors()[i-1].Name, c.Tensors()[i].Name)
		}
	}
	for _, want := range infos {
		got, ok := c.Info(want.Name)
		if !ok || !reflect.DeepEqual(got, want) {
			t.Errorf("Info(%q) = %+v, %v; want %+v", want.Name, got, ok, want)
		}
		raw, err := c.Raw(want.Name)
		if err != nil || !bytes.Equal(raw, data[want.Name]) {
			t.Errorf("Raw(%q) = %x, %v; want %x", want.Name, raw, err, data[want.Name])
		}
	}
	if !reflect.DeepEqual(c.Metadata(), meta) {
		t.Errorf("Metadata = %v, want %v", c.Metadata(), meta)
	}
}

// noTemps fails if dir holds a leftover temporary file.
func noTemps(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file %s left in %s", e.Name(), dir)
		}
	}
}

func TestRoundTripSingleFile(t *testing.T) {
	infos, data := testTensors(1)
	meta := map[string]string{"format": "pt", "note": `quotes " and <tags> & ünïcode`}
	dir := t.TempDir()
	path := filepath.Join(dir, "x.safetensors")
	w, err := CreateFile(path, infos, meta)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("final name exists before Close: %v", err)
	}
	writeAll(t, w, infos, data)
	checkContents(t, path, infos, data, meta)
	noTemps(t, dir)

	// The header is padded with spaces to a multiple of 8.
	b, _ := os.ReadFile(path)
	n := binary.LittleEndian.Uint64(b)
	if n%8 != 0 || b[8+n-1] != ' ' && b[8+n-1] != '}' {
		t.Errorf("header length %d not a multiple of 8 or not space-padded", n)
	}
}

func TestRoundTripDirLayouts(t *testing.T) {
	infos, data := testTensors(2)
	var total int64
	for _, ti := range infos {
		total += ti.NumBytes()
	}
	tests := []struct {
		name     string
		maxShard int64
		files    []string
	}{
		{"single", 0, []string{SingleFileName}},
		{"single at exact limit", total, []string{SingleFileName}},
		{"sharded", 64, nil},
		{"one tensor per shard", 1, nil},
	}
	meta := map[string]string{"format": "pt"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			w, err := CreateDir(dir, infos, meta, tt.maxShard)
			if err != nil {
				t.Fatal(err)
			}
			writeAll(t, w, infos, data)
			checkContents(t, dir, infos, data, meta)
			noTemps(t, dir)
			if tt.files != nil {
				for _, f := range tt.files {
					if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
						t.Error(err)
					}
				}
				if _, err := os.Stat(filepath.Join(dir, IndexFileName)); !os.IsNotExist(err) {
					t.Errorf("unsharded output has an index")
				}
				return
			}
			idxBytes, err := os.ReadFile(filepath.Join(dir, IndexFileName))
			if err != nil {
				t.Fatal(err)
			}
			var idx struct {
				Metadata struct {
					TotalSize int64 `json:"total_size"`
				} `json:"metadata"`
				WeightMap map[string]string `json:"weight_map"`
			}
			if err := json.Unmarshal(idxBytes, &idx); err != nil {
				t.Fatal(err)
			}
			if idx.Metadata.TotalSize != total {
				t.Errorf("total_size = %d, want %d", idx.Metadata.TotalSize, total)
			}
			shards := map[string]int64{}
			for _, ti := range infos {
				f := idx.WeightMap[ti.Name]
				if f == "" {
					t.Fatalf("weight_map lacks %q", ti.Name)
				}
				shards[f] += ti.NumBytes()
			}
			if len(shards) < 2 {
				t.Fatalf("expected several shards, got %v", shards)
			}
			for f, size := range shards {
				var i, n int
				if _, err := fmt.Sscanf(f, "model-%05d-of-%05d.safetensors", &i, &n); err != nil || n != len(shards) {
					t.Errorf("shard name %q does not match model-%%05d-of-%%05d (n=%d)", f, len(shards))
				}
				// A shard only exceeds the limit when it holds one tensor.
				if size > tt.maxShard {
					c := 0
					for _, v := range idx.WeightMap {
						if v == f {
							c++
						}
					}
					if c != 1 {
						t.Errorf("shard %s has %d bytes in %d tensors, over the %d limit", f, size, c, tt.maxShard)
					}
				}
			}
		})
	}
}

func TestRoundTripFloat32(t *testing.T) {
	vals := []float32{0, 1, -2.5, 0.125, 65504, -1024, float32(math.Inf(1)), float32(math.Inf(-1)), 3.0517578e-05}
	for _, d := range []DType{F32, F16, BF16, F64} {
		t.Run(string(d), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "f.safetensors")
			infos := []TensorInfo{{Name: "v", DType: d, Shape: []int64{int64(len(vals))}}, {Name: "nan", DType: d, Shape: []int64{}}}
			w, err := CreateFile(path, infos, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.WriteFloat32("v", vals); err != nil {
				t.Fatal(err)
			}
			if err := w.WriteFloat32("nan", []float32{float32(math.NaN())}); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			c, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			dst := make([]float32, 0, 100)
			got, err := c.Float32("v", dst)
			if err != nil {
				t.Fatal(err)
			}
			if &got[0] != &dst[:1][0] {
				t.Errorf("Float32 did not reuse dst's storage")
			}
			want := vals
			if d == BF16 {
				want = append([]float32(nil), vals...)
				want[4] = 65536 // 65504 is not a bf16 value; it rounds to 2^16
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}
			n, err := c.Float32("nan", nil)
			if err != nil || len(n) != 1 || !math.IsNaN(float64(n[0])) {
				t.Errorf("NaN came back as %v, %v", n, err)
			}
		})
	}
}

func TestHandMadeFiles(t *testing.T) {
	c, err := Open(filepath.Join("testdata", "handmade.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	want := map[string][]float32{
		"w32":    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11},
		"scalar": {2.5},
		"h":      {1, -2, 65504},
		"b":      {0.5, 3},
		"d":      {-0.25},
		"empty":  {},
	}
	for name, w := range want {
		got, err := c.Float32(name, nil)
		if err != nil || !reflect.DeepEqual(got, w) {
			t.Errorf("%s = %v, %v; want %v", name, got, err, w)
		}
	}
	if raw, _ := c.Raw("flag"); !bytes.Equal(raw, []byte{1, 0, 1}) {
		t.Errorf("flag = %v", raw)
	}
	if raw, _ := c.Raw("i"); int64(binary.LittleEndian.Uint64(raw[8:])) != -1 {
		t.Errorf("i = %x", raw)
	}
	if _, err := c.Float32("i", nil); err == nil || !strings.Contains(err.Error(), `"i"`) {
		t.Errorf("Float32 of an I64 tensor: %v", err)
	}
	if _, err := c.Raw("nope"); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("Raw of a missing tensor: %v", err)
	}
	if c.Metadata()["format"] != "pt" {
		t.Errorf("metadata %v", c.Metadata())
	}

	s, err := Open(filepath.Join("testdata", "handmade_sharded"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if len(s.Tensors()) != 4 || s.Metadata()["format"] != "pt" {
		t.Errorf("sharded: %v %v", s.Tensors(), s.Metadata())
	}
	if got, _ := s.Float32("h", nil); !reflect.DeepEqual(got, []float32{1, -2, 65504}) {
		t.Errorf("sharded h = %v", got)
	}
}

// TestGolden checks the writer's output byte for byte. Run with -update to
// rewrite testdata/golden after an intended format change.
func TestGolden(t *testing.T) {
	infos, data := testTensors(3)
	meta := map[string]string{"format": "pt", "mergescale": "golden"}
	got := t.TempDir()
	w, err := CreateFile(filepath.Join(got, "single.safetensors"), infos, meta)
	if err != nil {
		t.Fatal(err)
	}
	writeAll(t, w, infos, data)
	if err := os.Mkdir(filepath.Join(got, "sharded"), 0o755); err != nil {
		t.Fatal(err)
	}
	d, err := CreateDir(filepath.Join(got, "sharded"), infos, meta, 100)
	if err != nil {
		t.Fatal(err)
	}
	writeAll(t, d, infos, data)

	golden := filepath.Join("testdata", "golden")
	if *update {
		os.RemoveAll(golden)
		if err := os.CopyFS(golden, os.DirFS(got)); err != nil {
			t.Fatal(err)
		}
	}
	var files []string
	filepath.WalkDir(got, func(p string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			rel, _ := filepath.Rel(got, p)
			files = append(files, rel)
		}
		return err
	})
	var goldenFiles []string
	filepath.WalkDir(golden, func(p string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			rel, _ := filepath.Rel(golden, p)
			goldenFiles = append(goldenFiles, rel)
		}
		return err
	})
	if !reflect.DeepEqual(files, goldenFiles) {
		t.Fatalf("wrote %v, golden has %v (run go test -update)", files, goldenFiles)
	}
	for _, f := range files {
		a, _ := os.ReadFile(filepath.Join(got, f))
		b, _ := os.ReadFile(filepath.Join(golden, f))
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs from testdata/golden (run go test -update if intended)", f)
		}
	}
	checkContents(t, filepath.Join(golden, "single.safetensors"), infos, data, meta)
	checkContents(t, filepath.Join(golden, "sharded"), infos, data, meta)
}
