//go:build amd64 && !purego

package merge

import (
	"math"
	"math/bits"
	"unsafe"
)

//go:noescape
func bracketAVX2(e, b *float32, n int, sub float32, lo1, hi int32, masks *uint8) (greater int)

// collectBracket counts the entries of [clo, chi) with magnitude bits above
// hi and lists those within [lo, hi] as rank keys, up to max (see
// collectBracketGo). Groups of eight entries are classified with AVX2;
// only the groups holding a candidate are revisited. chi − clo must not
// exceed chunkLen.
func collectBracket(e, b []float32, clo, chi int, lo, hi uint32, max int) (int, []uint64, bool) {
	n8 := (chi - clo) &^ 7
	if !haveAVX2 || n8 == 0 {
		return collectBracketGo(e, b, clo, chi, lo, hi, max)
	}
	ee := e[clo : clo+n8]
	sub := float32(1)
	bb := ee
	if b == nil {
		sub = 0 // τ = e
	} else {
		bb = b[clo : clo+n8]
	}
	// Magnitude bits are below 2³¹: clamp the bounds to int32.
	lo1 := int32(int64(lo) - 1)
	if lo > math.MaxInt32 {
		lo1 = math.MaxInt32
	}
	hi32 := int32(min(hi, math.MaxInt32))
	// One mask bit per entry, bytes written by the kernel, read back as
	// little-endian words: bit j of the array is entry j.
	var masks [chunkLen / 64]uint64
	words := (n8 + 63) / 64
	clear(masks[:words])
	g := bracketAVX2(&ee[0], &bb[0], n8, sub, lo1, hi32, (*uint8)(unsafe.Pointer(&masks[0])))
	// Size the list once: growing it by appends costs more than the scan.
	count := 0
	for _, m := range masks[:words] {
		count += bits.OnesCount64(m)
	}
	if count > max {
		return 0, nil, true
	}
	list := make([]uint64, count)
	c := 0
	for wi, m := range masks[:words] {
		for m != 0 {
			j := wi*64 + bits.TrailingZeros64(m)
			m &= m - 1
			ab := math.Float32bits(ee[j]-sub*bb[j]) & absMask
			list[c] = rankKey(ab, clo+j)
			c++
		}
	}
	tg, tl, over := collectBracketGo(e, b, clo+n8, chi, lo, hi, max-len(list))
	if over {
		return 0, nil, true
	}
	return g + tg, append(list, tl...), false
}
