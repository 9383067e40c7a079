package model

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"mergescale/gemm"
	"mergescale/tokenizer"
)

// This file answers lm-evaluation-harness's "loglikelihood" requests: the
// log-probability of a continuation after a context, and whether greedy
// decoding would have produced it.
//
// Truncation follows the harness's causal models: the model reads
// (context + continuation)[-(n_positions+1):][:-1], so a context that does
// not fit beside the continuation loses its oldest tokens, and the
// continuation itself must fit in n_positions. Requests that end up with
// the same (truncated) context are scored in one forward pass, the context
// once and each continuation as a branch of it (see OptionLogProbs), and
// several such groups are stacked into one pass up to a budget of rows, so
// memory follows the requests' lengths, never n_positions² or the number of
// requests.

// TokenRequest is one loglikelihood request in tokens: score Continuation
// after Context. Both must be non-empty.
type TokenRequest struct {
	Context, Continuation []int
}

// TextRequest is one loglikelihood request in text. Context and
// Continuation are tokenized separately and joined; with EOS the
// tokenizer's end-of-sequence token is appended to the continuation. An
// empty context becomes the tokenizer's beginning-of-sequence token (its
// end-of-sequence token when it has none), as in lm-evaluation-harness.
type TextRequest struct {
	Context, Continuation string
	EOS                   bool
}

// Loglik is the answer to one request.
type Loglik struct {
	// LogProb is Σ log p(token | everything before it) over the
	// continuation's tokens, computed in float64 from float32 logits.
	LogProb float64
	// IsGreedy reports whether every continuation token is the most likely
	// one at its position (the lowest id on ties), i.e. whether greedy
	// decoding from the context would produce the continuation.
	IsGreedy bool
	// Truncated reports that the context lost tokens on the left to fit
	// n_positions.
	Truncated bool
}

// LoglikStats summarises one call.
type LoglikStats struct {
	Requests  int // requests answered
	Truncated int // requests whose context was left-truncated
	Rows      int // token rows run through the blocks (shared contexts count once)
	HeadRows  int // rows run through the LM head
}

// LoglikOptions tune Loglikelihood.
type LoglikOptions struct {
	// Workers is the number of goroutines running forward passes; 0 means
	// runtime.GOMAXPROCS(0). Results do not depend on it.
	Workers int
}

// Budgets of one stacked forward pass: rows through the blocks, and rows
// through the LM head (each holds a vocabulary-sized row of logits). A
// single group larger than a budget runs alone.
const (
	loglikBatchRows  = 2048
	loglikBatchHeads = 256
)

// EncodeRequest tokenizes a text request as TextRequest describes.
func EncodeRequest(tok tokenizer.Codec, r TextRequest) (TokenRequest, error) {
	ctx, err := tok.EncodeStrict(r.Context)
	if err != nil {
		return TokenRequest{}, fmt.Errorf("context: %w", err)
	}
	cont, err := tok.EncodeStrict(r.Continuation)
	if err != nil {
		return TokenRequest{}, fmt.Errorf("continuation: %w", err)
	}
	sp := tok.Special()
	if r.EOS {
		if sp.EOS == tokenizer.NoToken {
			return TokenRequest{}, errors.New("eos requested but the tokenizer has no end-of-sequence token (set eos_token_id in config.json)")
		}
		cont = append(cont, sp.EOS)
	}
	if len(ctx) == 0 {
		if ctx, err = emptyContext(sp); err != nil {
			return TokenRequest{}, err
		}
	}
	return TokenRequest{Context: ctx, Continuation: cont}, nil
}

// LoglikelihoodText tokenizes reqs with tok (EncodeRequest) and answers them
// (Loglikelihood). Errors name the request's index.
func (m *Model) LoglikelihoodText(tok tokenizer.Codec, reqs []TextRequest, opts LoglikOptions) ([]Loglik, LoglikStats, error) {
	treqs := make([]TokenRequest, len(reqs))
	for i, r := range reqs {
		tr, err := EncodeRequest(tok, r)
		if err != nil {
			return nil, LoglikStats{}, fmt.Errorf("model: request %d: %w", i, err)
		}
		treqs[i] = tr
	}
	return m.Loglikelihood(treqs, opts)
}

// loglikItem is one context with some of the continuations that follow it.
type loglikItem struct {
	ctx   []int
	conts [][]int
	reqs  []int // request index of each continuation
}

func (it *loglikItem) rows() int {
	n := len(it.ctx)
	for _, c := range it.conts {
		n += len(c) - 1
	}
	return n
}

func (it *loglikItem) heads() int { return it.rows() - len(it.ctx) + 1 }

// Loglikelihood answers token requests. Contexts are left-truncated as the
// package notes describe; a continuation longer than n_positions, an empty
// context or continuation, or a token outside the vocabulary is an error
// naming the request. Answers do not depend on Workers, bit for bit; next
// to other requests with the same context an answer may differ from the
// request's alone by float32 rounding (its continuation then is one branch
// of a shared pass). It is safe for concurrent use.
func (m *Model) Loglikelihood(reqs []TokenRequest, opts LoglikOptions) ([]Loglik, LoglikStats, error) {
	N := m.Config.NPositions
	out := make([]Loglik, len(reqs))
	stats := LoglikStats{Requests: len(reqs)}
	var items []*loglikItem
	byCtx := map[string]*loglikItem{}
	var key []byte
	for i, r := range reqs {
		switch {
		case len(r.Context) == 0:
			return nil, LoglikStats{}, fmt.Errorf("model: request %d: empty context", i)
		case len(r.Continuation) == 0:
			return nil, LoglikStats{}, fmt.Errorf("model: request %d: empty continuation", i)
		case len(r.Continuation) > N:
			return nil, LoglikStats{}, fmt.Errorf("model: request %d: continuation of %d tokens is longer than n_positions = %d", i, len(r.Continuation), N)
		}
		if err := m.checkTokens("context", r.Context); err != nil {
			return nil, LoglikStats{}, fmt.Errorf("model: request %d: %w (is the tokenizer the model's?)", i, err)
		}
		if err := m.checkTokens("continuation", r.Continuation); err != nil {
			return nil, LoglikStats{}, fmt.Errorf("model: request %d: %w (is the tokenizer the model's?)", i, err)
		}
		ctx := r.Context
		if drop := len(ctx) + len(r.Continuation) - (N + 1); drop > 0 {
			ctx = ctx[drop:]
			out[i].Truncated = true
			stats.Truncated++
		}
		key = key[:0]
		for _, t := range ctx {
			key = binary.AppendUvarint(key, uint64(t))
		}
		it := byCtx[string(key)]
		// A group grows while it stays within the budgets; past them it
		// starts another item with the same context.
		if it == nil || it.rows()+len(r.Continuation)-1 > loglikBatchRows || it.heads()+len(r.Continuation)-1 > loglikBatchHeads {
			it = &loglikItem{ctx: ctx}
			items = append(items, it)
			byCtx[string(key)] = it
		}
		it.conts = append(it.conts, r.Continuation)
		it.reqs = append(it.reqs, i)
	}
	// Batches: consecutive items within the budgets.
	var batches [][]*loglikItem
	rows, heads := 0, 0
	for _, it := range items {
		r, h := it.rows(), it.heads()
		stats.Rows += r
		stats.HeadRows += h
		if n := len(batches); n == 0 || rows+r > loglikBatchRows || heads+h > loglikBatchHeads {
			batches = append(batches, nil)
			rows, heads = 0, 0
		}
		batches[len(batches)-1] = append(batches[len(batches)-1], it)
		rows += r
		heads += h
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, len(batches))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				b := int(next.Add(1) - 1)
				if b >= len(batches) {
					return
				}
				m.scoreItems(batches[b], out)
			}
		}()
	}
	wg.Wait()
	return out, stats, nil
}

// scoreItems runs one stacked forward pass over items and writes their
// answers into out.
func (m *Model) scoreItems(items []*loglikItem, out []Loglik) {
	ws := m.getWorkspace()
	defer m.putWorkspace(ws)
	var head []int
	starts := make([]int, len(items)+1)
	for i, it := range items {
		head = ws.appendOptions(it.ctx, it.conts, head)
		starts[i+1] = len(head)
	}
	logits := m.forward(gemm.Default(), ws, head)
	V := m.Config.VocabSize
	for i, it := range items {
		greedy := make([]bool, len(it.conts))
		lps := optionScoresGreedy(logits[starts[i]*V:starts[i+1]*V], V, it.conts, greedy)
		for j, r := range it.reqs {
			out[r].LogProb = lps[j]
			out[r].IsGreedy = greedy[j]
		}
	}
}
