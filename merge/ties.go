package merge

import "math"

// The portable block kernels of the TIES consensus (sign election and
// disjoint mean). ties_amd64.s does the same operations in the same order
// with AVX2, so results do not depend on which one runs (products are
// converted explicitly so that the compiler never fuses them into an add).
//
// Σ wᵢτ̂ᵢ is split by the sign of each term: pn and pw collect the positive
// terms wᵢτ̂ᵢ and their weights wᵢ, nn and nw the negative ones. An entry
// then elects the sign of pn + nn (+ on a tie) and its disjoint mean is
// pn/pw or nn/nw.

// consAccGo adds the terms x = w·τ̂ⱼ of one expert to the sums, branch-free.
func consAccGo(pn, nn, pw, nw []float64, t []float32, w float64) {
	wb := math.Float64bits(w)
	t, nn, pw, nw = t[:len(pn)], nn[:len(pn)], pw[:len(pn)], nw[:len(pn)]
	for j, v := range t {
		x := w * float64(v)
		xb := math.Float64bits(x)
		y := xb << 1
		nz := -((y | -y) >> 63) // all ones iff x ≠ 0
		neg := uint64(int64(xb)>>63) & nz
		pos := nz &^ neg
		pn[j] += math.Float64frombits(xb & pos)
		nn[j] += math.Float64frombits(xb & neg)
		pw[j] += math.Float64frombits(wb & pos)
		nw[j] += math.Float64frombits(wb & neg)
	}
}

// consCutGo trims τ = e − b in place of the sparsifier — τ̂ⱼ = τⱼ where the
// magnitude bits of τⱼ exceed thr, else +0 (as cutRange) — and adds w·τ̂ to
// the sums like consAccGo. It reports a NaN or Inf τⱼ.
func consCutGo(pn, nn, pw, nw []float64, e, b []float32, w float64, thr int64) bool {
	wb := math.Float64bits(w)
	e, b, nn, pw, nw = e[:len(pn)], b[:len(pn)], nn[:len(pn)], pw[:len(pn)], nw[:len(pn)]
	var bad uint32
	for j := range pn {
		tb := math.Float32bits(e[j] - b[j])
		ab := tb & absMask
		bad |= ab + badProbe
		m := uint32((thr - int64(ab)) >> 63)
		x := w * float64(math.Float32frombits(tb&m))
		xb := math.Float64bits(x)
		y := xb << 1
		nz := -((y | -y) >> 63)
		neg := uint64(int64(xb)>>63) & nz
		pos := nz &^ neg
		pn[j] += math.Float64frombits(xb & pos)
		nn[j] += math.Float64frombits(xb & neg)
		pw[j] += math.Float64frombits(wb & pos)
		nw[j] += math.Float64frombits(wb & neg)
	}
	return bad&signBit != 0
}

// consFinishGo elects each entry's sign and writes o = b + λ·(disjoint sum,
// divided by the agreeing weights when normalize and they are non-zero).
func consFinishGo(o []float32, pn, nn, pw, nw []float64, b []float32, lambda float64, normalize bool) {
	pn, nn, pw, nw, b = pn[:len(o)], nn[:len(o)], pw[:len(o)], nw[:len(o)], b[:len(o)]
	for j := range o {
		num, den := pn[j], pw[j]
		if pn[j]+nn[j] < 0 {
			num, den = nn[j], nw[j]
		}
		if normalize && den != 0 {
			num /= den
		}
		o[j] = float32(float64(b[j]) + float64(lambda*num))
	}
}

// cutThr32 clamps a cut threshold to the int32 range the vector kernel
// compares with; magnitude bits are in [0, 2³¹), so the kept set is the
// same.
func cutThr32(thr int64) int32 {
	return int32(min(max(thr, -1), math.MaxInt32))
}

// consRowsGo is the whole consensus of entries [0, len(o)) in one pass:
// rows[i] holds expert i's τ̂ for these entries and w[i] its weight. Each
// entry's sums are built over the experts in order, as consAccGo builds
// them, and the output is written as consFinishGo writes it, so the result
// is bit-identical to consAcc over every row followed by consFinish, without
// the float64 sums ever leaving registers. Every τ̂ must be finite (the
// merge rejects a non-finite τ before it elects signs).
func consRowsGo(o, b []float32, rows [][]float32, w []float64, lambda float64, normalize bool) {
	consRowsFrom(0, o, b, rows, w, lambda, normalize)
}

// consRowsFrom is consRowsGo over entries [from, len(o)).
func consRowsFrom(from int, o, b []float32, rows [][]float32, w []float64, lambda float64, normalize bool) {
	b = b[:len(o)]
	for j := from; j < len(o); j++ {
		var pn, nn, pw, nw float64
		for i, r := range rows {
			x := float64(w[i] * float64(r[j])) // rounded: never fused
			switch {
			case x > 0:
				pn += x
				pw += w[i]
			case x < 0:
				nn += x
				nw += w[i]
			}
		}
		num, den := pn, pw
		if pn+nn < 0 {
			num, den = nn, nw
		}
		if normalize && den != 0 {
			num /= den
		}
		o[j] = float32(float64(b[j]) + float64(lambda*num))
	}
}
