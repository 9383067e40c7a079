package checkpoint

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// benchCheckpoint writes a checkpoint of total data bytes in tensors of
// tensorBytes each, all of dtype d, and returns its path.
func benchCheckpoint(b *testing.B, d DType, total, tensorBytes int64) string {
	b.Helper()
	n := total / tensorBytes
	infos := make([]TensorInfo, n)
	for i := range infos {
		infos[i] = TensorInfo{Name: fmt.Sprintf("layer.%04d.weight", i), DType: d, Shape: []int64{tensorBytes / int64(d.Size())}}
	}
	path := filepath.Join(b.TempDir(), "bench.safetensors")
	w, err := CreateFile(path, infos, nil)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, tensorBytes)
	for i := range buf {
		buf[i] = byte(i*7 + i>>9) // finite, varied values in every dtype
	}
	for _, t := range infos {
		if err := w.WriteRaw(t.Name, buf); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	return path
}

// BenchmarkReadFloat32 streams a generated checkpoint (1 GiB; 64 MiB with
// -short) tensor by tensor, converting each tensor to float32 and releasing
// its pages, in F32 and in BF16. In the same benchmark it times a plain
// copy() of the same mapped bytes, tensor by tensor with the same Release,
// and reports both rates (GB of checkpoint bytes per second) and their ratio.
func BenchmarkReadFloat32(b *testing.B) {
	total := int64(1 << 30)
	if testing.Short() {
		total = 64 << 20
	}
	const tensorBytes = 16 << 20
	for _, d := range []DType{F32, BF16} {
		b.Run(string(d), func(b *testing.B) {
			path := benchCheckpoint(b, d, total, tensorBytes)
			c, err := Open(path)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			dst := make([]float32, tensorBytes/d.Size())
			cp := make([]byte, tensorBytes)
			read := func() {
				for _, t := range c.Tensors() {
					if dst, err = c.Float32(t.Name, dst); err != nil {
						b.Fatal(err)
					}
					c.Release(t.Name)
				}
			}
			plain := func() {
				for _, t := range c.Tensors() {
					raw, err := c.Raw(t.Name)
					if err != nil {
						b.Fatal(err)
					}
					copy(cp, raw)
					c.Release(t.Name)
				}
			}
			read() // fault both buffers in once
			plain()
			b.ResetTimer()
			var tRead, tCopy time.Duration
			for range b.N {
				start := time.Now()
				read()
				tRead += time.Since(start)
				start = time.Now()
				plain()
				tCopy += time.Since(start)
			}
			gb := float64(total) * float64(b.N) / 1e9
			readRate, copyRate := gb/tRead.Seconds(), gb/tCopy.Seconds()
			b.ReportMetric(readRate, "GB/s")
			b.ReportMetric(copyRate, "copy-GB/s")
			b.ReportMetric(readRate/copyRate, "read/copy")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkEncodeFloat32 measures the float32 → dtype conversion of the
// write path (WriteFloat32 without the file I/O), in GB/s of float32 input.
func BenchmarkEncodeFloat32(b *testing.B) {
	src := make([]float32, convertChunk)
	for i := range src {
		src[i] = float32(i%1000-500) * 0.37
	}
	for _, d := range []DType{BF16, F16, F32} {
		b.Run(string(d), func(b *testing.B) {
			dst := make([]byte, len(src)*d.Size())
			b.SetBytes(int64(4 * len(src)))
			for b.Loop() {
				if err := encodeFloat32(d, src, dst); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
