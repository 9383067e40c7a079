package tokenizer

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// The GPT-2 reference data in testdata/gpt2 is written by
// testdata/gen/gen.mjs (see there): GPT-2's vocabulary and merges, gzipped,
// and golden.json, strings with the ids on which two independent reference
// encoders agree.

// gunzipFile returns the contents of a gzipped test file.
func gunzipFile(t testing.TB, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return b
}

func writeFile(t testing.TB, dir, name string, data []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func writeJSON(t testing.TB, dir, name string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, name, b)
}

// gpt2Layouts are the ways a GPT-2 tokenizer comes on disk.
var gpt2Layouts = []string{"vocab+merges", "tokenizer.json/strings", "tokenizer.json/pairs"}

// writeGPT2 writes GPT-2's tokenizer into dir in one of gpt2Layouts, with a
// config.json that names <|endoftext|> (50256) as eos and bos, as Hugging
// Face's gpt2 does.
func writeGPT2(t testing.TB, dir, layout string) {
	t.Helper()
	vocabJSON := gunzipFile(t, "testdata/gpt2/vocab.json.gz")
	mergesTxt := gunzipFile(t, "testdata/gpt2/merges.txt.gz")
	writeJSON(t, dir, "config.json", map[string]any{"model_type": "gpt2", "eos_token_id": 50256, "bos_token_id": 50256})
	if layout == "vocab+merges" {
		writeFile(t, dir, "vocab.json", vocabJSON)
		writeFile(t, dir, "merges.txt", mergesTxt)
		return
	}
	var merges []any
	for i, line := range strings.Split(string(mergesTxt), "\n") {
		if i == 0 || line == "" {
			continue
		}
		if layout == "tokenizer.json/strings" {
			merges = append(merges, line)
		} else {
			a, b, _ := strings.Cut(line, " ")
			merges = append(merges, []string{a, b})
		}
	}
	doc := map[string]any{
		"version": "1.0", "truncation": nil, "padding": nil,
		"added_tokens": []any{map[string]any{"id": 50256, "content": "<|endoftext|>", "single_word": false,
			"lstrip": false, "rstrip": false, "normalized": true, "special": true}},
		"normalizer":     nil,
		"pre_tokenizer":  map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
		"post_processor": map[string]any{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true},
		"decoder":        map[string]any{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
		"model": map[string]any{"type": "BPE", "dropout": nil, "unk_token": nil, "continuing_subword_prefix": "",
			"end_of_word_suffix": "", "fuse_unk": false, "byte_fallback": false,
			"vocab": json.RawMessage(vocabJSON), "merges": merges},
	}
	writeJSON(t, dir, "tokenizer.json", doc)
}

var (
	gpt2Once sync.Once
	gpt2Tok  *BPE
	gpt2Err  error
)

// loadGPT2 returns GPT-2's tokenizer (vocab.json + merges.txt), loaded once
// per test binary.
func loadGPT2(t testing.TB) *BPE {
	t.Helper()
	gpt2Once.Do(func() {
		dir, err := os.MkdirTemp("", "gpt2tok")
		if err != nil {
			gpt2Err = err
			return
		}
		defer os.RemoveAll(dir)
		writeGPT2(t, dir, "vocab+merges")
		gpt2Tok, gpt2Err = LoadBPE(dir)
	})
	if gpt2Err != nil {
		t.Fatal(gpt2Err)
	}
	return gpt2Tok
}

type goldenCase struct {
	Text string `json:"text"`
	IDs  []int  `json:"ids"`
}

func readGolden(t testing.TB) []goldenCase {
	t.Helper()
	b, err := os.ReadFile("testdata/gpt2/golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []goldenCase
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) < 50 {
		t.Fatalf("golden.json has %d cases, want the full list", len(cases))
	}
	return cases
}

// TestGPT2Golden encodes the golden strings with GPT-2's real vocabulary,
// loaded from each on-disk layout, and requires the references' ids and the
// way back to the same string.
func TestGPT2Golden(t *testing.T) {
	cases := readGolden(t)
	for _, layout := range gpt2Layouts {
		t.Run(strings.ReplaceAll(layout, "/", "_"), func(t *testing.T) {
			dir := t.TempDir()
			writeGPT2(t, dir, layout)
			c, err := LoadCodec(dir)
			if err != nil {
				t.Fatal(err)
			}
			tok, ok := c.(*BPE)
			if !ok {
				t.Fatalf("LoadCodec returned %T, want *BPE", c)
			}
			if tok.Size() != 50257 {
				t.Fatalf("Size = %d, want 50257", tok.Size())
			}
			if sp := tok.Special(); sp != (Special{EOS: 50256, BOS: 50256}) {
				t.Fatalf("Special = %+v, want eos and bos 50256", sp)
			}
			for _, c := range cases {
				got, err := tok.EncodeStrict(c.Text)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, c.IDs) && !(len(got) == 0 && len(c.IDs) == 0) {
					t.Errorf("Encode(%.60q) = %v, want %v", c.Text, got, c.IDs)
				}
				if back := tok.Decode(c.IDs); back != c.Text {
					t.Errorf("Decode(%v) = %.60q, want %.60q", c.IDs, back, c.Text)
				}
			}
		})
	}
}

// TestGPT2AddedToken checks that <|endoftext|> in the text is the special
// token (as with Hugging Face's tokenizers), not its characters.
func TestGPT2AddedToken(t *testing.T) {
	tok := loadGPT2(t)
	// "a" is 64 and "b" 65 in GPT-2's vocabulary; " <" would be 1279.
	for text, want := range map[string][]int{
		"a<|endoftext|>b":              {64, 50256, 65},
		"<|endoftext|><|endoftext|>":   {50256, 50256},
		"a<|endoftext|>":               {64, 50256},
		"<|endoftext|":                 nil, // not the token: spelled out
		"Hello world<|endoftext|> end": nil,
	} {
		got := tok.Encode(text)
		if want != nil && !slices.Equal(got, want) {
			t.Errorf("Encode(%q) = %v, want %v", text, got, want)
		}
		if want == nil && strings.Contains(text, "<|endoftext|>") != slices.Contains(got, 50256) {
			t.Errorf("Encode(%q) = %v: the special token is wrong", text, got)
		}
		if back := tok.Decode(got); back != text {
			t.Errorf("Decode(Encode(%q)) = %q", text, back)
		}
	}
}

// TestBPEConcurrent encodes the golden strings from several goroutines at
// once through the shared word cache and compares with the golden ids.
func TestBPEConcurrent(t *testing.T) {
	tok := loadGPT2(t)
	cases := readGolden(t)
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range cases {
				c := cases[(i+g*7)%len(cases)]
				if got := tok.Encode(c.Text); !slices.Equal(got, c.IDs) && len(got)+len(c.IDs) > 0 {
					errs <- fmt.Sprintf("goroutine %d: Encode(%.40q) = %v", g, c.Text, got)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// TestWordCacheBounded checks that the cache never holds more than its
// bound and still answers correctly after starting over.
func TestWordCacheBounded(t *testing.T) {
	tok := loadGPT2(t)
	small := *tok
	small.cache = newWordCache(10)
	var b strings.Builder
	for i := range 100 {
		fmt.Fprintf(&b, " w%dx", i)
	}
	text := b.String()
	want := tok.Encode(text)
	for range 3 {
		if got := small.Encode(text); !slices.Equal(got, want) {
			t.Fatalf("Encode with a small cache = %v, want %v", got, want)
		}
		if n := small.cache.len(); n > 10 {
			t.Fatalf("cache holds %d words, bound 10", n)
		}
	}
}

// FuzzBPERoundTrip checks that every byte string encodes to valid ids that
// decode back to it, with GPT-2's vocabulary.
func FuzzBPERoundTrip(f *testing.F) {
	for _, c := range readGolden(f) {
		if len(c.Text) < 200 {
			f.Add(c.Text)
		}
	}
	f.Add("\xff\xfe\x00 invalid \xc3")
	tok := loadGPT2(f)
	f.Fuzz(func(t *testing.T, s string) {
		ids := tok.Encode(s)
		for _, id := range ids {
			if id < 0 || id >= tok.Size() {
				t.Fatalf("Encode(%q) has id %d", s, id)
			}
		}
		if back := tok.Decode(ids); back != s {
			t.Fatalf("Decode(Encode(%q)) = %q (ids %v)", s, back, ids)
		}
	})
}

// BenchmarkBPEEncode encodes the golden strings of ordinary length (under
// 100 bytes), 20 times over, with GPT-2's vocabulary, with the word cache
// warm (as in an evaluation, where words repeat) and cold (every word merged
// from its bytes once), and reports MB/s of text.
func BenchmarkBPEEncode(b *testing.B) {
	tok := loadGPT2(b)
	var sb strings.Builder
	for range 20 {
		for _, c := range readGolden(b) {
			if len(c.Text) < 100 {
				sb.WriteString(c.Text)
				sb.WriteByte('\n')
			}
		}
	}
	text := sb.String()
	for _, warm := range []bool{true, false} {
		name := "cold"
		if warm {
			name = "warm"
		}
		b.Run(name, func(b *testing.B) {
			t := *tok
			t.cache = newWordCache(bpeCacheWords)
			b.SetBytes(int64(len(text)))
			for i := 0; i < b.N; i++ {
				if !warm {
					t.cache = newWordCache(bpeCacheWords)
				}
				t.Encode(text)
			}
		})
	}
}
