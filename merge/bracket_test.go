package merge

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestCollectBracket checks the dispatching bracket scan (AVX2 on amd64)
// against the portable loop: the same count above the bracket, the same
// candidates in the same order, the same overflow decision.
func TestCollectBracket(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	n := 1000
	e, b := make([]float32, n), make([]float32, n)
	for j := range e {
		e[j], b[j] = float32(r.NormFloat64()), float32(r.NormFloat64())
		if j%97 == 0 {
			e[j] = b[j] // τ = 0
		}
	}
	mag := func(x float32) uint32 { return math.Float32bits(x) & absMask }
	for _, tc := range []struct {
		name       string
		base       []float32
		clo, chi   int
		lo, hi     uint32
		max        int
		wantNoList bool
	}{
		{"middle", b, 0, n, mag(0.5), mag(1.5), n, false},
		{"offset tail", b, 13, 990, mag(0.2), mag(0.3), n, false},
		{"no base", nil, 5, 800, mag(0.9), mag(1.1), n, false},
		{"whole range", b, 0, n, 0, math.MaxUint32, n, false},
		{"above all", b, 0, n, mag(100), math.MaxUint32, n, false},
		{"point", b, 0, 64, 0, 0, n, false},
		{"overflow", b, 0, n, mag(0.1), mag(2), 50, true},
	} {
		g, l, over := collectBracket(e, tc.base, tc.clo, tc.chi, tc.lo, tc.hi, tc.max)
		wg, wl, wover := collectBracketGo(e, tc.base, tc.clo, tc.chi, tc.lo, tc.hi, tc.max)
		if over != wover || over != tc.wantNoList {
			t.Errorf("%s: overflow %v, portable %v, want %v", tc.name, over, wover, tc.wantNoList)
			continue
		}
		if g != wg || !slices.Equal(l, wl) {
			t.Errorf("%s: %d above and %d candidates, portable %d and %d", tc.name, g, len(l), wg, len(wl))
		}
	}
}
