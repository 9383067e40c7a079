//go:build !amd64 || purego

package merge

// dot64 returns Σ xⱼyⱼ (see dot64Go).
func dot64(x, y []float32) float64 { return dot64Go(x, y) }
