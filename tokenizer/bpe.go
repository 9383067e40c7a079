package tokenizer

import (
	"strings"
	"sync"
	"unicode/utf8"
)

// BPE is a byte-level BPE tokenizer, GPT-2's: text is split into added
// tokens (matched verbatim, longest first) and the pieces between them; each
// piece is split into words by GPT-2's pattern (see splitGPT2); each word's
// bytes start as one symbol per byte and are merged pairwise, the pair of
// lowest merge rank first, every occurrence of it from left to right, until
// no adjacent pair has a merge. Every byte string encodes (the vocabulary
// holds a token for every byte) and decodes back to itself.
//
// A BPE is immutable apart from its word cache and safe for concurrent use.
type BPE struct {
	tokens []string // id → vocabulary spelling, or an added token's content ("" for an unused id)
	added  []bool   // id → the id is an added token (decoded verbatim)
	vocab  map[string]int
	merges map[uint64]bpeMerge // (left id, right id) → the merge
	// byteIDs is the id of each byte's one-character token.
	byteIDs [256]int
	// addedTokens are matched in the text before the split, longest first.
	addedTokens    []addedToken
	addPrefixSpace bool // ByteLevel add_prefix_space: a piece gets a leading space when it has none
	useRegex       bool // ByteLevel use_regex: split pieces into words (false: a piece is one word)
	ignoreMerges   bool // BPE ignore_merges: a word in the vocabulary is one token
	special        Special
	cache          *wordCache
}

// bpeMerge is one merge rule: its rank (lower merges first) and the id of
// the token it makes.
type bpeMerge struct {
	rank, id int32
}

// addedToken is a token matched verbatim in the text.
type addedToken struct {
	content string
	id      int
}

func pairKey(a, b int) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

// Size is one more than the largest id.
func (t *BPE) Size() int { return len(t.tokens) }

// Special returns the ids of the end- and beginning-of-sequence tokens.
func (t *BPE) Special() Special { return t.special }

// Token returns the vocabulary spelling of id (for an added token, its
// content), or "" when id is unused or out of range.
func (t *BPE) Token(id int) string {
	if id < 0 || id >= len(t.tokens) {
		return ""
	}
	return t.tokens[id]
}

// ID returns the id of a token given in its vocabulary spelling (bytes
// mapped to GPT-2's printable characters, e.g. "Ġthe"), or of an added
// token given by its content.
func (t *BPE) ID(token string) (int, bool) {
	id, ok := t.vocab[token]
	return id, ok
}

// Encode returns the token ids of text.
func (t *BPE) Encode(text string) []int {
	var out []int
	for len(text) > 0 {
		i, at := t.nextAdded(text)
		if i < 0 {
			return t.encodePiece(text, out)
		}
		out = t.encodePiece(text[:i], out)
		out = append(out, at.id)
		text = text[i+len(at.content):]
	}
	return out
}

// EncodeStrict is Encode: every text has an encoding. It exists so that BPE
// satisfies Codec.
func (t *BPE) EncodeStrict(text string) ([]int, error) { return t.Encode(text), nil }

// nextAdded returns the byte offset of the earliest added token in text
// (the longest one at that offset), or -1.
func (t *BPE) nextAdded(text string) (int, addedToken) {
	best, bestTok := -1, addedToken{}
	for _, a := range t.addedTokens { // longest first: ties keep the longest
		i := strings.Index(text, a.content)
		if i >= 0 && (best < 0 || i < best) {
			best, bestTok = i, a
		}
	}
	return best, bestTok
}

// encodePiece appends the ids of a text without added tokens to out.
func (t *BPE) encodePiece(piece string, out []int) []int {
	if piece == "" {
		return out
	}
	if t.addPrefixSpace && piece[0] != ' ' {
		piece = " " + piece
	}
	if !t.useRegex {
		return t.encodeWord(piece, out)
	}
	splitGPT2(piece, func(w string) { out = t.encodeWord(w, out) })
	return out
}

// cacheMaxWord is the longest word (in bytes) the cache keeps.
const cacheMaxWord = 64

// encodeWord appends the ids of one word to out.
func (t *BPE) encodeWord(word string, out []int) []int {
	if len(word) <= cacheMaxWord {
		if ids, ok := t.cache.get(word); ok {
			return append(out, ids...)
		}
	}
	ids := t.bpe(word)
	if len(word) <= cacheMaxWord {
		t.cache.put(word, ids)
	}
	return append(out, ids...)
}

// bpe merges the bytes of word into tokens.
func (t *BPE) bpe(word string) []int {
	if t.ignoreMerges {
		if id, ok := t.vocab[spell(word)]; ok {
			return []int{id}
		}
	}
	sym := make([]int, len(word))
	for i := 0; i < len(word); i++ {
		sym[i] = t.byteIDs[word[i]]
	}
	for len(sym) > 1 {
		best, bestRank := -1, int32(0)
		for i := 0; i+1 < len(sym); i++ {
			if m, ok := t.merges[pairKey(sym[i], sym[i+1])]; ok && (best < 0 || m.rank < bestRank) {
				best, bestRank = i, m.rank
			}
		}
		if best < 0 {
			break
		}
		a, b := sym[best], sym[best+1]
		merged := int(t.merges[pairKey(a, b)].id)
		j := best
		for i := best; i < len(sym); j++ {
			if i+1 < len(sym) && sym[i] == a && sym[i+1] == b {
				sym[j] = merged
				i += 2
			} else {
				sym[j] = sym[i]
				i++
			}
		}
		sym = sym[:j]
	}
	return sym
}

// spell maps the bytes of s to GPT-2's printable characters.
func spell(s string) string {
	var b strings.Builder
	b.Grow(2 * len(s))
	for i := 0; i < len(s); i++ {
		b.WriteRune(byteRunes[s[i]])
	}
	return b.String()
}

// Decode returns the text of ids: the bytes that vocabulary tokens spell and
// the content of added tokens. An unused or out-of-range id is written as
// U+FFFD, as is a character of a token that spells no byte.
func (t *BPE) Decode(ids []int) string {
	var b strings.Builder
	for _, id := range ids {
		if id < 0 || id >= len(t.tokens) || t.tokens[id] == "" {
			b.WriteRune(utf8.RuneError)
			continue
		}
		if t.added[id] {
			b.WriteString(t.tokens[id])
			continue
		}
		for _, r := range t.tokens[id] {
			c, ok := runeByte(r)
			if !ok {
				b.WriteRune(utf8.RuneError)
				continue
			}
			b.WriteByte(c)
		}
	}
	return b.String()
}

// wordCache remembers the ids of recent words. It holds at most max words;
// when full it starts over, which bounds its memory whatever the text.
type wordCache struct {
	mu  sync.RWMutex
	m   map[string][]int
	max int
}

func newWordCache(max int) *wordCache {
	return &wordCache{m: make(map[string][]int), max: max}
}

func (c *wordCache) get(w string) ([]int, bool) {
	c.mu.RLock()
	ids, ok := c.m[w]
	c.mu.RUnlock()
	return ids, ok
}

func (c *wordCache) put(w string, ids []int) {
	c.mu.Lock()
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[strings.Clone(w)] = ids
	c.mu.Unlock()
}

// len returns the number of cached words.
func (c *wordCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}
