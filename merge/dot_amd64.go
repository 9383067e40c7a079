//go:build amd64 && !purego

package merge

//go:noescape
func dot4AVX2(x, y *float32, n int, s *[4]float64)

// dot64 is dot64Go, four entries at a time with AVX2: lane l of the vector
// sum is partial sum l.
func dot64(x, y []float32) float64 {
	y = y[:len(x)]
	n := len(x) &^ 3
	if !haveAVX2 || n == 0 {
		return dot64Go(x, y)
	}
	var s [4]float64
	dot4AVX2(&x[0], &y[0], n, &s)
	return dotTail(x, y, n, &s)
}
