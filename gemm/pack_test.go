package gemm

import (
	"math/rand/v2"
	"testing"
)

// TestPackPanels checks packA and packB, vector helpers included, against
// the definition of a packed panel, for every panel width of the kernels,
// both layouts, partial panels, depths around multiples of eight and padded
// strides.
func TestPackPanels(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	for _, w := range []int{4, 6, 12, 16, 32} {
		for _, trans := range []bool{false, true} {
			for _, blockRows := range []int{1, 3, 4, w - 1, w, w + 5, 3*w + 2} {
				for _, depth := range []int{1, 7, 8, 9, 16, 23, 40} {
					pad := rng.IntN(3)
					// op(X) is blockRows×depth for A (rows of C) and
					// depth×blockRows for B (columns of C), at an offset.
					const off = 2
					var ld int
					var x []float32
					if !trans {
						ld = depth + off + pad
						x = make([]float32, (blockRows+off)*ld)
					} else {
						ld = blockRows + off + pad
						x = make([]float32, (depth+off)*ld)
					}
					for i := range x {
						x[i] = float32(i) + 0.5
					}
					panels := (blockRows + w - 1) / w
					gotA := make([]float32, panels*w*depth)
					for i := range gotA {
						gotA[i] = -1
					}
					packA(gotA, x, ld, trans, off, blockRows, off, depth, w)
					for ir := 0; ir < panels*w; ir += w {
						for p := 0; p < depth; p++ {
							for l := 0; l < w; l++ {
								i := ir + l
								want := float32(0)
								if i < blockRows {
									if trans {
										want = x[(off+p)*ld+off+i]
									} else {
										want = x[(off+i)*ld+off+p]
									}
								}
								if got := gotA[ir*depth+p*w+l]; got != want {
									t.Fatalf("packA w=%d trans=%v rows=%d depth=%d: panel %d depth %d lane %d = %v, want %v", w, trans, blockRows, depth, ir/w, p, l, got, want)
								}
							}
						}
					}
					// packB reads op(B) = depth×blockRows: stored as such
					// (not trans) or as its transpose (trans), so swap the
					// layouts above.
					var ldb int
					var y []float32
					if !trans {
						ldb = blockRows + off + pad
						y = make([]float32, (depth+off)*ldb)
					} else {
						ldb = depth + off + pad
						y = make([]float32, (blockRows+off)*ldb)
					}
					for i := range y {
						y[i] = float32(i) + 0.25
					}
					gotB := make([]float32, panels*w*depth)
					for i := range gotB {
						gotB[i] = -1
					}
					packB(gotB, y, ldb, trans, off, depth, off, blockRows, w)
					for jr := 0; jr < panels*w; jr += w {
						for p := 0; p < depth; p++ {
							for l := 0; l < w; l++ {
								j := jr + l
								want := float32(0)
								if j < blockRows {
									if trans {
										want = y[(off+j)*ldb+off+p]
									} else {
										want = y[(off+p)*ldb+off+j]
									}
								}
								if got := gotB[jr*depth+p*w+l]; got != want {
									t.Fatalf("packB w=%d trans=%v cols=%d depth=%d: panel %d depth %d lane %d = %v, want %v", w, trans, blockRows, depth, jr/w, p, l, got, want)
								}
							}
						}
					}
				}
			}
		}
	}
}
