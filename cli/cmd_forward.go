package cli

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"mergescale/model"
	"mergescale/tokenizer"
)

func newForwardCmd(e *env) *cobra.Command {
	var dir, tokens, text string
	cmd := &cobra.Command{
		Use:   "forward --model DIR (--tokens 3,17,5 | --text TEXT)",
		Short: "Print a model's logits at the last position as a JSON array",
		Long: `forward loads a GPT-2 model directory (config.json + safetensors), runs the
token ids given by --tokens, or the text given by --text encoded with the
directory's own tokenizer (the suite's word-level vocabulary or a byte-level
BPE), and prints the logits of the next token (the outputs at the last
position) as one JSON array of float32 values with full precision (%.9g),
and nothing else, so that the implementation can be compared with others. A
token id outside the vocabulary, or more tokens than n_positions, is an
error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("text") {
				if cmd.Flags().Changed("tokens") {
					return errors.New("forward: give --tokens or --text, not both")
				}
				return runForwardText(e.stdout, dir, text)
			}
			return runForward(e.stdout, dir, tokens)
		},
	}
	cmd.Flags().StringVar(&dir, "model", "", "model directory (required)")
	cmd.Flags().StringVar(&tokens, "tokens", "", "comma-separated token ids")
	cmd.Flags().StringVar(&text, "text", "", "text, encoded with the model directory's tokenizer")
	return cmd
}

// runForwardText is runForward on text encoded with dir's tokenizer.
func runForwardText(w io.Writer, dir, text string) error {
	if dir == "" {
		return errors.New("--model: a model directory is required")
	}
	tok, err := tokenizer.LoadCodec(dir)
	if err != nil {
		return err
	}
	ids, err := tok.EncodeStrict(text)
	if err != nil {
		return fmt.Errorf("--text: %w", err)
	}
	if len(ids) == 0 {
		return errors.New("--text: the text has no tokens")
	}
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.Itoa(id)
	}
	return runForward(w, dir, strings.Join(parts, ","))
}

// parseTokenList parses "3,17,5" into token ids.
func parseTokenList(s string) ([]int, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("--tokens: no token ids given")
	}
	parts := strings.Split(s, ",")
	out := make([]int, len(parts))
	for i, p := range parts {
		v, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil {
			return nil, fmt.Errorf("--tokens: item %d %q is not an integer token id", i+1, p)
		}
		out[i] = v
	}
	return out, nil
}

// runForward prints the last-position logits of the model in dir for the
// comma-separated token ids.
func runForward(w io.Writer, dir, tokens string) error {
	if dir == "" {
		return errors.New("--model: a model directory is required")
	}
	toks, err := parseTokenList(tokens)
	if err != nil {
		return err
	}
	m, err := model.Load(dir)
	if err != nil {
		return err
	}
	logits, err := m.LastLogits(toks)
	if err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	var b strings.Builder
	b.WriteByte('[')
	for i, v := range logits {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("%s: logit %d is %v, not representable in JSON", dir, i, v)
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.FormatFloat(float64(v), 'g', 9, 32))
	}
	b.WriteString("]\n")
	_, err = io.WriteString(w, b.String())
	return err
}
