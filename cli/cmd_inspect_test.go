package cli

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// handSafetensors writes a safetensors file built by hand from the format
// specification (length prefix, JSON header, data), not by our writer.
func handSafetensors(t *testing.T, dir, name, hdr string, dataLen int) string {
	t.Helper()
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(hdr)))
	b = append(b, hdr...)
	b = append(b, make([]byte, dataLen)...)
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = Execute(args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

const issueExample = `{"w32":{"dtype":"F32","shape":[3,4],"data_offsets":[0,48]},` +
	`"scalar":{"dtype":"F32","shape":[],"data_offsets":[48,52]},` +
	`"zero":{"dtype":"BF16","shape":[0,7],"data_offsets":[52,52]},` +
	`"ids":{"dtype":"I64","shape":[2],"data_offsets":[52,68]}}`

func TestInspectTable(t *testing.T) {
	p := handSafetensors(t, t.TempDir(), "m.safetensors", issueExample, 68)
	code, out, errs := runCLI("inspect", p)
	if code != 0 || errs != "" {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	want := p + `
┌────────┬───────────┬────────┬────────┐
│  NAME  │   DTYPE   │ SHAPE  │ PARAMS │
├────────┼───────────┼────────┼────────┤
│ ids    │ I64       │ [2]    │      2 │
│ scalar │ F32       │ []     │      1 │
│ w32    │ F32       │ [3, 4] │     12 │
│ zero   │ BF16      │ [0, 7] │      0 │
├────────┼───────────┼────────┼────────┤
│ Total  │ 4 tensors │        │     15 │
└────────┴───────────┴────────┴────────┘
`
	if out != want {
		t.Errorf("table:\n%s\nwant:\n%s", out, want)
	}
}

func TestInspectJSON(t *testing.T) {
	dir := t.TempDir()
	p := handSafetensors(t, dir, "m.safetensors", issueExample, 68)
	code, out, errs := runCLI("inspect", "--json", p)
	if code != 0 || errs != "" {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v in %s", err, out)
	}
	var want map[string]any
	json.Unmarshal([]byte(`{"path": "`+p+`", "params": 15, "tensors": [
		{"name": "ids", "dtype": "I64", "shape": [2], "params": 2},
		{"name": "scalar", "dtype": "F32", "shape": [], "params": 1},
		{"name": "w32", "dtype": "F32", "shape": [3, 4], "params": 12},
		{"name": "zero", "dtype": "BF16", "shape": [0, 7], "params": 0}]}`), &want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}

	// Several paths, including a sharded directory: a JSON array.
	shardDir := filepath.Join("..", "checkpoint", "testdata", "handmade_sharded")
	code, out, errs = runCLI("inspect", p, shardDir, "--json")
	if code != 0 || errs != "" {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	var arr []struct {
		Path    string `json:"path"`
		Params  int64  `json:"params"`
		Tensors []any  `json:"tensors"`
	}
	if err := json.Unmarshal([]byte(out), &arr); err != nil {
		t.Fatalf("%v in %s", err, out)
	}
	if len(arr) != 2 || arr[0].Path != p || arr[0].Params != 15 || arr[1].Path != shardDir || arr[1].Params != 18 || len(arr[1].Tensors) != 4 {
		t.Errorf("array output %+v", arr)
	}
}

func TestInspectRejectsInvalid(t *testing.T) {
	dir := t.TempDir()
	good := handSafetensors(t, dir, "good.safetensors", issueExample, 68)
	tests := []struct {
		name, hdr string
		dataLen   int
		want      string
	}{
		{"size mismatch", `{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, 8, `tensor "a": shape [3] of F32 needs 12 bytes`},
		{"past the end", `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, 4, `tensor "a": data_offsets [0, 8] run past`},
		{"unknown dtype", `{"a":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}}`, 8, `tensor "a": unknown dtype "Q4"`},
		{"duplicate", `{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, 1, `tensor "a": duplicate name`},
		{"not JSON", `{nope}`, 0, "invalid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := handSafetensors(t, dir, strings.ReplaceAll(tt.name, " ", "_")+".safetensors", tt.hdr, tt.dataLen)
			for _, args := range [][]string{{"inspect", bad}, {"inspect", "--json", good, bad}} {
				code, out, errs := runCLI(args...)
				if code != 1 {
					t.Errorf("%v: exit %d, want 1", args, code)
				}
				if out != "" {
					t.Errorf("%v: printed %q to stdout", args, out)
				}
				prefix := "error: " + bad + ": "
				if !strings.HasPrefix(errs, prefix) || !strings.Contains(errs, tt.want) || strings.Count(errs, "\n") != 1 || !strings.HasSuffix(errs, "\n") {
					t.Errorf("%v: stderr %q, want one line starting %q containing %q", args, errs, prefix, tt.want)
				}
			}
		})
	}
	for _, p := range []string{filepath.Join(dir, "missing.safetensors"), dir} {
		code, _, errs := runCLI("inspect", p)
		if code != 1 || !strings.HasPrefix(errs, "error: "+p+": ") || strings.Count(errs, "\n") != 1 {
			t.Errorf("inspect %s: exit %d, stderr %q", p, code, errs)
		}
	}
	if code, _, _ := runCLI("inspect"); code != 1 {
		t.Errorf("inspect without a path: exit %d, want 1", code)
	}
}
