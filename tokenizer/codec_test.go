package tokenizer

import (
	"slices"
	"strings"
	"testing"
)

// tinyVocab is a byte-level vocabulary: every byte's character with the
// byte's value as id, then a few merged tokens and two special tokens.
func tinyVocab() map[string]int {
	v := map[string]int{}
	for b, r := range byteRunes {
		v[string(r)] = b
	}
	for i, w := range []string{"el", "he", "ll", "Ġh", "Ġhe", "<|eos|>", "<s>", "hel"} {
		v[w] = 256 + i
	}
	return v
}

// tinyMerges are in rank order: "e l" before "Ġ h" before "h e".
var tinyMerges = []string{"e l", "Ġ h", "h e", "l l", "Ġh e"}

// tinyDoc is a tokenizer.json for tinyVocab; edit changes it before it is
// written.
func tinyDoc(edit func(doc, model map[string]any)) map[string]any {
	model := map[string]any{"type": "BPE", "vocab": tinyVocab(), "merges": tinyMerges}
	doc := map[string]any{
		"added_tokens":  []any{},
		"normalizer":    nil,
		"pre_tokenizer": map[string]any{"type": "ByteLevel", "add_prefix_space": false},
		"model":         model,
	}
	if edit != nil {
		edit(doc, model)
	}
	return doc
}

// TestBPEMergesByRank checks merges on hand-worked words: the pair of
// lowest rank merges first wherever it is, every occurrence at once.
func TestBPEMergesByRank(t *testing.T) {
	dir := t.TempDir()
	writeJSON(t, dir, "tokenizer.json", tinyDoc(nil))
	tok, err := LoadBPE(dir)
	if err != nil {
		t.Fatal(err)
	}
	el, he, ll, sh, she := 256, 257, 258, 259, 260
	cases := []struct {
		text string
		want []int
	}{
		{"hel", []int{'h', el}}, // "e l" (rank 0) beats "h e" (rank 2) although h e comes first
		{"he", []int{he}},       // only "h e" applies
		{"helll", []int{'h', el, ll}},
		{"lll", []int{ll, 'l'}}, // left to right
		{"llll", []int{ll, ll}}, // every occurrence in one step
		{" he", []int{she}},     // "Ġ h" (rank 1) before "h e" (rank 2), then "Ġh e"
		{" hh", []int{sh, 'h'}}, // "Ġ h", then nothing
		{" hel", []int{sh, el}}, // "e l", then "Ġ h"
		{" h h", []int{sh, sh}}, // two words
		{"x\xffy", []int{'x', 0xff, 'y'}},
		{"\n", []int{'\n'}},
		{"", nil},
	}
	for _, c := range cases {
		got := tok.Encode(c.text)
		if !slices.Equal(got, c.want) {
			t.Errorf("Encode(%q) = %v, want %v", c.text, got, c.want)
		}
		if back := tok.Decode(got); back != c.text {
			t.Errorf("Decode(Encode(%q)) = %q", c.text, back)
		}
	}
	if got := tok.Decode([]int{-1, 9999}); got != "\uFFFD\uFFFD" {
		t.Errorf("Decode of unknown ids = %q", got)
	}
	// ignore_merges: a word in the vocabulary is one token ("hel" has no
	// merge path, so without it "hel" is h + el, as above).
	writeJSON(t, dir, "tokenizer.json", tinyDoc(func(_, m map[string]any) { m["ignore_merges"] = true }))
	if tok, err = LoadBPE(dir); err != nil {
		t.Fatal(err)
	}
	if got := tok.Encode("hel hel"); !slices.Equal(got, []int{263, 259, 256}) { // " hel" is not in it
		t.Errorf("with ignore_merges, Encode(\"hel hel\") = %v, want [263 259 256]", got)
	}
	// add_prefix_space and use_regex: false.
	writeJSON(t, dir, "tokenizer.json", tinyDoc(func(doc, _ map[string]any) {
		doc["pre_tokenizer"] = map[string]any{"type": "ByteLevel", "add_prefix_space": true, "use_regex": false}
	}))
	if tok, err = LoadBPE(dir); err != nil {
		t.Fatal(err)
	}
	if got := tok.Encode("he h"); !slices.Equal(got, []int{she, sh}) { // " he h" as one word
		t.Errorf("with a prefix space and no split, Encode(\"he h\") = %v", got)
	}
}

// TestSpecialFromFiles checks where the end- and beginning-of-sequence ids
// come from: the tokenizer's files first, then config.json.
func TestSpecialFromFiles(t *testing.T) {
	const eosTok, bosTok = 261, 262
	for _, c := range []struct {
		name  string
		files map[string]any
		want  Special
		err   string // substring of the error; "" for none
	}{
		{"none", nil, Special{EOS: NoToken, BOS: NoToken}, ""},
		{"config ids", map[string]any{"config.json": map[string]any{"eos_token_id": eosTok, "bos_token_id": bosTok}},
			Special{EOS: eosTok, BOS: bosTok}, ""},
		{"config list", map[string]any{"config.json": map[string]any{"eos_token_id": []int{bosTok, eosTok}, "bos_token_id": nil}},
			Special{EOS: bosTok, BOS: NoToken}, ""},
		{"special map wins", map[string]any{
			"special_tokens_map.json": map[string]any{"eos_token": "<|eos|>"},
			"config.json":             map[string]any{"eos_token_id": 5, "bos_token_id": bosTok}},
			Special{EOS: eosTok, BOS: bosTok}, ""},
		{"tokenizer_config objects", map[string]any{
			"tokenizer_config.json": map[string]any{"eos_token": map[string]any{"content": "<s>", "special": true}, "bos_token": nil}},
			Special{EOS: bosTok, BOS: NoToken}, ""},
		{"map before tokenizer_config", map[string]any{
			"special_tokens_map.json": map[string]any{"bos_token": "<s>"},
			"tokenizer_config.json":   map[string]any{"eos_token": "<|eos|>", "bos_token": "<|eos|>"}},
			Special{EOS: eosTok, BOS: bosTok}, ""},
		{"unknown token", map[string]any{"special_tokens_map.json": map[string]any{"eos_token": "</s>"}},
			Special{}, `special_tokens_map.json: key "eos_token": token "</s>" is not in the vocabulary`},
		{"id out of range", map[string]any{"config.json": map[string]any{"eos_token_id": 50256}},
			Special{}, `config.json: key "eos_token_id": id 50256 is not a token`},
		{"id not a number", map[string]any{"config.json": map[string]any{"bos_token_id": "x"}},
			Special{}, `config.json: key "bos_token_id": want an integer id`},
		{"token not a string", map[string]any{"tokenizer_config.json": map[string]any{"eos_token": 3}},
			Special{}, `tokenizer_config.json: key "eos_token": want a string`},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			writeJSON(t, dir, "tokenizer.json", tinyDoc(nil))
			for name, v := range c.files {
				writeJSON(t, dir, name, v)
			}
			tok, err := LoadCodec(dir)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one containing %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := tok.Special(); got != c.want {
				t.Fatalf("Special = %+v, want %+v", got, c.want)
			}
			if c.want.EOS == eosTok {
				// The resolved token is matched verbatim in the text.
				if got, _ := tok.EncodeStrict("h<|eos|>"); !slices.Equal(got, []int{'h', eosTok}) {
					t.Fatalf("Encode(\"h<|eos|>\") = %v", got)
				}
			}
		})
	}
}

// TestWordLevelKeepsSuiteIDs checks that LoadCodec reads the suite's
// vocabulary as the word-level tokenizer with its fixed special ids.
func TestWordLevelKeepsSuiteIDs(t *testing.T) {
	tok, err := New([]string{"mira", "oslo"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := tok.Save(dir); err != nil {
		t.Fatal(err)
	}
	c, err := LoadCodec(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.(*Tokenizer); !ok {
		t.Fatalf("LoadCodec = %T, want *Tokenizer", c)
	}
	if got := c.Special(); got != (Special{EOS: EOSID, BOS: BOSID}) || got.EOS != 3 || got.BOS != 2 {
		t.Fatalf("Special = %+v, want eos 3 and bos 2", got)
	}
}

// TestLoadBPERejects checks that unsupported or broken tokenizer files fail
// with an error naming the file and the problem.
func TestLoadBPERejects(t *testing.T) {
	for _, c := range []struct {
		name string
		edit func(doc, model map[string]any)
		err  string
	}{
		{"normalizer", func(doc, _ map[string]any) { doc["normalizer"] = map[string]any{"type": "NFC"} }, `key "normalizer"`},
		{"pre-tokenizer", func(doc, _ map[string]any) { doc["pre_tokenizer"] = map[string]any{"type": "Whitespace"} }, `key "pre_tokenizer"`},
		{"missing byte", func(_, m map[string]any) {
			v := tinyVocab()
			delete(v, "Ġ")
			m["vocab"] = v
			m["merges"] = []string{"e l"}
		}, "no token for byte 0x20"},
		{"merge of unknown", func(_, m map[string]any) { m["merges"] = []string{"x y"} }, `merge 0 "x y"`},
		{"merge format", func(_, m map[string]any) { m["merges"] = []string{"e l l"} }, "not two tokens"},
		{"merge pair", func(_, m map[string]any) { m["merges"] = [][]string{{"e"}} }, "merge 0 has 1 parts"},
		{"shared id", func(_, m map[string]any) {
			v := tinyVocab()
			v["zz"] = 3
			m["vocab"] = v
		}, "share id 3"},
		{"lstrip", func(doc, _ map[string]any) {
			doc["added_tokens"] = []any{map[string]any{"id": 261, "content": "<|eos|>", "lstrip": true}}
		}, "lstrip"},
		{"added id clash", func(doc, _ map[string]any) {
			doc["added_tokens"] = []any{map[string]any{"id": 5, "content": "<|eos|>"}}
		}, "added token"},
		{"byte fallback", func(_, m map[string]any) { m["byte_fallback"] = true }, "byte_fallback"},
		{"word piece", func(_, m map[string]any) { m["continuing_subword_prefix"] = "##" }, "continuing_subword_prefix"},
		{"unigram", func(_, m map[string]any) { m["type"] = "Unigram" }, `model type "Unigram"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			writeJSON(t, dir, "tokenizer.json", tinyDoc(c.edit))
			_, err := LoadCodec(dir)
			if err == nil || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), "tokenizer.json") {
				t.Fatalf("error %v, want one naming tokenizer.json and containing %q", err, c.err)
			}
		})
	}
	// merges.txt: the line of a bad merge.
	dir := t.TempDir()
	writeJSON(t, dir, "vocab.json", tinyVocab())
	writeFile(t, dir, "merges.txt", []byte("#version: 0.2\ne l\nh\n"))
	if _, err := LoadCodec(dir); err == nil || !strings.Contains(err.Error(), "merges.txt:3") {
		t.Fatalf("error %v, want one naming merges.txt:3", err)
	}
}
