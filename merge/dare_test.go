package merge

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestRandomRange checks the dispatching DARE drop (AVX-512 on amd64 when
// available) against the portable loop bit for bit: offsets that are not
// multiples of 8, tails, rescaling or not, every density edge, non-finite
// inputs.
func TestRandomRange(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 1))
	n := 301
	e, b := make([]float32, n), make([]float32, n)
	for j := range e {
		e[j], b[j] = float32(r.NormFloat64()), float32(r.NormFloat64())
	}
	e[7] = b[7] // τ = 0
	e[40] = float32(math.Copysign(0, -1))
	b[40] = 0 // τ = −0
	e[41] = 1e-40
	for _, tc := range []struct {
		lo, len int
		p       float64
		scale   float64
		inf     bool
	}{
		{lo: 0, len: 301, p: 0.3, scale: 1 / 0.3},
		{lo: 5, len: 296, p: 0.5, scale: 1},
		{lo: 1 << 20, len: 64, p: 0.9, scale: 1.7},
		{lo: 3, len: 200, p: 0, scale: 1},
		{lo: 3, len: 200, p: 1, scale: 1},
		{lo: 0, len: 100, p: 0.5, scale: 2, inf: true},
	} {
		ee := append([]float32(nil), e[:tc.len]...)
		if tc.inf {
			ee[50] = float32(math.NaN())
		}
		key := streamKey(9, "w", 2)
		got, want := make([]float32, tc.len), make([]float32, tc.len)
		bad := randomRange(got, ee, b[:tc.len], tc.lo, key, probBits(tc.p), tc.scale)
		wbad := randomRangeGo(want, ee, b[:tc.len], tc.lo, key, probBits(tc.p), tc.scale)
		if bad&signBit != wbad&signBit || (bad&signBit != 0) != tc.inf {
			t.Errorf("lo=%d: bad bit %x, portable %x, want %v", tc.lo, bad&signBit, wbad&signBit, tc.inf)
		}
		for j := range got {
			if math.Float32bits(got[j]) != math.Float32bits(want[j]) && !(got[j] != got[j] && want[j] != want[j]) {
				t.Fatalf("lo=%d: entry %d = %v, portable %v", tc.lo, j, got[j], want[j])
			}
		}
	}
}
