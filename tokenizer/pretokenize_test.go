package tokenizer

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func split(s string) []string {
	var out []string
	splitGPT2(s, func(w string) { out = append(out, w) })
	return out
}

// TestSplitGPT2 checks the hand-written pattern on cases worked out from the
// regular expression by hand, most of them about white-space runs, where the
// look-ahead \s+(?!\S) leaves a run's last character to the next word.
func TestSplitGPT2(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"Hello world", []string{"Hello", " world"}},
		{" ", []string{" "}},
		{"   ", []string{"   "}},
		{"a  b", []string{"a", " ", " b"}},
		{"a   b", []string{"a", "  ", " b"}},
		{"   x", []string{"  ", " x"}},
		{"trailing   ", []string{"trailing", "   "}},
		{"x  \n", []string{"x", "  \n"}},
		{"\n\nx", []string{"\n", "\n", "x"}},
		{"\nx", []string{"\n", "x"}},
		{" \tx", []string{" ", "\t", "x"}},
		{"\t\t\tend", []string{"\t\t", "\t", "end"}},
		{"a \n b", []string{"a", " \n", " b"}},
		{"a\u00a0b", []string{"a", "\u00a0", "b"}},
		{"a \u00a0b", []string{"a", " ", "\u00a0", "b"}},
		{"a\u3000\u3000b", []string{"a", "\u3000", "\u3000", "b"}},
		{"  !x", []string{" ", " !", "x"}},
		{"I'm", []string{"I", "'m"}},
		{"don't they'll", []string{"don", "'t", " they", "'ll"}},
		{"HE'D", []string{"HE", "'", "D"}},
		{"''s", []string{"''", "s"}},
		{" 's", []string{" '", "s"}},
		{"'sup", []string{"'s", "up"}},
		{"!'s", []string{"!'", "s"}},
		{"3.14", []string{"3", ".", "14"}},
		{" 42x", []string{" 42", "x"}},
		{"x42", []string{"x", "42"}},
		{"Ⅻ½", []string{"Ⅻ½"}},
		{"日本語 テキスト", []string{"日本語", " テキスト"}},
		{"a...b", []string{"a", "...", "b"}},
		{"😀 😃", []string{"😀", " 😃"}},
		{"\xff\xfe a", []string{"\xff\xfe", " a"}},
		{"a\xffb", []string{"a", "\xff", "b"}},
	} {
		if got := split(c.in); !reflect.DeepEqual(got, c.want) {
			t.Errorf("split(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestByteRunes(t *testing.T) {
	seen := map[rune]bool{}
	for b, r := range byteRunes {
		if seen[r] {
			t.Fatalf("byte %#x maps to %q, already taken", b, r)
		}
		seen[r] = true
		if back, ok := runeByte(r); !ok || int(back) != b {
			t.Fatalf("runeByte(byteRunes[%#x]) = %#x, %v", b, back, ok)
		}
	}
	// GPT-2's well-known spellings: space is Ġ, newline Ċ, tab ĉ.
	for b, want := range map[byte]rune{' ': 'Ġ', '\n': 'Ċ', '\t': 'ĉ', 'a': 'a', 0xff: 'ÿ'} {
		if byteRunes[b] != want {
			t.Errorf("byteRunes[%#x] = %q, want %q", b, byteRunes[b], want)
		}
	}
	if _, ok := runeByte('Ā' + 68); ok {
		t.Error("runeByte accepted a character past the byte alphabet")
	}
}

// FuzzSplitGPT2 checks that the words of any byte string are non-empty and
// concatenate to it, and that each is a contraction or an optional space
// followed by a run of one class of characters.
func FuzzSplitGPT2(f *testing.F) {
	for _, s := range []string{"", "a  b", "\n\n x", "I'm here", "\xff\x00 é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		words := split(s)
		if got := strings.Join(words, ""); got != s {
			t.Fatalf("words %q join to %q", words, got)
		}
		for _, w := range words {
			if w == "" {
				t.Fatalf("empty word in %q", words)
			}
			if slices.Contains(contractions[:], w) {
				continue
			}
			rest := w
			if r, size := utf8.DecodeRuneInString(w[min(1, len(w)):]); w[0] == ' ' && len(w) > 1 && classOf(r, size) != classSpace {
				rest = w[1:]
			}
			r, size := utf8.DecodeRuneInString(rest)
			if runOf(rest, classOf(r, size)) != len(rest) {
				t.Fatalf("word %q of %q mixes classes of characters", w, s)
			}
		}
	})
}
