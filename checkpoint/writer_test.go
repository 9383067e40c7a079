package checkpoint

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

func TestWriterMisuse(t *testing.T) {
	infos := []TensorInfo{{Name: "a", DType: F32, Shape: []int64{2}}, {Name: "b", DType: I32, Shape: []int64{1}}}
	tests := []struct {
		name string
		run  func(w *FileWriter) error
		want string
	}{
		{"out of order", func(w *FileWriter) error { return w.WriteRaw("b", make([]byte, 4)) }, `"b": out of order`},
		{"wrong byte count", func(w *FileWriter) error { return w.WriteRaw("a", make([]byte, 4)) }, "got 4 bytes, want 8"},
		{"wrong value count", func(w *FileWriter) error { return w.WriteFloat32("a", []float32{1}) }, "got 1 values, want 2"},
		{"float into int tensor", func(w *FileWriter) error {
			if err := w.WriteFloat32("a", []float32{1, 2}); err != nil {
				return err
			}
			return w.WriteFloat32("b", []float32{1})
		}, "not a float type"},
		{"too many", func(w *FileWriter) error {
			w.WriteRaw("a", make([]byte, 8))
			w.WriteRaw("b", make([]byte, 4))
			return w.WriteRaw("c", nil)
		}, "already written"},
		{"close with a missing tensor", func(w *FileWriter) error {
			w.WriteRaw("a", make([]byte, 8))
			return w.Close()
		}, `"b": declared but not written`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "m.safetensors")
			w, err := CreateFile(path, infos, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = tt.run(w)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("error %v, want one naming %s and containing %q", err, path, tt.want)
			}
			w.Abort()
			ents, _ := os.ReadDir(dir)
			if len(ents) != 0 {
				t.Errorf("after Abort the directory holds %v", ents)
			}
		})
	}
}

func TestCreateRejectsBadDeclarations(t *testing.T) {
	tests := []struct {
		name    string
		tensors []TensorInfo
		meta    map[string]string
		want    string
	}{
		{"duplicate", []TensorInfo{{"a", F32, nil}, {"a", F32, nil}}, nil, "declared twice"},
		{"empty name", []TensorInfo{{"", F32, nil}}, nil, "invalid name"},
		{"metadata name", []TensorInfo{{"__metadata__", F32, nil}}, nil, "invalid name"},
		{"unknown dtype", []TensorInfo{{"a", "F8", nil}}, nil, "unknown dtype"},
		{"negative dim", []TensorInfo{{"a", F32, []int64{-1}}}, nil, "negative or too large"},
		{"overflow", []TensorInfo{{"a", F64, []int64{1 << 40, 1 << 40}}}, nil, "negative or too large"},
	}
	for _, tt := range tests {
		dir := t.TempDir()
		if _, err := CreateFile(filepath.Join(dir, "x.safetensors"), tt.tensors, tt.meta); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: CreateFile error %v, want %q", tt.name, err, tt.want)
		}
		if _, err := CreateDir(dir, tt.tensors, tt.meta, 0); err == nil {
			t.Errorf("%s: CreateDir accepted it", tt.name)
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Errorf("%s: left %v behind", tt.name, ents)
		}
	}
}

func TestDirWriterAbortLeavesNothing(t *testing.T) {
	infos, data := testTensors(4)
	dir := t.TempDir()
	w, err := CreateDir(dir, infos, nil, 32)
	if err != nil {
		t.Fatal(err)
	}
	for _, ti := range infos[:len(infos)-1] { // crash before the last tensor
		if err := w.WriteRaw(ti.Name, data[ti.Name]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err == nil {
		t.Fatal("Close succeeded with a tensor missing")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("failed Close left %d files", len(ents))
	}
}

func TestCopyModelFiles(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	files := map[string]string{
		"config.json":            `{"n_layer": 2}`,
		"tokenizer.json":         `{}`,
		"vocab.json":             `{"a": 0}`,
		"generation_config.json": `{}`,
		"model.safetensors":      "weights are not copied",
		"notes.txt":              "nor are unknown files",
	}
	for n, c := range files {
		if err := os.WriteFile(filepath.Join(src, n), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := CopyModelFiles(src, dst); err != nil {
		t.Fatal(err)
	}
	for n, c := range files {
		got, err := os.ReadFile(filepath.Join(dst, n))
		copied := n != "model.safetensors" && n != "notes.txt"
		if copied && (err != nil || string(got) != c) {
			t.Errorf("%s: got %q, %v", n, got, err)
		}
		if !copied && err == nil {
			t.Errorf("%s was copied", n)
		}
	}
}

// rssOf returns the resident kilobytes of the mapping that starts at addr,
// from /proc/self/smaps.
func rssOf(t *testing.T, addr uintptr) int {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skip("no /proc/self/smaps")
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	in := false
	prefix := strconv.FormatUint(uint64(addr), 16) + "-"
	for sc.Scan() {
		line := sc.Text()
		// A mapping starts with "start-end perms offset dev inode [path]".
		if fields := strings.Fields(line); len(fields) >= 5 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			in = strings.HasPrefix(line, prefix)
		}
		if in && strings.HasPrefix(line, "Rss:") {
			kb, _ := strconv.Atoi(strings.Fields(line)[1])
			return kb
		}
	}
	t.Skip("mapping not found in /proc/self/smaps")
	return 0
}

// TestReleaseDropsPages reads an 8 MiB tensor, checks its pages are
// resident, releases it and checks they no longer are, while its bytes stay
// readable.
func TestReleaseDropsPages(t *testing.T) {
	const n = 2 << 20 // float32 elements
	path := filepath.Join(t.TempDir(), "r.safetensors")
	infos := []TensorInfo{{Name: "small", DType: U8, Shape: []int64{3}}, {Name: "big", DType: F32, Shape: []int64{n}}}
	w, err := CreateFile(path, infos, nil)
	if err != nil {
		t.Fatal(err)
	}
	vals := make([]float32, n)
	for i := range vals {
		vals[i] = float32(i)
	}
	w.WriteRaw("small", []byte{1, 2, 3})
	w.WriteFloat32("big", vals)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	c, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	base := uintptr(unsafe.Pointer(unsafe.SliceData(c.shards[0].data)))
	got, err := c.Float32("big", nil)
	if err != nil || got[n-1] != float32(n-1) {
		t.Fatal(err)
	}
	before := rssOf(t, base)
	c.Release("big")
	after := rssOf(t, base)
	t.Logf("resident KiB of the mapping: %d before Release, %d after", before, after)
	if before < 7<<10 || after > 64 {
		t.Errorf("resident KiB before Release %d (want ≥ 7168), after %d (want ≤ 64)", before, after)
	}
	raw, _ := c.Raw("small")
	if !bytes.Equal(raw, []byte{1, 2, 3}) {
		t.Errorf("small = %v after releasing its neighbour", raw)
	}
	if again, _ := c.Float32("big", got); again[12345] != 12345 {
		t.Errorf("released tensor re-read wrong: %v", again[12345])
	}
}

// TestDirectWrites writes the same tensors through the page cache and with
// O_DIRECT (staging buffer boundaries crossed mid-tensor, a padded last
// block, a tensor converted to bf16, an empty one) and requires identical
// files of the exact size.
func TestDirectWrites(t *testing.T) {
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(1, 2))
	big := make([]float32, directBufBytes/4+12345)
	for j := range big {
		big[j] = float32(r.NormFloat64())
	}
	raw := make([]byte, 3*directBufBytes/2+7)
	for j := range raw {
		raw[j] = byte(r.Uint32())
	}
	infos := []TensorInfo{
		{Name: "a", DType: F32, Shape: []int64{int64(len(big))}},
		{Name: "b", DType: U8, Shape: []int64{int64(len(raw))}},
		{Name: "c", DType: BF16, Shape: []int64{int64(len(big))}},
		{Name: "d", DType: F32, Shape: []int64{0}},
		{Name: "e", DType: F32, Shape: []int64{3}},
	}
	var files [][]byte
	for _, directMin := range []int64{math.MaxInt64, 0} {
		path := filepath.Join(dir, fmt.Sprintf("m%d.safetensors", len(files)))
		w, err := createFile(path, infos, map[string]string{"k": "v"}, directMin)
		if err != nil {
			t.Fatal(err)
		}
		if (w.dio != nil) != (directMin == 0) {
			t.Fatalf("directMin %d: direct = %v", directMin, w.dio != nil)
		}
		for _, step := range []error{
			w.WriteFloat32("a", big),
			w.WriteRaw("b", raw),
			w.WriteFloat32("c", big),
			w.WriteFloat32("d", nil),
			w.WriteFloat32("e", []float32{1, 2, 3}),
			w.Close(),
		} {
			if step != nil {
				t.Fatal(step)
			}
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, b)
	}
	if !bytes.Equal(files[0], files[1]) {
		t.Fatalf("direct file differs from the buffered one (%d vs %d bytes)", len(files[1]), len(files[0]))
	}
	// A file that never fills a buffer is written at Close.
	small := []TensorInfo{{Name: "s", DType: F32, Shape: []int64{3}}}
	var smalls [][]byte
	for i, directMin := range []int64{math.MaxInt64, 0} {
		path := filepath.Join(dir, fmt.Sprintf("small%d.safetensors", i))
		w, err := createFile(path, small, nil, directMin)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WriteFloat32("s", []float32{4, 5, 6}); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		smalls = append(smalls, b)
	}
	if !bytes.Equal(smalls[0], smalls[1]) {
		t.Errorf("small direct file differs from the buffered one")
	}
	// Aborting mid-file stops the background writer and leaves nothing.
	w, err := createFile(filepath.Join(dir, "aborted.safetensors"), infos, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteFloat32("a", big); err != nil {
		t.Fatal(err)
	}
	w.Abort()
	if names, _ := filepath.Glob(filepath.Join(dir, "*aborted*")); len(names) != 0 {
		t.Errorf("abort left %v", names)
	}
	c, err := Open(filepath.Join(dir, "m1.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got, err := c.Float32("e", nil); err != nil || !slices.Equal(got, []float32{1, 2, 3}) {
		t.Errorf("e = %v, %v", got, err)
	}
}
