//go:build amd64 && !purego

package merge

import "golang.org/x/sys/cpu"

//go:noescape
func dropAVX512(dst, e, b *float32, n int, z0 *[8]uint64, step, pthr uint64, scale float64) (bad uint32)

// haveAVX512 is read-only after package initialisation.
var haveAVX512 = cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL && cpu.X86.HasAVX512DQ

// randomRange is DARE's drop of entries [lo, lo+len(dst)) (see
// randomRangeGo), eight entries at a time with AVX-512 when available.
func randomRange(dst, e, b []float32, lo int, key, pthr uint64, scale float64) uint32 {
	n := len(dst) &^ 7
	var bad uint32
	if haveAVX512 && n > 0 {
		_, _ = e[n-1], b[n-1]
		var z0 [8]uint64
		step := uint64(drawStep)
		for l := range z0 {
			z0[l] = key + uint64(lo+l)*step
		}
		bad = dropAVX512(&dst[0], &e[0], &b[0], n, &z0, step<<3, pthr, scale)
		dst, e, b, lo = dst[n:], e[n:], b[n:], lo+n
	}
	return bad | randomRangeGo(dst, e, b, lo, key, pthr, scale)
}
