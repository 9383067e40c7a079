package eval

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"mergescale/tokenizer"
)

// Scorer is what a model must offer to answer requests in process;
// *model.Model satisfies it.
type Scorer interface {
	// ContinuationScores scores several examples in one call: for every
	// continuation of continuations[i], Σ log p(token | contexts[i] and the
	// continuation's earlier tokens), and whether each of those tokens is
	// the most likely one (lm-evaluation-harness's is_greedy).
	ContinuationScores(contexts [][]int, continuations [][][]int) (logprobs [][]float64, greedy [][]bool, err error)
	// Greedy decodes up to maxNew tokens after prompt, stopping at stop
	// (not included in the result).
	Greedy(prompt []int, maxNew int, stop int) ([]int, error)
}

// encodedRequest is a request in token ids. A loglikelihood request's
// continuation includes <eos> when the request asks for it.
type encodedRequest struct {
	context      []int
	continuation []int
}

// encodeRequest tokenizes one request for the built-in engine: context and
// continuation separately (then joined by the model), <eos> appended to the
// continuation when r.EOS. It is the single definition of what a request
// means in token ids.
func encodeRequest(tok *tokenizer.Tokenizer, r Request) (encodedRequest, error) {
	if err := r.check(); err != nil {
		return encodedRequest{}, fmt.Errorf("request %q: %w", r.ID, err)
	}
	c, err := tok.EncodeStrict(r.Context)
	if err != nil {
		return encodedRequest{}, fmt.Errorf("request %q: context: %w", r.ID, err)
	}
	e := encodedRequest{context: c}
	if r.Type == TypeLoglikelihood {
		if e.continuation, err = tok.EncodeStrict(r.Continuation); err != nil {
			return encodedRequest{}, fmt.Errorf("request %q: continuation: %w", r.ID, err)
		}
		if r.EOS {
			e.continuation = append(e.continuation, tokenizer.EOSID)
		}
	}
	return e, nil
}

// generatedText turns greedy output into a generate_until answer: the
// decoded words, cut before the first occurrence of any stop string.
func generatedText(tok *tokenizer.Tokenizer, ids []int, until []string) string {
	text := tok.Decode(ids)
	cut := len(text)
	for _, u := range until {
		if u == "" {
			continue
		}
		if i := strings.Index(text, u); i >= 0 && i < cut {
			cut = i
		}
	}
	return text[:cut]
}

// engineBatch is the number of examples (groups of loglikelihood requests
// with one context) scored per model call.
const engineBatch = 8

// unit is what one model call handles: consecutive loglikelihood requests
// sharing a context (scored together in one forward), or one generation.
type unit struct {
	lo, hi int // request indexes [lo, hi)
	gen    bool
}

// AnswerRequests answers requests with a model in this process: the
// built-in evaluator, and what `mergescale loglik` runs. Consecutive
// loglikelihood requests with the same context are scored as one example
// (the prompt runs once), eight examples per model call, on workers
// goroutines (0: GOMAXPROCS). Answers come back in request order and do not
// depend on workers.
func AnswerRequests(ctx context.Context, s Scorer, tok *tokenizer.Tokenizer, reqs []Request, workers int) ([]Answer, error) {
	enc := make([]encodedRequest, len(reqs))
	var units []unit
	for i, r := range reqs {
		e, err := encodeRequest(tok, r)
		if err != nil {
			return nil, fmt.Errorf("eval: %w", err)
		}
		enc[i] = e
		gen := r.Type == TypeGenerateUntil
		if n := len(units); !gen && n > 0 && !units[n-1].gen && reqs[units[n-1].lo].Context == r.Context {
			units[n-1].hi = i + 1
			continue
		}
		units = append(units, unit{lo: i, hi: i + 1, gen: gen})
	}
	out := make([]Answer, len(reqs))
	for i, r := range reqs {
		out[i].ID = r.ID
	}
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	// Chunks of units holding engineBatch loglikelihood groups each (with
	// the generations between them), so a model call scores a full batch.
	chunks := []int{0} // start unit of every chunk, then len(units)
	groups := 0
	for i, u := range units {
		if u.gen {
			continue
		}
		if groups == engineBatch {
			chunks, groups = append(chunks, i), 0
		}
		groups++
	}
	chunks = append(chunks, len(units))
	workers = min(workers, max(1, len(chunks)-1))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
	)
	fail := func(err error) { once.Do(func() { firstErr = err; cancel() }) }
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				c := int(next.Add(1) - 1)
				if c >= len(chunks)-1 || ctx.Err() != nil {
					return
				}
				if err := answerUnits(s, tok, reqs, enc, units[chunks[c]:chunks[c+1]], out); err != nil {
					fail(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	return out, nil
}

// answerUnits answers a chunk of units into out: the loglikelihood groups
// in one ContinuationScores call, each generation with Greedy.
func answerUnits(s Scorer, tok *tokenizer.Tokenizer, reqs []Request, enc []encodedRequest, units []unit, out []Answer) error {
	var contexts [][]int
	var conts [][][]int
	var groups []unit
	for _, u := range units {
		if u.gen {
			r := reqs[u.lo]
			ids, err := s.Greedy(enc[u.lo].context, r.MaxGenToks, tokenizer.EOSID)
			if err != nil {
				return fmt.Errorf("eval: request %q: greedy: %w", r.ID, err)
			}
			out[u.lo].Text = generatedText(tok, ids, r.Until)
			continue
		}
		cs := make([][]int, 0, u.hi-u.lo)
		for i := u.lo; i < u.hi; i++ {
			cs = append(cs, enc[i].continuation)
		}
		contexts = append(contexts, enc[u.lo].context)
		conts = append(conts, cs)
		groups = append(groups, u)
	}
	if len(groups) == 0 {
		return nil
	}
	lps, greedy, err := s.ContinuationScores(contexts, conts)
	if err != nil {
		return fmt.Errorf("eval: requests %q…: log-likelihood: %w", reqs[groups[0].lo].ID, err)
	}
	if len(lps) != len(groups) || len(greedy) != len(groups) {
		return fmt.Errorf("eval: scorer returned %d results for %d examples", len(lps), len(groups))
	}
	for g, u := range groups {
		if len(lps[g]) != u.hi-u.lo || len(greedy[g]) != u.hi-u.lo {
			return fmt.Errorf("eval: request %q: scorer returned %d scores for %d continuations", reqs[u.lo].ID, len(lps[g]), u.hi-u.lo)
		}
		for k := range lps[g] {
			out[u.lo+k].LogProb, out[u.lo+k].IsGreedy = lps[g][k], greedy[g][k]
		}
	}
	return nil
}

// AnswerRequest answers a single request with a model in this process. It
// is AnswerRequests for one request, so a caller that scores requests one at
// a time gets exactly the numbers of the batched path.
func AnswerRequest(ctx context.Context, s Scorer, tok *tokenizer.Tokenizer, r Request) (Answer, error) {
	a, err := AnswerRequests(ctx, s, tok, []Request{r}, 1)
	if err != nil {
		return Answer{}, err
	}
	return a[0], nil
}
