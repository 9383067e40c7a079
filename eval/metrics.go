package eval

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// NormalizedArgmax returns the index of the largest logprob divided by the
// length in characters (Unicode code points, as Python's len counts) of
// its option: lm-evaluation-harness's acc_norm prediction, the lowest
// index on ties. The options' texts are the choices without the target
// delimiter, as lm-evaluation-harness measures them. An empty option
// divides by zero (a task folder rejects them under acc_norm).
func NormalizedArgmax(logprobs []float64, options []string) int {
	norm := make([]float64, len(logprobs))
	for i, lp := range logprobs {
		norm[i] = lp / float64(utf8.RuneCountInString(options[i]))
	}
	return Argmax(norm)
}

// squadPunctuation is Python's string.punctuation, which SQuAD's answer
// normalization removes.
const squadPunctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"

// isWordRune reports whether r is a character of Python's \w in a
// Unicode pattern: a letter, a number or the underscore.
func isWordRune(r rune) bool { return r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r) }

// NormalizeAnswer is SQuAD's answer normalization: lower case, the ASCII
// punctuation removed, the articles a, an and the removed as whole words,
// white space collapsed. It returns the normalized text's tokens (the
// words between white space).
func NormalizeAnswer(s string) []string {
	s = strings.ToLower(s)
	s = strings.Map(func(r rune) rune {
		if r < utf8.RuneSelf && strings.ContainsRune(squadPunctuation, r) {
			return -1
		}
		return r
	}, s)
	// An article is a maximal run of word characters equal to a, an or
	// the (what the regular expression \b(a|an|the)\b matches); it becomes
	// a space.
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if !isWordRune(r) {
			b.WriteString(s[i : i+n])
			i += n
			continue
		}
		j := i
		for j < len(s) {
			r, n := utf8.DecodeRuneInString(s[j:])
			if !isWordRune(r) {
				break
			}
			j += n
		}
		if w := s[i:j]; w == "a" || w == "an" || w == "the" {
			b.WriteByte(' ')
		} else {
			b.WriteString(w)
		}
		i = j
	}
	return strings.Fields(b.String())
}

// TokenF1 is SQuAD's token F1 of a prediction against a reference, both
// normalized with NormalizeAnswer: the harmonic mean of the precision and
// recall of the tokens they share (counted with multiplicity). When either
// has no tokens, it is 1 if both have none and 0 otherwise (SQuAD 2.0's
// rule).
func TokenF1(prediction, reference string) float64 {
	p, r := NormalizeAnswer(prediction), NormalizeAnswer(reference)
	if len(p) == 0 || len(r) == 0 {
		return boolScore(len(p) == len(r))
	}
	count := map[string]int{}
	for _, t := range r {
		count[t]++
	}
	same := 0
	for _, t := range p {
		if count[t] > 0 {
			count[t]--
			same++
		}
	}
	return fMeasure(same, len(p), len(r))
}

// RougeL is the ROUGE-L F-measure (β = 1) of a prediction against a
// reference: the harmonic mean of LCS ÷ |prediction| and LCS ÷ |reference|,
// LCS the length of the longest common subsequence of their tokens, both
// normalized with NormalizeAnswer. Empty token lists score as in TokenF1.
func RougeL(prediction, reference string) float64 {
	p, r := NormalizeAnswer(prediction), NormalizeAnswer(reference)
	if len(p) == 0 || len(r) == 0 {
		return boolScore(len(p) == len(r))
	}
	return fMeasure(lcsLen(p, r), len(p), len(r))
}

// fMeasure is 2PR ÷ (P + R) for P = same/np and R = same/nr (0 when
// nothing is shared).
func fMeasure(same, np, nr int) float64 {
	if same == 0 {
		return 0
	}
	prec, rec := float64(same)/float64(np), float64(same)/float64(nr)
	return 2 * prec * rec / (prec + rec)
}

// lcsLen is the length of the longest common subsequence of a and b (one
// row of the dynamic program at a time).
func lcsLen(a, b []string) int {
	prev, cur := make([]int, len(b)+1), make([]int, len(b)+1)
	for i := range a {
		for j := range b {
			if a[i] == b[j] {
				cur[j+1] = prev[j] + 1
			} else {
				cur[j+1] = max(prev[j+1], cur[j])
			}
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func boolScore(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// ExactMatch reports whether a generation equals the target after
// NormalizeText (white space collapsed and trimmed).
func ExactMatch(prediction, target string) bool {
	return NormalizeText(prediction) == NormalizeText(target)
}
