package model

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"mergescale/gemm"
)

// refLoglik answers a request with the float64 reference, applying
// lm-evaluation-harness's window independently of the code under test:
// the model reads (context + continuation)[-(N+1):][:-1]. ok is false when
// a position's two largest logits are too close to call the greedy flag.
func refLoglik(ref *refModel, r TokenRequest) (lp float64, greedy, truncated, ok bool) {
	N := ref.c.NPositions
	whole := append(append([]int(nil), r.Context...), r.Continuation...)
	if len(whole) > N+1 {
		whole, truncated = whole[len(whole)-(N+1):], true
	}
	inp := whole[:len(whole)-1]
	lg := ref.logits(inp)
	greedy, ok = true, true
	for j, t := range r.Continuation {
		row := lg[len(inp)-len(r.Continuation)+j]
		lp += refLogSoftmax(row, t)
		best, second := math.Inf(-1), math.Inf(-1)
		arg := -1
		for v, x := range row {
			if x > best {
				best, second, arg = x, best, v
			} else if x > second {
				second = x
			}
		}
		if best-second < 1e-3 {
			ok = false
		}
		greedy = greedy && arg == t
	}
	return lp, greedy, truncated, ok
}

func randomTokens(rng *rand.Rand, V, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = rng.IntN(V)
	}
	return out
}

// checkAgainstRef compares answers with the reference's.
func checkAgainstRef(t *testing.T, ref *refModel, reqs []TokenRequest, got []Loglik, stats LoglikStats) {
	t.Helper()
	truncated := 0
	for i, r := range reqs {
		lp, greedy, trunc, ok := refLoglik(ref, r)
		g := got[i]
		if math.Abs(g.LogProb-lp) > 1e-4*max(1, math.Abs(lp)) {
			t.Errorf("request %d (context %d, continuation %d tokens): log-prob %.7g, reference %.7g", i, len(r.Context), len(r.Continuation), g.LogProb, lp)
		}
		if ok && g.IsGreedy != greedy {
			t.Errorf("request %d: is_greedy %v, reference %v", i, g.IsGreedy, greedy)
		}
		if g.Truncated != trunc {
			t.Errorf("request %d: truncated %v, want %v", i, g.Truncated, trunc)
		}
		if trunc {
			truncated++
		}
	}
	if stats.Truncated != truncated || stats.Requests != len(reqs) {
		t.Errorf("stats %+v, want %d requests and %d truncated", stats, len(reqs), truncated)
	}
}

// TestLoglikMatchesReference scores requests of every shape (contexts that
// fit and that must be truncated, several continuations sharing a context,
// continuations as long as the model's positions) against the float64
// reference, including the greedy flag, whose true cases come from
// continuations built by the reference's own argmax.
func TestLoglikMatchesReference(t *testing.T) {
	cfg := Config{VocabSize: 40, NPositions: 24, NEmbd: 16, NLayer: 2, NHead: 4}
	m := perturbed(cfg, 21)
	ref := newRef(m)
	rng := rand.New(rand.NewPCG(5, 5))
	var reqs []TokenRequest
	for range 10 {
		ctx := randomTokens(rng, cfg.VocabSize, 1+rng.IntN(40))
		for range 1 + rng.IntN(4) {
			reqs = append(reqs, TokenRequest{Context: ctx, Continuation: randomTokens(rng, cfg.VocabSize, 1+rng.IntN(6))})
		}
	}
	// A continuation filling every position; the context keeps one token.
	reqs = append(reqs, TokenRequest{Context: randomTokens(rng, cfg.VocabSize, 9), Continuation: randomTokens(rng, cfg.VocabSize, cfg.NPositions)})
	// Greedy continuations: each token the reference's argmax.
	for range 4 {
		ctx := randomTokens(rng, cfg.VocabSize, 1+rng.IntN(30))
		seq := slices.Clone(ctx)
		var cont []int
		for range 3 {
			w := seq[max(0, len(seq)-cfg.NPositions):]
			row := ref.logits(w)[len(w)-1]
			best := 0
			for v := range row {
				if row[v] > row[best] {
					best = v
				}
			}
			cont = append(cont, best)
			seq = append(seq, best)
		}
		reqs = append(reqs, TokenRequest{Context: ctx, Continuation: cont})
	}
	got, stats, err := m.Loglikelihood(reqs, LoglikOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkAgainstRef(t, ref, reqs, got, stats)
	greedy := 0
	for _, g := range got {
		if g.IsGreedy {
			greedy++
		}
	}
	if greedy < 3 || stats.Truncated < 5 || stats.Truncated == len(reqs) {
		t.Fatalf("%d greedy and %d truncated of %d requests: the test does not cover both cases", greedy, stats.Truncated, len(reqs))
	}
}

// TestLoglikTruncation checks lm-evaluation-harness's window at its
// boundaries: a request is truncated exactly when context + continuation
// exceeds n_positions + 1, and its answer then equals that of the request
// whose context is already cut to the window.
func TestLoglikTruncation(t *testing.T) {
	cfg := Config{VocabSize: 30, NPositions: 16, NEmbd: 8, NLayer: 2, NHead: 2}
	N := cfg.NPositions
	m := perturbed(cfg, 4)
	rng := rand.New(rand.NewPCG(9, 9))
	long := randomTokens(rng, cfg.VocabSize, 50)
	cont := randomTokens(rng, cfg.VocabSize, 3)
	for _, c := range []struct {
		ctxLen    int
		truncated bool
	}{
		{N + 1 - 3, false}, // exactly n_positions + 1 tokens in all
		{N + 2 - 3, true},  // one more
		{50, true},
	} {
		ctx := long[:c.ctxLen]
		got, stats, err := m.Loglikelihood([]TokenRequest{{Context: ctx, Continuation: cont}}, LoglikOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got[0].Truncated != c.truncated || (stats.Truncated == 1) != c.truncated {
			t.Fatalf("context %d + continuation 3: truncated %v (stats %+v), want %v", c.ctxLen, got[0].Truncated, stats, c.truncated)
		}
		cut := ctx[max(0, len(ctx)+len(cont)-(N+1)):]
		want, _, err := m.Loglikelihood([]TokenRequest{{Context: cut, Continuation: cont}}, LoglikOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got[0].LogProb != want[0].LogProb || want[0].Truncated {
			t.Fatalf("context %d: %v, the pre-cut request gives %v", c.ctxLen, got[0], want[0])
		}
	}
	// Two continuations share one context: its 5 rows run once, each
	// continuation adds its tokens but the last, and the LM head sees the
	// context's last row and those rows.
	_, st, err := m.Loglikelihood([]TokenRequest{{Context: long[:5], Continuation: cont[:2]}, {Context: long[:5], Continuation: cont}}, LoglikOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Rows != 5+1+2 || st.HeadRows != 1+1+2 || st.Requests != 2 || st.Truncated != 0 {
		t.Fatalf("stats %+v, want 8 rows and 4 head rows", st)
	}
	for _, c := range []struct {
		req TokenRequest
		err string
	}{
		{TokenRequest{Context: long, Continuation: randomTokens(rng, cfg.VocabSize, N+1)}, "longer than n_positions"},
		{TokenRequest{Context: nil, Continuation: cont}, "empty context"},
		{TokenRequest{Context: long, Continuation: nil}, "empty continuation"},
		{TokenRequest{Context: []int{1, 30}, Continuation: cont}, "outside the vocabulary"},
		{TokenRequest{Context: long, Continuation: []int{-1}}, "outside the vocabulary"},
	} {
		_, _, err := m.Loglikelihood([]TokenRequest{{Context: long, Continuation: cont}, c.req}, LoglikOptions{})
		if err == nil || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), "request 1") {
			t.Errorf("error %v, want one naming request 1 and containing %q", err, c.err)
		}
	}
}

// TestLoglikBatching checks that answers do not depend on the number of
// workers (bit for bit) and stay right when a group of continuations
// sharing one context is larger than a forward pass's budget and is split.
func TestLoglikBatching(t *testing.T) {
	cfg := Config{VocabSize: 50, NPositions: 40, NEmbd: 16, NLayer: 2, NHead: 2}
	m := perturbed(cfg, 8)
	rng := rand.New(rand.NewPCG(3, 3))
	ctx := randomTokens(rng, cfg.VocabSize, 30)
	var reqs []TokenRequest
	for range 120 { // 120 × 4 tokens: more head rows than one pass takes
		reqs = append(reqs, TokenRequest{Context: ctx, Continuation: randomTokens(rng, cfg.VocabSize, 4)})
	}
	for range 30 {
		reqs = append(reqs, TokenRequest{Context: randomTokens(rng, cfg.VocabSize, 1+rng.IntN(60)), Continuation: randomTokens(rng, cfg.VocabSize, 1+rng.IntN(5))})
	}
	one, stats, err := m.Loglikelihood(reqs, LoglikOptions{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	many, _, err := m.Loglikelihood(reqs, LoglikOptions{Workers: 4})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(one, many) {
		t.Fatal("answers differ between 1 and 4 workers")
	}
	checkAgainstRef(t, newRef(m), reqs, one, stats)
}

// TestGreedyCacheFollowsSequence checks that greedy decoding sizes its
// key/value cache by the sequence, not by n_positions, and still decodes
// as before up to the last position.
func TestGreedyCacheFollowsSequence(t *testing.T) {
	cfg := Config{VocabSize: 30, NPositions: 12, NEmbd: 8, NLayer: 2, NHead: 2}
	m := perturbed(cfg, 6)
	if c := m.newCache(5); len(c.k[0]) != 5*cfg.NEmbd {
		t.Fatalf("cache for 5 rows holds %d values per layer, want %d", len(c.k[0]), 5*cfg.NEmbd)
	}
	if c := m.newCache(1000); len(c.k[0]) != cfg.NPositions*cfg.NEmbd {
		t.Fatalf("cache for 1000 rows holds %d values per layer, want n_positions × d", len(c.k[0]))
	}
	ref := newRef(m)
	prompt := []int{1, 2, 3}
	got, err := m.Greedy(prompt, 20, -1) // runs into n_positions
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != cfg.NPositions+1-len(prompt) {
		t.Fatalf("Greedy produced %d tokens, want %d", len(got), cfg.NPositions+1-len(prompt))
	}
	seq := slices.Clone(prompt)
	for i, tok := range got {
		row := ref.logits(seq)[len(seq)-1]
		best := 0
		for v := range row {
			if row[v] > row[best] {
				best = v
			}
		}
		if best != tok {
			t.Fatalf("token %d: %d, reference argmax %d", i, tok, best)
		}
		seq = append(seq, tok)
	}
}

// TestLoglikMemoryFollowsSequence checks that a forward pass's scratch
// memory on a 1024-position model is set by the rows it runs (the
// activations, one context's attention scores and the LM head's rows),
// never by n_positions: a short request uses little, a full-length one at
// most what its rows need.
func TestLoglikMemoryFollowsSequence(t *testing.T) {
	cfg := Config{VocabSize: 60, NPositions: 1024, NEmbd: 16, NLayer: 2, NHead: 2}
	m := perturbed(cfg, 1)
	rng := rand.New(rand.NewPCG(2, 2))
	d, V := cfg.NEmbd, cfg.VocabSize
	for _, ctxLen := range []int{10, 1000, 3000} {
		ctx := randomTokens(rng, V, ctxLen)
		conts := [][]int{randomTokens(rng, V, 3), randomTokens(rng, V, 3)}
		if drop := ctxLen + 3 - (cfg.NPositions + 1); drop > 0 {
			ctx = ctx[drop:]
		}
		ws := &workspace{}
		head := ws.appendOptions(ctx, conts, nil)
		m.forward(gemm.Default(), ws, head)
		R, H := len(ws.rows), len(head)
		floats := 0
		for _, s := range [][]float32{ws.x, ws.ln, ws.qkv, ws.y, ws.br, ws.h, ws.scores, ws.lgts, ws.x2} {
			floats += cap(s)
		}
		bound := R*d*(1+1+3+1+1+4) + R*R + H*V + 2*H*d
		if floats > bound {
			t.Errorf("context %d (%d rows, %d head rows): %d floats of scratch, want at most %d", ctxLen, R, H, floats, bound)
		}
		if ctxLen == 10 && floats > 100_000 {
			t.Errorf("a %d-row request uses %d floats of scratch on a %d-position model", R, floats, cfg.NPositions)
		}
	}
}
