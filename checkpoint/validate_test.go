package checkpoint

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// handFile builds a safetensors file by hand, straight from the format
// specification (not with this package's writer): the 8-byte little-endian
// length of hdr, hdr itself (no padding) and dataLen bytes of data.
func handFile(hdr string, dataLen int) []byte {
	b := make([]byte, 8, 8+len(hdr)+dataLen)
	binary.LittleEndian.PutUint64(b, uint64(len(hdr)))
	b = append(b, hdr...)
	for i := 0; i < dataLen; i++ {
		b = append(b, byte(i))
	}
	return b
}

// withLen is a file whose length prefix is n, followed by rest.
func withLen(n uint64, rest string) []byte {
	b := make([]byte, 8, 8+len(rest))
	binary.LittleEndian.PutUint64(b, n)
	return append(b, rest...)
}

// malformed is one hand-built invalid file and what Open must say about it.
type malformed struct {
	name   string
	file   []byte
	tensor string // the tensor the error must name ("" for the whole file)
	want   string // substring of the message
}

// checkRejected writes each case to disk, opens it and checks the error: a
// *FormatError naming the file and the tensor, with the expected text.
func checkRejected(t *testing.T, cases []malformed) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bad.safetensors")
			if err := os.WriteFile(path, tc.file, 0o644); err != nil {
				t.Fatal(err)
			}
			c, err := Open(path)
			if err == nil {
				c.Close()
				t.Fatalf("Open accepted a malformed file")
			}
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error %q is %T, not a *FormatError", err, err)
			}
			if fe.Path != path || fe.Tensor != tc.tensor {
				t.Errorf("error names file %q tensor %q, want %q %q", fe.Path, fe.Tensor, path, tc.tensor)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, path+": ") || !strings.Contains(msg, tc.want) {
				t.Errorf("error %q: want prefix %q and text %q", msg, path+": ", tc.want)
			}
			if tc.tensor != "" && !strings.Contains(msg, `"`+tc.tensor+`"`) {
				t.Errorf("error %q does not name tensor %q", msg, tc.tensor)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error %q spans several lines", msg)
			}
		})
	}
}

const okEntry = `"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}`

func TestValidHandBuilt(t *testing.T) {
	// Sanity check for the builders: variations that are valid.
	cases := []struct {
		name string
		file []byte
		n    int
	}{
		{"one tensor", handFile(`{`+okEntry+`}`, 8), 1},
		{"empty header object", handFile(`{}`, 0), 0},
		{"null metadata", handFile(`{"__metadata__":null,`+okEntry+`}`, 8), 1},
		{"whitespace and trailing spaces", handFile(" {\n \"a\" : {\"shape\":[2],\"data_offsets\":[0,8],\"dtype\":\"F32\"} }   ", 8), 1},
		{"offsets out of name order", handFile(`{"b":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[3],"data_offsets":[1,4]}}`, 4), 2},
		{"zero-size tensors anywhere", handFile(`{"z":{"dtype":"F32","shape":[0,3],"data_offsets":[8,8]},`+okEntry+`,"y":{"dtype":"BF16","shape":[5,0],"data_offsets":[0,0]}}`, 8), 3},
		{"scalar", handFile(`{"s":{"dtype":"F64","shape":[],"data_offsets":[0,8]}}`, 8), 1},
	}
	for _, tc := range cases {
		h, err := parseHeader("x", tc.file, int64(len(tc.file)))
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if len(h.Entries) != tc.n {
			t.Errorf("%s: %d tensors, want %d", tc.name, len(h.Entries), tc.n)
		}
	}
}

func TestRuleHeaderLength(t *testing.T) {
	checkRejected(t, []malformed{
		{"empty file", nil, "", "shorter than the 8-byte"},
		{"7 bytes", []byte{2, 0, 0, 0, 0, 0, 0}, "", "shorter than the 8-byte"},
		{"N over 100 MB", withLen(100_000_001, "{}"), "", "exceeds the limit"},
		{"N is 2^63", withLen(1<<63, "{}"), "", "exceeds the limit"},
		{"N is 2^64-1", withLen(^uint64(0), "{}"), "", "exceeds the limit"},
		{"N beyond the file", withLen(3, "{}"), "", "exceeds the 2 bytes"},
		{"N zero", withLen(0, ""), "", "unexpected end"},
	})
}

func TestRuleUTF8JSON(t *testing.T) {
	checkRejected(t, []malformed{
		{"invalid UTF-8", handFile("{\"\xff\":{}}", 0), "", "not valid UTF-8"},
		{"not an object", handFile(`[1,2]`, 0), "", "expected '{'"},
		{"leading garbage", handFile(`x{}`, 0), "", "invalid JSON"},
		{"only spaces", handFile(`        `, 0), "", "unexpected end"},
		{"truncated JSON", handFile(`{"a":{"dtype":"F32"`, 0), "a", "unexpected end"},
		{"syntax error", handFile(`{"a":{"dtype":"F32",}}`, 0), "a", "invalid JSON"},
		{"trailing data", handFile(`{}{}`, 0), "", "trailing data"},
		{"trailing NUL padding", handFile("{}\x00\x00", 0), "", "header"},
		{"tensor entry not an object", handFile(`{"a":[1]}`, 0), "a", "expected"},
		{"metadata not strings", handFile(`{"__metadata__":{"k":1}}`, 0), "", "__metadata__"},
		{"metadata an array", handFile(`{"__metadata__":["k"]}`, 0), "", "__metadata__"},
		{"missing dtype", handFile(`{"a":{"shape":[2],"data_offsets":[0,8]}}`, 8), "a", `missing field "dtype"`},
		{"missing shape", handFile(`{"a":{"dtype":"F32","data_offsets":[0,8]}}`, 8), "a", `missing field "shape"`},
		{"missing offsets", handFile(`{"a":{"dtype":"F32","shape":[2]}}`, 8), "a", `missing field "data_offsets"`},
		{"unknown field", handFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"offsets":[0,8]}}`, 8), "a", "unknown field"},
		{"repeated field", handFile(`{"a":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, 8), "a", `duplicate field "dtype"`},
	})
}

func TestRuleKnownDType(t *testing.T) {
	checkRejected(t, []malformed{
		{"unknown", handFile(`{"a":{"dtype":"F128","shape":[2],"data_offsets":[0,8]}}`, 8), "a", `unknown dtype "F128"`},
		{"lower case", handFile(`{"a":{"dtype":"f32","shape":[2],"data_offsets":[0,8]}}`, 8), "a", "unknown dtype"},
		{"empty", handFile(`{"a":{"dtype":"","shape":[2],"data_offsets":[0,8]}}`, 8), "a", "unknown dtype"},
		{"not a string", handFile(`{"a":{"dtype":4,"shape":[2],"data_offsets":[0,8]}}`, 8), "a", "not a string"},
	})
}

func TestRuleShapeMatchesSize(t *testing.T) {
	checkRejected(t, []malformed{
		{"too few bytes", handFile(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, 8), "a", "needs 12 bytes"},
		{"too many bytes", handFile(`{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,8]}}`, 8), "a", "needs 4 bytes"},
		{"scalar with no bytes", handFile(`{"a":{"dtype":"F32","shape":[],"data_offsets":[0,0]}}`, 0), "a", "needs 4 bytes"},
		{"product overflows", handFile(`{"a":{"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,8]}}`, 8), "a", "overflows"},
		{"times size overflows", handFile(`{"a":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,8]}}`, 8), "a", "overflows"},
		{"negative dimension", handFile(`{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}`, 8), "a", "non-negative"},
		{"fractional dimension", handFile(`{"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}}`, 8), "a", "non-negative"},
		{"dimension beyond int64", handFile(`{"a":{"dtype":"F32","shape":[9223372036854775808],"data_offsets":[0,8]}}`, 8), "a", "non-negative"},
		{"shape not an array", handFile(`{"a":{"dtype":"F32","shape":2,"data_offsets":[0,8]}}`, 8), "a", "shape"},
	})
}

func TestRuleOffsets(t *testing.T) {
	checkRejected(t, []malformed{
		{"end before begin", handFile(`{"a":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}}`, 4), "a", "end before they begin"},
		{"past the data area", handFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, 6), "a", "run past"},
		{"huge offsets", handFile(`{"a":{"dtype":"U8","shape":[8],"data_offsets":[9223372036854775799,9223372036854775807]}}`, 8), "a", "run past"},
		{"gap at start", handFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8), "a", "gap"},
		{"gap between", handFile(`{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[3,5]}}`, 5), "b", "gap"},
		{"overlap", handFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8), "b", "overlap"},
		{"same range twice", handFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, 16), "b", "overlap"},
		{"zero-size inside another", handFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"z":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}}`, 8), "z", "overlap"},
		{"bytes left over", handFile(`{`+okEntry+`}`, 12), "", "cover 8 bytes but the data area holds 12"},
		{"no tensors but data", handFile(`{}`, 3), "", "cover 0 bytes"},
		{"one offset", handFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[8]}}`, 8), "a", "has 1 values, want 2"},
		{"three offsets", handFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8,8]}}`, 8), "a", "want 2"},
		{"negative offset", handFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}}`, 8), "a", "non-negative"},
	})
}

func TestRuleNoDuplicates(t *testing.T) {
	checkRejected(t, []malformed{
		{"same tensor twice", handFile(`{`+okEntry+`,`+okEntry+`}`, 8), "a", "duplicate name"},
		{"two metadata", handFile(`{"__metadata__":{},"__metadata__":{}}`, 0), "__metadata__", "duplicate name"},
		{"duplicate metadata key", handFile(`{"__metadata__":{"k":"1","k":"2"}}`, 0), "", `duplicate key "k"`},
	})
}

// TestHugeClaimsAllocateNothing checks that sizes and counts claimed by a
// header never size an allocation: parsing a tiny file that claims 2^63
// bytes (or a gigantic tensor) allocates only a little.
func TestHugeClaimsAllocateNothing(t *testing.T) {
	files := [][]byte{
		withLen(1<<63, "{}"),
		withLen(MaxHeaderSize, "{}"),
		handFile(`{"a":{"dtype":"F64","shape":[1073741824,1073741824],"data_offsets":[0,9223372036854775807]}}`, 8),
		handFile(`{"a":{"dtype":"U8","shape":[9223372036854775807],"data_offsets":[0,9223372036854775807]}}`, 8),
	}
	for i, f := range files {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for range 10 {
			if _, err := parseHeader("x", f, int64(len(f))); err == nil {
				t.Fatalf("file %d accepted", i)
			}
		}
		runtime.ReadMemStats(&after)
		if got := after.TotalAlloc - before.TotalAlloc; got > 256<<10 {
			t.Errorf("file %d: parsing 10 times allocated %d bytes", i, got)
		}
	}
}

func TestRuleShardedIndex(t *testing.T) {
	shard := func(names ...string) []byte {
		var parts []string
		for i, n := range names {
			parts = append(parts, `"`+n+`":{"dtype":"U8","shape":[1],"data_offsets":[`+string(rune('0'+i))+`,`+string(rune('1'+i))+`]}`)
		}
		return handFile("{"+strings.Join(parts, ",")+"}", len(names))
	}
	tests := []struct {
		name  string
		index string
		files map[string][]byte
		want  string
	}{
		{"no weight_map", `{"metadata":{}}`, nil, "weight_map is missing"},
		{"not JSON", `{"weight_map":`, nil, IndexFileName},
		{"path traversal", `{"weight_map":{"a":"../x.safetensors"}}`, nil, `tensor "a": shard file "../x.safetensors" is not a plain file name`},
		{"missing shard", `{"weight_map":{"a":"s1.safetensors"}}`, nil, "s1.safetensors: no such file"},
		{"tensor not in shard", `{"weight_map":{"a":"s1.safetensors","b":"s1.safetensors"}}`,
			map[string][]byte{"s1.safetensors": shard("a")}, `tensor "b": ` + IndexFileName + ` lists the tensor`},
		{"unlisted tensor in shard", `{"weight_map":{"a":"s1.safetensors"}}`,
			map[string][]byte{"s1.safetensors": shard("a", "b")}, `tensor "b": tensor is not listed`},
		{"tensor listed in the other shard", `{"weight_map":{"a":"s1.safetensors","b":"s2.safetensors"}}`,
			map[string][]byte{"s1.safetensors": shard("a", "b"), "s2.safetensors": shard("b")}, `tensor "b": tensor is not listed`},
		{"malformed shard", `{"weight_map":{"a":"s1.safetensors"}}`,
			map[string][]byte{"s1.safetensors": handFile(`{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,1]}}`, 1)}, `s1.safetensors: tensor "a": shape [2] of U8 needs 2 bytes`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, IndexFileName), []byte(tt.index), 0o644)
			for n, b := range tt.files {
				os.WriteFile(filepath.Join(dir, n), b, 0o644)
			}
			c, err := Open(dir)
			if err == nil {
				c.Close()
				t.Fatal("Open accepted it")
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), dir) {
				t.Errorf("error %q, want it to start with %s and contain %q", err, dir, tt.want)
			}
		})
	}
}
