// Package tokenizer holds the tokenizers of mergescale behind one interface,
// Codec:
//
//   - Tokenizer, the word-level vocabulary shared by the built-in models and
//     the task suite, read and written in Hugging Face's formats
//     (tokenizer.json with a WordLevel model, and vocab.json). Text is split
//     on white space; every word must be in the vocabulary, except that
//     Encode maps unknown words to <unk> and EncodeStrict reports them. Its
//     special tokens have fixed ids (PadID … AnsID).
//   - BPE, GPT-2's byte-level BPE, read from tokenizer.json or from
//     vocab.json + merges.txt, for GPT-2-format checkpoints trained
//     elsewhere. Its end- and beginning-of-sequence ids come from the model
//     directory's files (see LoadBPE).
//
// LoadCodec reads whichever a model directory holds.
package tokenizer

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"mergescale/internal/atomicfile"
)

// Special tokens, always the first ids of every vocabulary, in this order.
const (
	Pad = "<pad>"
	Unk = "<unk>"
	BOS = "<bos>"
	EOS = "<eos>"
	Sep = "<sep>"
	Ans = "<ans>"
)

// Specials lists the special tokens in id order.
var specials = []string{Pad, Unk, BOS, EOS, Sep, Ans}

// Specials returns the special tokens in id order (ids 0..len-1).
func Specials() []string { return append([]string(nil), specials...) }

// Ids of the special tokens.
const (
	PadID = iota
	UnkID
	BOSID
	EOSID
	SepID
	AnsID
)

// Tokenizer maps words to ids and back. It is immutable and safe for
// concurrent use.
type Tokenizer struct {
	words []string
	ids   map[string]int
}

// New builds a tokenizer whose ids are the specials followed by words in the
// given order. Duplicate words, empty words, words containing white space,
// and words that collide with a special token are errors.
func New(words []string) (*Tokenizer, error) {
	all := make([]string, 0, len(specials)+len(words))
	all = append(all, specials...)
	all = append(all, words...)
	return fromList(all)
}

func fromList(all []string) (*Tokenizer, error) {
	t := &Tokenizer{words: all, ids: make(map[string]int, len(all))}
	for i, w := range all {
		if w == "" {
			return nil, fmt.Errorf("tokenizer: empty word at id %d", i)
		}
		if strings.ContainsAny(w, " \t\n\r") {
			return nil, fmt.Errorf("tokenizer: word %q at id %d contains white space", w, i)
		}
		if j, dup := t.ids[w]; dup {
			return nil, fmt.Errorf("tokenizer: word %q appears at ids %d and %d", w, j, i)
		}
		t.ids[w] = i
	}
	for i, s := range specials {
		if i >= len(all) || all[i] != s {
			return nil, fmt.Errorf("tokenizer: id %d must be the special token %q", i, s)
		}
	}
	return t, nil
}

// Size is the number of ids, specials included.
func (t *Tokenizer) Size() int { return len(t.words) }

// Words returns every token in id order.
func (t *Tokenizer) Words() []string { return append([]string(nil), t.words...) }

// ID returns the id of a word and whether it is in the vocabulary.
func (t *Tokenizer) ID(word string) (int, bool) {
	id, ok := t.ids[word]
	return id, ok
}

// MustID returns the id of a word known to be in the vocabulary; it panics
// otherwise, so use it only for words the caller itself put there.
func (t *Tokenizer) MustID(word string) int {
	id, ok := t.ids[word]
	if !ok {
		panic(fmt.Sprintf("tokenizer: %q is not in the vocabulary", word))
	}
	return id
}

// Word returns the token with the given id, or "" when id is out of range.
func (t *Tokenizer) Word(id int) string {
	if id < 0 || id >= len(t.words) {
		return ""
	}
	return t.words[id]
}

// Encode splits text on white space and maps each word to its id; unknown
// words become <unk>.
func (t *Tokenizer) Encode(text string) []int {
	fields := strings.Fields(text)
	out := make([]int, len(fields))
	for i, f := range fields {
		id, ok := t.ids[f]
		if !ok {
			id = UnkID
		}
		out[i] = id
	}
	return out
}

// EncodeStrict is Encode but reports the first unknown word as an error.
func (t *Tokenizer) EncodeStrict(text string) ([]int, error) {
	fields := strings.Fields(text)
	out := make([]int, len(fields))
	for i, f := range fields {
		id, ok := t.ids[f]
		if !ok {
			return nil, fmt.Errorf("tokenizer: unknown word %q", f)
		}
		out[i] = id
	}
	return out, nil
}

// Decode joins the words of ids with single spaces. Ids out of range are
// written as <unk>.
func (t *Tokenizer) Decode(ids []int) string {
	var b strings.Builder
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(' ')
		}
		w := t.Word(id)
		if w == "" {
			w = Unk
		}
		b.WriteString(w)
	}
	return b.String()
}

// The on-disk shapes of Hugging Face's tokenizer.json, reduced to what a
// WordLevel tokenizer uses.
type hfAddedToken struct {
	ID         int    `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

type hfModel struct {
	Type     string         `json:"type"`
	Vocab    map[string]int `json:"vocab"`
	UnkToken string         `json:"unk_token"`
}

type hfTokenizer struct {
	Version       string          `json:"version"`
	Truncation    json.RawMessage `json:"truncation"`
	Padding       json.RawMessage `json:"padding"`
	AddedTokens   []hfAddedToken  `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Decoder       json.RawMessage `json:"decoder"`
	Model         hfModel         `json:"model"`
}

// Save writes tokenizer.json, vocab.json and special_tokens_map.json into dir.
func (t *Tokenizer) Save(dir string) error {
	vocab := make(map[string]int, len(t.words))
	for i, w := range t.words {
		vocab[w] = i
	}
	added := make([]hfAddedToken, len(specials))
	for i, s := range specials {
		added[i] = hfAddedToken{ID: i, Content: s, Special: true}
	}
	null := json.RawMessage("null")
	doc := hfTokenizer{
		Version:       "1.0",
		Truncation:    null,
		Padding:       null,
		AddedTokens:   added,
		Normalizer:    null,
		PreTokenizer:  json.RawMessage(`{"type":"WhitespaceSplit"}`),
		PostProcessor: null,
		Decoder:       json.RawMessage(`{"type":"Fuse"}`),
		Model:         hfModel{Type: "WordLevel", Vocab: vocab, UnkToken: Unk},
	}
	files := []struct {
		name string
		v    any
	}{
		{"tokenizer.json", doc},
		{"vocab.json", vocab},
		{"special_tokens_map.json", map[string]string{"pad_token": Pad, "unk_token": Unk, "bos_token": BOS, "eos_token": EOS, "sep_token": Sep}},
	}
	for _, f := range files {
		b, err := json.MarshalIndent(f.v, "", "  ")
		if err != nil {
			return fmt.Errorf("tokenizer: encode %s: %w", f.name, err)
		}
		if err := atomicfile.Write(filepath.Join(dir, f.name), append(b, '\n')); err != nil {
			return fmt.Errorf("tokenizer: %w", err)
		}
	}
	return nil
}

// Load reads tokenizer.json from dir (vocab.json when tokenizer.json is
// absent). The vocabulary's ids must be dense, 0..n-1, with the specials first.
func Load(dir string) (*Tokenizer, error) {
	var vocab map[string]int
	path := filepath.Join(dir, "tokenizer.json")
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		var doc hfTokenizer
		if err := json.Unmarshal(b, &doc); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if doc.Model.Type != "WordLevel" {
			return nil, fmt.Errorf("%s: model type %q is not supported (want WordLevel)", path, doc.Model.Type)
		}
		vocab = doc.Model.Vocab
	case errors.Is(err, os.ErrNotExist):
		path = filepath.Join(dir, "vocab.json")
		b, err = os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("tokenizer: %w", err)
		}
		if err := json.Unmarshal(b, &vocab); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	default:
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	all := make([]string, len(vocab))
	for w, id := range vocab {
		if id < 0 || id >= len(vocab) || all[id] != "" {
			return nil, fmt.Errorf("%s: ids are not dense 0..%d (word %q has id %d)", path, len(vocab)-1, w, id)
		}
		all[id] = w
	}
	t, err := fromList(all)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}
