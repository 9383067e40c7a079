package eval

import (
	"math"
	"reflect"
	"testing"
)

func TestNormalizeAnswer(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		// Lower case; punctuation removed, not replaced (brown-fox's →
		// brownfoxs); articles removed as whole words.
		{"The Quick, brown-fox's  AN apple!", []string{"quick", "brownfoxs", "apple"}},
		{"banana an-a the.", []string{"banana", "ana"}}, // "an-a" → "ana"; "the." → "the" → removed
		{"A", nil},
		{"  \t\n", nil},
		// A non-ASCII apostrophe is no punctuation to SQuAD, but it is no word
		// character either: the "a" after it is a whole word.
		{"l’a vu", []string{"l’", "vu"}},
		{"Théâtre THE_END", []string{"théâtre", "theend"}}, // "_" is punctuation: removed first
		{"x2 the2 a1", []string{"x2", "the2", "a1"}},
	} {
		if got := NormalizeAnswer(c.in); !reflect.DeepEqual(got, c.want) && !(len(got) == 0 && len(c.want) == 0) {
			t.Errorf("NormalizeAnswer(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestTokenF1AndRougeL(t *testing.T) {
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-12 }
	for _, c := range []struct {
		pred, ref string
		f1, rouge float64
	}{
		// p = [cat sat on mat], r = [cat on mat]: 3 shared, P 3/4, R 1 →
		// F1 6/7; the LCS is "cat on mat" as well.
		{"The cat sat on the mat.", "a cat on a mat", 6.0 / 7, 6.0 / 7},
		// Multiplicity: [red red blue] against [red blue blue] shares one red
		// and one blue: P = R = 2/3. LCS "red blue" = 2 as well.
		{"red red blue", "red blue blue", 2.0 / 3, 2.0 / 3},
		// Order: F1 ignores it, ROUGE-L does not. [police killed gunman]
		// against [gunman police killed]: LCS "police killed" = 2, P = R = 2/3.
		{"the gunman police killed", "police killed the gunman", 1, 2.0 / 3},
		{"y x", "x y", 1, 0.5},
		{"Paris", "paris!", 1, 1},
		{"london", "paris", 0, 0},
		// Nothing left after normalization: 1 if both are empty, else 0.
		{"the", "a", 1, 1},
		{"", "paris", 0, 0},
		{"paris", "an", 0, 0},
	} {
		if got := TokenF1(c.pred, c.ref); !near(got, c.f1) {
			t.Errorf("TokenF1(%q, %q) = %v, want %v", c.pred, c.ref, got, c.f1)
		}
		if got := RougeL(c.pred, c.ref); !near(got, c.rouge) {
			t.Errorf("RougeL(%q, %q) = %v, want %v", c.pred, c.ref, got, c.rouge)
		}
	}
}

func TestNormalizedArgmax(t *testing.T) {
	for _, c := range []struct {
		lps     []float64
		options []string
		want    int
	}{
		// -4/2 = -2 against -6/4 = -1.5: the longer option wins, where the
		// raw log-likelihood picks the first.
		{[]float64{-4, -6}, []string{"ab", "abcd"}, 1},
		// Characters, not bytes: "é" is one character (two bytes), so
		// -1.5/1 against -2/2 = -1 picks "ab"; by bytes "é" would win.
		{[]float64{-1.5, -2}, []string{"é", "ab"}, 1},
		{[]float64{-2, -4}, []string{"x", "yy"}, 0}, // a tie goes to the lower index
	} {
		if got := NormalizedArgmax(c.lps, c.options); got != c.want {
			t.Errorf("NormalizedArgmax(%v, %q) = %d, want %d", c.lps, c.options, got, c.want)
		}
	}
}
