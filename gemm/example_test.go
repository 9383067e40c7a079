package gemm_test

import (
	"fmt"

	"mergescale/gemm"
)

// The product of a 2×3 and a 3×2 matrix, both row-major, with the second
// given transposed (stored 2×3), as a linear layer y = x·Wᵀ would be.
func ExampleKernel() {
	x := []float32{1, 2, 3, 4, 5, 6}
	wt := []float32{7, 9, 11, 8, 10, 12}
	y := make([]float32, 4)
	gemm.Default().Sgemm(false, true, 2, 2, 3, 1, x, 3, wt, 3, 0, y, 2)
	fmt.Println(y)
	// Output: [58 64 139 154]
}
