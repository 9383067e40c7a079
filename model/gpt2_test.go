package model

import (
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"

	"mergescale/tokenizer"
)

// gpt2Data is the tokenizer package's GPT-2 reference data: the vocabulary
// and golden token ids written by two independent reference encoders.
const gpt2Data = "../tokenizer/testdata/gpt2"

// writeGPT2Tokenizer puts GPT-2's vocab.json and merges.txt into dir.
func writeGPT2Tokenizer(t *testing.T, dir string) {
	t.Helper()
	for src, dst := range map[string]string{"vocab.json.gz": "vocab.json", "merges.txt.gz": "merges.txt"} {
		f, err := os.Open(filepath.Join(gpt2Data, src))
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(zr)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, dst), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// gpt2Golden maps the golden strings to their reference ids.
func gpt2Golden(t *testing.T) map[string][]int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(gpt2Data, "golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Text string `json:"text"`
		IDs  []int  `json:"ids"`
	}
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	out := make(map[string][]int, len(cases))
	for _, c := range cases {
		out[c.Text] = c.IDs
	}
	return out
}

// TestGPT2ShapedCheckpoint runs the path of a GPT-2-format checkpoint
// trained elsewhere: a model with GPT-2's vocabulary of 50257 tokens saved
// as a Hugging Face directory with GPT-2's own tokenizer files, loaded
// back, its end-of-sequence id read from the files, and text requests
// (separately tokenized context and continuation, eos appended, an empty
// context, a context longer than the positions) scored against the float64
// reference on the reference encoders' token ids.
func TestGPT2ShapedCheckpoint(t *testing.T) {
	cfg := Config{VocabSize: 50257, NPositions: 64, NEmbd: 16, NLayer: 2, NHead: 2}
	orig := perturbed(cfg, 12)
	orig.Special = tokenizer.Special{EOS: 50256, BOS: 50256}
	dir := t.TempDir()
	if err := orig.Save(dir, nil); err != nil {
		t.Fatal(err)
	}
	writeGPT2Tokenizer(t, dir)
	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if m.Special != orig.Special {
		t.Fatalf("loaded Special %+v, saved %+v", m.Special, orig.Special)
	}
	tok, err := tokenizer.LoadCodec(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := tok.(*tokenizer.BPE); !ok || tok.Special().EOS != 50256 {
		t.Fatalf("tokenizer %T with %+v, want GPT-2's BPE with eos 50256", tok, tok.Special())
	}
	golden := gpt2Golden(t)
	long := "a"
	for range 11 {
		long += long
	}
	long = long[:2000]
	reqs := []TextRequest{
		{Context: "Hello, world! How's it going?", Continuation: " hello", EOS: true},
		{Context: "Hello, world! How's it going?", Continuation: "Hello world", EOS: true},
		{Context: "Hello, world! How's it going?", Continuation: "12345"},
		{Context: "I'm you're we've it's don't they'll he'd", Continuation: "3.14159 2.71828", EOS: true},
		{Context: "", Continuation: "hello", EOS: true},
		{Context: long, Continuation: " hello"},
		{Context: "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3067\u3059\u3002", Continuation: "\U0001F600"},
	}
	treqs := make([]TokenRequest, len(reqs))
	for i, r := range reqs {
		ctx, ok1 := golden[r.Context]
		cont, ok2 := golden[r.Continuation]
		if !ok1 || !ok2 {
			t.Fatalf("request %d: not in the golden file", i)
		}
		if r.Context == "" {
			ctx = []int{50256}
		}
		cont = append([]int(nil), cont...)
		if r.EOS {
			cont = append(cont, 50256)
		}
		treqs[i] = TokenRequest{Context: ctx, Continuation: cont}
	}
	got, stats, err := m.LoglikelihoodText(tok, reqs, LoglikOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if stats.Truncated != 1 || !got[5].Truncated {
		t.Fatalf("stats %+v: want the long context (and only it) truncated", stats)
	}
	checkAgainstRef(t, newRef(m), treqs, got, stats)
}
