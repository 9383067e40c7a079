package checkpoint

import (
	"bytes"
	"testing"
)

// FuzzParseHeader feeds arbitrary bytes to the header parser as a whole
// file. It must never panic, and whatever it accepts must be consistent:
// tensors inside the data area, tiling it exactly, sizes matching shapes,
// and the same tensors written by our writer must parse back identically.
// Seeds live in testdata/fuzz/FuzzParseHeader.
func FuzzParseHeader(f *testing.F) {
	f.Add(handFile(`{`+okEntry+`}`, 8))
	f.Add(handFile(`{"__metadata__":{"k":"v"},"s":{"dtype":"BF16","shape":[],"data_offsets":[0,2]}}`, 2))
	f.Add(withLen(1<<63, "{}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := parseHeader("fuzz", data, int64(len(data)))
		if err != nil {
			if h != nil {
				t.Fatal("header returned with an error")
			}
			return
		}
		dataLen := int64(len(data)) - h.DataOff
		var sum int64
		for i, e := range h.Entries {
			if i > 0 && h.Entries[i-1].Name >= e.Name {
				t.Fatalf("entries not sorted by name")
			}
			if e.Begin < 0 || e.End < e.Begin || e.End > dataLen {
				t.Fatalf("tensor %q at [%d,%d] outside data area of %d", e.Name, e.Begin, e.End, dataLen)
			}
			if e.NumBytes() != e.End-e.Begin {
				t.Fatalf("tensor %q size mismatch", e.Name)
			}
			sum += e.End - e.Begin
		}
		if sum != dataLen {
			t.Fatalf("tensors cover %d of %d bytes", sum, dataLen)
		}
		// Re-encode with our writer's header and parse it again.
		infos := make([]TensorInfo, len(h.Entries))
		for i, e := range h.Entries {
			infos[i] = e.TensorInfo
		}
		hdr, err := buildHeader(infos, h.Metadata)
		if err != nil {
			return // e.g. a tensor named "" is legal to read but not to write
		}
		file := append(hdr, make([]byte, dataLen)...)
		h2, err := parseHeader("re", file, int64(len(file)))
		if err != nil {
			t.Fatalf("re-encoded header rejected: %v\n%s", err, bytes.TrimRight(hdr[8:], " "))
		}
		if len(h2.Entries) != len(h.Entries) || len(h2.Metadata) != len(h.Metadata) {
			t.Fatalf("re-encoded header differs")
		}
		for i := range h.Entries {
			a, b := h.Entries[i], h2.Entries[i]
			if a.Name != b.Name || a.DType != b.DType || len(a.Shape) != len(b.Shape) {
				t.Fatalf("re-encoded tensor %q differs: %+v vs %+v", a.Name, a, b)
			}
		}
		for k, v := range h.Metadata {
			if h2.Metadata[k] != v {
				t.Fatalf("metadata %q differs", k)
			}
		}
	})
}
