package eval

import (
	"math"
	"testing"
)

func TestArgmax(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want int
	}{
		{[]float64{-1, -2, -3}, 0},
		{[]float64{-3, -1, -1}, 1}, // tie: lowest index
		{[]float64{math.NaN(), -5}, 1},
		{nil, -1},
	} {
		if got := Argmax(c.in); got != c.want {
			t.Errorf("Argmax(%v) = %d, want %d", c.in, got, c.want)
		}
	}
}
