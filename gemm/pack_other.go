//go:build !amd64

package gemm

// transposeFast reports false: there are no vector helpers here.
func transposeFast(panel []float32, w int, src []float32, ld, rows, nblk int) bool { return false }

// copyFast reports false: there are no vector helpers here.
func copyFast(panel []float32, w int, src []float32, ld, cols, depth int) bool { return false }
