package tokenizer

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Codec is a tokenizer as the rest of mergescale uses it: the suite's
// word-level *Tokenizer or a byte-level *BPE. Implementations are safe for
// concurrent use.
type Codec interface {
	// EncodeStrict returns the ids of text, or an error when the text
	// cannot be encoded (a word outside a word-level vocabulary).
	EncodeStrict(text string) ([]int, error)
	// Decode returns the text of ids.
	Decode(ids []int) string
	// Size is one more than the largest id.
	Size() int
	// Special returns the ids of the end- and beginning-of-sequence tokens.
	Special() Special
}

// NoToken is the id of a special token that a tokenizer does not have.
const NoToken = -1

// Special holds the ids of a tokenizer's end- and beginning-of-sequence
// tokens; NoToken when it has none.
type Special struct {
	EOS int
	BOS int
}

// SuiteSpecial returns the special ids of the suite's word-level
// vocabularies: <eos> and <bos>, whatever the words.
func SuiteSpecial() Special { return Special{EOS: EOSID, BOS: BOSID} }

// Special returns the suite's <eos> and <bos> ids, which every word-level
// vocabulary has.
func (t *Tokenizer) Special() Special { return SuiteSpecial() }

// LoadCodec reads the tokenizer of a model directory: a byte-level BPE when
// tokenizer.json has a BPE model or when merges.txt is present (LoadBPE),
// the word-level vocabulary otherwise (Load).
func LoadCodec(dir string) (Codec, error) {
	path := filepath.Join(dir, "tokenizer.json")
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		var head struct {
			Model struct {
				Type string `json:"type"`
			} `json:"model"`
		}
		if err := json.Unmarshal(b, &head); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		switch head.Model.Type {
		case "BPE":
			return LoadBPE(dir)
		case "WordLevel":
			return Load(dir)
		}
		return nil, fmt.Errorf("%s: model type %q is not supported (want BPE or WordLevel)", path, head.Model.Type)
	case !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "merges.txt")); err == nil {
		return LoadBPE(dir)
	}
	return Load(dir)
}

// resolveSpecial sets t's end- and beginning-of-sequence tokens from the
// files of dir, each from the first that names it:
//
//  1. special_tokens_map.json, then tokenizer_config.json: "eos_token" and
//     "bos_token", a string or an object with "content", which must be a
//     token of the vocabulary;
//  2. config.json: "eos_token_id" and "bos_token_id", an id or a list of
//     ids (the first counts), which must be below Size.
//
// The tokenizer's own files come first, as with lm-evaluation-harness, which
// takes the end-of-text id from the tokenizer. A token found this way whose
// characters all stand for themselves (as "<|endoftext|>") is matched
// verbatim in the text, like an added token.
func (t *BPE) resolveSpecial(dir string) error {
	eos, bos := NoToken, NoToken
	for _, name := range []string{"special_tokens_map.json", "tokenizer_config.json"} {
		path := filepath.Join(dir, name)
		doc, err := readJSONObject(path)
		if err != nil {
			return err
		}
		for _, k := range []struct {
			key string
			id  *int
		}{{"eos_token", &eos}, {"bos_token", &bos}} {
			raw, ok := doc[k.key]
			if !ok || isNull(raw) || *k.id != NoToken {
				continue
			}
			content, err := tokenContent(raw)
			if err != nil {
				return fmt.Errorf("%s: key %q: %w", path, k.key, err)
			}
			id, ok := t.vocab[content]
			if !ok {
				return fmt.Errorf("%s: key %q: token %q is not in the vocabulary", path, k.key, content)
			}
			*k.id = id
		}
	}
	cs, err := ConfigSpecial(dir)
	if err != nil {
		return err
	}
	for _, k := range []struct {
		key      string
		id       *int
		fromConf int
	}{{"eos_token_id", &eos, cs.EOS}, {"bos_token_id", &bos, cs.BOS}} {
		if *k.id != NoToken || k.fromConf == NoToken {
			continue
		}
		if id := k.fromConf; id >= t.Size() || t.tokens[id] == "" {
			return fmt.Errorf("%s: key %q: id %d is not a token of the tokenizer (%d ids)", filepath.Join(dir, "config.json"), k.key, id, t.Size())
		}
		*k.id = k.fromConf
	}
	t.special = Special{EOS: eos, BOS: bos}
	for _, id := range []int{eos, bos} {
		if id != NoToken && !t.added[id] && spellsItself(t.tokens[id]) {
			t.markAdded(addedToken{content: t.tokens[id], id: id})
		}
	}
	return nil
}

// spellsItself reports whether every character of a vocabulary token
// stands for itself in the byte-level spelling (as in "<|endoftext|>"), so
// that its text is the token.
func spellsItself(tok string) bool {
	for _, r := range tok {
		if r >= 256 || byteRunes[r] != r {
			return false
		}
	}
	return tok != ""
}

// ConfigSpecial reads "eos_token_id" and "bos_token_id" from dir's
// config.json: an id, a list of ids (the first counts) or null. A missing
// file or key gives NoToken; a negative id or another type is an error
// naming the file and key.
func ConfigSpecial(dir string) (Special, error) {
	path := filepath.Join(dir, "config.json")
	doc, err := readJSONObject(path)
	if err != nil {
		return Special{}, err
	}
	sp := Special{EOS: NoToken, BOS: NoToken}
	for _, k := range []struct {
		key string
		id  *int
	}{{"eos_token_id", &sp.EOS}, {"bos_token_id", &sp.BOS}} {
		raw, ok := doc[k.key]
		if !ok || isNull(raw) {
			continue
		}
		id, err := firstID(raw)
		if err == nil && id < 0 {
			err = fmt.Errorf("negative id %d", id)
		}
		if err != nil {
			return Special{}, fmt.Errorf("%s: key %q: %w", path, k.key, err)
		}
		*k.id = id
	}
	return sp, nil
}

// readJSONObject reads a JSON object's keys; a missing file is an empty
// object.
func readJSONObject(path string) (map[string]json.RawMessage, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return doc, nil
}

// tokenContent reads a special token written as a string or as an object
// with "content".
func tokenContent(raw json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var obj struct {
		Content *string `json:"content"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil || obj.Content == nil {
		return "", fmt.Errorf("want a string or an object with \"content\", got %s", compact(raw))
	}
	return *obj.Content, nil
}

// firstID reads an id written as a number or as a list of numbers.
func firstID(raw json.RawMessage) (int, error) {
	var id int
	if err := json.Unmarshal(raw, &id); err == nil {
		return id, nil
	}
	var ids []int
	if err := json.Unmarshal(raw, &ids); err != nil || len(ids) == 0 {
		return 0, fmt.Errorf("want an integer id or a non-empty list of ids, got %s", compact(raw))
	}
	return ids[0], nil
}
