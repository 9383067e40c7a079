//go:build !amd64 || purego

package merge

// collectBracket counts the entries of [clo, chi) with magnitude bits above
// hi and lists those within [lo, hi] as rank keys, up to max (see
// collectBracketGo).
func collectBracket(e, b []float32, clo, chi int, lo, hi uint32, max int) (int, []uint64, bool) {
	return collectBracketGo(e, b, clo, chi, lo, hi, max)
}
