package gemm

import (
	"fmt"
	"runtime"
	"sync"

	"mergescale/internal/forkjoin"
)

// microKernel multiplies a packed mr×k panel of A (mr values per k step) by a
// packed k×nr panel of B (nr values per k step) and writes the mr×nr tile at
// c, whose rows are ldc floats apart: c = alpha·acc when beta == 0 (c is not
// read), c = alpha·acc + beta·c otherwise. k ≥ 1.
type microKernel func(k int, a, b, c []float32, ldc int, alpha, beta float32)

// config is one blocked GEMM: a micro-kernel of mr×nr and the cache blocking
// around it. kc bounds the packed depth, mc (a multiple of mr) the rows of a
// packed A block and nc (a multiple of nr) the columns of a packed B block.
// The fields are set once by newConfig; pool recycles packing buffers.
type config struct {
	name       string
	mr, nr     int
	kc, mc, nc int
	kern       microKernel
	pool       sync.Pool // of *buffers
}

// buffers are the per-goroutine packing areas of one config.
type buffers struct {
	a, b, tile []float32
}

// minMACsPerWorker is the least work, in multiply-adds, worth handing to a
// goroutine of its own.
const minMACsPerWorker = 1 << 20

func newConfig(name string, mr, nr, kc, mc, nc int, kern microKernel) *config {
	cfg := &config{name: name, mr: mr, nr: nr, kc: kc, mc: mc, nc: nc, kern: kern}
	cfg.pool.New = func() any {
		return &buffers{
			a:    make([]float32, mc*kc),
			b:    make([]float32, kc*nc),
			tile: make([]float32, mr*nr),
		}
	}
	return cfg
}

// blocked is a Kernel that packs panels of A and B and runs a register-blocked
// micro-kernel over them, in parallel over disjoint blocks of C. When narrow
// is set, products with few columns, which would leave most of a wide tile
// empty, use it instead of cfg.
type blocked struct{ cfg, narrow *config }

// pick returns the configuration for a product with n columns: narrow when
// the wide tiles would compute at least 1.5 times as many columns. The
// choice depends on the shape alone, never on the number of goroutines.
func (k blocked) pick(n int) *config {
	if k.narrow == nil {
		return k.cfg
	}
	wide := (n + k.cfg.nr - 1) / k.cfg.nr * k.cfg.nr
	slim := (n + k.narrow.nr - 1) / k.narrow.nr * k.narrow.nr
	if 2*wide >= 3*slim {
		return k.narrow
	}
	return k.cfg
}

// Name reports the micro-kernel, e.g. "avx2-6x16".
func (k blocked) Name() string { return k.cfg.name }

// Sgemm computes C = alpha·op(A)·op(B) + beta·C; see Kernel. It uses up to
// GOMAXPROCS goroutines. The result does not depend on their number: C is
// split at tile boundaries of a fixed grid and every element is always
// summed in the same order. Malformed arguments (negative sizes, short
// slices, strides smaller than a row) panic, as BLAS does, before any
// memory is touched.
func (k blocked) Sgemm(transA, transB bool, m, n, kk int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	k.sgemm(transA, transB, m, n, kk, alpha, a, lda, b, ldb, beta, c, ldc, runtime.GOMAXPROCS(0))
}

// sgemm is Sgemm with an explicit upper bound on the number of goroutines.
func (k blocked) sgemm(transA, transB bool, m, n, kk int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, maxWorkers int) {
	k.fused(transA, transB, m, n, kk, alpha, a, lda, b, ldb, beta, c, ldc, Fuse{}, maxWorkers)
}

// fused is sgemm with f's work done by the goroutines that compute C: each
// fills its block's rows with f.Bias before the product and calls f.Rows on
// its block after it (with f.Rows set C is split by rows only, so that every
// block holds whole rows), then f.Cols on its share of the columns.
func (k blocked) fused(transA, transB bool, m, n, kk int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, f Fuse, maxWorkers int) {
	if err := checkFused(transA, transB, m, n, kk, a, lda, b, ldb, c, ldc, f); err != nil {
		panic(err)
	}
	if m == 0 || n == 0 {
		return
	}
	if f.Bias != nil {
		beta = 1
	}
	cfg := k.pick(n)
	// block computes rows [r0, r1) and columns [c0, c1) of C.
	block := func(r0, r1, c0, c1 int) {
		cb := c[r0*ldc+c0:]
		if f.Bias != nil {
			for r := 0; r < r1-r0; r++ {
				copy(cb[r*ldc:r*ldc+c1-c0], f.Bias[c0:c1])
			}
		}
		aoff, boff := r0*lda, c0
		if transA {
			aoff = r0
		}
		if transB {
			boff = c0 * ldb
		}
		if kk == 0 || alpha == 0 {
			scaleC(r1-r0, c1-c0, beta, cb, ldc)
		} else {
			cfg.serial(transA, transB, r1-r0, c1-c0, kk, alpha, a[aoff:], lda, b[boff:], ldb, beta, cb, ldc)
		}
		if f.Rows != nil {
			f.Rows(r0, r1)
		}
	}
	// Split along the longer side of C (by rows when f.Rows wants whole
	// rows), in whole tiles of the fixed grid.
	byRows := m >= n || f.Rows != nil
	unit, dim := cfg.mr, m
	if !byRows {
		unit, dim = cfg.nr, n
	}
	tiles := (dim + unit - 1) / unit
	workers := min(maxWorkers, tiles, max(1, m*n*kk/minMACsPerWorker))
	if workers <= 1 {
		block(0, m, 0, n)
		if f.Cols != nil {
			f.Cols(0, n)
		}
		return
	}
	forkjoin.Do(workers, func(w int) {
		lo := tiles * w / workers * unit
		hi := min(dim, tiles*(w+1)/workers*unit)
		if byRows {
			block(lo, hi, 0, n)
			if f.Cols != nil {
				f.Cols(n*w/workers, n*(w+1)/workers)
			}
			return
		}
		block(0, m, lo, hi)
		if f.Cols != nil {
			f.Cols(lo, hi)
		}
	})
}

// serial computes one block of C on the calling goroutine. The loop order
// (column blocks, depth blocks, row blocks) and the blocking sizes are fixed,
// so each element of C sees the same operations wherever the block starts,
// as long as it starts on the tile grid.
func (cfg *config) serial(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	buf := cfg.pool.Get().(*buffers)
	defer cfg.pool.Put(buf)
	for jc := 0; jc < n; jc += cfg.nc {
		nc := min(cfg.nc, n-jc)
		for pc := 0; pc < k; pc += cfg.kc {
			kc := min(cfg.kc, k-pc)
			packB(buf.b, b, ldb, transB, pc, kc, jc, nc, cfg.nr)
			bt := beta
			if pc > 0 {
				bt = 1
			}
			for ic := 0; ic < m; ic += cfg.mc {
				mc := min(cfg.mc, m-ic)
				packA(buf.a, a, lda, transA, ic, mc, pc, kc, cfg.mr)
				cfg.macro(mc, nc, kc, alpha, bt, buf.a, buf.b, c[ic*ldc+jc:], ldc, buf.tile)
			}
		}
	}
}

// macro runs the micro-kernel over every tile of an mc×nc block of C from
// packed A and B. Full tiles are written in place; edge tiles go through a
// scratch tile and only their valid part reaches C.
func (cfg *config) macro(mc, nc, kc int, alpha, beta float32, ap, bp, c []float32, ldc int, tile []float32) {
	mr, nr := cfg.mr, cfg.nr
	for jr := 0; jr < nc; jr += nr {
		cols := min(nr, nc-jr)
		bpan := bp[jr*kc : (jr+nr)*kc]
		for ir := 0; ir < mc; ir += mr {
			rows := min(mr, mc-ir)
			apan := ap[ir*kc : (ir+mr)*kc]
			if rows == mr && cols == nr {
				cfg.kern(kc, apan, bpan, c[ir*ldc+jr:], ldc, alpha, beta)
				continue
			}
			cfg.kern(kc, apan, bpan, tile, nr, 1, 0)
			for r := 0; r < rows; r++ {
				crow := c[(ir+r)*ldc+jr:][:cols]
				trow := tile[r*nr:][:cols]
				if beta == 0 {
					for j, t := range trow {
						crow[j] = alpha * t
					}
				} else {
					for j, t := range trow {
						crow[j] = alpha*t + beta*crow[j]
					}
				}
			}
		}
	}
}

// packA copies rows [i0, i0+mc) and depths [p0, p0+kc) of op(A) into dst as
// consecutive mr×kc panels, each stored depth-major (mr values per depth).
// Rows past the end of the block are zero.
func packA(dst, a []float32, lda int, trans bool, i0, mc, p0, kc, mr int) {
	for ir := 0; ir < mc; ir += mr {
		rows := min(mr, mc-ir)
		panel := dst[ir*kc : (ir+mr)*kc]
		if trans {
			// op(A)[i][p] = a[p*lda+i]: a depth of the panel is contiguous.
			if rows == mr && copyFast(panel, mr, a[p0*lda+i0+ir:], lda, rows, kc) {
				continue
			}
			for p := 0; p < kc; p++ {
				d := panel[p*mr : (p+1)*mr]
				copy(d, a[(p0+p)*lda+i0+ir:][:rows])
				clear(d[rows:])
			}
			continue
		}
		transposeInto(panel, mr, a[(i0+ir)*lda+p0:], lda, rows, kc)
	}
}

// packB copies depths [p0, p0+kc) and columns [j0, j0+nc) of op(B) into dst
// as consecutive kc×nr panels, each stored depth-major (nr values per depth).
// Columns past the end of the block are zero.
func packB(dst, b []float32, ldb int, trans bool, p0, kc, j0, nc, nr int) {
	for jr := 0; jr < nc; jr += nr {
		cols := min(nr, nc-jr)
		panel := dst[jr*kc : (jr+nr)*kc]
		if !trans {
			// op(B)[p][j] = b[p*ldb+j]: a depth of the panel is contiguous.
			if cols == nr && copyFast(panel, nr, b[p0*ldb+j0+jr:], ldb, cols, kc) {
				continue
			}
			for p := 0; p < kc; p++ {
				d := panel[p*nr : (p+1)*nr]
				copy(d, b[(p0+p)*ldb+j0+jr:][:cols])
				clear(d[cols:])
			}
			continue
		}
		transposeInto(panel, nr, b[(j0+jr)*ldb+p0:], ldb, cols, kc)
	}
}

// transposeInto writes the rows×depth matrix src (row stride ld) transposed
// into panel, depth-major with w values per depth; lanes rows..w-1 are zeroed.
// Groups of four and eight rows over eight depths at a time go through the
// vector helpers where the CPU has them (transposeFast), the rest through
// transposeRange.
func transposeInto(panel []float32, w int, src []float32, ld, rows, depth int) {
	r0 := 0
	if fast, nblk := rows&^3, depth/8; fast > 0 && transposeFast(panel, w, src, ld, fast, nblk) {
		transposeRange(panel, w, src, ld, 0, fast, 8*nblk, depth)
		r0 = fast
	}
	transposeRange(panel, w, src, ld, r0, rows, 0, depth)
	if rows < w {
		for p := 0; p < depth; p++ {
			clear(panel[p*w+rows : (p+1)*w])
		}
	}
}

// transposeRange is transposeInto's scalar loop over rows [r0, r1) and
// depths [p0, p1). Four source rows are handled together so that each
// depth of the panel is written in runs of four.
func transposeRange(panel []float32, w int, src []float32, ld, r0, r1, p0, p1 int) {
	if p0 >= p1 {
		return
	}
	r := r0
	for ; r+4 <= r1; r += 4 {
		s0 := src[r*ld+p0 : r*ld+p1]
		s1 := src[(r+1)*ld+p0:][:len(s0)]
		s2 := src[(r+2)*ld+p0:][:len(s0)]
		s3 := src[(r+3)*ld+p0:][:len(s0)]
		for i := range s0 {
			d := panel[(p0+i)*w+r:][:4]
			d[0], d[1], d[2], d[3] = s0[i], s1[i], s2[i], s3[i]
		}
	}
	for ; r < r1; r++ {
		s0 := src[r*ld+p0 : r*ld+p1]
		for i, v := range s0 {
			panel[(p0+i)*w+r] = v
		}
	}
}

// scaleC sets C = beta·C, writing zeros when beta == 0 so that NaN or Inf
// already in C does not survive.
func scaleC(m, n int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		row := c[i*ldc:][:n]
		switch beta {
		case 0:
			clear(row)
		case 1:
		default:
			for j := range row {
				row[j] *= beta
			}
		}
	}
}

// checkArgs validates the shapes, strides and slice lengths of an Sgemm call.
func checkArgs(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) error {
	if m < 0 || n < 0 || k < 0 {
		return fmt.Errorf("gemm: negative size m=%d n=%d k=%d", m, n, k)
	}
	// Stored shapes: A is m×k (k×m when transposed), B is k×n (n×k).
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	if err := checkMatrix("A", ar, ac, a, lda); err != nil {
		return err
	}
	if err := checkMatrix("B", br, bc, b, ldb); err != nil {
		return err
	}
	return checkMatrix("C", m, n, c, ldc)
}

// checkMatrix validates one stored rows×cols matrix with row stride ld.
func checkMatrix(name string, rows, cols int, x []float32, ld int) error {
	if ld < max(1, cols) {
		return fmt.Errorf("gemm: stride of %s is %d, less than its %d columns", name, ld, cols)
	}
	if rows == 0 || cols == 0 {
		return nil
	}
	if need := (rows-1)*ld + cols; len(x) < need {
		return fmt.Errorf("gemm: %s has %d elements, needs %d for %d×%d with stride %d", name, len(x), need, rows, cols, ld)
	}
	return nil
}
