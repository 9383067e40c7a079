package model

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"mergescale/tokenizer"
)

// TestGenerateUntil checks generate_until against Greedy on the same
// (truncated) tokens: the text is the decoded greedy tokens cut before the
// earliest stop string, and a context longer than n_positions − max_gen_toks
// keeps its last tokens.
func TestGenerateUntil(t *testing.T) {
	words := make([]string, 24)
	for i := range words {
		words[i] = fmt.Sprintf("w%d", i)
	}
	tok, err := tokenizer.New(words)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{VocabSize: tok.Size(), NPositions: 16, NEmbd: 8, NLayer: 2, NHead: 2}
	m := perturbed(cfg, 2)
	rng := rand.New(rand.NewPCG(1, 2))
	ctxWords := make([]string, 30)
	for i := range ctxWords {
		ctxWords[i] = words[rng.IntN(len(words))]
	}
	stopped := 0
	for _, c := range []struct {
		ctxLen, maxGen int
		truncated      bool
	}{{5, 6, false}, {10, 6, false}, {11, 6, true}, {30, 4, true}} {
		context := strings.Join(ctxWords[:c.ctxLen], " ")
		ids := tok.Encode(context)
		want := ids[max(0, len(ids)-(cfg.NPositions-c.maxGen)):]
		plain, err := m.Greedy(want, c.maxGen, tokenizer.EOSID)
		if err != nil {
			t.Fatal(err)
		}
		full := tok.Decode(plain)
		g, err := m.GenerateUntil(tok, GenerateRequest{Context: context, MaxGenToks: c.maxGen})
		if err != nil {
			t.Fatal(err)
		}
		if g.Text != full || g.Truncated != c.truncated {
			t.Fatalf("context %d words, max %d: %+v, want %q truncated %v", c.ctxLen, c.maxGen, g, full, c.truncated)
		}
		if len(plain) < 2 {
			continue
		}
		// Stop strings: the second generated word, and one never produced.
		stop := " " + tok.Word(plain[1])
		g, err = m.GenerateUntil(tok, GenerateRequest{Context: context, MaxGenToks: c.maxGen, Until: []string{"zzz", stop, ""}})
		if err != nil {
			t.Fatal(err)
		}
		if want := full[:strings.Index(full, stop)]; g.Text != want {
			t.Fatalf("until %q: %q, want %q", stop, g.Text, want)
		}
		stopped++
	}
	if stopped == 0 {
		t.Fatal("no case generated two tokens: the stop strings were not tested")
	}
	for _, r := range []GenerateRequest{{Context: "w1", MaxGenToks: 0}, {Context: "w1", MaxGenToks: 16}, {Context: "nope", MaxGenToks: 2}} {
		if _, err := m.GenerateUntil(tok, r); err == nil {
			t.Errorf("GenerateUntil(%+v) succeeded, want an error", r)
		}
	}
}
