package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
)

// problem is one Sgemm call with its operands.
type problem struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a, b, c        []float32
	lda, ldb, ldc  int
}

func (p problem) String() string {
	return fmt.Sprintf("tA=%v tB=%v m=%d n=%d k=%d alpha=%g beta=%g lda=%d ldb=%d ldc=%d",
		p.transA, p.transB, p.m, p.n, p.k, p.alpha, p.beta, p.lda, p.ldb, p.ldc)
}

// newProblem draws random operands with row strides `pad` floats longer than
// needed. When beta is 0, C is filled with NaN, which must not survive.
func newProblem(rng *rand.Rand, transA, transB bool, m, n, k, pad int, alpha, beta float32) problem {
	p := problem{transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, beta: beta}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	p.lda, p.ldb, p.ldc = max(1, ac)+pad, max(1, bc)+pad, max(1, n)+pad
	p.a = randSlice(rng, ar*p.lda)
	p.b = randSlice(rng, br*p.ldb)
	p.c = randSlice(rng, m*p.ldc)
	if beta == 0 {
		for i := range p.c {
			p.c[i] = float32(math.NaN())
		}
	}
	return p
}

func randSlice(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.NormFloat64())
	}
	return s
}

// run applies kernel to a copy of C and returns it.
func (p problem) run(kern Kernel) []float32 {
	c := append([]float32(nil), p.c...)
	kern.Sgemm(p.transA, p.transB, p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, c, p.ldc)
	return c
}

// check compares got with a float64 reference. The bound 2(k+3)·2⁻²⁴·Σ|terms|
// covers float32 rounding of any summation order, so a failure is a wrong
// answer, never noise. Padding between rows of C must be left untouched.
func (p problem) check(t *testing.T, name string, got []float32) {
	t.Helper()
	const u = 1.0 / (1 << 24)
	bad := 0
	for i := 0; i < p.m; i++ {
		for j := 0; j < p.ldc; j++ {
			idx := i*p.ldc + j
			if j >= p.n {
				if math.Float32bits(got[idx]) != math.Float32bits(p.c[idx]) {
					t.Errorf("%s %v: padding C[%d][%d] changed from %g to %g", name, p, i, j, p.c[idx], got[idx])
					return
				}
				continue
			}
			var sum, abs float64
			for l := 0; l < p.k; l++ {
				av, bv := p.at(p.a, p.lda, p.transA, i, l), p.at(p.b, p.ldb, p.transB, l, j)
				term := float64(p.alpha) * float64(av) * float64(bv)
				sum += term
				abs += math.Abs(term)
			}
			if p.beta != 0 {
				term := float64(p.beta) * float64(p.c[idx])
				sum += term
				abs += math.Abs(term)
			}
			tol := 2 * float64(p.k+3) * u * abs
			if diff := math.Abs(float64(got[idx]) - sum); !(diff <= tol) {
				t.Errorf("%s %v: C[%d][%d] = %g, want %g (tol %g)", name, p, i, j, got[idx], sum, tol)
				if bad++; bad > 3 {
					return
				}
			}
		}
	}
}

// at reads op(X)[i][j] from a stored matrix with stride ld.
func (p problem) at(x []float32, ld int, trans bool, i, j int) float32 {
	if trans {
		return x[j*ld+i]
	}
	return x[i*ld+j]
}

// testKernels are all kernels of this machine plus the assembly and portable
// micro-kernels with tiny cache blocks, so that small problems cross every
// kc, mc and nc boundary.
func testKernels() []Kernel {
	ks := Available()
	cfgs := append(asmConfigs(hostFeatures()), portable.cfg)
	for _, c := range cfgs {
		ks = append(ks, blocked{cfg: newConfig(c.name+"-tinyblocks", c.mr, c.nr, 5, 2*c.mr, 2*c.nr, c.kern)})
	}
	return ks
}

func TestSgemmRandomShapes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	scalars := []struct{ alpha, beta float32 }{{1, 0}, {1, 1}, {-0.5, 0.3}, {2.5, 0}, {0, 0.7}, {0, 0}, {1.5, -1}}
	trials := 60
	if testing.Short() {
		trials = 20
	}
	for _, kern := range testKernels() {
		t.Run(kern.Name(), func(t *testing.T) {
			for trial := 0; trial < trials; trial++ {
				for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
					s := scalars[rng.IntN(len(scalars))]
					m, n, k := 1+rng.IntN(37), 1+rng.IntN(37), 1+rng.IntN(37)
					p := newProblem(rng, tr[0], tr[1], m, n, k, rng.IntN(4), s.alpha, s.beta)
					p.check(t, kern.Name(), p.run(kern))
				}
			}
		})
	}
}

func TestSgemmEdgeCases(t *testing.T) {
	tests := []struct {
		name          string
		m, n, k       int
		alpha, beta   float32
		transA, trans bool
	}{
		{name: "k=0 beta=0 clears NaN", m: 5, n: 7, k: 0, alpha: 1, beta: 0},
		{name: "k=0 beta scales", m: 5, n: 7, k: 0, alpha: 1, beta: 2},
		{name: "m=0", m: 0, n: 7, k: 3, alpha: 1, beta: 0},
		{name: "n=0", m: 4, n: 0, k: 3, alpha: 1, beta: 0},
		{name: "alpha=0 beta=0", m: 9, n: 9, k: 9, alpha: 0, beta: 0},
		{name: "1x1x1", m: 1, n: 1, k: 1, alpha: 3, beta: 0.5},
		{name: "exact tiles", m: 24, n: 64, k: 16, alpha: 1, beta: 0},
		{name: "deep k crosses kc", m: 13, n: 33, k: 600, alpha: 0.5, beta: 1, transA: true},
		{name: "wide n crosses nc", m: 7, n: 1100, k: 9, alpha: 1, beta: 0, trans: true},
		{name: "tall m crosses mc", m: 300, n: 17, k: 20, alpha: -1, beta: 0.25},
		{name: "attention head", m: 64, n: 64, k: 16, alpha: 0.25, beta: 0, trans: true},
	}
	for _, kern := range testKernels() {
		for _, tc := range tests {
			t.Run(kern.Name()+"/"+tc.name, func(t *testing.T) {
				rng := rand.New(rand.NewPCG(3, uint64(tc.m*1000+tc.n)))
				p := newProblem(rng, tc.transA, tc.trans, tc.m, tc.n, tc.k, 1, tc.alpha, tc.beta)
				p.check(t, kern.Name(), p.run(kern))
			})
		}
	}
}

// TestSgemmKnownValues checks a hand-computed product, independent of the
// float64 reference.
func TestSgemmKnownValues(t *testing.T) {
	// A = [1 2 3; 4 5 6], B = [7 8; 9 10; 11 12]: AB = [58 64; 139 154].
	a := []float32{1, 2, 3, 4, 5, 6}
	b := []float32{7, 8, 9, 10, 11, 12}
	at := []float32{1, 4, 2, 5, 3, 6}
	bt := []float32{7, 9, 11, 8, 10, 12}
	want := []float32{2*58 + 1, 2*64 + 1, 2*139 + 1, 2*154 + 1}
	tests := []struct {
		name           string
		transA, transB bool
		a, b           []float32
		lda, ldb       int
	}{
		{"NN", false, false, a, b, 3, 2},
		{"NT", false, true, a, bt, 3, 3},
		{"TN", true, false, at, b, 2, 2},
		{"TT", true, true, at, bt, 2, 3},
	}
	for _, kern := range testKernels() {
		for _, tc := range tests {
			c := []float32{1, 1, 1, 1}
			kern.Sgemm(tc.transA, tc.transB, 2, 2, 3, 2, tc.a, tc.lda, tc.b, tc.ldb, 1, c, 2)
			for i := range c {
				if c[i] != want[i] {
					t.Errorf("%s %s: C = %v, want %v", kern.Name(), tc.name, c, want)
					break
				}
			}
		}
	}
}

// TestSgemmDeterministic checks that the blocked kernels give bit-identical
// results whatever the number of goroutines, including through GOMAXPROCS:
// with several, the operand they all read is packed once and shared, and
// the tiny-block kernels make it many blocks deep and wide.
func TestSgemmDeterministic(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	shapes := []struct {
		m, n, k        int
		transA, transB bool
	}{
		{301, 131, 97, false, false}, // split by rows
		{37, 517, 300, true, true},   // split by columns, k crosses kc
		{130, 130, 128, false, true},
		{140, 90, 260, true, false}, // split by rows, B packed once for all
		{50, 400, 70, false, false}, // split by columns, A packed once for all
	}
	for _, kern := range testKernels() {
		bk, ok := kern.(blocked)
		if !ok {
			continue
		}
		for _, s := range shapes {
			p := newProblem(rng, s.transA, s.transB, s.m, s.n, s.k, 2, 0.7, 0.3)
			ref := append([]float32(nil), p.c...)
			bk.sgemm(p.transA, p.transB, p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, ref, p.ldc, 1)
			for _, w := range []int{2, 3, 4, 7} {
				got := append([]float32(nil), p.c...)
				bk.sgemm(p.transA, p.transB, p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, got, p.ldc, w)
				if i := firstDiff(ref, got); i >= 0 {
					t.Fatalf("%s %v: %d workers differ from 1 at %d: %g vs %g", kern.Name(), p, w, i, got[i], ref[i])
				}
			}
			for _, procs := range []int{1, 4} {
				old := runtime.GOMAXPROCS(procs)
				got := p.run(kern)
				runtime.GOMAXPROCS(old)
				if i := firstDiff(ref, got); i >= 0 {
					t.Fatalf("%s %v: GOMAXPROCS=%d differs at %d: %g vs %g", kern.Name(), p, procs, i, got[i], ref[i])
				}
			}
		}
	}
}

func firstDiff(x, y []float32) int {
	for i := range x {
		if math.Float32bits(x[i]) != math.Float32bits(y[i]) {
			return i
		}
	}
	return -1
}

// TestSgemmBadArguments checks that malformed calls panic with a message
// naming the operand instead of touching memory outside the slices.
func TestSgemmBadArguments(t *testing.T) {
	ok := make([]float32, 16)
	tests := []struct {
		name             string
		m, n, k          int
		a, b, c          []float32
		lda, ldb, ldc    int
		wantInPanicValue string
	}{
		{"short C", 4, 4, 4, ok, ok, make([]float32, 15), 4, 4, 4, "C has 15"},
		{"short A", 4, 4, 4, ok[:10], ok, ok, 4, 4, 4, "A has 10"},
		{"small ldb", 4, 4, 4, ok, ok, ok, 4, 3, 4, "stride of B"},
		{"negative m", -1, 4, 4, ok, ok, ok, 4, 4, 4, "negative"},
	}
	for _, kern := range testKernels() {
		if _, isBlocked := kern.(blocked); !isBlocked {
			continue
		}
		for _, tc := range tests {
			func() {
				defer func() {
					r := recover()
					if r == nil || !strings.Contains(fmt.Sprint(r), tc.wantInPanicValue) {
						t.Errorf("%s %s: panic %v, want one mentioning %q", kern.Name(), tc.name, r, tc.wantInPanicValue)
					}
				}()
				kern.Sgemm(false, false, tc.m, tc.n, tc.k, 1, tc.a, tc.lda, tc.b, tc.ldb, 0, tc.c, tc.ldc)
			}()
		}
	}
}

func TestSelectKernel(t *testing.T) {
	tests := []struct {
		name string
		f    features
		want string
	}{
		{"no SIMD falls back to gonum", features{}, "gonum"},
		{"AVX2", features{avx2: true}, "avx2-6x16"},
		{"AVX-512", features{avx2: true, avx512: true}, "avx512-12x32"},
	}
	for _, tc := range tests {
		ks := asmKernelsFor(tc.f)
		want := tc.want
		if runtime.GOARCH != "amd64" {
			want = "gonum"
		}
		if got := selectKernel(ks).Name(); got != want {
			t.Errorf("%s: selected %q, want %q", tc.name, got, want)
		}
	}
	if got, want := Default().Name(), Available()[0].Name(); got != want {
		t.Errorf("Default() = %q, want the fastest available %q", got, want)
	}
}
