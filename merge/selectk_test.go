package merge

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestKthLargest checks the radix selection against a sort, on inputs with
// many duplicates, a single value, narrow and full 64-bit ranges, and
// lengths on both sides of the hand-over to nthLargest.
func TestKthLargest(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 9))
	gens := map[string]func() uint64{
		"full":   func() uint64 { return r.Uint64() },
		"narrow": func() uint64 { return 1<<40 + r.Uint64N(3000) },
		"dups":   func() uint64 { return uint64(r.IntN(4)) << 50 },
		"same":   func() uint64 { return 7 },
		"rank":   func() uint64 { return rankKey(0x3c000000+uint32(r.IntN(1<<20)), r.IntN(1<<30)) },
		"skewed": func() uint64 { return uint64(r.ExpFloat64() * 1e6) },
	}
	for name, gen := range gens {
		for _, n := range []int{1, 2, 511, 512, 513, 5000, 70000} {
			a := make([]uint64, n)
			for j := range a {
				a[j] = gen()
			}
			sorted := slices.Clone(a)
			slices.Sort(sorted)
			slices.Reverse(sorted)
			for _, i := range []int{0, n / 3, n / 2, n - 1, r.IntN(n)} {
				if got := kthLargest(slices.Clone(a), i); got != sorted[i] {
					t.Fatalf("%s n=%d i=%d: kthLargest = %d, want %d", name, n, i, got, sorted[i])
				}
				j := r.IntN(n)
				if gi, gj := kthLargestPair(slices.Clone(a), i, j); gi != sorted[i] || gj != sorted[j] {
					t.Fatalf("%s n=%d i=%d j=%d: kthLargestPair = %d, %d, want %d, %d", name, n, i, j, gi, gj, sorted[i], sorted[j])
				}
			}
		}
	}
}

// TestSelectCuts checks that the shared scan of selectCuts selects exactly
// what selectCut selects for each expert, with a base, continuous and
// quantized data, and ranks at both ends.
func TestSelectCuts(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for _, n := range []int{1000, smallSelect + 5, 300000} {
		for _, quant := range []bool{false, true} {
			base := randTensor(rng, n, quant)
			var experts [][]float32
			var r []int
			for i, rank := range []int{0, 1, n / 5, n / 2, n - 1, n} {
				e := randTensor(rng, n, quant)
				for j := range e {
					e[j] += base[j] * float32(i%2)
				}
				experts = append(experts, e)
				r = append(r, rank)
			}
			got := selectCuts(experts, base, r)
			for i, e := range experts {
				if want := selectCut(e, base, r[i]); got[i] != want {
					t.Fatalf("n=%d quant=%v expert %d r=%d: selectCuts %+v, selectCut %+v", n, quant, i, r[i], got[i], want)
				}
			}
		}
	}
}
