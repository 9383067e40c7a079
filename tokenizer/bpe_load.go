package tokenizer

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// bpeCacheWords bounds a BPE's word cache.
const bpeCacheWords = 1 << 16

// bpeJSON is tokenizer.json as a byte-level BPE reads it.
type bpeJSON struct {
	AddedTokens  []hfAddedToken  `json:"added_tokens"`
	Normalizer   json.RawMessage `json:"normalizer"`
	PreTokenizer json.RawMessage `json:"pre_tokenizer"`
	Model        struct {
		Type                    string          `json:"type"`
		Vocab                   map[string]int  `json:"vocab"`
		Merges                  json.RawMessage `json:"merges"`
		Dropout                 *float64        `json:"dropout"`
		ContinuingSubwordPrefix *string         `json:"continuing_subword_prefix"`
		EndOfWordSuffix         *string         `json:"end_of_word_suffix"`
		ByteFallback            bool            `json:"byte_fallback"`
		IgnoreMerges            bool            `json:"ignore_merges"`
	} `json:"model"`
}

// byteLevel is the ByteLevel pre-tokenizer's settings.
type byteLevel struct {
	Type           string `json:"type"`
	AddPrefixSpace bool   `json:"add_prefix_space"`
	UseRegex       *bool  `json:"use_regex"`
}

// LoadBPE reads a byte-level BPE tokenizer from dir: tokenizer.json (model
// type BPE with the ByteLevel pre-tokenizer and no normalizer) or, when it
// is absent, vocab.json and merges.txt (GPT-2's original files; added_tokens.json
// is read when present). The end- and beginning-of-sequence tokens come from
// special_tokens_map.json or tokenizer_config.json (eos_token, bos_token)
// and otherwise from config.json (eos_token_id, bos_token_id); see Special.
// Those tokens are matched verbatim in the text like added tokens.
func LoadBPE(dir string) (*BPE, error) {
	path := filepath.Join(dir, "tokenizer.json")
	b, err := os.ReadFile(path)
	var t *BPE
	switch {
	case err == nil:
		t, err = parseBPEJSON(path, b)
	case errors.Is(err, os.ErrNotExist):
		t, err = loadVocabMerges(dir)
	default:
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	if err != nil {
		return nil, err
	}
	if err := t.resolveSpecial(dir); err != nil {
		return nil, err
	}
	return t, nil
}

// parseBPEJSON builds a BPE from the contents of a tokenizer.json.
func parseBPEJSON(path string, b []byte) (*BPE, error) {
	var doc bpeJSON
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	bad := func(format string, a ...any) (*BPE, error) {
		return nil, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, a...))
	}
	m := doc.Model
	if m.Type != "BPE" {
		return bad("model type %q is not a byte-level BPE", m.Type)
	}
	if !isNull(doc.Normalizer) {
		return bad("key \"normalizer\": normalizers are not supported (GPT-2's is null)")
	}
	var pre byteLevel
	if err := json.Unmarshal(doc.PreTokenizer, &pre); err != nil || pre.Type != "ByteLevel" {
		return bad("key \"pre_tokenizer\": only the ByteLevel pre-tokenizer is supported, got %s", compact(doc.PreTokenizer))
	}
	switch {
	case m.Dropout != nil && *m.Dropout != 0:
		return bad("key \"model.dropout\": BPE dropout is not supported")
	case m.ContinuingSubwordPrefix != nil && *m.ContinuingSubwordPrefix != "":
		return bad("key \"model.continuing_subword_prefix\" is not supported")
	case m.EndOfWordSuffix != nil && *m.EndOfWordSuffix != "":
		return bad("key \"model.end_of_word_suffix\" is not supported")
	case m.ByteFallback:
		return bad("key \"model.byte_fallback\" is not supported (byte-level BPE needs none)")
	}
	merges, err := parseMergesJSON(m.Merges)
	if err != nil {
		return bad("key \"model.merges\": %v", err)
	}
	var added []addedToken
	for _, a := range doc.AddedTokens {
		if a.LStrip || a.RStrip || a.SingleWord {
			return bad("added token %q: lstrip, rstrip and single_word are not supported", a.Content)
		}
		added = append(added, addedToken{content: a.Content, id: a.ID})
	}
	t, err := newBPE(m.Vocab, merges, added)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	t.addPrefixSpace = pre.AddPrefixSpace
	t.useRegex = pre.UseRegex == nil || *pre.UseRegex
	t.ignoreMerges = m.IgnoreMerges
	return t, nil
}

func isNull(r json.RawMessage) bool {
	return len(bytes.TrimSpace(r)) == 0 || string(bytes.TrimSpace(r)) == "null"
}

func compact(r json.RawMessage) string {
	if len(r) > 80 {
		return string(r[:80]) + "…"
	}
	return string(r)
}

// parseMergesJSON reads merges written as "a b" strings or as [a, b] pairs.
func parseMergesJSON(r json.RawMessage) ([][2]string, error) {
	var strs []string
	if err := json.Unmarshal(r, &strs); err == nil {
		out := make([][2]string, len(strs))
		for i, s := range strs {
			p, err := splitMerge(s)
			if err != nil {
				return nil, fmt.Errorf("merge %d: %w", i, err)
			}
			out[i] = p
		}
		return out, nil
	}
	var pairs [][]string
	if err := json.Unmarshal(r, &pairs); err != nil {
		return nil, errors.New("want a list of \"a b\" strings or of [a, b] pairs")
	}
	out := make([][2]string, len(pairs))
	for i, p := range pairs {
		if len(p) != 2 {
			return nil, fmt.Errorf("merge %d has %d parts, want 2", i, len(p))
		}
		out[i] = [2]string{p[0], p[1]}
	}
	return out, nil
}

// splitMerge splits a merge line "a b".
func splitMerge(s string) ([2]string, error) {
	parts := strings.Split(s, " ")
	if len(parts) != 2 || parts[0] == "" || parts[1] == "" {
		return [2]string{}, fmt.Errorf("%q is not two tokens separated by one space", s)
	}
	return [2]string{parts[0], parts[1]}, nil
}

// loadVocabMerges reads vocab.json, merges.txt and added_tokens.json.
func loadVocabMerges(dir string) (*BPE, error) {
	vpath := filepath.Join(dir, "vocab.json")
	b, err := os.ReadFile(vpath)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	var vocab map[string]int
	if err := json.Unmarshal(b, &vocab); err != nil {
		return nil, fmt.Errorf("%s: %w", vpath, err)
	}
	mpath := filepath.Join(dir, "merges.txt")
	f, err := os.Open(mpath)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	defer f.Close()
	var merges [][2]string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimSuffix(sc.Text(), "\r")
		if s == "" || (line == 1 && strings.HasPrefix(s, "#version")) {
			continue
		}
		p, err := splitMerge(s)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", mpath, line, err)
		}
		merges = append(merges, p)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", mpath, err)
	}
	var added []addedToken
	apath := filepath.Join(dir, "added_tokens.json")
	if b, err := os.ReadFile(apath); err == nil {
		var m map[string]int
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("%s: %w", apath, err)
		}
		for c, id := range m {
			added = append(added, addedToken{content: c, id: id})
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	t, err := newBPE(vocab, merges, added)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", vpath, err)
	}
	t.useRegex = true
	return t, nil
}

// newBPE checks a vocabulary, its merges and its added tokens and builds the
// tokenizer (GPT-2's settings: no prefix space, the pattern split).
func newBPE(vocab map[string]int, merges [][2]string, added []addedToken) (*BPE, error) {
	if len(vocab) == 0 {
		return nil, errors.New("empty vocabulary")
	}
	size := 0
	for w, id := range vocab {
		if id < 0 {
			return nil, fmt.Errorf("token %q has negative id %d", w, id)
		}
		size = max(size, id+1)
	}
	for _, a := range added {
		if a.id < 0 || a.content == "" {
			return nil, fmt.Errorf("added token %q with id %d is invalid", a.content, a.id)
		}
		size = max(size, a.id+1)
	}
	if n := len(vocab) + len(added); size > 2*n+1024 {
		return nil, fmt.Errorf("ids go up to %d for %d tokens; the vocabulary is too sparse", size-1, n)
	}
	t := &BPE{
		tokens: make([]string, size),
		added:  make([]bool, size),
		vocab:  make(map[string]int, len(vocab)+len(added)),
		merges: make(map[uint64]bpeMerge, len(merges)),
		cache:  newWordCache(bpeCacheWords),
		// GPT-2's settings; tokenizer.json may change them.
		useRegex: true,
		special:  Special{BOS: NoToken, EOS: NoToken},
	}
	for w, id := range vocab {
		if t.tokens[id] != "" {
			return nil, fmt.Errorf("tokens %q and %q share id %d", t.tokens[id], w, id)
		}
		if w == "" {
			return nil, fmt.Errorf("empty token with id %d", id)
		}
		t.tokens[id] = w
		t.vocab[w] = id
	}
	for _, a := range added {
		if prev := t.tokens[a.id]; prev != "" && prev != a.content {
			return nil, fmt.Errorf("added token %q has id %d, which the vocabulary gives to %q", a.content, a.id, prev)
		}
		if id, ok := t.vocab[a.content]; ok && id != a.id {
			return nil, fmt.Errorf("added token %q has id %d, but the vocabulary gives it id %d", a.content, a.id, id)
		}
		t.tokens[a.id] = a.content
		t.vocab[a.content] = a.id
		t.markAdded(a)
	}
	for b := 0; b < 256; b++ {
		id, ok := vocab[string(byteRunes[b])]
		if !ok {
			return nil, fmt.Errorf("the vocabulary has no token for byte 0x%02x (%q); a byte-level BPE needs all 256", b, string(byteRunes[b]))
		}
		t.byteIDs[b] = id
	}
	for rank, m := range merges {
		a, okA := vocab[m[0]]
		b, okB := vocab[m[1]]
		ab, okAB := vocab[m[0]+m[1]]
		if !okA || !okB || !okAB {
			return nil, fmt.Errorf("merge %d %q: a token of it or its result is not in the vocabulary", rank, m[0]+" "+m[1])
		}
		k := pairKey(a, b)
		if _, dup := t.merges[k]; dup {
			continue // a repeated merge keeps its first (lowest) rank
		}
		t.merges[k] = bpeMerge{rank: int32(rank), id: int32(ab)}
	}
	return t, nil
}

// markAdded records a as matched verbatim in the text, keeping the list
// longest first (then by id) so that the longest of tokens at the same
// offset wins.
func (t *BPE) markAdded(a addedToken) {
	t.added[a.id] = true
	for _, x := range t.addedTokens {
		if x.id == a.id {
			return
		}
	}
	t.addedTokens = append(t.addedTokens, a)
	sort.Slice(t.addedTokens, func(i, j int) bool {
		x, y := t.addedTokens[i], t.addedTokens[j]
		if len(x.content) != len(y.content) {
			return len(x.content) > len(y.content)
		}
		return x.id < y.id
	})
}
