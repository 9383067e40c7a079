package gemm

// genericMR and genericNR are the tile shape of the portable micro-kernel.
const (
	genericMR = 4
	genericNR = 4
)

// microGeneric is the portable micro-kernel in plain Go. It is slower than
// gonum and exists so that the blocked driver (packing, edges, partitioning)
// is exercised on every architecture; Default never picks it.
func microGeneric(k int, a, b, c []float32, ldc int, alpha, beta float32) {
	const mr, nr = genericMR, genericNR
	var acc [mr * nr]float32
	a = a[:mr*k]
	b = b[:nr*k]
	for p := 0; p < k; p++ {
		ap := a[p*mr : p*mr+mr : p*mr+mr]
		bp := b[p*nr : p*nr+nr : p*nr+nr]
		for i, av := range ap {
			row := acc[i*nr : i*nr+nr : i*nr+nr]
			for j, bv := range bp {
				row[j] += av * bv
			}
		}
	}
	for i := 0; i < mr; i++ {
		crow := c[i*ldc : i*ldc+nr]
		for j := range crow {
			if beta == 0 {
				crow[j] = alpha * acc[i*nr+j]
			} else {
				crow[j] = alpha*acc[i*nr+j] + beta*crow[j]
			}
		}
	}
}
