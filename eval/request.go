package eval

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
)

// Request types of the evaluator protocol, named after lm-evaluation-harness's.
const (
	// TypeLoglikelihood asks for log p(continuation | context).
	TypeLoglikelihood = "loglikelihood"
	// TypeGenerateUntil asks for a greedy continuation of context.
	TypeGenerateUntil = "generate_until"
)

// Request is one line of a requests file. A loglikelihood request asks for
// Σ log p(continuation tokens | context); with EOS the evaluator appends the
// model's own end-of-sequence token to the continuation's tokens. A
// generate_until request asks for the greedy continuation of context, at
// most MaxGenToks tokens, stopping at the model's end-of-sequence token or
// before the first of Until. How an evaluator tokenizes is its own: the
// built-in engine tokenizes context and continuation separately,
// adapters/hf_eval.py as lm-evaluation-harness does.
//
// On the wire (MarshalJSON) a loglikelihood request always carries
// "continuation" and "eos", a generate_until request always "until" (a
// list, [] for none) and "max_gen_toks", and neither carries the other's
// fields.
type Request struct {
	ID           string   `json:"id"`
	Type         string   `json:"type"`
	Context      string   `json:"context"`
	Continuation string   `json:"continuation,omitempty"`
	EOS          bool     `json:"eos,omitempty"`
	Until        []string `json:"until,omitempty"`
	MaxGenToks   int      `json:"max_gen_toks,omitempty"`
}

// MarshalJSON writes a request with the fields of its type (see Request).
func (r Request) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	var err error
	switch r.Type {
	case TypeGenerateUntil:
		until := r.Until
		if until == nil {
			until = []string{}
		}
		err = enc.Encode(struct {
			ID         string   `json:"id"`
			Type       string   `json:"type"`
			Context    string   `json:"context"`
			Until      []string `json:"until"`
			MaxGenToks int      `json:"max_gen_toks"`
		}{r.ID, r.Type, r.Context, until, r.MaxGenToks})
	default:
		err = enc.Encode(struct {
			ID           string `json:"id"`
			Type         string `json:"type"`
			Context      string `json:"context"`
			Continuation string `json:"continuation"`
			EOS          bool   `json:"eos"`
		}{r.ID, r.Type, r.Context, r.Continuation, r.EOS})
	}
	if err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// Answer is one line of an answers file: LogProb and IsGreedy answer a
// loglikelihood request, Text a generate_until request.
type Answer struct {
	ID       string
	LogProb  float64
	IsGreedy bool
	Text     string
}

// wireAnswer is an answer line as JSON; pointers tell a missing field from a
// zero one.
type wireAnswer struct {
	ID       *string  `json:"id"`
	LogProb  *float64 `json:"logprob,omitempty"`
	IsGreedy *bool    `json:"is_greedy,omitempty"`
	Text     *string  `json:"text,omitempty"`
}

// Check validates a request's fields for its type.
func (r Request) Check() error {
	if r.ID == "" {
		return errors.New("missing id")
	}
	switch r.Type {
	case TypeLoglikelihood:
		if r.Continuation == "" && !r.EOS {
			return errors.New("loglikelihood request with an empty continuation and eos false scores nothing")
		}
		if r.Until != nil || r.MaxGenToks != 0 {
			return errors.New("loglikelihood request with until or max_gen_toks (generate_until fields)")
		}
	case TypeGenerateUntil:
		if r.MaxGenToks <= 0 {
			return fmt.Errorf("generate_until request needs max_gen_toks > 0, got %d", r.MaxGenToks)
		}
		if r.Continuation != "" || r.EOS {
			return errors.New("generate_until request with continuation or eos (loglikelihood fields)")
		}
		for i, u := range r.Until {
			if u == "" {
				return fmt.Errorf("generate_until request with an empty stop string (until[%d])", i)
			}
		}
	default:
		return fmt.Errorf("unknown type %q (want %s or %s)", r.Type, TypeLoglikelihood, TypeGenerateUntil)
	}
	return nil
}

// WriteRequests writes reqs as JSON Lines.
func WriteRequests(w io.Writer, reqs []Request) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for _, r := range reqs {
		if err := enc.Encode(r); err != nil {
			return fmt.Errorf("eval: write request %s: %w", r.ID, err)
		}
	}
	return bw.Flush()
}

// ReadRequests reads a requests file (name is used in errors): one JSON
// object per line, blank lines ignored, ids unique. An error names the line.
func ReadRequests(r io.Reader, name string) ([]Request, error) {
	var out []Request
	seen := map[string]int{}
	err := eachLine(r, func(line int, b []byte) error {
		var q Request
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&q); err != nil {
			return fmt.Errorf("%s:%d: malformed request: %w", name, line, err)
		}
		if err := q.Check(); err != nil {
			return fmt.Errorf("%s:%d: %w", name, line, err)
		}
		if prev, dup := seen[q.ID]; dup {
			return fmt.Errorf("%s:%d: id %q already used on line %d", name, line, q.ID, prev)
		}
		seen[q.ID] = line
		out = append(out, q)
		return nil
	})
	return out, err
}

// WriteAnswers writes one answer line per request, in order: id, logprob and
// is_greedy for a loglikelihood request, id and text for generate_until.
func WriteAnswers(w io.Writer, reqs []Request, answers []Answer) error {
	if len(reqs) != len(answers) {
		return fmt.Errorf("eval: %d answers for %d requests", len(answers), len(reqs))
	}
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for i, a := range answers {
		wa := wireAnswer{ID: &answers[i].ID}
		if reqs[i].Type == TypeGenerateUntil {
			wa.Text = &answers[i].Text
		} else {
			wa.LogProb, wa.IsGreedy = &answers[i].LogProb, &answers[i].IsGreedy
		}
		if err := enc.Encode(wa); err != nil {
			return fmt.Errorf("eval: write answer %s: %w", a.ID, err)
		}
	}
	return bw.Flush()
}

// ReadAnswers reads an answers file (name is used in errors) and returns the
// answers in the order of reqs. Lines may come in any order; every request
// needs exactly one answer with the fields of its type. An error names the
// line, or the request whose answer is missing.
func ReadAnswers(r io.Reader, name string, reqs []Request) ([]Answer, error) {
	index := make(map[string]int, len(reqs))
	for i, q := range reqs {
		index[q.ID] = i
	}
	out := make([]Answer, len(reqs))
	line := make([]int, len(reqs))
	err := eachLine(r, func(ln int, b []byte) error {
		var wa wireAnswer
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&wa); err != nil {
			return fmt.Errorf("%s:%d: malformed answer: %w", name, ln, err)
		}
		if wa.ID == nil {
			return fmt.Errorf("%s:%d: answer without an id", name, ln)
		}
		i, ok := index[*wa.ID]
		if !ok {
			return fmt.Errorf("%s:%d: answer to unknown request id %q", name, ln, *wa.ID)
		}
		if line[i] != 0 {
			return fmt.Errorf("%s:%d: second answer to request %q (first on line %d)", name, ln, *wa.ID, line[i])
		}
		line[i] = ln
		a := Answer{ID: *wa.ID}
		switch reqs[i].Type {
		case TypeGenerateUntil:
			if wa.Text == nil {
				return fmt.Errorf("%s:%d: answer to generate_until request %q has no text", name, ln, a.ID)
			}
			a.Text = *wa.Text
		default:
			if wa.LogProb == nil || wa.IsGreedy == nil {
				return fmt.Errorf("%s:%d: answer to loglikelihood request %q needs logprob and is_greedy", name, ln, a.ID)
			}
			if math.IsNaN(*wa.LogProb) || *wa.LogProb > 1e-3 { // a little slack for rounding
				return fmt.Errorf("%s:%d: request %q: logprob %v is not a log-probability", name, ln, a.ID, *wa.LogProb)
			}
			a.LogProb, a.IsGreedy = *wa.LogProb, *wa.IsGreedy
		}
		out[i] = a
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i, q := range reqs {
		if line[i] == 0 {
			return nil, fmt.Errorf("%s: no answer to request %q (request line %d)", name, q.ID, i+1)
		}
	}
	return out, nil
}

// eachLine calls fn for every non-blank line of r with its 1-based number.
func eachLine(r io.Reader, fn func(line int, b []byte) error) error {
	br := bufio.NewReader(r)
	for n := 1; ; n++ {
		b, err := br.ReadBytes('\n')
		if len(bytes.TrimSpace(b)) > 0 {
			if ferr := fn(n, b); ferr != nil {
				return ferr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
	}
}

// NormalizeText collapses runs of white space to one space and trims the
// ends: exact match compares texts normalized this way.
func NormalizeText(s string) string { return strings.Join(strings.Fields(s), " ") }
