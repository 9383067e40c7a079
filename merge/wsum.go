package merge

// The portable block kernels of weightedSum. wsum_amd64.s does the same
// operations in the same order with AVX2, so results do not depend on which
// one runs. The differences e − sub·b are float32 (τ as the other methods
// see it); the products and sums are float64. The explicit conversions
// round each product, which keeps the compiler from fusing a multiply and
// an add (it may with GOAMD64=v3); the assembly never fuses either.

// accPairGo does a[j] += w0·float64(e0[j] − sub·b[j]) + w1·float64(e1[j] − sub·b[j]).
func accPairGo(a []float64, e0, e1, b []float32, w0, w1 float64, sub float32) {
	e0, e1, b = e0[:len(a)], e1[:len(a)], b[:len(a)]
	for j := range a {
		sb := float32(sub * b[j])
		a[j] += float64(w0*float64(e0[j]-sb)) + float64(w1*float64(e1[j]-sb))
	}
}

// accOneGo does a[j] += w0·float64(e0[j] − sub·b[j]).
func accOneGo(a []float64, e0, b []float32, w0 float64, sub float32) {
	e0, b = e0[:len(a)], b[:len(a)]
	for j := range a {
		a[j] += float64(w0 * float64(e0[j]-float32(sub*b[j])))
	}
}

// finishGo does o[j] = float32(float64(b[j]) + scale·a[j]) and reports
// whether some scale·a[j] is not finite (s − s is 0 only for finite s).
func finishGo(o []float32, a []float64, b []float32, scale float64) bool {
	a, b = a[:len(o)], b[:len(o)]
	bad := false
	for j := range o {
		s := float64(scale * a[j])
		bad = bad || s-s != 0
		o[j] = float32(float64(b[j]) + s)
	}
	return bad
}
