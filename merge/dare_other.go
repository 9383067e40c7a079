//go:build !amd64 || purego

package merge

// randomRange is DARE's drop of entries [lo, lo+len(dst)) (see
// randomRangeGo).
func randomRange(dst, e, b []float32, lo int, key, pthr uint64, scale float64) uint32 {
	return randomRangeGo(dst, e, b, lo, key, pthr, scale)
}
