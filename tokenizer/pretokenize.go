package tokenizer

import (
	"unicode"
	"unicode/utf8"
)

// This file holds GPT-2's byte-level pre-tokenization: the split of a text
// into words before BPE, and the map from bytes to the printable characters
// in which GPT-2's vocabulary spells them.
//
// GPT-2 splits with the regular expression
//
//	's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//
// whose look-ahead Go's regexp cannot express, so splitGPT2 implements the
// same leftmost-first alternation by hand. \s is Unicode's White_Space
// property (unicode.IsSpace), as in Oniguruma, which Hugging Face's
// tokenizers use; the optional prefix is U+0020 only. A byte that is not
// part of valid UTF-8 counts as one character that is neither white space,
// a letter nor a number, so that every byte string splits and round-trips.

// charClass is a character's class for the split.
type charClass uint8

const (
	classSpace charClass = iota // \s
	classLetter
	classNumber
	classOther // [^\s\p{L}\p{N}], and invalid UTF-8 bytes
)

func classOf(r rune, size int) charClass {
	switch {
	case r == utf8.RuneError && size <= 1:
		return classOther
	case unicode.IsSpace(r):
		return classSpace
	case unicode.IsLetter(r):
		return classLetter
	case unicode.IsNumber(r):
		return classNumber
	}
	return classOther
}

// contractions are GPT-2's first alternatives, in the pattern's order.
var contractions = [...]string{"'s", "'t", "'re", "'ve", "'m", "'ll", "'d"}

// splitGPT2 calls emit with each word of text, in order; the words
// concatenate to text.
func splitGPT2(text string, emit func(word string)) {
	for i := 0; i < len(text); {
		n := matchGPT2(text[i:])
		emit(text[i : i+n])
		i += n
	}
}

// matchGPT2 returns the length in bytes of the pattern's match at the start
// of s (non-empty). Every character starts a match: the last alternative,
// \s+, and the classes of the others cover every character.
func matchGPT2(s string) int {
	for _, c := range contractions {
		if len(s) >= len(c) && s[:len(c)] == c {
			return len(c)
		}
	}
	r, size := utf8.DecodeRuneInString(s)
	cl := classOf(r, size)
	// " ?\p{L}+", " ?\p{N}+", " ?[^\s\p{L}\p{N}]+": an optional U+0020
	// followed by a run of one class.
	start := 0
	if r == ' ' && size < len(s) {
		r2, size2 := utf8.DecodeRuneInString(s[size:])
		if c2 := classOf(r2, size2); c2 != classSpace {
			cl, start = c2, size
		}
	}
	if cl != classSpace {
		return start + runOf(s[start:], cl)
	}
	// "\s+(?!\S)": the whole run of white space when it ends the text or
	// when backing off by one character leaves a space next; the run
	// without its last character otherwise, if that is not empty.
	// "\s+": the single character that remains.
	n := runOf(s, classSpace)
	if n == len(s) {
		return n
	}
	_, lastSize := utf8.DecodeLastRuneInString(s[:n])
	if n-lastSize > 0 {
		return n - lastSize
	}
	return n
}

// runOf returns the length in bytes of the longest prefix of s whose
// characters are all of class cl.
func runOf(s string, cl charClass) int {
	i := 0
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		if classOf(r, size) != cl {
			break
		}
		i += size
	}
	return i
}

// byteRunes maps every byte to the character that spells it in GPT-2's
// vocabulary: printable Latin-1 characters stand for themselves, the other
// bytes (controls, space, 0x7F–0xA0, 0xAD) for 256 + their rank among them.
var byteRunes = func() [256]rune {
	var m [256]rune
	n := 0
	for b := 0; b < 256; b++ {
		if ('!' <= b && b <= '~') || (0xA1 <= b && b <= 0xAC) || (0xAE <= b && b <= 0xFF) {
			m[b] = rune(b)
		} else {
			m[b] = rune(256 + n)
			n++
		}
	}
	return m
}()

// runeBytes is the inverse of byteRunes, indexed by character: the byte
// it spells plus one, or 0 for a character that spells no byte.
var runeBytes = func() [256 + 68]int16 {
	var m [256 + 68]int16
	for b, r := range byteRunes {
		m[r] = int16(b) + 1
	}
	return m
}()

// runeByte returns the byte that a vocabulary character spells, and whether
// it spells one.
func runeByte(r rune) (byte, bool) {
	if r < 0 || int(r) >= len(runeBytes) || runeBytes[r] == 0 {
		return 0, false
	}
	return byte(runeBytes[r] - 1), true
}
