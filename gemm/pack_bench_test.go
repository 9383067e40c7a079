package gemm

import (
	"fmt"
	"testing"
)

// BenchmarkPack measures the packing routines alone, in ns per packed element.
func BenchmarkPack(b *testing.B) {
	const rows, depth = 64, 256
	src := make([]float32, rows*depth)
	dst := make([]float32, (rows+32)*depth)
	for _, trans := range []bool{false, true} {
		b.Run(fmt.Sprintf("A-mr12-trans=%v", trans), func(b *testing.B) {
			ld := depth
			if trans {
				ld = rows
			}
			for b.Loop() {
				packA(dst, src, ld, trans, 0, rows, 0, depth, 12)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows*depth), "ns/elem")
		})
		b.Run(fmt.Sprintf("B-nr32-trans=%v", trans), func(b *testing.B) {
			ld := rows
			if trans {
				ld = depth
			}
			for b.Loop() {
				packB(dst, src, ld, trans, 0, depth, 0, rows, 32)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows*depth), "ns/elem")
		})
	}
}
